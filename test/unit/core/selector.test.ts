/**
 * Label selectors (core/selector.ts): matching as Kubernetes matches, the `-l` string syntax
 * both ways, and reading a selector from an untrusted object.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatSelector,
  type LabelSelector,
  matchesSelector,
  parseSelector,
  selectorOf,
} from "../../../src/core/selector.js";

describe("matchesSelector", () => {
  const labels = { "ca-trust.dev/inject": "enabled", team: "a", empty: "" };
  it.each([
    ["{} matches everything", {}, true],
    ["matchLabels equal", { matchLabels: { team: "a" } }, true],
    ["matchLabels differ", { matchLabels: { team: "b" } }, false],
    ["matchLabels of an absent key", { matchLabels: { env: "" } }, false],
    ["matchLabels of an empty value", { matchLabels: { empty: "" } }, true],
    [
      "In with the value",
      { matchExpressions: [{ key: "team", operator: "In", values: ["a", "b"] }] },
      true,
    ],
    [
      "In without the key",
      { matchExpressions: [{ key: "env", operator: "In", values: ["a"] }] },
      false,
    ],
    [
      "NotIn without the key",
      { matchExpressions: [{ key: "env", operator: "NotIn", values: ["a"] }] },
      true,
    ],
    [
      "NotIn with the value",
      { matchExpressions: [{ key: "team", operator: "NotIn", values: ["a"] }] },
      false,
    ],
    ["Exists", { matchExpressions: [{ key: "team", operator: "Exists" }] }, true],
    [
      "DoesNotExist of a present key",
      { matchExpressions: [{ key: "team", operator: "DoesNotExist" }] },
      false,
    ],
    [
      "every term must hold",
      { matchLabels: { team: "a" }, matchExpressions: [{ key: "env", operator: "Exists" }] },
      false,
    ],
  ] as const)("%s", (_name, selector, expected) => {
    expect(matchesSelector(selector as LabelSelector, labels)).toBe(expected);
  });

  it("does not match inherited properties", () => {
    expect(
      matchesSelector({ matchExpressions: [{ key: "toString", operator: "Exists" }] }, {}),
    ).toBe(false);
  });
});

describe("parseSelector and formatSelector", () => {
  it.each([
    ["", {}],
    ["a=b", { matchLabels: { a: "b" } }],
    ["a==b, c=", { matchLabels: { a: "b", c: "" } }],
    ["a!=b", { matchExpressions: [{ key: "a", operator: "NotIn", values: ["b"] }] }],
    ["example.com/k", { matchExpressions: [{ key: "example.com/k", operator: "Exists" }] }],
    ["!k", { matchExpressions: [{ key: "k", operator: "DoesNotExist" }] }],
    [
      "env in (prod, stage),tier notin (x)",
      {
        matchExpressions: [
          { key: "env", operator: "In", values: ["prod", "stage"] },
          { key: "tier", operator: "NotIn", values: ["x"] },
        ],
      },
    ],
  ] as const)("parses %j", (text, expected) => {
    expect(parseSelector(text)).toEqual(expected);
  });

  it.each([
    ["a=b,", "empty term"],
    ["env in (a", "unbalanced parentheses"],
    ["a=b,a=c", "is given two values"],
    ["Bad Key=x", "invalid label key"],
    ["a=-x-", "invalid label value"],
  ])("rejects %j (%s)", (text, reason) => {
    expect(() => parseSelector(text)).toThrow(reason);
  });

  const keyArb = fc.stringMatching(/^[a-z]([a-z0-9-]{0,6}[a-z0-9])?$/);
  const valueArb = fc.stringMatching(/^([a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?)?$/);
  const selectorArb: fc.Arbitrary<LabelSelector> = fc.record(
    {
      matchLabels: fc.dictionary(keyArb, valueArb, { maxKeys: 3 }),
      matchExpressions: fc.array(
        fc.oneof(
          fc.record({
            key: keyArb,
            operator: fc.constantFrom("In" as const, "NotIn" as const),
            values: fc.uniqueArray(
              valueArb.filter((v) => v !== ""),
              { minLength: 1, maxLength: 3 },
            ),
          }),
          fc.record({
            key: keyArb,
            operator: fc.constantFrom("Exists" as const, "DoesNotExist" as const),
          }),
        ),
        { maxLength: 3 },
      ),
    },
    { requiredKeys: [] },
  );
  const labelsArb = fc.dictionary(keyArb, valueArb, { maxKeys: 5 });

  it("the formatted text parses back to a selector that matches exactly the same labels", () => {
    fc.assert(
      fc.property(selectorArb, fc.array(labelsArb, { maxLength: 8 }), (selector, samples) => {
        const again = parseSelector(formatSelector(selector));
        for (const labels of samples) {
          expect(matchesSelector(again, labels)).toBe(matchesSelector(selector, labels));
        }
        expect(formatSelector(again)).toBe(formatSelector(parseSelector(formatSelector(again))));
      }),
      { numRuns: 300 },
    );
  });
});

describe("selectorOf (untrusted objects)", () => {
  it.each([
    [undefined, undefined],
    [null, undefined],
    [{}, {}],
    [{ matchLabels: { a: "b" } }, { matchLabels: { a: "b" } }],
    [{ matchLabels: { a: 1 } }, "invalid"],
    [{ matchExpressions: [{ key: "a", operator: "Maybe" }] }, "invalid"],
    [{ matchExpressions: [{ key: "a", operator: "In", values: [1] }] }, "invalid"],
    ["a=b", "invalid"],
  ])("%j → %j", (input, expected) => {
    expect(selectorOf(input)).toEqual(expected);
  });
});
