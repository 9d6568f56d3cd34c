/**
 * The Pod Security Standards evaluator at `latest`, check by check, with a passing and a failing
 * Pod each and what each names at fault (`subjects`, which upstream's corpus in
 * corpus.test.ts does not cover): the cases follow pod-security-admission's own fixtures (a
 * minimal valid Pod per level, tweaked one field at a time), so every check can fail alone.
 * Then the version boundaries upstream's corpus cannot see (its fixtures of one version
 * exercise only the checks of that version), version parsing and the wording.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CHECKS,
  type CheckId,
  checksFor,
  evaluate,
  forbiddenMessage,
  NEWEST_MINOR,
  NEWEST_VERSION,
  newViolations,
  type PodSecurityLevel,
  type PodSecurityVersion,
  parsePodSecurityVersion,
} from "../../../src/podsecurity/index.js";

type Json = Record<string, unknown>;
interface Pod {
  metadata: Json;
  spec: Json & { securityContext: Json; initContainers: Json[]; containers: Json[] };
}

/** A minimal Pod that passes `restricted` (pod-security-admission's restricted_1_22 fixture). */
function restrictedPod(): Pod {
  const sc = () => ({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
  return {
    metadata: {},
    spec: {
      securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
      initContainers: [{ name: "init", image: "registry.k8s.io/pause", securityContext: sc() }],
      containers: [{ name: "app", image: "registry.k8s.io/pause", securityContext: sc() }],
    },
  };
}

/** The minimal baseline Pod: no security settings at all. */
function baselinePod(): Pod {
  return {
    metadata: {},
    spec: {
      securityContext: {},
      initContainers: [{ name: "init", image: "registry.k8s.io/pause" }],
      containers: [{ name: "app", image: "registry.k8s.io/pause" }],
    },
  };
}

function tweak(base: () => Pod, change: (pod: Pod) => void): Pod {
  const pod = base();
  change(pod);
  return pod;
}

const app = (pod: Pod): Json => {
  const c = pod.spec.containers[0] as Json;
  c.securityContext ??= {};
  return c.securityContext as Json;
};
const init = (pod: Pod): Json => {
  const c = pod.spec.initContainers[0] as Json;
  c.securityContext ??= {};
  return c.securityContext as Json;
};

type Case = [name: string, level: PodSecurityLevel, pod: Pod];
type FailCase = [
  name: string,
  level: PodSecurityLevel,
  pod: Pod,
  check: CheckId,
  subjects: string[],
];

const PASSING: Case[] = [
  ["the minimal restricted Pod", "restricted", restrictedPod()],
  ["the minimal baseline Pod at baseline", "baseline", baselinePod()],
  // appArmorProfile
  [
    "AppArmor RuntimeDefault on the pod and Localhost on a container",
    "restricted",
    tweak(restrictedPod, (p) => {
      p.spec.securityContext.appArmorProfile = { type: "RuntimeDefault" };
      app(p).appArmorProfile = { type: "Localhost", localhostProfile: "x" };
    }),
  ],
  [
    "AppArmor annotations runtime/default and localhost/*",
    "baseline",
    tweak(baselinePod, (p) => {
      p.metadata.annotations = {
        "container.apparmor.security.beta.kubernetes.io/app": "runtime/default",
        "container.apparmor.security.beta.kubernetes.io/init": "localhost/custom",
      };
    }),
  ],
  // capabilities_baseline
  [
    "capabilities of the default set added",
    "baseline",
    tweak(baselinePod, (p) => {
      app(p).capabilities = { add: ["CHOWN", "NET_BIND_SERVICE", "SETUID"] };
    }),
  ],
  // hostNamespaces
  [
    "host namespaces set to false",
    "baseline",
    tweak(baselinePod, (p) =>
      Object.assign(p.spec, { hostNetwork: false, hostPID: false, hostIPC: false }),
    ),
  ],
  // hostPorts
  [
    "a container port without a hostPort, and hostPort 0",
    "baseline",
    tweak(baselinePod, (p) => {
      (p.spec.containers[0] as Json).ports = [
        { containerPort: 80 },
        { containerPort: 81, hostPort: 0 },
      ];
    }),
  ],
  // hostProbesAndHostLifecycle
  [
    "probes and lifecycle handlers without a host",
    "baseline",
    tweak(baselinePod, (p) => {
      Object.assign(p.spec.containers[0] as Json, {
        livenessProbe: { httpGet: { port: 80, host: "" } },
        readinessProbe: { tcpSocket: { port: 80 } },
        lifecycle: { preStop: { httpGet: { port: 80 } } },
      });
    }),
  ],
  // privileged
  ["privileged: false", "baseline", tweak(baselinePod, (p) => (app(p).privileged = false))],
  // procMount
  ["procMount Default", "restricted", tweak(restrictedPod, (p) => (app(p).procMount = "Default"))],
  [
    "procMount Unmasked in a user namespace, at baseline",
    "baseline",
    tweak(baselinePod, (p) => {
      p.spec.hostUsers = false;
      app(p).procMount = "Unmasked";
    }),
  ],
  // seLinuxOptions
  [
    "SELinux types container_t and container_engine_t, and a level",
    "baseline",
    tweak(baselinePod, (p) => {
      p.spec.securityContext.seLinuxOptions = { type: "container_t", level: "s0:c1,c2" };
      app(p).seLinuxOptions = { type: "container_engine_t" };
    }),
  ],
  // seccompProfile_baseline
  ["no seccomp profile at baseline", "baseline", baselinePod()],
  [
    "a Localhost seccomp profile at baseline",
    "baseline",
    tweak(
      baselinePod,
      (p) => (app(p).seccompProfile = { type: "Localhost", localhostProfile: "p.json" }),
    ),
  ],
  // sysctls
  [
    "safe sysctls, up to those added in 1.37",
    "baseline",
    tweak(baselinePod, (p) => {
      p.spec.securityContext.sysctls = [
        { name: "kernel.shm_rmid_forced", value: "1" },
        { name: "net.ipv4.tcp_rmem", value: "4096 87380 16777216" },
        { name: "net.ipv4.tcp_notsent_lowat", value: "16384" },
      ];
    }),
  ],
  // windowsHostProcess
  [
    "hostProcess: false",
    "baseline",
    tweak(baselinePod, (p) => (app(p).windowsOptions = { hostProcess: false })),
  ],
  // allowPrivilegeEscalation, capabilities_restricted, seccompProfile_restricted: Windows Pods
  [
    "a Windows Pod without the Linux-only settings",
    "restricted",
    {
      metadata: {},
      spec: {
        os: { name: "windows" },
        securityContext: { runAsNonRoot: true },
        initContainers: [],
        containers: [{ name: "app", image: "mcr.microsoft.com/windows/nanoserver" }],
      },
    },
  ],
  // capabilities_restricted
  [
    "NET_BIND_SERVICE added after dropping ALL",
    "restricted",
    tweak(
      restrictedPod,
      (p) => (app(p).capabilities = { drop: ["ALL"], add: ["NET_BIND_SERVICE"] }),
    ),
  ],
  // restrictedVolumes
  [
    "every allowed volume source, and a source-less volume (defaulted to emptyDir)",
    "restricted",
    tweak(restrictedPod, (p) => {
      p.spec.volumes = [
        { name: "a", configMap: { name: "c" } },
        { name: "b", csi: { driver: "d" } },
        { name: "c", downwardAPI: {} },
        { name: "d", emptyDir: {} },
        { name: "e", ephemeral: {} },
        { name: "f", image: { reference: "r" } },
        { name: "g", persistentVolumeClaim: { claimName: "p" } },
        { name: "h", projected: { sources: [] } },
        { name: "i", secret: { secretName: "s" } },
        { name: "j" },
      ];
    }),
  ],
  // runAsNonRoot
  [
    "runAsNonRoot set on every container instead of the pod",
    "restricted",
    tweak(restrictedPod, (p) => {
      delete p.spec.securityContext.runAsNonRoot;
      app(p).runAsNonRoot = true;
      init(p).runAsNonRoot = true;
    }),
  ],
  [
    "runAsNonRoot unset and runAsUser 0 in a user namespace",
    "restricted",
    tweak(restrictedPod, (p) => {
      p.spec.hostUsers = false;
      delete p.spec.securityContext.runAsNonRoot;
      p.spec.securityContext.runAsUser = 0;
    }),
  ],
  // runAsUser
  [
    "non-zero runAsUser everywhere",
    "restricted",
    tweak(restrictedPod, (p) => {
      p.spec.securityContext.runAsUser = 1000;
      app(p).runAsUser = 1000;
      init(p).runAsUser = 1000;
    }),
  ],
  // seccompProfile_restricted
  [
    "seccomp set per container instead of on the pod",
    "restricted",
    tweak(restrictedPod, (p) => {
      delete p.spec.securityContext.seccompProfile;
      app(p).seccompProfile = { type: "RuntimeDefault" };
      init(p).seccompProfile = { type: "Localhost", localhostProfile: "p.json" };
    }),
  ],
];

const FAILING: FailCase[] = [
  [
    "AppArmor Unconfined on the pod",
    "restricted",
    tweak(restrictedPod, (p) => (p.spec.securityContext.appArmorProfile = { type: "Unconfined" })),
    "appArmorProfile",
    ["pod"],
  ],
  [
    "AppArmor Unconfined on a container",
    "baseline",
    tweak(baselinePod, (p) => (app(p).appArmorProfile = { type: "Unconfined" })),
    "appArmorProfile",
    ['container "app"'],
  ],
  [
    "the AppArmor annotation unconfined",
    "baseline",
    tweak(baselinePod, (p) => {
      p.metadata.annotations = {
        "container.apparmor.security.beta.kubernetes.io/app": "unconfined",
      };
    }),
    "appArmorProfile",
    ["annotation container.apparmor.security.beta.kubernetes.io/app"],
  ],
  [
    "NET_RAW added (not in the default set)",
    "baseline",
    tweak(baselinePod, (p) => (app(p).capabilities = { add: ["NET_RAW"] })),
    "capabilities_baseline",
    ['container "app"'],
  ],
  [
    "hostNetwork",
    "baseline",
    tweak(baselinePod, (p) => (p.spec.hostNetwork = true)),
    "hostNamespaces",
    ["hostNetwork"],
  ],
  [
    "hostPID and hostIPC",
    "baseline",
    tweak(baselinePod, (p) => Object.assign(p.spec, { hostPID: true, hostIPC: true })),
    "hostNamespaces",
    ["hostPID", "hostIPC"],
  ],
  [
    "a hostPath volume at baseline",
    "baseline",
    tweak(baselinePod, (p) => (p.spec.volumes = [{ name: "host", hostPath: { path: "/" } }])),
    "hostPathVolumes",
    ['volume "host"'],
  ],
  [
    "a hostPort",
    "baseline",
    tweak(baselinePod, (p) => {
      (p.spec.initContainers[0] as Json).ports = [{ containerPort: 80, hostPort: 8080 }];
    }),
    "hostPorts",
    ['container "init"'],
  ],
  [
    "a liveness probe with a host",
    "baseline",
    tweak(baselinePod, (p) => {
      (p.spec.containers[0] as Json).livenessProbe = { httpGet: { port: 80, host: "10.0.0.1" } };
    }),
    "hostProbesAndHostLifecycle",
    ['container "app"'],
  ],
  [
    "a preStop tcpSocket with a host",
    "baseline",
    tweak(baselinePod, (p) => {
      (p.spec.initContainers[0] as Json).lifecycle = {
        preStop: { tcpSocket: { port: 1, host: "h" } },
      };
    }),
    "hostProbesAndHostLifecycle",
    ['container "init"'],
  ],
  [
    "a privileged container",
    "baseline",
    tweak(baselinePod, (p) => (init(p).privileged = true)),
    "privileged",
    ['container "init"'],
  ],
  [
    "procMount Unmasked at baseline",
    "baseline",
    tweak(baselinePod, (p) => (app(p).procMount = "Unmasked")),
    "procMount",
    ['container "app"'],
  ],
  [
    "procMount Unmasked in a user namespace, at restricted",
    "restricted",
    tweak(restrictedPod, (p) => {
      p.spec.hostUsers = false;
      app(p).procMount = "Unmasked";
    }),
    "procMount_restricted",
    ['container "app"'],
  ],
  [
    "SELinux type spc_t on the pod",
    "baseline",
    tweak(baselinePod, (p) => (p.spec.securityContext.seLinuxOptions = { type: "spc_t" })),
    "seLinuxOptions",
    ["pod"],
  ],
  [
    "an SELinux user and role on a container",
    "baseline",
    tweak(baselinePod, (p) => (app(p).seLinuxOptions = { user: "system_u", role: "system_r" })),
    "seLinuxOptions",
    ['container "app"'],
  ],
  [
    "seccomp Unconfined at baseline",
    "baseline",
    tweak(baselinePod, (p) => (p.spec.securityContext.seccompProfile = { type: "Unconfined" })),
    "seccompProfile_baseline",
    ["pod"],
  ],
  [
    "an unsafe sysctl",
    "baseline",
    tweak(
      baselinePod,
      (p) => (p.spec.securityContext.sysctls = [{ name: "kernel.msgmax", value: "1" }]),
    ),
    "sysctls",
    ["sysctl kernel.msgmax"],
  ],
  [
    "hostProcess on the pod",
    "baseline",
    tweak(baselinePod, (p) => (p.spec.securityContext.windowsOptions = { hostProcess: true })),
    "windowsHostProcess",
    ["pod"],
  ],
  [
    "allowPrivilegeEscalation unset",
    "restricted",
    tweak(restrictedPod, (p) => delete app(p).allowPrivilegeEscalation),
    "allowPrivilegeEscalation",
    ['container "app"'],
  ],
  [
    "allowPrivilegeEscalation true",
    "restricted",
    tweak(restrictedPod, (p) => (init(p).allowPrivilegeEscalation = true)),
    "allowPrivilegeEscalation",
    ['container "init"'],
  ],
  [
    "capabilities not dropping ALL",
    "restricted",
    tweak(restrictedPod, (p) => (app(p).capabilities = { drop: ["NET_RAW"] })),
    "capabilities_restricted",
    ['container "app"'],
  ],
  [
    "a capability other than NET_BIND_SERVICE added",
    "restricted",
    tweak(restrictedPod, (p) => (app(p).capabilities = { drop: ["ALL"], add: ["CHOWN"] })),
    "capabilities_restricted",
    ['container "app"'],
  ],
  [
    "an nfs volume",
    "restricted",
    tweak(
      restrictedPod,
      (p) => (p.spec.volumes = [{ name: "share", nfs: { server: "s", path: "/" } }]),
    ),
    "restrictedVolumes",
    ['volume "share"'],
  ],
  [
    "a hostPath volume at restricted",
    "restricted",
    tweak(restrictedPod, (p) => (p.spec.volumes = [{ name: "host", hostPath: { path: "/" } }])),
    "restrictedVolumes",
    ['volume "host"'],
  ],
  [
    "runAsNonRoot false on the pod",
    "restricted",
    tweak(restrictedPod, (p) => (p.spec.securityContext.runAsNonRoot = false)),
    "runAsNonRoot",
    ["pod"],
  ],
  [
    "runAsNonRoot false on a container",
    "restricted",
    tweak(restrictedPod, (p) => (app(p).runAsNonRoot = false)),
    "runAsNonRoot",
    ['container "app"'],
  ],
  [
    "runAsNonRoot set on one container only, none on the pod",
    "restricted",
    tweak(restrictedPod, (p) => {
      delete p.spec.securityContext.runAsNonRoot;
      app(p).runAsNonRoot = true;
    }),
    "runAsNonRoot",
    ['container "init"'],
  ],
  [
    "runAsUser 0 on the pod",
    "restricted",
    tweak(restrictedPod, (p) => (p.spec.securityContext.runAsUser = 0)),
    "runAsUser",
    ["pod"],
  ],
  [
    "runAsUser 0 on a container",
    "restricted",
    tweak(restrictedPod, (p) => (init(p).runAsUser = 0)),
    "runAsUser",
    ['container "init"'],
  ],
  [
    "no seccomp profile at restricted",
    "restricted",
    tweak(restrictedPod, (p) => delete p.spec.securityContext.seccompProfile),
    "seccompProfile_restricted",
    ['container "init"', 'container "app"'],
  ],
  [
    "seccomp Unconfined on a container at restricted",
    "restricted",
    tweak(restrictedPod, (p) => (app(p).seccompProfile = { type: "Unconfined" })),
    "seccompProfile_restricted",
    ['container "app"'],
  ],
];

const RESTRICTED_LATEST = { level: "restricted", version: "latest" } as const;

/** Evaluates at `latest` unless told otherwise. */
function evaluatePod(level: PodSecurityLevel, pod: Pod, version: PodSecurityVersion = "latest") {
  return evaluate(pod, { level, version });
}

describe("evaluate at latest", () => {
  it.each(PASSING)("admits %s (%s)", (_name, level, pod) => {
    const result = evaluatePod(level, pod);

    expect(result.violations).toEqual([]);
    expect(result.allowed).toBe(true);
  });

  it.each(FAILING)("refuses %s (%s) with check %s", (_name, level, pod, check, subjects) => {
    const result = evaluatePod(level, pod);

    expect(result.allowed).toBe(false);
    expect(result.violations.map((v) => v.check)).toEqual([check]);
    expect(result.violations[0]?.subjects).toEqual(subjects);
  });

  it("has a failing case for every check of the standard", () => {
    const covered = new Set(FAILING.map((c) => c[3]));

    expect(CHECKS.filter((c) => !covered.has(c.id)).map((c) => c.id)).toEqual([]);
  });

  it("runs at restricted every baseline check except the four it replaces", () => {
    const restricted = checksFor("restricted", NEWEST_MINOR).map((c) => c.id);

    expect(restricted).not.toContain("capabilities_baseline");
    expect(restricted).not.toContain("hostPathVolumes");
    expect(restricted).not.toContain("seccompProfile_baseline");
    expect(restricted).not.toContain("procMount");
    expect(restricted).toHaveLength(CHECKS.length - 4);
    const baseline = checksFor("baseline", NEWEST_MINOR).map((c) => c.id);
    expect(baseline).toEqual(CHECKS.filter((c) => c.level === "baseline").map((c) => c.id));
  });

  it("admits at baseline what only restricted forbids", () => {
    const pod = tweak(baselinePod, (p) => (p.spec.securityContext.runAsUser = 0));

    expect(evaluatePod("baseline", pod).allowed).toBe(true);
    expect(evaluatePod("restricted", pod).allowed).toBe(false);
  });

  it("reports the checks in the apiserver's order, with its wording", () => {
    const pod = baselinePod();
    pod.spec.securityContext.runAsUser = 0;
    pod.spec.hostNetwork = true;

    const result = evaluatePod("restricted", pod);

    expect(result.violations.map((v) => v.check)).toEqual([
      "hostNamespaces",
      "allowPrivilegeEscalation",
      "capabilities_restricted",
      "runAsNonRoot",
      "runAsUser",
      "seccompProfile_restricted",
    ]);
    expect(forbiddenMessage(result)).toBe(
      'violates PodSecurity "restricted:latest": host namespaces (hostNetwork=true), allowPrivilegeEscalation != false (containers "init", "app" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (containers "init", "app" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or containers "init", "app" must set securityContext.runAsNonRoot=true), runAsUser=0 (pod must not set runAsUser=0), seccompProfile (pod or containers "init", "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
    );
  });

  it("evaluates ephemeral containers too", () => {
    const pod = restrictedPod();
    pod.spec.ephemeralContainers = [{ name: "debug", image: "busybox" }];

    const result = evaluatePod("restricted", pod);

    expect(result.violations.map((v) => v.check)).toContain("allowPrivilegeEscalation");
    expect(result.violations[0]?.subjects).toEqual(['container "debug"']);
  });

  it("treats a spec that is not an object as a Pod without containers", () => {
    expect(evaluate({ metadata: null, spec: "nonsense" }, RESTRICTED_LATEST).allowed).toBe(true);
  });
});

describe("newViolations", () => {
  const failing = (change: (p: Pod) => void) => {
    const pod = tweak(restrictedPod, change);
    return evaluatePod("restricted", pod);
  };

  const rootApp = (p: Pod): void => {
    app(p).runAsUser = 0;
  };
  const rootBoth = (p: Pod): void => {
    app(p).runAsUser = 0;
    init(p).runAsUser = 0;
  };
  const cases: [string, (p: Pod) => void, (p: Pod) => void, CheckId[]][] = [
    ["nothing when the same check fails for the same containers", rootApp, rootApp, []],
    ["a check that did not fail before", () => {}, rootApp, ["runAsUser"]],
    ["a check that now names another container", rootApp, rootBoth, ["runAsUser"]],
  ];

  it.each(cases)("finds %s", (_name, before, after, checks) => {
    expect(newViolations(failing(before), failing(after)).map((v) => v.check)).toEqual(checks);
  });
});

/** A Windows Pod with none of the Linux-only settings. */
function windowsPod(): Pod {
  return {
    metadata: {},
    spec: {
      os: { name: "windows" },
      securityContext: { runAsNonRoot: true },
      initContainers: [],
      containers: [{ name: "app", image: "mcr.microsoft.com/windows/nanoserver" }],
    },
  };
}

const sysctl = (name: string) =>
  tweak(baselinePod, (p) => (p.spec.securityContext.sysctls = [{ name, value: "1" }]));

/**
 * Every change of the policy between versions, with a Pod whose verdict it flips: the checks
 * failing at the version before, and at the version that changed.
 */
const BOUNDARIES: [
  name: string,
  level: PodSecurityLevel,
  pod: Pod,
  since: number,
  before: CheckId[],
  after: CheckId[],
][] = [
  [
    "allowPrivilegeEscalation required",
    "restricted",
    tweak(restrictedPod, (p) => delete app(p).allowPrivilegeEscalation),
    8,
    [],
    ["allowPrivilegeEscalation"],
  ],
  [
    "a seccomp profile required",
    "restricted",
    tweak(restrictedPod, (p) => delete p.spec.securityContext.seccompProfile),
    19,
    [],
    ["seccompProfile_restricted"],
  ],
  [
    "the seccomp annotations no longer read",
    "baseline",
    tweak(baselinePod, (p) => {
      p.metadata.annotations = { "seccomp.security.alpha.kubernetes.io/pod": "unconfined" };
    }),
    19,
    ["seccompProfile_baseline"],
    [],
  ],
  [
    "an empty seccomp annotation no longer read",
    "baseline",
    tweak(baselinePod, (p) => {
      p.metadata.annotations = { "container.seccomp.security.alpha.kubernetes.io/app": "" };
    }),
    19,
    ["seccompProfile_baseline"],
    [],
  ],
  [
    'capabilities.drop=["ALL"] required',
    "restricted",
    tweak(restrictedPod, (p) => delete app(p).capabilities),
    22,
    [],
    ["capabilities_restricted"],
  ],
  [
    "runAsUser=0 refused",
    "restricted",
    tweak(restrictedPod, (p) => (p.spec.securityContext.runAsUser = 0)),
    23,
    [],
    ["runAsUser"],
  ],
  [
    "Windows Pods exempt from the Linux-only checks",
    "restricted",
    windowsPod(),
    25,
    ["allowPrivilegeEscalation", "capabilities_restricted", "seccompProfile_restricted"],
    [],
  ],
  [
    "sysctl net.ipv4.ip_local_reserved_ports allowed",
    "baseline",
    sysctl("net.ipv4.ip_local_reserved_ports"),
    27,
    ["sysctls"],
    [],
  ],
  [
    "sysctl net.ipv4.tcp_keepalive_time allowed",
    "baseline",
    sysctl("net.ipv4.tcp_keepalive_time"),
    29,
    ["sysctls"],
    [],
  ],
  [
    "sysctl net.ipv4.tcp_wmem allowed",
    "baseline",
    sysctl("net.ipv4.tcp_wmem"),
    32,
    ["sysctls"],
    [],
  ],
  [
    "sysctl net.ipv4.tcp_notsent_lowat allowed",
    "baseline",
    sysctl("net.ipv4.tcp_notsent_lowat"),
    37,
    ["sysctls"],
    [],
  ],
  [
    "SELinux type container_engine_t allowed",
    "baseline",
    tweak(baselinePod, (p) => (app(p).seLinuxOptions = { type: "container_engine_t" })),
    31,
    ["seLinuxOptions"],
    [],
  ],
  [
    "probe hosts refused",
    "baseline",
    tweak(baselinePod, (p) => {
      (p.spec.containers[0] as Json).readinessProbe = { tcpSocket: { port: 80, host: "10.0.0.1" } };
    }),
    34,
    [],
    ["hostProbesAndHostLifecycle"],
  ],
  [
    "unmasked /proc allowed at baseline in a user namespace",
    "baseline",
    tweak(baselinePod, (p) => {
      p.spec.hostUsers = false;
      app(p).procMount = "Unmasked";
    }),
    35,
    ["procMount"],
    [],
  ],
  [
    "unmasked /proc still refused at restricted in a user namespace, under its own ID",
    "restricted",
    tweak(restrictedPod, (p) => {
      p.spec.hostUsers = false;
      app(p).procMount = "Unmasked";
    }),
    35,
    ["procMount"],
    ["procMount_restricted"],
  ],
  [
    "runAsUser=0 allowed in a user namespace",
    "restricted",
    tweak(restrictedPod, (p) => {
      p.spec.hostUsers = false;
      app(p).runAsUser = 0;
    }),
    35,
    ["runAsUser"],
    [],
  ],
  [
    "runAsNonRoot not required in a user namespace",
    "restricted",
    tweak(restrictedPod, (p) => {
      p.spec.hostUsers = false;
      delete p.spec.securityContext.runAsNonRoot;
    }),
    35,
    ["runAsNonRoot"],
    [],
  ],
];

describe("evaluate at a version", () => {
  it.each(BOUNDARIES)("has %s (%s) from v1.%i on", (_name, level, pod, since, before, after) => {
    const checks = (minor: number) =>
      evaluatePod(level, pod, `v1.${minor}`).violations.map((v) => v.check);

    expect(checks(since - 1)).toEqual(before);
    expect(checks(since)).toEqual(after);
    expect(checks(NEWEST_MINOR)).toEqual(after);
  });

  it("has a boundary case for every version at which a check changes", () => {
    const changes = new Set(CHECKS.flatMap((c) => c.versions.map((v) => v.since)));
    changes.delete(0);

    expect(new Set(BOUNDARIES.map((b) => b.at(3)))).toEqual(changes);
  });

  it("evaluates a version newer than the newest known as that newest one, as the apiserver does", () => {
    const pod = sysctl("net.ipv4.tcp_notsent_lowat");
    pod.spec.hostNetwork = true;

    const newer = evaluatePod("baseline", pod, `v1.${NEWEST_MINOR + 5}`);

    expect(newer.violations).toEqual(evaluatePod("baseline", pod, NEWEST_VERSION).violations);
    expect(newer.violations).toEqual(evaluatePod("baseline", pod, "latest").violations);
    expect(newer.violations.map((v) => v.check)).toEqual(["hostNamespaces"]);
  });

  it("names the version as given in the message", () => {
    const pod = tweak(restrictedPod, (p) => (p.spec.securityContext.runAsUser = 0));

    expect(forbiddenMessage(evaluatePod("restricted", pod, "v1.33"))).toBe(
      'violates PodSecurity "restricted:v1.33": runAsUser=0 (pod must not set runAsUser=0)',
    );
  });

  it("refuses a malformed version", () => {
    expect(() =>
      evaluate(restrictedPod(), { level: "restricted", version: "v1.033" as "v1.33" }),
    ).toThrow('PodSecurity version must be "latest" or "v1.<minor>", got "v1.033"');
  });
});

describe("parsePodSecurityVersion", () => {
  it.each(["latest", "v1.0", "v1.9", "v1.33", "v1.37", "v1.120"])("accepts %s", (text) => {
    expect(parsePodSecurityVersion(text)).toBe(text);
  });

  it.each([
    "",
    "LATEST",
    "1.33",
    "v1.033",
    "v1.",
    "v1.x",
    "v2.0",
    "v1.33.0",
    " v1.33",
    "v1.1234567890123456789",
  ])("refuses %j", (text) => {
    expect(parsePodSecurityVersion(text)).toBeUndefined();
  });
});

describe("the apiserver's wording", () => {
  it("quotes annotation values as Go's %q does", () => {
    const pod = tweak(baselinePod, (p) => {
      p.metadata.annotations = {
        "container.apparmor.security.beta.kubernetes.io/app":
          'un"confined\n\u0001\u00e9\u200b\u0007',
      };
    });

    expect(evaluatePod("baseline", pod).violations[0]?.detail).toBe(
      String.raw`annotation must not set AppArmor profile type to "container.apparmor.security.beta.kubernetes.io/app="un\"confined\n\x01é\u200b\a""`,
    );
  });
});

describe("evaluate on arbitrary input", () => {
  it("never throws, never changes its input, and allows exactly when nothing failed", () => {
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.jsonValue(),
        fc.constantFrom<PodSecurityLevel>("baseline", "restricted"),
        fc.integer({ min: 0, max: NEWEST_MINOR + 2 }),
        (metadata, spec, level, minor) => {
          const before = JSON.stringify([metadata, spec]);

          const result = evaluate({ metadata, spec }, { level, version: `v1.${minor}` });

          expect(JSON.stringify([metadata, spec])).toBe(before);
          expect(result.allowed).toBe(result.violations.length === 0);
          const ids = checksFor(level, Math.min(minor, NEWEST_MINOR)).map((c) => c.id);
          expect(result.violations.every((v) => ids.includes(v.check))).toBe(true);
        },
      ),
    );
  });
});
