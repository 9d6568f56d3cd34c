/**
 * PEM text → blocks, in one linear pass (no backtracking regular expressions), so a hostile
 * multi-MiB value costs time proportional to its length.
 *
 * The grammar is Go's encoding/pem (what kube-apiserver, kcp and trust-manager read), made
 * strict in the places where Go silently skips a block: boundaries are whole lines
 * (`-----BEGIN LABEL-----`, `-----END LABEL-----`, surrounding whitespace and CR allowed), the
 * END label must equal the BEGIN label, and a BEGIN inside an open block ends that block
 * unterminated. RFC 7468 §2: https://www.rfc-editor.org/rfc/rfc7468#section-2
 */

/** One PEM block as found in the text. */
export interface PemBlock {
  /** 0-based position among the blocks of the text. */
  index: number;
  /** The label between `BEGIN ` and `-----` (e.g. `CERTIFICATE`); best effort when malformed. */
  type: string;
  /** Base64 body with all whitespace removed; header lines are not part of it. */
  body: string;
  /**
   * RFC 1421-style header lines (`Proc-Type: 4,ENCRYPTED`). Any body line with a `:` counts:
   * base64 never contains one.
   */
  headers: string[];
  /** Offset of `-----BEGIN` in the scanned text (UTF-16 code units). */
  start: number;
  /** Offset just past the END line (or the end of the block's last line if unterminated). */
  end: number;
  /** A well-formed END line with the same label closed the block. */
  terminated: boolean;
  /**
   * Why the boundaries are not well-formed, when `terminated` is false. `malformed-begin`:
   * the BEGIN line is not exactly `-----BEGIN LABEL-----` at the start of its line;
   * `malformed-end`: likewise for END (e.g. glued to base64 or to the next BEGIN).
   */
  problem?: "missing-end" | "malformed-begin" | "malformed-end" | "label-mismatch";
}

/** Where non-whitespace text sits outside blocks: before block `beforeBlock` (0-based). */
export interface OutsideText {
  /** Index of the block that follows the text; equals the block count when text is last. */
  beforeBlock: number;
  /** Offset of the text in the scanned string. */
  offset: number;
}

/** Result of {@link scanPem}. */
export interface PemScan {
  blocks: PemBlock[];
  /** One entry per gap (before the first block, between two blocks, after the last) with text. */
  outsideText: OutsideText[];
  /** An `-----END ... PRIVATE KEY-----` line outside any block (key material with a broken BEGIN). */
  strayPrivateKeyEnd: boolean;
  /** True when the scan stopped because the text holds more than `maxBlocks` blocks. */
  tooManyBlocks: boolean;
}

const BEGIN = "-----BEGIN";
const END = "-----END";
const DASHES = "-----";

/**
 * Splits `text` into PEM blocks. Never throws. Stops early (with `tooManyBlocks`) once more
 * than `maxBlocks` blocks have been seen, which bounds the work a caller does per block.
 */
export function scanPem(text: string, maxBlocks = Number.POSITIVE_INFINITY): PemScan {
  const blocks: PemBlock[] = [];
  const outsideText: OutsideText[] = [];
  let strayPrivateKeyEnd = false;
  let open: { block: PemBlock; bodyParts: string[] } | undefined;

  const noteOutside = (offset: number) => {
    // One entry per gap between blocks, however many lines of text it holds.
    if (outsideText.at(-1)?.beforeBlock !== blocks.length) {
      outsideText.push({ beforeBlock: blocks.length, offset });
    }
  };
  const close = (end: number, problem?: PemBlock["problem"]) => {
    if (open === undefined) return;
    const { block, bodyParts } = open;
    block.body = bodyParts.join("");
    block.end = end;
    if (problem === undefined && block.problem === undefined) block.terminated = true;
    else block.problem ??= problem;
    open = undefined;
  };

  let position = 0;
  while (position <= text.length) {
    const newline = text.indexOf("\n", position);
    const lineEnd = newline === -1 ? text.length : newline;
    const lineStart = position;
    position = lineEnd + 1;
    let { trimmed, offset } = trimLine(text, lineStart, lineEnd);
    // True when the text being looked at does not start its line (it follows an END).
    let midLine = false;

    if (open !== undefined) {
      const beginAt = trimmed.indexOf(BEGIN);
      const endAt = trimmed.indexOf(END);
      if (beginAt !== -1 && (endAt === -1 || beginAt < endAt)) {
        // A new BEGIN before this block's END: the open block never ends.
        close(lineStart, "missing-end");
      } else if (endAt !== -1) {
        const expected = `${END} ${open.block.type}${DASHES}`;
        let problem: PemBlock["problem"];
        let rest = "";
        if (endAt > 0) problem = "malformed-end";
        else if (trimmed.startsWith(expected) && trimmed.length > expected.length) {
          // `-----END X----------BEGIN X-----`: files concatenated without a final newline.
          // Go's decoder drops both blocks, so both are reported.
          problem = "malformed-end";
          rest = trimmed.slice(expected.length);
        } else if (open.block.problem === "malformed-begin") problem = "malformed-begin";
        else if (trimmed !== expected) {
          problem = isWellFormedEnd(trimmed) ? "label-mismatch" : "malformed-end";
        }
        close(
          rest.includes(BEGIN) ? offset + expected.length : lineEnd + (newline === -1 ? 0 : 1),
          problem,
        );
        if (!rest.includes(BEGIN)) {
          if (newline === -1) break;
          continue;
        }
        offset += expected.length;
        trimmed = rest;
        midLine = true;
      } else {
        if (trimmed.includes(":")) open.block.headers.push(trimmed);
        else if (trimmed.length > 0) open.bodyParts.push(stripInnerWhitespace(trimmed));
        if (newline === -1) break;
        continue;
      }
    }

    // Outside a block.
    const beginAt = trimmed.indexOf(BEGIN);
    if (beginAt !== -1) {
      if (blocks.length >= maxBlocks) {
        return { blocks, outsideText, strayPrivateKeyEnd, tooManyBlocks: true };
      }
      const boundary = trimmed.slice(beginAt);
      // Go's decoder only sees a BEGIN at the start of a line; elsewhere the block is lost.
      const wellFormed =
        beginAt === 0 &&
        !midLine &&
        boundary.startsWith(`${BEGIN} `) &&
        boundary.endsWith(DASHES) &&
        boundary.length >= BEGIN.length + 1 + DASHES.length;
      const block: PemBlock = {
        index: blocks.length,
        type: wellFormed
          ? boundary.slice(BEGIN.length + 1, boundary.length - DASHES.length)
          : bestEffortLabel(boundary),
        body: "",
        headers: [],
        start: offset + beginAt,
        end: lineEnd,
        terminated: false,
      };
      if (!wellFormed) block.problem = "malformed-begin";
      blocks.push(block);
      open = { block, bodyParts: [] };
    } else if (trimmed.length > 0) {
      if (trimmed.includes(END) && trimmed.toUpperCase().includes("PRIVATE KEY")) {
        strayPrivateKeyEnd = true;
      }
      noteOutside(offset);
    }
    if (newline === -1) break;
  }
  close(text.length, "missing-end");
  return { blocks, outsideText, strayPrivateKeyEnd, tooManyBlocks: false };
}

/** PEM whitespace: space, tab, CR, LF, VT, FF; a BOM counts too (editors prepend it). */
function isSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d) || code === 0xfeff;
}

function trimLine(text: string, start: number, end: number): { trimmed: string; offset: number } {
  let from = start;
  let to = end;
  while (from < to && isSpace(text.charCodeAt(from))) from++;
  while (to > from && isSpace(text.charCodeAt(to - 1))) to--;
  return { trimmed: text.slice(from, to), offset: from };
}

/** Go's pem decoder removes spaces and tabs inside body lines; so do we. */
function stripInnerWhitespace(line: string): string {
  let out = "";
  let runStart = 0;
  for (let i = 0; i < line.length; i++) {
    if (isSpace(line.charCodeAt(i))) {
      out += line.slice(runStart, i);
      runStart = i + 1;
    }
  }
  return runStart === 0 ? line : out + line.slice(runStart);
}

function isWellFormedEnd(line: string): boolean {
  return line.startsWith(`${END} `) && line.endsWith(DASHES) && line.length >= END.length + 6;
}

function bestEffortLabel(boundary: string): string {
  let from = BEGIN.length;
  let to = boundary.length;
  const trimmable = (c: number) => c === 0x2d || c === 0x20; // "-" or " "
  while (from < to && trimmable(boundary.charCodeAt(from))) from++;
  while (to > from && trimmable(boundary.charCodeAt(to - 1))) to--;
  return boundary.slice(from, to);
}

/**
 * Strict base64 (RFC 4648 §4, the alphabet PEM uses): `A–Z a–z 0–9 + /`, length a multiple of
 * 4, at most two `=` and only at the end. Node's decoder would silently skip bad characters.
 */
export function isStrictBase64(body: string): boolean {
  if (body.length % 4 !== 0) return false;
  let padding = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c === 0x3d) {
      padding++;
      continue;
    }
    if (padding > 0) return false; // data after "="
    const ok =
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x30 && c <= 0x39) ||
      c === 0x2b ||
      c === 0x2f;
    if (!ok) return false;
  }
  return padding <= 2;
}
