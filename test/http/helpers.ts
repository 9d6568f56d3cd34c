import type { Decide } from "../../src/core/types.js";
import { silentLogger } from "../../src/observability/logger.js";
import { createMetrics, type Metrics } from "../../src/observability/metrics.js";
import { type IssuedCertificate, issueCertificate } from "../../src/pki/issue.js";
import { buildServer, type ServerLimits } from "../../src/server.js";

/** A fixed clock for certificate dates in these tests. */
export const NOW = new Date("2026-06-01T00:00:00Z");

/** A CA and a serving certificate for 127.0.0.1 / localhost, valid around the real clock. */
export async function servingPair(
  commonName = "webhook",
  ca?: IssuedCertificate,
): Promise<{ ca: IssuedCertificate; leaf: IssuedCertificate }> {
  const now = Date.now();
  const root =
    ca ??
    (await issueCertificate({
      commonName: "test CA",
      isCA: true,
      notBefore: new Date(now - 3_600_000),
      notAfter: new Date(now + 86_400_000),
    }));
  const leaf = await issueCertificate({
    commonName,
    usage: "server",
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 86_400_000),
    issuer: root,
  });
  return { ca: root, leaf };
}

/** A well-formed AdmissionReview v1 request body. */
export function review(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "705ab4f5-6393-11e8-b7cc-42010a800002",
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      namespace: "team-a",
      name: "web",
      operation: "CREATE",
      userInfo: { username: "admin" },
      object: { apiVersion: "v1", kind: "Pod", metadata: { name: "web", namespace: "team-a" } },
      oldObject: null,
      dryRun: false,
      ...overrides,
    },
  };
}

export const allowAll: Decide = async () => ({ kind: "allow", warnings: [] });

/** buildServer with an allow-all core, silent logs and fresh metrics; plain HTTP for inject(). */
export function testServer(
  decide: { validate?: Decide; mutate?: Decide } = {},
  https?: { cert: string; key: string },
  limits: Partial<ServerLimits> = {},
  logger = silentLogger(),
): { app: ReturnType<typeof buildServer>; metrics: Metrics } {
  const metrics = createMetrics({ processMetrics: false });
  const app = buildServer(
    {
      ...(https ? { https: { ...https, minVersion: "TLSv1.2" as const } } : {}),
      requestTimeoutMs: 2_000,
      keepAliveTimeoutMs: 90_000,
      limits,
    },
    {
      logger,
      metrics,
      validate: decide.validate ?? allowAll,
      mutate: decide.mutate ?? allowAll,
    },
  );
  return { app, metrics };
}
