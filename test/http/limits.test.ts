/**
 * Bounded decoding and bounded memory through the whole server (`inject()`): what each hostile
 * shape gets, that a refused body is never decoded, that an object being deleted is always
 * allowed, and that large bodies in flight never crowd out small reviews.
 */
import { request } from "node:http";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { AdmissionRequest, Decide } from "../../src/core/types.js";
import { allowAll, review, testServer } from "./helpers.js";

let server: ReturnType<typeof testServer> | undefined;
afterEach(async () => {
  await server?.app.close();
  server = undefined;
});

function start(
  decide: Decide = allowAll,
  limits: Parameters<typeof testServer>[2] = {},
  logger?: Parameters<typeof testServer>[3],
) {
  server = testServer({ validate: decide, mutate: decide }, undefined, limits, logger);
  return server;
}

const post = (url: string, payload: string) =>
  (server as NonNullable<typeof server>).app.inject({
    method: "POST",
    url,
    headers: { "content-type": "application/json" },
    payload,
  });

/** A review as text, with `filler` (raw JSON) as the object's spec. */
function reviewText(overrides: Record<string, unknown>, filler: string): string {
  const text = JSON.stringify(review(overrides));
  return text.replace('"__FILLER__"', filler);
}

const tolerations = (n: number) => `{"tolerations":[${Array(n).fill("{}").join(",")}]}`;

describe("keys that could pollute a prototype", () => {
  it("removes a __proto__ key inside the object and decides the review", async () => {
    let seen: AdmissionRequest | undefined;
    start(async (request) => {
      seen = request;
      return { kind: "allow", warnings: [] };
    });
    const res = await post(
      "/validate",
      reviewText(
        { uid: "p-1", object: { metadata: { name: "dp" }, status: "__FILLER__" } },
        '{"__proto__":{"polluted":true},"phase":"Ready"}',
      ),
    );
    expect(res.statusCode).toBe(200);
    expect(res.json().response).toEqual({ uid: "p-1", allowed: true });
    const status =
      (seen?.object as unknown as { status: Record<string, unknown> } | undefined)?.status ?? {};
    expect(Object.hasOwn(status, "__proto__")).toBe(false);
    expect(status.phase).toBe("Ready");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("removes constructor.prototype and decides the review", async () => {
    let seen: AdmissionRequest | undefined;
    start(async (request) => {
      seen = request;
      return { kind: "allow", warnings: [] };
    });
    const res = await post(
      "/validate",
      reviewText(
        { uid: "p-2", object: { spec: "__FILLER__" } },
        '{"constructor":{"prototype":{"polluted":true}},"size":1}',
      ),
    );
    expect(res.statusCode).toBe(200);
    const spec =
      (seen?.object as unknown as { spec: Record<string, unknown> } | undefined)?.spec ?? {};
    expect(Object.hasOwn(spec, "constructor")).toBe(false);
    expect(spec.size).toBe(1);
  });
});

describe("bodies over the decoding limits", () => {
  it("denies a 1,000,000-toleration Pod by uid, naming the limit, without decoding it", async () => {
    let called = false;
    start(async () => {
      called = true;
      return { kind: "allow", warnings: [] };
    });
    const res = await post(
      "/mutate",
      reviewText({ uid: "big-1", object: { spec: "__FILLER__" } }, tolerations(1_000_000)),
    );
    expect(res.statusCode).toBe(200);
    const response = res.json().response;
    expect(response).toMatchObject({
      uid: "big-1",
      allowed: false,
      status: { code: 413, reason: "RequestEntityTooLarge" },
    });
    expect(response.status.message).toMatch(
      /^ca-trust-webhook: JSON holds 1,000,0\d\d values; the webhook accepts at most 200,000 \(--max-json-values\)$/,
    );
    expect(called).toBe(false);
  });

  it.each([
    [
      "an UPDATE of an object being deleted",
      {
        operation: "UPDATE",
        object: { metadata: { deletionTimestamp: "2026-12-01T00:00:00Z" }, spec: "__FILLER__" },
      },
    ],
    ["a DELETE", { operation: "DELETE", object: null, oldObject: { spec: "__FILLER__" } }],
  ])("allows %s however large, with a warning that it was not inspected", async (_n, o) => {
    start();
    const res = await post("/validate", reviewText({ uid: "del-1", ...o }, tolerations(300_000)));
    expect(res.statusCode).toBe(200);
    expect(res.json().response).toMatchObject({ uid: "del-1", allowed: true });
    expect(res.json().response.warnings[0]).toMatch(/not inspected: JSON holds 300,0\d\d values/);
  });

  it.each([
    ["a small body (decoded, then measured)", 5_000, "JSON nests more than 100 levels deep"],
    ["a large body (scanned, never decoded)", 40_000, "JSON nests 40,003 levels deep"],
  ])("denies JSON nested too deep by uid: %s", async (_name, depth, says) => {
    start();
    const deep = `${"[".repeat(depth)}${"]".repeat(depth)}`;
    const res = await post(
      "/validate",
      reviewText({ uid: "deep-1", object: { spec: "__FILLER__" } }, deep),
    );
    expect(res.json().response).toMatchObject({ uid: "deep-1", allowed: false });
    expect(res.json().response.status.message).toBe(
      `ca-trust-webhook: ${says}; the webhook accepts at most 100`,
    );
  });

  it("takes the facts of a small review from its decoded value", async () => {
    start(allowAll, { maxJsonValues: 1_000 });
    const res = await post(
      "/validate",
      reviewText(
        {
          uid: "small-del",
          operation: "UPDATE",
          object: { metadata: { deletionTimestamp: "2026-12-01T00:00:00Z" }, spec: "__FILLER__" },
        },
        tolerations(2_000),
      ),
    );
    expect(res.json().response).toMatchObject({ uid: "small-del", allowed: true });
  });

  it("takes a limit from the options", async () => {
    start(allowAll, { maxJsonValues: 1_000 });
    const res = await post(
      "/mutate",
      reviewText({ uid: "l-1", object: { spec: "__FILLER__" } }, tolerations(1_000)),
    );
    expect(res.json().response.status.message).toContain("at most 1,000");
  });

  it("decides the 1 MiB Pod with 5 x 1,000 env vars (the benchmark's pathological Pod)", async () => {
    let called = false;
    start(async () => {
      called = true;
      return { kind: "allow", warnings: [] };
    });
    const containers = Array.from({ length: 5 }, (_, c) => ({
      name: `worker-${c}`,
      image: "registry.example.com/worker:1.0",
      env: Array.from({ length: 1_000 }, (_, i) => ({
        name: `FEATURE_${c}_${i}_ROLLOUT_SETTING`,
        value: `{"enabled":true,"percent":${i % 100},"url":"https://flags.example.com/v1/${c}/${i}"}`,
      })),
    }));
    const body = JSON.stringify(review({ uid: "ok-1", object: { spec: { containers } } }));
    expect(body.length).toBeGreaterThan(512 * 1024);
    const res = await post("/mutate", body);
    expect(res.json().response).toEqual({ uid: "ok-1", allowed: true });
    expect(called).toBe(true);
  });
});

describe("the request memory budget", () => {
  /** A decision that waits until released, so requests stay in flight. */
  function gate() {
    const waiting: (() => void)[] = [];
    const decide: Decide = () =>
      new Promise((resolve) => waiting.push(() => resolve({ kind: "allow", warnings: [] })));
    return {
      decide,
      open: () => {
        for (const go of waiting.splice(0)) go();
      },
      waiting,
    };
  }
  // About 1 MiB: "large" (over 64 KiB); decoding it is estimated at ~3 MiB.
  const large = (uid: string) =>
    reviewText(
      { uid, object: { spec: "__FILLER__" } },
      JSON.stringify({ blob: "x".repeat(1 << 20) }),
    );

  it("refuses a large body with 429 when large bodies hold their share, but never a small one", async () => {
    const { decide, open, waiting } = gate();
    // 9 MiB: a quarter reserved for small bodies, the rest holds two decoded 1 MiB bodies
    // (about 3 MiB each) but not a third one arriving (2 MiB of receive buffers).
    start(decide, { maxRequestMemoryBytes: 9 * 1024 * 1024 });
    const first = post("/validate", large("l-1"));
    const second = post("/validate", large("l-2"));
    await until(() => waiting.length === 2);
    const third = await post("/validate", large("l-3"));
    expect(third.statusCode).toBe(429);
    expect(third.json().code).toBe("CTW_ERR_BUSY");
    expect(third.json().message).toContain("--max-request-memory-mib");

    const small = post("/validate", JSON.stringify(review({ uid: "s-1" })));
    await until(() => waiting.length === 3);
    open();
    expect((await small).json().response).toEqual({ uid: "s-1", allowed: true });
    expect((await first).statusCode).toBe(200);
    expect((await second).statusCode).toBe(200);

    // Everything given back: a large body fits again.
    const again = post("/validate", large("l-4"));
    await until(() => waiting.length === 1);
    open();
    expect((await again).statusCode).toBe(200);
    const metric = await server?.metrics.registry.getSingleMetricAsString(
      "ca_trust_webhook_request_memory_bytes",
    );
    expect(metric).toMatch(/ca_trust_webhook_request_memory_bytes 0$/m);
  });

  it("refuses a body without Content-Length (chunked) as if it were the largest", async () => {
    start(allowAll, { maxRequestMemoryBytes: 8 * 1024 * 1024 });
    const app = (server as NonNullable<typeof server>).app;
    await app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = app.server.address() as { port: number };
    const status = (chunked: boolean) =>
      new Promise<number>((resolve, reject) => {
        const body = JSON.stringify(review());
        const req = request(
          {
            host: "127.0.0.1",
            port,
            method: "POST",
            path: "/validate",
            headers: {
              "content-type": "application/json",
              ...(chunked
                ? { "transfer-encoding": "chunked" }
                : { "content-length": Buffer.byteLength(body) }),
            },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    // 4 MiB announced by nobody: reserved as 8 MiB of receive buffers, more than the 6 MiB
    // large bodies may use here; the same body with its length is small and passes.
    expect(await status(true)).toBe(429);
    expect(await status(false)).toBe(200);
  });
});

describe("answers of bounded size", () => {
  it("cuts a 7 MB denial message to 4,096 characters, saying how much is left out", async () => {
    const message = Array.from({ length: 70_000 }, (_, i) => `data[key-${i}.crt]: not PEM`).join(
      "; ",
    );
    start(async () => ({ kind: "deny", code: 422, reason: "Invalid", message, warnings: [] }));
    const res = await post("/validate", JSON.stringify(review({ uid: "m-1" })));
    const status = res.json().response.status;
    expect(status.message.length).toBeLessThanOrEqual(4_096);
    expect(status.message).toMatch(/^data\[key-0\.crt\]: not PEM; /);
    expect(status.message).toMatch(/… \([\d,]+ more characters not shown\)$/);
  });
});

describe("rate-limited logging", () => {
  it("writes at most --log-rate-limit lines a second per reason and counts the rest", async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    start(allowAll, { logRateLimit: 5 }, pino({ level: "info" }, sink));
    const sent = 200;
    await Promise.all(
      Array.from({ length: sent }, (_, i) =>
        post("/validate", JSON.stringify(review({ uid: `f-${i}` }))),
      ),
    );
    await Promise.all(Array.from({ length: sent }, () => post("/validate", "not json")));
    await server?.app.close(); // writes the pending summaries
    server = undefined;
    const written = (msg: string, key: string, value: unknown) =>
      lines.filter((l) => l.msg === msg && l[key] === value).length;
    const suppressed = (reason: string) =>
      lines
        .filter((l) => l.msg === "log lines suppressed" && l.reason === reason)
        .reduce((sum, l) => sum + (l.suppressed as number), 0);
    const reviews = written("review", "decision", "allowed");
    const rejected = written("request rejected", "code", "FST_ERR_CTP_INVALID_JSON_BODY");
    expect(reviews).toBeLessThan(sent);
    expect(reviews + suppressed("review allowed")).toBe(sent);
    expect(rejected).toBeLessThan(sent);
    expect(rejected + suppressed("FST_ERR_CTP_INVALID_JSON_BODY")).toBe(sent);
  });
});

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(condition()).toBe(true);
}
