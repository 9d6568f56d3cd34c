import { describe, expect, it } from "vitest";
import { decodeEstimate, MemoryBudget, receiveEstimate } from "../../../src/admission/budget.js";
import { loadServeConfig } from "../../../src/config.js";
import { DEFAULT_LIMITS } from "../../../src/server.js";

describe("MemoryBudget", () => {
  it("keeps a reserve that only small requests may use", () => {
    const budget = new MemoryBudget(100, 25);
    expect(budget.take(70, false)).toBeDefined();
    expect(budget.take(10, false)).toBeUndefined();
    expect(budget.take(30, true)).toBeDefined();
    expect(budget.take(1, true)).toBeUndefined();
    expect(budget.used).toBe(100);
  });

  it("grows a ticket only within the limit of its class, and releases once", () => {
    const budget = new MemoryBudget(100, 25);
    const large = budget.take(10, false);
    expect(large?.grow(75)).toBe(true);
    expect(large?.grow(76)).toBe(false);
    expect(large?.bytes).toBe(75);
    large?.release();
    large?.release();
    expect(budget.used).toBe(0);
    expect(budget.peak).toBe(75);
  });

  it("never shrinks a ticket by growing it to less", () => {
    const budget = new MemoryBudget(100);
    const t = budget.take(40, true);
    expect(t?.grow(10)).toBe(true);
    expect(budget.used).toBe(40);
  });

  it("estimates decoding from the body and its values", () => {
    expect(receiveEstimate(1_000)).toBe(16 * 1024 + 2_000);
    expect(decodeEstimate(1_000, 10)).toBe(16 * 1024 + 3_000 + 1_500);
  });
});

describe("the limits as configured", () => {
  const TLS = ["--tls-cert-file", "/c.pem", "--tls-key-file", "/k.pem"];

  it("defaults to the server's own defaults", () => {
    expect(loadServeConfig(TLS, {}).serving.limits).toEqual(DEFAULT_LIMITS);
  });

  it("takes each limit from its flag", () => {
    const config = loadServeConfig(
      [
        ...TLS,
        "--max-json-values=50000",
        "--max-request-memory-mib=32",
        "--max-connections=20",
        "--tls-handshake-timeout=2s",
        "--first-request-timeout=3s",
        "--log-rate-limit=0",
      ],
      {},
    );
    expect(config.serving.limits).toEqual({
      maxJsonValues: 50_000,
      maxRequestMemoryBytes: 32 * 1024 * 1024,
      maxConnections: 20,
      tlsHandshakeTimeoutMs: 2_000,
      firstRequestTimeoutMs: 3_000,
      logRateLimit: 0,
    });
  });

  it("refuses a memory budget too small for the largest request the other limits accept", () => {
    expect(() =>
      loadServeConfig([...TLS, "--max-json-values=1000000", "--max-request-memory-mib=64"], {}),
    ).toThrow(
      "--max-request-memory-mib: 64 is too small for --max-json-values 1000000: the largest accepted request needs 207",
    );
  });
});
