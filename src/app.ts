/**
 * The composition root of `serve`: the only place that knows every part. It builds the
 * certificate source (files, or our own CA in a Secret), the cluster view (watches and cached
 * lookups, or "unavailable" without an API), binds the deciders to them, and builds the two
 * listeners. Adapters get narrow options from here, never the configuration itself.
 */
import { readFileSync } from "node:fs";
import type { Server as HttpsServer } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import type { FastifyInstance } from "fastify";
import {
  ConfigError,
  type DecisionSettings,
  type ServeConfig,
  type ServingSettings,
} from "./config.js";
import type { ClusterView } from "./core/view.js";
import { buildDecisions, delayedView, policySettings, unavailableView } from "./decisions.js";
import { KubeClusterView, loadKubeConfig } from "./kube/cluster.js";
import { ReferenceWatcher } from "./kube/references.js";
import { createLogger, type Logger } from "./observability/logger.js";
import { createMetrics, type Metrics } from "./observability/metrics.js";
import { type Check, Readiness } from "./observability/readiness.js";
import { buildHealthServer, buildServer } from "./server.js";
import { createSelfManagedCertificates, type SelfManagedCertificates } from "./tls/bootstrap.js";
import { CertificateReloader } from "./tls/reloader.js";
import { checkRotationTiming } from "./tls/rotation.js";
import type { CertificateSource } from "./tls/serving.js";

const NO_API =
  "no Kubernetes API configured (--kubeconfig, KUBECONFIG, in-cluster or ~/.kube/config)";

/** A running (or ready to run) webhook. */
export interface App {
  /** Listens on both addresses and starts the certificate sync; rejects if it cannot listen. */
  start(): Promise<void>;
  /**
   * Stops gracefully: not ready at once, serving for `--shutdown-delay`, then in-flight reviews
   * get `--shutdown-timeout` to finish. Resolves false when they did not. Idempotent.
   */
  stop(reason?: string): Promise<boolean>;
  readonly readiness: Readiness;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** `host:port` of the webhook and of the health listener, once started. */
  addresses(): { webhook: string; health: string };
}

export interface AppOptions {
  /** The environment the kubeconfig is found in (`KUBECONFIG`, in-cluster, `HOME`). */
  readonly env: NodeJS.ProcessEnv;
  /** Default: pino on stdout at `--log-level`. */
  readonly logger?: Logger;
}

/**
 * Builds the app from a validated configuration. Throws ConfigError (exit 2) for what the
 * configuration points at but cannot be used: an unreadable kubeconfig or client CA, unusable
 * certificate files, self-managed certificates without an API, an impossible rotation timing.
 */
export async function createApp(config: ServeConfig, options: AppOptions): Promise<App> {
  const { serving, decision } = config;
  const logger = options.logger ?? createLogger(serving.logLevel);
  const metrics = createMetrics();
  const kubeConfig = kubeConfigOf(serving.kubeconfig, options.env);
  const certificates = await buildCertificateSource(serving, kubeConfig, { logger, metrics });
  let shuttingDown = false;
  const readiness = new Readiness()
    .add("certificate", () => certificates.source.health())
    .add("shutdown", () => (shuttingDown ? { ok: false, reason: "shutting down" } : { ok: true }));
  const cluster = buildClusterView(decision, serving, kubeConfig, { logger, metrics });
  readiness.add("cluster", cluster.health);
  const references =
    kubeConfig === undefined
      ? undefined
      : new ReferenceWatcher(kubeConfig, { settings: policySettings(decision), logger });
  if (references !== undefined) {
    readiness.add("references", () => references.health());
    metrics.referenceIndexState.sizes = () => references.index.sizes();
  }
  const webhook = buildServer(
    {
      https: certificates.source.secureContextOptions(),
      ...(serving.clientCaFile === undefined
        ? {}
        : { clientAuth: { commonNames: serving.clientCn } }),
      requestTimeoutMs: serving.requestTimeoutMs,
      keepAliveTimeoutMs: serving.keepAliveTimeoutMs,
      limits: serving.limits,
    },
    {
      logger,
      metrics,
      ...buildDecisions(decision, cluster.view, {
        deadlineMarginMs: serving.deadlineMarginMs,
        ...(references === undefined ? {} : { references: references.index }),
        onGuarded: (resource, operation, verdict) =>
          metrics.guardedWrites.inc({ resource, operation, verdict }),
      }),
    },
  );
  const health = buildHealthServer({ metrics, readiness });

  let stopping: Promise<boolean> | undefined;
  return {
    readiness,
    metrics,
    logger,
    addresses: () => ({ webhook: address(webhook), health: address(health) }),
    async start() {
      try {
        await webhook.listen({ host: serving.listen.host, port: serving.listen.port });
        await health.listen({ host: serving.healthListen.host, port: serving.healthListen.port });
      } catch (error) {
        await Promise.allSettled([webhook.close(), health.close()]);
        throw error;
      }
      certificates.source.attach(webhook.server as unknown as HttpsServer);
      // Not awaited: the webhook serves (not ready) while the caches sync or the API is away.
      void cluster.start();
      void references?.start();
      // Self-managed: first sync now (create or adopt the Secret, serve it, write the caBundle),
      // then every --certificate-sync-interval. Failures are logged and retried; /readyz says why.
      await certificates.selfManaged?.start();
      const served = certificates.source.certificate();
      logger.info(
        {
          listen: address(webhook),
          healthListen: address(health),
          tlsMinVersion: serving.tlsMinVersion,
          certificateMode: serving.certificate.mode,
          certificate: served.fingerprint.slice(0, 16),
          notAfter: served.notAfter,
          configFile: config.configFile,
        },
        "serving",
      );
    },
    stop(reason) {
      stopping ??= (async () => {
        shuttingDown = true;
        logger.info({ signal: reason, delayMs: serving.shutdownDelayMs }, "shutting down");
        await sleep(serving.shutdownDelayMs);
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => {
            logger.warn(
              { timeoutMs: serving.shutdownTimeoutMs },
              "in-flight reviews did not finish in time",
            );
            resolve(false);
          }, serving.shutdownTimeoutMs);
          timer.unref();
        });
        const closed = (async () => {
          await webhook.close();
          certificates.source.stop();
          await Promise.all([cluster.stop(), references?.stop()]);
          await health.close();
          clearTimeout(timer);
          logger.info("stopped");
          return true;
        })();
        return Promise.race([closed, late]);
      })();
      return stopping;
    },
  };
}

/** The certificate source, and its self-managed handle to start (absent for files). */
export interface CertificateSourceHandle {
  readonly source: CertificateSource;
  readonly selfManaged?: SelfManagedCertificates;
}

/**
 * `--certificate-mode files`: the reloader over the two files; `self-managed`: the CA and
 * certificate kept in the Secret (needs the API). The client CA (mutual TLS) is read here.
 */
export async function buildCertificateSource(
  serving: ServingSettings,
  kubeConfig: KubeConfig | undefined,
  deps: { readonly logger: Logger; readonly metrics: Metrics },
): Promise<CertificateSourceHandle> {
  const minVersion = serving.tlsMinVersion === "1.3" ? "TLSv1.3" : "TLSv1.2";
  const clientCa = readClientCa(serving.clientCaFile);
  const tls = { minVersion, ...(clientCa === undefined ? {} : { clientCa }), ...deps } as const;
  const certificate = serving.certificate;
  if (certificate.mode === "self-managed") {
    const problem = checkRotationTiming(certificate);
    if (problem !== undefined) {
      throw new ConfigError(`--ca-lifetime/--ca-publish-delay/--ca-retire-delay: ${problem}`);
    }
    if (kubeConfig === undefined) {
      throw new ConfigError(`--certificate-mode self-managed: ${NO_API}`);
    }
    const selfManaged = await createSelfManagedCertificates(kubeConfig, { ...certificate, ...tls });
    return { source: selfManaged, selfManaged };
  }
  try {
    return {
      source: new CertificateReloader({
        certFile: certificate.certFile,
        keyFile: certificate.keyFile,
        intervalMs: certificate.reloadIntervalMs,
        ...tls,
      }),
    };
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError(
      `--tls-cert-file/--tls-key-file: cannot use ${certificate.certFile} and ${certificate.keyFile}: ${reason}`,
    );
  }
}

/** The cluster as the deciders see it, its readiness check, and its lifecycle. */
export interface ClusterHandle {
  readonly view: ClusterView;
  readonly health: Check;
  /** Objects per cache (the cache-size metric). */
  sizes(): Record<string, number>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The informer-backed view, watching what the decision settings read (the flag ConfigMap and
 * labelled Secrets of the system namespace, the CA ConfigMaps by name, Namespaces, the
 * injected ClusterTrustBundles); without an API, a view that answers "unavailable" (and
 * readiness says why). `--test-lookup-delay` wraps it.
 */
export function buildClusterView(
  decision: DecisionSettings,
  serving: ServingSettings,
  kubeConfig: KubeConfig | undefined,
  deps: { readonly logger: Logger; readonly metrics: Metrics },
): ClusterHandle {
  const delayed = (view: ClusterView): ClusterView => {
    if (serving.testLookupDelayMs <= 0) return view;
    deps.logger.warn(
      { delayMs: serving.testLookupDelayMs },
      "fault injection: every lookup is delayed",
    );
    return delayedView(view, serving.testLookupDelayMs);
  };
  if (kubeConfig === undefined) {
    return {
      view: delayed(unavailableView(NO_API)),
      health: () => ({ ok: false, reason: NO_API }),
      sizes: () => ({}),
      start: async () => {},
      stop: async () => {},
    };
  }
  const { injection, systemNamespace } = decision;
  const cluster = new KubeClusterView(kubeConfig, {
    flagConfigMap: { namespace: systemNamespace, name: decision.flagConfigMap },
    labelledSecrets: {
      namespace: systemNamespace,
      labelSelector: "connectors.cpaas.io/ca-cert=true",
    },
    caConfigMapName: injection.customCa.configMapName,
    caConfigMapKey: injection.customCa.configMapKey,
    watchNamespaces: true,
    clusterTrustBundles:
      injection.caSource?.kind === "clustertrustbundle" ? injection.caSource.selection : undefined,
    lookupTtlMs: serving.lookupTtlMs,
    maxCachedLookups: 4096,
    accessReviewTtlMs: serving.accessReviewTtlMs,
    maxCachedAccessReviews: 10_000,
    logger: deps.logger,
    metrics: deps.metrics,
  });
  deps.metrics.cacheState.sizes = () => cluster.sizes();
  return {
    view: delayed(cluster),
    health: () => cluster.health(),
    sizes: () => cluster.sizes(),
    start: () => cluster.start(),
    stop: () => cluster.stop(),
  };
}

function kubeConfigOf(path: string | undefined, env: NodeJS.ProcessEnv): KubeConfig | undefined {
  try {
    return loadKubeConfig(path, env);
  } catch (error) {
    throw new ConfigError(`--kubeconfig: ${(error as Error).message.split("\n")[0]}`);
  }
}

function readClientCa(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError(`--client-ca-file: cannot read ${path}: ${reason}`);
  }
}

function address(server: FastifyInstance): string {
  const a = server.server.address();
  return typeof a === "string" || a === null ? String(a) : `${a.address}:${a.port}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
