/**
 * In-memory fakes of the self-managed mode's two stores, with the apiserver's optimistic
 * concurrency (409 on create of an existing object and on a write over a newer
 * resourceVersion), a stepped clock, and hooks that run before and after every write so a
 * test can check an invariant at every moment of a timeline.
 */
import {
  type SecretContent,
  type SecretStore,
  StoreConflictError,
  type StoredSecret,
  type WebhookConfigStore,
  type WebhookConfigurationRef,
  type WebhookConfigurationSnapshot,
} from "../../../src/tls/stores.js";

/** A clock that only moves when told to. */
export class SteppedClock {
  private t: number;
  constructor(start: Date) {
    this.t = start.getTime();
  }
  readonly now = (): Date => new Date(this.t);
  advance(ms: number): void {
    this.t += ms;
  }
}

/** Called before and after every write of either store. */
export type WriteObserver = (what: string) => void;

/** The versions all fakes of one "cluster" share, as etcd's revision is shared. */
export class Revisions {
  private n = 100;
  next(): string {
    this.n += 1;
    return String(this.n);
  }
}

/** One Secret, as the apiserver would keep it. */
export class MemorySecretStore implements SecretStore {
  private object: StoredSecret | undefined;
  /** Runs inside `create` before the existence check: lets a test slip in another replica. */
  beforeCreate: (() => Promise<void>) | undefined;
  /** Runs inside `update` before the version check. */
  beforeUpdate: (() => Promise<void>) | undefined;
  observer: WriteObserver = () => {};
  readonly log: { op: "create" | "update"; result: "ok" | "conflict" }[] = [];

  constructor(private readonly revisions = new Revisions()) {}

  async get(): Promise<StoredSecret | undefined> {
    return this.object === undefined ? undefined : clone(this.object);
  }

  async create(content: SecretContent): Promise<StoredSecret> {
    const hook = this.beforeCreate;
    this.beforeCreate = undefined;
    await hook?.();
    if (this.object !== undefined) {
      this.log.push({ op: "create", result: "conflict" });
      throw new StoreConflictError("AlreadyExists", "Secret");
    }
    return this.write("create", content);
  }

  async update(resourceVersion: string, content: SecretContent): Promise<StoredSecret> {
    const hook = this.beforeUpdate;
    this.beforeUpdate = undefined;
    await hook?.();
    if (this.object === undefined || this.object.resourceVersion !== resourceVersion) {
      this.log.push({ op: "update", result: "conflict" });
      throw new StoreConflictError("Conflict", "Secret");
    }
    return this.write("update", content);
  }

  /** The Secret as stored now (for observers, which cannot await). */
  peek(): StoredSecret | undefined {
    return this.object === undefined ? undefined : clone(this.object);
  }

  /**
   * Someone else's edit (kubectl, or an attacker who may write Secrets in our namespace):
   * replaces the data (and, for a Secret that did not exist, sets its type), bumps the version.
   */
  tamper(data: Record<string, string>, type = this.object?.type ?? "Opaque"): void {
    this.object = {
      resourceVersion: this.revisions.next(),
      type,
      data,
      annotations: this.object?.annotations ?? {},
    };
  }

  private write(op: "create" | "update", content: SecretContent): StoredSecret {
    this.observer(`before secret ${op}`);
    this.object = {
      resourceVersion: this.revisions.next(),
      type: this.object?.type ?? "Opaque",
      data: { ...content.data },
      annotations: { ...content.annotations },
    };
    this.log.push({ op, result: "ok" });
    this.observer(`after secret ${op}`);
    return clone(this.object);
  }
}

/** Webhook configurations by kind/name, each with some webhooks. */
export class MemoryWebhookConfigStore implements WebhookConfigStore {
  private readonly objects = new Map<string, { resourceVersion: string; caBundles: string[] }>();
  observer: WriteObserver = () => {};
  /** Runs inside `setCaBundle` before the version check. */
  beforeWrite: (() => Promise<void>) | undefined;
  readonly writes: string[] = [];

  constructor(private readonly revisions = new Revisions()) {}

  /** Creates or overwrites a configuration (a registrar, Helm, a person). */
  put(ref: WebhookConfigurationRef, caBundles: string[]): void {
    this.objects.set(key(ref), {
      resourceVersion: this.revisions.next(),
      caBundles: [...caBundles],
    });
  }

  /** The caBundles as stored. */
  bundles(ref: WebhookConfigurationRef): readonly string[] | undefined {
    return this.objects.get(key(ref))?.caBundles;
  }

  /** Every caBundle of every configuration. */
  allBundles(): string[] {
    return [...this.objects.values()].flatMap((o) => o.caBundles);
  }

  async get(ref: WebhookConfigurationRef): Promise<WebhookConfigurationSnapshot | undefined> {
    const object = this.objects.get(key(ref));
    return object === undefined
      ? undefined
      : { resourceVersion: object.resourceVersion, caBundles: [...object.caBundles] };
  }

  async setCaBundle(
    ref: WebhookConfigurationRef,
    snapshot: WebhookConfigurationSnapshot,
    caBundle: string,
  ): Promise<WebhookConfigurationSnapshot> {
    const hook = this.beforeWrite;
    this.beforeWrite = undefined;
    await hook?.();
    const object = this.objects.get(key(ref));
    if (object === undefined || object.resourceVersion !== snapshot.resourceVersion) {
      throw new StoreConflictError("Conflict", key(ref));
    }
    this.observer(`before ${key(ref)} write`);
    const written = {
      resourceVersion: this.revisions.next(),
      caBundles: object.caBundles.map(() => caBundle),
    };
    this.objects.set(key(ref), written);
    this.writes.push(key(ref));
    this.observer(`after ${key(ref)} write`);
    return { resourceVersion: written.resourceVersion, caBundles: [...written.caBundles] };
  }
}

function key(ref: WebhookConfigurationRef): string {
  return `${ref.kind}/${ref.name}`;
}

function clone(secret: StoredSecret): StoredSecret {
  return {
    resourceVersion: secret.resourceVersion,
    type: secret.type,
    data: { ...secret.data },
    annotations: { ...secret.annotations },
  };
}
