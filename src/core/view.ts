/**
 * The read-only view of the cluster that `policy/` and `inject/` decide against. It is an
 * interface so that the pure core never imports the Kubernetes client: tests pass
 * `MemoryClusterView`, the server passes the informer-backed view from `kube/cluster.ts`.
 */

import type { LabelSelector } from "./selector.js";
import type { UserInfo } from "./types.js";

/** A Secret or ConfigMap as the decision needs it: name, namespace, labels and data. */
export interface SecretObject {
  namespace: string;
  name: string;
  labels?: Record<string, string>;
  /** Secret `type` (`kubernetes.io/tls`, `Opaque`...); absent means Opaque. */
  type?: string;
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

/** A ClusterTrustBundle (`certificates.k8s.io`) as injection needs it: cluster-scoped, public. */
export interface ClusterTrustBundleObject {
  name: string;
  labels?: Record<string, string>;
  /** `spec.signerName`; absent for a bundle not linked to a signer. */
  signerName?: string;
  /** `spec.trustBundle`: PEM CERTIFICATE blocks (the apiserver holds it to 1 MiB). */
  trustBundle: string;
  resourceVersion?: string;
}

/**
 * Which ClusterTrustBundles a Pod's `projected` volume selects, as its `clusterTrustBundle`
 * source does: one by name, or every bundle of a signer whose labels match (kubelet joins and
 * deduplicates them). `labelSelector` `{}` selects all bundles of the signer.
 */
export type ClusterTrustBundleSelection =
  | { readonly name: string }
  | { readonly signerName: string; readonly labelSelector: LabelSelector };

/**
 * A trust-manager Bundle (`trust.cert-manager.io/v1alpha1` Bundle, or its successor
 * `trust-manager.io/v1alpha2` ClusterBundle) as far as it explains a missing CA ConfigMap:
 * trust-manager writes a ConfigMap of the Bundle's name into every namespace its
 * `namespaceSelector` selects.
 */
export interface TrustManagerBundle {
  readonly kind: "Bundle" | "ClusterBundle";
  readonly name: string;
  /** `spec.target.namespaceSelector`: absent selects every namespace; "invalid" selects none. */
  readonly namespaceSelector: LabelSelector | undefined | "invalid";
  /** The ConfigMap keys it writes (`spec.target.configMap`); empty when it writes no ConfigMap. */
  readonly configMapKeys: readonly string[];
  /** Its `Synced` condition, if it has one: status and reason only (messages may name Secrets). */
  readonly synced?: { readonly status: string; readonly reason: string | undefined };
}

/** Whether trust-manager's API is served and, if so, the Bundle of that name (if any). */
export type TrustManagerAnswer =
  | { readonly installed: false }
  | { readonly installed: true; readonly bundle: TrustManagerBundle | undefined };

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

/**
 * How fresh a Secret must be: read by a request to the API started at or after `startedAfter`
 * (`performance.now()` of the process). A decision passes the moment it started, so that it
 * never rests on a read made before its request arrived.
 */
export interface Freshness {
  readonly startedAfter: number;
}

/** The resources the webhook reads on behalf of a request (plural, as RBAC names them). */
export type ReadResource = "secrets" | "configmaps";

export interface ClusterView {
  /**
   * A Secret by namespace and name, as it is now: the server reads it from the API for every
   * lookup (never a cached copy, found or not), sharing only a read already in flight that
   * started at or after `freshness.startedAfter` (any read in flight without it).
   */
  getSecret(namespace: string, name: string, freshness?: Freshness): Promise<Lookup<SecretObject>>;
  /** A ConfigMap by namespace and name (the CA ConfigMaps are watched; others are fetched). */
  getConfigMap(namespace: string, name: string): Promise<Lookup<ConfigMapObject>>;
  /**
   * The ClusterTrustBundles a selection selects. By name: not found when it does not exist. By
   * signer and labels: found, possibly empty (sorted by name).
   */
  getClusterTrustBundles(
    selection: ClusterTrustBundleSelection,
  ): Promise<Lookup<readonly ClusterTrustBundleObject[]>>;
  /**
   * trust-manager's Bundle (or ClusterBundle) of this name, asked only to explain a missing or
   * incomplete CA ConfigMap; `installed: false` when neither API is served.
   */
  getTrustManagerBundle(name: string): Promise<Lookup<TrustManagerAnswer>>;
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
