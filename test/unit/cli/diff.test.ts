import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { diffLines, unifiedDiff } from "../../../src/cli/diff.js";

/** Applies a unified diff to `text` (the hunks in order), as `patch` would. */
function applyUnified(text: string, diff: string): string {
  const lines = text === "" ? [] : text.replace(/\n$/, "").split("\n");
  const out: string[] = [];
  let at = 0;
  const body = diff.split("\n").slice(2);
  for (let i = 0; i < body.length; i++) {
    const header = /^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@$/.exec(body[i] as string);
    if (header === null) continue;
    const count = header[2] === undefined ? 1 : Number(header[2]);
    const start = count === 0 ? Number(header[1]) : Number(header[1]) - 1;
    out.push(...lines.slice(at, start));
    at = start;
    for (i++; i < body.length && !(body[i] as string).startsWith("@@"); i++) {
      const line = body[i] as string;
      if (line === "") continue;
      if (line[0] === " ") {
        out.push(line.slice(1));
        at++;
      } else if (line[0] === "-") at++;
      else if (line[0] === "+") out.push(line.slice(1));
    }
    i--;
  }
  out.push(...lines.slice(at));
  return out.length === 0 ? "" : `${out.join("\n")}\n`;
}

const lines = (...l: string[]) => `${l.join("\n")}\n`;

describe("unifiedDiff", () => {
  it("is empty for equal texts", () => {
    expect(unifiedDiff("a", "b", lines("x", "y"), lines("x", "y"))).toBe("");
  });

  it("writes the headers and one hunk with three lines of context", () => {
    const before = lines("1", "2", "3", "4", "5", "6", "7", "8");
    const after = lines("1", "2", "3", "4", "new", "5", "6", "7", "8");

    expect(unifiedDiff("a/f", "b/f", before, after)).toBe(
      lines("--- a/f", "+++ b/f", "@@ -2,6 +2,7 @@", " 2", " 3", " 4", "+new", " 5", " 6", " 7"),
    );
  });

  it("splits changes more than six lines apart into two hunks, and joins closer ones", () => {
    const base = Array.from({ length: 20 }, (_, i) => String(i));
    const far = [...base];
    far.splice(15, 0, "b");
    far.splice(2, 0, "a");
    const near = [...base];
    near.splice(8, 0, "b");
    near.splice(2, 0, "a");

    const count = (diff: string) => diff.split("\n").filter((l) => l.startsWith("@@")).length;
    expect(count(unifiedDiff("a", "b", lines(...base), lines(...far)))).toBe(2);
    expect(count(unifiedDiff("a", "b", lines(...base), lines(...near)))).toBe(1);
  });

  it("writes an insertion into an empty text as @@ -0,0 +1,n @@", () => {
    expect(unifiedDiff("a", "b", "", lines("x", "y"))).toBe(
      lines("--- a", "+++ b", "@@ -0,0 +1,2 @@", "+x", "+y"),
    );
  });

  it("produces a diff that patch applies, for any two texts", () => {
    const text = fc
      .array(fc.constantFrom("a", "b", "c", "d", "e"), { maxLength: 40 })
      .map((l) => (l.length === 0 ? "" : lines(...l)));
    fc.assert(
      fc.property(text, text, (before, after) => {
        const diff = unifiedDiff("a", "b", before, after);
        expect(diff === "" ? before : applyUnified(before, diff)).toBe(after);
      }),
      { numRuns: 500 },
    );
  });

  it("finds a shortest edit script", () => {
    const edits = diffLines(["a", "b", "c", "a", "b", "b", "a"], ["c", "b", "a", "b", "a", "c"]);

    expect(edits.filter((e) => e.kind !== "=")).toHaveLength(5);
  });
});
