import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { OPTIONS } from "../../src/config.js";

const README = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

describe("README configuration reference", () => {
  it.each(OPTIONS.map((o) => [o.fileOnly ? o.key : `--${o.flag}`, o] as const))(
    "documents %s with its file key",
    (_name, option) => {
      const row = README.split("\n").find(
        (line) => line.startsWith("|") && line.includes(`| \`${option.key}\` |`),
      );
      expect(row, `no row for ${option.key}`).toBeDefined();
      if (!option.fileOnly) expect(row).toContain(`\`--${option.flag}\``);
    },
  );
});
