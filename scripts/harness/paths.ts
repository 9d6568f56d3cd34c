/**
 * Where the repository is, found from this file's location. The harness runs from its
 * TypeScript sources under vitest (scripts/harness) and compiled for `npm run demo` and the
 * benchmark (dist/scripts/harness): paths relative to `import.meta.url` would differ between the two,
 * so everything is resolved from the repository root instead.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package whose root is looked for. */
const PACKAGE_NAME = "ca-trust-webhook";

/** The nearest directory above `start` holding this project's package.json. */
export function findRepoRoot(start = dirname(fileURLToPath(import.meta.url))): string {
  let dir = start;
  for (;;) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest)) {
      try {
        const { name } = JSON.parse(readFileSync(manifest, "utf8")) as { name?: unknown };
        if (name === PACKAGE_NAME) return dir;
      } catch {
        // Not JSON: keep looking further up.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json of ${PACKAGE_NAME} above ${start}`);
    dir = parent;
  }
}

/** The repository root (holds package.json, examples/, scripts/, dist/). */
export const REPO_ROOT = findRepoRoot();

/** The example manifests (examples/README.md). */
export const EXAMPLES_DIR = join(REPO_ROOT, "examples");
