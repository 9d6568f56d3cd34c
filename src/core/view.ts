/**
 * The read-only view of the cluster that `policy/` and `inject/` decide against. It is an
 * interface so that the pure core never imports the Kubernetes client: tests pass
 * `MemoryClusterView`, the server passes the informer-backed view from `kube/cluster.ts`.
 */

import type { UserInfo } from "./types.js";

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

/**
 * The answer to "may this user `get` this object?" (a SubjectAccessReview). Like a `Lookup`,
 * `unavailable` means the API could not answer (never "denied"), `timedOut` that it did not
 * answer before the apiserver's deadline. A denial says nothing about whether the object exists:
 * authorization of a named object never depends on it.
 */
export type Access =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly unavailable?: string; readonly timedOut?: boolean };

/** The resources the webhook reads on behalf of a request (plural, as RBAC names them). */
export type ReadResource = "secrets" | "configmaps";

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
  /**
   * Whether `user` (the request's `userInfo`) may `get` the object `resource` `namespace/name`.
   * Asked before the webhook reads a Secret for a request, so that nobody learns through it
   * what they could not read themselves. The server answers with a SubjectAccessReview
   * (cached briefly, coalesced); the offline commands, which read with the user's own
   * credentials, answer "allowed".
   */
  mayGet(user: UserInfo, resource: ReadResource, namespace: string, name: string): Promise<Access>;
}
