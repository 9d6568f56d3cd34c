/**
 * `check`, `inject` and `scan` with both CA sources: ClusterTrustBundles (in the input, on the
 * cluster, or `--ca-bundle`), and trust-manager Bundles explaining a missing CA ConfigMap.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { runCheck } from "../../../src/cli/check.js";
import { type InjectReport, runInject } from "../../../src/cli/inject.js";
import type { ObjectVerdict } from "../../../src/cli/output.js";
import { runScan, type ScanReport } from "../../../src/cli/scan.js";
import type { KubeObject } from "../../../src/core/types.js";
import { FakeCluster, type FakeResource, run, tempFiles } from "./helpers.js";

const EXAMPLES = fileURLToPath(new URL("../../../examples/", import.meta.url));
const CA_PEM = readFileSync(join(EXAMPLES, "injection/ca-configmap.yaml"), "utf8")
  .split("ca-bundle.crt: |\n")[1]
  ?.replace(/^ {4}/gm, "") as string;
const OTHER_PEM = readFileSync(join(EXAMPLES, "kcp/valid-frontproxy.yaml"), "utf8")
  .split("tls.crt: |\n")[1]
  ?.split("---")[0]
  ?.replace(/^ {4}/gm, "") as string;
const hash = (pem: string) => `sha256:${createHash("sha256").update(pem, "utf8").digest("hex")}`;
const yaml = (...docs: unknown[]) => docs.map((d) => stringify(d)).join("---\n");
const documents = (stdout: string) => parseAllDocuments(stdout).map((d) => d.toJS() as KubeObject);

const CTB_SOURCE = [
  "--inject-source=clustertrustbundle",
  "--inject-cluster-trust-bundle=corp-roots",
];

const ctb = (name: string, pem: string): KubeObject => ({
  apiVersion: "certificates.k8s.io/v1beta1",
  kind: "ClusterTrustBundle",
  metadata: { name },
  spec: { trustBundle: pem },
});

const restrictedPod = (name: string, namespace: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace, labels: { "ca-trust.dev/inject": "true" }, ...extra },
  spec: {
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 1000,
      seccompProfile: { type: "RuntimeDefault" },
    },
    containers: [
      {
        name: "app",
        image: "registry.k8s.io/pause:3.10",
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
      },
    ],
  },
});

const CTB_API: FakeResource = {
  group: "certificates.k8s.io",
  version: "v1beta1",
  name: "clustertrustbundles",
  kind: "ClusterTrustBundle",
  namespaced: false,
};
const BUNDLE_API: FakeResource = {
  group: "trust.cert-manager.io",
  version: "v1alpha1",
  name: "bundles",
  kind: "Bundle",
  namespaced: false,
};
const trustManagerBundle: KubeObject = {
  apiVersion: "trust.cert-manager.io/v1alpha1",
  kind: "Bundle",
  metadata: { name: "ca-trust-bundle" },
  spec: {
    sources: [{ configMap: { name: "corp-ca", key: "ca.crt" } }],
    target: {
      configMap: { key: "ca-bundle.crt" },
      namespaceSelector: { matchLabels: { "ca-trust.dev/inject": "enabled" } },
    },
  },
};

describe("inject with the ClusterTrustBundle source", () => {
  it("projects the bundle of the input; the result passes PodSecurity restricted", async () => {
    const result = await run(runInject, ["-f", "-", ...CTB_SOURCE], {
      stdin: yaml(ctb("corp-roots", CA_PEM), restrictedPod("web", "apps")),
    });

    expect(result.stderr).toMatch(/passes PodSecurity "restricted(:[a-z0-9.]+)?"/);
    expect(result.code).toBe(0);
    const pod = documents(result.stdout)[1] as { spec: { volumes: unknown[] } };
    expect(pod.spec.volumes).toContainEqual({
      name: "ca-trust-custom-ca",
      projected: {
        sources: [{ clusterTrustBundle: { name: "corp-roots", path: "ca-bundle.crt" } }],
      },
    });
    expect(result.stderr).toContain('ClusterTrustBundle "corp-roots" sha256:');
  });

  it("uses --ca-bundle as the bundle where neither input nor cluster has it", async () => {
    const dir = tempFiles({ "ca.pem": CA_PEM });
    const result = await run(
      runInject,
      ["-f", "-", "--ca-bundle", join(dir, "ca.pem"), "-o", "json", ...CTB_SOURCE],
      { stdin: yaml(restrictedPod("web", "apps")) },
    );

    expect(result.code).toBe(0);
    const [report] = JSON.parse(result.stdout) as InjectReport[];
    expect(report?.injection).toBe("injected");
    expect(report?.message).toContain(`sha256:${hash(CA_PEM).slice(7, 19)}`);
  });

  it("reads the bundle from the cluster with --cluster (GET by name, served version)", async () => {
    const cluster = new FakeCluster().serve(CTB_API).add(ctb("corp-roots", CA_PEM));
    const result = await run(runInject, ["-f", "-", "--cluster", "-o", "json", ...CTB_SOURCE], {
      stdin: yaml(restrictedPod("web", "apps")),
      cluster,
    });

    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as InjectReport[])[0]?.injection).toBe("injected");
    expect(cluster.calls).toContain(
      "getClusterCustom clustertrustbundles.certificates.k8s.io corp-roots",
    );
  });

  it("with --cluster on a cluster without the API: exit 2, saying so", async () => {
    const result = await run(runInject, ["-f", "-", "--cluster", ...CTB_SOURCE], {
      stdin: yaml(restrictedPod("web", "apps")),
      cluster: new FakeCluster(),
    });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain("ClusterTrustBundle API is not served");
  });
});

describe("check with both sources", () => {
  it("denies a Pod whose ClusterTrustBundle is missing, naming it", async () => {
    const result = await run(runCheck, ["-f", "-", "-o", "json", ...CTB_SOURCE], {
      stdin: yaml(restrictedPod("web", "apps")),
    });

    expect(result.code).toBe(1);
    const [verdict] = JSON.parse(result.stdout) as ObjectVerdict[];
    expect(verdict?.message).toContain('the CA ClusterTrustBundle "corp-roots" does not exist');
  });

  it("names the trust-manager Bundle of the input that does not select the Pod's namespace", async () => {
    const result = await run(runCheck, ["-f", "-", "-o", "json"], {
      stdin: yaml(
        { apiVersion: "v1", kind: "Namespace", metadata: { name: "apps" } },
        trustManagerBundle,
        restrictedPod("web", "apps"),
      ),
    });

    expect(result.code).toBe(1);
    const verdicts = JSON.parse(result.stdout) as ObjectVerdict[];
    expect(verdicts).toHaveLength(1);
    expect(verdicts[0]?.message).toContain(
      'trust-manager Bundle "ca-trust-bundle" does not select namespace "apps" (namespaceSelector "ca-trust.dev/inject=enabled")',
    );
  });

  it("with --cluster, asks the cluster's trust-manager API", async () => {
    const cluster = new FakeCluster()
      .serve(BUNDLE_API)
      .add(
        { apiVersion: "v1", kind: "Namespace", metadata: { name: "apps", labels: {} } },
        trustManagerBundle,
      );
    const result = await run(runCheck, ["-f", "-", "--cluster", "-o", "json"], {
      stdin: yaml(restrictedPod("web", "apps")),
      cluster,
    });

    expect(result.code).toBe(1);
    expect((JSON.parse(result.stdout) as ObjectVerdict[])[0]?.message).toContain(
      'trust-manager Bundle "ca-trust-bundle" does not select namespace "apps"',
    );
  });
});

describe("scan with the ClusterTrustBundle source", () => {
  const injectedPod = (name: string, pem: string): KubeObject => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: "apps",
      annotations: { "ca-trust.dev/injected": hash(pem) },
      ownerReferences: [
        { apiVersion: "apps/v1", kind: "StatefulSet", name: "db", controller: true },
      ],
    },
    spec: {
      containers: [{ name: "app", image: "x" }],
      volumes: [
        {
          name: "ca-trust-custom-ca",
          projected: {
            sources: [{ clusterTrustBundle: { name: "corp-roots", path: "ca-bundle.crt" } }],
          },
        },
      ],
    },
    status: { phase: "Running" },
  });

  it("reports Pods injected from an older bundle content, with their restart command", async () => {
    const cluster = new FakeCluster()
      .serve(CTB_API)
      .add(
        { apiVersion: "v1", kind: "Namespace", metadata: { name: "apps", labels: {} } },
        ctb("corp-roots", CA_PEM),
        injectedPod("db-0", OTHER_PEM),
        injectedPod("db-1", CA_PEM),
      );

    const result = await run(runScan, ["-o", "json"], { cluster });

    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as ScanReport;
    expect(report.staleBundle).toEqual([
      {
        owner: { kind: "StatefulSet", namespace: "apps", name: "db" },
        pods: ["db-0"],
        command: "kubectl rollout restart statefulset/db -n apps",
        note: null,
        configMap: null,
        source: 'ClusterTrustBundle "corp-roots"',
        injected: [hash(OTHER_PEM)],
        current: hash(CA_PEM),
      },
    ]);
  });

  it("says the bundle is gone when it was deleted", async () => {
    const cluster = new FakeCluster()
      .serve(CTB_API)
      .add(
        { apiVersion: "v1", kind: "Namespace", metadata: { name: "apps", labels: {} } },
        injectedPod("db-0", CA_PEM),
      );

    const result = await run(runScan, [], { cluster });

    expect(result.code).toBe(1);
    expect(result.stdout).toContain('ClusterTrustBundle "corp-roots" is gone');
  });
});
