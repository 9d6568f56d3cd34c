/**
 * Kubernetes label selectors (`metav1.LabelSelector`): matching, the string syntax of
 * `kubectl -l` and `?labelSelector=` (k8s.io/apimachinery `pkg/labels`), and reading one from
 * an untrusted object. Pure. Used for trust-manager's `namespaceSelector` (does a Bundle select
 * this namespace?) and a ClusterTrustBundle projection's `labelSelector`.
 */

export type SelectorOperator = "In" | "NotIn" | "Exists" | "DoesNotExist";

export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: SelectorOperator;
  readonly values?: readonly string[];
}

/** `{}` selects everything; what a nil selector means depends on who reads it. */
export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly LabelSelectorRequirement[];
}

const OPERATORS: readonly string[] = ["In", "NotIn", "Exists", "DoesNotExist"];

/** Whether `labels` satisfy every term of `selector` (`{}` matches everything). */
export function matchesSelector(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>>,
): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!Object.hasOwn(labels, key) || labels[key] !== value) return false;
  }
  for (const term of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, term.key);
    const value = has ? labels[term.key] : undefined;
    const values = term.values ?? [];
    switch (term.operator) {
      case "In":
        if (!has || !values.includes(value as string)) return false;
        break;
      case "NotIn":
        if (has && values.includes(value as string)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
    }
  }
  return true;
}

/**
 * The selector in the string syntax (`a=b,c in (x,y),!d`), as `kubectl get -l` takes it and as
 * the API's `labelSelector` query parameter does. `{}` is the empty string.
 */
export function formatSelector(selector: LabelSelector): string {
  const terms: string[] = [];
  for (const key of Object.keys(selector.matchLabels ?? {}).sort()) {
    terms.push(`${key}=${selector.matchLabels?.[key] ?? ""}`);
  }
  for (const term of selector.matchExpressions ?? []) {
    const values = [...(term.values ?? [])].sort().join(",");
    switch (term.operator) {
      case "In":
        terms.push(`${term.key} in (${values})`);
        break;
      case "NotIn":
        terms.push(`${term.key} notin (${values})`);
        break;
      case "Exists":
        terms.push(term.key);
        break;
      case "DoesNotExist":
        terms.push(`!${term.key}`);
        break;
    }
  }
  return terms.join(",");
}

/** Label keys: an optional DNS-subdomain prefix and `/`, then a name of ≤ 63 characters. */
const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** Label values: empty, or ≤ 63 characters starting and ending alphanumeric. */
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

function checkKey(key: string): string {
  if (!LABEL_KEY.test(key) || key.length > 317) throw new Error(`invalid label key "${key}"`);
  return key;
}

function checkValue(value: string): string {
  if (!LABEL_VALUE.test(value)) throw new Error(`invalid label value "${value}"`);
  return value;
}

/**
 * Parses the string syntax: comma-separated `key=value`, `key==value`, `key!=value`, `key`,
 * `!key`, `key in (a,b)`, `key notin (a,b)`. Equalities become `matchLabels`, the rest
 * `matchExpressions` (`!=` is `NotIn` with one value, as in Kubernetes). The empty string is
 * `{}`. Throws an Error saying what is wrong.
 */
export function parseSelector(text: string): LabelSelector {
  const matchLabels: Record<string, string> = {};
  const matchExpressions: LabelSelectorRequirement[] = [];
  const terms = splitTerms(text.trim());
  for (const raw of terms) {
    const term = raw.trim();
    if (term === "") throw new Error("empty term");
    const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(term);
    if (set !== null) {
      const values = (set[3] as string)
        .split(",")
        .map((v) => checkValue(v.trim()))
        .filter((v, i, all) => all.indexOf(v) === i);
      matchExpressions.push({
        key: checkKey(set[1] as string),
        operator: set[2] === "in" ? "In" : "NotIn",
        values,
      });
      continue;
    }
    const inequality = /^([^=!\s]+)\s*!=\s*(\S*)$/.exec(term);
    if (inequality !== null) {
      matchExpressions.push({
        key: checkKey(inequality[1] as string),
        operator: "NotIn",
        values: [checkValue(inequality[2] as string)],
      });
      continue;
    }
    const equality = /^([^=!\s]+)\s*==?\s*(\S*)$/.exec(term);
    if (equality !== null) {
      const key = checkKey(equality[1] as string);
      const value = checkValue(equality[2] as string);
      if (Object.hasOwn(matchLabels, key) && matchLabels[key] !== value) {
        throw new Error(`"${key}" is given two values`);
      }
      matchLabels[key] = value;
      continue;
    }
    if (term.startsWith("!")) {
      matchExpressions.push({ key: checkKey(term.slice(1).trim()), operator: "DoesNotExist" });
      continue;
    }
    matchExpressions.push({ key: checkKey(term), operator: "Exists" });
  }
  return {
    ...(Object.keys(matchLabels).length > 0 ? { matchLabels } : {}),
    ...(matchExpressions.length > 0 ? { matchExpressions } : {}),
  };
}

/** Splits on the commas that are not inside `( )`. */
function splitTerms(text: string): string[] {
  if (text === "") return [];
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") {
      depth--;
      if (depth < 0) throw new Error("unbalanced parentheses");
    } else if (c === "," && depth === 0) {
      terms.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) throw new Error("unbalanced parentheses");
  terms.push(text.slice(start));
  return terms;
}

/**
 * A selector read from an object of the API (a Bundle's `namespaceSelector`): `undefined` when
 * absent or null, `"invalid"` when it is not a selector the apiserver would have stored (it
 * is then matched by nobody, as `metav1.LabelSelectorAsSelector` fails on it).
 */
export function selectorOf(value: unknown): LabelSelector | undefined | "invalid" {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) return "invalid";
  const { matchLabels, matchExpressions } = value as Record<string, unknown>;
  const labels: Record<string, string> = {};
  if (matchLabels !== undefined && matchLabels !== null) {
    if (typeof matchLabels !== "object" || Array.isArray(matchLabels)) return "invalid";
    for (const [k, v] of Object.entries(matchLabels)) {
      if (typeof v !== "string") return "invalid";
      labels[k] = v;
    }
  }
  const expressions: LabelSelectorRequirement[] = [];
  if (matchExpressions !== undefined && matchExpressions !== null) {
    if (!Array.isArray(matchExpressions)) return "invalid";
    for (const term of matchExpressions) {
      if (term === null || typeof term !== "object") return "invalid";
      const { key, operator, values } = term as Record<string, unknown>;
      if (typeof key !== "string" || typeof operator !== "string") return "invalid";
      if (!OPERATORS.includes(operator)) return "invalid";
      const list = values ?? [];
      if (!Array.isArray(list) || !list.every((v) => typeof v === "string")) return "invalid";
      expressions.push({ key, operator: operator as SelectorOperator, values: list });
    }
  }
  return {
    ...(Object.keys(labels).length > 0 ? { matchLabels: labels } : {}),
    ...(expressions.length > 0 ? { matchExpressions: expressions } : {}),
  };
}
