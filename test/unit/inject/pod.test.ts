import jsonpatch from "fast-json-patch";
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../../src/core/types.js";
import { pathsOverlap } from "../../../src/inject/paths.js";
import {
  configMapNameFor,
  MAX_WARNING_LENGTH,
  type PodOptIn,
  planPodPatch,
  podOptIn,
} from "../../../src/inject/pod.js";
import { escapePointerSegment, pointer } from "../../../src/inject/pointer.js";
import {
  DEFAULT_INJECTION_SETTINGS,
  type InjectionSettings,
  validateInjectionSettings,
} from "../../../src/inject/settings.js";

const BUNDLE = { configMapName: "ca-trust-bundle", sha256: "ab".repeat(32) };

/** `{ "ca-trust.dev/inject": value }`, or no labels at all when `value` is undefined. */
const injectLabel = (value: string | undefined) =>
  value === undefined ? undefined : { "ca-trust.dev/inject": value };

describe("podOptIn", () => {
  it.each<[string, string | undefined, string | undefined, PodOptIn]>([
    ["injects a Pod labelled true in an unlabelled namespace", "true", undefined, "inject"],
    ["injects an unlabelled Pod in an enabled namespace", undefined, "enabled", "inject"],
    ["opts out a Pod labelled false even in an enabled namespace", "false", "enabled", "opted-out"],
    ["opts out a Pod labelled false in an unlabelled namespace", "false", undefined, "opted-out"],
    [
      "leaves an unlabelled Pod in an unlabelled namespace out",
      undefined,
      undefined,
      "not-opted-in",
    ],
    ["ignores a namespace labelled true (they say enabled)", undefined, "true", "not-opted-in"],
    ["ignores a Pod labelled enabled (Pods say true)", "enabled", undefined, "not-opted-in"],
    ["compares values exactly", "True", "Enabled", "not-opted-in"],
    ["lets an unrecognised Pod value fall back to the namespace", "yes", "enabled", "inject"],
  ])("%s", (_sentence, podValue, namespaceValue, expected) => {
    expect(podOptIn(injectLabel(podValue), injectLabel(namespaceValue))).toBe(expected);
  });
});

describe("configMapNameFor", () => {
  const podWith = (annotations?: Record<string, unknown>): KubeObject =>
    ({ metadata: { name: "p", annotations } }) as KubeObject;

  it.each<[string, KubeObject, string, "default" | "annotation"]>([
    ["uses the default without the annotation", podWith(), "ca-trust-bundle", "default"],
    ["uses the default without metadata", {}, "ca-trust-bundle", "default"],
    [
      "takes a valid annotation",
      podWith({ "ca-trust.dev/configmap": "partner-ca" }),
      "partner-ca",
      "annotation",
    ],
    [
      "takes a dotted subdomain",
      podWith({ "ca-trust.dev/configmap": "ca.v2.example" }),
      "ca.v2.example",
      "annotation",
    ],
  ])("%s", (_sentence, pod, name, source) => {
    expect(configMapNameFor(pod, DEFAULT_INJECTION_SETTINGS)).toEqual({ ok: true, name, source });
  });

  it.each<[string, unknown]>([
    ["rejects upper case", "Partner-CA"],
    ["rejects an empty value", ""],
    ["rejects a path", "../kube-system/ca"],
    ["rejects a namespace-qualified name", "other/ca"],
    ["rejects a leading dash", "-ca"],
    ["rejects more than 253 characters", "a".repeat(254)],
    ["rejects a non-string value", 42],
  ])("%s", (_sentence, value) => {
    const choice = configMapNameFor(
      podWith({ "ca-trust.dev/configmap": value }),
      DEFAULT_INJECTION_SETTINGS,
    );
    expect(choice).toMatchObject({
      ok: false,
      field: "metadata.annotations[ca-trust.dev/configmap]",
    });
  });
});

describe("JSON pointers", () => {
  it.each([
    ["escapes a slash", "ca-trust.dev/injected", "ca-trust.dev~1injected"],
    ["escapes a tilde", "a~b", "a~0b"],
    ["escapes a tilde before a slash so ~1 stays literal", "~1/", "~01~1"],
    ["leaves plain names alone", "volumes", "volumes"],
  ])("%s", (_sentence, segment, escaped) => {
    expect(escapePointerSegment(segment)).toBe(escaped);
  });

  it("joins escaped segments and indices", () => {
    expect(pointer("metadata", "annotations", "a/b~c")).toBe("/metadata/annotations/a~1b~0c");
    expect(pointer("spec", "containers", 3, "env", "-")).toBe("/spec/containers/3/env/-");
  });
});

describe("pathsOverlap", () => {
  it.each<[string, string, string, boolean]>([
    ["the same path", "/etc/ssl/certs", "/etc/ssl/certs", true],
    ["a path inside", "/etc/ssl/certs/ca.pem", "/etc/ssl/certs", true],
    ["a path above", "/etc/ssl", "/etc/ssl/certs", true],
    ["the root", "/", "/etc/ssl/certs", true],
    ["a sibling with a common prefix", "/etc/ssl/certs2", "/etc/ssl/certs", false],
    ["a sibling", "/etc/ssl/custom-ca", "/etc/ssl/certs", false],
    ["an empty path", "", "/etc/ssl/certs", false],
  ])("%s: %s vs %s is %s", (_sentence, a, b, overlaps) => {
    expect(pathsOverlap(a, b)).toBe(overlaps);
    expect(pathsOverlap(b, a)).toBe(overlaps);
  });
});

describe("validateInjectionSettings", () => {
  const withChanges = (change: (settings: InjectionSettings) => InjectionSettings) =>
    change(structuredClone(DEFAULT_INJECTION_SETTINGS) as InjectionSettings);

  it("accepts the defaults", () => {
    expect(validateInjectionSettings(DEFAULT_INJECTION_SETTINGS)).toEqual([]);
  });

  it.each<[string, (settings: InjectionSettings) => InjectionSettings, string]>([
    [
      "rejects a volume name that is not a DNS label",
      (s) => ({ ...s, trustStore: { ...s.trustStore, volumeName: "Certs" } }),
      "trustStore.volumeName",
    ],
    [
      "rejects equal volume names",
      (s) => ({ ...s, customCa: { ...s.customCa, volumeName: s.trustStore.volumeName } }),
      "customCa.volumeName",
    ],
    [
      "rejects a CA mount inside the store mount",
      (s) => ({ ...s, customCa: { ...s.customCa, mountPath: "/etc/ssl/certs/custom" } }),
      "customCa.mountPath",
    ],
    [
      "rejects a relative mount path",
      (s) => ({ ...s, trustStore: { ...s.trustStore, mountPath: "etc/ssl/certs" } }),
      "trustStore.mountPath",
    ],
    [
      "rejects an output path that hides the system bundle",
      (s) => ({ ...s, initContainer: { ...s.initContainer, outputPath: "/etc/ssl/certs" } }),
      "initContainer.systemBundlePath",
    ],
    [
      "rejects root as the init user",
      (s) => ({ ...s, initContainer: { ...s.initContainer, runAsUser: 0 } }),
      "initContainer.runAsUser",
    ],
    [
      "rejects a bad quantity",
      (s) => ({
        ...s,
        initContainer: { ...s.initContainer, resources: { limits: { memory: "64 MB" } } },
      }),
      "initContainer.resources.limits.memory",
    ],
    ["rejects a duplicate env name", (s) => ({ ...s, env: [...s.env, ...s.env] }), "env[1].name"],
    [
      "rejects an env name that is not an identifier",
      (s) => ({ ...s, env: [{ name: "AWS-CA", value: "/x" }] }),
      "env[0].name",
    ],
    [
      "rejects an invalid ConfigMap name",
      (s) => ({ ...s, customCa: { ...s.customCa, configMapName: "CA" } }),
      "customCa.configMapName",
    ],
  ])("%s", (_sentence, change, field) => {
    const problems = validateInjectionSettings(withChanges(change));
    expect(problems.map((problem) => problem.split(":")[0])).toContain(field);
  });

  it("accepts a null runAsUser (the platform picks one)", () => {
    const settings = withChanges((s) => ({
      ...s,
      initContainer: { ...s.initContainer, runAsUser: null },
    }));
    expect(validateInjectionSettings(settings)).toEqual([]);
  });
});

describe("planPodPatch with other settings and odd input", () => {
  const plainPod = (): KubeObject => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "shop" },
    spec: { containers: [{ name: "app", image: "web" }] },
  });
  const initContainerOf = (settings: InjectionSettings) => {
    const plan = planPodPatch(plainPod(), settings, BUNDLE);
    const operation = plan.operations.find((op) => op.path === "/spec/initContainers");
    if (!operation) throw new Error("no init container planned");
    return (operation.value as Record<string, unknown>[])[0] as Record<string, unknown>;
  };

  it("omits runAsUser when the settings leave it to the platform", () => {
    const settings = {
      ...DEFAULT_INJECTION_SETTINGS,
      initContainer: { ...DEFAULT_INJECTION_SETTINGS.initContainer, runAsUser: null },
    };
    expect(initContainerOf(settings).securityContext).not.toHaveProperty("runAsUser");
    expect(initContainerOf(settings).securityContext).toHaveProperty("runAsNonRoot", true);
  });

  it("uses the configured names, image and paths", () => {
    const settings: InjectionSettings = {
      ...DEFAULT_INJECTION_SETTINGS,
      initContainer: {
        ...DEFAULT_INJECTION_SETTINGS.initContainer,
        name: "trust",
        image: "registry.example/alpine:3.21",
      },
      trustStore: { ...DEFAULT_INJECTION_SETTINGS.trustStore, volumeName: "store" },
    };
    const container = initContainerOf(settings);
    expect(container).toMatchObject({ name: "trust", image: "registry.example/alpine:3.21" });
    expect(container.volumeMounts).toContainEqual({
      name: "store",
      mountPath: "/var/run/ca-trust/certs",
    });
  });

  it("returns fresh values that do not alias the frozen settings", () => {
    const container = initContainerOf(DEFAULT_INJECTION_SETTINGS);
    expect(Object.isFrozen(container.resources)).toBe(false);
    expect(Object.isFrozen((container.env as unknown[])[0])).toBe(false);
  });

  it("leaves a Pod that selects Windows nodes by nodeSelector alone, with a warning", () => {
    const pod: KubeObject = {
      spec: { nodeSelector: { "kubernetes.io/os": "windows" }, containers: [{ name: "a" }] },
    };
    const plan = planPodPatch(pod, DEFAULT_INJECTION_SETTINGS, BUNDLE);
    expect(plan.operations).toEqual([]);
    expect(plan.warnings).toHaveLength(1);
  });

  it.each<[string, KubeObject]>([
    ["no spec", { metadata: {} }],
    ["containers null", { spec: { containers: null } }],
    ["containers not a list", { spec: { containers: "app" } }],
  ])("plans nothing and never throws for a Pod with %s", (_sentence, pod) => {
    expect(planPodPatch(pod, DEFAULT_INJECTION_SETTINGS, BUNDLE)).toEqual({
      operations: [],
      warnings: [],
    });
  });

  it.each<[string, KubeObject]>([
    ["volumes that are not a list", { spec: { containers: [{ name: "a" }], volumes: {} } }],
    [
      "initContainers that are not a list",
      { spec: { containers: [{ name: "a" }], initContainers: 1 } },
    ],
  ])("reports a conflict for %s", (_sentence, pod) => {
    const plan = planPodPatch(pod, DEFAULT_INJECTION_SETTINGS, BUNDLE);
    expect(plan.operations).toEqual([]);
    expect(plan.conflict).toBeDefined();
  });

  it("skips a container whose env is not a list, with a warning, and injects the others", () => {
    const pod: KubeObject = {
      metadata: {},
      spec: { containers: [{ name: "odd", env: "x" }, { name: "ok" }] },
    };
    const plan = planPodPatch(pod, DEFAULT_INJECTION_SETTINGS, BUNDLE);
    expect(plan.warnings).toHaveLength(1);
    expect(plan.operations.some((op) => op.path.startsWith("/spec/containers/0/"))).toBe(false);
    expect(plan.operations.some((op) => op.path.startsWith("/spec/containers/1/"))).toBe(true);
  });

  it("adds metadata whole when the Pod has none", () => {
    const plan = planPodPatch(
      { spec: { containers: [{ name: "a" }] } },
      DEFAULT_INJECTION_SETTINGS,
      BUNDLE,
    );
    expect(plan.operations.at(-1)).toEqual({
      op: "add",
      path: "/metadata",
      value: { annotations: { "ca-trust.dev/injected": `sha256:${BUNDLE.sha256}` } },
    });
  });

  it("updates the marker alone when the bundle changed since injection", () => {
    const pod = plainPod();
    const first = planPodPatch(pod, DEFAULT_INJECTION_SETTINGS, BUNDLE);
    const patched = jsonpatch.applyPatch(structuredClone(pod), first.operations, true, false)
      .newDocument as KubeObject;
    const plan = planPodPatch(patched, DEFAULT_INJECTION_SETTINGS, {
      ...BUNDLE,
      sha256: "cd".repeat(32),
    });
    expect(plan.operations).toEqual([
      {
        op: "add",
        path: "/metadata/annotations/ca-trust.dev~1injected",
        value: `sha256:${"cd".repeat(32)}`,
      },
    ]);
  });

  it("keeps every warning within 120 characters", () => {
    const pod: KubeObject = {
      metadata: {
        annotations: {
          "ca-trust.dev/trust-env": Array.from({ length: 50 }, (_, i) => `unknown-${i}`).join(","),
        },
      },
      spec: {
        containers: [
          {
            name: "c".repeat(63),
            volumeMounts: [{ name: "v", mountPath: `/etc/ssl/certs/${"x".repeat(200)}` }],
          },
          {
            name: "d",
            volumeMounts: [{ name: "v", mountPath: `/etc/ssl/certs/${"x".repeat(200)}` }],
          },
        ],
      },
    };
    const plan = planPodPatch(pod, DEFAULT_INJECTION_SETTINGS, BUNDLE);
    expect(plan.warnings).toHaveLength(3);
    for (const warning of plan.warnings)
      expect(Array.from(warning).length).toBeLessThanOrEqual(MAX_WARNING_LENGTH);
  });
});

describe("planPodPatch on pathological Pods (the Istio lesson)", () => {
  const bigEnv = (count: number, valueLength: number) =>
    Array.from({ length: count }, (_, i) => ({ name: `VAR_${i}`, value: "v".repeat(valueLength) }));

  // Speed is measured by `npm run bench` (scenario c), not asserted here: these only have to
  // finish within the test timeout (an O(n²) plan would not) and plan the right operations.
  it("plans a ~1 MiB Pod (5 containers × 1,000 env vars)", () => {
    const pod: KubeObject = {
      metadata: { name: "big" },
      spec: {
        containers: Array.from({ length: 5 }, (_, i) => ({
          name: `c${i}`,
          env: bigEnv(1_000, 200),
        })),
      },
    };
    expect(JSON.stringify(pod).length).toBeGreaterThan(1_000_000);
    const operations = planPodPatch(pod, DEFAULT_INJECTION_SETTINGS, BUNDLE).operations.length;
    // volumes, init container, marker; per container the mounts list and one env entry
    expect(operations).toBe(3 + 5 * 2);
  });

  it("plans one container with 100,000 env vars and 20,000 mounts", () => {
    const pod: KubeObject = {
      metadata: { name: "huge" },
      spec: {
        containers: [
          {
            name: "c",
            env: bigEnv(100_000, 1),
            volumeMounts: Array.from({ length: 20_000 }, (_, i) => ({
              name: "v",
              mountPath: `/data/${i}`,
            })),
          },
        ],
      },
    };
    const plan = planPodPatch(pod, DEFAULT_INJECTION_SETTINGS, BUNDLE);
    // volumes, init container, marker; the container's two mounts and its env entry
    expect(plan.operations.length).toBe(3 + 3);
  });
});
