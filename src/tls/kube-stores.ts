/**
 * The self-managed mode's stores over @kubernetes/client-node: one named Secret in our
 * namespace (get, create, patch: no list or watch, so RBAC can limit it by resourceNames) and
 * our two webhook configurations by name (get, patch).
 *
 * Both writes are conditional on the resourceVersion that was read: a patch that carries
 * `metadata.resourceVersion` is an optimistic-lock update, and the apiserver answers 409
 * Conflict when the object changed since (k8s.io/apiserver handlers/patch.go; the same
 * precondition `kubectl replace` relies on).
 */
import {
  AdmissionregistrationV1Api,
  ApiException,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Secret,
} from "@kubernetes/client-node";
import { SECRET_ANNOTATIONS, SECRET_KEYS } from "./certificate-set.js";
import {
  type SecretContent,
  type SecretStore,
  StoreConflictError,
  type StoredSecret,
  type WebhookConfigStore,
  type WebhookConfigurationRef,
  type WebhookConfigurationSnapshot,
} from "./stores.js";

/** Label on the Secret we create, so operators can find what manages it. */
export const MANAGED_BY_LABEL = { "app.kubernetes.io/managed-by": "ca-trust-webhook" } as const;

/** The certificate Secret `namespace/name` through the API. */
export class KubeSecretStore implements SecretStore {
  private readonly core: CoreV1Api;

  constructor(
    kc: KubeConfig,
    private readonly namespace: string,
    private readonly name: string,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  async get(): Promise<StoredSecret | undefined> {
    try {
      const secret = await this.core.readNamespacedSecret({
        namespace: this.namespace,
        name: this.name,
      });
      return stored(secret);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async create(content: SecretContent): Promise<StoredSecret> {
    try {
      const secret = await this.core.createNamespacedSecret({
        namespace: this.namespace,
        body: {
          apiVersion: "v1",
          kind: "Secret",
          metadata: {
            name: this.name,
            namespace: this.namespace,
            labels: { ...MANAGED_BY_LABEL },
            annotations: { ...content.annotations },
          },
          // Opaque: the only type our ValidatingAdmissionPolicy lets us create (never a
          // service-account-token). Earlier versions created kubernetes.io/tls; both are read.
          type: "Opaque",
          data: encode(content.data),
        },
      });
      return stored(secret);
    } catch (error) {
      if (statusOf(error) === 409) throw new StoreConflictError("AlreadyExists", this.what());
      throw error;
    }
  }

  async update(resourceVersion: string, content: SecretContent): Promise<StoredSecret> {
    // A JSON merge patch (RFC 7386) of our keys only: `null` removes a key, labels and other
    // annotations (Helm's, kubectl's) stay as they are.
    const data: Record<string, string | null> = {};
    for (const key of Object.values(SECRET_KEYS)) {
      const value = content.data[key];
      data[key] = value === undefined ? null : Buffer.from(value, "utf8").toString("base64");
    }
    const annotations: Record<string, string | null> = {};
    for (const key of Object.values(SECRET_ANNOTATIONS)) {
      annotations[key] = content.annotations[key] ?? null;
    }
    try {
      const secret = await this.core.patchNamespacedSecret(
        {
          namespace: this.namespace,
          name: this.name,
          body: { metadata: { resourceVersion, annotations }, data },
        },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      return stored(secret);
    } catch (error) {
      // 404: deleted since it was read; the caller re-reads and creates it again.
      const status = statusOf(error);
      if (status === 409 || status === 404) throw new StoreConflictError("Conflict", this.what());
      throw error;
    }
  }

  private what(): string {
    return `Secret ${this.namespace}/${this.name}`;
  }
}

/** Our Validating/MutatingWebhookConfigurations' caBundles through the API. */
export class KubeWebhookConfigStore implements WebhookConfigStore {
  private readonly api: AdmissionregistrationV1Api;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(AdmissionregistrationV1Api);
  }

  async get(ref: WebhookConfigurationRef): Promise<WebhookConfigurationSnapshot | undefined> {
    try {
      const object =
        ref.kind === "ValidatingWebhookConfiguration"
          ? await this.api.readValidatingWebhookConfiguration({ name: ref.name })
          : await this.api.readMutatingWebhookConfiguration({ name: ref.name });
      return snapshot(object);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async setCaBundle(
    ref: WebhookConfigurationRef,
    current: WebhookConfigurationSnapshot,
    caBundle: string,
  ): Promise<WebhookConfigurationSnapshot> {
    // RFC 6902: setting metadata.resourceVersion makes the update conditional; `add` sets the
    // member whether or not caBundle is present. Only the caBundles change.
    const value = Buffer.from(caBundle, "utf8").toString("base64");
    const body = [
      { op: "add", path: "/metadata/resourceVersion", value: current.resourceVersion },
      ...current.caBundles.map((_, i) => ({
        op: "add",
        path: `/webhooks/${i}/clientConfig/caBundle`,
        value,
      })),
    ];
    const options = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);
    try {
      const object =
        ref.kind === "ValidatingWebhookConfiguration"
          ? await this.api.patchValidatingWebhookConfiguration({ name: ref.name, body }, options)
          : await this.api.patchMutatingWebhookConfiguration({ name: ref.name, body }, options);
      return snapshot(object);
    } catch (error) {
      const status = statusOf(error);
      // 422: the JSON patch no longer fits (webhooks removed since the read): re-read.
      if (status === 409 || status === 404 || status === 422) {
        throw new StoreConflictError("Conflict", `${ref.kind} ${ref.name}`);
      }
      throw error;
    }
  }
}

function snapshot(object: {
  metadata?: { resourceVersion?: string };
  webhooks?: { clientConfig: { caBundle?: string } }[];
}): WebhookConfigurationSnapshot {
  return {
    resourceVersion: object.metadata?.resourceVersion ?? "",
    caBundles: (object.webhooks ?? []).map((w) =>
      Buffer.from(w.clientConfig.caBundle ?? "", "base64").toString("utf8"),
    ),
  };
}

function stored(secret: V1Secret): StoredSecret {
  const data: Record<string, string> = {};
  for (const [key, value] of Object.entries(secret.data ?? {})) {
    data[key] = Buffer.from(value, "base64").toString("utf8");
  }
  return {
    resourceVersion: secret.metadata?.resourceVersion ?? "",
    type: secret.type ?? "Opaque",
    data,
    annotations: { ...(secret.metadata?.annotations ?? {}) },
  };
}

function encode(data: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(data)) {
    out[key] = Buffer.from(value, "utf8").toString("base64");
  }
  return out;
}

function statusOf(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}
