/**
 * The CA-reference rule table. Each rule is data: which kinds it matches, where in the object
 * the CA reference (or inline PEM) sits, how the Secret key is chosen, and which feature gate
 * enables it. One generic engine (`engine.ts`) applies every rule; the registration
 * (`ca-trust-webhook manifests`, src/manifests.ts) is derived from the same table. The format
 * is one JSON Schema (`rule-schema.ts`); users add rules for their own CRDs in the config file
 * in exactly that format (`parseRules`).
 */
import { Ajv, type ValidateFunction } from "ajv";
import { type Rule, RulesSchema } from "./rule-schema.js";
import { describeSchemaErrors } from "./schema-errors.js";

export { BUILTIN_RULES } from "./builtin-rules.js";
export type {
  KeySelection,
  LabelledSecretRule,
  ReferenceRule,
  ReferenceSpec,
  Rule,
} from "./rule-schema.js";

/** An error in a user-supplied rule: the path inside the `rules` list and what is wrong. */
export class RuleError extends Error {}

/**
 * Compiled once, on first use (about 50 ms: a config file without rules never pays it).
 * `useDefaults` fills in the schema's defaults (the validated copy is the complete form);
 * `allErrors` + `verbose` let the message pick the most telling error and suggest the key
 * that was meant.
 */
let compiled: ValidateFunction<Rule[]> | undefined;
const validator = (): ValidateFunction<Rule[]> =>
  (compiled ??= new Ajv({
    allErrors: true,
    verbose: true,
    useDefaults: true,
    strict: true,
    // The `if`/`anyOf` subschemas test or require properties that their parent object defines.
    strictTypes: false,
    strictRequired: false,
  }).compile<Rule[]>(RulesSchema));

/**
 * Validates user rules from the config file (YAML already parsed) into Rule objects, with the
 * defaults filled in: `type` reference, `versions` ["*"], `scope` Namespaced, `nameField` name,
 * `required` false, `refs` [], and for labelled Secrets `keys` eligible. The input is not
 * modified. Throws RuleError naming the first mistake, e.g.
 * `rules[0].references[0].namespaceFeild: unknown key (did you mean namespaceField?)`.
 */
export function parseRules(input: unknown): Rule[] {
  if (input === undefined || input === null) return [];
  if (!Array.isArray(input)) throw new RuleError("rules: must be a list");
  if (input.length === 0) return [];
  const rules = structuredClone(input) as unknown[];
  const validate = validator();
  if (!validate(rules)) {
    throw new RuleError(describeSchemaErrors(validate.errors ?? [], "rules", rules));
  }
  return rules;
}

/** The rule (if any) that governs a request's group and kind; labelled-Secret rules match Secrets. */
export function findRule(
  rules: readonly Rule[],
  group: string,
  kind: string,
  labels: Record<string, string> | undefined,
): Rule | undefined {
  for (const rule of rules) {
    if (rule.type === "reference") {
      if (rule.apiGroups.includes(group) && Object.hasOwn(rule.kinds, kind)) return rule;
    } else if (group === "" && kind === "Secret" && labels?.[rule.label] === rule.value) {
      return rule;
    }
  }
  return undefined;
}
