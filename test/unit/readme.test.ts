import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { serveHelp } from "../../src/config.js";

const README = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

/** Each option as `serve --help` prints it: flag (or "(file)"), file key, default. */
function helpOptions(): { name: string; key: string; default: string | undefined }[] {
  return serveHelp(10_000)
    .split("\n")
    .flatMap((line) => {
      const m =
        /^ {2}(--[a-z0-9-]+|\(file\)) .*\[(?:default: ([^;]*); )?.*file key ([\w.]+)\]$/.exec(line);
      return m === null ? [] : [{ name: m[1] as string, key: m[3] as string, default: m[2] }];
    });
}

/** The configuration reference table: flag (or "(file)"), file key, default cell. */
function readmeRows(): { name: string; key: string; default: string }[] {
  const section = README.slice(README.indexOf("## Configuration reference"));
  return section.split("\n").flatMap((line) => {
    const m = /^\| (`--[a-z0-9-]+`|\(file\)) \| `([\w.]+)` \| ([^|]*) \|/.exec(line);
    return m === null
      ? []
      : [
          {
            name: (m[1] as string).replace(/`/g, ""),
            key: m[2] as string,
            default: (m[3] as string).trim(),
          },
        ];
  });
}

describe("README configuration reference, checked against serve --help", () => {
  const options = helpOptions();
  const rows = readmeRows();

  it("finds the options in --help and the rows in the README", () => {
    expect(options.length).toBeGreaterThan(50);
    expect(rows.length).toBeGreaterThan(50);
  });

  it("has one row per option of --help, with its flag and file key", () => {
    expect(rows.map((r) => `${r.name} ${r.key}`).sort()).toEqual(
      options.map((o) => `${o.name} ${o.key}`).sort(),
    );
  });

  it.each(options.filter((o) => o.default !== undefined).map((o) => [o.key, o] as const))(
    "shows the default of %s as --help does",
    (_key, option) => {
      const row = rows.find((r) => r.key === option.key);
      const shown = /^`([^`]*)`$/.exec(row?.default ?? "")?.[1];
      expect(shown, `the README default of ${option.key} is not a code span`).toBeDefined();
      // A long default (the pinned image) may be shortened with an ellipsis.
      if (shown?.endsWith("…")) expect(option.default).toContain(shown.slice(0, -1));
      else expect(shown).toBe(option.default);
    },
  );
});
