/**
 * Baseline controls on the host's resources: host namespaces, host ports, probe and lifecycle
 * hosts, Windows HostProcess (pod-security-admission `check_hostNamespaces.go`,
 * `check_hostPorts.go`, `check_hostProbesAndhostLifecycle.go`, `check_windowsHostProcess.go`).
 */
import { list, obj, str } from "../pod.js";
import { containerSubjects, containersPhrase, joinQuote, pluralize, sortedSet } from "../text.js";
import type { CheckDef, Failure, PodView } from "../types.js";

function hostNamespaces(pod: PodView): Failure | undefined {
  const set = (["hostNetwork", "hostPID", "hostIPC"] as const).filter(
    (field) => pod.spec[field] === true,
  );
  if (set.length === 0) return undefined;
  return {
    reason: "host namespaces",
    detail: set.map((field) => `${field}=true`).join(", "),
    subjects: [...set],
  };
}

function hostPorts(pod: PodView): Failure | undefined {
  const bad: string[] = [];
  const ports: string[] = [];
  for (const c of pod.containers) {
    const used = list(c.raw.ports)
      .map((p) => p.hostPort)
      .filter((p) => typeof p === "number" && p !== 0)
      .map(String);
    if (used.length > 0) {
      bad.push(c.name);
      ports.push(...used);
    }
  }
  if (bad.length === 0) return undefined;
  const sorted = sortedSet(ports);
  return {
    reason: "hostPort",
    detail: `${containersPhrase(bad)} ${pluralize("uses", "use", bad.length)} ${pluralize("hostPort", "hostPorts", sorted.length)} ${sorted.join(", ")}`,
    subjects: containerSubjects(bad),
  };
}

/** The hosts an httpGet or tcpSocket handler (probe or lifecycle hook) names. */
function handlerHosts(handler: unknown): string[] {
  const h = obj(handler);
  if (h === undefined) return [];
  return [str(obj(h.httpGet)?.host), str(obj(h.tcpSocket)?.host)].filter((host) => host !== "");
}

function hostProbesAndHostLifecycle(pod: PodView): Failure | undefined {
  const bad = new Set<string>();
  const hosts = new Set<string>();
  for (const c of pod.containers) {
    const lifecycle = obj(c.raw.lifecycle);
    const found = [
      ...handlerHosts(c.raw.livenessProbe),
      ...handlerHosts(c.raw.readinessProbe),
      ...handlerHosts(c.raw.startupProbe),
      ...handlerHosts(lifecycle?.postStart),
      ...handlerHosts(lifecycle?.preStop),
    ];
    if (found.length > 0) {
      bad.add(c.name);
      for (const host of found) hosts.add(host);
    }
  }
  if (bad.size === 0) return undefined;
  const names = sortedSet(bad);
  const hostList = sortedSet(hosts);
  return {
    reason: "probe or lifecycle host",
    detail: `${containersPhrase(names)} ${pluralize("uses", "use", names.length)} ${pluralize("probe or lifecycle host", "probe or lifecycle hosts", hostList.length)} ${joinQuote(hostList)}`,
    subjects: containerSubjects(names),
  };
}

function windowsHostProcess(pod: PodView): Failure | undefined {
  const hostProcess = (sc: unknown) => obj(obj(sc)?.windowsOptions)?.hostProcess === true;
  const setters: string[] = [];
  const subjects: string[] = [];
  if (hostProcess(pod.securityContext)) {
    setters.push("pod");
    subjects.push("pod");
  }
  const bad = pod.containers.filter((c) => hostProcess(c.securityContext)).map((c) => c.name);
  if (bad.length > 0) {
    setters.push(containersPhrase(bad));
    subjects.push(...containerSubjects(bad));
  }
  if (setters.length === 0) return undefined;
  return {
    reason: "hostProcess",
    detail: `${setters.join(" and ")} must not set securityContext.windowsOptions.hostProcess=true`,
    subjects,
  };
}

export const HOST_CHECKS: readonly CheckDef[] = [
  { id: "hostNamespaces", level: "baseline", versions: [{ since: 0, run: hostNamespaces }] },
  { id: "hostPorts", level: "baseline", versions: [{ since: 0, run: hostPorts }] },
  {
    id: "hostProbesAndHostLifecycle",
    level: "baseline",
    versions: [{ since: 34, run: hostProbesAndHostLifecycle }],
  },
  {
    id: "windowsHostProcess",
    level: "baseline",
    versions: [{ since: 0, run: windowsHostProcess }],
  },
];
