/**
 * Kernel interfaces: the /proc mount type and sysctls (pod-security-admission
 * `check_procMount*.go`, `check_sysctls.go`).
 */
import { list, outsideUserNamespace, str } from "../pod.js";
import { containerSubjects, containersPhrase, joinQuote, sortedSet } from "../text.js";
import type { CheckDef, Failure, PodView } from "../types.js";

/** Unmasked /proc is refused: any procMount other than `Default`. */
function procMount(pod: PodView): Failure | undefined {
  const bad: string[] = [];
  const types: string[] = [];
  for (const c of pod.containers) {
    const value = c.securityContext?.procMount;
    if (value === undefined || value === null || value === "Default") continue;
    bad.push(c.name);
    types.push(str(value));
  }
  if (bad.length === 0) return undefined;
  return {
    reason: "procMount",
    detail: `${containersPhrase(bad)} must not set securityContext.procMount to ${joinQuote(sortedSet(types))}`,
    subjects: containerSubjects(bad),
  };
}

/** The sysctls baseline allows, per the version that allowed them. */
const SAFE_SYSCTLS_SINCE: readonly (readonly [number, readonly string[]])[] = [
  [
    0,
    [
      "kernel.shm_rmid_forced",
      "net.ipv4.ip_local_port_range",
      "net.ipv4.tcp_syncookies",
      "net.ipv4.ping_group_range",
      "net.ipv4.ip_unprivileged_port_start",
    ],
  ],
  [27, ["net.ipv4.ip_local_reserved_ports"]],
  [
    29,
    [
      "net.ipv4.tcp_keepalive_time",
      "net.ipv4.tcp_fin_timeout",
      "net.ipv4.tcp_keepalive_intvl",
      "net.ipv4.tcp_keepalive_probes",
    ],
  ],
  [32, ["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"]],
  [37, ["net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"]],
];

function sysctlsAllowedSince(minor: number) {
  const allowed = new Set(
    SAFE_SYSCTLS_SINCE.filter(([since]) => since <= minor).flatMap(([, names]) => names),
  );
  return (pod: PodView): Failure | undefined => {
    const forbidden = list(pod.securityContext?.sysctls)
      .map((s) => str(s.name))
      .filter((name) => !allowed.has(name));
    if (forbidden.length === 0) return undefined;
    return {
      reason: "forbidden sysctls",
      detail: forbidden.join(", "),
      subjects: forbidden.map((name) => `sysctl ${name}`),
    };
  };
}

export const KERNEL_CHECKS: readonly CheckDef[] = [
  {
    id: "procMount",
    level: "baseline",
    versions: [
      { since: 0, run: procMount },
      { since: 35, run: outsideUserNamespace(procMount) },
    ],
  },
  {
    // From 1.35, when baseline relaxed procMount for user namespaces, restricted keeps the
    // unconditional check under its own ID.
    id: "procMount_restricted",
    level: "restricted",
    versions: [{ since: 35, run: procMount, overrides: ["procMount"] }],
  },
  {
    id: "sysctls",
    level: "baseline",
    versions: SAFE_SYSCTLS_SINCE.map(([since]) => ({ since, run: sysctlsAllowedSince(since) })),
  },
];
