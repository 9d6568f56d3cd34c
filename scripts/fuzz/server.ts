/**
 * The server under the network fuzzer, as a child process (so its RSS is its own): built as
 * `serve` builds it (config, buildDecisions, buildServer over HTTPS, the per-review log line)
 * against the benchmark's warm in-memory cluster. Prints `{"port": N}` on stdout when
 * listening; stops on SIGTERM.
 */
import { pino } from "pino";
import { loadServeConfig } from "../../src/config.js";
import { buildDecisions } from "../../src/decisions.js";
import { createLogger } from "../../src/observability/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { buildServer } from "../../src/server.js";
import { benchBundles, benchClusterView, servingCertificate } from "../bench/fixtures.js";

const config = loadServeConfig(["--tls-cert-file", "fuzz.crt", "--tls-key-file", "fuzz.key"], {});
const logger = createLogger("info", pino.destination({ dest: "/dev/null", sync: false }));
const tls = await servingCertificate();
const view = benchClusterView(await benchBundles());
const app = buildServer(
  {
    https: { ...tls, minVersion: "TLSv1.2" },
    requestTimeoutMs: 10_000,
    keepAliveTimeoutMs: 90_000,
    limits: config.serving.limits,
  },
  { logger, metrics: createMetrics(), ...buildDecisions(config.decision, view) },
);
await app.listen({ host: "127.0.0.1", port: 0 });
process.stdout.write(
  `${JSON.stringify({ port: (app.server.address() as { port: number }).port })}\n`,
);
process.once("SIGTERM", () => {
  void app.close().then(() => process.exit(0));
});
