/**
 * The wording helpers of pod-security-admission (`pluralize`, `joinQuote`, sorted sets, Go's
 * `%q`), so that a reason and detail read byte for byte as the apiserver writes them.
 */

export function pluralize(singular: string, plural: string, count: number): string {
  return count === 1 ? singular : plural;
}

/** `"a", "b"` (Go's joinQuote: no escaping). */
export function joinQuote(items: readonly string[]): string {
  return items.length === 0 ? "" : `"${items.join('", "')}"`;
}

const encoder = new TextEncoder();

/** Go's string order: bytewise on UTF-8 (JavaScript's `<` compares UTF-16 code units). */
function goCompare(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const d = (x[i] as number) - (y[i] as number);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** Sorted, in Go's order (`sort.Strings`). */
export function goSorted(items: Iterable<string>): string[] {
  return [...items].sort(goCompare);
}

/** Sorted unique strings (Go's `sets.List`). */
export function sortedSet(items: Iterable<string>): string[] {
  return goSorted(new Set(items));
}

/** `container "a"` / `containers "a", "b"`. */
export function containersPhrase(names: readonly string[]): string {
  return `${pluralize("container", "containers", names.length)} ${joinQuote(names)}`;
}

export function containerSubjects(names: readonly string[]): string[] {
  return names.map((n) => `container "${n}"`);
}

const SIMPLE_ESCAPES: Record<string, string> = {
  "\u0007": "\\a",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\v": "\\v",
  '"': '\\"',
  "\\": "\\\\",
};

/** Printable as Go's `strconv.IsPrint` (letters, marks, numbers, punctuation, symbols, ' '). */
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

/** Go's `%q` of a string (annotation values in reasons are written with it). */
export function goQuote(value: string): string {
  let out = '"';
  for (const ch of value) {
    const simple = SIMPLE_ESCAPES[ch];
    const code = ch.codePointAt(0) as number;
    if (simple !== undefined) out += simple;
    else if (PRINTABLE.test(ch)) out += ch;
    else if (code < 0x80) out += `\\x${code.toString(16).padStart(2, "0")}`;
    // A lone surrogate: the apiserver's JSON decoder makes it U+FFFD, which is printable.
    else if (code >= 0xd800 && code <= 0xdfff) out += "\ufffd";
    else if (code < 0x10000) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else out += `\\U${code.toString(16).padStart(8, "0")}`;
  }
  return `${out}"`;
}
