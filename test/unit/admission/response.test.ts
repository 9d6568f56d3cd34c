import fc from "fast-check";
import { applyPatch } from "fast-json-patch";
import { describe, expect, it } from "vitest";
import {
  allow,
  clampMessage,
  clampWarnings,
  deny,
  MAX_MESSAGE_LENGTH,
  MAX_WARNING_LENGTH,
  MAX_WARNINGS,
  patch,
  type Review,
  respond,
  serializeReview,
} from "../../../src/admission/response.js";
import type { AddOperation } from "../../../src/core/types.js";

const ENVELOPE = { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" };

describe("allow / deny / patch", () => {
  it("allow echoes the uid and omits empty warnings", () => {
    expect(allow("u")).toEqual({ ...ENVELOPE, response: { uid: "u", allowed: true } });
  });

  it("deny carries a metav1.Status with code, reason and message", () => {
    expect(deny("u", { code: 403, reason: "Forbidden", message: "no" }, ["w"])).toEqual({
      ...ENVELOPE,
      response: {
        uid: "u",
        allowed: false,
        status: { code: 403, reason: "Forbidden", message: "no" },
        warnings: ["w"],
      },
    });
  });

  it("patch with no operations is a plain allow (no patchType without patch)", () => {
    expect(patch("u", [])).toEqual(allow("u"));
  });

  it("respond maps each decision kind to its builder", () => {
    expect(respond("u", { kind: "allow", warnings: [] })).toEqual(allow("u"));
    expect(
      respond("u", { kind: "deny", code: 422, reason: "Invalid", message: "m", warnings: [] }),
    ).toEqual(deny("u", { code: 422, reason: "Invalid", message: "m" }));
  });
});

describe("clampWarnings", () => {
  it.each([
    ["keeps short distinct warnings", ["a", "b"], ["a", "b"]],
    ["drops duplicates and blanks", ["a", "a", " ", ""], ["a"]],
    ["collapses whitespace", ["a\n  b"], ["a b"]],
  ])("%s", (_name, input, expected) => {
    expect(clampWarnings(input)).toEqual(expected);
  });

  it("truncates a long warning to 120 characters with an ellipsis", () => {
    const [w] = clampWarnings(["x".repeat(500)]);
    expect(Array.from(w ?? "")).toHaveLength(MAX_WARNING_LENGTH);
    expect(w?.endsWith("…")).toBe(true);
  });

  it("keeps at most ten, the last saying how many were left out", () => {
    const out = clampWarnings(Array.from({ length: 25 }, (_, i) => `w${i}`));
    expect(out).toHaveLength(MAX_WARNINGS);
    expect(out[9]).toBe("16 more warnings not shown");
  });
});

/** Property: every envelope is well-formed for any uid, warnings and operations. */
describe("envelope properties", () => {
  const operation = fc.record({
    op: fc.constant("add" as const),
    path: fc
      .array(fc.string(), { minLength: 1, maxLength: 4 })
      .map((parts) => `/${parts.join("/")}`),
    value: fc.jsonValue(),
  });

  it("always sets apiVersion, kind, uid, and patch together with patchType, clamped warnings", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }),
        fc.array(fc.string({ maxLength: 400 }), { maxLength: 40 }),
        fc.array(operation, { maxLength: 5 }),
        fc.constantFrom("allow", "deny", "patch"),
        (uid, warnings, operations, kind) => {
          const review =
            kind === "allow"
              ? allow(uid, warnings)
              : kind === "deny"
                ? deny(uid, { code: 400, reason: "Invalid", message: "m" }, warnings)
                : patch(uid, operations as AddOperation[], warnings);
          expect(review.apiVersion).toBe("admission.k8s.io/v1");
          expect(review.kind).toBe("AdmissionReview");
          expect(review.response?.uid).toBe(uid);
          const r = review.response!;
          expect(r.patch === undefined).toBe(r.patchType === undefined);
          if (r.patch !== undefined) {
            const decoded = JSON.parse(Buffer.from(r.patch, "base64").toString("utf8"));
            expect(decoded).toEqual(JSON.parse(JSON.stringify(operations)));
          }
          expect((r.warnings ?? []).length).toBeLessThanOrEqual(MAX_WARNINGS);
          for (const w of r.warnings ?? [])
            expect(Array.from(w).length).toBeLessThanOrEqual(MAX_WARNING_LENGTH);
          expect(JSON.parse(JSON.stringify(review))).toEqual(review);
          // The text the server sends is exactly what a generic serialiser would write.
          expect(serializeReview(review)).toBe(JSON.stringify(review));
        },
      ),
      { numRuns: 500 },
    );
  });

  it.each([
    ["an allow", allow("u-1")],
    ["an allow with warnings", allow('u"2', ['a "quoted" warning', "ünïcode ✓"])],
    [
      "a denial",
      deny("u", { code: 422, reason: "Invalid", message: "line\nbreak </script> \u2028" }, ["w"]),
    ],
    ["a patch", patch("u", [{ op: "add", path: "/metadata/labels", value: { a: "b" } }], ["w"])],
  ])("serializeReview writes %s as JSON.stringify does", (_name, review) => {
    expect(serializeReview(review)).toBe(JSON.stringify(review));
    expect(JSON.parse(serializeReview(review))).toEqual(review);
  });

  it.each([
    ["a small one", 10],
    ["one larger than the encoder's 64 KiB buffer", 40_000],
  ])("encodes non-ASCII patches, %s, as the base64 of their UTF-8 JSON", (_name, repeat) => {
    const ops: AddOperation[] = [
      { op: "add", path: "/metadata/annotations/n", value: "ü✓😀".repeat(repeat) },
    ];
    const text = JSON.stringify(ops);
    expect(patch("u", ops).response?.patch).toBe(Buffer.from(text, "utf8").toString("base64"));
    // A short patch encoded after a long one carries nothing of it.
    const short: AddOperation[] = [{ op: "add", path: "/a", value: 1 }];
    expect(patch("u", short).response?.patch).toBe(
      Buffer.from(JSON.stringify(short)).toString("base64"),
    );
  });

  it("serializeReview falls back to JSON.stringify for anything but a response envelope", () => {
    const odd = {
      apiVersion: "v0",
      kind: "AdmissionReview",
      response: { uid: "u", allowed: true },
    };
    expect(serializeReview(odd as unknown as Review)).toBe(JSON.stringify(odd));
  });

  it("encodes a patch that fast-json-patch applies to a document", () => {
    const ops: AddOperation[] = [
      { op: "add", path: "/metadata/annotations", value: {} },
      { op: "add", path: "/metadata/annotations/ca-trust.dev~1injected", value: "sha256:00" },
    ];
    const r = patch("u", ops).response!;
    const decoded = JSON.parse(Buffer.from(r.patch!, "base64").toString("utf8"));
    const doc = applyPatch({ metadata: {} }, decoded, true).newDocument;
    expect(doc).toEqual({ metadata: { annotations: { "ca-trust.dev/injected": "sha256:00" } } });
  });
});

describe("clampMessage", () => {
  it("leaves a message of at most 4,096 characters alone", () => {
    const message = "x".repeat(MAX_MESSAGE_LENGTH);
    expect(clampMessage(message)).toBe(message);
  });

  it("cuts a longer one to 4,096 characters and says how many were left out", () => {
    const message = "a".repeat(7_000_000);
    const clamped = clampMessage(message);
    expect(clamped.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
    const left = Number(
      /\(([\d,]+) more characters not shown\)$/.exec(clamped)?.[1]?.replace(/,/g, ""),
    );
    expect(clamped.indexOf(" … (") + left).toBe(message.length);
  });

  it("never splits a surrogate pair", () => {
    fc.assert(
      fc.property(fc.integer({ min: 4_000, max: 5_000 }), (n) => {
        const clamped = clampMessage(`${"a".repeat(n % 2)}${"😀".repeat(n)}`);
        expect(clamped.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
        expect(clamped).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
      }),
      { numRuns: 50 },
    );
  });

  it("is applied to every denial the envelope builder makes", () => {
    const review = deny("u", { code: 422, reason: "Invalid", message: "e; ".repeat(100_000) });
    expect(review.response?.status?.message.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
  });

  it("bounds a megabyte warning without splitting it into a megabyte of code points", () => {
    expect(clampWarnings(["w ".repeat(1_000_000)])[0]?.length).toBeLessThanOrEqual(120);
  });
});
