import type { ClusterView, ConfigMapObject, Lookup, SecretObject } from "../core/view.js";

/** Where the feature flags live: one ConfigMap whose string values are "true" / "false". */
export interface FlagSource {
  namespace: string;
  name: string;
}

/**
 * A ClusterView over plain objects held in memory. Unit tests, the benchmark and the offline
 * `check` / `inject` commands decide against it; it answers exactly like the cached view.
 */
export class MemoryClusterView implements ClusterView {
  private readonly secrets = new Map<string, SecretObject>();
  private readonly configMaps = new Map<string, ConfigMapObject>();
  private readonly namespaces = new Map<string, Record<string, string>>();

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

  namespaceLabels(name: string): Record<string, string> | undefined {
    return this.namespaces.get(name);
  }

  featureFlag(name: string): boolean {
    return this.configMaps.get(key(this.flags.namespace, this.flags.name))?.data?.[name] === "true";
  }
}

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function lookup<T>(object: T | undefined): Lookup<T> {
  return object === undefined ? { found: false } : { found: true, object };
}
