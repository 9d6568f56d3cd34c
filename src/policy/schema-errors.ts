/**
 * ajv's errors as one line a person can act on: the path of the mistake in the file's own
 * notation (`rules[0].references[0].namespaceFeild`), what is wrong, and, for a misspelt key or
 * enum value, the closest allowed one (`did you mean namespaceField?`). Works for any schema
 * compiled with `allErrors: true, verbose: true` (the parent schema and the data are needed).
 */
import type { ErrorObject } from "ajv";
import { distance } from "fastest-levenshtein";

/**
 * Which error to report when there are several: an unknown key first (a misspelt key also
 * makes the key it was meant to be "missing", and the typo is the cause), then wrong values,
 * then missing keys.
 */
const PRIORITY: Record<string, number> = {
  additionalProperties: 0,
  enum: 1,
  const: 1,
  type: 2,
  anyOf: 4,
  required: 5,
};

/** The one error to show, as `PATH: problem`; `root` names the validated value (`rules`). */
export function describeSchemaErrors(
  errors: readonly ErrorObject[],
  root: string,
  data: unknown,
): string {
  const chosen = chooseError(errors);
  if (chosen === undefined) return `${root}: invalid`;
  return describe(chosen, root, data);
}

function chooseError(errors: readonly ErrorObject[]): ErrorObject | undefined {
  // An anyOf's own error says what is needed; its branches' errors only repeat it.
  const anyOf = errors.filter((e) => e.keyword === "anyOf").map((e) => `${e.schemaPath}/`);
  const relevant = errors.filter(
    (e) =>
      // `if` says "must match then": the branch's own errors are the ones to show.
      e.keyword !== "if" &&
      // propertyNames repeats the pattern error that names the key.
      e.keyword !== "propertyNames" &&
      !anyOf.some((prefix) => e.schemaPath.startsWith(prefix)),
  );
  return [...relevant].sort((a, b) => (PRIORITY[a.keyword] ?? 3) - (PRIORITY[b.keyword] ?? 3))[0];
}

function describe(error: ErrorObject, root: string, data: unknown): string {
  const at = pathOf(root, error.instancePath, data);
  const parent = (error.parentSchema ?? {}) as Record<string, unknown>;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case "additionalProperties": {
      const key = String(params.additionalProperty);
      const allowed = Object.keys((parent.properties ?? {}) as object);
      return `${join(at, key)}: unknown key ${hint(key, allowed)}`;
    }
    case "required":
      return `${join(at, String(params.missingProperty))}: required`;
    case "enum": {
      const allowed = (params.allowedValues as unknown[]).map(String);
      const near = typeof error.data === "string" ? closest(error.data, allowed) : undefined;
      return `${at}: must be one of ${allowed.join(", ")}${near === undefined ? "" : ` (did you mean ${near}?)`}`;
    }
    case "const":
      return `${at}: must be ${String(params.allowedValue)}`;
    case "type":
      return `${at}: must be ${TYPE_WORDS[String(params.type)] ?? String(params.type)}`;
    case "pattern": {
      const name = (error as ErrorObject & { propertyName?: string }).propertyName;
      const what = String(parent.title ?? parent.description ?? `text matching ${parent.pattern}`);
      return name === undefined
        ? `${at}: ${quote(error.data)} is not ${what}`
        : `${at}: ${quote(name)} is not ${what}`;
    }
    case "minItems":
      return params.limit === 1
        ? `${at}: must be a non-empty list`
        : `${at}: must have at least ${params.limit} items`;
    case "maxItems":
      return `${at}: must have at most ${params.limit} items`;
    case "minLength":
      return params.limit === 1
        ? `${at}: must be a non-empty string`
        : `${at}: must be at least ${params.limit} characters`;
    case "maxLength":
      return `${at}: must be at most ${params.limit} characters`;
    case "minProperties":
      return `${at}: must not be empty${parent.description ? ` (${parent.description})` : ""}`;
    case "maxProperties":
      return `${at}: must have at most ${params.limit} keys`;
    case "anyOf": {
      // Each branch names the keys that satisfy it: "needs refs or inline".
      const needs = (parent.anyOf as { required?: string[] }[])
        .map((branch) => (branch.required ?? []).join(" and "))
        .filter((s) => s !== "");
      return `${at}: needs ${needs.join(" or ")}`;
    }
    default:
      return `${at}: ${error.message ?? "invalid"}`;
  }
}

const TYPE_WORDS: Record<string, string> = {
  string: "a string",
  array: "a list",
  object: "a mapping",
  boolean: "true or false",
  integer: "an integer",
  number: "a number",
};

/** `(did you mean X?)` when a key is close to an allowed one, else the allowed keys. */
function hint(key: string, allowed: readonly string[]): string {
  const near = closest(key, allowed);
  if (near !== undefined) return `(did you mean ${near}?)`;
  return allowed.length === 0 ? "(no keys allowed here)" : `(allowed: ${allowed.join(", ")})`;
}

/**
 * The allowed word closest to `word` in edit distance, if it is close enough to be what was
 * meant: a different case, or at most 2 edits, or a third of the word's length for long words
 * (`namespaceFeild` is 2 edits from `namespaceField`).
 */
export function closest(word: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of allowed) {
    const d =
      candidate.toLowerCase() === word.toLowerCase()
        ? 0
        : distance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** `/0/references/0` under `rules` → `rules[0].references[0]` (array indexes in brackets). */
function pathOf(root: string, pointer: string, data: unknown): string {
  let out = root;
  let node: unknown = data;
  if (pointer === "") return out;
  for (const raw of pointer.slice(1).split("/")) {
    const part = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(node)) {
      out += `[${part}]`;
      node = node[Number(part)];
    } else {
      out = join(out, part);
      node =
        node !== null && typeof node === "object" && Object.hasOwn(node, part)
          ? (node as Record<string, unknown>)[part]
          : undefined;
    }
  }
  return out;
}

function join(path: string, key: string): string {
  return /^[A-Za-z0-9_-]+$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** A value as the message shows it: JSON, at most 80 characters. */
function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
