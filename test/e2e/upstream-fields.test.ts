/**
 * The CA references of the real upstream schemas (test/e2e/crds/, issue 15 acceptance 3),
 * through a real kube-apiserver and kubectl with the webhook registered: every Secret
 * reference of the kcp-operator's kinds is denied when what it names is broken and allowed when
 * it is valid (`{name: ""}`, what the CRDs default an omitted reference to, counts as not set);
 * a Connector referencing a cert-manager `kubernetes.io/tls` Secret is allowed; and kubectl
 * prints the warning that OpenChoreo reads only `clientCA.value` for observability planes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { examplePath } from "../../scripts/harness/examples.js";
import { type Manifest, toYaml } from "../../scripts/harness/manifests.js";
import { createTestNamespace } from "../../scripts/harness/namespaces.js";
import { pollUntil } from "../../scripts/harness/poll.js";
import {
  type ApplyVerdict,
  applyVerdict,
  type FieldErrorRef,
  verdictKind,
} from "../../scripts/harness/verdicts.js";
import {
  registerWebhooks,
  startWebhook,
  type WebhookRegistration,
  type WebhookServer,
  waitForWebhookCalled,
} from "../../scripts/harness/webhook.js";
import { type IssuedCertificate, issueCertificate } from "../../src/pki/issue.js";
import { useControlPlane } from "./harness/context.js";

const cp = useControlPlane();

let server: WebhookServer;
let registration: WebhookRegistration;
let namespace: string;
let signing: IssuedCertificate;
let otherSigning: IssuedCertificate;
let leaf: IssuedCertificate;

const BROKEN = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIQ\n";

beforeAll(async () => {
  const notBefore = new Date(Date.now() - 3_600_000);
  const notAfter = new Date(Date.now() + 365 * 86_400_000);
  signing = await issueCertificate({
    commonName: "e2e kcp signing CA",
    isCA: true,
    notBefore,
    notAfter,
  });
  otherSigning = await issueCertificate({
    commonName: "e2e old signing CA",
    isCA: true,
    notBefore,
    notAfter,
  });
  leaf = await issueCertificate({
    commonName: "kcp.example.com",
    dnsNames: ["kcp.example.com"],
    notBefore,
    notAfter,
    issuer: signing,
  });
  namespace = await createTestNamespace(cp, { prefix: "upstream" });
  server = await startWebhook(cp);
  registration = await registerWebhooks(cp, {
    url: server.url,
    caBundle: server.caPem,
    failurePolicy: "Fail",
    mutating: false,
  });
  await waitForWebhookCalled(cp, server, { namespace, registration });
});

afterAll(async () => {
  await registration?.unregister();
  await server?.stop();
});

function tlsSecret(
  name: string,
  data: Record<string, string>,
  type = "kubernetes.io/tls",
): Manifest {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace },
    type,
    stringData: data,
  };
}

async function apply(...docs: Manifest[]): Promise<ApplyVerdict> {
  return applyVerdict(
    await cp.kubectl(["apply", "-f", "-"], { input: toYaml(...docs), allowFail: true }),
  );
}

/** A valid object of each kcp-operator kind under the real CRDs, with `spec` merged in. */
function kcpObject(kind: string, name: string, spec: Record<string, unknown>): Manifest {
  const base: Record<string, Record<string, unknown>> = {
    RootShard: {
      external: { hostname: `${name}.example.com`, port: 6443 },
      certificates: { issuerRef: { name: "selfsigned" } },
      cache: { embedded: { enabled: true } },
      etcd: { endpoints: ["https://etcd:2379"] },
    },
    Shard: { rootShard: { ref: { name: "root" } }, etcd: { endpoints: ["https://etcd:2379"] } },
    FrontProxy: { rootShard: { ref: { name: "root" } } },
    CacheServer: { certificates: { issuerRef: { name: "selfsigned" } } },
    VirtualWorkspace: {
      external: { hostname: `${name}.example.com`, port: 6443 },
      target: { rootShardRef: { name: "root" } },
    },
  };
  // The reference's top-level field replaces the base's (certificates, etcd: whole).
  const merged: Record<string, unknown> = { ...base[kind], ...spec };
  // The FrontProxy CRD: "OIDC requires ServiceAccount auth to be enabled".
  if (kind === "FrontProxy" && typeof merged.auth === "object" && merged.auth !== null) {
    merged.auth = { ...merged.auth, serviceAccount: { enabled: true } };
  }
  return {
    apiVersion: "operator.kcp.io/v1alpha1",
    kind,
    metadata: { name, namespace },
    spec: merged,
  };
}

interface FieldCase {
  field: string;
  kinds: string[];
  /** The reference in `spec` naming Secret `secret` (and, for caFileRef, optionally a key). */
  spec: (secret: string) => Record<string, unknown>;
  valid: () => Manifest;
  broken: () => Manifest;
  /** The field error of the denial. */
  deniedAt: FieldErrorRef;
}

const oidc = (caFileRef: Record<string, unknown>) => ({
  auth: {
    oidc: { issuerURL: "https://login.example.com", clientID: "kcp", caFileRef },
  },
});

const FIELDS: FieldCase[] = [
  {
    field: "spec.clientCABundleRef",
    kinds: ["RootShard", "Shard", "FrontProxy", "VirtualWorkspace"],
    spec: (secret) => ({ clientCABundleRef: { name: secret } }),
    valid: () => tlsSecret("client-ca-ok", { "tls.crt": signing.certificatePem }, "Opaque"),
    broken: () => tlsSecret("client-ca-broken", { "tls.crt": BROKEN }, "Opaque"),
    deniedAt: { field: "spec.clientCABundleRef.name", type: "Invalid value" },
  },
  {
    field: "spec.caBundleSecretRef",
    kinds: ["RootShard", "Shard", "FrontProxy", "VirtualWorkspace"],
    spec: (secret) => ({ caBundleSecretRef: { name: secret } }),
    valid: () => tlsSecret("ca-bundle-ok", { "tls.crt": signing.certificatePem }, "Opaque"),
    broken: () => tlsSecret("ca-bundle-broken", { "ca.crt": signing.certificatePem }, "Opaque"),
    deniedAt: { field: "spec.caBundleSecretRef.name", type: "Invalid value" },
  },
  {
    field: "spec.auth.oidc.caFileRef (key ca.crt by default)",
    kinds: ["RootShard", "Shard", "FrontProxy"],
    spec: (secret) => oidc({ name: secret }),
    valid: () => tlsSecret("oidc-ok", { "ca.crt": signing.certificatePem }, "Opaque"),
    broken: () => tlsSecret("oidc-broken", { "ca.crt": BROKEN }, "Opaque"),
    deniedAt: { field: "spec.auth.oidc.caFileRef.name", type: "Invalid value" },
  },
  {
    field: "spec.auth.oidc.caFileRef with its key",
    kinds: ["RootShard", "Shard", "FrontProxy"],
    spec: (secret) => oidc({ name: secret, key: "issuer.pem" }),
    valid: () => tlsSecret("oidc-key-ok", { "issuer.pem": signing.certificatePem }, "Opaque"),
    broken: () => tlsSecret("oidc-key-broken", { "issuer.pem": BROKEN }, "Opaque"),
    deniedAt: { field: "spec.auth.oidc.caFileRef.key", type: "Invalid value" },
  },
  {
    field: "spec.certificates.caSecretRef",
    kinds: ["RootShard", "CacheServer"],
    spec: (secret) => ({ certificates: { caSecretRef: { name: secret } } }),
    valid: () =>
      tlsSecret("signing-ok", {
        "tls.crt": signing.certificatePem,
        "tls.key": signing.privateKeyPem,
      }),
    broken: () =>
      tlsSecret(
        "signing-wrong-key",
        { "tls.crt": signing.certificatePem, "tls.key": otherSigning.privateKeyPem },
        "Opaque",
      ),
    deniedAt: { field: "spec.certificates.caSecretRef.name", type: "Invalid value" },
  },
  {
    field: "spec.certificates.caSecretRef holding a leaf",
    kinds: ["RootShard", "CacheServer"],
    spec: (secret) => ({ certificates: { caSecretRef: { name: secret } } }),
    valid: () =>
      tlsSecret("signing-ok", {
        "tls.crt": signing.certificatePem,
        "tls.key": signing.privateKeyPem,
      }),
    broken: () =>
      tlsSecret("signing-leaf", { "tls.crt": leaf.certificatePem, "tls.key": leaf.privateKeyPem }),
    deniedAt: { field: "spec.certificates.caSecretRef.name", type: "Invalid value" },
  },
  {
    field: "spec.etcd.tlsConfig.secretRef",
    kinds: ["RootShard", "Shard", "CacheServer"],
    spec: (secret) => ({
      etcd: { endpoints: ["https://etcd:2379"], tlsConfig: { secretRef: { name: secret } } },
    }),
    valid: () =>
      tlsSecret("etcd-ok", {
        "ca.crt": signing.certificatePem,
        "tls.crt": leaf.certificatePem,
        "tls.key": leaf.privateKeyPem,
      }),
    broken: () =>
      tlsSecret("etcd-broken", {
        "ca.crt": BROKEN,
        "tls.crt": leaf.certificatePem,
        "tls.key": leaf.privateKeyPem,
      }),
    deniedAt: { field: "spec.etcd.tlsConfig.secretRef.name", type: "Invalid value" },
  },
];

const ROWS = FIELDS.flatMap((c) => c.kinds.map((kind) => [c.field, kind, c] as const));

describe("the kcp-operator's Secret references, on the upstream CRDs", () => {
  it.each(ROWS)("%s on a %s: allowed when valid, denied when broken", async (field, kind, c) => {
    const suffix = `${kind.toLowerCase()}-${ROWS.findIndex((r) => r[0] === field && r[1] === kind)}`;
    const valid = c.valid();
    const broken = c.broken();
    const secretName = (s: Manifest) => (s.metadata as { name: string }).name;

    const allowed = await apply(valid, kcpObject(kind, `ok-${suffix}`, c.spec(secretName(valid))));
    const denied = await apply(
      broken,
      kcpObject(kind, `bad-${suffix}`, c.spec(secretName(broken))),
    );

    expect([verdictKind(allowed), allowed.warnings]).toEqual(["allowed", []]);
    expect(verdictKind(denied)).toBe("denied");
    expect(denied.errors.map((e) => [e.reason, e.fields])).toEqual([["Invalid", [c.deniedAt]]]);
  });

  it('a RootShard whose references the CRD defaulted to {name: ""} is allowed: not set', async () => {
    const result = await apply(
      kcpObject("RootShard", "defaulted", { clientCABundleRef: {}, caBundleSecretRef: {} }),
    );
    const stored = await cp.kubectl([
      "get",
      "rootshard.operator.kcp.io",
      "defaulted",
      "-n",
      namespace,
      "-o",
      "jsonpath={.spec.clientCABundleRef}",
    ]);

    expect([verdictKind(result), result.warnings]).toEqual(["allowed", []]);
    expect(JSON.parse(stored.stdout)).toEqual({ name: "" });
  });
});

describe("Connectors and OpenChoreo", () => {
  beforeAll(async () => {
    await cp.kubectl(["apply", "-f", examplePath("namespaces.yaml")]);
    await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "connectors-config", namespace: "connectors-system" },
        data: { "enable-custom-ca-certs": "true" },
      }),
    });
    // The flag is read from a watch: wait until the webhook enforces the Connector rule.
    const probe = {
      apiVersion: "connectors.alauda.io/v1alpha1",
      kind: "Connector",
      metadata: { name: "flag-probe", namespace },
      spec: {
        connectorClassName: "git",
        address: "https://git.example.com",
        caCertSecretRef: { name: "no-such-ca" },
      },
    };
    await pollUntil(
      async () => {
        const r = await cp.kubectl(["create", "--dry-run=server", "-f", "-"], {
          input: toYaml(probe),
          allowFail: true,
        });
        return applyVerdict(r).warnings.some((w) => w.includes("not found")) ? true : undefined;
      },
      { what: "the Connector rule to be enforced", timeoutMs: 30_000 },
    );
  });

  it("a Connector referencing a cert-manager Secret (tls.crt, tls.key, ca.crt) is allowed", async () => {
    const result = await apply(
      tlsSecret("cert-manager-ca", {
        "tls.crt": signing.certificatePem,
        "tls.key": signing.privateKeyPem,
        "ca.crt": signing.certificatePem,
      }),
      {
        apiVersion: "connectors.alauda.io/v1alpha1",
        kind: "Connector",
        metadata: { name: "with-cert-manager-ca", namespace },
        spec: {
          connectorClassName: "git",
          address: "https://git.example.com",
          caCertSecretRef: { name: "cert-manager-ca" },
        },
      },
    );

    expect([verdictKind(result), result.warnings]).toEqual(["allowed", []]);
    expect(result.objects).toContain("connector.connectors.alauda.io/with-cert-manager-ca created");
  });

  it("a private key pasted into the same Secret's ca.crt is still denied", async () => {
    const result = await apply(
      tlsSecret("cert-manager-ca-pasted", {
        "tls.crt": signing.certificatePem,
        "tls.key": signing.privateKeyPem,
        "ca.crt": signing.certificatePem + signing.privateKeyPem,
      }),
      {
        apiVersion: "connectors.alauda.io/v1alpha1",
        kind: "Connector",
        metadata: { name: "with-pasted-key", namespace },
        spec: {
          connectorClassName: "git",
          address: "https://git.example.com",
          caCertSecretRef: { name: "cert-manager-ca-pasted" },
        },
      },
    );

    expect(verdictKind(result)).toBe("denied");
    expect(result.errors[0]?.text).toContain(
      'key "ca.crt": PEM block 2 (PRIVATE KEY): a private key; remove it',
    );
  });

  it.each(["ObservabilityPlane", "ClusterObservabilityPlane"])(
    "kubectl prints the warning that OpenChoreo reads only clientCA.value for a %s",
    async (kind) => {
      const namespaced = kind === "ObservabilityPlane";
      const result = await cp.kubectl(["apply", "-f", "-"], {
        input: toYaml(tlsSecret("observer-ca", { "ca.crt": signing.certificatePem }, "Opaque"), {
          apiVersion: "openchoreo.dev/v1alpha1",
          kind,
          metadata: namespaced
            ? { name: "observer", namespace }
            : { name: `observer-${namespace}` },
          spec: {
            planeID: "observer",
            clusterAgent: {
              clientCA: {
                secretKeyRef: {
                  name: "observer-ca",
                  key: "ca.crt",
                  ...(namespaced ? {} : { namespace }),
                },
              },
            },
            observerURL: "http://observer.example.com:11080",
          },
        }),
        allowFail: true,
      });

      expect(result.code).toBe(0);
      expect(result.stderr.split("\n").filter((l) => l !== "")).toEqual([
        "Warning: spec.clusterAgent.clientCA.secretKeyRef: OpenChoreo reads only clientCA.value for this kind; set the PEM there",
      ]);
    },
  );
});
