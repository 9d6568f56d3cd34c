/**
 * Issue 13, acceptance 1: the webhook reads a Secret for a request only if the requesting user
 * may `get` it (SubjectAccessReview), and tells a user who may not nothing about it. Through a
 * real kube-apiserver with RBAC, as impersonated users (`kubectl --as`; the apiserver sends the
 * impersonated identity as the review's userInfo):
 *
 * - alice may create (Cluster)DataPlanes but read no Secret: each oracle case of the issue
 *   (Argo CD's admin Secret with a key it lacks, a kube-system bootstrap token, a Secret that
 *   does not exist, Istio's `cacerts` key `ca-key.pem`, an expiring CA, a namespaced plane in
 *   her own namespace) is denied with one sentence that names neither keys, certificates nor
 *   existence: byte-identical for an existing and a missing Secret;
 * - bob may also read those Secrets and gets today's detailed answers;
 * - a direct caller (no apiserver, a forged userInfo) cannot tell an existing Secret from a
 *   missing one either;
 * - `--secret-namespaces` denies a reference elsewhere naming the option;
 * - the SubjectAccessReview cache is visible in /metrics.
 */
import { generateKeyPairSync } from "node:crypto";
import { request as httpsRequest } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubectlResult } from "../../scripts/harness/controlplane.js";
import { type Manifest, secret, toYaml } from "../../scripts/harness/manifests.js";
import { createTestNamespace, uniqueName } from "../../scripts/harness/namespaces.js";
import {
  metricSum,
  registerWebhooks,
  startWebhook,
  type WebhookRegistration,
  type WebhookServer,
  waitForWebhookCalled,
} from "../../scripts/harness/webhook.js";
import { issueCertificate } from "../../src/pki/issue.js";
import { useControlPlane } from "./harness/context.js";

const cp = useControlPlane();

const DAY = 86_400_000;
const FIELD = "spec.clusterAgent.clientCA.secretKeyRef.name";
const MUST = "a CA reference must point at a Secret you can read";
/** What a denial for a user who may not read the Secret must never carry. */
const TELLS =
  /keys?:|password|token-(id|secret)|not found|private key|PRIVATE|sha256|expires|Oracle (Root|Expiring) CA|BEGIN/i;

/** The plane-creator ClusterRole both users get; bob also reads Secrets. */
const PLANES = ["dataplanes", "clusterdataplanes"];

let server: WebhookServer;
let registration: WebhookRegistration;
/** Unique stand-ins for argocd, istio-system, a platform namespace and alice's own namespace. */
let argocd: string;
let istio: string;
let platform: string;
let payments: string;
let bootstrapName: string;
let rbac: string;

function clusterPlane(ref: { namespace: string; name: string; key: string }): Manifest {
  return {
    apiVersion: "openchoreo.dev/v1alpha1",
    kind: "ClusterDataPlane",
    metadata: { name: "oracle" },
    spec: { planeID: "oracle", clusterAgent: { clientCA: { secretKeyRef: ref } } },
  };
}

function dataPlane(namespace: string, ref: { name: string; key: string }): Manifest {
  return {
    apiVersion: "openchoreo.dev/v1alpha1",
    kind: "DataPlane",
    metadata: { name: "oracle", namespace },
    spec: { planeID: "oracle", clusterAgent: { clientCA: { secretKeyRef: ref } } },
  };
}

/** `kubectl create --dry-run=server` of `object` as `user` (impersonated, with one group). */
function createAs(user: string, object: Manifest): Promise<KubectlResult> {
  return cp.kubectl(
    ["create", "--dry-run=server", "-f", "-", `--as=${user}`, "--as-group=tenants"],
    { input: toYaml(object), allowFail: true },
  );
}

/** The one sentence alice reads, whatever the Secret is or whether it exists. */
const refusal = (namespace: string) =>
  `${FIELD}: Forbidden: user "alice" may not get secrets in namespace "${namespace}"; ${MUST}`;

beforeAll(async () => {
  argocd = await createTestNamespace(cp, { prefix: "argocd" });
  istio = await createTestNamespace(cp, { prefix: "istio-system" });
  platform = await createTestNamespace(cp, { prefix: "platform" });
  payments = await createTestNamespace(cp, { prefix: "payments" });
  const validity = { notBefore: new Date(Date.now() - DAY) };
  const root = await issueCertificate({
    commonName: "Oracle Root CA",
    isCA: true,
    ...validity,
    notAfter: new Date(Date.now() + 365 * DAY),
  });
  const expiring = await issueCertificate({
    commonName: "Oracle Expiring CA",
    isCA: true,
    ...validity,
    notAfter: new Date(Date.now() + 10 * DAY),
  });
  const caKey = generateKeyPairSync("ec", { namedCurve: "P-256" })
    .privateKey.export({ type: "pkcs8", format: "pem" })
    .toString();
  const id = uniqueName("x")
    .slice(-6)
    .replace(/[^a-z0-9]/g, "0");
  bootstrapName = `bootstrap-token-${id}`;
  await cp.kubectl(["apply", "-f", "-"], {
    input: toYaml(
      secret("argocd-initial-admin-secret", argocd, { password: "hunter2-argocd" }),
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: bootstrapName, namespace: "kube-system" },
        type: "bootstrap.kubernetes.io/token",
        stringData: {
          "token-id": id,
          "token-secret": "0123456789abcdef",
          "usage-bootstrap-authentication": "true",
        },
      },
      secret("cacerts", istio, {
        "ca-cert.pem": root.certificatePem,
        "ca-key.pem": caKey,
      }),
      secret("expiring-ca", platform, { "ca.crt": expiring.certificatePem }),
      secret("payments-db", payments, { password: "hunter2-db", username: "app" }),
    ),
  });

  // alice: may create planes, may read no Secret. bob: the same, and may read Secrets in the
  // namespaces above (a RoleBinding each), which is what the per-user check asks about.
  const readers = [argocd, istio, platform, payments, "kube-system"];
  rbac = toYaml(
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "e2e-security-plane-creator" },
      rules: [
        {
          apiGroups: ["openchoreo.dev"],
          resources: PLANES,
          verbs: ["get", "list", "create", "update", "patch"],
        },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "e2e-security-plane-creator" },
      roleRef: {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        name: "e2e-security-plane-creator",
      },
      subjects: ["alice", "bob"].map((name) => ({
        apiGroup: "rbac.authorization.k8s.io",
        kind: "User",
        name,
      })),
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "e2e-security-secret-reader" },
      rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }],
    },
    ...readers.map((namespace) => ({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "e2e-security-bob-reads-secrets", namespace },
      roleRef: {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        name: "e2e-security-secret-reader",
      },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "bob" }],
    })),
  );
  await cp.kubectl(["apply", "-f", "-"], { input: rbac });

  // A long access-review TTL: the cache-hit assertion must not depend on how fast kubectl runs.
  server = await startWebhook(cp, { extraArgs: ["--access-review-ttl", "10m"] });
  registration = await registerWebhooks(cp, { url: server.url, caBundle: server.caPem });
  await waitForWebhookCalled(cp, server, { namespace: payments, registration });
});

afterAll(async () => {
  await registration?.unregister();
  await server?.stop();
  await cp.kubectl(["delete", "--ignore-not-found", "-f", "-"], { input: rbac, allowFail: true });
  await cp.kubectl(["delete", "secret", bootstrapName, "-n", "kube-system", "--ignore-not-found"], {
    allowFail: true,
  });
});

describe("alice may create planes but read no Secret: every oracle case says only that", () => {
  it.each([
    {
      name: "Argo CD's admin Secret with a key it lacks (no key list)",
      ref: () => ({ namespace: argocd, name: "argocd-initial-admin-secret", key: "x" }),
    },
    {
      name: "a kube-system bootstrap token",
      ref: () => ({ namespace: "kube-system", name: bootstrapName, key: "token-id" }),
    },
    {
      name: "a Secret that does not exist",
      ref: () => ({ namespace: argocd, name: "no-such-secret", key: "x" }),
    },
    {
      name: "istio-system/cacerts key ca-key.pem (no private-key verdict)",
      ref: () => ({ namespace: istio, name: "cacerts", key: "ca-key.pem" }),
    },
    {
      name: "a CA about to expire (no warning with CN, fingerprint or expiry)",
      ref: () => ({ namespace: platform, name: "expiring-ca", key: "ca.crt" }),
    },
  ])("$name: denied, naming only the user and the namespace", async ({ ref }) => {
    const r = ref();
    const result = await createAs("alice", clusterPlane(r));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("(Forbidden)");
    expect(result.stderr).toContain(refusal(r.namespace));
    expect(result.stderr).not.toMatch(TELLS);
    expect(result.stderr).not.toMatch(/^Warning:/m);
    expect(result.stdout).toBe("");
  });

  it("an existing and a missing Secret of one namespace get byte-identical answers", async () => {
    const existing = await createAs(
      "alice",
      clusterPlane({ namespace: argocd, name: "argocd-initial-admin-secret", key: "x" }),
    );
    const missing = await createAs(
      "alice",
      clusterPlane({ namespace: argocd, name: "no-such-secret", key: "x" }),
    );
    expect(existing.stderr).toContain(refusal(argocd));
    expect(missing.stderr).toBe(existing.stderr);
    expect(missing.code).toBe(existing.code);
  });

  it("a namespaced plane in her own namespace, without Secret access there: no `payments-db (keys: ...)`", async () => {
    const result = await createAs("alice", dataPlane(payments, { name: "payments-db", key: "x" }));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(refusal(payments));
    expect(result.stderr).not.toMatch(TELLS);
    expect(result.stderr).not.toContain("username");
  });
});

describe("bob may read those Secrets: today's detailed answers", () => {
  it.each([
    {
      name: "the key list of Argo CD's admin Secret",
      ref: () => ({ namespace: argocd, name: "argocd-initial-admin-secret", key: "x" }),
      denied: /has no key "x" \(keys: password\)/,
    },
    {
      name: "the private-key verdict on cacerts' ca-key.pem",
      ref: () => ({ namespace: istio, name: "cacerts", key: "ca-key.pem" }),
      denied: /PRIVATE KEY|private key/,
    },
    {
      name: "the bootstrap token's keys",
      ref: () => ({ namespace: "kube-system", name: bootstrapName, key: "ca.crt" }),
      denied: /keys: token-id, token-secret/,
    },
  ])("$name", async ({ ref, denied }) => {
    const result = await createAs("bob", clusterPlane(ref()));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(denied);
    expect(result.stderr).not.toContain("may not get secrets");
  });

  it("a Secret that does not exist is reported missing (a warning; the plane is admitted)", async () => {
    const result = await createAs(
      "bob",
      clusterPlane({ namespace: argocd, name: "no-such-secret", key: "x" }),
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/Warning: .*Secret "no-such-secret" not found/);
  });

  it("the expiring CA is admitted with a warning that names its CN", async () => {
    const result = await createAs(
      "bob",
      clusterPlane({ namespace: platform, name: "expiring-ca", key: "ca.crt" }),
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/Warning: .*Oracle Expiring CA/);
  });

  it("in the payments namespace, the plane's Secret keys are named", async () => {
    const result = await createAs("bob", dataPlane(payments, { name: "payments-db", key: "x" }));
    expect(result.stderr).toMatch(/payments-db has no key "x" \(keys: password, username\)/);
  });
});

/** POSTs an AdmissionReview straight to the server (no apiserver), as any Pod could. */
function postReview(body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const url = new URL(`${server.url}/validate`);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        ca: server.caPem,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(payload),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            json: JSON.parse(Buffer.concat(chunks).toString("utf8")),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

function forgedReview(uid: string, ref: { namespace: string; name: string; key: string }) {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid,
      kind: { group: "openchoreo.dev", version: "v1alpha1", kind: "ClusterDataPlane" },
      resource: { group: "openchoreo.dev", version: "v1alpha1", resource: "clusterdataplanes" },
      name: "oracle",
      operation: "CREATE",
      userInfo: { username: "mallory", groups: ["system:authenticated"] },
      object: clusterPlane(ref),
      oldObject: null,
      dryRun: true,
    },
  };
}

describe("a direct caller with a forged review (no mutual TLS)", () => {
  it("cannot tell an existing Secret from a missing one", async () => {
    const existing = await postReview(
      forgedReview("f-1", { namespace: argocd, name: "argocd-initial-admin-secret", key: "x" }),
    );
    const missing = await postReview(
      forgedReview("f-2", { namespace: argocd, name: "no-such-secret", key: "x" }),
    );
    expect(existing.status).toBe(200);
    const answer = (r: typeof existing) => {
      const response = r.json.response as Record<string, unknown>;
      return { ...response, uid: undefined };
    };
    expect(answer(missing)).toEqual(answer(existing));
    const status = (existing.json.response as { status: { message: string; code: number } }).status;
    expect(status.code).toBe(403);
    expect(status.message).toContain(
      `${FIELD}: Forbidden: user "mallory" may not get secrets in namespace "${argocd}"`,
    );
    expect(status.message).not.toMatch(TELLS);
  });
});

describe("--secret-namespaces: the ServiceAccount reads Secrets only in listed namespaces", () => {
  let narrow: WebhookServer;
  beforeAll(async () => {
    narrow = await startWebhook(cp, { extraArgs: ["--secret-namespaces", platform] });
  });
  afterAll(async () => {
    await narrow?.stop();
  });

  it("a reference into an unlisted namespace is denied naming the option (no 403 from the API)", async () => {
    const saved = server;
    server = narrow;
    try {
      const { json } = await postReview(
        forgedReview("n-1", { namespace: argocd, name: "argocd-initial-admin-secret", key: "x" }),
      );
      const status = (json.response as { status: { message: string; code: number } }).status;
      expect(status.code).toBe(403);
      expect(status.message).toContain(
        `spec.clusterAgent.clientCA.secretKeyRef.namespace: Forbidden: this webhook reads CA Secrets only in the namespaces of its --secret-namespaces option ("${platform}"), not in "${argocd}"`,
      );
    } finally {
      server = saved;
    }
  });
});

describe("/metrics", () => {
  it("counts SubjectAccessReviews by decision and the cache's hits and misses", async () => {
    // The same question twice: the second answer comes from the cache.
    const ref = { namespace: argocd, name: "argocd-initial-admin-secret", key: "x" };
    await createAs("alice", clusterPlane(ref));
    const before = await server.metrics();
    await createAs("alice", clusterPlane(ref));
    const after = await server.metrics();
    const cache = (samples: typeof after, result: string) =>
      metricSum(samples, "ca_trust_webhook_access_review_cache_total", { result });
    const reviews = (decision: string) =>
      metricSum(after, "ca_trust_webhook_access_reviews_total", { decision });
    expect(cache(after, "hit")).toBe(cache(before, "hit") + 1);
    expect(cache(after, "miss")).toBe(cache(before, "miss"));
    expect(reviews("denied")).toBeGreaterThanOrEqual(5);
    expect(reviews("allowed")).toBeGreaterThanOrEqual(3);
    expect(reviews("error")).toBe(0);
    expect(
      metricSum(after, "ca_trust_webhook_cache_objects", { cache: "access-reviews" }),
    ).toBeGreaterThan(0);
  });
});
