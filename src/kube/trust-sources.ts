/**
 * The two CA distribution sources the webhook reads besides ConfigMaps, on the wire:
 *
 * - trust-manager (cert-manager project): `Bundle` (`trust.cert-manager.io/v1alpha1`) and its
 *   successor `ClusterBundle` (`trust-manager.io/v1alpha2`), both cluster-scoped. A Bundle
 *   writes a ConfigMap of its own name into every namespace its `namespaceSelector` selects;
 *   the webhook reads a Bundle only to explain a missing CA ConfigMap (one GET by name, on the
 *   denial path, cached briefly), so it needs `get` on them and nothing else.
 * - ClusterTrustBundle (`certificates.k8s.io`, `v1beta1` from Kubernetes 1.33, `v1alpha1`
 *   before): read when injection's source is `clustertrustbundle`.
 *
 * The converters are pure (they read untrusted objects: every field is checked);
 * `TrustSourceReader` makes the server's on-demand reads (discovery, GET, LIST) with
 * @kubernetes/client-node.
 */
import { CertificatesApi, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { formatSelector, matchesSelector, selectorOf } from "../core/selector.js";
import type { KubeObject } from "../core/types.js";
import type {
  ClusterTrustBundleObject,
  ClusterTrustBundleSelection,
  Lookup,
  TrustManagerAnswer,
  TrustManagerBundle,
} from "../core/view.js";
import { MAX_BUNDLE_BYTES } from "../pki/bundle.js";
import { KeepAliveAgents, keepAliveClient } from "./client.js";
import { LookupCache } from "./lookup-cache.js";

/** trust-manager's APIs, the one it reconciles first. */
export const TRUST_MANAGER_APIS = [
  { kind: "Bundle", group: "trust.cert-manager.io", version: "v1alpha1", plural: "bundles" },
  {
    kind: "ClusterBundle",
    group: "trust-manager.io",
    version: "v1alpha2",
    plural: "clusterbundles",
  },
] as const;

export const CERTIFICATES_GROUP = "certificates.k8s.io";
export const CLUSTER_TRUST_BUNDLES = "clustertrustbundles";
/** Served versions of ClusterTrustBundle, preferred first. */
export const CLUSTER_TRUST_BUNDLE_VERSIONS = ["v1beta1", "v1alpha1"] as const;

/** Why a ClusterTrustBundle read cannot be made: the API is off (it is by default). */
export const CTB_API_NOT_SERVED =
  "the certificates.k8s.io ClusterTrustBundle API is not served (enable certificates.k8s.io/v1beta1 and the ClusterTrustBundle feature gate)";

type JsonObject = Record<string, unknown>;

function record(value: unknown): JsonObject | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as JsonObject)
    : undefined;
}

/**
 * A Bundle or ClusterBundle object as the view describes it, or undefined when it is neither.
 * Bundle: `spec.target.configMap.key`. ClusterBundle: `spec.target.configMap.data[].key` of
 * the PEM entries (a PKCS#12 entry is binary, not a CA bundle for us).
 */
export function trustManagerBundleOf(object: KubeObject): TrustManagerBundle | undefined {
  const api = TRUST_MANAGER_APIS.find(
    (a) => object.kind === a.kind && object.apiVersion?.startsWith(`${a.group}/`),
  );
  const name = object.metadata?.name;
  if (api === undefined || typeof name !== "string") return undefined;
  const target = record(record(object.spec)?.target);
  const configMap = record(target?.configMap);
  const keys: string[] = [];
  if (api.kind === "Bundle") {
    if (typeof configMap?.key === "string") keys.push(configMap.key);
  } else if (Array.isArray(configMap?.data)) {
    for (const entry of configMap.data) {
      const e = record(entry);
      if (typeof e?.key === "string" && (e.format === undefined || e.format === "PEM")) {
        keys.push(e.key);
      }
    }
  }
  const conditions = record(object.status)?.conditions;
  const synced = Array.isArray(conditions)
    ? conditions.map(record).find((c) => c?.type === "Synced")
    : undefined;
  return {
    kind: api.kind,
    name,
    namespaceSelector: selectorOf(target?.namespaceSelector),
    configMapKeys: keys,
    ...(synced !== undefined && typeof synced.status === "string"
      ? {
          synced: {
            status: synced.status,
            reason: typeof synced.reason === "string" ? synced.reason.slice(0, 64) : undefined,
          },
        }
      : {}),
  };
}

/** A ClusterTrustBundle as the view describes it, or undefined when it is not one. */
export function clusterTrustBundleOf(object: KubeObject): ClusterTrustBundleObject | undefined {
  const name = object.metadata?.name;
  const spec = record(object.spec);
  if (object.kind !== "ClusterTrustBundle" || typeof name !== "string") return undefined;
  if (!object.apiVersion?.startsWith(`${CERTIFICATES_GROUP}/`)) return undefined;
  if (typeof spec?.trustBundle !== "string") return undefined;
  return {
    name,
    ...(object.metadata?.labels ? { labels: object.metadata.labels } : {}),
    ...(typeof spec.signerName === "string" && spec.signerName !== ""
      ? { signerName: spec.signerName }
      : {}),
    trustBundle: spec.trustBundle,
    ...(object.metadata?.resourceVersion
      ? { resourceVersion: object.metadata.resourceVersion }
      : {}),
  };
}

/** Whether `bundle` is one of those `selection` selects. */
export function selectsBundle(
  selection: ClusterTrustBundleSelection,
  bundle: ClusterTrustBundleObject,
): boolean {
  if ("name" in selection) return bundle.name === selection.name;
  return (
    bundle.signerName === selection.signerName &&
    matchesSelector(selection.labelSelector, bundle.labels ?? {})
  );
}

/**
 * The list/watch selectors that fetch exactly `selection` (what RBAC `resourceNames` can
 * restrict is the name field selector).
 */
export function selectorsFor(selection: ClusterTrustBundleSelection): {
  fieldSelector: string;
  labelSelector?: string;
} {
  if ("name" in selection) return { fieldSelector: `metadata.name=${selection.name}` };
  const labels = formatSelector(selection.labelSelector);
  return {
    fieldSelector: `spec.signerName=${selection.signerName}`,
    ...(labels === "" ? {} : { labelSelector: labels }),
  };
}

/** A key identifying a selection (for caches). */
export function selectionKey(selection: ClusterTrustBundleSelection): string {
  return "name" in selection
    ? `name=${selection.name}`
    : `signer=${selection.signerName};${formatSelector(selection.labelSelector)}`;
}

/** What TrustSourceReader needs to know about the API's answers. */
export interface ApiFailure {
  status: (error: unknown) => number | undefined;
  describe: (error: unknown) => string;
}

/**
 * A signer selection is read in pages of this many bundles (each at most 1 MiB, by the API),
 * and no further once the bundles read hold more than a CA bundle may (the decision then
 * denies it as too large): memory stays bounded whatever the signer's bundles hold.
 */
const BUNDLE_PAGE = 10;

/**
 * The server's on-demand reads of both sources: discovery (is the API served? kept 30 s), GETs
 * of trust-manager Bundles by name and of ClusterTrustBundles, LISTs of a signer's
 * ClusterTrustBundles. Answers are kept `ttlMs` (absence 1 s at most, failures not at all) and
 * concurrent identical reads share one request.
 */
export class TrustSourceReader {
  private readonly custom: CustomObjectsApi;
  private readonly certificates: CertificatesApi;
  private readonly cache = new LookupCache({ maxEntries: 1024, maxBytes: 16 * 1024 * 1024 });
  /** API requests made (not served from the cache), for tests. */
  apiRequests = 0;

  constructor(
    kc: KubeConfig,
    private readonly ttlMs: number,
    private readonly failure: ApiFailure,
    agents: KeepAliveAgents = new KeepAliveAgents(),
  ) {
    this.custom = keepAliveClient(kc, CustomObjectsApi, agents);
    this.certificates = keepAliveClient(kc, CertificatesApi, agents);
  }

  /** The served ClusterTrustBundle version, or undefined when none is. Throws on API errors. */
  clusterTrustBundleVersion(): Promise<string | undefined> {
    return this.remember("ctb-version", 30_000, async () => {
      const group = await this.request(() => this.certificates.getAPIGroup());
      const served = new Set((group.versions ?? []).map((v) => v.version));
      for (const version of CLUSTER_TRUST_BUNDLE_VERSIONS) {
        if (!served.has(version)) continue;
        if (await this.serves(CERTIFICATES_GROUP, version, CLUSTER_TRUST_BUNDLES)) return version;
      }
      return undefined;
    }).catch((error: unknown) => {
      if (this.failure.status(error) === 404) return undefined;
      throw error;
    });
  }

  /** ClusterTrustBundles of a selection, read live (the watch missed, or another selection). */
  getClusterTrustBundles(
    selection: ClusterTrustBundleSelection,
  ): Promise<Lookup<readonly ClusterTrustBundleObject[]>> {
    return this.lookup<readonly ClusterTrustBundleObject[]>(
      `ctb/${selectionKey(selection)}`,
      async () => {
        const version = await this.clusterTrustBundleVersion();
        if (version === undefined) return { found: false, unavailable: CTB_API_NOT_SERVED };
        const resource = { group: CERTIFICATES_GROUP, version, plural: CLUSTER_TRUST_BUNDLES };
        if ("name" in selection) {
          try {
            const object = (await this.request(() =>
              this.custom.getClusterCustomObject({ ...resource, name: selection.name }),
            )) as KubeObject;
            const bundle = clusterTrustBundleOf({ ...object, kind: "ClusterTrustBundle" });
            return bundle === undefined ? { found: false } : { found: true, object: [bundle] };
          } catch (error) {
            if (this.failure.status(error) === 404) return { found: false };
            throw error;
          }
        }
        const bundles: ClusterTrustBundleObject[] = [];
        let token: string | undefined;
        let bytes = 0;
        do {
          const page = (await this.request(() =>
            this.custom.listClusterCustomObject({
              ...resource,
              ...selectorsFor(selection),
              limit: BUNDLE_PAGE,
              ...(token ? { _continue: token } : {}),
            }),
          )) as { items?: KubeObject[]; metadata?: { continue?: string } };
          for (const item of page.items ?? []) {
            const bundle = clusterTrustBundleOf({
              ...item,
              apiVersion: `${CERTIFICATES_GROUP}/${version}`,
              kind: "ClusterTrustBundle",
            });
            // The API filtered already; checked again, as the cache is.
            if (bundle !== undefined && selectsBundle(selection, bundle)) {
              bundles.push(bundle);
              bytes += bundle.trustBundle.length;
            }
          }
          token = page.metadata?.continue || undefined;
        } while (token !== undefined && bytes <= MAX_BUNDLE_BYTES);
        return { found: true, object: bundles.sort((a, b) => (a.name < b.name ? -1 : 1)) };
      },
    );
  }

  /** trust-manager's Bundle (else ClusterBundle) of this name; whether its API is served. */
  getTrustManagerBundle(name: string): Promise<Lookup<TrustManagerAnswer>> {
    return this.lookup<TrustManagerAnswer>(`trust-manager/${name}`, async () => {
      let installed = false;
      for (const api of TRUST_MANAGER_APIS) {
        const served = await this.remember(`served/${api.plural}.${api.group}`, 30_000, () =>
          this.serves(api.group, api.version, api.plural),
        );
        if (!served) continue;
        installed = true;
        try {
          const object = (await this.request(() =>
            this.custom.getClusterCustomObject({
              group: api.group,
              version: api.version,
              plural: api.plural,
              name,
            }),
          )) as KubeObject;
          const bundle = trustManagerBundleOf({
            ...object,
            apiVersion: `${api.group}/${api.version}`,
            kind: api.kind,
          });
          if (bundle !== undefined) return { found: true, object: { installed: true, bundle } };
        } catch (error) {
          if (this.failure.status(error) !== 404) throw error;
        }
      }
      const answer: TrustManagerAnswer = installed
        ? { installed: true, bundle: undefined }
        : { installed: false };
      return { found: true, object: answer };
    });
  }

  /** Whether `group/version` serves `plural` (discovery; 404: not served). */
  private async serves(group: string, version: string, plural: string): Promise<boolean> {
    try {
      const list = await this.request(() => this.custom.getAPIResources({ group, version }));
      return list.resources.some((r) => r.name === plural);
    } catch (error) {
      if (this.failure.status(error) === 404) return false;
      throw error;
    }
  }

  private request<T>(call: () => Promise<T>): Promise<T> {
    this.apiRequests++;
    return call();
  }

  /** A value kept `ttlMs`, computed once for concurrent callers; failures are not kept. */
  private remember<T>(key: string, ttlMs: number, compute: () => Promise<T>): Promise<T> {
    return this.cache.get(key, { load: compute, ttlMs: () => ttlMs, bytes: () => 256 });
  }

  /**
   * A lookup: found answers kept `ttlMs`, "not found" 1 s at most, API failures not at all
   * (they become `unavailable`, and the next request asks again).
   */
  private lookup<T>(key: string, read: () => Promise<Lookup<T>>): Promise<Lookup<T>> {
    return this.cache.get(key, {
      load: () =>
        read().catch(
          (error: unknown): Lookup<T> => ({
            found: false,
            unavailable: this.failure.describe(error),
          }),
        ),
      // Absence (no bundle, none selected, no Bundle of that name) is kept 1 s at most: a Pod
      // created just after its bundle must see it.
      ttlMs: (answer) =>
        !answer.found && answer.unavailable !== undefined
          ? undefined
          : answer.found && !absent(answer.object)
            ? this.ttlMs
            : Math.min(this.ttlMs, 1_000),
      bytes: estimate,
    });
  }
}

function absent(value: unknown): boolean {
  if (Array.isArray(value)) return value.length === 0;
  const answer = value as TrustManagerAnswer;
  return answer.installed && answer.bundle === undefined;
}

function estimate(answer: Lookup<unknown>): number {
  if (!answer.found) return 64;
  const value = answer.object;
  if (Array.isArray(value)) {
    return (
      256 + value.reduce((n: number, b: ClusterTrustBundleObject) => n + b.trustBundle.length, 0)
    );
  }
  return 512;
}
