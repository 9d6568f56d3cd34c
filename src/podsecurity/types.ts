/**
 * The types of the Pod Security Standards evaluator: levels, check IDs, a check with its
 * versions (as pod-security-admission's `policy.Check` / `VersionedCheck`), and results.
 */
export type Json = Record<string, unknown>;

/** A container, init and ephemeral ones included. */
export interface ContainerView {
  readonly name: string;
  readonly securityContext: Json | undefined;
  readonly raw: Json;
}

export interface PodView {
  readonly annotations: Json;
  readonly spec: Json;
  readonly securityContext: Json | undefined;
  /** Init containers, containers, then ephemeral containers (the policy's visiting order). */
  readonly containers: readonly ContainerView[];
}

/** The levels with checks (`privileged` has none). */
export type PodSecurityLevel = "baseline" | "restricted";

/**
 * A policy version as the namespace labels `pod-security.kubernetes.io/<mode>-version` write
 * it: `latest` or `v1.<minor>`.
 */
export type PodSecurityVersion = "latest" | `v1.${number}`;

/** What to evaluate a Pod against. */
export interface PodSecurityPolicy {
  readonly level: PodSecurityLevel;
  readonly version: PodSecurityVersion;
}

/** The check IDs of pod-security-admission (the same strings, so reports can be compared). */
export type CheckId =
  | "appArmorProfile"
  | "capabilities_baseline"
  | "hostNamespaces"
  | "hostPathVolumes"
  | "hostPorts"
  | "hostProbesAndHostLifecycle"
  | "privileged"
  | "procMount"
  | "seLinuxOptions"
  | "seccompProfile_baseline"
  | "sysctls"
  | "windowsHostProcess"
  | "allowPrivilegeEscalation"
  | "capabilities_restricted"
  | "procMount_restricted"
  | "restrictedVolumes"
  | "runAsNonRoot"
  | "runAsUser"
  | "seccompProfile_restricted";

/** One failed check. */
export interface PodSecurityViolation {
  readonly check: CheckId;
  /** The apiserver's short reason, e.g. `runAsNonRoot != true`. */
  readonly reason: string;
  /** The apiserver's detail, naming the containers / fields at fault. */
  readonly detail: string;
  /**
   * What is at fault, one string each (`container "app"`, `pod`, `volume "data"`, ...), to
   * tell violations that injection introduced from those that were already there.
   */
  readonly subjects: readonly string[];
}

export interface PodSecurityResult extends PodSecurityPolicy {
  readonly allowed: boolean;
  readonly violations: readonly PodSecurityViolation[];
}

/** A failed check before its ID is attached. */
export type Failure = Omit<PodSecurityViolation, "check">;

/** One version of a check: what it does from Kubernetes 1.`since` on. */
export interface VersionedCheck {
  readonly since: number;
  readonly run: (pod: PodView) => Failure | undefined;
  /** Baseline checks this restricted check replaces at the restricted level, from `since` on. */
  readonly overrides?: readonly CheckId[];
}

/** A check and its versions, oldest first (pod-security-admission's `policy.Check`). */
export interface CheckDef {
  readonly id: CheckId;
  readonly level: PodSecurityLevel;
  readonly versions: readonly VersionedCheck[];
}
