/**
 * The CRDs of the systems the webhook serves, installed once per run (docs/e2e-crds.md):
 * test/e2e/crds/*.yaml, the upstream CRDs at pinned commits with descriptions removed
 * (scripts/refresh-crds.ts), and test/e2e/crds/legacy/*.yaml, OpenChoreo's pre-v1.0 schema in
 * API group core.openchoreo.dev, beside the current one without colliding with it.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { ControlPlane } from "./controlplane.js";
import { REPO_ROOT } from "./paths.js";

/** test/e2e/crds (in the repository, also when the harness runs compiled). */
export const CRD_DIR = join(REPO_ROOT, "test", "e2e", "crds");
/** The older OpenChoreo schema (BuildPlane, `clientCA.secretRef`) in its own API group. */
export const LEGACY_CRD_DIR = join(CRD_DIR, "legacy");

/** The CRD files of `dirs` (not their subdirectories), sorted by name within each. */
export function crdFiles(dirs: readonly string[] = [CRD_DIR, LEGACY_CRD_DIR]): string[] {
  return dirs.flatMap((dir) =>
    readdirSync(dir)
      .filter((name) => name.endsWith(".yaml"))
      .sort()
      .map((name) => join(dir, name)),
  );
}

/**
 * Applies every CRD of `dirs` and waits until each one is `Established`. Server-side apply:
 * the upstream RootShard CRD alone is larger than the 256 KiB annotation that a client-side
 * apply would store.
 */
export async function installCrds(
  cp: ControlPlane,
  dirs: readonly string[] = [CRD_DIR, LEGACY_CRD_DIR],
): Promise<string[]> {
  // One kubectl call for all files: each kubectl start costs a discovery round trip.
  const files = crdFiles(dirs).flatMap((path) => ["-f", path]);
  const applied = await cp.kubectl(
    ["apply", "--server-side", "--field-manager=e2e-crds", ...files, "-o", "name"],
    { timeoutMs: 120_000 },
  );
  const names = applied.stdout.split("\n").filter((line) => line.trim() !== "");
  await cp.kubectl(["wait", "--for=condition=Established", "--timeout=60s", ...names]);
  return names;
}
