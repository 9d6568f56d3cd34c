/**
 * Restricted controls on the user a container runs as (pod-security-admission
 * `check_runAsNonRoot.go`, `check_runAsUser.go`). From 1.35 on both allow anything in a user
 * namespace (`hostUsers: false`, KEP-127); before, that relaxation sat behind the alpha feature
 * gate `UserNamespacesPodSecurityStandards` (off by default, so not applied here).
 */
import { outsideUserNamespace } from "../pod.js";
import { containerSubjects, containersPhrase } from "../text.js";
import type { CheckDef, Failure, PodView } from "../types.js";

function runAsNonRoot(pod: PodView): Failure | undefined {
  const badSetters: string[] = [];
  const subjects: string[] = [];
  let podNonRoot = false;
  const podValue = pod.securityContext?.runAsNonRoot;
  if (typeof podValue === "boolean") {
    if (!podValue) {
      badSetters.push("pod");
      subjects.push("pod");
    } else {
      podNonRoot = true;
    }
  }
  const explicit: string[] = [];
  const implicit: string[] = [];
  for (const c of pod.containers) {
    const value = c.securityContext?.runAsNonRoot;
    if (typeof value === "boolean") {
      if (!value) explicit.push(c.name);
    } else if (!podNonRoot) {
      implicit.push(c.name);
    }
  }
  if (explicit.length > 0) {
    badSetters.push(containersPhrase(explicit));
    subjects.push(...containerSubjects(explicit));
  }
  if (badSetters.length > 0) {
    return {
      reason: "runAsNonRoot != true",
      detail: `${badSetters.join(" and ")} must not set securityContext.runAsNonRoot=false`,
      subjects,
    };
  }
  if (implicit.length > 0) {
    return {
      reason: "runAsNonRoot != true",
      detail: `pod or ${containersPhrase(implicit)} must set securityContext.runAsNonRoot=true`,
      subjects: containerSubjects(implicit),
    };
  }
  return undefined;
}

function runAsUser(pod: PodView): Failure | undefined {
  const badSetters: string[] = [];
  const subjects: string[] = [];
  if (pod.securityContext?.runAsUser === 0) {
    badSetters.push("pod");
    subjects.push("pod");
  }
  const bad = pod.containers.filter((c) => c.securityContext?.runAsUser === 0).map((c) => c.name);
  if (bad.length > 0) {
    badSetters.push(containersPhrase(bad));
    subjects.push(...containerSubjects(bad));
  }
  if (badSetters.length === 0) return undefined;
  return {
    reason: "runAsUser=0",
    detail: `${badSetters.join(" and ")} must not set runAsUser=0`,
    subjects,
  };
}

export const USER_CHECKS: readonly CheckDef[] = [
  {
    id: "runAsNonRoot",
    level: "restricted",
    versions: [
      { since: 0, run: runAsNonRoot },
      { since: 35, run: outsideUserNamespace(runAsNonRoot) },
    ],
  },
  {
    id: "runAsUser",
    level: "restricted",
    versions: [
      { since: 23, run: runAsUser },
      { since: 35, run: outsideUserNamespace(runAsUser) },
    ],
  },
];
