/**
 * Property test of `planPodPatch` over generated Pods: arbitrary containers, init containers
 * (sidecars too), ephemeral containers, volumes and mounts (ours, foreign, overlapping), env
 * (preset AWS_CA_BUNDLE as a value or valueFrom) and annotations whose keys contain '/' and '~'.
 */

import fc from "fast-check";
import jsonpatch from "fast-json-patch";
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../../src/core/types.js";
import { normalizeMountPath } from "../../../src/inject/paths.js";
import { planPodPatch } from "../../../src/inject/pod.js";
import { DEFAULT_INJECTION_SETTINGS, INJECTED_ANNOTATION } from "../../../src/inject/settings.js";

const SETTINGS = DEFAULT_INJECTION_SETTINGS;
const BUNDLE = { configMapName: "ca-trust-bundle", sha256: "0f".repeat(32) };
const MARKER = `sha256:${BUNDLE.sha256}`;
const INIT = SETTINGS.initContainer.name;
const STORE = SETTINGS.trustStore.volumeName;
const CUSTOM = SETTINGS.customCa.volumeName;
const OUR_MOUNTS = [
  { name: STORE, mountPath: SETTINGS.trustStore.mountPath, readOnly: true },
  { name: CUSTOM, mountPath: SETTINGS.customCa.mountPath, readOnly: true },
];
const OUR_ENV_VALUES = new Map<string, string>([
  ...SETTINGS.env.map((v): [string, string] => [v.name, v.value]),
  ...Object.values(SETTINGS.trustProfiles).flatMap((env) =>
    env.map((v): [string, string] => [v.name, v.value]),
  ),
]);

interface Mount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}
interface Env {
  name: string;
  value?: string;
  valueFrom?: unknown;
}
interface Container {
  name: string;
  image: string;
  volumeMounts?: Mount[];
  env?: Env[];
  restartPolicy?: string;
  securityContext?: unknown;
}
interface Volume {
  name: string;
  [source: string]: unknown;
}
interface Pod {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec: {
    containers: Container[];
    initContainers?: Container[];
    ephemeralContainers?: Container[];
    volumes?: Volume[];
  };
}

/** Mostly the user's own names, sometimes ours (reinvocation, restored Pods, clashes). */
const volumeNameArb = fc.oneof(
  { arbitrary: fc.constantFrom("data", "config", "scratch"), weight: 3 },
  { arbitrary: fc.constantFrom(STORE, CUSTOM), weight: 1 },
);
/** Mostly unrelated paths, sometimes ours or overlapping ours (inside, above, trailing slash). */
const mountPathArb = fc.oneof(
  {
    arbitrary: fc.constantFrom("/data", "/tmp", "/etc/ssl/custom-ca2", "/var/run/app"),
    weight: 10,
  },
  {
    arbitrary: fc.constantFrom(
      "/etc/ssl/certs",
      "/etc/ssl/certs/",
      "/etc/ssl/custom-ca",
      "/etc/ssl",
      "/etc/ssl/certs/ca.pem",
    ),
    weight: 1,
  },
);
const mountArb: fc.Arbitrary<Mount> = fc.record(
  { name: volumeNameArb, mountPath: mountPathArb, readOnly: fc.boolean() },
  { requiredKeys: ["name", "mountPath"] },
);
const envNameArb = fc.oneof(
  fc.constantFrom(
    "AWS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "CURL_CA_BUNDLE",
    "PATH",
  ),
  fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,6}$/),
);
const envArb: fc.Arbitrary<Env> = fc.oneof(
  fc.record({ name: envNameArb, value: fc.string({ maxLength: 8 }) }),
  fc.record({
    name: envNameArb,
    valueFrom: fc.constant({ configMapKeyRef: { name: "settings", key: "ca" } }),
  }),
);
const containerArb: fc.Arbitrary<Container> = fc.record(
  {
    name: fc.constantFrom("app", "sidecar", "worker", "proxy", "migrate", "log", INIT),
    image: fc.constant("registry.example/image:1"),
    volumeMounts: fc.uniqueArray(mountArb, {
      selector: (mount) => normalizeMountPath(mount.mountPath),
      maxLength: 3,
    }),
    env: fc.uniqueArray(envArb, { selector: (variable) => variable.name, maxLength: 5 }),
    restartPolicy: fc.constant("Always"),
  },
  { requiredKeys: ["name", "image"] },
);
const containersArb = (minLength: number) =>
  fc.uniqueArray(containerArb, {
    selector: (container) => container.name,
    minLength,
    maxLength: 4,
  });
/** Volumes with our names are usually ours (already injected), sometimes a clash. */
const volumeArb: fc.Arbitrary<Volume> = fc
  .record({ name: volumeNameArb, clash: fc.nat(4).map((n) => n === 0), other: fc.boolean() })
  .map(({ name, clash, other }): Volume => {
    if (name === STORE)
      return clash ? { name, hostPath: { path: "/srv" } } : { name, emptyDir: {} };
    if (name === CUSTOM) {
      if (!clash) return { name, configMap: { name: BUNDLE.configMapName } };
      return other ? { name, configMap: { name: "other" } } : { name, emptyDir: {} };
    }
    return other ? { name, emptyDir: {} } : { name, configMap: { name: "settings" } };
  });
const annotationKeyArb = fc.oneof(
  fc.constantFrom(INJECTED_ANNOTATION, "a~b", "x/y~1z", "~0", "/", "example.com/k~/"),
  fc.stringMatching(/^[a-z~/.]{1,8}$/),
);
const trustEnvArb = fc
  .subarray(["node", " Python ", "curl", "openssl", "java", ""])
  .map((names) => names.join(","));
const podArb: fc.Arbitrary<Pod> = fc
  .record({
    annotations: fc.option(
      fc.dictionary(annotationKeyArb, fc.string({ maxLength: 8 }), { maxKeys: 4 }),
      {
        nil: undefined,
      },
    ),
    trustEnv: fc.option(trustEnvArb, { nil: undefined }),
    spec: fc.record(
      {
        containers: containersArb(1),
        initContainers: containersArb(0),
        ephemeralContainers: containersArb(1),
        volumes: fc.uniqueArray(volumeArb, { selector: (volume) => volume.name, maxLength: 4 }),
      },
      { requiredKeys: ["containers"] },
    ),
  })
  .map(({ annotations, trustEnv, spec }) => {
    const metadata: Pod["metadata"] = { name: "generated" };
    if (annotations !== undefined || trustEnv !== undefined) {
      metadata.annotations = { ...annotations };
      if (trustEnv !== undefined) metadata.annotations["ca-trust.dev/trust-env"] = trustEnv;
    }
    return { apiVersion: "v1", kind: "Pod", metadata, spec };
  });

/**
 * A Pod we injected before that another webhook then changed (reinvocation): containers
 * appended, init containers appended or inserted before ours.
 */
const reinvokedPodArb: fc.Arbitrary<Pod> = fc
  .record({
    pod: podArb,
    containers: containersArb(0),
    initContainers: containersArb(0),
    before: fc.boolean(),
  })
  .map(({ pod, containers, initContainers, before }) => {
    const plan = planPodPatch(pod as unknown as KubeObject, SETTINGS, BUNDLE);
    if (plan.conflict !== undefined) return pod;
    const injected = jsonpatch.applyPatch(structuredClone(pod), plan.operations, true, false)
      .newDocument as Pod;
    const renamed = (list: Container[]) =>
      list.filter((c) => c.name !== INIT).map((c) => ({ ...c, name: `${c.name}-added` }));
    injected.spec.containers.push(...renamed(containers));
    const ours = injected.spec.initContainers ?? [];
    injected.spec.initContainers = before
      ? [...renamed(initContainers), ...ours]
      : [...ours, ...renamed(initContainers)];
    return injected;
  });

/** Whether the Pod uses one of our reserved names for something that is not ours. */
function hasReservedNameClash(pod: Pod): boolean {
  const volumeClash = (pod.spec.volumes ?? []).some(
    (volume) =>
      (volume.name === STORE && volume.emptyDir === undefined) ||
      (volume.name === CUSTOM &&
        (volume.configMap as { name?: string } | undefined)?.name !== BUNDLE.configMapName),
  );
  const initClash = (pod.spec.initContainers ?? []).some(
    (container) =>
      container.name === INIT && !(container.volumeMounts ?? []).some((m) => m.name === STORE),
  );
  return volumeClash || initClash;
}

/** Removes `holder[key]`'s appended items (or the whole list we added), checking they are ours. */
function stripAppended<T>(
  holder: Record<string, unknown>,
  key: string,
  before: readonly T[] | undefined,
  isOurs: (item: T) => boolean,
): void {
  const after = holder[key] as T[] | undefined;
  if (after === undefined) return;
  const added = after.slice(before?.length ?? 0);
  expect(added.every(isOurs)).toBe(true);
  if (before === undefined) delete holder[key];
  else holder[key] = after.slice(0, before.length);
}

const isOurMount = (mount: Mount) =>
  OUR_MOUNTS.some((ours) => ours.name === mount.name && ours.mountPath === mount.mountPath);
const isOurEnv = (variable: Env) =>
  variable.value !== undefined && OUR_ENV_VALUES.get(variable.name) === variable.value;

/** The patched Pod minus everything the plan may add; must equal the original Pod. */
function withoutOurAdditions(patched: Pod, original: Pod): Pod {
  const result = structuredClone(patched);
  const spec = result.spec as unknown as Record<string, unknown>;
  stripAppended<Volume>(
    spec,
    "volumes",
    original.spec.volumes,
    (v) => v.name === STORE || v.name === CUSTOM,
  );
  if (!(original.spec.initContainers ?? []).some((c) => c.name === INIT)) {
    expect(result.spec.initContainers?.[0]?.name).toBe(INIT);
    result.spec.initContainers?.shift();
    if (original.spec.initContainers === undefined) {
      expect(result.spec.initContainers).toEqual([]);
      delete result.spec.initContainers;
    }
  }
  for (const field of ["initContainers", "containers"] as const) {
    (result.spec[field] ?? []).forEach((container, index) => {
      const before = original.spec[field]?.[index];
      const holder = container as unknown as Record<string, unknown>;
      stripAppended(holder, "volumeMounts", before?.volumeMounts, isOurMount);
      stripAppended(holder, "env", before?.env, isOurEnv);
    });
  }
  const annotations = result.metadata.annotations ?? {};
  expect(annotations[INJECTED_ANNOTATION]).toBe(MARKER);
  delete annotations[INJECTED_ANNOTATION];
  if (original.metadata.annotations === undefined) {
    expect(annotations).toEqual({});
    delete result.metadata.annotations;
  }
  return result;
}

function labelOf(kind: string, container: Container): string {
  return `${kind} "${container.name}"`;
}

describe("planPodPatch over generated Pods", () => {
  it("applies with validation, keeps every user field, and is idempotent", () => {
    const seen = {
      conflict: 0,
      patched: 0,
      clean: 0,
      leftAlone: 0,
      runsBeforeOurs: 0,
      escapedKey: 0,
      reinvoked: 0,
    };
    fc.assert(
      fc.property(fc.oneof(podArb, reinvokedPodArb), (pod) => {
        const original = structuredClone(pod);
        const plan = planPodPatch(pod as unknown as KubeObject, SETTINGS, BUNDLE);
        expect(pod).toEqual(original);

        if (plan.conflict !== undefined) {
          seen.conflict++;
          expect(plan.operations).toEqual([]);
          expect(hasReservedNameClash(original)).toBe(true);
          return;
        }
        expect(hasReservedNameClash(original)).toBe(false);
        seen.patched++;
        if (plan.warnings.length === 0) seen.clean++;
        if (plan.warnings.some((w) => w.includes("CA not injected"))) seen.leftAlone++;
        if (plan.warnings.some((w) => w.includes(" runs before "))) seen.runsBeforeOurs++;
        if (Object.keys(original.metadata.annotations ?? {}).some((k) => /[~/]/.test(k))) {
          seen.escapedKey++;
        }
        if ((original.spec.initContainers ?? []).some((c) => c.name === INIT)) seen.reinvoked++;

        // Throws on an invalid operation (missing parent, bad index) when validating.
        const patched = jsonpatch.applyPatch(structuredClone(pod), plan.operations, true, false)
          .newDocument as Pod;

        const hadOurInit = (original.spec.initContainers ?? []).some((c) => c.name === INIT);
        const initContainers = patched.spec.initContainers ?? [];
        if (!hadOurInit) {
          expect(initContainers[0]?.name).toBe(INIT);
          expect(initContainers[0]?.securityContext).toEqual({
            allowPrivilegeEscalation: false,
            capabilities: { drop: ["ALL"] },
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            runAsUser: 65534,
            seccompProfile: { type: "RuntimeDefault" },
          });
        }

        const ourIndex = initContainers.findIndex((c) => c.name === INIT);
        const checked: [string, Container][] = [
          ...initContainers
            .filter((_, index) => index !== ourIndex)
            .map((c): [string, Container] => ["init container", c]),
          ...patched.spec.containers.map((c): [string, Container] => ["container", c]),
        ];
        for (const [kind, container] of checked) {
          const paths = (container.volumeMounts ?? []).map((m) => normalizeMountPath(m.mountPath));
          expect(new Set(paths).size).toBe(paths.length);
          const names = (container.env ?? []).map((v) => v.name);
          expect(new Set(names).size).toBe(names.length);
          expect(names.filter((name) => name === "AWS_CA_BUNDLE").length).toBeLessThanOrEqual(1);
          const leftAlone = plan.warnings.some((w) => w.startsWith(labelOf(kind, container)));
          if (!leftAlone) {
            for (const ours of OUR_MOUNTS) {
              const mounted = (container.volumeMounts ?? []).some(
                (m) => m.name === ours.name && normalizeMountPath(m.mountPath) === ours.mountPath,
              );
              expect(mounted).toBe(true);
            }
            expect(names).toContain("AWS_CA_BUNDLE");
          }
        }

        expect(patched.spec.ephemeralContainers).toEqual(original.spec.ephemeralContainers);
        const expected = structuredClone(original);
        delete expected.metadata.annotations?.[INJECTED_ANNOTATION];
        expect(withoutOurAdditions(patched, original)).toEqual(expected);

        const again = planPodPatch(patched as unknown as KubeObject, SETTINGS, BUNDLE);
        expect(again).toEqual({ operations: [], warnings: plan.warnings });
      }),
      { numRuns: 400 },
    );
    // The generator reaches every case it is meant to (each is expected many times per run).
    for (const count of Object.values(seen)) expect(count).toBeGreaterThan(0);
  });
});

describe("planPodPatch with the projected ClusterTrustBundle source (property)", () => {
  const SELECTIONS = [
    { name: "corp-roots" },
    { signerName: "example.com/corp-roots", labelSelector: {} },
    {
      signerName: "example.com/corp-roots",
      labelSelector: { matchLabels: { "trust.example.com/audience": "internal" } },
    },
  ] as const;

  it("adds the projected volume (never a ConfigMap one), applies, and planning again adds nothing", () => {
    let patched = 0;
    fc.assert(
      fc.property(podArb, fc.constantFrom(...SELECTIONS), (pod, clusterTrustBundle) => {
        const ref = { clusterTrustBundle, sha256: BUNDLE.sha256 };
        const plan = planPodPatch(pod as unknown as KubeObject, SETTINGS, ref);
        // A CA volume of our name that is not this projected source (the generator makes
        // ConfigMap or emptyDir ones) is a conflict; so is any clash of the ConfigMap source.
        const customVolume = (pod.spec.volumes ?? []).some((v) => v.name === CUSTOM);
        if (customVolume || hasReservedNameClash(pod)) {
          expect(plan.conflict).toBeDefined();
          expect(plan.operations).toEqual([]);
          return;
        }
        expect(plan.conflict).toBeUndefined();
        patched++;
        const result = jsonpatch.applyPatch(structuredClone(pod), plan.operations, true, false)
          .newDocument as Pod;
        const volume = (result.spec.volumes ?? []).find((v) => v.name === CUSTOM);
        expect(volume?.configMap).toBeUndefined();
        const projected = volume?.projected as { sources: unknown[] } | undefined;
        const sources = projected?.sources;
        expect(sources).toEqual([
          {
            clusterTrustBundle: {
              ...clusterTrustBundle,
              path: SETTINGS.customCa.fileName,
            },
          },
        ]);
        const again = planPodPatch(result as unknown as KubeObject, SETTINGS, ref);
        expect(again).toEqual({ operations: [], warnings: plan.warnings });
      }),
      { numRuns: 200 },
    );
    expect(patched).toBeGreaterThan(0);
  });
});
