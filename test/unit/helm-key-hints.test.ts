/**
 * The "did you mean" that helm prints for a misspelt rule key: scripts/generate-deploy.ts adds
 * to the chart's rule schema, per allowed key, a pattern of the keys one edit away from it.
 * The pattern must catch every such key and never an allowed one (which would make a correct
 * values file fail).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { nearMissPattern, withKeyHints } from "../../scripts/generate-deploy.js";
import { RULES_INPUT_SCHEMA } from "../../src/policy/rule-schema.js";

/** Every non-empty word one Damerau edit away from `word` over `alphabet`, without `word` itself. */
function oneEditAway(word: string, alphabet: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i <= word.length; i++) {
    for (const c of alphabet) out.add(word.slice(0, i) + c + word.slice(i));
    if (i === word.length) continue;
    out.add(word.slice(0, i) + word.slice(i + 1));
    for (const c of alphabet) out.add(word.slice(0, i) + c + word.slice(i + 1));
    if (i + 1 < word.length) {
      out.add(word.slice(0, i) + word.charAt(i + 1) + word.charAt(i) + word.slice(i + 2));
    }
  }
  out.delete(word);
  // An empty key is not a misspelling anyone makes; the pattern leaves it to the plain error.
  out.delete("");
  return out;
}

const matches = (pattern: string | undefined, word: string) =>
  pattern !== undefined && new RegExp(pattern).test(word);

describe("nearMissPattern", () => {
  it.each([
    { key: "namespaceField", typo: "namespaceFeild", why: "two neighbours swapped" },
    { key: "namespaceField", typo: "NamespaceField", why: "a letter's case" },
    { key: "namespaceField", typo: "namespacefield", why: "a letter's case" },
    { key: "namespaceField", typo: "namespaceFied", why: "a letter left out" },
    { key: "namespaceField", typo: "namespaceFieldd", why: "a letter added" },
    { key: "kinds", typo: "kind", why: "a letter left out" },
    { key: "refs", typo: "ref", why: "a letter left out" },
    { key: "inline", typo: "in-line", why: "a character added" },
  ])("matches $typo for $key ($why)", ({ key, typo }) => {
    expect(matches(nearMissPattern(key, [key]), typo)).toBe(true);
  });

  it("never matches the key itself or another allowed key, and matches every other word one edit away", () => {
    const alphabet = ["a", "b", "A", "-", ".", "[", "]", "^", "\\"];
    const word = fc.string({ unit: fc.constantFrom(...alphabet), minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(word, fc.array(word, { maxLength: 4 }), (key, others) => {
        const allowed = [key, ...others];
        const pattern = nearMissPattern(key, allowed);
        for (const other of allowed) expect(matches(pattern, other)).toBe(false);
        for (const near of oneEditAway(key, alphabet)) {
          expect(matches(pattern, near)).toBe(!allowed.includes(near));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("does not match words two edits away", () => {
    expect(matches(nearMissPattern("nameField", ["nameField"]), "nameFeld_x")).toBe(false);
    expect(matches(nearMissPattern("keys", ["keys"]), "kes_")).toBe(false);
  });
});

describe("withKeyHints on the rule schema", () => {
  it("gives every object that allows no other keys a hint per allowed key, and changes nothing else", () => {
    const hinted = withKeyHints(RULES_INPUT_SCHEMA);
    let objects = 0;
    const walk = (original: unknown, withHints: unknown): void => {
      if (Array.isArray(original)) {
        for (const [i, item] of original.entries()) walk(item, (withHints as unknown[])[i]);
        return;
      }
      if (original === null || typeof original !== "object") {
        expect(withHints).toEqual(original);
        return;
      }
      const o = original as Record<string, unknown>;
      const h = withHints as Record<string, unknown>;
      const added = Object.keys(h).filter((k) => !(k in o));
      if (o.additionalProperties === false && o.properties !== undefined) {
        objects++;
        expect(added).toEqual(["patternProperties"]);
        const hints = h.patternProperties as Record<string, { const: string }>;
        const keys = Object.keys(o.properties as object);
        expect(Object.values(hints).map((hint) => hint.const)).toEqual(
          keys.map((key) => `unknown key (did you mean ${key}?)`),
        );
      } else {
        expect(added).toEqual([]);
      }
      for (const key of Object.keys(o)) walk(o[key], h[key]);
    };
    walk(RULES_INPUT_SCHEMA, hinted);
    expect(objects).toBeGreaterThan(5);
  });
});
