/**
 * scripts/pin-base-images.sh, the release-time procedure that re-pins the base images and the
 * default init image by digest, against a fake `crane` (the registries are not reachable from
 * a test): it finds the pins where they are declared, reports stale ones with --check, and
 * rewrites a stale digest everywhere it appears. The real pins of this repository are read too.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULT_INJECTION_SETTINGS } from "../../src/inject/settings.js";

const ROOT = join(import.meta.dirname, "..", "..");
const SCRIPT = join(ROOT, "scripts", "pin-base-images.sh");
const digest = (c: string) => `sha256:${c.repeat(64)}`;

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A repository with two Dockerfile pins and an init image pin, and a fake crane. */
function fixture(current: Record<string, string>): { root: string; bin: string } {
  const root = mkdtempSync(join(tmpdir(), "ctw-pin-"));
  dirs.push(root);
  mkdirSync(join(root, "src", "inject"), { recursive: true });
  mkdirSync(join(root, "test", "golden"), { recursive: true });
  mkdirSync(join(root, "bin"));
  writeFileSync(
    join(root, "Dockerfile"),
    [
      `ARG BUILD_IMAGE=node:24-trixie-slim@${digest("a")}`,
      `ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian13:nonroot@${digest("b")}`,
      "FROM node AS build",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(root, "src", "inject", "settings.ts"),
    `  initContainer: {\n    image: "alpine:3.24@${digest("c")}",\n`,
  );
  writeFileSync(join(root, "README.md"), `default \`alpine:3.24@${digest("c")}\`\n`);
  writeFileSync(
    join(root, "test", "golden", "x.json"),
    `{"image": "alpine:3.24@${digest("c")}"}\n`,
  );
  // crane digest REF: the digest the fixture says the tag has now.
  const cases = Object.entries(current)
    .map(([ref, d]) => `  ${JSON.stringify(ref)}) echo ${d} ;;`)
    .join("\n");
  const crane = join(root, "bin", "crane");
  writeFileSync(
    crane,
    `#!/bin/bash\n[ "$1" = digest ] || exit 3\ncase "$2" in\n${cases}\n  *) echo "unknown $2" >&2; exit 1 ;;\nesac\n`,
  );
  chmodSync(crane, 0o755);
  return { root, bin: join(root, "bin") };
}

function run(args: string[], bin: string) {
  const result = spawnSync("bash", [SCRIPT, ...args], {
    env: { PATH: `${bin}:/usr/bin:/bin` },
    encoding: "utf8",
  });
  return { code: result.status, stderr: result.stderr };
}

describe("scripts/pin-base-images.sh", () => {
  const NOW = {
    "node:24-trixie-slim": digest("a"),
    "gcr.io/distroless/nodejs24-debian13:nonroot": digest("d"),
    "alpine:3.24": digest("e"),
  };

  it("--check names the stale pins, changes nothing and exits 1", () => {
    const { root, bin } = fixture(NOW);
    const before = readFileSync(join(root, "Dockerfile"), "utf8");
    const result = run(["--check", "--root", root], bin);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`node:24-trixie-slim: current (${digest("a")})`);
    expect(result.stderr).toContain(
      `gcr.io/distroless/nodejs24-debian13:nonroot: STALE, pinned ${digest("b")}, the tag is now ${digest("d")}`,
    );
    expect(result.stderr).toContain("alpine:3.24: STALE");
    expect(result.stderr).toContain("2 stale pin(s)");
    expect(readFileSync(join(root, "Dockerfile"), "utf8")).toBe(before);
  });

  it("rewrites every stale digest wherever the pin appears, then --check passes", () => {
    const { root, bin } = fixture(NOW);
    expect(run(["--root", root], bin).code).toBe(0);
    const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");
    expect(dockerfile).toContain(`node:24-trixie-slim@${digest("a")}`);
    expect(dockerfile).toContain(`nodejs24-debian13:nonroot@${digest("d")}`);
    for (const file of ["src/inject/settings.ts", "README.md", "test/golden/x.json"]) {
      const text = readFileSync(join(root, file), "utf8");
      expect(text, file).toContain(`alpine:3.24@${digest("e")}`);
      expect(text, file).not.toContain(digest("c"));
    }
    expect(run(["--check", "--root", root], bin).code).toBe(0);
  });

  it.each([
    ["no resolver on PATH", "/nonexistent", /needs crane .* or docker buildx/],
    ["a tag the registry does not know", "", /cannot resolve/],
  ])("%s: exit 2", (_name, path, message) => {
    const { root, bin } = fixture({ "node:24-trixie-slim": digest("a") });
    const result = run(["--check", "--root", root], path || bin);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it("finds this repository's pins: both Dockerfile images and the default init image", () => {
    const { bin } = fixture({});
    const result = run(["--check"], bin); // the fake crane knows none of them: exit 2 at the first
    expect(result.code).toBe(2);
    const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    expect(dockerfile).toMatch(/^ARG BUILD_IMAGE=node:24-[a-z-]+@sha256:[0-9a-f]{64}$/m);
    expect(dockerfile).toMatch(
      /^ARG RUNTIME_IMAGE=gcr\.io\/distroless\/nodejs24-debian\d+:nonroot@sha256:[0-9a-f]{64}$/m,
    );
    expect(DEFAULT_INJECTION_SETTINGS.initContainer.image).toMatch(
      /^alpine:3\.\d+@sha256:[0-9a-f]{64}$/,
    );
    expect(result.stderr).toMatch(/cannot resolve (node|gcr\.io|alpine)/);
  });
});
