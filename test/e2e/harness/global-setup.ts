/**
 * vitest global setup of the `e2e` project: ONE control plane for the whole run (starting one
 * takes seconds on 2 cores), with the CRDs installed, handed to the test workers through
 * `provide("controlPlane", ...)` (read it with `useControlPlane()` from context.ts).
 *
 * Binaries: see binaries.ts (`CA_TRUST_WEBHOOK_K8S_BIN`, else `scripts/build-controlplane.sh`,
 * cached; a cold build streams its progress here and takes minutes).
 */
import type { TestProject } from "vitest/node";
import { resolveBinaries } from "../../../scripts/harness/binaries.js";
import { killTrackedGroups, reapOrphans } from "../../../scripts/harness/children.js";
import { startControlPlane } from "../../../scripts/harness/controlplane.js";
import { installCrds } from "../../../scripts/harness/crds.js";
import { serveControl } from "../../../scripts/harness/remote.js";

function log(message: string): void {
  process.stderr.write(`[e2e] ${message}\n`);
}

/** Starts the shared control plane; the returned function tears it down. */
export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = Date.now();
  for (const dir of reapOrphans()) log(`reaped what a killed earlier run left in ${dir}`);
  const binDir = await resolveBinaries();
  log(`binaries: ${binDir} (${Date.now() - t0} ms)`);
  const cp = await startControlPlane({ binDir, log });
  let control: Awaited<ReturnType<typeof serveControl>> | undefined;
  try {
    const t1 = Date.now();
    const crds = await installCrds(cp);
    log(`${crds.length} CRDs established in ${Date.now() - t1} ms`);
    control = await serveControl(cp);
  } catch (error) {
    await cp.stop();
    throw error;
  }
  project.provide("controlPlane", {
    ...cp.info(),
    control: { url: control.url, token: control.token },
  });
  log(`control plane started in ${cp.startupMs} ms; setup total ${Date.now() - t0} ms`);
  const started = Date.now();

  return async () => {
    const t2 = Date.now();
    killTrackedGroups(); // webhook servers a crashed worker could not stop
    await control?.close();
    await cp.stop();
    log(`tests ran ${t2 - started} ms; control plane stopped in ${Date.now() - t2} ms`);
  };
}
