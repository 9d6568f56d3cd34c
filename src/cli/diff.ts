/**
 * A line-based unified diff (the `diff -u` / `git diff` format) for `inject --diff`: Myers'
 * O(ND) algorithm ("An O(ND) Difference Algorithm and Its Variations", 1986) after trimming the
 * common head and tail, which for an injection (lines added in a few places) leaves little to
 * compare. Small on purpose: a dependency for this would be heavier than the code.
 */

type Edit = { readonly kind: "=" | "-" | "+"; readonly line: string };

/**
 * Beyond this many saved frontier cells (4 bytes each) the diff gives up on alignment and
 * replaces everything: memory stays bounded for texts that have little in common.
 */
const MAX_TRACE_CELLS = 16_000_000;

/** The lines of a text, without the final newline's empty line. */
function linesOf(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** The shortest edit script from `a` to `b`. */
export function diffLines(a: readonly string[], b: readonly string[]): Edit[] {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  ) {
    tail++;
  }
  const middle = myers(a.slice(head, a.length - tail), b.slice(head, b.length - tail));
  return [
    ...a.slice(0, head).map((line) => ({ kind: "=" as const, line })),
    ...middle,
    ...a.slice(a.length - tail).map((line) => ({ kind: "=" as const, line })),
  ];
}

function myers(a: readonly string[], b: readonly string[]): Edit[] {
  const n = a.length;
  const m = b.length;
  const max = n + m;
  if (max === 0) return [];
  const offset = max + 1;
  let v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  let found = -1;
  for (let d = 0; d <= max && (d + 1) * v.length <= MAX_TRACE_CELLS; d++) {
    trace.push(v.slice());
    const next = v.slice();
    for (let k = -d; k <= d; k += 2) {
      let x: number;
      if (k === -d || (k !== d && (v[offset + k - 1] as number) < (v[offset + k + 1] as number))) {
        x = v[offset + k + 1] as number;
      } else {
        x = (v[offset + k - 1] as number) + 1;
      }
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      next[offset + k] = x;
      if (x >= n && y >= m) {
        found = d;
        break;
      }
    }
    v = next;
    if (found >= 0) break;
  }
  if (found < 0) {
    return [
      ...a.map((line) => ({ kind: "-" as const, line })),
      ...b.map((line) => ({ kind: "+" as const, line })),
    ];
  }
  // Walk back through the saved frontiers.
  const edits: Edit[] = [];
  let x = n;
  let y = m;
  for (let d = found; d > 0; d--) {
    const frontier = trace[d] as Int32Array;
    const k = x - y;
    const down =
      k === -d ||
      (k !== d && (frontier[offset + k - 1] as number) < (frontier[offset + k + 1] as number));
    const prevK = down ? k + 1 : k - 1;
    const prevX = frontier[offset + prevK] as number;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      edits.push({ kind: "=", line: a[x - 1] as string });
      x--;
      y--;
    }
    if (down) edits.push({ kind: "+", line: b[prevY] as string });
    else edits.push({ kind: "-", line: a[prevX] as string });
    x = prevX;
    y = prevY;
  }
  while (x > 0 && y > 0) {
    edits.push({ kind: "=", line: a[x - 1] as string });
    x--;
    y--;
  }
  return edits.reverse();
}

/**
 * A unified diff of two texts with `context` lines around each change; the empty string when
 * they are equal. Both texts are taken to end with a newline.
 */
export function unifiedDiff(
  oldName: string,
  newName: string,
  oldText: string,
  newText: string,
  context = 3,
): string {
  const edits = diffLines(linesOf(oldText), linesOf(newText));
  if (edits.every((e) => e.kind === "=")) return "";
  const out = [`--- ${oldName}`, `+++ ${newName}`];
  // Positions (0-based) of each edit in the old and new texts.
  const oldAt: number[] = [];
  const newAt: number[] = [];
  let o = 0;
  let w = 0;
  for (const e of edits) {
    oldAt.push(o);
    newAt.push(w);
    if (e.kind !== "+") o++;
    if (e.kind !== "-") w++;
  }
  let i = 0;
  while (i < edits.length) {
    if ((edits[i] as Edit).kind === "=") {
      i++;
      continue;
    }
    // A hunk: from `context` lines before this change to `context` lines after the last change
    // that is at most 2 * context equal lines away.
    const start = Math.max(0, i - context);
    let end = i;
    let last = i;
    while (end < edits.length) {
      if ((edits[end] as Edit).kind !== "=") last = end;
      else if (end - last > 2 * context) break;
      end++;
    }
    end = Math.min(edits.length, last + context + 1);
    const hunk = edits.slice(start, end);
    const oldCount = hunk.filter((e) => e.kind !== "+").length;
    const newCount = hunk.filter((e) => e.kind !== "-").length;
    const oldStart = oldCount === 0 ? (oldAt[start] as number) : (oldAt[start] as number) + 1;
    const newStart = newCount === 0 ? (newAt[start] as number) : (newAt[start] as number) + 1;
    out.push(`@@ -${range(oldStart, oldCount)} +${range(newStart, newCount)} @@`);
    for (const e of hunk) out.push(`${e.kind === "=" ? " " : e.kind}${e.line}`);
    i = end;
  }
  return `${out.join("\n")}\n`;
}

/** `start,count`, or just `start` for one line (as diff -u writes it). */
function range(start: number, count: number): string {
  return count === 1 ? String(start) : `${start},${count}`;
}
