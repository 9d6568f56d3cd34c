/**
 * The Pod as the checks read it: plain JSON (metadata and spec as on the wire, possibly
 * hostile: any field may have any type), read defensively once per evaluation. A field of the
 * wrong type counts as absent, as it could not have reached the apiserver's admission.
 */
import type { Failure, Json, PodView } from "./types.js";

export function obj(value: unknown): Json | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Json)
    : undefined;
}

export function list(value: unknown): Json[] {
  return Array.isArray(value) ? value.map((v) => obj(v) ?? {}) : [];
}

export function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** Set, in Go's sense of a non-nil pointer: present and not null. */
export function isSet(value: unknown): boolean {
  return value !== undefined && value !== null;
}

export function podView(metadata: unknown, spec: unknown): PodView {
  const podSpec = obj(spec) ?? {};
  return {
    annotations: obj(obj(metadata)?.annotations) ?? {},
    spec: podSpec,
    securityContext: obj(podSpec.securityContext),
    containers: [
      ...list(podSpec.initContainers),
      ...list(podSpec.containers),
      ...list(podSpec.ephemeralContainers),
    ].map((raw) => ({ name: str(raw.name), securityContext: obj(raw.securityContext), raw })),
  };
}

/** `spec.os.name: windows`: from 1.25 on, the Linux-only restricted checks skip such Pods. */
export function isWindows(pod: PodView): boolean {
  return str(obj(pod.spec.os)?.name) === "windows";
}

/**
 * The check, except for Pods in a user namespace (`hostUsers: false`, KEP-127), which some
 * checks allow from 1.35 on.
 */
export function outsideUserNamespace(run: (pod: PodView) => Failure | undefined) {
  return (pod: PodView): Failure | undefined =>
    pod.spec.hostUsers === false ? undefined : run(pod);
}

/**
 * From 1.25 on, the restricted checks of Linux-only fields skip Pods that declare
 * `os.name: windows` (the apiserver's validation refuses those fields on such Pods).
 */
export function exceptWindows(run: (pod: PodView) => Failure | undefined) {
  return (pod: PodView): Failure | undefined => (isWindows(pod) ? undefined : run(pod));
}
