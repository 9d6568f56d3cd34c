/**
 * The CRDs of the systems the webhook serves (test/e2e/crds/*.yaml: mirrors of the upstream
 * schemas, see seed-systems.md), installed once per run.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { ControlPlane } from "./controlplane.js";
import { REPO_ROOT } from "./paths.js";

/** test/e2e/crds (in the repository, also when the harness runs compiled). */
export const CRD_DIR = join(REPO_ROOT, "test", "e2e", "crds");

/** Applies every CRD in `dir` and waits until each one is `Established`. */
export async function installCrds(cp: ControlPlane, dir = CRD_DIR): Promise<string[]> {
  // One kubectl call for all files: each kubectl start costs a discovery round trip.
  const files = readdirSync(dir)
    .filter((name) => name.endsWith(".yaml"))
    .sort()
    .flatMap((name) => ["-f", join(dir, name)]);
  const applied = await cp.kubectl(["apply", ...files, "-o", "name"]);
  const names = applied.stdout.split("\n").filter((line) => line.trim() !== "");
  await cp.kubectl(["wait", "--for=condition=Established", "--timeout=60s", ...names]);
  return names;
}
