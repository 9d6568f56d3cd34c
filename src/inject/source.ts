/**
 * Where an injected Pod's CA comes from, resolved against the cluster view: the CA ConfigMap
 * in the Pod's namespace (written by hand or by trust-manager), or cluster-scoped
 * ClusterTrustBundles mounted through a `projected` volume. Either way the bytes get the same
 * PEM analysis (pki/bundle.ts) with the same messages, and their SHA-256 becomes the
 * `ca-trust.dev/injected` annotation. Pure: everything it knows comes from the view.
 *
 * What a denial may say: the CA ConfigMap is in the Pod's own namespace (whoever creates the
 * Pod may mount it anyway), ClusterTrustBundles are public by design (kubelet projects them
 * into any Pod that names them), and of a trust-manager Bundle only its existence, kind,
 * ConfigMap key(s), namespaceSelector and Synced condition status/reason are repeated:
 * cluster-wide configuration. Its sources (which name Secrets and ConfigMaps of trust-manager's
 * namespace) and its status messages are never repeated.
 */
import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";
import { formatSelector, matchesSelector, selectorOf } from "../core/selector.js";
import type { KubeObject } from "../core/types.js";
import type {
  ClusterTrustBundleObject,
  ClusterTrustBundleSelection,
  ClusterView,
  ConfigMapObject,
  TrustManagerBundle,
} from "../core/view.js";
import { analyseBundle, MAX_BUNDLE_BYTES } from "../pki/bundle.js";
import { type BundleRef, configMapNameFor } from "./pod.js";
import {
  CONFIGMAP_ANNOTATION,
  INJECT_LABEL,
  INJECT_LABEL_VALUES,
  type InjectionSettings,
} from "./settings.js";

/** What resolving needs of the injection policy. */
export interface SourcePolicy {
  readonly settings: InjectionSettings;
  readonly expiringWithinDays: number;
}

/** A CA bundle that can be injected, or why not (a denial, unless skip-and-warn). */
export type ResolvedBundle =
  | {
      readonly ok: true;
      readonly ref: BundleRef;
      /** The analysis' warnings, and notes about the Pod's request. */
      readonly warnings: readonly string[];
      /** What was injected, for the summary: `ca-trust-bundle`, `ClusterTrustBundle "x"`. */
      readonly label: string;
    }
  | {
      readonly ok: false;
      readonly code: number;
      readonly reason: string;
      readonly message: string;
    };

/** Resolves the CA of `pod` (in `namespace`, whose labels the view knows) per the settings. */
export async function resolveCaBundle(
  pod: KubeObject,
  namespace: string,
  policy: SourcePolicy,
  view: ClusterView,
  now: Date,
): Promise<ResolvedBundle> {
  const source = policy.settings.caSource;
  if (source?.kind === "clustertrustbundle") {
    return fromClusterTrustBundles(pod, source.selection, policy, view, now);
  }
  return fromConfigMap(pod, namespace, policy, view, now);
}

async function fromConfigMap(
  pod: KubeObject,
  namespace: string,
  policy: SourcePolicy,
  view: ClusterView,
  now: Date,
): Promise<ResolvedBundle> {
  const choice = configMapNameFor(pod, policy.settings);
  if (!choice.ok) return failure(422, "Invalid", choice.message);
  const key = policy.settings.customCa.configMapKey;
  const where = `ConfigMap ${namespace}/${choice.name}`;
  // No access question (ClusterView.mayGet) here: the CA ConfigMap is always in the Pod's own
  // namespace, and whoever may create the Pod may mount any ConfigMap there anyway, so what
  // the answer says about it (missing, its key, its certificates) tells them nothing new.
  const lookup = await view.getConfigMap(namespace, choice.name);
  if (!lookup.found) {
    if (lookup.unavailable !== undefined) {
      return failure(
        500,
        "InternalError",
        `could not read the CA ${where}${lookup.timedOut ? " in time" : ""}: ${lookup.unavailable}`,
      );
    }
    const hint = await trustManagerHint(view, namespace, choice.name, key, "missing");
    return failure(
      422,
      "Invalid",
      `the CA ${where} does not exist; ${hint ?? `create it with key "${key}"`} (the Pod would not start without it)`,
    );
  }
  const decoded = decodedBundle(lookup.object, key);
  if (decoded === undefined) {
    const hint = await trustManagerHint(view, namespace, choice.name, key, "no-key");
    return failure(422, "Invalid", `the CA ${where} has no key "${key}"${hint ? `; ${hint}` : ""}`);
  }
  const analysis = analyseBundle(decoded.bytes, {
    now,
    expiringWithinDays: policy.expiringWithinDays,
    sha256: decoded.sha256,
  });
  if (!analysis.ok) {
    const errors = analysis.findings.filter((f) => f.severity === "error").map((f) => f.message);
    return failure(
      422,
      "Invalid",
      `the CA ${where} key "${key}" is not a valid CA bundle: ${errors.join("; ")}`,
    );
  }
  return {
    ok: true,
    ref: { configMapName: choice.name, sha256: decoded.sha256 },
    warnings: analysis.findings
      .filter((f) => f.severity === "warning")
      .map((f) => `${where} key "${key}": ${f.message}`),
    label: choice.name,
  };
}

/**
 * A sentence about the trust-manager Bundle that should have written the missing (or
 * incomplete) CA ConfigMap, or undefined when trust-manager is not installed or could not be
 * asked (the plain message is then given: the Bundle lookup never decides, it only explains).
 */
async function trustManagerHint(
  view: ClusterView,
  namespace: string,
  name: string,
  key: string,
  situation: "missing" | "no-key",
): Promise<string | undefined> {
  const answer = await view.getTrustManagerBundle(name);
  if (!answer.found || !answer.object.installed) return undefined;
  const bundle = answer.object.bundle;
  if (bundle === undefined) {
    return situation === "missing"
      ? `no trust-manager Bundle "${name}" writes it: create that Bundle (target configMap key "${key}", namespaceSelector ${INJECT_LABEL}=${INJECT_LABEL_VALUES.namespaceEnabled}) or the ConfigMap with key "${key}"`
      : undefined;
  }
  const what = `trust-manager ${bundle.kind} "${bundle.name}"`;
  if (bundle.configMapKeys.length === 0) {
    return `${what} writes no ConfigMap (its spec.target has no configMap)`;
  }
  if (!bundle.configMapKeys.includes(key)) {
    const keys = bundle.configMapKeys.map((k) => `"${k}"`).join(", ");
    return `${what} writes key ${keys}, not "${key}": set its target key to "${key}"`;
  }
  const selected = selects(bundle, view.namespaceLabels(namespace));
  if (selected === false) {
    const selector =
      bundle.namespaceSelector === "invalid"
        ? "an invalid namespaceSelector"
        : `namespaceSelector "${formatSelector(bundle.namespaceSelector ?? {})}"`;
    return `${what} does not select namespace "${namespace}" (${selector}): label the namespace to match, or change the ${bundle.kind}`;
  }
  const synced =
    bundle.synced === undefined
      ? ""
      : ` (Synced ${bundle.synced.status}${bundle.synced.reason ? `: ${bundle.synced.reason}` : ""})`;
  const where = selected === true ? `selects namespace "${namespace}"` : "should write it";
  const what2 = situation === "missing" ? "the ConfigMap" : `key "${key}"`;
  return `${what} ${where} but has not written ${what2} yet${synced}; see kubectl describe ${bundle.kind.toLowerCase()} ${bundle.name}`;
}

/** Whether the Bundle selects the namespace; undefined when its labels are not known. */
function selects(
  bundle: TrustManagerBundle,
  labels: Record<string, string> | undefined,
): boolean | undefined {
  // trust-manager: an absent namespaceSelector selects every namespace.
  if (bundle.namespaceSelector === undefined) return true;
  if (bundle.namespaceSelector === "invalid") return false;
  if (labels === undefined) return undefined;
  return matchesSelector(bundle.namespaceSelector, labels);
}

async function fromClusterTrustBundles(
  pod: KubeObject,
  selection: ClusterTrustBundleSelection,
  policy: SourcePolicy,
  view: ClusterView,
  now: Date,
): Promise<ResolvedBundle> {
  const where = describeSelection(selection);
  const lookup = await view.getClusterTrustBundles(selection);
  if (!lookup.found) {
    if (lookup.unavailable !== undefined) {
      return failure(
        500,
        "InternalError",
        `could not read the CA ${where}${lookup.timedOut ? " in time" : ""}: ${lookup.unavailable}`,
      );
    }
    return failure(
      422,
      "Invalid",
      `the CA ${where} does not exist; create it (the Pod would not start without it)`,
    );
  }
  const bundles = sortByName(lookup.object);
  if (bundles.length === 0) {
    return failure(
      422,
      "Invalid",
      `no CA ClusterTrustBundle matches: ${where} selects none; create one with that signerName and labels (the Pod would not start without it)`,
    );
  }
  const total = bundles.reduce((sum, b) => sum + Buffer.byteLength(b.trustBundle, "utf8"), 0);
  if (total > MAX_BUNDLE_BYTES) {
    return failure(
      422,
      "Invalid",
      `the CA ${where} hold ${total} bytes together, over the ${MAX_BUNDLE_BYTES}-byte limit of a CA bundle`,
    );
  }
  const warnings: string[] = [];
  for (const bundle of bundles) {
    const analysis = analyseBundle(Buffer.from(bundle.trustBundle, "utf8"), {
      now,
      expiringWithinDays: policy.expiringWithinDays,
    });
    const name = `ClusterTrustBundle "${bundle.name}"`;
    if (!analysis.ok) {
      const errors = analysis.findings.filter((f) => f.severity === "error").map((f) => f.message);
      return failure(
        422,
        "Invalid",
        `the CA ${name} spec.trustBundle is not a valid CA bundle: ${errors.join("; ")}`,
      );
    }
    for (const f of analysis.findings) {
      if (f.severity === "warning") warnings.push(`${name}: ${f.message}`);
    }
  }
  if (pod.metadata?.annotations?.[CONFIGMAP_ANNOTATION] !== undefined) {
    warnings.push(
      `metadata.annotations[${CONFIGMAP_ANNOTATION}] ignored: this webhook injects ${where}`,
    );
  }
  return {
    ok: true,
    ref: { clusterTrustBundle: selection, sha256: clusterTrustBundleDigest(bundles) },
    warnings,
    label: where,
  };
}

/** Where an injected Pod's CA comes from: what its custom CA volume mounts. */
export type PodCaSource =
  | { readonly kind: "configmap"; readonly name: string }
  | { readonly kind: "clustertrustbundle"; readonly selection: ClusterTrustBundleSelection };

/**
 * The source a Pod was injected from, read from its custom CA volume (so a Pod keeps being
 * compared with its own source after the webhook's settings change); for a Pod without that
 * volume, what the settings would inject. Undefined when neither says (an invalid annotation).
 */
export function podCaSource(pod: KubeObject, settings: InjectionSettings): PodCaSource | undefined {
  const volumes = (pod.spec as { volumes?: unknown } | undefined)?.volumes;
  const volume = Array.isArray(volumes)
    ? (volumes as unknown[]).find(
        (v): v is Record<string, unknown> =>
          typeof v === "object" &&
          v !== null &&
          (v as { name?: unknown }).name === settings.customCa.volumeName,
      )
    : undefined;
  if (volume !== undefined) {
    const configMap = volume.configMap as { name?: unknown } | undefined;
    if (typeof configMap?.name === "string") return { kind: "configmap", name: configMap.name };
    const sources = (volume.projected as { sources?: unknown } | undefined)?.sources;
    for (const entry of Array.isArray(sources) ? sources : []) {
      const ctb = (entry as { clusterTrustBundle?: Record<string, unknown> } | null)
        ?.clusterTrustBundle;
      if (typeof ctb?.name === "string") {
        return { kind: "clustertrustbundle", selection: { name: ctb.name } };
      }
      const labelSelector = selectorOf(ctb?.labelSelector);
      if (
        typeof ctb?.signerName === "string" &&
        labelSelector !== undefined &&
        labelSelector !== "invalid"
      ) {
        return {
          kind: "clustertrustbundle",
          selection: { signerName: ctb.signerName, labelSelector },
        };
      }
    }
  }
  if (settings.caSource?.kind === "clustertrustbundle") {
    return { kind: "clustertrustbundle", selection: settings.caSource.selection };
  }
  const choice = configMapNameFor(pod, settings);
  return choice.ok ? { kind: "configmap", name: choice.name } : undefined;
}

/** `ClusterTrustBundle "x"`, or `ClusterTrustBundles of signer "s" (labels a=b)`. */
export function describeSelection(selection: ClusterTrustBundleSelection): string {
  if ("name" in selection) return `ClusterTrustBundle "${selection.name}"`;
  const labels = formatSelector(selection.labelSelector);
  return `ClusterTrustBundles of signer "${selection.signerName}"${labels === "" ? "" : ` with labels "${labels}"`}`;
}

/**
 * The hash recorded for ClusterTrustBundles: SHA-256 of their `spec.trustBundle` values in
 * name order, joined by a newline. One bundle hashes exactly like a ConfigMap with the same
 * PEM; any change to a selected bundle, or to which bundles are selected, changes it.
 */
export function clusterTrustBundleDigest(bundles: readonly ClusterTrustBundleObject[]): string {
  return bundleDigest(
    Buffer.from(
      sortByName(bundles)
        .map((b) => b.trustBundle)
        .join("\n"),
      "utf8",
    ),
  );
}

/** The CA bundle's bytes: the key's text as UTF-8, else its binaryData; undefined if absent. */
export function bundleBytes(configMap: ConfigMapObject, key: string): Buffer | undefined {
  const text = configMap.data?.[key];
  if (text !== undefined) return Buffer.from(text, "utf8");
  const binary = configMap.binaryData?.[key];
  return binary === undefined ? undefined : Buffer.from(binary, "base64");
}

/** A bundle value's bytes and their digest. */
interface DecodedBundle {
  readonly bytes: Buffer;
  readonly sha256: string;
}

/**
 * The bytes and digest of the bundle values injected lately, by value (`data` text and
 * `binaryData` base64 apart). Every Pod of a namespace injects the same value, which the watch
 * cache holds as one string: looking it up costs no copy and no hash of its content, where
 * decoding and hashing it again cost 3 % of a review's CPU. Bounded by entries and size.
 */
const DECODED = {
  text: decodedCache(),
  binary: decodedCache(),
};

function decodedCache(): LRUCache<string, DecodedBundle> {
  const maxSize = 16 * 1024 * 1024;
  return new LRUCache<string, DecodedBundle>({
    max: 64,
    maxSize,
    maxEntrySize: maxSize,
    sizeCalculation: (entry, value) => Math.max(1, value.length + entry.bytes.length),
  });
}

/** {@link bundleBytes} and {@link bundleDigest} of a CA ConfigMap's key, remembered by value. */
function decodedBundle(configMap: ConfigMapObject, key: string): DecodedBundle | undefined {
  const text = configMap.data?.[key];
  const binary = text === undefined ? configMap.binaryData?.[key] : undefined;
  const value = text ?? binary;
  if (value === undefined) return undefined;
  const cache = text !== undefined ? DECODED.text : DECODED.binary;
  const known = cache.get(value);
  if (known !== undefined) return known;
  const bytes = Buffer.from(value, text !== undefined ? "utf8" : "base64");
  const decoded = { bytes, sha256: bundleDigest(bytes) };
  cache.set(value, decoded);
  return decoded;
}

/** Hex SHA-256 of the bundle: what `ca-trust.dev/injected: sha256:<hex>` records. */
export function bundleDigest(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function sortByName(
  bundles: readonly ClusterTrustBundleObject[],
): readonly ClusterTrustBundleObject[] {
  return [...bundles].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function failure(code: number, reason: string, message: string): ResolvedBundle {
  return { ok: false, code, reason, message };
}
