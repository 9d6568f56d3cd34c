/**
 * `kubectl kustomize` of a throwaway overlay of deploy/: the shipped kustomizations with the
 * components a test (or the demo) wants, rendered by the kubectl built beside the apiserver.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import type { ControlPlane } from "./controlplane.js";
import { toYaml } from "./manifests.js";
import { REPO_ROOT } from "./paths.js";

/** The YAML of an overlay of `resources` and `components` (paths under deploy/). */
export async function kustomizeDeploy(
  cp: ControlPlane,
  resources: readonly string[],
  components: readonly string[],
): Promise<string> {
  const overlay = mkdtempSync(join(tmpdir(), "ca-trust-e2e-kustomize-"));
  try {
    // kustomize takes only relative paths to other kustomizations.
    const rel = (path: string) => relative(overlay, join(REPO_ROOT, "deploy", path));
    writeFileSync(
      join(overlay, "kustomization.yaml"),
      toYaml({
        apiVersion: "kustomize.config.k8s.io/v1beta1",
        kind: "Kustomization",
        resources: resources.map(rel),
        components: components.map(rel),
      }),
    );
    return (await cp.kubectl(["kustomize", overlay])).stdout;
  } finally {
    rmSync(overlay, { recursive: true, force: true });
  }
}
