/**
 * The Pod injection planner: which RFC 6902 operations make an opted-in Pod trust the private
 * CA (docs/architecture.md "Injection"). Pure: no I/O, no logging, no clock. The route decides opt-in
 * (with `podOptIn`), resolves the ConfigMap (with `configMapNameFor`) and the bundle's hash,
 * then calls `planPodPatch` and turns the plan into a patch, a denial or an allow.
 *
 * The plan is built from explicit `add` operations, never a diff of the whole Pod (the Istio
 * lesson: diffing a Pod with thousands of env vars took seconds; reliability notes §2), and
 * every lookup is a Set or a single scan, so the work is linear in the size of the Pod.
 */

import { formatSelector } from "../core/selector.js";
import type { AddOperation, KubeObject } from "../core/types.js";
import type { ClusterTrustBundleSelection } from "../core/view.js";
import { isDns1123Subdomain } from "./names.js";
import { normalizeMountPath, pathsOverlap } from "./paths.js";
import { pointer } from "./pointer.js";
import { INSTALL_CA_CERT_SCRIPT, installScriptEnv } from "./script.js";
import {
  CONFIGMAP_ANNOTATION,
  type EnvVar,
  INJECT_LABEL,
  INJECT_LABEL_VALUES,
  INJECTED_ANNOTATION,
  type InjectionSettings,
  TRUST_ENV_ANNOTATION,
} from "./settings.js";

/**
 * The CA bundle being injected: where the custom CA volume takes it from (a ConfigMap in the
 * Pod's namespace, or ClusterTrustBundles through a `projected` volume) and its content hash.
 */
export type BundleRef =
  | {
      readonly configMapName: string;
      /** Lower-case hex SHA-256 of the CA bundle bytes, recorded in `ca-trust.dev/injected`. */
      readonly sha256: string;
    }
  | {
      readonly clusterTrustBundle: ClusterTrustBundleSelection;
      /** Lower-case hex SHA-256 of the selected bundles' content (inject/source.ts). */
      readonly sha256: string;
    };

/**
 * The result of planning. `operations` is empty when the Pod already carries every piece (or
 * has no containers). `conflict`, when set, says why the Pod cannot be injected without
 * breaking it; `operations` is then empty too and the route denies: never half-done.
 */
export interface PodPatchPlan {
  operations: AddOperation[];
  warnings: string[];
  conflict?: string;
}

/** How a Pod relates to injection, from its labels and its Namespace's labels. */
export type PodOptIn = "inject" | "opted-out" | "not-opted-in";

/** Kubernetes asks webhooks to keep each warning within 120 characters (admission/v1 types). */
export const MAX_WARNING_LENGTH = 120;

type JsonObject = Record<string, unknown>;

/** A list field as found on the wire: absent (or null), a list, or something else. */
type ListField =
  | { readonly kind: "absent" }
  | { readonly kind: "list"; readonly items: readonly unknown[] }
  | { readonly kind: "invalid" };

/** One of our two mounts, as wanted in every application container. */
interface MountTarget {
  readonly volumeName: string;
  readonly mountPath: string;
  /** `mountPath` normalized, for comparison. */
  readonly comparable: string;
}

/** One of our two volumes, and how to recognise an existing volume of that name as ours. */
interface OurVolume {
  readonly name: string;
  readonly volume: JsonObject;
  readonly isOurs: (volume: unknown) => boolean;
  /** What the volume should be, for the conflict message. */
  readonly description: string;
}

/**
 * Opt-in (docs/architecture.md "Injection"): the Pod label `ca-trust.dev/inject: "false"` always opts out;
 * otherwise the Pod label `"true"` or the Namespace label `enabled` opts in. Values are
 * compared exactly, as the webhook configuration's label selectors compare them.
 */
export function podOptIn(
  podLabels: Readonly<Record<string, string>> | undefined,
  namespaceLabels: Readonly<Record<string, string>> | undefined,
): PodOptIn {
  const podValue = podLabels?.[INJECT_LABEL];
  if (podValue === INJECT_LABEL_VALUES.podOptOut) return "opted-out";
  if (podValue === INJECT_LABEL_VALUES.podOptIn) return "inject";
  if (namespaceLabels?.[INJECT_LABEL] === INJECT_LABEL_VALUES.namespaceEnabled) return "inject";
  return "not-opted-in";
}

/** The CA ConfigMap a Pod asks for, or why its request is invalid (a field error to deny with). */
export type ConfigMapNameChoice =
  | { readonly ok: true; readonly name: string; readonly source: "default" | "annotation" }
  | {
      readonly ok: false;
      /** The offending field, `metadata.annotations[ca-trust.dev/configmap]`. */
      readonly field: string;
      /** A Kubernetes field error (`field: Invalid value: "x": reason`) to deny with. */
      readonly message: string;
    };

/**
 * The ConfigMap to inject: the `ca-trust.dev/configmap` annotation when present (a Pod may
 * pick another ConfigMap of its namespace), else the configured default. The annotation
 * must be a DNS-1123 subdomain, the syntax of ConfigMap names, so that it cannot smuggle a
 * path or a namespace; otherwise the result carries a field error for the route to deny with.
 */
export function configMapNameFor(
  pod: KubeObject,
  settings: InjectionSettings,
): ConfigMapNameChoice {
  const annotations = pod.metadata?.annotations;
  const value: unknown = isRecord(annotations) ? annotations[CONFIGMAP_ANNOTATION] : undefined;
  if (value === undefined) {
    return { ok: true, name: settings.customCa.configMapName, source: "default" };
  }
  if (typeof value === "string" && isDns1123Subdomain(value)) {
    return { ok: true, name: value, source: "annotation" };
  }
  const field = `metadata.annotations[${CONFIGMAP_ANNOTATION}]`;
  const shown = typeof value === "string" ? truncate(value, 64) : typeof value;
  return {
    ok: false,
    field,
    message: `${field}: Invalid value: ${JSON.stringify(shown)}: must be a DNS-1123 subdomain (a ConfigMap name)`,
  };
}

/**
 * Plans the operations that inject the CA into `pod` (the `object` of a Pod CREATE request).
 *
 * - Volumes: the store `emptyDir` and the CA ConfigMap volume (`items` limited to the key). A
 *   volume with one of our names but another source is a conflict.
 * - Init container: ours goes first, so that no other init container starts before the store
 *   exists. An existing init container with our name is ours if it mounts the store volume,
 *   else a conflict. Init containers placed before ours (another webhook inserting at index 0
 *   after us) are left alone with a warning: they would see an empty store.
 * - Every other container and init container (sidecars included; ephemeral containers never):
 *   both mounts, read-only, and the configured env plus the Pod's trust profiles. A container
 *   that already mounts something at, above or below one of our paths is left alone with a
 *   warning (our mount would hide its files, or need a mount point in its volume); an env var
 *   the container already sets, with any value or `valueFrom`, is kept. Note that explicit
 *   `env` wins over `envFrom` in Kubernetes, so a value set only through `envFrom` is shadowed.
 * - The annotation `ca-trust.dev/injected: sha256:<hex>` (an `add` that replaces an older value).
 *
 * Pods without containers and Windows Pods (a warning) get no operations.
 *
 * Idempotent by content: each piece is added only if missing, so planning the patched Pod again
 * yields no operations. Order is deterministic: volumes, our init container, init containers,
 * containers, annotation. Arrays or objects that are absent are added whole, because `/-` on a
 * missing array fails (RFC 6902 §4.1).
 */
export function planPodPatch(
  pod: KubeObject,
  settings: InjectionSettings,
  bundle: BundleRef,
): PodPatchPlan {
  const spec = pod.spec;
  if (!isRecord(spec)) return { operations: [], warnings: [] };
  const containers = readList(spec.containers);
  if (containers.kind !== "list" || containers.items.length === 0) {
    return { operations: [], warnings: [] };
  }
  if (isWindowsPod(spec)) {
    return {
      operations: [],
      warnings: [`${WINDOWS_FIELD}: Windows Pods are not injected; the trust store is Linux-only`],
    };
  }
  const volumes = readList(spec.volumes);
  if (volumes.kind === "invalid") return conflict("spec.volumes: Invalid value: must be a list");
  const initContainers = readList(spec.initContainers);
  if (initContainers.kind === "invalid") {
    return conflict("spec.initContainers: Invalid value: must be a list");
  }

  const wantedVolumes = ourVolumes(settings, bundle);
  const missingVolumes: JsonObject[] = [];
  for (const wanted of wantedVolumes) {
    const index = volumes.kind === "list" ? indexByName(volumes.items, wanted.name) : -1;
    if (index < 0) {
      missingVolumes.push(wanted.volume);
    } else if (!wanted.isOurs(volumes.kind === "list" ? volumes.items[index] : undefined)) {
      return conflict(
        `spec.volumes[${index}].name: Forbidden: "${wanted.name}" is reserved for CA trust injection, and this volume is not ${wanted.description}`,
      );
    }
  }

  const initName = settings.initContainer.name;
  const ourInitIndex =
    initContainers.kind === "list" ? indexByName(initContainers.items, initName) : -1;
  if (ourInitIndex >= 0 && initContainers.kind === "list") {
    const existing = initContainers.items[ourInitIndex];
    if (!mountsVolume(existing, settings.trustStore.volumeName)) {
      return conflict(
        `spec.initContainers[${ourInitIndex}].name: Forbidden: "${initName}" is reserved for CA trust injection, and this container does not mount volume "${settings.trustStore.volumeName}"`,
      );
    }
  }

  const operations: AddOperation[] = [];
  const warnings: string[] = [];
  const env = wantedEnv(pod, settings, warnings);
  const targets = mountTargets(settings);

  if (missingVolumes.length > 0) {
    if (volumes.kind === "absent") {
      operations.push(add(pointer("spec", "volumes"), missingVolumes));
    } else {
      for (const volume of missingVolumes)
        operations.push(add(pointer("spec", "volumes", "-"), volume));
    }
  }

  let shift = 0;
  if (ourInitIndex < 0) {
    const container = initContainerFor(settings);
    if (initContainers.kind === "absent") {
      operations.push(add(pointer("spec", "initContainers"), [container]));
    } else {
      operations.push(add(pointer("spec", "initContainers", 0), container));
      shift = 1;
    }
  }

  if (initContainers.kind === "list") {
    initContainers.items.forEach((container, index) => {
      if (index === ourInitIndex) return;
      const label = containerLabel("init container", "initContainers", container, index);
      if (index < ourInitIndex) {
        warnings.push(`${label} runs before ${initName}; CA not injected there`);
        return;
      }
      planContainer(
        container,
        ["spec", "initContainers", index + shift],
        label,
        targets,
        env,
        operations,
        warnings,
      );
    });
  }
  containers.items.forEach((container, index) => {
    const label = containerLabel("container", "containers", container, index);
    planContainer(
      container,
      ["spec", "containers", index],
      label,
      targets,
      env,
      operations,
      warnings,
    );
  });

  const marker = `sha256:${bundle.sha256}`;
  const metadata = pod.metadata;
  if (!isRecord(metadata)) {
    operations.push(add(pointer("metadata"), { annotations: { [INJECTED_ANNOTATION]: marker } }));
  } else if (!isRecord(metadata.annotations)) {
    operations.push(add(pointer("metadata", "annotations"), { [INJECTED_ANNOTATION]: marker }));
  } else if (metadata.annotations[INJECTED_ANNOTATION] !== marker) {
    operations.push(add(pointer("metadata", "annotations", INJECTED_ANNOTATION), marker));
  }

  return { operations, warnings: warnings.map(clampWarning) };
}

/**
 * Adds what one container lacks: our two mounts and the wanted env. `path` is the container's
 * pointer in the patched Pod (init container indices shifted past ours).
 */
function planContainer(
  container: unknown,
  path: readonly (string | number)[],
  label: string,
  targets: readonly MountTarget[],
  env: readonly EnvVar[],
  operations: AddOperation[],
  warnings: string[],
): void {
  if (!isRecord(container)) {
    warnings.push(`${label} is not an object; CA not injected there`);
    return;
  }
  const mounts = readList(container.volumeMounts);
  const variables = readList(container.env);
  if (mounts.kind === "invalid" || variables.kind === "invalid") {
    warnings.push(`${label} has invalid volumeMounts or env; CA not injected there`);
    return;
  }

  const mounted = new Set<string>();
  if (mounts.kind === "list") {
    for (const mount of mounts.items) {
      if (!isRecord(mount) || typeof mount.mountPath !== "string") continue;
      const comparable = normalizeMountPath(mount.mountPath);
      for (const target of targets) {
        if (!pathsOverlap(comparable, target.comparable)) continue;
        if (comparable === target.comparable && mount.name === target.volumeName) {
          mounted.add(target.comparable);
          continue;
        }
        warnings.push(`${label} already mounts ${mount.mountPath}; CA not injected there`);
        return;
      }
    }
  }

  const names = new Set<string>();
  if (variables.kind === "list") {
    for (const variable of variables.items) {
      if (isRecord(variable) && typeof variable.name === "string") names.add(variable.name);
    }
  }

  const missingMounts = targets
    .filter((target) => !mounted.has(target.comparable))
    .map((target) => ({ name: target.volumeName, mountPath: target.mountPath, readOnly: true }));
  const missingEnv = env
    .filter((variable) => !names.has(variable.name))
    .map((variable) => ({ name: variable.name, value: variable.value }));

  appendAll(operations, [...path, "volumeMounts"], mounts.kind === "absent", missingMounts);
  appendAll(operations, [...path, "env"], variables.kind === "absent", missingEnv);
}

/** Adds `items` to the list at `path`: the whole list when it is absent, else one `/-` each. */
function appendAll(
  operations: AddOperation[],
  path: readonly (string | number)[],
  absent: boolean,
  items: readonly JsonObject[],
): void {
  if (items.length === 0) return;
  if (absent) {
    operations.push(add(pointer(...path), [...items]));
    return;
  }
  for (const item of items) operations.push(add(pointer(...path, "-"), item));
}

/** Our two volumes: the store `emptyDir` first, then the custom CA (ConfigMap or projected). */
function ourVolumes(settings: InjectionSettings, bundle: BundleRef): OurVolume[] {
  const { trustStore } = settings;
  return [
    {
      name: trustStore.volumeName,
      volume: { name: trustStore.volumeName, emptyDir: { sizeLimit: trustStore.sizeLimit } },
      isOurs: (volume) => isRecord(volume) && isRecord(volume.emptyDir),
      description: "an emptyDir",
    },
    "configMapName" in bundle
      ? configMapVolume(settings, bundle.configMapName)
      : clusterTrustBundleVolume(settings, bundle.clusterTrustBundle),
  ];
}

function configMapVolume(settings: InjectionSettings, configMapName: string): OurVolume {
  const { customCa } = settings;
  return {
    name: customCa.volumeName,
    volume: {
      name: customCa.volumeName,
      configMap: {
        name: configMapName,
        items: [{ key: customCa.configMapKey, path: customCa.fileName }],
      },
    },
    // Ours if it projects the same ConfigMap; `items` are not compared, so that a Pod
    // injected with an older key setting is not denied on reinvocation.
    isOurs: (volume) =>
      isRecord(volume) && isRecord(volume.configMap) && volume.configMap.name === configMapName,
    description: `ConfigMap "${configMapName}"`,
  };
}

/**
 * The custom CA as a `projected` volume with one `clusterTrustBundle` source: kubelet writes
 * the selected bundles (joined, deduplicated) to `fileName`, and keeps it current. By signer,
 * `labelSelector` is always set: kubelet reads an absent one as "match nothing".
 */
function clusterTrustBundleVolume(
  settings: InjectionSettings,
  selection: ClusterTrustBundleSelection,
): OurVolume {
  const { customCa } = settings;
  const source: JsonObject =
    "name" in selection
      ? { name: selection.name, path: customCa.fileName }
      : {
          signerName: selection.signerName,
          labelSelector: {
            ...(selection.labelSelector.matchLabels
              ? { matchLabels: { ...selection.labelSelector.matchLabels } }
              : {}),
            ...(selection.labelSelector.matchExpressions
              ? {
                  matchExpressions: selection.labelSelector.matchExpressions.map((term) => ({
                    key: term.key,
                    operator: term.operator,
                    ...(term.values ? { values: [...term.values] } : {}),
                  })),
                }
              : {}),
          },
          path: customCa.fileName,
        };
  const described =
    "name" in selection
      ? `ClusterTrustBundle "${selection.name}"`
      : `ClusterTrustBundles of signer "${selection.signerName}"${
          formatSelector(selection.labelSelector) === ""
            ? ""
            : ` (${formatSelector(selection.labelSelector)})`
        }`;
  return {
    name: customCa.volumeName,
    volume: { name: customCa.volumeName, projected: { sources: [{ clusterTrustBundle: source }] } },
    // Ours if a projected source selects the same bundle(s) by name or signer; the label
    // selector and path are not compared, so that a reinvocation after a settings change is
    // not denied.
    isOurs: (volume) =>
      isRecord(volume) &&
      isRecord(volume.projected) &&
      Array.isArray(volume.projected.sources) &&
      volume.projected.sources.some((entry) => {
        const ctb = isRecord(entry) ? entry.clusterTrustBundle : undefined;
        if (!isRecord(ctb)) return false;
        return "name" in selection
          ? ctb.name === selection.name
          : ctb.signerName === selection.signerName;
      }),
    description: `a projected volume of ${described}`,
  };
}

/** Where the store and the custom CA are mounted in every application container. */
function mountTargets(settings: InjectionSettings): MountTarget[] {
  return [settings.trustStore, settings.customCa].map((volume) => ({
    volumeName: volume.volumeName,
    mountPath: volume.mountPath,
    comparable: normalizeMountPath(volume.mountPath),
  }));
}

/**
 * The `install-ca-cert` init container: restricted securityContext (PodSecurity `restricted`
 * needs runAsNonRoot, no privilege escalation, all capabilities dropped and a seccomp
 * profile), read-only root filesystem, the CA volume where apps see it and the store volume
 * at a separate output path. Fresh objects on every call: patch values must not alias settings.
 */
function initContainerFor(settings: InjectionSettings): JsonObject {
  const { initContainer, customCa, trustStore } = settings;
  const securityContext: JsonObject = {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
  };
  if (initContainer.runAsUser !== null) securityContext.runAsUser = initContainer.runAsUser;
  securityContext.seccompProfile = { type: "RuntimeDefault" };

  const resources: JsonObject = {};
  if (initContainer.resources.requests)
    resources.requests = { ...initContainer.resources.requests };
  if (initContainer.resources.limits) resources.limits = { ...initContainer.resources.limits };

  return {
    name: initContainer.name,
    image: initContainer.image,
    imagePullPolicy: initContainer.imagePullPolicy,
    command: ["sh", "-c", INSTALL_CA_CERT_SCRIPT],
    env: installScriptEnv(settings).map((variable) => ({ ...variable })),
    resources,
    securityContext,
    terminationMessagePolicy: "FallbackToLogsOnError",
    volumeMounts: [
      { name: customCa.volumeName, mountPath: customCa.mountPath, readOnly: true },
      { name: trustStore.volumeName, mountPath: initContainer.outputPath },
    ],
  };
}

/**
 * The env every container should have: the configured env, then each profile named in
 * `ca-trust.dev/trust-env` (comma-separated, whitespace and case tolerated), first value of a
 * name wins. Unknown profile names become one warning.
 */
function wantedEnv(pod: KubeObject, settings: InjectionSettings, warnings: string[]): EnvVar[] {
  const env: EnvVar[] = [];
  const seen = new Set<string>();
  const addEnv = (variables: readonly EnvVar[]): void => {
    for (const variable of variables) {
      if (seen.has(variable.name)) continue;
      seen.add(variable.name);
      env.push(variable);
    }
  };
  addEnv(settings.env);

  const annotations = pod.metadata?.annotations;
  const requested: unknown = isRecord(annotations) ? annotations[TRUST_ENV_ANNOTATION] : undefined;
  if (typeof requested !== "string") return env;
  const unknown = new Set<string>();
  for (const token of requested.split(",")) {
    const profile = token.trim().toLowerCase();
    if (profile === "") continue;
    if (Object.hasOwn(settings.trustProfiles, profile)) {
      addEnv(settings.trustProfiles[profile] ?? []);
    } else {
      unknown.add(profile);
    }
  }
  if (unknown.size > 0) {
    const names = [...unknown].map((name) => JSON.stringify(truncate(name, 20))).join(", ");
    const known = Object.keys(settings.trustProfiles).sort().join(", ");
    warnings.push(
      `metadata.annotations[${TRUST_ENV_ANNOTATION}]: unknown profile ${names} ignored; known: ${known}`,
    );
  }
  return env;
}

const WINDOWS_FIELD = "spec.os.name";

/**
 * Whether the Pod targets Windows nodes (`spec.os.name`, or the `kubernetes.io/os` node
 * selector of older manifests): our Linux paths and Alpine init image cannot work there, so
 * such a Pod is allowed unchanged with a warning rather than broken.
 */
function isWindowsPod(spec: JsonObject): boolean {
  const os = spec.os;
  const selector = spec.nodeSelector;
  return (
    (isRecord(os) && os.name === "windows") ||
    (isRecord(selector) && selector["kubernetes.io/os"] === "windows")
  );
}

function conflict(message: string): PodPatchPlan {
  return { operations: [], warnings: [], conflict: message };
}

function add(path: string, value: unknown): AddOperation {
  return { op: "add", path, value };
}

function containerLabel(kind: string, field: string, container: unknown, index: number): string {
  const name = isRecord(container) ? container.name : undefined;
  return typeof name === "string" && name !== ""
    ? `${kind} "${truncate(name, 63)}"`
    : `${field}[${index}]`;
}

function mountsVolume(container: unknown, volumeName: string): boolean {
  if (!isRecord(container)) return false;
  const mounts = readList(container.volumeMounts);
  return mounts.kind === "list" && indexByName(mounts.items, volumeName) >= 0;
}

function indexByName(items: readonly unknown[], name: string): number {
  return items.findIndex((item) => isRecord(item) && item.name === name);
}

function readList(value: unknown): ListField {
  if (value === undefined || value === null) return { kind: "absent" };
  return Array.isArray(value) ? { kind: "list", items: value } : { kind: "invalid" };
}

function isRecord(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Cuts `text` to `max` code points, marking the cut with an ellipsis. */
function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const points = Array.from(text);
  return points.length <= max ? text : `${points.slice(0, max - 1).join("")}…`;
}

/** Keeps a warning within `MAX_WARNING_LENGTH` (the apiserver truncates at 256). */
function clampWarning(warning: string): string {
  return truncate(warning, MAX_WARNING_LENGTH);
}
