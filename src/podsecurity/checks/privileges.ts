/**
 * Privilege controls: privileged containers, privilege escalation, capabilities
 * (pod-security-admission `check_privileged.go`, `check_allowPrivilegeEscalation.go`,
 * `check_capabilities_baseline.go`, `check_capabilities_restricted.go`).
 */
import { exceptWindows, obj, str } from "../pod.js";
import { containerSubjects, containersPhrase, joinQuote, sortedSet } from "../text.js";
import type { CheckDef, Failure, PodView } from "../types.js";

function privileged(pod: PodView): Failure | undefined {
  const bad = pod.containers
    .filter((c) => c.securityContext?.privileged === true)
    .map((c) => c.name);
  if (bad.length === 0) return undefined;
  return {
    reason: "privileged",
    detail: `${containersPhrase(bad)} must not set securityContext.privileged=true`,
    subjects: containerSubjects(bad),
  };
}

function allowPrivilegeEscalation(pod: PodView): Failure | undefined {
  const bad = pod.containers
    .filter((c) => c.securityContext?.allowPrivilegeEscalation !== false)
    .map((c) => c.name);
  if (bad.length === 0) return undefined;
  return {
    reason: "allowPrivilegeEscalation != false",
    detail: `${containersPhrase(bad)} must set securityContext.allowPrivilegeEscalation=false`,
    subjects: containerSubjects(bad),
  };
}

const DEFAULT_CAPABILITIES = new Set([
  "AUDIT_WRITE",
  "CHOWN",
  "DAC_OVERRIDE",
  "FOWNER",
  "FSETID",
  "KILL",
  "MKNOD",
  "NET_BIND_SERVICE",
  "SETFCAP",
  "SETGID",
  "SETPCAP",
  "SETUID",
  "SYS_CHROOT",
]);

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.map(str) : [];
}

function capabilitiesBaseline(pod: PodView): Failure | undefined {
  const bad: string[] = [];
  const caps: string[] = [];
  for (const c of pod.containers) {
    const forbidden = strings(obj(c.securityContext?.capabilities)?.add).filter(
      (cap) => !DEFAULT_CAPABILITIES.has(cap),
    );
    if (forbidden.length > 0) {
      bad.push(c.name);
      caps.push(...forbidden);
    }
  }
  if (bad.length === 0) return undefined;
  return {
    reason: "non-default capabilities",
    detail: `${containersPhrase(bad)} must not include ${joinQuote(sortedSet(caps))} in securityContext.capabilities.add`,
    subjects: containerSubjects(bad),
  };
}

function capabilitiesRestricted(pod: PodView): Failure | undefined {
  const missingDrop: string[] = [];
  const adding: string[] = [];
  const caps: string[] = [];
  for (const c of pod.containers) {
    const capabilities = obj(c.securityContext?.capabilities);
    if (capabilities === undefined) {
      missingDrop.push(c.name);
      continue;
    }
    if (!strings(capabilities.drop).includes("ALL")) missingDrop.push(c.name);
    const forbidden = strings(capabilities.add).filter((cap) => cap !== "NET_BIND_SERVICE");
    if (forbidden.length > 0) {
      adding.push(c.name);
      caps.push(...forbidden);
    }
  }
  const details: string[] = [];
  if (missingDrop.length > 0) {
    details.push(
      `${containersPhrase(missingDrop)} must set securityContext.capabilities.drop=["ALL"]`,
    );
  }
  if (adding.length > 0) {
    details.push(
      `${containersPhrase(adding)} must not include ${joinQuote(sortedSet(caps))} in securityContext.capabilities.add`,
    );
  }
  if (details.length === 0) return undefined;
  return {
    reason: "unrestricted capabilities",
    detail: details.join("; "),
    subjects: containerSubjects(sortedSet([...missingDrop, ...adding])),
  };
}

export const PRIVILEGE_CHECKS: readonly CheckDef[] = [
  { id: "privileged", level: "baseline", versions: [{ since: 0, run: privileged }] },
  {
    id: "allowPrivilegeEscalation",
    level: "restricted",
    versions: [
      // The field exists since 1.8.
      { since: 8, run: allowPrivilegeEscalation },
      { since: 25, run: exceptWindows(allowPrivilegeEscalation) },
    ],
  },
  {
    id: "capabilities_baseline",
    level: "baseline",
    versions: [{ since: 0, run: capabilitiesBaseline }],
  },
  {
    id: "capabilities_restricted",
    level: "restricted",
    versions: [
      { since: 22, run: capabilitiesRestricted, overrides: ["capabilities_baseline"] },
      {
        since: 25,
        run: exceptWindows(capabilitiesRestricted),
        overrides: ["capabilities_baseline"],
      },
    ],
  },
];
