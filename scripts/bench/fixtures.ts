/**
 * The benchmark's inputs: AdmissionReviews as a real kube-apiserver sends them (compact JSON;
 * the typical Pod and the Connector are checked-in fixtures under test/fixtures/bench/, the
 * pathological Pod is generated from the typical one) and the warm in-memory cluster they are
 * decided against (opted-in namespace, CA ConfigMap, the Connectors flag, CA Secrets with 3
 * and 100 certificates).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { KubeObject } from "../../src/core/types.js";
import { MemoryClusterView } from "../../src/kube/memory.js";
import {
  type IssuedCertificate,
  issueCertificate,
  type KeyAlgorithm,
} from "../../src/pki/issue.js";

/** Namespace of the Pod reviews: labelled for injection, holds the CA ConfigMap. */
export const POD_NAMESPACE = "shop";
/** Namespace of the Connector reviews: holds the CA Secrets. */
export const CONNECTOR_NAMESPACE = "my-namespace";
/** The CA ConfigMap injection reads (the default of --inject-configmap) and its key. */
export const CA_CONFIGMAP = { name: "ca-trust-bundle", key: "ca-bundle.crt" } as const;
/** Secret with 3 CA certificates (scenario b) and with 100 (the validation micro-benchmark). */
export const SECRET_3_CERTS = "my-tool-ca";
export const SECRET_100_CERTS = "bulk-ca";
/** Connectors' feature flag ConfigMap (the defaults of --system-namespace, --flag-configmap). */
export const FLAG_CONFIGMAP = {
  namespace: "connectors-system",
  name: "connectors-config",
  key: "enable-custom-ca-certs",
} as const;

/** The repository root (this file runs from scripts/bench/ or dist/scripts/bench/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("package.json not found above the bench scripts");
    dir = parent;
  }
  return dir;
}

interface Review {
  apiVersion: string;
  kind: string;
  request: { uid: string; namespace?: string; object: KubeObject; [field: string]: unknown };
}

function loadReview(file: string): Review {
  const path = join(repoRoot(), "test", "fixtures", "bench", file);
  return JSON.parse(readFileSync(path, "utf8")) as Review;
}

/** (a) A typical Pod CREATE from a ReplicaSet (~9 KB compact), in the opted-in namespace. */
export function podReview(): string {
  return JSON.stringify(loadReview("pod-create.json"));
}

/** (b) A Connector CREATE by `kubectl apply` referencing `secretName` in its namespace. */
export function connectorReview(secretName: string = SECRET_3_CERTS): string {
  const review = loadReview("connector-create.json");
  const spec = review.request.object.spec as { caCertSecretRef: { name: string } };
  spec.caCertSecretRef.name = secretName;
  return JSON.stringify(review);
}

/**
 * (c) The typical Pod with `containers` copies of its main container, each with `envPerContainer`
 * env vars, and the managedFields entries the apiserver adds for them: with the defaults
 * (5 × 1,000) about 1 MiB, the Istio "many env vars" shape (reliability notes §2).
 */
export function pathologicalPodReview(containers = 5, envPerContainer = 1000): string {
  const review = loadReview("pod-create.json");
  const pod = review.request.object as {
    spec: { containers: Array<Record<string, unknown>> };
    metadata: { managedFields: Array<{ fieldsV1: Record<string, Record<string, unknown>> }> };
  };
  const template = pod.spec.containers[0] as Record<string, unknown>;
  const fieldsSpec = pod.metadata.managedFields[0]?.fieldsV1["f:spec"] as Record<string, unknown>;
  const fieldsContainers = fieldsSpec["f:containers"] as Record<string, unknown>;
  const fieldsTemplate = fieldsContainers['k:{"name":"checkout"}'] as Record<string, unknown>;
  pod.spec.containers = [];
  for (let c = 0; c < containers; c++) {
    const name = `worker-${c}`;
    const env: Array<{ name: string; value: string }> = [];
    const fieldsEnv: Record<string, unknown> = { ".": {} };
    for (let i = 0; i < envPerContainer; i++) {
      const envName = `FEATURE_${c}_${String(i).padStart(4, "0")}_ROLLOUT_SETTING`;
      // Realistic-looking values (URLs, JSON snippets), deterministic, ~110 characters.
      const value = `{"enabled":${i % 3 === 0},"percent":${i % 100},"url":"https://flags.internal.example.com/v1/${c}/${i}"}`;
      env.push({ name: envName, value });
      fieldsEnv[`k:{"name":"${envName}"}`] = { ".": {}, "f:name": {}, "f:value": {} };
    }
    pod.spec.containers.push({ ...template, name, env });
    fieldsContainers[`k:{"name":"${name}"}`] = { ...fieldsTemplate, "f:env": fieldsEnv };
  }
  delete fieldsContainers['k:{"name":"checkout"}'];
  delete fieldsContainers['k:{"name":"log-shipper"}'];
  return JSON.stringify(review);
}

/** A PEM bundle of `count` CA certificates (the second one an intermediate), valid ten years. */
export async function caBundle(
  count: number,
  label: string,
  now = new Date(),
  keyAlgorithm: KeyAlgorithm = "ECDSA-P256",
): Promise<string> {
  const notBefore = new Date(now.getTime() - 86_400_000);
  const notAfter = new Date(now.getTime() + 3650 * 86_400_000);
  const pems: string[] = [];
  let root: IssuedCertificate | undefined;
  for (let i = 0; i < count; i++) {
    // The second certificate is an intermediate of the first: bundles often carry a chain.
    const issuer = i === 1 ? root : undefined;
    const cert = await issueCertificate({
      commonName: `${label} CA ${i + 1}`,
      organization: ["Example Org"],
      isCA: true,
      notBefore,
      notAfter,
      keyAlgorithm,
      ...(issuer ? { issuer } : {}),
    });
    if (i === 0) root = cert;
    pems.push(cert.certificatePem);
  }
  return pems.join("");
}

/** The CA bundles of the warm cluster (generated once by the parent, sent to the children). */
export interface BenchBundles {
  /** The CA ConfigMap's `ca-bundle.crt`: a root and its intermediate. */
  configMap: string;
  /** The Connector's Secret (scenario b): 3 certificates. */
  secret3: string;
  /** The micro-benchmark's Secret: 100 certificates. */
  secret100: string;
}

/** Generates the bundles of {@link benchClusterView} (about a second: 105 key pairs). */
export async function benchBundles(now = new Date()): Promise<BenchBundles> {
  const [configMap, secret3, secret100] = await Promise.all([
    caBundle(2, "Shop Private", now),
    caBundle(3, "Git Private", now),
    caBundle(100, "Bulk", now),
  ]);
  return { configMap, secret3, secret100 };
}

/**
 * The warm cluster of the benchmark: every object the scenarios and the micro-benchmark look
 * up, already in memory (what the informer caches hold once synced).
 */
export function benchClusterView(bundles: BenchBundles): MemoryClusterView {
  const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
  return new MemoryClusterView({ namespace: FLAG_CONFIGMAP.namespace, name: FLAG_CONFIGMAP.name })
    .addNamespace(POD_NAMESPACE, {
      "kubernetes.io/metadata.name": POD_NAMESPACE,
      "ca-trust.dev/inject": "enabled",
    })
    .addNamespace(CONNECTOR_NAMESPACE, { "kubernetes.io/metadata.name": CONNECTOR_NAMESPACE })
    .addConfigMap({
      namespace: POD_NAMESPACE,
      name: CA_CONFIGMAP.name,
      data: { [CA_CONFIGMAP.key]: bundles.configMap },
      resourceVersion: "1001",
    })
    .addConfigMap({
      namespace: FLAG_CONFIGMAP.namespace,
      name: FLAG_CONFIGMAP.name,
      data: { [FLAG_CONFIGMAP.key]: "true" },
      resourceVersion: "1002",
    })
    .addSecret({
      namespace: CONNECTOR_NAMESPACE,
      name: SECRET_3_CERTS,
      data: { "ca.crt": b64(bundles.secret3), token: b64("not-a-certificate") },
      resourceVersion: "1003",
    })
    .addSecret({
      namespace: CONNECTOR_NAMESPACE,
      name: SECRET_100_CERTS,
      data: { "ca.crt": b64(bundles.secret100) },
      resourceVersion: "1004",
    });
}

/** A self-signed ECDSA serving certificate for 127.0.0.1, for the bench servers. */
export async function servingCertificate(): Promise<{ cert: string; key: string }> {
  const now = Date.now();
  const cert = await issueCertificate({
    commonName: "ca-trust-webhook-bench",
    ipAddresses: ["127.0.0.1"],
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 86_400_000),
  });
  return { cert: cert.certificatePem, key: cert.privateKeyPem };
}
