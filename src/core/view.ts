/**
 * The read-only view of the cluster that `policy/` and `inject/` decide against. It is an
 * interface so that the pure core never imports the Kubernetes client: tests pass
 * `MemoryClusterView`, the server passes the informer-backed view from `kube/cluster.ts`.
 */

/** A Secret or ConfigMap as the decision needs it: name, namespace, labels and data. */
export interface SecretObject {
  namespace: string;
  name: string;
  labels?: Record<string, string>;
  /** Secret `data`: base64-encoded values, as on the wire. */
  data?: Record<string, string>;
  resourceVersion?: string;
}

export interface ConfigMapObject {
  namespace: string;
  name: string;
  labels?: Record<string, string>;
  data?: Record<string, string>;
  /** ConfigMap `binaryData`: base64-encoded values. */
  binaryData?: Record<string, string>;
  resourceVersion?: string;
}

/**
 * The outcome of a lookup. `unavailable` means the API could not answer (never "not found");
 * `timedOut` that it did not answer before the apiserver's deadline.
 */
export type Lookup<T> =
  | { readonly found: true; readonly object: T }
  | { readonly found: false; readonly unavailable?: string; readonly timedOut?: boolean };

export interface ClusterView {
  /** A Secret by namespace and name: cached briefly, fetched on demand, coalesced. */
  getSecret(namespace: string, name: string): Promise<Lookup<SecretObject>>;
  /** A ConfigMap by namespace and name (the CA ConfigMaps are watched; others are fetched). */
  getConfigMap(namespace: string, name: string): Promise<Lookup<ConfigMapObject>>;
  /** A namespace's labels from the metadata-only cache; `undefined` when it is unknown. */
  namespaceLabels(name: string): Record<string, string> | undefined;
  /**
   * A feature flag read at request time, e.g. `enable-custom-ca-certs` of the
   * `connectors-config` ConfigMap in the system namespace.
   */
  featureFlag(name: string): boolean;
}
