/**
 * Webhook overhead on Pod creation through a real kube-apiserver (issue 7): 300 Pods created
 * one after another in an opted-in namespace without our webhook registered, then 300 with it
 * (each one injected), and the create-latency p50/p99 both ways. The apiserver's own work
 * (admission chain, PodSecurity, etcd write) is in both; the difference is our webhook: the
 * TLS round trip, the review, the patch, and the apiserver applying it.
 */
import { issueCertificate } from "../../src/pki/issue.js";
import { resolveBinaries } from "../harness/binaries.js";
import { startControlPlane } from "../harness/controlplane.js";
import { restrictedPod, toYaml } from "../harness/manifests.js";
import { createTestNamespace, INJECT_ENABLED } from "../harness/namespaces.js";
import { registerWebhooks, startWebhook, waitForWebhookCalled } from "../harness/webhook.js";

export interface OverheadFigures {
  pods: number;
  without_p50_ms: number;
  without_p99_ms: number;
  with_p50_ms: number;
  with_p99_ms: number;
  overhead_p50_ms: number;
  overhead_p99_ms: number;
  injected: number;
  failed: number;
  /** Our own time per review (route start to answer built), from the server's log lines. */
  server_p50_ms: number;
  server_p99_ms: number;
}

function percentile(sorted: number[], q: number): number {
  return (
    Math.round((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) * 100) /
    100
  );
}

function serverTimes(reviews: { durationMs?: number }[]): {
  server_p50_ms: number;
  server_p99_ms: number;
} {
  const ms = reviews.map((r) => r.durationMs ?? 0).sort((a, b) => a - b);
  return { server_p50_ms: percentile(ms, 0.5), server_p99_ms: percentile(ms, 0.99) };
}

export async function overheadRun(
  pods = 300,
  log: (m: string) => void = () => undefined,
): Promise<OverheadFigures> {
  const cp = await startControlPlane({
    binDir: await resolveBinaries(),
    log: (m) => log(`  [control plane] ${m}`),
  });
  try {
    const namespace = await createTestNamespace(cp, {
      prefix: "overhead",
      labels: { ...INJECT_ENABLED },
    });
    const pem = (
      await issueCertificate({
        commonName: "overhead CA",
        isCA: true,
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 365 * 86_400_000),
      })
    ).certificatePem;
    await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "ca-trust-bundle", namespace },
        data: { "ca-bundle.crt": pem },
      }),
    });
    let failed = 0;
    let injected = 0;
    const create = async (prefix: string): Promise<number[]> => {
      const times: number[] = [];
      // A few unmeasured creates first: connections and caches warm, as in a running cluster.
      for (let i = 0; i < pods + 10; i++) {
        const t0 = performance.now();
        const res = await cp.request(
          "POST",
          `/api/v1/namespaces/${namespace}/pods`,
          restrictedPod(`${prefix}-${i}`, namespace),
        );
        const ms = performance.now() - t0;
        if (res.status !== 201) failed++;
        const annotations = (res.json as { metadata?: { annotations?: Record<string, string> } })
          .metadata?.annotations;
        if (i >= 10) {
          times.push(ms);
          if (annotations?.["ca-trust.dev/injected"]) injected++;
        }
      }
      return times.sort((a, b) => a - b);
    };
    log("  300 Pods without the webhook ...");
    const without = await create("plain");
    const server = await startWebhook(cp);
    try {
      const registration = await registerWebhooks(cp, {
        url: server.url,
        caBundle: server.caPem,
        validating: false,
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
      });
      await waitForWebhookCalled(cp, server, { namespace, via: "mutating", registration });
      log("  300 Pods with the webhook ...");
      const withWebhook = await create("injected");
      const figures: OverheadFigures = {
        pods,
        without_p50_ms: percentile(without, 0.5),
        without_p99_ms: percentile(without, 0.99),
        with_p50_ms: percentile(withWebhook, 0.5),
        with_p99_ms: percentile(withWebhook, 0.99),
        overhead_p50_ms:
          Math.round((percentile(withWebhook, 0.5) - percentile(without, 0.5)) * 100) / 100,
        overhead_p99_ms:
          Math.round((percentile(withWebhook, 0.99) - percentile(without, 0.99)) * 100) / 100,
        injected,
        failed,
        ...serverTimes(server.reviews().filter((r) => String(r.name).startsWith("injected-"))),
      };
      await registration.unregister();
      return figures;
    } finally {
      await server.stop();
    }
  } finally {
    await cp.stop();
  }
}
