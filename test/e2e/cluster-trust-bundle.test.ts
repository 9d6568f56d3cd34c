import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveBinaries } from "../../scripts/harness/binaries.js";
import { runCli as cli } from "../../scripts/harness/cli.js";
import { type OwnedControlPlane, startControlPlane } from "../../scripts/harness/controlplane.js";
import { objectsOf, serviceAccountKubeconfig } from "../../scripts/harness/helm.js";
import { kustomizeDeploy } from "../../scripts/harness/kustomize.js";
import { type Manifest, restrictedPod, toYaml } from "../../scripts/harness/manifests.js";
import {
  createTestNamespace,
  INJECT_ENABLED,
  RESTRICTED,
} from "../../scripts/harness/namespaces.js";
import { caCertificatePem } from "../../scripts/harness/pki.js";
import { pollUntil } from "../../scripts/harness/poll.js";
import {
  registerWebhooks,
  startWebhook,
  type WebhookRegistration,
  type WebhookServer,
  waitForWebhookCalled,
} from "../../scripts/harness/webhook.js";
import type { ScanReport } from "../../src/cli/scan.js";
import { useControlPlane } from "./harness/context.js";

const shared = useControlPlane();
const BUNDLE = "corp-roots";
const SIGNER = "example.com/corp-roots";
const SERVICE_ACCOUNT_NAMESPACE = "ca-trust-system";

let cp: OwnedControlPlane;
let dir: string;
let namespace: string;
let server: WebhookServer;
let registration: WebhookRegistration;
let rootPem: string;

const sha256 = (text: string) =>
  `sha256:${createHash("sha256").update(text, "utf8").digest("hex")}`;

function clusterTrustBundle(
  name: string,
  pem: string,
  extra: Record<string, unknown> = {},
): Manifest {
  const { labels, signerName } = extra as { labels?: Record<string, string>; signerName?: string };
  return {
    apiVersion: "certificates.k8s.io/v1beta1",
    kind: "ClusterTrustBundle",
    metadata: { name, ...(labels ? { labels } : {}) },
    spec: { ...(signerName ? { signerName } : {}), trustBundle: pem },
  };
}

type StoredPod = {
  metadata: { annotations?: Record<string, string> };
  spec: {
    initContainers?: { name: string }[];
    volumes?: { name: string; projected?: { sources: unknown[] }; configMap?: unknown }[];
  };
};

async function storedPod(ns: string, name: string): Promise<StoredPod> {
  return JSON.parse(
    (await cp.kubectl(["get", "pod", name, "-n", ns, "-o", "json"])).stdout,
  ) as StoredPod;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ca-trust-e2e-ctb-"));
  rootPem = await caCertificatePem("corp root CA");
  cp = await startControlPlane({
    binDir: await resolveBinaries(),
    extraApiServerFlags: [
      "--runtime-config=certificates.k8s.io/v1beta1/clustertrustbundles=true",
      "--feature-gates=ClusterTrustBundle=true,ClusterTrustBundleProjection=true",
    ],
  });
  for (const ns of [SERVICE_ACCOUNT_NAMESPACE, "connectors-system"]) {
    await cp.kubectl(["create", "namespace", ns]);
  }
  // The shipped RBAC with the component's grant (and its arguments, checked below).
  const rendered: Manifest[] = objectsOf(
    await kustomizeDeploy(cp, ["."], ["components/cluster-trust-bundle"]),
  );
  const rbac = rendered.filter((o) =>
    ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"].includes(
      o.kind as string,
    ),
  );
  await cp.kubectl(["apply", "-f", "-"], { input: toYaml(...rbac) });
  const deployment = rendered.find((o) => o.kind === "Deployment") as {
    spec: { template: { spec: { containers: { args: string[] }[] } } };
  };
  const args = deployment.spec.template.spec.containers[0]?.args ?? [];
  const sourceArgs = args.filter((a) => a.startsWith("--inject-"));
  expect(sourceArgs).toEqual([
    `--inject-source=clustertrustbundle`,
    `--inject-cluster-trust-bundle=${BUNDLE}`,
  ]);

  namespace = await createTestNamespace(cp, {
    prefix: "ctb",
    labels: { ...INJECT_ENABLED, ...RESTRICTED },
  });
  server = await startWebhook(cp, {
    kubeconfig: await serviceAccountKubeconfig(cp, {
      namespace: SERVICE_ACCOUNT_NAMESPACE,
      name: "ca-trust-webhook",
      dir,
    }),
    extraArgs: sourceArgs,
  });
  registration = await registerWebhooks(cp, {
    url: server.url,
    caBundle: server.caPem,
    validating: false,
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
  });
  await waitForWebhookCalled(cp, server, { namespace, via: "mutating", registration });
}, 300_000);

afterAll(async () => {
  await registration?.unregister().catch(() => {});
  await server?.stop();
  await cp?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the ClusterTrustBundle source, by name", () => {
  it("a Pod is denied, naming the bundle, while the ClusterTrustBundle does not exist", async () => {
    const result = await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml(restrictedPod("early", namespace)),
      allowFail: true,
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      `the CA ClusterTrustBundle "${BUNDLE}" does not exist; create it (the Pod would not start without it)`,
    );
  });

  it("the stored Pod carries the projected clusterTrustBundle source and passes PodSecurity restricted", async () => {
    await cp.kubectl(["apply", "-f", "-"], { input: toYaml(clusterTrustBundle(BUNDLE, rootPem)) });
    // A miss is confirmed with a GET, but "not found" is kept up to 1 s (the previous test
    // asked): wait until a dry run is admitted.
    await pollUntil(
      async () => {
        const dry = await cp.kubectl(["create", "--dry-run=server", "-o", "name", "-f", "-"], {
          input: toYaml(restrictedPod("web", namespace)),
          allowFail: true,
        });
        return dry.code === 0 ? true : undefined;
      },
      { what: "the bundle to be seen", timeoutMs: 30_000 },
    );
    const applied = await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml(restrictedPod("web", namespace)),
    });
    // The namespace enforces restricted: a violation would have failed the apply.
    expect(applied.stderr).toBe("");
    const pod = await storedPod(namespace, "web");
    expect(pod.spec.initContainers?.[0]?.name).toBe("install-ca-cert");
    expect(pod.spec.volumes).toContainEqual({
      name: "ca-trust-custom-ca",
      projected: {
        sources: [{ clusterTrustBundle: { name: BUNDLE, path: "ca-bundle.crt" } }],
        defaultMode: 420,
      },
    });
    expect(pod.spec.volumes?.some((v) => v.configMap !== undefined)).toBe(false);
    expect(pod.metadata.annotations?.["ca-trust.dev/injected"]).toBe(sha256(rootPem));
  });

  it("a broken bundle (a truncated second certificate, which the apiserver stores) is denied with the reason", async () => {
    const broken = `${rootPem}-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHBfpegPjMCMA0GCSqGSIb3DQEBCwUA\n`;
    await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml(clusterTrustBundle("corp-roots-broken", broken)),
    });
    const stored = await cp.kubectl([
      "get",
      "clustertrustbundle",
      "corp-roots-broken",
      "-o",
      "jsonpath={.spec.trustBundle}",
    ]);
    expect(stored.stdout).toBe(broken);
    const other = await startWebhook(cp, {
      extraArgs: [
        "--inject-source=clustertrustbundle",
        "--inject-cluster-trust-bundle=corp-roots-broken",
      ],
    });
    const otherNamespace = await createTestNamespace(cp, {
      prefix: "ctb-broken",
      labels: { ...INJECT_ENABLED },
    });
    const otherRegistration = await registerWebhooks(cp, {
      url: other.url,
      caBundle: other.caPem,
      validating: false,
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": otherNamespace } },
    });
    try {
      await waitForWebhookCalled(cp, other, {
        namespace: otherNamespace,
        via: "mutating",
        registration: otherRegistration,
      });
      const result = await cp.kubectl(["apply", "-f", "-"], {
        input: toYaml(restrictedPod("web", otherNamespace)),
        allowFail: true,
      });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(
        /the CA ClusterTrustBundle "corp-roots-broken" spec\.trustBundle is not a valid CA bundle: PEM block 2: BEGIN without END/,
      );
    } finally {
      await otherRegistration.unregister();
      await other.stop();
    }
  });

  it("inject --cluster prints a Pod the apiserver stores as printed; scan reports Pods injected before the bundle changed", async () => {
    const plain = await createTestNamespace(cp, { prefix: "ctb-cli", labels: { ...RESTRICTED } });
    const injected = await cli(
      [
        "inject",
        "-f",
        "-",
        "--cluster",
        "--kubeconfig",
        cp.kubeconfigPath,
        "--inject-source=clustertrustbundle",
        `--inject-cluster-trust-bundle=${BUNDLE}`,
      ],
      // Its namespace is not opted in (it is read from the cluster): the Pod opts in itself.
      toYaml(restrictedPod("from-cli", plain, { "ca-trust.dev/inject": "true" })),
    );
    expect(injected.stderr).toMatch(/passes PodSecurity "restricted(:[a-z0-9.]+)?"/);
    expect(injected.code).toBe(0);
    await cp.kubectl(["create", "-f", "-"], { input: injected.stdout });
    expect(
      (await storedPod(plain, "from-cli")).metadata.annotations?.["ca-trust.dev/injected"],
    ).toBe(sha256(rootPem));

    const rotated = `${rootPem}${await caCertificatePem("corp root CA, next")}`;
    await cp.kubectl(["apply", "-f", "-"], { input: toYaml(clusterTrustBundle(BUNDLE, rotated)) });
    const scan = await cli([
      "scan",
      "-n",
      namespace,
      "-o",
      "json",
      "--kubeconfig",
      cp.kubeconfigPath,
    ]);
    expect(scan.code).toBe(1);
    const report = JSON.parse(scan.stdout) as ScanReport;
    expect(report.errors).toEqual([]);
    expect(report.staleBundle).toEqual([
      {
        owner: { kind: "Pod", namespace, name: "web" },
        pods: ["web"],
        command: `kubectl delete pod web -n ${namespace}`,
        note: "a Pod without an owner is not re-created: apply its manifest again after deleting it",
        configMap: null,
        source: `ClusterTrustBundle "${BUNDLE}"`,
        injected: [sha256(rootPem)],
        current: sha256(rotated),
      },
    ]);
  });
});

describe("the ClusterTrustBundle source, by signer and labels", () => {
  it("projects every bundle of the signer with the labels; the hash covers them all", async () => {
    const first = await caCertificatePem("signer root A");
    const second = await caCertificatePem("signer root B");
    await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml(
        clusterTrustBundle("example.com:corp-roots:a", first, {
          signerName: SIGNER,
          labels: { audience: "internal" },
        }),
        clusterTrustBundle("example.com:corp-roots:b", second, {
          signerName: SIGNER,
          labels: { audience: "internal" },
        }),
        clusterTrustBundle("example.com:corp-roots:public", await caCertificatePem("public"), {
          signerName: SIGNER,
          labels: { audience: "public" },
        }),
      ),
    });
    const signerServer = await startWebhook(cp, {
      extraArgs: [
        "--inject-source=clustertrustbundle",
        `--inject-cluster-trust-bundle-signer=${SIGNER}`,
        "--inject-cluster-trust-bundle-selector=audience=internal",
      ],
    });
    const ns = await createTestNamespace(cp, {
      prefix: "ctb-signer",
      labels: { ...INJECT_ENABLED, ...RESTRICTED },
    });
    const signerRegistration = await registerWebhooks(cp, {
      url: signerServer.url,
      caBundle: signerServer.caPem,
      validating: false,
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
    });
    try {
      await waitForWebhookCalled(cp, signerServer, {
        namespace: ns,
        via: "mutating",
        registration: signerRegistration,
      });
      await cp.kubectl(["apply", "-f", "-"], { input: toYaml(restrictedPod("web", ns)) });
      const pod = await storedPod(ns, "web");
      expect(pod.spec.volumes).toContainEqual({
        name: "ca-trust-custom-ca",
        projected: {
          sources: [
            {
              clusterTrustBundle: {
                signerName: SIGNER,
                labelSelector: { matchLabels: { audience: "internal" } },
                path: "ca-bundle.crt",
              },
            },
          ],
          defaultMode: 420,
        },
      });
      expect(pod.metadata.annotations?.["ca-trust.dev/injected"]).toBe(
        sha256(`${first}\n${second}`),
      );
    } finally {
      await signerRegistration.unregister();
      await signerServer.stop();
    }
  });
});

describe("without the ClusterTrustBundle API (the shared control plane: defaults)", () => {
  it("the server stays not ready and says the API is not served", async () => {
    const unready = await startWebhook(shared, {
      waitFor: "healthz",
      extraArgs: ["--inject-source=clustertrustbundle", `--inject-cluster-trust-bundle=${BUNDLE}`],
    });
    try {
      const body = await pollUntil(
        async () => {
          const response = await fetch(`${unready.healthUrl}/readyz`);
          const text = await response.text();
          return response.status === 503 && text.includes("cluster-trust-bundles")
            ? text
            : undefined;
        },
        { what: "readyz naming the ClusterTrustBundle cache", timeoutMs: 30_000 },
      );
      expect(body).toContain("ClusterTrustBundle API is not served");
    } finally {
      await unready.stop();
    }
  });
});
