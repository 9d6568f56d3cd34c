/**
 * One pass over the raw bytes of a request body, before anything is decoded: how many JSON
 * values it holds, how deep it nests, and the few facts of an AdmissionReview needed to answer
 * it without decoding it (request.uid, request.operation, whether request.object is being
 * deleted). It allocates nothing per value, so a body of any shape costs time linear in its
 * length and no memory: the decision to decode (and so to spend ~70 bytes of heap per value)
 * is made on these counts.
 *
 * It does not validate JSON; JSON.parse does that afterwards. On malformed input the counts
 * are still bounded by the length and the facts are best effort: they are only used to
 * address a refusal, never to allow something that was not decoded (see routes.ts).
 */

/** What {@link scanShape} found. */
export interface BodyShape {
  /** JSON values: objects, arrays, strings, numbers, true/false/null (object keys excluded). */
  readonly values: number;
  /** Deepest nesting of objects and arrays (a top-level object is depth 1). */
  readonly depth: number;
  /** `request.uid`, when the body is an object whose `request.uid` is a plain string. */
  readonly uid: string | undefined;
  /** `request.operation`, likewise. */
  readonly operation: string | undefined;
  /** `request.object.metadata.deletionTimestamp` is present and not null. */
  readonly deleting: boolean;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** Bytes that end a number or literal. */
const DELIMITER = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0a, 0x0d, COMMA, COLON, CLOSE_OBJECT, CLOSE_ARRAY, OPEN_OBJECT]) {
  DELIMITER[c] = 1;
}
DELIMITER[OPEN_ARRAY] = 1;
DELIMITER[QUOTE] = 1;

// The member keys followed, by the depth of the object that holds them.
const KEY_NONE = 0;
const KEY_REQUEST = 1; // depth 1: {"request": {...}}
const KEY_UID = 2; // depth 2: request.uid
const KEY_OPERATION = 3; // depth 2: request.operation
const KEY_OBJECT = 4; // depth 2: request.object
const KEY_METADATA = 5; // depth 3: request.object.metadata
const KEY_DELETION = 6; // depth 4: request.object.metadata.deletionTimestamp

const KEYS_AT_DEPTH: readonly (readonly [number, Uint8Array][])[] = [
  [],
  [[KEY_REQUEST, ascii("request")]],
  [
    [KEY_UID, ascii("uid")],
    [KEY_OPERATION, ascii("operation")],
    [KEY_OBJECT, ascii("object")],
  ],
  [[KEY_METADATA, ascii("metadata")]],
  [[KEY_DELETION, ascii("deletionTimestamp")]],
];
/** The key under which the container at depth d+1 continues the followed path. */
const PATH_KEY = [KEY_NONE, KEY_REQUEST, KEY_OBJECT, KEY_METADATA];
const FOLLOWED_DEPTH = 4;

/** Scans `bytes` (UTF-8 JSON). Never throws; linear time; constant memory. */
export function scanShape(bytes: Uint8Array): BodyShape {
  const n = bytes.length;
  let containers = 0;
  let scalars = 0;
  let strings = 0;
  let keys = 0;
  let depth = 0;
  let maxDepth = 0;
  // The string just read (content between its quotes), in case a colon makes it a key.
  let stringStart = 0;
  let stringEnd = 0;
  // Whether the container at depth d is the root object, request, request.object or
  // request.object.metadata (d = 1..4): only there are keys compared.
  const onPath = [false, false, false, false, false];
  // The followed key whose value comes next (after its colon), at the depth `keyDepth`.
  let pendingKey = KEY_NONE;
  let uidRange: [number, number] | undefined;
  let operationRange: [number, number] | undefined;
  let deleting = false;

  let i = 0;
  while (i < n) {
    const c = bytes[i] as number;
    if (c === QUOTE) {
      const start = ++i;
      while (i < n) {
        const d = bytes[i] as number;
        if (d === QUOTE) break;
        i += d === BACKSLASH ? 2 : 1;
      }
      stringStart = start;
      stringEnd = Math.min(i, n);
      i++;
      strings++;
      if (pendingKey !== KEY_NONE) {
        if (pendingKey === KEY_UID) uidRange = [stringStart, stringEnd];
        else if (pendingKey === KEY_OPERATION) operationRange = [stringStart, stringEnd];
        else if (pendingKey === KEY_DELETION) deleting = true;
        pendingKey = KEY_NONE;
      }
    } else if (c === COLON) {
      keys++;
      i++;
      pendingKey =
        depth <= FOLLOWED_DEPTH && onPath[depth] === true
          ? keyAt(bytes, depth, stringStart, stringEnd)
          : KEY_NONE;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      containers++;
      depth++;
      if (depth > maxDepth) maxDepth = depth;
      if (depth <= FOLLOWED_DEPTH) {
        onPath[depth] =
          c === OPEN_OBJECT &&
          (depth === 1 ? containers === 1 : pendingKey === PATH_KEY[depth - 1]);
      }
      if (pendingKey === KEY_DELETION) deleting = true;
      pendingKey = KEY_NONE;
      i++;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (depth <= FOLLOWED_DEPTH) onPath[depth] = false;
      if (depth > 0) depth--;
      pendingKey = KEY_NONE;
      i++;
    } else if (c === COMMA || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      i++;
    } else {
      // A number or a literal (or junk, which JSON.parse will refuse): one value.
      scalars++;
      // `null` is the absence of a deletionTimestamp, as in the API.
      if (pendingKey === KEY_DELETION && c !== 0x6e) deleting = true;
      pendingKey = KEY_NONE;
      i++;
      while (i < n && DELIMITER[bytes[i] as number] === 0) i++;
    }
  }
  return {
    values: Math.max(0, containers + scalars + strings - keys),
    depth: maxDepth,
    uid: uidRange === undefined ? undefined : plainString(bytes, uidRange),
    operation: operationRange === undefined ? undefined : plainString(bytes, operationRange),
    deleting,
  };
}

function keyAt(bytes: Uint8Array, depth: number, start: number, end: number): number {
  for (const [id, name] of KEYS_AT_DEPTH[depth] ?? []) {
    if (end - start !== name.length) continue;
    let same = true;
    for (let k = 0; k < name.length; k++) {
      if (bytes[start + k] !== name[k]) {
        same = false;
        break;
      }
    }
    if (same) return id;
  }
  return KEY_NONE;
}

/** The string's text if it is short and has no escapes (a uid or an operation); else undefined. */
function plainString(bytes: Uint8Array, [start, end]: [number, number]): string | undefined {
  if (end - start > 256 || end <= start) return undefined;
  for (let k = start; k < end; k++) {
    const c = bytes[k] as number;
    if (c === BACKSLASH || c < 0x20 || c > 0x7e) return undefined;
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString("latin1");
}

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (ch) => ch.charCodeAt(0));
}

/** Values and depth of a decoded JSON value; `depth` stops counting past `maxDepth`. */
export interface DecodedShape {
  readonly values: number;
  /** The deepest nesting, or `maxDepth + 1` when deeper (the walk does not go further). */
  readonly depth: number;
}

/**
 * The same counts as {@link scanShape}, on a value JSON.parse already decoded: what the server
 * checks for small bodies, whose decoding is bounded by their size. One walk, recursive but
 * never deeper than `maxDepth + 1` frames, allocating nothing. (Scanning the raw bytes of every
 * body would cost more: a byte-by-byte state machine is measured at ~45 µs per 9 KiB review in
 * the running server, against ~15 µs in a loop on one input, where the branch predictor learns
 * it; docs/reliability.md.)
 *
 * With `dropPoisonedKeys`, the same walk also removes what Fastify's parser removes with
 * `onProtoPoisoning: "remove"` and `onConstructorPoisoning: "remove"` (secure-json-parse): an
 * own `__proto__` key, and a `constructor` key whose value is an object with an own
 * `prototype`. The server parses small bodies with plain JSON.parse and lets this walk, which
 * visits every key anyway, do it, instead of two regular-expression scans of the whole text
 * and, when one matches, a second walk. Removed subtrees are not counted. Only levels up to
 * `maxDepth` are visited: a deeper value is refused, never used.
 */
export function measureDecoded(
  value: unknown,
  maxDepth: number,
  options: { dropPoisonedKeys?: boolean } = {},
): DecodedShape {
  const scrub = options.dropPoisonedKeys === true;
  let values = 0;
  let deepest = 0;
  const walk = (node: unknown, depth: number): void => {
    values++;
    if (node === null || typeof node !== "object") return;
    const level = depth + 1;
    if (level > deepest) deepest = level;
    if (level > maxDepth) return;
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) walk(node[i], level);
    } else {
      const record = node as Record<string, unknown>;
      for (const key in record) {
        if (scrub && (key === "__proto__" || key === "constructor") && poisoned(record, key)) {
          delete record[key];
          continue;
        }
        walk(record[key], level);
      }
    }
  };
  walk(value, 0);
  return { values, depth: deepest };
}

const hasOwn = (object: object, key: string): boolean => Object.hasOwn(object, key);

/** secure-json-parse's test: an own `__proto__`, or a `constructor` object with an own `prototype`. */
function poisoned(record: Record<string, unknown>, key: "__proto__" | "constructor"): boolean {
  if (!hasOwn(record, key)) return false;
  if (key === "__proto__") return true;
  const value = record[key];
  return typeof value === "object" && value !== null && hasOwn(value, "prototype");
}

/** {@link BodyShape}'s review facts, read from a decoded value. */
export function reviewFacts(value: unknown): Pick<BodyShape, "uid" | "operation" | "deleting"> {
  const request = isRecord(value) ? value.request : undefined;
  if (!isRecord(request)) return { uid: undefined, operation: undefined, deleting: false };
  const object = request.object;
  const metadata = isRecord(object) ? object.metadata : undefined;
  const deletion = isRecord(metadata) ? metadata.deletionTimestamp : undefined;
  return {
    uid: plainText(request.uid),
    operation: plainText(request.operation),
    deleting: deletion !== undefined && deletion !== null,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Like plainString: short printable ASCII without quotes or backslashes, else undefined. */
function plainText(value: unknown): string | undefined {
  if (typeof value !== "string" || value.length === 0 || value.length > 256) return undefined;
  return /^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/.test(value) ? value : undefined;
}
