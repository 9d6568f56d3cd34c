import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { resolveBinaries } from "../../scripts/harness/binaries.js";
import { runCli as cli } from "../../scripts/harness/cli.js";
import { type OwnedControlPlane, startControlPlane } from "../../scripts/harness/controlplane.js";
import { objectsOf, serviceAccountKubeconfig } from "../../scripts/harness/helm.js";
import { kustomizeDeploy } from "../../scripts/harness/kustomize.js";
import { type Manifest, restrictedPod, toYaml } from "../../scripts/harness/manifests.js";
import { createTestNamespace, INJECT_ENABLED } from "../../scripts/harness/namespaces.js";
import { caCertificatePem } from "../../scripts/harness/pki.js";
import { pollUntil } from "../../scripts/harness/poll.js";
import {
  installTrustManagerCrds,
  resolveTrustManager,
  startTrustManager,
  type TrustManager,
} from "../../scripts/harness/trust-manager.js";
import {
  registerWebhooks,
  startWebhook,
  type WebhookRegistration,
  type WebhookServer,
  waitForWebhookCalled,
} from "../../scripts/harness/webhook.js";
import type { ScanReport } from "../../src/cli/scan.js";

const TRUST_NAMESPACE = "trust-manager-e2e";
const BUNDLE = "ca-trust-bundle";
const KEY = "ca-bundle.crt";
const SERVICE_ACCOUNT_NAMESPACE = "ca-trust-system";

let cp: OwnedControlPlane;
let trustManager: TrustManager;
let server: WebhookServer;
let registration: WebhookRegistration;
let dir: string;
/** Opted in by label at first, unlabelled by the last test. */
let labelled: string;
/** Never labelled. */
let other: string;

const sha256 = (text: string) =>
  `sha256:${createHash("sha256").update(text, "utf8").digest("hex")}`;

/** The ConfigMap trust-manager wrote, or undefined. */
async function targetConfigMap(namespace: string): Promise<Record<string, string> | undefined> {
  const result = await cp.kubectl(["get", "configmap", BUNDLE, "-n", namespace, "-o", "json"], {
    allowFail: true,
  });
  if (result.code !== 0) return undefined;
  return (JSON.parse(result.stdout) as { data?: Record<string, string> }).data ?? {};
}

/** The Secret trust-manager reads the CA from (the shipped Bundle's source). */
function rootSecret(pem: string): Manifest {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "ca-trust-root", namespace: TRUST_NAMESPACE },
    stringData: { "ca.crt": pem },
  };
}

/** A Pod owned by a ReplicaSet of a Deployment (no kube-controller-manager: made by hand). */
async function deploymentPod(namespace: string, deployment: string, pod: string): Promise<void> {
  const template = {
    metadata: { labels: { app: deployment } },
    spec: restrictedPod("x", namespace).spec,
  };
  const uid = async (kind: string, name: string) =>
    (await cp.kubectl(["get", kind, name, "-n", namespace, "-o", "jsonpath={.metadata.uid}"]))
      .stdout;
  const ownedBy = (kind: string, name: string, id: string) => ({
    ownerReferences: [{ apiVersion: "apps/v1", kind, name, uid: id, controller: true }],
  });
  await cp.kubectl(["apply", "-f", "-"], {
    input: toYaml({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: deployment, namespace },
      spec: { selector: { matchLabels: { app: deployment } }, template },
    }),
  });
  const replicaSet = `${deployment}-5d8f7c9b4`;
  await cp.kubectl(["apply", "-f", "-"], {
    input: toYaml({
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: {
        name: replicaSet,
        namespace,
        ...ownedBy("Deployment", deployment, await uid("deployment", deployment)),
      },
      spec: { selector: { matchLabels: { app: deployment } }, template },
    }),
  });
  const manifest = restrictedPod(pod, namespace, { app: deployment }) as {
    metadata: Record<string, unknown>;
  };
  Object.assign(
    manifest.metadata,
    ownedBy("ReplicaSet", replicaSet, await uid("replicaset", replicaSet)),
  );
  await cp.kubectl(["create", "-f", "-"], { input: toYaml(manifest as Manifest) });
}

async function storedPod(namespace: string, name: string) {
  return JSON.parse(
    (await cp.kubectl(["get", "pod", name, "-n", namespace, "-o", "json"])).stdout,
  ) as {
    metadata: { annotations?: Record<string, string> };
    spec: {
      initContainers?: { name: string }[];
      volumes?: { name: string; configMap?: { name: string } }[];
    };
  };
}

/** What the webhook would do to a Pod now (server-side dry run): its stderr and the object. */
async function dryRunPod(pod: Manifest) {
  const result = await cp.kubectl(["create", "--dry-run=server", "-o", "json", "-f", "-"], {
    input: toYaml(pod),
    allowFail: true,
  });
  return {
    result,
    annotation:
      result.code === 0
        ? (JSON.parse(result.stdout) as { metadata: { annotations?: Record<string, string> } })
            .metadata.annotations?.["ca-trust.dev/injected"]
        : undefined,
  };
}

beforeAll(async () => {
  const binDir = await resolveBinaries();
  const build = await resolveTrustManager(binDir);
  dir = mkdtempSync(join(tmpdir(), "ca-trust-e2e-tm-"));
  cp = await startControlPlane({ binDir });
  await installTrustManagerCrds(cp, build);
  for (const namespace of [TRUST_NAMESPACE, SERVICE_ACCOUNT_NAMESPACE, "connectors-system"]) {
    await cp.kubectl(["create", "namespace", namespace]);
  }
  await cp.kubectl(["apply", "-f", "-"], {
    input: toYaml(rootSecret(await caCertificatePem("corp root CA 2026"))),
  });
  trustManager = await startTrustManager(cp, build, { trustNamespace: TRUST_NAMESPACE });

  // The shipped install: RBAC of deploy/ and the Bundle of components/trust-manager-bundle.
  const rendered = objectsOf(await kustomizeDeploy(cp, ["."], ["components/trust-manager-bundle"]));
  const rbac = rendered.filter((o) =>
    ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"].includes(
      o.kind as string,
    ),
  );
  await cp.kubectl(["apply", "-f", "-"], { input: toYaml(...rbac) });
  const bundle = rendered.filter((o) => o.kind === "Bundle");
  expect(bundle).toHaveLength(1);
  await cp.kubectl(["apply", "-f", "-"], { input: toYaml(...bundle) });

  const kubeconfig = await serviceAccountKubeconfig(cp, {
    namespace: SERVICE_ACCOUNT_NAMESPACE,
    name: "ca-trust-webhook",
    dir,
  });

  labelled = await createTestNamespace(cp, {
    prefix: "tm-labelled",
    labels: { ...INJECT_ENABLED },
  });
  other = await createTestNamespace(cp, { prefix: "tm-other" });
  server = await startWebhook(cp, { kubeconfig });
  registration = await registerWebhooks(cp, {
    url: server.url,
    caBundle: server.caPem,
    validating: false,
    namespaceSelector: {
      matchExpressions: [
        { key: "kubernetes.io/metadata.name", operator: "In", values: [labelled, other] },
      ],
    },
  });
  await waitForWebhookCalled(cp, server, { namespace: other, via: "mutating", registration });
}, 900_000);

afterAll(async () => {
  await registration?.unregister().catch(() => {});
  await server?.stop();
  await trustManager?.stop();
  await cp?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach((context) => {
  context.onTestFailed(() => {
    process.stderr.write(
      `--- trust-manager log (tail) for "${context.task.name}" ---\n${trustManager?.logs(30)}\n--- webhook log (tail) ---\n${server?.logs().split("\n").slice(-20).join("\n")}\n`,
    );
  });
});

describe("trust-manager distributes the CA; injection follows its ConfigMap", () => {
  let firstHash: string;

  it("a labelled namespace gets the Bundle's ConfigMap, and its Pods are injected with its hash", async () => {
    const data = await pollUntil(
      async () => {
        const cm = await targetConfigMap(labelled);
        return cm?.[KEY] ? cm : undefined;
      },
      { what: `trust-manager to write ConfigMap ${labelled}/${BUNDLE}`, timeoutMs: 60_000 },
    );
    firstHash = sha256(data[KEY] as string);
    expect(await targetConfigMap(other)).toBeUndefined();

    await pollUntil(
      async () =>
        (await dryRunPod(restrictedPod("probe", labelled))).annotation ? true : undefined,
      {
        what: "the webhook's ConfigMap cache to see the new ConfigMap",
        timeoutMs: 30_000,
      },
    );
    await deploymentPod(labelled, "web", "web-5d8f7c9b4-x1");
    const pod = await storedPod(labelled, "web-5d8f7c9b4-x1");
    expect(pod.spec.initContainers?.[0]?.name).toBe("install-ca-cert");
    expect(pod.spec.volumes).toContainEqual(
      expect.objectContaining({
        name: "ca-trust-custom-ca",
        configMap: expect.objectContaining({ name: BUNDLE }),
      }),
    );
    expect(pod.metadata.annotations?.["ca-trust.dev/injected"]).toBe(firstHash);
  });

  it("the source CA changes: the ConfigMap follows, a new Pod gets the new hash, scan lists the older Pod with its restart command", async () => {
    await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml(rootSecret(await caCertificatePem("corp root CA 2027"))),
    });
    const data = await pollUntil(
      async () => {
        const cm = await targetConfigMap(labelled);
        return cm?.[KEY] && sha256(cm[KEY]) !== firstHash ? cm : undefined;
      },
      { what: "trust-manager to rewrite the ConfigMap with the new CA", timeoutMs: 60_000 },
    );
    const secondHash = sha256(data[KEY] as string);
    await pollUntil(
      async () =>
        (await dryRunPod(restrictedPod("probe", labelled))).annotation === secondHash
          ? true
          : undefined,
      { what: "the webhook's cache to see the rewritten ConfigMap", timeoutMs: 30_000 },
    );
    await cp.kubectl(["create", "-f", "-"], { input: toYaml(restrictedPod("fresh", labelled)) });
    expect(
      (await storedPod(labelled, "fresh")).metadata.annotations?.["ca-trust.dev/injected"],
    ).toBe(secondHash);

    const scan = await cli([
      "scan",
      "-n",
      labelled,
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
        owner: { kind: "Deployment", namespace: labelled, name: "web" },
        pods: ["web-5d8f7c9b4-x1"],
        command: `kubectl rollout restart deployment/web -n ${labelled}`,
        note: null,
        configMap: `${labelled}/${BUNDLE}`,
        source: `ConfigMap ${labelled}/${BUNDLE}`,
        injected: [firstHash],
        current: secondHash,
      },
    ]);
  });

  it("the namespace is unlabelled: the ConfigMap goes away and a Pod opting in by label is denied, naming the Bundle", async () => {
    await cp.kubectl(["label", "namespace", labelled, "ca-trust.dev/inject-"]);
    await pollUntil(
      async () => ((await targetConfigMap(labelled)) === undefined ? true : undefined),
      {
        what: "trust-manager to delete the ConfigMap of the unlabelled namespace",
        timeoutMs: 60_000,
      },
    );
    const pod = restrictedPod("opted-in", labelled, { "ca-trust.dev/inject": "true" });
    const expected = `ConfigMap ${labelled}/${BUNDLE} does not exist; trust-manager Bundle "${BUNDLE}" does not select namespace "${labelled}" (namespaceSelector "ca-trust.dev/inject=enabled"): label the namespace to match, or change the Bundle`;
    // The webhook's caches follow the ConfigMap deletion and the label change by watch.
    const denied = await pollUntil(
      async () => {
        const { result } = await dryRunPod(pod);
        return result.code !== 0 && result.stderr.includes(expected) ? result : undefined;
      },
      { what: "the denial naming the Bundle", timeoutMs: 30_000 },
    );
    expect(denied.stderr).toContain('admission webhook "');
    const applied = await cp.kubectl(["apply", "-f", "-"], { input: toYaml(pod), allowFail: true });
    expect(applied.code).not.toBe(0);
    expect(applied.stderr).toContain(expected);
  });

  it("a ConfigMap no Bundle writes, and a ClusterBundle (v1alpha2) selecting other namespaces, are explained", async () => {
    const noBundle = await dryRunPod({
      ...restrictedPod("team-ca-pod", other, { "ca-trust.dev/inject": "true" }),
      metadata: {
        name: "team-ca-pod",
        namespace: other,
        labels: { "ca-trust.dev/inject": "true" },
        annotations: { "ca-trust.dev/configmap": "team-ca" },
      },
    });
    expect(noBundle.result.code).not.toBe(0);
    expect(noBundle.result.stderr).toContain(
      `ConfigMap ${other}/team-ca does not exist; no trust-manager Bundle "team-ca" writes it`,
    );

    await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml({
        apiVersion: "trust-manager.io/v1alpha2",
        kind: "ClusterBundle",
        metadata: { name: "partner-ca" },
        spec: {
          sourceRefs: [{ kind: "Secret", name: "ca-trust-root", key: "ca.crt" }],
          target: {
            configMap: { data: [{ key: KEY }] },
            namespaceSelector: { matchLabels: { team: "partners" } },
          },
        },
      }),
    });
    const clusterBundle = await pollUntil(
      async () => {
        const { result } = await dryRunPod({
          ...restrictedPod("partner-pod", other),
          metadata: {
            name: "partner-pod",
            namespace: other,
            labels: { "ca-trust.dev/inject": "true" },
            annotations: { "ca-trust.dev/configmap": "partner-ca" },
          },
        });
        // "Not found" answers are kept at most 1 s: retry until the new object is seen.
        return result.stderr.includes("ClusterBundle") ? result : undefined;
      },
      { what: "the denial naming the ClusterBundle", timeoutMs: 30_000 },
    );
    expect(clusterBundle.stderr).toContain(
      `trust-manager ClusterBundle "partner-ca" does not select namespace "${other}" (namespaceSelector "team=partners")`,
    );
  });

  it("the ServiceAccount may get Bundles by name, and neither list nor watch them", async () => {
    const can = async (...args: string[]) =>
      (
        await cp.kubectl(
          [
            "auth",
            "can-i",
            ...args,
            `--as=system:serviceaccount:${SERVICE_ACCOUNT_NAMESPACE}:ca-trust-webhook`,
          ],
          { allowFail: true },
        )
      ).stdout.trim();
    expect(await can("get", "bundles.trust.cert-manager.io")).toBe("yes");
    expect(await can("get", "clusterbundles.trust-manager.io")).toBe("yes");
    expect(await can("list", "bundles.trust.cert-manager.io")).toBe("no");
    expect(await can("watch", "clusterbundles.trust-manager.io")).toBe("no");
  });
});
