import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Decide } from "../../src/core/types.js";
import { review, testServer } from "./helpers.js";

let server: ReturnType<typeof testServer>;
beforeEach(() => {
  server = testServer();
});
afterEach(async () => {
  await server.app.close();
});

const post = (url: string, payload: string | Buffer | object, contentType = "application/json") =>
  server.app.inject({
    method: "POST",
    url,
    headers: contentType === "" ? {} : { "content-type": contentType },
    payload:
      typeof payload === "object" && !Buffer.isBuffer(payload) ? JSON.stringify(payload) : payload,
  });

describe("valid AdmissionReviews", () => {
  it.each([
    ["a Pod CREATE", "/mutate", { operation: "CREATE" }],
    ["a Pod UPDATE", "/mutate", { operation: "UPDATE", oldObject: { kind: "Pod", metadata: {} } }],
    ["a Pod DELETE with a null object", "/validate", { operation: "DELETE", object: null }],
    ["a CONNECT to pods/exec", "/validate", { operation: "CONNECT", subResource: "exec" }],
    ["a dry-run CREATE", "/validate", { operation: "CREATE", dryRun: true }],
    [
      "a CREATE with generateName and no name",
      "/mutate",
      { name: undefined, object: { metadata: { generateName: "web-" } } },
    ],
    [
      "a cluster-scoped object without namespace",
      "/validate",
      {
        namespace: undefined,
        kind: { group: "openchoreo.dev", version: "v1alpha1", kind: "ClusterDataPlane" },
      },
    ],
    ["a review with unknown extra fields", "/validate", { somethingNew: { a: 1 } }],
  ])("answers %s with the same uid", async (_name, url, overrides) => {
    const uid = `uid-${Math.random().toString(36).slice(2)}`;
    const res = await post(url, review({ ...overrides, uid }));
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(res.json()).toEqual({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid, allowed: true },
    });
  });

  it("accepts a charset parameter on the content type", async () => {
    const res = await post("/validate", review(), "application/json; charset=utf-8");
    expect(res.statusCode).toBe(200);
  });

  it.each([
    [
      "an allow with warnings",
      { kind: "allow", warnings: ["w1", "w2"] },
      { allowed: true, warnings: ["w1", "w2"] },
    ],
    [
      "a deny",
      {
        kind: "deny",
        code: 422,
        reason: "Invalid",
        message: "spec.x: Invalid value",
        warnings: [],
      },
      {
        allowed: false,
        status: { code: 422, reason: "Invalid", message: "spec.x: Invalid value" },
      },
    ],
    [
      "a patch",
      {
        kind: "patch",
        operations: [{ op: "add", path: "/metadata/labels", value: { a: "b" } }],
        warnings: [],
      },
      {
        allowed: true,
        patchType: "JSONPatch",
        patch: Buffer.from('[{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]').toString(
          "base64",
        ),
      },
    ],
  ])("passes %s of the core through the envelope builder", async (_name, decision, expected) => {
    await server.app.close();
    const decide: Decide = async () => decision as never;
    server = testServer({ validate: decide, mutate: decide });
    const res = await post("/mutate", review({ uid: "u-1" }));
    expect(res.statusCode).toBe(200);
    expect(res.json().response).toEqual({ uid: "u-1", ...expected });
  });

  it("turns a decision that throws into a 500 denial inside a 200 AdmissionReview", async () => {
    await server.app.close();
    server = testServer({
      validate: async () => {
        throw new Error("boom");
      },
    });
    const res = await post("/validate", review({ uid: "u-2" }));
    expect(res.statusCode).toBe(200);
    expect(res.json().response).toMatchObject({
      uid: "u-2",
      allowed: false,
      status: { code: 500, reason: "InternalError" },
    });
  });
});

/** Nested arrays `depth` deep, as text (never built as an object: that is the point). */
const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;

describe("hostile input", () => {
  const cases: [string, number, string, () => ReturnType<typeof post>, string?][] = [
    [
      "a body over the 4 MiB limit",
      413,
      "FST_ERR_CTP_BODY_TOO_LARGE",
      () => post("/validate", `{"a":"${"x".repeat(4 * 1024 * 1024)}"}`),
    ],
    [
      "JSON nested 10,000 levels deep",
      400,
      "CTW_ERR_JSON_TOO_DEEP",
      () => post("/validate", nested(10_000)),
    ],
    [
      "JSON nested 1,000,000 levels deep",
      400,
      "CTW_ERR_JSON_TOO_DEEP",
      () => post("/validate", `{"request":${nested(1_000_000)}}`),
    ],
    [
      "a body that is not JSON",
      400,
      "FST_ERR_CTP_INVALID_JSON_BODY",
      () => post("/validate", "apiVersion: v1\nkind: AdmissionReview"),
    ],
    [
      "truncated JSON",
      400,
      "FST_ERR_CTP_INVALID_JSON_BODY",
      () => post("/validate", JSON.stringify(review()).slice(0, 50)),
    ],
    ["an empty JSON body", 400, "FST_ERR_CTP_EMPTY_JSON_BODY", () => post("/validate", "")],
    [
      "a text/plain content type",
      415,
      "FST_ERR_CTP_INVALID_MEDIA_TYPE",
      () => post("/validate", JSON.stringify(review()), "text/plain"),
    ],
    [
      "a YAML content type",
      415,
      "FST_ERR_CTP_INVALID_MEDIA_TYPE",
      () => post("/mutate", JSON.stringify(review()), "application/yaml"),
    ],
    [
      "a __proto__ key standing for the request (removed, so the request is missing)",
      400,
      "CTW_ERR_BAD_REVIEW",
      () =>
        post(
          "/validate",
          '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","__proto__":{"request":{"uid":"x"}}}',
        ),
      "request",
    ],
    [
      "JSON with more values than --max-json-values and no uid to answer",
      400,
      "CTW_ERR_JSON_TOO_MANY_VALUES",
      () => post("/validate", `[${Array(200_001).fill("0").join(",")}]`),
    ],
    ["a JSON array body", 400, "CTW_ERR_NOT_ADMISSION_REVIEW", () => post("/validate", "[]")],
    [
      "a JSON string body",
      400,
      "CTW_ERR_NOT_ADMISSION_REVIEW",
      () => post("/validate", '"AdmissionReview"'),
    ],
    [
      "apiVersion v1beta1",
      400,
      "CTW_ERR_BAD_REVIEW",
      () => post("/validate", { ...review(), apiVersion: "admission.k8s.io/v1beta1" }),
      "apiVersion",
    ],
    [
      "a wrong kind",
      400,
      "CTW_ERR_BAD_REVIEW",
      () => post("/validate", { ...review(), kind: "ConversionReview" }),
      "kind",
    ],
    [
      "a missing request",
      400,
      "CTW_ERR_BAD_REVIEW",
      () => post("/validate", { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" }),
      "request",
    ],
    [
      "a request that is an array",
      400,
      "CTW_ERR_BAD_REVIEW",
      () => post("/validate", { ...review(), request: [] }),
      "request",
    ],
    [
      "a missing uid",
      400,
      "CTW_ERR_BAD_REVIEW",
      () => post("/validate", review({ uid: undefined })),
      "request.uid",
    ],
    [
      "an empty uid",
      400,
      "CTW_ERR_BAD_REVIEW",
      () => post("/validate", review({ uid: "" })),
      "request.uid",
    ],
    [
      "a numeric uid",
      400,
      "CTW_ERR_BAD_REVIEW",
      () => post("/validate", review({ uid: 42 })),
      "request.uid",
    ],
    [
      "a missing kind",
      400,
      "CTW_ERR_BAD_REVIEW",
      () => post("/validate", review({ kind: undefined })),
      "request.kind",
    ],
    [
      "a kind that is a string",
      400,
      "CTW_ERR_BAD_REVIEW",
      () => post("/validate", review({ kind: "Pod" })),
      "request.kind",
    ],
    [
      "a kind without group",
      400,
      "CTW_ERR_BAD_REVIEW",
      () => post("/validate", review({ kind: { version: "v1", kind: "Pod" } })),
      "request.kind",
    ],
    [
      "a missing operation",
      400,
      "CTW_ERR_BAD_REVIEW",
      () => post("/validate", review({ operation: undefined })),
      "request.operation",
    ],
    [
      "an unknown operation",
      400,
      "CTW_ERR_BAD_REVIEW",
      () => post("/validate", review({ operation: "PATCH" })),
      "request.operation",
    ],
    [
      "an object that is a string",
      400,
      "CTW_ERR_BAD_REVIEW",
      () => post("/validate", review({ object: "pod" })),
      "request.object",
    ],
    [
      "metadata that is an array",
      400,
      "CTW_ERR_BAD_REVIEW",
      () => post("/validate", review({ object: { metadata: [] } })),
      "request.object.metadata",
    ],
    [
      "a numeric namespace",
      400,
      "CTW_ERR_BAD_REVIEW",
      () => post("/validate", review({ namespace: 7 })),
      "request.namespace",
    ],
    [
      "a string dryRun",
      400,
      "CTW_ERR_BAD_REVIEW",
      () => post("/validate", review({ dryRun: "true" })),
      "request.dryRun",
    ],
  ];

  it.each(cases)("refuses %s with %i %s", async (_name, status, code, send, field) => {
    const res = await send();
    expect(res.statusCode).toBe(status);
    const body = res.json();
    expect(body.code).toBe(code);
    expect(body.statusCode).toBe(status);
    expect(typeof body.message).toBe("string");
    expect(body.message).not.toMatch(/\n\s+at /); // no stack traces
    if (field !== undefined) expect(body.field).toBe(field);
    const metrics = await server.metrics.registry.getSingleMetricAsString(
      "ca_trust_webhook_rejected_inputs_total",
    );
    expect(metrics).toContain(`reason="${code}"`);
  });

  it("still answers a valid review correctly after every hostile input", async () => {
    for (const [, , , send] of cases) await send();
    const res = await post("/validate", review({ uid: "after" }));
    expect(res.statusCode).toBe(200);
    expect(res.json().response).toEqual({ uid: "after", allowed: true });
  });

  it.each([
    ["GET /validate", "GET", "/validate"],
    ["POST /", "POST", "/"],
    ["POST /mutate/extra", "POST", "/mutate/extra"],
  ])("answers %s with 404 and a code", async (_name, method, url) => {
    const res = await server.app.inject({ method: method as "GET", url });
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe("CTW_ERR_NOT_FOUND");
  });

  it("never answers 5xx, and always answers valid JSON, for arbitrary bodies", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.json().map((j) => j),
          fc
            .record({
              apiVersion: fc.constant("admission.k8s.io/v1"),
              kind: fc.constant("AdmissionReview"),
              request: fc.anything(),
            })
            .map((o) => JSON.stringify(o)),
          fc
            .record({
              uid: fc.anything(),
              kind: fc.anything(),
              operation: fc.anything(),
              object: fc.anything(),
            })
            .map((r) => JSON.stringify(review(r as Record<string, unknown>))),
        ),
        async (body) => {
          const res = await post("/validate", body);
          expect(res.statusCode).toBeLessThan(500);
          const parsed = res.json();
          if (res.statusCode === 200) {
            expect(parsed.response.uid).toBe(JSON.parse(body).request.uid);
          } else {
            expect(parsed.code).toMatch(/^(CTW|FST)_ERR_/);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
