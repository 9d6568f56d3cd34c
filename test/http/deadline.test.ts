import { afterEach, describe, expect, it } from "vitest";
import { loadServeConfig } from "../../src/config.js";
import type { ClusterView } from "../../src/core/view.js";
import { buildDecisions } from "../../src/decisions.js";
import { MemoryClusterView } from "../../src/kube/memory.js";
import { silentLogger } from "../../src/observability/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { buildServer } from "../../src/server.js";
import { review } from "./helpers.js";

/** A cluster view whose API never answers a lookup (a hung apiserver). */
function hungView(): ClusterView {
  const base = new MemoryClusterView()
    .addNamespace("team-a", { "ca-trust.dev/inject": "enabled" })
    .addConfigMap({
      namespace: "connectors-system",
      name: "connectors-config",
      data: { "enable-custom-ca-certs": "true" },
    });
  return {
    getSecret: () => new Promise(() => undefined),
    getConfigMap: () => new Promise(() => undefined),
    getClusterTrustBundles: (s) => base.getClusterTrustBundles(s),
    getTrustManagerBundle: (n) => base.getTrustManagerBundle(n),
    namespaceLabels: (n) => base.namespaceLabels(n),
    featureFlag: (f) => base.featureFlag(f),
    // Access answers at once: the hung Secret read is what the deadline must cut short.
    mayGet: async () => ({ allowed: true }),
  };
}

const apps: { close: () => Promise<unknown> }[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

function server(args: string[]) {
  const config = loadServeConfig(["--tls-cert-file", "c", "--tls-key-file", "k", ...args], {});
  const app = buildServer(
    { requestTimeoutMs: 10_000, keepAliveTimeoutMs: 90_000 },
    {
      logger: silentLogger(),
      metrics: createMetrics({ processMetrics: false }),
      ...buildDecisions(config.decision, hungView(), {
        deadlineMarginMs: config.serving.deadlineMarginMs,
      }),
    },
  );
  apps.push(app);
  return app;
}

const connectorReview = review({
  kind: { group: "connectors.alauda.io", version: "v1alpha1", kind: "Connector" },
  resource: { group: "connectors.alauda.io", version: "v1alpha1", resource: "connectors" },
  object: {
    metadata: { name: "git", namespace: "team-a" },
    spec: { caCertSecretRef: { name: "ca" } },
  },
});

async function timed(app: ReturnType<typeof server>, url: string, body: unknown) {
  const started = performance.now();
  const res = await app.inject({
    method: "POST",
    url,
    headers: { "content-type": "application/json" },
    payload: JSON.stringify(body),
  });
  return { ms: performance.now() - started, response: res.json().response };
}

describe("answers before the apiserver's deadline", () => {
  it.each([
    ["2s", "500ms", 1500],
    ["3s", "1s", 2000],
  ])(
    "with ?timeout=%s and a %s margin, validation denies as unverifiable at the margin",
    async (timeout, margin, expectedMs) => {
      const app = server(["--deadline-margin", margin]);
      const { ms, response } = await timed(app, `/validate?timeout=${timeout}`, connectorReview);
      expect(response.allowed).toBe(false);
      expect(response.status.message).toContain("could not verify the CA Secret team-a/ca in time");
      expect(ms).toBeGreaterThanOrEqual(expectedMs - 50);
      expect(ms).toBeLessThan(expectedMs + 400);
    },
  );

  it("allows with a warning when configured so", async () => {
    const app = server(["--deadline-margin", "1500ms", "--unverifiable", "warn"]);
    const { response } = await timed(app, "/validate?timeout=2s", connectorReview);
    expect(response.allowed).toBe(true);
    expect(response.warnings.join()).toContain("in time");
  });

  it("denies a Pod it cannot inject in time with a clear message", async () => {
    const app = server(["--deadline-margin", "1500ms"]);
    const pod = review({
      object: {
        metadata: { name: "web", namespace: "team-a" },
        spec: { containers: [{ name: "app", image: "x" }] },
      },
    });
    const { ms, response } = await timed(app, "/mutate?timeout=2s", pod);
    expect(response.allowed).toBe(false);
    expect(response.status.message).toContain(
      "could not read the CA ConfigMap team-a/ca-trust-bundle in time",
    );
    expect(ms).toBeLessThan(1_000);
  });

  it("answers at once when the deadline has already passed", async () => {
    const app = server(["--deadline-margin", "5s"]);
    const { ms, response } = await timed(app, "/validate?timeout=1s", connectorReview);
    expect(response.allowed).toBe(false);
    expect(ms).toBeLessThan(300);
  });
});
