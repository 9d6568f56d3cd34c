/**
 * The rule format (src/policy/rule-schema.ts) and its validation (`parseRules`): the built-in
 * rules are valid data of the schema, a mistake is reported with its path and, for a misspelt
 * key or value, the one that was meant; defaults are filled in; field paths accept every JSON
 * field name CRDs use (`-`, leading digits) and nothing else.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RULES_INPUT_SCHEMA, RulesSchema } from "../../../src/policy/rule-schema.js";
import { BUILTIN_RULES, parseRules, RuleError } from "../../../src/policy/rules.js";
import { closest } from "../../../src/policy/schema-errors.js";

/** A valid reference rule, to break one key at a time. */
const widget = (reference: Record<string, unknown> = {}, rule: Record<string, unknown> = {}) => ({
  name: "widgets",
  apiGroups: ["example.com"],
  kinds: { Widget: "widgets" },
  references: [{ refs: ["spec.tls.caRef"], keys: { mode: "eligible" }, ...reference }],
  ...rule,
});

const errorOf = (input: unknown): string => {
  try {
    parseRules(input);
  } catch (error) {
    if (error instanceof RuleError) return error.message;
    throw error;
  }
  throw new Error("accepted");
};

describe("the built-in rules", () => {
  it("are valid and already complete (validating them changes nothing)", () => {
    const copy = JSON.parse(JSON.stringify(BUILTIN_RULES)) as unknown;
    expect(parseRules(copy)).toEqual(JSON.parse(JSON.stringify(BUILTIN_RULES)));
  });
});

describe("a mistake in a rule is reported with its path and what was meant", () => {
  it.each([
    {
      mistake: "a misspelt key of a reference",
      input: [widget({ namespaceFeild: "namespace" })],
      message: "rules[0].references[0].namespaceFeild: unknown key (did you mean namespaceField?)",
    },
    {
      mistake: "a misspelt key of the key selection (it also leaves `key` missing)",
      input: [widget({ keys: { mode: "fixed", kye: "ca.crt" } })],
      message: "rules[0].references[0].keys.kye: unknown key (did you mean key?)",
    },
    {
      mistake: "a misspelt key of a labelled-Secret rule",
      input: [{ name: "x", type: "labelledSecret", lable: "a", value: "b" }],
      message: "rules[0].lable: unknown key (did you mean label?)",
    },
    {
      mistake: "a key of the wrong case",
      input: [widget({}, { apigroups: ["example.com"] })],
      message: "rules[0].apigroups: unknown key (did you mean apiGroups?)",
    },
    {
      mistake: "a key nothing like an allowed one",
      input: [widget({}, { colour: "red" })],
      message:
        "rules[0].colour: unknown key (allowed: name, type, apiGroups, kinds, versions, scope, featureGate, references)",
    },
    {
      mistake: "a key with a dot",
      input: [widget({}, { "spec.a": 1 })],
      message: 'rules[0]["spec.a"]: unknown key',
    },
    {
      mistake: "a misspelt rule type",
      input: [{ name: "x", type: "labeledSecret", label: "a", value: "b" }],
      message:
        "rules[0].type: must be one of reference, labelledSecret (did you mean labelledSecret?)",
    },
    {
      mistake: "a scope in lower case",
      input: [widget({}, { scope: "namespaced" })],
      message: "rules[0].scope: must be one of Namespaced, Cluster (did you mean Namespaced?)",
    },
    {
      mistake: "a key mode in upper case",
      input: [widget({ keys: { mode: "Fixed", key: "ca.crt" } })],
      message:
        "rules[0].references[0].keys.mode: must be one of field, fixed, eligible, caWithKey (did you mean fixed?)",
    },
    {
      mistake: "an unknown key mode",
      input: [widget({ keys: { mode: "any" } })],
      message: "rules[0].references[0].keys.mode: must be one of field, fixed, eligible",
    },
    {
      mistake: "a missing key selection",
      input: [widget({ keys: undefined })],
      message: "rules[0].references[0].keys: required",
    },
    {
      mistake: "neither refs nor inline",
      input: [widget({ refs: [] })],
      message: "rules[0].references[0]: needs refs or inline",
    },
    {
      mistake: "an empty path segment",
      input: [widget({ refs: ["spec..a"] })],
      message: 'rules[0].references[0].refs[0]: "spec..a" is not a dotted field path',
    },
    {
      mistake: "a path with a space",
      input: [widget({ inline: "spec.ca pem" })],
      message: 'rules[0].references[0].inline: "spec.ca pem" is not a dotted field path',
    },
    {
      mistake: "a lower-case Kind",
      input: [widget({}, { kinds: { widget: "widgets" } })],
      message: 'rules[0].kinds: "widget" is not a Kind',
    },
    {
      mistake: "a resource that is not plural-resource syntax",
      input: [widget({}, { kinds: { Widget: "Widgets" } })],
      message: 'rules[0].kinds.Widget: "Widgets" is not the plural resource name',
    },
    {
      mistake: "no kinds",
      input: [widget({}, { kinds: {} })],
      message: "rules[0].kinds: must not be empty",
    },
    {
      mistake: "a wildcard API group",
      input: [widget({}, { apiGroups: ["*"] })],
      message: 'rules[0].apiGroups[0]: "*" is not an API group',
    },
    {
      mistake: "no versions",
      input: [widget({}, { versions: [] })],
      message: "rules[0].versions: must be a non-empty list",
    },
    {
      mistake: "a string for a boolean",
      input: [widget({ required: "yes" })],
      message: "rules[0].references[0].required: must be true or false",
    },
    {
      mistake: "a missing name",
      input: [widget({}, { name: undefined })],
      message: "rules[0].name: required",
    },
    {
      mistake: "a rule that is not a mapping",
      input: ["x"],
      message: "rules[0]: must be a mapping",
    },
    { mistake: "rules that are not a list", input: { a: 1 }, message: "rules: must be a list" },
  ])("$mistake", ({ input, message }) => {
    expect(errorOf(JSON.parse(JSON.stringify(input)))).toContain(message);
  });

  it("a `__proto__` key is an unknown key, not a prototype", () => {
    const input = JSON.parse(
      '[{"name":"x","type":"labelledSecret","label":"a","value":"b","__proto__":{"polluted":1}}]',
    );
    expect(errorOf(input)).toBe(
      "rules[0].__proto__: unknown key (allowed: name, type, label, value, keys, purpose)",
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("defaults", () => {
  it("a reference rule gets type, versions, scope, refs, nameField and required", () => {
    expect(parseRules([widget({ refs: undefined, inline: "spec.caPEM" })])).toEqual([
      {
        name: "widgets",
        type: "reference",
        apiGroups: ["example.com"],
        kinds: { Widget: "widgets" },
        versions: ["*"],
        scope: "Namespaced",
        references: [
          {
            refs: [],
            inline: "spec.caPEM",
            nameField: "name",
            keys: { mode: "eligible" },
            required: false,
          },
        ],
      },
    ]);
  });

  it("a labelled-Secret rule gets eligible keys and a purpose", () => {
    expect(parseRules([{ name: "x", type: "labelledSecret", label: "a/b", value: "" }])).toEqual([
      {
        name: "x",
        type: "labelledSecret",
        label: "a/b",
        value: "",
        keys: { mode: "eligible" },
        purpose: "the label has effect only in the system namespace",
      },
    ]);
  });

  it("no rules: an empty list; the input is never modified", () => {
    expect(parseRules(undefined)).toEqual([]);
    expect(parseRules(null)).toEqual([]);
    const input = [widget()];
    const before = JSON.stringify(input);
    parseRules(input);
    expect(JSON.stringify(input)).toBe(before);
  });
});

describe("field paths", () => {
  const segment = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/);
  const path = fc.array(segment, { minLength: 1, maxLength: 6 }).map((s) => s.join("."));

  it("accept every dotted path of JSON field names with letters, digits, _ and - (x-kubernetes-style, leading digits)", () => {
    expect(() => parseRules([widget({ refs: ["spec.x-kubernetes-ca.0ref"] })])).not.toThrow();
    fc.assert(
      fc.property(path, path, (ref, inline) => {
        expect(parseRules([widget({ refs: [ref], inline })])[0]).toBeDefined();
      }),
    );
  });

  it("reject any other character, and empty segments", () => {
    const bad = fc
      .tuple(path, fc.constantFrom(" ", "/", "[", "]", "$", "*", ":", "é", "..", "\n"), path)
      .map(([a, c, b]) => `${a}${c}${b}`);
    fc.assert(
      fc.property(bad, (ref) => {
        expect(errorOf([widget({ refs: [ref] })])).toContain("is not a dotted field path");
      }),
    );
  });
});

describe("any input", () => {
  it("is either rules or a RuleError, and validating the result again changes nothing", () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.array(fc.constant(widget()))), (input) => {
        let rules: unknown;
        try {
          rules = parseRules(input);
        } catch (error) {
          expect(error).toBeInstanceOf(RuleError);
          return;
        }
        expect(parseRules(JSON.parse(JSON.stringify(rules)))).toEqual(rules);
      }),
    );
  });
});

describe("the schema", () => {
  /** Every node of a JSON Schema with its JSON pointer. */
  function* nodes(node: unknown, at = "#"): Generator<[string, Record<string, unknown>]> {
    if (node === null || typeof node !== "object") return;
    if (!Array.isArray(node)) yield [at, node as Record<string, unknown>];
    for (const [key, child] of Object.entries(node)) yield* nodes(child, `${at}/${key}`);
  }

  it("lets no object have keys it does not name (additionalProperties: false)", () => {
    const open = [...nodes(JSON.parse(JSON.stringify(RulesSchema)))].filter(
      ([, n]) =>
        n.type === "object" &&
        n.properties !== undefined &&
        n.additionalProperties !== false &&
        // A tagged union: its tag selects a branch, which has additionalProperties false.
        !(
          Array.isArray(n.allOf) &&
          n.allOf.every(
            (c: { then?: { additionalProperties?: unknown } }) =>
              c.then?.additionalProperties === false,
          )
        ),
    );
    expect(open.map(([at]) => at)).toEqual([]);
  });

  it("in the input form (the Helm chart's), requires no key that has a default", () => {
    const required = [...nodes(RULES_INPUT_SCHEMA)].flatMap(([at, n]) =>
      (Array.isArray(n.required) ? (n.required as string[]) : [])
        .filter(
          (key) =>
            (n.properties as Record<string, { default?: unknown }> | undefined)?.[key]?.default !==
            undefined,
        )
        .map((key) => `${at}: ${key}`),
    );
    expect(required).toEqual([]);
  });
});

describe("suggestions", () => {
  it.each([
    { word: "namespaceFeild", allowed: ["namespaceField", "nameField"], meant: "namespaceField" },
    { word: "lable", allowed: ["label", "value"], meant: "label" },
    { word: "SCOPE", allowed: ["scope", "kinds"], meant: "scope" },
    { word: "colour", allowed: ["name", "kinds", "scope"], meant: undefined },
    { word: "x", allowed: ["refs", "keys"], meant: undefined },
  ])("$word among $allowed: $meant", ({ word, allowed, meant }) => {
    expect(closest(word, allowed)).toBe(meant);
  });
});
