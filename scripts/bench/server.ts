/**
 * The webhook under benchmark, as a child process of scripts/bench.ts (so that RSS and CPU
 * are the server's alone). It builds the server exactly as `serve` does (buildServer +
 * buildDecisions from the configuration, the per-review log line at info level, process
 * metrics), over HTTPS on 127.0.0.1, against either the warm in-memory cluster of fixtures.ts
 * or, with a kubeconfig, the cluster view `serve` builds (src/app.ts; the scale run).
 * Protocol: probe.ts.
 */
import { pino } from "pino";
import { buildClusterView, type ClusterHandle } from "../../src/app.js";
import { loadServeConfig } from "../../src/config.js";
import type { ClusterView } from "../../src/core/view.js";
import { buildDecisions, policySettings } from "../../src/decisions.js";
import { loadKubeConfig } from "../../src/kube/cluster.js";
import { ReferenceWatcher } from "../../src/kube/references.js";
import { createLogger } from "../../src/observability/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { buildServer } from "../../src/server.js";
import { benchClusterView } from "./fixtures.js";
import { type IndexFigures, Probe, send, serveProbe, waitForStart } from "./probe.js";

async function main(): Promise<void> {
  const probe = new Probe();
  const start = await waitForStart();
  // Any path string does: certificate files are read only by the app (src/app.ts). Options can be set as
  // `serve` reads them from the environment (e.g. CA_TRUST_WEBHOOK_LOG_RATE_LIMIT=0 to write
  // every review line, as before the rate limit).
  const config = loadServeConfig(
    ["--tls-cert-file", "bench.crt", "--tls-key-file", "bench.key", "--listen", "127.0.0.1:0"],
    process.env,
  );
  // What `serve` logs (one line per review), written where it costs the same as stdout but
  // does not flood the terminal.
  const logger = createLogger(
    config.serving.logLevel,
    pino.destination({ dest: "/dev/null", sync: true }),
  );
  let cluster: ClusterHandle | undefined;
  let view: ClusterView;
  let syncMs: number | undefined;
  let rssAfterSyncMb: number | undefined;
  let heapLiveMb: number | undefined;
  let references: ReferenceWatcher | undefined;
  let index: IndexFigures | undefined;
  const metrics = createMetrics();
  if (start.kubeconfig !== undefined) {
    const kc = loadKubeConfig(start.kubeconfig, {});
    if (kc === undefined) throw new Error(`cannot load ${start.kubeconfig}`);
    // The view `serve` builds (src/app.ts): CA ConfigMaps and Namespaces watched.
    cluster = buildClusterView(config.decision, config.serving, kc, { logger, metrics });
    const t0 = performance.now();
    await cluster.start();
    syncMs = performance.now() - t0;
    const health = cluster.health();
    if (!health.ok) throw new Error(`cluster view did not sync: ${health.reason}`);
    view = cluster.view;
    rssAfterSyncMb = process.memoryUsage.rss() / 1048576;
    // With --expose-gc (the scale run): what the caches keep, without the sync's garbage.
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc !== undefined) {
      gc();
      heapLiveMb = process.memoryUsage().heapUsed / 1048576;
      // Then the Secret guard's reference index, as `serve` runs it (src/app.ts): the heap
      // after it has synced, against the heap above, is what it costs.
      references = new ReferenceWatcher(kc, { settings: policySettings(config.decision), logger });
      const i0 = performance.now();
      await references.start();
      const indexSyncMs = performance.now() - i0;
      const ready = references.health();
      if (!ready.ok) throw new Error(`reference index did not sync: ${ready.reason}`);
      gc();
      index = {
        syncMs: indexSyncMs,
        sizes: references.sizes(),
        heapLiveMb: process.memoryUsage().heapUsed / 1048576,
        rssMb: process.memoryUsage.rss() / 1048576,
      };
    }
  } else if (start.bundles !== undefined) {
    view = benchClusterView(start.bundles);
  } else {
    throw new Error("start: neither bundles nor kubeconfig");
  }
  const app = buildServer(
    {
      https: { cert: start.tls.cert, key: start.tls.key, minVersion: "TLSv1.2" },
      requestTimeoutMs: config.serving.requestTimeoutMs,
      keepAliveTimeoutMs: config.serving.keepAliveTimeoutMs,
      limits: config.serving.limits,
    },
    {
      logger,
      metrics,
      ...buildDecisions(
        config.decision,
        view,
        references === undefined ? {} : { references: references.index },
      ),
    },
  );
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  serveProbe(
    probe,
    async () => {
      await app.close();
      await cluster?.stop();
      await references?.stop();
    },
    start.profilePath,
  );
  probe.reset();
  send({
    type: "listening",
    port: address.port,
    rssStartMb: process.memoryUsage.rss() / 1048576,
    ...(syncMs !== undefined ? { syncMs } : {}),
    ...(rssAfterSyncMb !== undefined ? { rssAfterSyncMb } : {}),
    ...(heapLiveMb !== undefined ? { heapLiveMb } : {}),
    ...(index !== undefined ? { index } : {}),
    ...(cluster ? { cacheSizes: cluster.sizes() } : {}),
  });
}

main().catch((error: unknown) => {
  send({ type: "failed", message: error instanceof Error ? error.message : String(error) });
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 100).unref();
});
