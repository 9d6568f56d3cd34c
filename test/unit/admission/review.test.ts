import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeReview, depthExceeds } from "../../../src/admission/review.js";

describe("depthExceeds", () => {
  it.each([
    ["flat object", '{"a":1}', 1, false],
    ["two levels over a limit of one", '{"a":{"b":1}}', 1, true],
    ["brackets inside strings do not count", '{"a":"[[[[[[[[[["}', 1, false],
    ["arrays count", "[[[]]]", 2, true],
    ["a scalar has no depth", "42", 0, false],
    [
      "a million levels are refused without a stack overflow",
      `${"[".repeat(1_000_000)}${"]".repeat(1_000_000)}`,
      100,
      true,
    ],
  ])("%s", (_name, text, limit, expected) => {
    expect(depthExceeds(JSON.parse(text), limit)).toBe(expected);
  });

  it("agrees with a recursive depth count on arbitrary JSON", () => {
    const depth = (v: unknown): number =>
      v !== null && typeof v === "object"
        ? 1 + Math.max(0, ...Object.values(v as object).map(depth))
        : 0;
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 8 }),
        fc.integer({ min: 0, max: 10 }),
        (value, limit) => {
          expect(depthExceeds(value, limit)).toBe(depth(value) > limit);
        },
      ),
    );
  });
});

describe("decodeReview", () => {
  it("throws only coded 400 errors, never anything else, on arbitrary input", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.record({
            apiVersion: fc.constant("admission.k8s.io/v1"),
            kind: fc.constant("AdmissionReview"),
            request: fc.anything(),
          }),
          fc.record({
            apiVersion: fc.constant("admission.k8s.io/v1"),
            kind: fc.constant("AdmissionReview"),
            request: fc.record({
              uid: fc.oneof(fc.string(), fc.anything()),
              kind: fc.anything(),
              operation: fc.anything(),
              object: fc.anything(),
            }),
          }),
        ),
        (body) => {
          try {
            const request = decodeReview(body);
            expect(typeof request.uid).toBe("string");
            expect(["CREATE", "UPDATE", "DELETE", "CONNECT"]).toContain(request.operation);
          } catch (error) {
            const e = error as { code?: string; statusCode?: number };
            expect(e.statusCode).toBe(400);
            expect(e.code).toMatch(/^CTW_ERR_/);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("normalises dryRun and null objects", () => {
    const request = decodeReview({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      request: {
        uid: "u",
        kind: { group: "", version: "v1", kind: "Secret" },
        operation: "DELETE",
      },
    });
    expect(request).toMatchObject({ uid: "u", dryRun: false, object: null, oldObject: null });
  });
});
