/**
 * What a test file uses to reach the run's control plane (started by global-setup.ts).
 */
import { beforeEach, inject } from "vitest";
import {
  type ControlPlane,
  type ControlPlaneInfo,
  connectControlPlane,
} from "../../../scripts/harness/controlplane.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The shared control plane of this e2e run. */
    controlPlane: ControlPlaneInfo;
  }
}

/**
 * The shared control plane. Call at the top of a test file or `describe`: it also prints the
 * tail of the kube-apiserver log when a test fails.
 */
export function useControlPlane(): ControlPlane {
  const cp = connectControlPlane(inject("controlPlane"));
  beforeEach((context) => {
    context.onTestFailed(() => {
      process.stderr.write(
        `--- kube-apiserver log (tail) for "${context.task.name}" ---\n${cp.apiServerLogTail(30)}\n`,
      );
    });
  });
  return cp;
}
