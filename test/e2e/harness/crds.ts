/**
 * The CRDs of the systems the webhook serves (test/e2e/crds/*.yaml: mirrors of the upstream
 * schemas, see seed-systems.md), installed once per run.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ControlPlane } from "./controlplane.js";

/** test/e2e/crds. */
export const CRD_DIR = fileURLToPath(new URL("../crds/", import.meta.url));

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
