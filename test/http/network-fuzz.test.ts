import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const FUZZ = resolve(import.meta.dirname, "../../dist/scripts/fuzz.js");

/**
 * The network fuzzer (scripts/fuzz.ts), bounded for CI: mutated AdmissionReviews and the
 * hostile shapes of scripts/fuzz/hostile.ts over real HTTPS keep-alive connections to a child
 * server under the Deployment's heap limit. The full 100,000-request run is in
 * docs/reliability.md.
 */
describe("network fuzzer", () => {
  it("gets no 5xx and no dropped connection for 2,000 mutated reviews, and the server stays correct", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [FUZZ, "--count", "2000", "--seed", "7", "--max-seconds", "120", "--hostile-rate", "0.02"],
      {
        timeout: 150_000,
      },
    );
    const result = JSON.parse(stdout);
    expect(result.requests).toBe(2000);
    expect(result.failures).toBe(0);
    expect(result.alive).toBe(true);
    expect(Object.keys(result.statuses).every((s) => Number(s) >= 200 && Number(s) < 500)).toBe(
      true,
    );
    // The mix really exercised both paths: answers and refusals.
    expect(result.statuses["200"]).toBeGreaterThan(100);
    expect(result.statuses["400"]).toBeGreaterThan(100);
    // Hostile shapes were sent, and each was refused (or, being a deletion or carrying only
    // prototype keys, decided).
    const hostile = result.hostile as Record<string, Record<string, number>>;
    expect(Object.keys(hostile).length).toBeGreaterThanOrEqual(6);
    for (const [shape, answers] of Object.entries(hostile)) {
      for (const answer of Object.keys(answers)) {
        if (shape === "deleting" || shape === "prototype keys") {
          expect(answer, shape).toMatch(/^(allowed|denied \d+|429 CTW_ERR_BUSY)$/);
        } else {
          expect(answer, shape).toMatch(
            /^(denied (413|422)|400 CTW_ERR_JSON_TOO_DEEP|429 CTW_ERR_BUSY)$/,
          );
        }
      }
    }
  }, 180_000);
});
