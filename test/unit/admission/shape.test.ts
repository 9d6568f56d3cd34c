import fc from "fast-check";
import Fastify, { type FastifyRequest } from "fastify";
import { describe, expect, it } from "vitest";
import { measureDecoded, reviewFacts, scanShape } from "../../../src/admission/shape.js";

const bytes = (text: string) => Buffer.from(text, "utf8");

/** Values and depth of a decoded JSON value, counted the obvious (recursive) way. */
function reference(value: unknown): { values: number; depth: number } {
  if (value === null || typeof value !== "object") return { values: 1, depth: 0 };
  const children = Object.values(value as object).map(reference);
  return {
    values: 1 + children.reduce((sum, c) => sum + c.values, 0),
    depth: 1 + Math.max(0, ...children.map((c) => c.depth)),
  };
}

const review = (request: object) =>
  JSON.stringify({ kind: "AdmissionReview", apiVersion: "admission.k8s.io/v1", request });

describe("scanShape: counts", () => {
  it.each([
    ["a flat object: one object, one number", '{"a":1}', 2, 1],
    ["keys are not values", '{"a":"b","c":"d"}', 3, 1],
    ["brackets and quotes inside strings do not count", '{"a":"[[{\\"x\\":[["}', 2, 1],
    ["an escaped backslash before the closing quote", '["\\\\",[]]', 3, 2],
    ["arrays count as levels", "[[[]]]", 3, 3],
    ["a scalar has no depth", "42", 1, 0],
    ["literals and numbers in an array", "[true,false,null,-1.5e3,0]", 6, 1],
    ["whitespace everywhere", ' { "a" : [ 1 , 2 ] } ', 4, 2],
    ["an empty body", "", 0, 0],
    [
      "a million levels cost a counter, not a stack",
      `${"[".repeat(1_000_000)}${"]".repeat(1_000_000)}`,
      1_000_000,
      1_000_000,
    ],
    ["a million empty objects", `[${Array(1_000_000).fill("{}").join(",")}]`, 1_000_001, 2],
  ])("%s", (_name, text, values, depth) => {
    const shape = scanShape(bytes(text));
    expect(shape.values).toBe(values);
    expect(shape.depth).toBe(depth);
  });

  it("agrees with a recursive count of the decoded value on arbitrary JSON", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.boolean(), (value, pretty) => {
        const text = JSON.stringify(value, null, pretty ? 2 : undefined);
        const shape = scanShape(bytes(text));
        const expected = reference(JSON.parse(text));
        expect(shape.values).toBe(expected.values);
        expect(shape.depth).toBe(expected.depth);
      }),
      { numRuns: 1000 },
    );
  });

  it("never throws and stays within the length on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (input) => {
        const shape = scanShape(input);
        expect(shape.values).toBeLessThanOrEqual(input.length);
        expect(shape.depth).toBeLessThanOrEqual(input.length);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("scanShape: what a refusal needs from an AdmissionReview", () => {
  it.each([
    [
      "uid and operation of an apiserver review",
      review({ uid: "a-1", kind: { kind: "Pod" }, operation: "CREATE", object: { spec: {} } }),
      { uid: "a-1", operation: "CREATE", deleting: false },
    ],
    [
      "an UPDATE of an object being deleted",
      review({
        uid: "u-2",
        operation: "UPDATE",
        object: { metadata: { name: "x", deletionTimestamp: "2026-12-01T00:00:00Z" } },
      }),
      { uid: "u-2", operation: "UPDATE", deleting: true },
    ],
    [
      "a null deletionTimestamp is not a deletion",
      review({
        uid: "u-3",
        operation: "UPDATE",
        object: { metadata: { deletionTimestamp: null } },
      }),
      { uid: "u-3", operation: "UPDATE", deleting: false },
    ],
    [
      "a deletionTimestamp of oldObject only is not a deletion of object",
      review({
        uid: "u-4",
        operation: "UPDATE",
        object: { metadata: {} },
        oldObject: { metadata: { deletionTimestamp: "2026-12-01T00:00:00Z" } },
      }),
      { uid: "u-4", operation: "UPDATE", deleting: false },
    ],
    [
      "keys of the same name deeper in the object are not the review's",
      review({
        operation: "CREATE",
        object: { spec: { uid: "not-me", metadata: { deletionTimestamp: "x" } } },
        uid: "real",
      }),
      { uid: "real", operation: "CREATE", deleting: false },
    ],
    [
      "a uid with an escape is not read (only plain strings address an answer)",
      review({ uid: 'a"b', operation: "CREATE" }),
      { uid: undefined, operation: "CREATE", deleting: false },
    ],
    [
      "a body that is an array has no uid",
      JSON.stringify([{ request: { uid: "x" } }]),
      { uid: undefined, operation: undefined, deleting: false },
    ],
  ])("%s", (_name, text, expected) => {
    const { uid, operation, deleting } = scanShape(bytes(text));
    expect({ uid, operation, deleting }).toEqual(expected);
  });

  it("reads the uid of a review whose object is far too large to decode", () => {
    const text = review({
      uid: "big",
      operation: "CREATE",
      object: { spec: { tolerations: Array(200_000).fill({}) } },
    });
    expect(scanShape(bytes(text))).toMatchObject({ uid: "big", values: 200_009 });
  });
});

describe("measureDecoded and reviewFacts (small bodies, measured once decoded)", () => {
  it("counts what scanShape counts on the same JSON", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (value) => {
        const text = JSON.stringify(value);
        const scanned = scanShape(bytes(text));
        expect(measureDecoded(JSON.parse(text), 100)).toEqual({
          values: scanned.values,
          depth: scanned.depth,
        });
      }),
      { numRuns: 1000 },
    );
  });

  it("stops at one level past the limit, without recursing further", () => {
    const deep = JSON.parse(`${"[".repeat(50_000)}${"]".repeat(50_000)}`);
    expect(measureDecoded(deep, 100).depth).toBe(101);
  });

  it.each([
    [
      "a review",
      {
        request: {
          uid: "u",
          operation: "UPDATE",
          object: { metadata: { deletionTimestamp: "t" } },
        },
      },
      { uid: "u", operation: "UPDATE", deleting: true },
    ],
    ["no request", { uid: "u" }, { uid: undefined, operation: undefined, deleting: false }],
    [
      "a uid with a quote or of another type",
      { request: { uid: 'a"b', operation: 7 } },
      { uid: undefined, operation: undefined, deleting: false },
    ],
  ])("reads the facts of %s", (_name, value, expected) => {
    expect(reviewFacts(value)).toEqual(expected);
  });
});

describe("measureDecoded with dropPoisonedKeys (what the server does for small bodies)", () => {
  // Fastify's parser with onProtoPoisoning and onConstructorPoisoning "remove", as server.ts
  // used it for every body before: the walk must leave exactly what it left.
  const secure = Fastify().getDefaultJsonParser("remove", "remove");
  const secureParse = (text: string): unknown => {
    let out: unknown;
    secure({} as FastifyRequest, text, (error, value) => {
      if (error) throw error;
      out = value;
    });
    return out;
  };
  const scrubbed = (text: string): unknown => {
    const value: unknown = JSON.parse(text);
    measureDecoded(value, 100, { dropPoisonedKeys: true });
    return value;
  };

  it.each([
    ["a __proto__ key at the top", '{"__proto__":{"x":1},"a":1}', { a: 1 }],
    [
      "a __proto__ key deep in an array",
      '{"a":[{"b":{"__proto__":{"polluted":true},"c":2}}]}',
      { a: [{ b: { c: 2 } }] },
    ],
    ["a constructor with a prototype", '{"constructor":{"prototype":{"x":1}},"k":"v"}', { k: "v" }],
    ["a constructor that is a string stays", '{"constructor":"c"}', { constructor: "c" }],
    [
      "a constructor object without a prototype stays",
      '{"constructor":{"name":"x"}}',
      { constructor: { name: "x" } },
    ],
  ])("removes what secure-json-parse removes: %s", (_name, text, expected) => {
    // Compared as JSON text: JSON.stringify writes an own "__proto__" or "constructor" key,
    // which deep-equality helpers read as the object's prototype or class instead.
    const value = scrubbed(text) as object;
    expect(JSON.stringify(value)).toBe(JSON.stringify(expected));
    expect(Object.hasOwn(value, "__proto__")).toBe(false);
    expect(JSON.stringify(value)).toBe(JSON.stringify(secureParse(text)));
  });

  it("does not count what it removes", () => {
    expect(
      measureDecoded(JSON.parse('{"__proto__":[1,2,3],"a":1}'), 100, { dropPoisonedKeys: true }),
    ).toEqual({ values: 2, depth: 1 });
  });

  it("leaves the same value as secure-json-parse on arbitrary JSON with poisoned keys mixed in", () => {
    const key = fc.oneof(
      fc.constantFrom("__proto__", "constructor", "prototype", "a", "b"),
      fc.string({ maxLength: 4 }),
    );
    const tree = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: "small" },
        fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.constant(null)),
        fc.array(tie("node"), { maxLength: 3 }),
        fc.array(fc.tuple(key, tie("node")), { maxLength: 4 }),
      ),
    }));
    // Objects written as text so that "__proto__" is a real JSON key, not a prototype setter.
    const text = (node: unknown): string => {
      if (!Array.isArray(node)) return JSON.stringify(node);
      if (
        node.every(
          (item) => Array.isArray(item) && item.length === 2 && typeof item[0] === "string",
        )
      )
        return `{${node.map(([k, v]) => `${JSON.stringify(k)}:${text(v)}`).join(",")}}`;
      return `[${node.map(text).join(",")}]`;
    };
    fc.assert(
      fc.property(tree.node, (node) => {
        const json = text(node);
        expect(JSON.stringify(scrubbed(json))).toBe(JSON.stringify(secureParse(json)));
      }),
      { numRuns: 500 },
    );
  });
});
