/**
 * Every check with its versions, and which of them run for a level at a version — as
 * pod-security-admission's check registry: a check's version applies from its `since` minor
 * up to the next one's; at `restricted`, the baseline checks a restricted check overrides at
 * that version are left out; baseline IDs run first, then restricted IDs, each sorted
 * (the order of the apiserver's messages).
 */
import { HOST_CHECKS } from "./checks/host.js";
import { KERNEL_CHECKS } from "./checks/kernel.js";
import { PRIVILEGE_CHECKS } from "./checks/privileges.js";
import { SECCOMP_CHECKS } from "./checks/seccomp.js";
import { SECURITY_MODULE_CHECKS } from "./checks/security-modules.js";
import { USER_CHECKS } from "./checks/users.js";
import { VOLUME_CHECKS } from "./checks/volumes.js";
import { goSorted } from "./text.js";
import type { CheckDef, CheckId, PodSecurityLevel, VersionedCheck } from "./types.js";

const ALL: readonly CheckDef[] = [
  ...HOST_CHECKS,
  ...KERNEL_CHECKS,
  ...PRIVILEGE_CHECKS,
  ...SECCOMP_CHECKS,
  ...SECURITY_MODULE_CHECKS,
  ...USER_CHECKS,
  ...VOLUME_CHECKS,
];

function ordered(level: PodSecurityLevel): CheckDef[] {
  const ids = goSorted(ALL.filter((c) => c.level === level).map((c) => c.id));
  return ids.map((id) => ALL.find((c) => c.id === id) as CheckDef);
}

/** Every check, in the apiserver's order: baseline IDs sorted, then restricted IDs sorted. */
export const CHECKS: readonly CheckDef[] = [...ordered("baseline"), ...ordered("restricted")];

/** The newest minor version with a policy change: what `latest` means here. */
export const NEWEST_MINOR = Math.max(...CHECKS.flatMap((c) => c.versions.map((v) => v.since)));

/** A check as it runs at one version. */
export interface ResolvedCheck extends VersionedCheck {
  readonly id: CheckId;
}

const resolved = new Map<string, readonly ResolvedCheck[]>();

/** The checks that run for `level` at Kubernetes 1.`minor` (minor at most NEWEST_MINOR). */
export function checksFor(level: PodSecurityLevel, minor: number): readonly ResolvedCheck[] {
  const key = `${level}:${minor}`;
  const cached = resolved.get(key);
  if (cached !== undefined) return cached;
  const applicable: ResolvedCheck[] = [];
  for (const check of CHECKS) {
    if (level === "baseline" && check.level !== "baseline") continue;
    const version = check.versions.findLast((v) => v.since <= minor);
    if (version !== undefined) applicable.push({ id: check.id, ...version });
  }
  const overridden = new Set(applicable.flatMap((c) => c.overrides ?? []));
  const result = applicable.filter((c) => !overridden.has(c.id));
  resolved.set(key, result);
  return result;
}
