import { matchesSelector } from "../core/selector.js";
import type { UserInfo } from "../core/types.js";
import type {
  Access,
  ClusterTrustBundleObject,
  ClusterTrustBundleSelection,
  ClusterView,
  ConfigMapObject,
  Lookup,
  ReadResource,
  SecretObject,
  TrustManagerAnswer,
  TrustManagerBundle,
} from "../core/view.js";

/** Where the feature flags live: one ConfigMap whose string values are "true" / "false". */
export interface FlagSource {
  namespace: string;
  name: string;
}

/**
 * A row of the access table of a MemoryClusterView: `user` (or any member of `group`) may get
 * `resource` in `namespace`, only the object `name` if it is given (RBAC's resourceNames).
 */
export interface AccessGrant {
  readonly user?: string;
  readonly group?: string;
  readonly resource: ReadResource;
  readonly namespace: string;
  readonly name?: string;
}

/**
 * A ClusterView over plain objects held in memory. Unit tests, the benchmark and the offline
 * `check` / `inject` commands decide against it; it answers exactly like the cached view.
 */
export class MemoryClusterView implements ClusterView {
  private readonly secrets = new Map<string, SecretObject>();
  private readonly configMaps = new Map<string, ConfigMapObject>();
  private readonly namespaces = new Map<string, Record<string, string>>();
  private readonly clusterTrustBundles = new Map<string, ClusterTrustBundleObject>();
  /** Undefined: trust-manager's API is not served. */
  private trustManager: Map<string, TrustManagerBundle> | undefined;
  /** Undefined: everyone may get everything (the offline commands read as the user). */
  private grants: AccessGrant[] | undefined;
  private accessFailure: string | undefined;
  /** Every access question asked, in order (for tests). */
  readonly accessQuestions: {
    user: UserInfo;
    resource: ReadResource;
    namespace: string;
    name: string;
  }[] = [];

  constructor(
    private readonly flags: FlagSource = {
      namespace: "connectors-system",
      name: "connectors-config",
    },
  ) {}

  addSecret(secret: SecretObject): this {
    this.secrets.set(key(secret.namespace, secret.name), secret);
    return this;
  }

  addConfigMap(configMap: ConfigMapObject): this {
    this.configMaps.set(key(configMap.namespace, configMap.name), configMap);
    return this;
  }

  addNamespace(name: string, labels: Record<string, string> = {}): this {
    this.namespaces.set(name, labels);
    return this;
  }

  addClusterTrustBundle(bundle: ClusterTrustBundleObject): this {
    this.clusterTrustBundles.set(bundle.name, bundle);
    return this;
  }

  deleteClusterTrustBundle(name: string): this {
    this.clusterTrustBundles.delete(name);
    return this;
  }

  /** trust-manager's API is served from now on (with no Bundle until one is added). */
  installTrustManager(): this {
    this.trustManager ??= new Map();
    return this;
  }

  /** Adds a trust-manager Bundle (and serves its API). */
  addTrustManagerBundle(bundle: TrustManagerBundle): this {
    this.installTrustManager().trustManager?.set(bundle.name, bundle);
    return this;
  }

  deleteSecret(namespace: string, name: string): this {
    this.secrets.delete(key(namespace, name));
    return this;
  }

  deleteConfigMap(namespace: string, name: string): this {
    this.configMaps.delete(key(namespace, name));
    return this;
  }

  async getSecret(namespace: string, name: string): Promise<Lookup<SecretObject>> {
    return lookup(this.secrets.get(key(namespace, name)));
  }

  async getConfigMap(namespace: string, name: string): Promise<Lookup<ConfigMapObject>> {
    return lookup(this.configMaps.get(key(namespace, name)));
  }

  async getClusterTrustBundles(
    selection: ClusterTrustBundleSelection,
  ): Promise<Lookup<readonly ClusterTrustBundleObject[]>> {
    if ("name" in selection) {
      const bundle = this.clusterTrustBundles.get(selection.name);
      return bundle === undefined ? { found: false } : { found: true, object: [bundle] };
    }
    const selected = [...this.clusterTrustBundles.values()]
      .filter(
        (b) =>
          b.signerName === selection.signerName &&
          matchesSelector(selection.labelSelector, b.labels ?? {}),
      )
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    return { found: true, object: selected };
  }

  async getTrustManagerBundle(name: string): Promise<Lookup<TrustManagerAnswer>> {
    if (this.trustManager === undefined) return { found: true, object: { installed: false } };
    return { found: true, object: { installed: true, bundle: this.trustManager.get(name) } };
  }

  namespaceLabels(name: string): Record<string, string> | undefined {
    return this.namespaces.get(name);
  }

  featureFlag(name: string): boolean {
    return this.configMaps.get(key(this.flags.namespace, this.flags.name))?.data?.[name] === "true";
  }

  /** From now on only these grants (and later ones) allow a `get`; everything else is denied. */
  restrictAccess(...grants: AccessGrant[]): this {
    this.grants = [...(this.grants ?? []), ...grants];
    return this;
  }

  /** Every access question answers "unavailable" with this reason (an API outage). */
  failAccessReviews(reason: string): this {
    this.accessFailure = reason;
    return this;
  }

  async mayGet(
    user: UserInfo,
    resource: ReadResource,
    namespace: string,
    name: string,
  ): Promise<Access> {
    this.accessQuestions.push({ user, resource, namespace, name });
    if (this.accessFailure !== undefined)
      return { allowed: false, unavailable: this.accessFailure };
    if (this.grants === undefined) return { allowed: true };
    const groups = user.groups ?? [];
    const granted = this.grants.some(
      (g) =>
        (g.user === undefined || g.user === user.username) &&
        (g.group === undefined || groups.includes(g.group)) &&
        g.resource === resource &&
        g.namespace === namespace &&
        (g.name === undefined || g.name === name),
    );
    return granted ? { allowed: true } : { allowed: false };
  }
}

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function lookup<T>(object: T | undefined): Lookup<T> {
  return object === undefined ? { found: false } : { found: true, object };
}
