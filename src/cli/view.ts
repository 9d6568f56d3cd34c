/**
 * The cluster views the offline commands decide against: the objects found in the input (a
 * MemoryClusterView), the live cluster read on demand (`LiveClusterView`, GETs only), and the
 * two layered (`layeredView`: the input wins, the cluster fills in what the input lacks). The
 * decisions themselves are the webhook's own (`buildDecisions`); only where the answers come
 * from differs.
 */

import { LRUCache } from "lru-cache";
import type { KubeObject } from "../core/types.js";
import type {
  Access,
  ClusterTrustBundleObject,
  ClusterTrustBundleSelection,
  ClusterView,
  ConfigMapObject,
  Lookup,
  SecretObject,
  TrustManagerAnswer,
} from "../core/view.js";
import type { FlagSource, MemoryClusterView } from "../kube/memory.js";
import {
  CERTIFICATES_GROUP,
  CLUSTER_TRUST_BUNDLE_VERSIONS,
  CLUSTER_TRUST_BUNDLES,
  CTB_API_NOT_SERVED,
  clusterTrustBundleOf,
  selectionKey,
  selectorsFor,
  selectsBundle,
  TRUST_MANAGER_APIS,
  trustManagerBundleOf,
} from "../kube/trust-sources.js";
import { MAX_BUNDLE_BYTES } from "../pki/bundle.js";
import { KubeReadError, type KubeReader, paginate } from "./kube.js";

/**
 * The Connectors operator's CR that carries the feature flags (docs: "Configure Custom CA
 * Certificates", step 1). The operator copies `spec.components.core.spec.featureFlags` into
 * the flag ConfigMap, which is what the webhook (and the Connectors controller) read.
 */
export const CONNECTORS_CONFIG = {
  group: "operator.connectors.alauda.io",
  version: "v1alpha1",
  plural: "connectorsconfigs",
  kind: "ConnectorsConfig",
} as const;

/** Most feature flags read from a ConnectorsConfig (a real one has a handful). */
const MAX_CONNECTORS_FLAGS = 256;

/**
 * The feature flags a ConnectorsConfig sets (`spec.components.core.spec.featureFlags`), as the
 * flag ConfigMap will hold them: string values (`"true"`), a YAML boolean read as its text.
 * Undefined for any other object.
 */
export function connectorsConfigFlags(object: KubeObject): Record<string, string> | undefined {
  if (
    object.apiVersion !== `${CONNECTORS_CONFIG.group}/${CONNECTORS_CONFIG.version}` ||
    object.kind !== CONNECTORS_CONFIG.kind
  ) {
    return undefined;
  }
  const path = ["spec", "components", "core", "spec", "featureFlags"];
  let node: unknown = object;
  for (const step of path) node = record(node)[step];
  const flags: Record<string, string> = {};
  for (const [name, value] of Object.entries(record(node)).slice(0, MAX_CONNECTORS_FLAGS)) {
    if (typeof value === "string" || typeof value === "boolean") flags[name] = String(value);
  }
  return flags;
}

/** The label the apiserver puts on every Namespace (and webhook selectors use). */
const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

/** A Secret object (`data`, with `stringData` merged as the apiserver does) for a view. */
export function secretObject(object: KubeObject, namespace: string): SecretObject {
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(record(object.data))) if (typeof v === "string") data[k] = v;
  for (const [k, v] of Object.entries(record(object.stringData))) {
    if (typeof v === "string") data[k] = Buffer.from(v, "utf8").toString("base64");
  }
  return {
    namespace,
    name: object.metadata?.name ?? "",
    ...(object.metadata?.labels ? { labels: object.metadata.labels } : {}),
    ...(typeof object.type === "string" ? { type: object.type } : {}),
    data,
  };
}

/** A ConfigMap object for a view. */
export function configMapObject(object: KubeObject, namespace: string): ConfigMapObject {
  const strings = (value: unknown): Record<string, string> =>
    Object.fromEntries(
      Object.entries(record(value)).filter((e): e is [string, string] => typeof e[1] === "string"),
    );
  return {
    namespace,
    name: object.metadata?.name ?? "",
    ...(object.metadata?.labels ? { labels: object.metadata.labels } : {}),
    data: strings(object.data),
    binaryData: strings(object.binaryData),
  };
}

/** A Namespace's labels, with the name label the apiserver always sets. */
export function namespaceLabelsOf(object: KubeObject): Record<string, string> {
  const name = object.metadata?.name ?? "";
  return { ...(object.metadata?.labels ?? {}), [NAMESPACE_NAME_LABEL]: name };
}

/**
 * The live cluster, read on demand: Secrets and ConfigMaps are fetched with a GET when a
 * decision asks (cached for the run, bounded), while namespace labels and the feature-flag
 * ConfigMap must be loaded first (`loadNamespaces`, `loadFlags`) because the ClusterView asks
 * for them synchronously. Failed lookups are remembered in `errors`: a command reports them
 * and exits 2, whatever the verdicts.
 */
export class LiveClusterView implements ClusterView {
  private readonly namespaces = new Map<string, Record<string, string> | null>();
  private flags: Record<string, string> | undefined;
  /** One read per object for the run (answers are small promises; the count bounds them). */
  private readonly lookups = new LRUCache<string, Promise<Lookup<SecretObject | ConfigMapObject>>>({
    max: 4096,
  });
  private readonly reads = new Map<string, Promise<unknown>>();
  private ctbVersion: Promise<string | undefined> | undefined;
  /** Lookups the API could not answer (`Secret ns/name: HTTP 403`), in order. */
  readonly errors: string[] = [];

  constructor(
    private readonly reader: KubeReader,
    private readonly flagSource: FlagSource,
  ) {}

  /** Reads the labels of these namespaces (GET each), or of all of them (paginated LIST). */
  async loadNamespaces(names: Iterable<string> | "all", pageSize = 500): Promise<void> {
    if (names === "all") {
      for await (const ns of paginate((page) => this.reader.listNamespaces(page), pageSize)) {
        this.namespaces.set(ns.metadata?.name ?? "", namespaceLabelsOf(ns));
      }
      return;
    }
    for (const name of names) {
      if (this.namespaces.has(name)) continue;
      const ns = await this.reader.getNamespace(name);
      this.namespaces.set(name, ns === undefined ? null : namespaceLabelsOf(ns));
    }
  }

  /**
   * The flags of the cluster's ConnectorsConfig (the operator's singleton), when its API is
   * served and one exists; its name for messages. A ConnectorsConfig that cannot be read (no
   * `list` permission) is left out: the flag ConfigMap still answers.
   */
  async loadConnectorsConfig(): Promise<
    { readonly name: string; readonly flags: Record<string, string> } | undefined
  > {
    try {
      const resources = await this.reader.apiResources(
        CONNECTORS_CONFIG.group,
        CONNECTORS_CONFIG.version,
      );
      if (!resources?.some((r) => r.name === CONNECTORS_CONFIG.plural)) return undefined;
      const page = await this.reader.listCustom(
        { ...CONNECTORS_CONFIG, namespace: undefined },
        { limit: 10, continue: undefined },
      );
      for (const item of page?.items ?? []) {
        const flags = connectorsConfigFlags({
          ...item,
          apiVersion: `${CONNECTORS_CONFIG.group}/${CONNECTORS_CONFIG.version}`,
          kind: CONNECTORS_CONFIG.kind,
        });
        const name = `${item.metadata?.namespace ?? ""}/${item.metadata?.name ?? ""}`;
        if (flags !== undefined) return { name, flags };
      }
      return undefined;
    } catch (error) {
      if (error instanceof KubeReadError) return undefined;
      throw error;
    }
  }

  /** Reads the feature-flag ConfigMap (absent: every flag is off). */
  async loadFlags(): Promise<void> {
    const cm = await this.reader.getConfigMap(this.flagSource.namespace, this.flagSource.name);
    this.flags =
      cm === undefined ? {} : (configMapObject(cm, this.flagSource.namespace).data ?? {});
  }

  getSecret(namespace: string, name: string): Promise<Lookup<SecretObject>> {
    return this.lookup("Secret", namespace, name, () =>
      this.reader.getSecret(namespace, name),
    ) as Promise<Lookup<SecretObject>>;
  }

  getConfigMap(namespace: string, name: string): Promise<Lookup<ConfigMapObject>> {
    return this.lookup("ConfigMap", namespace, name, () =>
      this.reader.getConfigMap(namespace, name),
    ) as Promise<Lookup<ConfigMapObject>>;
  }

  namespaceLabels(name: string): Record<string, string> | undefined {
    return this.namespaces.get(name) ?? undefined;
  }

  /** The namespaces read by `loadNamespaces` that exist, in name order. */
  namespaceNames(): string[] {
    return [...this.namespaces]
      .filter(([, labels]) => labels !== null)
      .map(([name]) => name)
      .sort();
  }

  featureFlag(name: string): boolean {
    return this.flags?.[name] === "true";
  }

  /** ClusterTrustBundles (GET by name, or a paginated LIST by signer and labels). */
  getClusterTrustBundles(
    selection: ClusterTrustBundleSelection,
  ): Promise<Lookup<readonly ClusterTrustBundleObject[]>> {
    return this.once(`ctb/${selectionKey(selection)}`, async () => {
      const what = `ClusterTrustBundle ${"name" in selection ? selection.name : selectionKey(selection)}`;
      try {
        const version = await this.clusterTrustBundleVersion();
        if (version === undefined) {
          this.errors.push(`${what}: ${CTB_API_NOT_SERVED}`);
          return { found: false, unavailable: CTB_API_NOT_SERVED };
        }
        const resource = { group: CERTIFICATES_GROUP, version, plural: CLUSTER_TRUST_BUNDLES };
        const typed = (o: KubeObject) =>
          clusterTrustBundleOf({
            ...o,
            apiVersion: `${CERTIFICATES_GROUP}/${version}`,
            kind: "ClusterTrustBundle",
          });
        if ("name" in selection) {
          const object = await this.reader.getClusterCustom(resource, selection.name);
          const bundle = object === undefined ? undefined : typed(object);
          return bundle === undefined ? { found: false } : { found: true, object: [bundle] };
        }
        const bundles: ClusterTrustBundleObject[] = [];
        let bytes = 0;
        for await (const item of paginate(
          (page) =>
            this.reader.listCustom(
              { ...resource, namespace: undefined },
              page,
              selectorsFor(selection),
            ),
          10,
        )) {
          const bundle = typed(item);
          if (bundle === undefined || !selectsBundle(selection, bundle)) continue;
          bundles.push(bundle);
          // Bounded as the server's read: no further past what a CA bundle may hold (the
          // decision denies it as too large).
          bytes += bundle.trustBundle.length;
          if (bytes > MAX_BUNDLE_BYTES) break;
        }
        return { found: true, object: bundles.sort((a, b) => (a.name < b.name ? -1 : 1)) };
      } catch (error) {
        const reason = error instanceof KubeReadError ? error.message : String(error);
        this.errors.push(`${what}: ${reason}`);
        return { found: false, unavailable: reason };
      }
    });
  }

  /**
   * trust-manager's Bundle (else ClusterBundle) of this name. Only explains a denial, so a
   * failure (e.g. HTTP 403: you may not read Bundles) is not an error of the command: the
   * denial is then given without the explanation.
   */
  getTrustManagerBundle(name: string): Promise<Lookup<TrustManagerAnswer>> {
    return this.once(`trust-manager/${name}`, async () => {
      try {
        let installed = false;
        for (const api of TRUST_MANAGER_APIS) {
          const resources = await this.reader.apiResources(api.group, api.version);
          if (!resources?.some((r) => r.name === api.plural)) continue;
          installed = true;
          const object = await this.reader.getClusterCustom(api, name);
          const bundle =
            object === undefined
              ? undefined
              : trustManagerBundleOf({
                  ...object,
                  apiVersion: `${api.group}/${api.version}`,
                  kind: api.kind,
                });
          if (bundle !== undefined) return { found: true, object: { installed: true, bundle } };
        }
        const answer: TrustManagerAnswer = installed
          ? { installed: true, bundle: undefined }
          : { installed: false };
        return { found: true, object: answer };
      } catch (error) {
        return {
          found: false,
          unavailable: error instanceof KubeReadError ? error.message : String(error),
        };
      }
    });
  }

  private clusterTrustBundleVersion(): Promise<string | undefined> {
    this.ctbVersion ??= (async () => {
      for (const version of CLUSTER_TRUST_BUNDLE_VERSIONS) {
        const resources = await this.reader.apiResources(CERTIFICATES_GROUP, version);
        if (resources?.some((r) => r.name === CLUSTER_TRUST_BUNDLES)) return version;
      }
      return undefined;
    })();
    return this.ctbVersion;
  }

  /** One read per key for the run (a handful of keys: the configured selection, Bundle names). */
  private once<T>(key: string, read: () => Promise<T>): Promise<T> {
    let pending = this.reads.get(key) as Promise<T> | undefined;
    if (pending === undefined) {
      pending = read();
      this.reads.set(key, pending);
    }
    return pending;
  }

  /**
   * Always allowed: the command reads with the user's own credentials, so a Secret they may
   * not get fails the GET itself (HTTP 403, reported, exit 2) and is never shown.
   */
  async mayGet(): Promise<Access> {
    return { allowed: true };
  }

  private lookup(
    kind: "Secret" | "ConfigMap",
    namespace: string,
    name: string,
    get: () => Promise<KubeObject | undefined>,
  ): Promise<Lookup<SecretObject | ConfigMapObject>> {
    const key = `${kind}/${namespace}/${name}`;
    const cached = this.lookups.get(key);
    if (cached !== undefined) return cached;
    const pending = get().then(
      (object): Lookup<SecretObject | ConfigMapObject> =>
        object === undefined
          ? { found: false }
          : {
              found: true,
              object:
                kind === "Secret"
                  ? secretObject(object, namespace)
                  : configMapObject(object, namespace),
            },
      (error: unknown): Lookup<SecretObject | ConfigMapObject> => {
        const reason = error instanceof KubeReadError ? error.message : String(error);
        this.errors.push(`${kind} ${namespace}/${name}: ${reason}`);
        return { found: false, unavailable: reason };
      },
    );
    this.lookups.set(key, pending);
    return pending;
  }
}

/** How the layered view answers what neither the input nor the cluster knows. */
export interface LayeredViewOptions {
  readonly input: MemoryClusterView;
  /** Whether the input holds the flag ConfigMap (then it alone decides the flags). */
  readonly inputHasFlags: boolean;
  readonly cluster: LiveClusterView | undefined;
  /** `--feature-flag NAME=VALUE`: wins over the input and the cluster. */
  readonly flagOverrides: ReadonlyMap<string, boolean>;
  /**
   * Flags a ConnectorsConfig of the input sets: they win over the flag ConfigMaps (the operator
   * writes the ConfigMap from them). The cluster's ConnectorsConfig (`check --cluster`) wins
   * over the cluster's ConfigMap, and loses to anything in the input.
   */
  readonly connectorsConfigFlags?: {
    readonly input?: Readonly<Record<string, string>> | undefined;
    readonly cluster?: Readonly<Record<string, string>> | undefined;
  };
  /** Labels for a namespace found nowhere (`undefined`: unknown, as the webhook's cache says). */
  readonly unknownNamespace: (name: string) => Record<string, string> | undefined;
  /** A ConfigMap found nowhere (e.g. `inject --ca-bundle`), or undefined. */
  readonly fallbackConfigMap?: (namespace: string, name: string) => ConfigMapObject | undefined;
  /** ClusterTrustBundles found nowhere (e.g. `inject --ca-bundle`), or undefined. */
  readonly fallbackClusterTrustBundles?: (
    selection: ClusterTrustBundleSelection,
  ) => readonly ClusterTrustBundleObject[] | undefined;
}

/** The input first, then the cluster (if any), then the fallbacks. */
export function layeredView(options: LayeredViewOptions): ClusterView {
  const { input, cluster } = options;
  return {
    getSecret: async (namespace, name) => {
      const local = await input.getSecret(namespace, name);
      if (local.found || cluster === undefined) return local;
      return cluster.getSecret(namespace, name);
    },
    getConfigMap: async (namespace, name) => {
      const local = await input.getConfigMap(namespace, name);
      if (local.found) return local;
      const remote = cluster === undefined ? local : await cluster.getConfigMap(namespace, name);
      if (remote.found || remote.unavailable !== undefined) return remote;
      const fallback = options.fallbackConfigMap?.(namespace, name);
      return fallback === undefined ? remote : { found: true, object: fallback };
    },
    getClusterTrustBundles: async (selection) => {
      const local = await input.getClusterTrustBundles(selection);
      if (local.found && local.object.length > 0) return local;
      const remote =
        cluster === undefined ? local : await cluster.getClusterTrustBundles(selection);
      if (remote.found ? remote.object.length > 0 : remote.unavailable !== undefined) {
        return remote;
      }
      const fallback = options.fallbackClusterTrustBundles?.(selection);
      return fallback === undefined ? remote : { found: true, object: fallback };
    },
    getTrustManagerBundle: async (name) => {
      const local = await input.getTrustManagerBundle(name);
      if ((local.found && local.object.installed) || cluster === undefined) return local;
      return cluster.getTrustManagerBundle(name);
    },
    namespaceLabels: (name) =>
      input.namespaceLabels(name) ??
      cluster?.namespaceLabels(name) ??
      options.unknownNamespace(name),
    featureFlag: (name) => {
      const override = options.flagOverrides.get(name);
      if (override !== undefined) return override;
      const fromConnectorsConfig = (flags: Readonly<Record<string, string>> | undefined) =>
        flags !== undefined && Object.hasOwn(flags, name) ? flags[name] === "true" : undefined;
      const inputConfig = fromConnectorsConfig(options.connectorsConfigFlags?.input);
      if (inputConfig !== undefined) return inputConfig;
      if (options.inputHasFlags || cluster === undefined) return input.featureFlag(name);
      return (
        fromConnectorsConfig(options.connectorsConfigFlags?.cluster) ?? cluster.featureFlag(name)
      );
    },
    // The user runs the command as themself: what is in their input they have, and the
    // cluster is read with their own credentials (LiveClusterView).
    mayGet: async () => ({ allowed: true }),
  };
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}
