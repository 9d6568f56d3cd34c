#!/usr/bin/env node
import { readFileSync, realpathSync } from "node:fs";
import type { Server as HttpsServer } from "node:https";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import { runCheck } from "./cli/check.js";
import { runInject } from "./cli/inject.js";
import { processIo } from "./cli/io.js";
import { manifestsCommand } from "./cli/manifests.js";
import { runScan } from "./cli/scan.js";
import { type Config, ConfigError, loadServeConfig, serveHelp } from "./config.js";
import type { ClusterView } from "./core/view.js";
import { buildDecisions, delayedView, unavailableView } from "./decisions.js";
import { clusterViewOptions, KubeClusterView, loadKubeConfig } from "./kube/cluster.js";
import { createLogger } from "./observability/logger.js";
import { createMetrics } from "./observability/metrics.js";
import { Readiness } from "./observability/readiness.js";
import { buildHealthServer, buildServer, serverLimits } from "./server.js";
import { createSelfManagedCertificates, type SelfManagedCertificates } from "./tls/bootstrap.js";
import { CertificateReloader } from "./tls/reloader.js";
import type { CertificateSource } from "./tls/serving.js";

/**
 * The CLI: `ca-trust-webhook [serve] [options]`. The only module with side effects at import
 * (when run as the entry point). Exit codes: 0 ok, 1 a runtime failure, 2 usage or
 * configuration errors.
 */

const USAGE = `Usage: ca-trust-webhook <command> [options]

Commands:
  serve      run the admission webhook (default)
  manifests  print the webhook configurations and the ValidatingAdmissionPolicy (YAML)
  check      decide manifests offline as the webhook would (-f PATH...)
  inject     print manifests as the webhook would inject them, with a PodSecurity verdict
  scan       find objects and Pods in the cluster that the webhook would not admit today

Run 'ca-trust-webhook <command> --help' for a command's options.`;

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [first, ...rest] = argv;
  const command = first === undefined || first.startsWith("-") ? "serve" : first;
  const args = command === first ? rest : argv;
  if (first === "help" || first === "--help" || first === "-h") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  switch (command) {
    case "serve":
      if (args.includes("--help") || args.includes("-h")) {
        process.stdout.write(`${serveHelp()}\n`);
        return 0;
      }
      return serve(args, env);
    case "check":
      return runCheck(args, processIo(env));
    case "inject":
      return runInject(args, processIo(env));
    case "scan":
      return runScan(args, processIo(env));
    case "manifests": {
      const result = manifestsCommand(args, env);
      process.stdout.write(result.stdout);
      process.stderr.write(result.stderr);
      return result.code;
    }
    default:
      process.stderr.write(`ca-trust-webhook: unknown command "${command}"\n${USAGE}\n`);
      return 2;
  }
}

/** `serve`: loads config, starts both listeners, and runs until SIGTERM/SIGINT. */
async function serve(args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let config: Config;
  try {
    config = loadServeConfig(args, env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`ca-trust-webhook: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  let cacheSizes = (): Record<string, number> => ({});
  const metrics = createMetrics({ cacheSizes: () => cacheSizes() });

  let kubeConfig: ReturnType<typeof loadKubeConfig>;
  try {
    kubeConfig = loadKubeConfig(config.kubeconfig, env);
  } catch (error) {
    process.stderr.write(
      `ca-trust-webhook: --kubeconfig: ${(error as Error).message.split("\n")[0]}\n`,
    );
    return 2;
  }
  const minVersion = config.tlsMinVersion === "1.3" ? "TLSv1.3" : "TLSv1.2";
  let clientCa: string | undefined;
  try {
    clientCa =
      config.clientCaFile === undefined ? undefined : readFileSync(config.clientCaFile, "utf8");
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    process.stderr.write(
      `ca-trust-webhook: --client-ca-file: cannot read ${config.clientCaFile}: ${reason}\n`,
    );
    return 2;
  }
  let certificates: CertificateSource;
  let selfManaged: SelfManagedCertificates | undefined;
  if (config.selfManaged !== undefined) {
    if (kubeConfig === undefined) {
      process.stderr.write(
        "ca-trust-webhook: --certificate-mode self-managed: no Kubernetes API configured (--kubeconfig, KUBECONFIG, in-cluster or ~/.kube/config)\n",
      );
      return 2;
    }
    selfManaged = await createSelfManagedCertificates(kubeConfig, {
      ...config.selfManaged,
      minVersion,
      ...(clientCa === undefined ? {} : { clientCa }),
      logger,
      metrics,
    });
    certificates = selfManaged;
  } else {
    try {
      certificates = new CertificateReloader({
        certFile: config.tlsCertFile as string,
        keyFile: config.tlsKeyFile as string,
        intervalMs: config.tlsReloadIntervalMs,
        minVersion,
        ...(clientCa === undefined ? {} : { clientCa }),
        logger,
        metrics,
      });
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      process.stderr.write(
        `ca-trust-webhook: --tls-cert-file/--tls-key-file: cannot use ${config.tlsCertFile} and ${config.tlsKeyFile}: ${reason}\n`,
      );
      return 2;
    }
  }

  let shuttingDown = false;
  const readiness = new Readiness()
    .add("certificate", () => certificates.health())
    .add("shutdown", () => (shuttingDown ? { ok: false, reason: "shutting down" } : { ok: true }));

  let view: ClusterView;
  let cluster: KubeClusterView | undefined;
  if (kubeConfig === undefined) {
    const reason =
      "no Kubernetes API configured (--kubeconfig, KUBECONFIG, in-cluster or ~/.kube/config)";
    view = unavailableView(reason);
    readiness.add("cluster", () => ({ ok: false, reason }));
  } else {
    cluster = new KubeClusterView(kubeConfig, clusterViewOptions(config, logger, metrics));
    view = cluster;
    const c = cluster;
    cacheSizes = () => c.sizes();
    readiness.add("cluster", () => c.health());
    // Not awaited: the webhook serves (not ready) while the caches sync or the API is away.
    void cluster.start();
  }
  if (config.testLookupDelayMs > 0) {
    logger.warn({ delayMs: config.testLookupDelayMs }, "fault injection: every lookup is delayed");
    view = delayedView(view, config.testLookupDelayMs);
  }
  const decisions = buildDecisions(config, view);

  const app = buildServer(
    {
      https: certificates.secureContextOptions(),
      ...(config.clientCaFile === undefined
        ? {}
        : { clientAuth: { commonNames: config.clientCn } }),
      requestTimeoutMs: config.requestTimeoutMs,
      keepAliveTimeoutMs: config.keepAliveTimeoutMs,
      ...serverLimits(config),
    },
    { logger, metrics, ...decisions },
  );
  const health = buildHealthServer({ metrics, readiness });

  try {
    await app.listen({ host: config.listen.host, port: config.listen.port });
    await health.listen({ host: config.healthListen.host, port: config.healthListen.port });
  } catch (error) {
    logger.fatal({ err: { message: (error as Error).message } }, "cannot listen");
    await Promise.allSettled([app.close(), health.close()]);
    return 1;
  }
  certificates.attach(app.server as unknown as HttpsServer);
  // Self-managed: first sync now (create or adopt the Secret, serve it, write the caBundle),
  // then every --certificate-sync-interval. Failures are logged and retried; /readyz says why.
  await selfManaged?.start();
  logger.info(
    {
      listen: address(app),
      healthListen: address(health),
      tlsMinVersion: config.tlsMinVersion,
      certificateMode: config.certificateMode,
      certificate: certificates.certificate().fingerprint.slice(0, 16),
      notAfter: certificates.certificate().notAfter,
      configFile: config.configFile,
    },
    "serving",
  );

  return new Promise<number>((resolve) => {
    const stop = async (signal: string): Promise<void> => {
      if (shuttingDown) return;
      shuttingDown = true;
      logger.info({ signal, delayMs: config.shutdownDelayMs }, "shutting down");
      await sleep(config.shutdownDelayMs);
      const forced = setTimeout(() => {
        logger.warn(
          { timeoutMs: config.shutdownTimeoutMs },
          "in-flight reviews did not finish in time",
        );
        resolve(1);
      }, config.shutdownTimeoutMs);
      forced.unref();
      await app.close();
      certificates.stop();
      await cluster?.stop();
      await health.close();
      clearTimeout(forced);
      logger.info("stopped");
      resolve(0);
    };
    process.once("SIGTERM", () => void stop("SIGTERM"));
    process.once("SIGINT", () => void stop("SIGINT"));
  });
}

function address(server: FastifyInstance): string {
  const a = server.server.address();
  return typeof a === "string" || a === null ? String(a) : `${a.address}:${a.port}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

if (
  process.argv[1] !== undefined &&
  fileURLToPath(import.meta.url) === realpathSync(process.argv[1])
) {
  main(process.argv.slice(2), process.env).then(
    (code) => {
      process.exitCode = code;
      // Let pino flush, then leave even if a handle lingers.
      setTimeout(() => process.exit(code), 50).unref();
    },
    (error: unknown) => {
      process.stderr.write(`ca-trust-webhook: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
