/**
 * The two small storage interfaces of the self-managed certificate mode: the Secret that all
 * replicas share, and the caBundle of our own webhook configurations. `kube-stores.ts`
 * implements them with @kubernetes/client-node; unit tests use in-memory fakes.
 *
 * Both are optimistic-concurrency stores: every write names the `resourceVersion` it was
 * computed from, and a write over a newer version fails with {@link StoreConflictError} (the
 * apiserver's 409), so two replicas can never silently overwrite each other
 * (https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions).
 */

/** What the bootstrap keeps in its Secret: only its own data keys and annotations. */
export interface SecretContent {
  /** Data keys (decoded text, PEM) → value. */
  readonly data: Readonly<Record<string, string>>;
  /** Our annotations (timestamps of the rotation phases). */
  readonly annotations: Readonly<Record<string, string>>;
}

/** The Secret as read: its content and the version a conditional update must name. */
export interface StoredSecret extends SecretContent {
  readonly resourceVersion: string;
  /** The Secret's `type` (immutable once created); we create `Opaque`. */
  readonly type: string;
}

/**
 * The Secret of the certificate set, bound to one namespace and name. `update` replaces our
 * data keys and annotations (keys absent from `content` are removed) and leaves everything
 * else on the object alone.
 */
export interface SecretStore {
  /** `undefined` when the Secret does not exist. */
  get(): Promise<StoredSecret | undefined>;
  /** Creates it; throws {@link StoreConflictError} (`AlreadyExists`) when it exists. */
  create(content: SecretContent): Promise<StoredSecret>;
  /** Writes it if still at `resourceVersion`; else throws {@link StoreConflictError} (`Conflict`). */
  update(resourceVersion: string, content: SecretContent): Promise<StoredSecret>;
}

/** The two kinds of admission webhook configuration. */
export type WebhookConfigurationKind =
  | "ValidatingWebhookConfiguration"
  | "MutatingWebhookConfiguration";

/** One webhook configuration of ours, by kind and name. */
export interface WebhookConfigurationRef {
  readonly kind: WebhookConfigurationKind;
  readonly name: string;
}

/** What the bootstrap reads of a webhook configuration. */
export interface WebhookConfigurationSnapshot {
  readonly resourceVersion: string;
  /** `webhooks[i].clientConfig.caBundle`, decoded (PEM text); `""` where unset. */
  readonly caBundles: readonly string[];
}

/** The caBundle of our webhook configurations. */
export interface WebhookConfigStore {
  /** `undefined` when the configuration does not exist. */
  get(ref: WebhookConfigurationRef): Promise<WebhookConfigurationSnapshot | undefined>;
  /**
   * Sets `caBundle` (PEM text) on each of the `snapshot.caBundles.length` webhooks, if the
   * configuration is still at `snapshot.resourceVersion`; else throws
   * {@link StoreConflictError} (`Conflict`). Returns the configuration as stored.
   */
  setCaBundle(
    ref: WebhookConfigurationRef,
    snapshot: WebhookConfigurationSnapshot,
    caBundle: string,
  ): Promise<WebhookConfigurationSnapshot>;
}

/** HTTP 409 from the apiserver: the object exists (create) or changed since it was read. */
export class StoreConflictError extends Error {
  readonly code = "CTW_ERR_STORE_CONFLICT";
  constructor(
    readonly reason: "AlreadyExists" | "Conflict",
    what: string,
  ) {
    super(`${what}: ${reason}`);
    this.name = "StoreConflictError";
  }
}
