/**
 * Self-managed certificates (issue 6 part B): the server creates a
 * CA and a serving certificate, keeps them in a Secret of its namespace that every replica
 * shares, serves the certificate from memory, writes the caBundle into its own webhook
 * configurations, puts it back when someone else changes it (Helm upgrades do: Gatekeeper and
 * vault-k8s re-assert for the same reason) and rotates without a gap (rotation.ts has the
 * order and the reasons).
 *
 * Every `syncInterval` each replica runs one {@link SelfManagedCertificates.sync}:
 * 1. read the webhook configurations, THEN the Secret (fresh, never cached);
 * 2. create the Secret if absent (a 409 means another replica won: adopt its content), and
 *    apply the rotation steps that are due, each a write conditional on the resourceVersion;
 *    a conflict re-reads everything (another replica moved first). Only content this server
 *    would have issued under its settings is adopted (readCertificateSet): anything else,
 *    such as a CA planted by whoever may write Secrets in our namespace, is replaced before it
 *    is served or written into a caBundle, and reported as a security event;
 * 3. serve the Secret's serving certificate;
 * 4. write the caBundle the Secret calls for into every webhook that lacks it, conditional on
 *    the configuration's resourceVersion read in step 1;
 * 5. when the next CA is in every caBundle (as stored), stamp `ca-next-published-at`.
 * Reading the configuration before the Secret, and writing it only if unchanged since, means a
 * replica acting on an older Secret can never overwrite a bundle that a replica acting on a
 * newer Secret wrote after that newer Secret existed: every caBundle write is based on a Secret
 * at least as new as the last one that changed which CAs must be trusted.
 */

import type { Server as HttpsServer } from "node:https";
import type { SecureContextOptions } from "node:tls";
import type { KubeConfig } from "@kubernetes/client-node";
import { Counter, Gauge } from "prom-client";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { issueCertificate } from "../pki/issue.js";
import { serviceNames } from "./authority.js";
import {
  bundleFingerprints,
  type CertificateSet,
  type CertificateSetRead,
  caBundleOf,
  caFingerprintsOf,
  certificateSetContent,
  type Expectations,
  readCertificateSet,
} from "./certificate-set.js";
import { KubeSecretStore, KubeWebhookConfigStore } from "./kube-stores.js";
import type { ServingCertificate } from "./reloader.js";
import {
  applyRotationStep,
  phaseOf,
  planRotation,
  type RotationPhase,
  type RotationSettings,
  type RotationStep,
} from "./rotation.js";
import { type CertificateSource, MemoryCertificate } from "./serving.js";
import {
  type SecretContent,
  type SecretStore,
  StoreConflictError,
  type StoredSecret,
  type WebhookConfigStore,
  type WebhookConfigurationRef,
  type WebhookConfigurationSnapshot,
} from "./stores.js";

/** A source of the current time; tests pass a fixed or stepped one. */
export type Clock = () => Date;

/** Options of {@link SelfManagedCertificates}. */
export interface SelfManagedOptions {
  readonly secrets: SecretStore;
  readonly webhooks: WebhookConfigStore;
  /** Our webhook configurations; every webhook in each gets the caBundle. */
  readonly configurations: readonly WebhookConfigurationRef[];
  readonly settings: RotationSettings;
  /** How often the Secret and the configurations are read (re-assertion latency). */
  readonly syncIntervalMs: number;
  /** A sync still running after this long counts as failed; default max(10 s, 5 intervals). */
  readonly syncTimeoutMs?: number;
  readonly minVersion: "TLSv1.2" | "TLSv1.3";
  /** Mutual TLS: PEM CA that client certificates must chain to. */
  readonly clientCa?: string;
  readonly logger: Logger;
  /** Registers this mode's metrics on its registry, and sets the serving notAfter gauge. */
  readonly metrics?: Metrics;
  /** `namespace/name` of the Secret, for log lines. */
  readonly secretName: string;
  readonly clock?: Clock;
}

/** What one {@link SelfManagedCertificates.sync} did. */
export interface SyncOutcome {
  readonly ok: boolean;
  /** Rotation steps written to the Secret by this replica. */
  readonly steps: readonly RotationStep["action"][];
  /** Configurations whose caBundle this replica wrote. */
  readonly bundleWrites: readonly string[];
  readonly error?: string;
}

/** Secret types we adopt: ours (Opaque) and what earlier versions created. */
const ACCEPTED_SECRET_TYPES: readonly string[] = ["Opaque", "kubernetes.io/tls"];

interface CertificateMetrics {
  secretRefused: Counter<"key">;
  phase: Gauge<"phase">;
  caNotAfter: Gauge;
  secretWrites: Counter<"action" | "result">;
  bundleWrites: Counter<"configuration" | "reason">;
  syncErrors: Counter;
}

const PHASES: readonly RotationPhase[] = [
  "stable",
  "ca-next-added",
  "ca-next-published",
  "ca-promoted",
];

/** Conflicting writes retried within one sync before waiting for the next. */
const MAX_ATTEMPTS = 5;

/**
 * The self-managed certificate source. Until the first sync it serves a throwaway self-signed
 * placeholder (so the listeners can start while the API is away) and is not ready.
 */
export class SelfManagedCertificates implements CertificateSource {
  private readonly clock: Clock;
  private readonly metrics: CertificateMetrics | undefined;
  private servedFromSecret = false;
  /** Fingerprint of the CA that signed the certificate being served. */
  private servedCa: string | undefined;
  private set: CertificateSet | undefined;
  private lastPhase: RotationPhase | undefined;
  /** The caBundle this replica last computed, to tell a rotation from someone's overwrite. */
  private lastTarget: string | undefined;
  /** Configurations seen holding our caBundle (a later difference is an overwrite). */
  private readonly held = new Set<string>();
  /** Configurations as last read or written (undefined: not found). */
  private configurations = new Map<string, WebhookConfigurationSnapshot | undefined>();
  private lastSuccess: Date | undefined;
  /** The Secret version whose refused content was last reported (once per version). */
  private refusedVersion: string | undefined;
  private lastError: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SyncOutcome> | undefined;
  /** Incremented per sync; a sync that is no longer the latest stops acting. */
  private generation = 0;
  private readonly syncTimeoutMs: number;
  private stopped = false;

  private constructor(
    private readonly options: SelfManagedOptions,
    private readonly serving: MemoryCertificate,
  ) {
    this.clock = options.clock ?? (() => new Date());
    this.syncTimeoutMs = options.syncTimeoutMs ?? Math.max(10_000, 5 * options.syncIntervalMs);
    this.metrics = options.metrics === undefined ? undefined : registerMetrics(options.metrics);
  }

  /** Builds the source with its placeholder certificate (nothing is read or written yet). */
  static async create(options: SelfManagedOptions): Promise<SelfManagedCertificates> {
    const clock = options.clock ?? (() => new Date());
    const now = clock();
    const placeholder = await issueCertificate({
      commonName: "ca-trust-webhook-placeholder",
      notBefore: new Date(now.getTime() - 60_000),
      notAfter: new Date(now.getTime() + 86_400_000),
    });
    return new SelfManagedCertificates(
      options,
      new MemoryCertificate(placeholder.certificatePem, placeholder.privateKeyPem, {
        minVersion: options.minVersion,
        ...(options.clientCa === undefined ? {} : { clientCa: options.clientCa }),
        now: clock,
      }),
    );
  }

  secureContextOptions(): SecureContextOptions {
    return this.serving.secureContextOptions();
  }

  certificate(): ServingCertificate {
    return this.serving.certificate();
  }

  attach(server: HttpsServer): void {
    this.serving.attach(server);
  }

  /**
   * Readiness: a certificate from the Secret is served, its CA is in the caBundle of every
   * webhook of every configuration, and the last sync is recent enough (within the retire
   * delay) that a retirement of that CA would have been seen.
   */
  health(): { ok: boolean; reason?: string } {
    if (!this.servedFromSecret) {
      return {
        ok: false,
        reason: `serving certificate not issued yet${this.lastError ? ` (${this.lastError})` : ""}`,
      };
    }
    const now = this.clock();
    const served = this.serving.certificate();
    if (now > served.notAfter) return { ok: false, reason: "serving certificate expired" };
    // Not read for a whole retire delay: the CA we serve may have been retired meanwhile, so
    // "the caBundle holds our CA" can no longer be claimed.
    const staleAfter = Math.max(
      this.options.settings.retireDelayMs,
      3 * this.options.syncIntervalMs,
    );
    if (this.lastSuccess === undefined || now.getTime() - this.lastSuccess.getTime() > staleAfter) {
      return {
        ok: false,
        reason: `certificate Secret not read for over ${staleAfter} ms${this.lastError ? ` (${this.lastError})` : ""}`,
      };
    }
    for (const ref of this.options.configurations) {
      const snapshot = this.configurations.get(key(ref));
      if (snapshot === undefined) return { ok: false, reason: `${key(ref)} not found` };
      const missing = snapshot.caBundles.findIndex(
        (bundle) => !bundleFingerprints(bundle).has(this.servedCa ?? ""),
      );
      if (missing !== -1) {
        return { ok: false, reason: `${key(ref)} webhooks[${missing}] caBundle lacks our CA` };
      }
    }
    return { ok: true };
  }

  /** The caBundle (PEM) the Secret calls for; undefined before the first sync. */
  caBundle(): string | undefined {
    return this.set === undefined ? undefined : caBundleOf(this.set);
  }

  /** The rotation phase last read from the Secret. */
  phase(): RotationPhase | undefined {
    return this.lastPhase;
  }

  /** SHA-256 fingerprint of the CA that signed the served certificate (tests, logs). */
  servedCaFingerprint(): string | undefined {
    return this.servedCa;
  }

  /**
   * Runs the first sync (resolving after it, successful or not) and then one every
   * `syncIntervalMs` until {@link stop}.
   */
  async start(): Promise<SyncOutcome> {
    this.stopped = false;
    const first = await this.sync();
    this.schedule();
    return first;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.serving.detachAll();
  }

  /** One reconciliation (see the module comment). Concurrent calls share one run. */
  sync(): Promise<SyncOutcome> {
    this.running ??= this.syncOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.sync().finally(() => this.schedule());
    }, this.options.syncIntervalMs);
    this.timer.unref();
  }

  private async syncOnce(): Promise<SyncOutcome> {
    const steps: RotationStep["action"][] = [];
    const bundleWrites: string[] = [];
    // A request that never returns (a black-holed connection) must not stop the loop: after
    // the deadline this sync counts as failed and a newer one may start; the old one can no
    // longer serve or write a caBundle (generation check), and its Secret writes are
    // conditional anyway.
    const generation = ++this.generation;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`sync did not finish within ${this.syncTimeoutMs} ms`)),
        this.syncTimeoutMs,
      );
      timer.unref();
    });
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await Promise.race([this.reconcile(generation, steps, bundleWrites), deadline]);
          this.lastSuccess = this.clock();
          this.lastError = undefined;
          return { ok: true, steps, bundleWrites };
        } catch (error) {
          if (error instanceof StoreConflictError && attempt < MAX_ATTEMPTS) {
            this.options.logger.debug(
              { event: "conflict", what: error.message, attempt },
              "certificate sync: another writer was first; re-reading",
            );
            continue;
          }
          if (generation === this.generation) this.generation++; // supersede the stuck run
          const message = describe(error);
          this.metrics?.syncErrors.inc();
          // Once per distinct error: a lasting outage must not log every sync interval.
          const level = message === this.lastError ? "debug" : "warn";
          this.lastError = message;
          this.options.logger[level](
            { event: "sync-failed", error: message, attempt },
            "certificate sync failed; serving the last good certificate, retrying",
          );
          return { ok: false, steps, bundleWrites, error: message };
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Throws when a newer sync has started: this one's view is no longer the latest. */
  private current(generation: number): void {
    if (generation !== this.generation) throw new Error("superseded by a newer sync");
  }

  private async reconcile(
    generation: number,
    steps: RotationStep["action"][],
    bundleWrites: string[],
  ): Promise<void> {
    const { options } = this;
    const now = this.clock();

    // 1. Configurations first, then the Secret: the order the write protocol relies on.
    const configs = await Promise.all(
      options.configurations.map(async (ref) => ({
        ref,
        snapshot: await options.webhooks.get(ref),
      })),
    );
    let stored = await options.secrets.get();
    if (stored !== undefined) this.checkType(stored);
    const expect = this.expectations(now);
    let read = stored === undefined ? undefined : readCertificateSet(stored, expect);
    this.reportRefused(stored, read);

    // 2. Create, adopt, and apply the due rotation steps.
    const published = fingerprintsEverywhere(configs.map((c) => c.snapshot));
    for (let i = 0; i < 8; i++) {
      const step = planRotation(read, now, published, options.settings);
      if (step.action === "none") break;
      const next = await applyRotationStep(
        read?.ok ? read.set : undefined,
        step,
        now,
        options.settings,
      );
      this.current(generation);
      try {
        stored = await this.writeSecret(stored, certificateSetContent(next), step.action);
      } catch (error) {
        if (!(error instanceof StoreConflictError)) throw error;
        this.metrics?.secretWrites.inc({ action: step.action, result: "conflict" });
        if (step.action !== "create") throw error; // re-read the configurations too
        // Another replica created it first: adopt what it wrote.
        stored = await options.secrets.get();
        if (stored === undefined) throw error;
        this.checkType(stored);
        read = readCertificateSet(stored, expect);
        this.reportRefused(stored, read);
        options.logger.info(
          { event: "adopted", secret: options.secretName },
          "certificate Secret created by another replica; adopting it",
        );
        continue;
      }
      steps.push(step.action);
      read = readCertificateSet(stored, expect);
      if (read.ok) {
        this.logStep(step.action, "reason" in step ? step.reason : undefined, read.set);
        this.notePhase(read.set);
      }
    }
    if (stored === undefined || read === undefined || !read.ok) {
      throw new Error(
        `certificate Secret unusable after repair: ${read?.ok === false ? read.problem : "absent"}`,
      );
    }
    const set = read.set;
    this.set = set;
    this.notePhase(set);

    // 3. Serve the Secret's certificate.
    this.current(generation);
    this.serve(set);

    // 4. Write the caBundle wherever it differs.
    const target = caBundleOf(set);
    const previousTarget = this.lastTarget;
    this.lastTarget = target;
    const after: (WebhookConfigurationSnapshot | undefined)[] = [];
    for (const { ref, snapshot } of configs) {
      this.configurations.set(key(ref), snapshot);
      if (snapshot === undefined || snapshot.caBundles.every((b) => b === target)) {
        if (snapshot !== undefined) this.held.add(key(ref));
        after.push(snapshot);
        continue;
      }
      const reason = !this.held.has(key(ref))
        ? "initial"
        : snapshot.caBundles.every((b) => b === previousTarget)
          ? "rotation"
          : "reasserted";
      this.current(generation);
      const written = await options.webhooks.setCaBundle(ref, snapshot, target);
      this.configurations.set(key(ref), written);
      this.held.add(key(ref));
      after.push(written);
      bundleWrites.push(key(ref));
      this.metrics?.bundleWrites.inc({ configuration: key(ref), reason });
      const fields = {
        event: "cabundle-written",
        configuration: key(ref),
        webhooks: written.caBundles.length,
        reason,
        cas: caFingerprintsOf(set).map(short),
        phase: phaseOf(set),
      };
      if (reason === "reasserted") {
        options.logger.warn(fields, "caBundle was changed by someone else; wrote ours back");
      } else {
        options.logger.info(fields, "caBundle written");
      }
    }

    // 5. The next CA is in every caBundle as stored: from now on the publish delay runs.
    if (set.next !== undefined && set.nextPublishedAt === undefined) {
      const everywhere = fingerprintsEverywhere(after);
      if (everywhere === undefined || caFingerprintsOf(set).every((f) => everywhere.has(f))) {
        this.current(generation);
        // Stamped now, not at the start of this sync: the delay runs from the confirmation.
        const stamped: CertificateSet = { ...set, nextPublishedAt: this.clock() };
        stored = await this.writeSecret(stored, certificateSetContent(stamped), "publish-next-ca");
        const reread = readCertificateSet(stored, this.expectations(this.clock()));
        if (reread.ok) {
          this.logStep("publish-next-ca", undefined, reread.set);
          this.set = reread.set;
          this.notePhase(reread.set);
        }
      }
    }
  }

  private async writeSecret(
    stored: StoredSecret | undefined,
    content: SecretContent,
    action: string,
  ): Promise<StoredSecret> {
    const written =
      stored === undefined
        ? await this.options.secrets.create(content)
        : await this.options.secrets.update(stored.resourceVersion, content);
    this.metrics?.secretWrites.inc({ action, result: "ok" });
    return written;
  }

  private serve(set: CertificateSet): void {
    const leaf = set.leaf;
    if (leaf === undefined) return;
    let changed: boolean;
    try {
      changed = this.serving.install(leaf.pem, leaf.keyPem);
    } catch (error) {
      this.options.logger.warn(
        { event: "serving-rejected", reason: describe(error) },
        "serving certificate from the Secret is not usable; keeping the last good one",
      );
      return;
    }
    const first = !this.servedFromSecret;
    this.servedFromSecret = true;
    this.servedCa = set.current.fingerprint;
    if (!changed && !first) return;
    this.options.metrics?.certificateNotAfter.set(Math.floor(leaf.notAfter.getTime() / 1000));
    this.options.metrics?.certificateReloads.inc({ result: "loaded" });
    this.options.logger.info(
      {
        event: "serving",
        serving: short(leaf.fingerprint),
        ca: short(set.current.fingerprint),
        notBefore: leaf.notBefore,
        notAfter: leaf.notAfter,
        dnsNames: leaf.dnsNames.length,
        phase: phaseOf(set),
      },
      "serving certificate installed",
    );
  }

  private notePhase(set: CertificateSet): void {
    const phase = phaseOf(set);
    this.metrics?.caNotAfter.set(Math.floor(set.current.notAfter.getTime() / 1000));
    for (const p of PHASES) this.metrics?.phase.set({ phase: p }, p === phase ? 1 : 0);
    if (phase === this.lastPhase) return;
    const from = this.lastPhase;
    this.lastPhase = phase;
    this.options.logger.info(
      {
        event: "phase",
        phase,
        from: from ?? null,
        ca: short(set.current.fingerprint),
        caNotAfter: set.current.notAfter,
        nextCa: set.next === undefined ? null : short(set.next.fingerprint),
        previousCa: set.previous === undefined ? null : short(set.previous.fingerprint),
        nextPublishedAt: set.nextPublishedAt ?? null,
        promotedAt: set.promotedAt ?? null,
      },
      "certificate phase changed",
    );
  }

  private logStep(action: string, reason: string | undefined, set: CertificateSet): void {
    this.options.logger.info(
      {
        event: "secret-written",
        action,
        ...(reason === undefined ? {} : { reason }),
        secret: this.options.secretName,
        ca: short(set.current.fingerprint),
        serving: set.leaf === undefined ? null : short(set.leaf.fingerprint),
        servingNotAfter: set.leaf?.notAfter ?? null,
      },
      "certificate Secret updated",
    );
  }

  /** What a set this replica would have issued looks like (readCertificateSet). */
  private expectations(now: Date): Expectations {
    const { settings } = this.options;
    return {
      now,
      caLifetimeMs: settings.caLifetimeMs,
      servingLifetimeMs: settings.servingLifetimeMs,
      names: settings.names,
    };
  }

  /**
   * A Secret of another type cannot be repaired (the type is immutable, and we may not
   * delete): refuse it, loudly, and serve nothing from it. Earlier versions created
   * kubernetes.io/tls, which is kept.
   */
  private checkType(stored: StoredSecret): void {
    if (ACCEPTED_SECRET_TYPES.includes(stored.type)) return;
    const problem = `type ${JSON.stringify(stored.type.slice(0, 80))} is not Opaque`;
    this.reportRefused(stored, { ok: false, problem, refused: [{ key: "type", problem }] });
    throw new Error(
      `certificate Secret ${this.options.secretName} has ${problem} and cannot be repaired; delete it and it is recreated`,
    );
  }

  /**
   * Content of the Secret that was not adopted is a security event: someone who can write
   * Secrets in our namespace wrote certificates we did not issue (or with other settings).
   * Logged as a warning (keys and reasons, never key material) and counted once per version
   * of the Secret; the planner then replaces it.
   */
  private reportRefused(
    stored: StoredSecret | undefined,
    read: CertificateSetRead | undefined,
  ): void {
    if (stored === undefined || read === undefined || read.refused.length === 0) return;
    if (this.refusedVersion === stored.resourceVersion) return;
    this.refusedVersion = stored.resourceVersion;
    for (const refusal of read.refused) this.metrics?.secretRefused.inc({ key: refusal.key });
    this.options.logger.warn(
      {
        event: "secret-refused",
        security: true,
        secret: this.options.secretName,
        resourceVersion: stored.resourceVersion,
        refused: read.refused.map((r) => r.problem),
      },
      "certificate Secret holds certificates this server did not issue; not adopted, replacing them (whoever can write Secrets in this namespace can plant them: restrict that)",
    );
  }
}

/**
 * What {@link createSelfManagedCertificates} needs besides the cluster connection: where the
 * certificate lives and whom it names (`--namespace`, `--service-name`, ...), its lifetimes and
 * delays, and the serving options.
 */
export interface SelfManagedSettings {
  readonly namespace: string;
  readonly serviceName: string;
  /** The certificate Secret in `namespace`. */
  readonly secretName: string;
  /** Our Validating- and MutatingWebhookConfiguration (one name for both). */
  readonly webhookConfigurationName: string;
  readonly extraDnsNames: readonly string[];
  readonly extraIpAddresses: readonly string[];
  readonly caLifetimeMs: number;
  readonly servingLifetimeMs: number;
  readonly publishDelayMs: number;
  readonly retireDelayMs: number;
  readonly syncIntervalMs: number;
  readonly minVersion: "TLSv1.2" | "TLSv1.3";
  /** Mutual TLS: PEM CA that client certificates must chain to (`--client-ca-file`). */
  readonly clientCa?: string;
  readonly logger: Logger;
  readonly metrics?: Metrics;
}

/**
 * The self-managed source over the cluster: Secret `namespace/secretName`, and the Validating-
 * and MutatingWebhookConfiguration named `webhookConfigurationName`.
 */
export function createSelfManagedCertificates(
  kc: KubeConfig,
  settings: SelfManagedSettings,
): Promise<SelfManagedCertificates> {
  const name = settings.webhookConfigurationName;
  return SelfManagedCertificates.create({
    secrets: new KubeSecretStore(kc, settings.namespace, settings.secretName),
    webhooks: new KubeWebhookConfigStore(kc),
    configurations: [
      { kind: "ValidatingWebhookConfiguration", name },
      { kind: "MutatingWebhookConfiguration", name },
    ],
    settings: {
      caLifetimeMs: settings.caLifetimeMs,
      servingLifetimeMs: settings.servingLifetimeMs,
      publishDelayMs: settings.publishDelayMs,
      retireDelayMs: settings.retireDelayMs,
      names: serviceNames(
        settings.serviceName,
        settings.namespace,
        settings.extraDnsNames,
        settings.extraIpAddresses,
      ),
    },
    syncIntervalMs: settings.syncIntervalMs,
    minVersion: settings.minVersion,
    ...(settings.clientCa === undefined ? {} : { clientCa: settings.clientCa }),
    logger: settings.logger,
    ...(settings.metrics === undefined ? {} : { metrics: settings.metrics }),
    secretName: `${settings.namespace}/${settings.secretName}`,
  });
}

/**
 * Fingerprints of the CAs present in every webhook's caBundle of every configuration that
 * exists; `undefined` when none has a webhook (nothing to hold a CA, so nothing to wait for).
 */
function fingerprintsEverywhere(
  snapshots: readonly (WebhookConfigurationSnapshot | undefined)[],
): Set<string> | undefined {
  let common: Set<string> | undefined;
  for (const snapshot of snapshots) {
    for (const bundle of snapshot?.caBundles ?? []) {
      const here = bundleFingerprints(bundle);
      common = common === undefined ? here : new Set([...common].filter((f) => here.has(f)));
    }
  }
  return common;
}

function registerMetrics(metrics: Metrics): CertificateMetrics {
  const registers = [metrics.registry];
  return {
    secretRefused: new Counter({
      name: "ca_trust_webhook_certificate_secret_refused_total",
      help: "Entries of the certificate Secret not adopted because this server would not have issued them (a security event), by data key",
      labelNames: ["key"],
      registers,
    }),
    phase: new Gauge({
      name: "ca_trust_webhook_certificate_rotation_phase",
      help: "1 for the rotation phase the certificate Secret is in (self-managed mode)",
      labelNames: ["phase"],
      registers,
    }),
    caNotAfter: new Gauge({
      name: "ca_trust_webhook_ca_not_after_seconds",
      help: "notAfter of the CA that signs the serving certificate (Unix seconds)",
      registers,
    }),
    secretWrites: new Counter({
      name: "ca_trust_webhook_certificate_secret_writes_total",
      help: "Writes of the certificate Secret, by rotation action and result (ok|conflict)",
      labelNames: ["action", "result"],
      registers,
    }),
    bundleWrites: new Counter({
      name: "ca_trust_webhook_cabundle_writes_total",
      help: "caBundle writes into our webhook configurations, by reason (initial|rotation|reasserted)",
      labelNames: ["configuration", "reason"],
      registers,
    }),
    syncErrors: new Counter({
      name: "ca_trust_webhook_certificate_sync_errors_total",
      help: "Certificate syncs that failed (API errors); the last good certificate stays",
      registers,
    }),
  };
}

function key(ref: WebhookConfigurationRef): string {
  return `${ref.kind}/${ref.name}`;
}

function short(fingerprint: string): string {
  return fingerprint.slice(0, 16);
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.message.split("\n")[0]}${typeof code === "number" ? ` (HTTP ${code})` : ""}`;
  }
  return String(error);
}
