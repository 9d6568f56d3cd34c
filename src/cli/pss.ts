/**
 * The Kubernetes Pod Security Standards, `baseline` and `restricted` at version `latest`, as
 * the kube-apiserver's PodSecurity admission evaluates them (k8s.io/pod-security-admission,
 * package `policy`, one `check_*.go` per check; the standard itself:
 * https://kubernetes.io/docs/concepts/security/pod-security-standards/). Written from that
 * package's check list: same check IDs, same order (baseline IDs sorted, then restricted IDs
 * sorted), same reasons and detail texts, so a violation reads as the apiserver's
 * `violates PodSecurity "restricted:latest": <reason> (<detail>), ...`.
 *
 * `latest` follows pod-security-admission as of Kubernetes 1.37: probe/lifecycle `host`
 * (1.34), the user-namespace (`hostUsers: false`) relaxations of runAsNonRoot, runAsUser and
 * baseline procMount (1.35), the sysctls allowed up to 1.37. An older apiserver's `latest`
 * differs in exactly those points (the e2e control plane, 1.33, agrees on everything else).
 *
 * Pure: plain JSON in (a Pod's metadata and spec, as on the wire), results out.
 */

/** The levels with checks (`privileged` has none). */
export type PodSecurityLevel = "baseline" | "restricted";

/** The check IDs of pod-security-admission. */
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
export interface PssViolation {
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

export interface PssResult {
  readonly level: PodSecurityLevel;
  readonly allowed: boolean;
  readonly violations: readonly PssViolation[];
}

type Json = Record<string, unknown>;

/** A container as the checks read it: its name and fields, init and ephemeral ones included. */
interface ContainerView {
  readonly name: string;
  readonly sc: Json | undefined;
  readonly raw: Json;
}

type CheckFn = (meta: Json, spec: Json) => Omit<PssViolation, "check"> | undefined;

interface CheckDef {
  readonly id: CheckId;
  readonly level: PodSecurityLevel;
  /** Baseline checks this restricted check replaces at the restricted level. */
  readonly overrides?: readonly CheckId[];
  readonly run: CheckFn;
}

// ---- helpers --------------------------------------------------------------------------------

function obj(value: unknown): Json | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Json)
    : undefined;
}

function list(value: unknown): Json[] {
  return Array.isArray(value) ? value.map((v) => obj(v) ?? {}) : [];
}

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** Init containers, containers, then ephemeral containers (the policy's visiting order). */
function containers(spec: Json): ContainerView[] {
  return [
    ...list(spec.initContainers),
    ...list(spec.containers),
    ...list(spec.ephemeralContainers),
  ].map((raw) => ({ name: str(raw.name), sc: obj(raw.securityContext), raw }));
}

function podSc(spec: Json): Json | undefined {
  return obj(spec.securityContext);
}

function pluralize(singular: string, plural: string, count: number): string {
  return count === 1 ? singular : plural;
}

/** `"a", "b"` (Go's joinQuote). */
function joinQuote(items: readonly string[]): string {
  return items.length === 0 ? "" : `"${items.join('", "')}"`;
}

/** Sorted unique strings (Go's `sets.List`, byte order). */
function sortedSet(items: Iterable<string>): string[] {
  return [...new Set(items)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function containerSubjects(names: readonly string[]): string[] {
  return names.map((n) => `container "${n}"`);
}

/** `container "a"` / `containers "a", "b"`. */
function containersPhrase(names: readonly string[]): string {
  return `${pluralize("container", "containers", names.length)} ${joinQuote(names)}`;
}

/** A Pod in a user namespace: some restricted checks are relaxed (KEP-127, 1.35+). */
function inUserNamespace(spec: Json): boolean {
  return spec.hostUsers === false;
}

function isWindows(spec: Json): boolean {
  return str(obj(spec.os)?.name) === "windows";
}

// ---- baseline -------------------------------------------------------------------------------

const APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/";

function appArmorProfile(meta: Json, spec: Json): ReturnType<CheckFn> {
  const allowedType = (t: string) => t === "RuntimeDefault" || t === "Localhost";
  const badSetters: string[] = [];
  const badValues: string[] = [];
  const subjects: string[] = [];
  const podProfile = obj(podSc(spec)?.appArmorProfile);
  if (podProfile !== undefined && !allowedType(str(podProfile.type))) {
    badSetters.push("pod");
    subjects.push("pod");
    badValues.push(str(podProfile.type));
  }
  const bad: string[] = [];
  for (const c of containers(spec)) {
    const profile = obj(c.sc?.appArmorProfile);
    if (profile !== undefined && !allowedType(str(profile.type))) {
      bad.push(c.name);
      badValues.push(str(profile.type));
    }
  }
  if (bad.length > 0) {
    badSetters.push(containersPhrase(bad));
    subjects.push(...containerSubjects(bad));
  }
  const annotations: string[] = [];
  for (const [key, value] of Object.entries(obj(meta.annotations) ?? {})) {
    const v = str(value);
    if (
      key.startsWith(APPARMOR_ANNOTATION_PREFIX) &&
      !(v === "" || v === "runtime/default" || v.startsWith("localhost/"))
    ) {
      annotations.push(`${key}=${JSON.stringify(v)}`);
      subjects.push(`annotation ${key}`);
    }
  }
  const valueList = [...sortedSet(badValues), ...annotations.sort()];
  if (annotations.length > 0) {
    badSetters.push(pluralize("annotation", "annotations", annotations.length));
  }
  if (badSetters.length === 0) return undefined;
  return {
    reason: pluralize(
      "forbidden AppArmor profile",
      "forbidden AppArmor profiles",
      valueList.length,
    ),
    detail: `${badSetters.join(" and ")} must not set AppArmor profile type to ${joinQuote(valueList)}`,
    subjects,
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

function capabilitiesBaseline(_meta: Json, spec: Json): ReturnType<CheckFn> {
  const bad: string[] = [];
  const caps: string[] = [];
  for (const c of containers(spec)) {
    const added = (obj(c.sc?.capabilities)?.add as unknown[] | undefined) ?? [];
    const forbidden = (Array.isArray(added) ? added : [])
      .map(str)
      .filter((cap) => !DEFAULT_CAPABILITIES.has(cap));
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

function hostNamespaces(_meta: Json, spec: Json): ReturnType<CheckFn> {
  const set = (["hostNetwork", "hostPID", "hostIPC"] as const).filter((f) => spec[f] === true);
  if (set.length === 0) return undefined;
  return {
    reason: "host namespaces",
    detail: set.map((f) => `${f}=true`).join(", "),
    subjects: [...set],
  };
}

function hostPathVolumes(_meta: Json, spec: Json): ReturnType<CheckFn> {
  const bad = list(spec.volumes)
    .filter((v) => v.hostPath !== undefined && v.hostPath !== null)
    .map((v) => str(v.name));
  if (bad.length === 0) return undefined;
  return {
    reason: "hostPath volumes",
    detail: `${pluralize("volume", "volumes", bad.length)} ${joinQuote(bad)}`,
    subjects: bad.map((n) => `volume "${n}"`),
  };
}

function hostPorts(_meta: Json, spec: Json): ReturnType<CheckFn> {
  const bad: string[] = [];
  const ports: string[] = [];
  for (const c of containers(spec)) {
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

function hostProbesAndHostLifecycle(_meta: Json, spec: Json): ReturnType<CheckFn> {
  const bad = new Set<string>();
  const hosts = new Set<string>();
  const handlerHosts = (handler: unknown): string[] => {
    const h = obj(handler);
    if (h === undefined) return [];
    return [str(obj(h.httpGet)?.host), str(obj(h.tcpSocket)?.host)].filter((x) => x !== "");
  };
  for (const c of containers(spec)) {
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
      for (const h of found) hosts.add(h);
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

function privileged(_meta: Json, spec: Json): ReturnType<CheckFn> {
  const bad = containers(spec)
    .filter((c) => c.sc?.privileged === true)
    .map((c) => c.name);
  if (bad.length === 0) return undefined;
  return {
    reason: "privileged",
    detail: `${containersPhrase(bad)} must not set securityContext.privileged=true`,
    subjects: containerSubjects(bad),
  };
}

/** Unmasked /proc is refused (any procMount other than `Default`). */
function procMountStrict(_meta: Json, spec: Json): ReturnType<CheckFn> {
  const bad: string[] = [];
  const types: string[] = [];
  for (const c of containers(spec)) {
    const value = c.sc?.procMount;
    if (value === undefined || value === null) continue;
    if (value !== "Default") {
      bad.push(c.name);
      types.push(str(value));
    }
  }
  if (bad.length === 0) return undefined;
  return {
    reason: "procMount",
    detail: `${containersPhrase(bad)} must not set securityContext.procMount to ${joinQuote(sortedSet(types))}`,
    subjects: containerSubjects(bad),
  };
}

function procMountBaseline(meta: Json, spec: Json): ReturnType<CheckFn> {
  return inUserNamespace(spec) ? undefined : procMountStrict(meta, spec);
}

const SELINUX_TYPES = new Set([
  "",
  "container_t",
  "container_init_t",
  "container_kvm_t",
  "container_engine_t",
]);

function seLinuxOptions(_meta: Json, spec: Json): ReturnType<CheckFn> {
  const badTypes: string[] = [];
  let setUser = false;
  let setRole = false;
  const valid = (options: Json): boolean => {
    let ok = true;
    if (!SELINUX_TYPES.has(str(options.type))) {
      ok = false;
      badTypes.push(str(options.type));
    }
    if (str(options.user) !== "") {
      ok = false;
      setUser = true;
    }
    if (str(options.role) !== "") {
      ok = false;
      setRole = true;
    }
    return ok;
  };
  const badSetters: string[] = [];
  const subjects: string[] = [];
  const podOptions = obj(podSc(spec)?.seLinuxOptions);
  if (podOptions !== undefined && !valid(podOptions)) {
    badSetters.push("pod");
    subjects.push("pod");
  }
  const bad: string[] = [];
  for (const c of containers(spec)) {
    const options = obj(c.sc?.seLinuxOptions);
    if (options !== undefined && !valid(options)) bad.push(c.name);
  }
  if (bad.length > 0) {
    badSetters.push(containersPhrase(bad));
    subjects.push(...containerSubjects(bad));
  }
  if (badSetters.length === 0) return undefined;
  const data: string[] = [];
  const types = sortedSet(badTypes);
  if (types.length > 0)
    data.push(`${pluralize("type", "types", types.length)} ${joinQuote(types)}`);
  if (setUser) data.push("user may not be set");
  if (setRole) data.push("role may not be set");
  return {
    reason: "seLinuxOptions",
    detail: `${badSetters.join(" and ")} set forbidden securityContext.seLinuxOptions: ${data.join("; ")}`,
    subjects,
  };
}

function validSeccomp(type: string): boolean {
  return type === "RuntimeDefault" || type === "Localhost";
}

/**
 * The seccomp check of both levels: an explicit profile other than RuntimeDefault / Localhost
 * fails; at `restricted` every container must also get one (its own or the Pod's).
 */
function seccomp(spec: Json, required: boolean): ReturnType<CheckFn> {
  const badSetters: string[] = [];
  const badValues: string[] = [];
  const subjects: string[] = [];
  let podSet = false;
  const podProfile = obj(podSc(spec)?.seccompProfile);
  if (podProfile !== undefined) {
    if (!validSeccomp(str(podProfile.type))) {
      badSetters.push("pod");
      subjects.push("pod");
      badValues.push(str(podProfile.type));
    } else {
      podSet = true;
    }
  }
  const explicit: string[] = [];
  const implicit: string[] = [];
  for (const c of containers(spec)) {
    const profile = obj(c.sc?.seccompProfile);
    if (profile !== undefined) {
      if (!validSeccomp(str(profile.type))) {
        explicit.push(c.name);
        badValues.push(str(profile.type));
      }
    } else if (!podSet) {
      implicit.push(c.name);
    }
  }
  if (explicit.length > 0) {
    badSetters.push(containersPhrase(explicit));
    subjects.push(...containerSubjects(explicit));
  }
  if (badSetters.length > 0) {
    return {
      reason: "seccompProfile",
      detail: `${badSetters.join(" and ")} must not set securityContext.seccompProfile.type to ${joinQuote(sortedSet(badValues))}`,
      subjects,
    };
  }
  if (required && implicit.length > 0) {
    return {
      reason: "seccompProfile",
      detail: `pod or ${containersPhrase(implicit)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"`,
      subjects: containerSubjects(implicit),
    };
  }
  return undefined;
}

const SAFE_SYSCTLS = new Set([
  "kernel.shm_rmid_forced",
  "net.ipv4.ip_local_port_range",
  "net.ipv4.tcp_syncookies",
  "net.ipv4.ping_group_range",
  "net.ipv4.ip_unprivileged_port_start",
  "net.ipv4.ip_local_reserved_ports",
  "net.ipv4.tcp_keepalive_time",
  "net.ipv4.tcp_fin_timeout",
  "net.ipv4.tcp_keepalive_intvl",
  "net.ipv4.tcp_keepalive_probes",
  "net.ipv4.tcp_rmem",
  "net.ipv4.tcp_wmem",
  "net.ipv4.tcp_slow_start_after_idle",
  "net.ipv4.tcp_notsent_lowat",
]);

function sysctls(_meta: Json, spec: Json): ReturnType<CheckFn> {
  const forbidden = list(podSc(spec)?.sysctls)
    .map((s) => str(s.name))
    .filter((name) => !SAFE_SYSCTLS.has(name));
  if (forbidden.length === 0) return undefined;
  return {
    reason: "forbidden sysctls",
    detail: forbidden.join(", "),
    subjects: forbidden.map((n) => `sysctl ${n}`),
  };
}

function windowsHostProcess(_meta: Json, spec: Json): ReturnType<CheckFn> {
  const hostProcess = (sc: Json | undefined) => obj(sc?.windowsOptions)?.hostProcess === true;
  const setters: string[] = [];
  const subjects: string[] = [];
  if (hostProcess(podSc(spec))) {
    setters.push("pod");
    subjects.push("pod");
  }
  const bad = containers(spec)
    .filter((c) => hostProcess(c.sc))
    .map((c) => c.name);
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

// ---- restricted -----------------------------------------------------------------------------

function allowPrivilegeEscalation(_meta: Json, spec: Json): ReturnType<CheckFn> {
  if (isWindows(spec)) return undefined;
  const bad = containers(spec)
    .filter((c) => c.sc?.allowPrivilegeEscalation !== false)
    .map((c) => c.name);
  if (bad.length === 0) return undefined;
  return {
    reason: "allowPrivilegeEscalation != false",
    detail: `${containersPhrase(bad)} must set securityContext.allowPrivilegeEscalation=false`,
    subjects: containerSubjects(bad),
  };
}

function capabilitiesRestricted(_meta: Json, spec: Json): ReturnType<CheckFn> {
  if (isWindows(spec)) return undefined;
  const missingDrop: string[] = [];
  const adding: string[] = [];
  const caps: string[] = [];
  for (const c of containers(spec)) {
    const capabilities = obj(c.sc?.capabilities);
    if (capabilities === undefined) {
      missingDrop.push(c.name);
      continue;
    }
    const drop = Array.isArray(capabilities.drop) ? capabilities.drop.map(str) : [];
    if (!drop.includes("ALL")) missingDrop.push(c.name);
    const add = Array.isArray(capabilities.add) ? capabilities.add.map(str) : [];
    const forbidden = add.filter((cap) => cap !== "NET_BIND_SERVICE");
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

/** The inline volume sources `restricted` allows. */
const ALLOWED_VOLUME_SOURCES = [
  "configMap",
  "csi",
  "downwardAPI",
  "emptyDir",
  "ephemeral",
  "image",
  "persistentVolumeClaim",
  "projected",
  "secret",
];

/** The sources it names when refusing, in the policy's order. */
const RESTRICTED_VOLUME_SOURCES = [
  "hostPath",
  "gcePersistentDisk",
  "awsElasticBlockStore",
  "gitRepo",
  "nfs",
  "iscsi",
  "glusterfs",
  "rbd",
  "flexVolume",
  "cinder",
  "cephfs",
  "flocker",
  "fc",
  "azureFile",
  "vsphereVolume",
  "quobyte",
  "azureDisk",
  "photonPersistentDisk",
  "portworxVolume",
  "scaleIO",
  "storageos",
];

function restrictedVolumes(_meta: Json, spec: Json): ReturnType<CheckFn> {
  const set = (v: Json, field: string) => v[field] !== undefined && v[field] !== null;
  const bad: string[] = [];
  const types: string[] = [];
  for (const volume of list(spec.volumes)) {
    if (ALLOWED_VOLUME_SOURCES.some((field) => set(volume, field))) continue;
    // A volume with no source is defaulted to an emptyDir by the apiserver before admission.
    if (Object.keys(volume).every((field) => field === "name" || !set(volume, field))) continue;
    bad.push(str(volume.name));
    types.push(RESTRICTED_VOLUME_SOURCES.find((field) => set(volume, field)) ?? "unknown");
  }
  if (bad.length === 0) return undefined;
  const typeList = sortedSet(types);
  return {
    reason: "restricted volume types",
    detail: `${pluralize("volume", "volumes", bad.length)} ${joinQuote(bad)} ${pluralize("uses", "use", bad.length)} ${pluralize("restricted volume type", "restricted volume types", typeList.length)} ${joinQuote(typeList)}`,
    subjects: bad.map((n) => `volume "${n}"`),
  };
}

function runAsNonRoot(_meta: Json, spec: Json): ReturnType<CheckFn> {
  if (inUserNamespace(spec)) return undefined;
  const badSetters: string[] = [];
  const subjects: string[] = [];
  let podNonRoot = false;
  const podValue = podSc(spec)?.runAsNonRoot;
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
  for (const c of containers(spec)) {
    const value = c.sc?.runAsNonRoot;
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

function runAsUser(_meta: Json, spec: Json): ReturnType<CheckFn> {
  if (inUserNamespace(spec)) return undefined;
  const badSetters: string[] = [];
  const subjects: string[] = [];
  if (podSc(spec)?.runAsUser === 0) {
    badSetters.push("pod");
    subjects.push("pod");
  }
  const bad = containers(spec)
    .filter((c) => c.sc?.runAsUser === 0)
    .map((c) => c.name);
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

/**
 * Every check of `latest`, in the order the apiserver reports them: baseline IDs sorted, then
 * restricted IDs sorted (byte order, as Go's `slices.Sort`).
 */
export const CHECKS: readonly CheckDef[] = [
  { id: "appArmorProfile", level: "baseline", run: appArmorProfile },
  { id: "capabilities_baseline", level: "baseline", run: capabilitiesBaseline },
  { id: "hostNamespaces", level: "baseline", run: hostNamespaces },
  { id: "hostPathVolumes", level: "baseline", run: hostPathVolumes },
  { id: "hostPorts", level: "baseline", run: hostPorts },
  { id: "hostProbesAndHostLifecycle", level: "baseline", run: hostProbesAndHostLifecycle },
  { id: "privileged", level: "baseline", run: privileged },
  { id: "procMount", level: "baseline", run: procMountBaseline },
  { id: "seLinuxOptions", level: "baseline", run: seLinuxOptions },
  { id: "seccompProfile_baseline", level: "baseline", run: (_m, s) => seccomp(s, false) },
  { id: "sysctls", level: "baseline", run: sysctls },
  { id: "windowsHostProcess", level: "baseline", run: windowsHostProcess },
  { id: "allowPrivilegeEscalation", level: "restricted", run: allowPrivilegeEscalation },
  {
    id: "capabilities_restricted",
    level: "restricted",
    overrides: ["capabilities_baseline"],
    run: capabilitiesRestricted,
  },
  {
    id: "procMount_restricted",
    level: "restricted",
    overrides: ["procMount"],
    run: procMountStrict,
  },
  {
    id: "restrictedVolumes",
    level: "restricted",
    overrides: ["hostPathVolumes"],
    run: restrictedVolumes,
  },
  { id: "runAsNonRoot", level: "restricted", run: runAsNonRoot },
  { id: "runAsUser", level: "restricted", run: runAsUser },
  {
    id: "seccompProfile_restricted",
    level: "restricted",
    overrides: ["seccompProfile_baseline"],
    run: (_m, s) => (isWindows(s) ? undefined : seccomp(s, true)),
  },
];

/** The checks of a level: baseline's, or restricted's plus the baseline ones it does not replace. */
export function checksOf(level: PodSecurityLevel): readonly CheckDef[] {
  if (level === "baseline") return CHECKS.filter((c) => c.level === "baseline");
  const overridden = new Set(CHECKS.flatMap((c) => c.overrides ?? []));
  return CHECKS.filter((c) => !overridden.has(c.id));
}

/** Evaluates a Pod's metadata and spec (or a Pod template's) at `level`. */
export function evaluatePodSecurity(
  level: PodSecurityLevel,
  metadata: unknown,
  spec: unknown,
): PssResult {
  const meta = obj(metadata) ?? {};
  const podSpec = obj(spec) ?? {};
  const violations: PssViolation[] = [];
  for (const check of checksOf(level)) {
    const failed = check.run(meta, podSpec);
    if (failed !== undefined) violations.push({ check: check.id, ...failed });
  }
  return { level, allowed: violations.length === 0, violations };
}

/** The apiserver's wording: `violates PodSecurity "restricted:latest": reason (detail), ...`. */
export function forbiddenMessage(result: PssResult): string {
  const parts = result.violations.map((v) =>
    v.detail === "" ? v.reason : `${v.reason} (${v.detail})`,
  );
  return `violates PodSecurity "${result.level}:latest": ${parts.join(", ")}`;
}

/**
 * The violations of `after` that `before` did not have: a check that did not fail before, or
 * that now names something (a container, the pod, a volume) it did not name before.
 */
export function newViolations(before: PssResult, after: PssResult): PssViolation[] {
  return after.violations.filter((v) => {
    const old = before.violations.find((b) => b.check === v.check);
    if (old === undefined) return true;
    return v.subjects.some((s) => !old.subjects.includes(s));
  });
}
