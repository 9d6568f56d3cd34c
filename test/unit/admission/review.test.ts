import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeReview } from "../../../src/admission/review.js";

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
