import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runScan, type ScanReport } from "../../../src/cli/scan.js";
import type { KubeObject } from "../../../src/core/types.js";
import { FakeCluster, type FakeResource, run } from "./helpers.js";

const EXAMPLES = fileURLToPath(new URL("../../../examples/", import.meta.url));
const CA_PEM = readFileSync(join(EXAMPLES, "injection/ca-configmap.yaml"), "utf8")
  .split("ca-bundle.crt: |\n")[1]
  ?.replace(/^ {4}/gm, "") as string;
const OTHER_PEM = readFileSync(join(EXAMPLES, "kcp/valid-frontproxy.yaml"), "utf8")
  .split("tls.crt: |\n")[1]
  ?.split("---")[0]
  ?.replace(/^ {4}/gm, "") as string;
const hash = (pem: string) => `sha256:${createHash("sha256").update(pem, "utf8").digest("hex")}`;

const PLANES: FakeResource[] = [
  {
    group: "openchoreo.dev",
    version: "v1alpha1",
    name: "dataplanes",
    kind: "DataPlane",
    namespaced: true,
  },
  {
    group: "openchoreo.dev",
    version: "v1alpha1",
    name: "clusterdataplanes",
    kind: "ClusterDataPlane",
    namespaced: false,
  },
];

const namespace = (name: string, labels: Record<string, string> = {}): KubeObject => ({
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name, labels },
});
const dataPlane = (name: string, ns: string, clientCA: unknown): KubeObject => ({
  apiVersion: "openchoreo.dev/v1alpha1",
  kind: "DataPlane",
  metadata: { name, namespace: ns },
  spec: { clusterAgent: { clientCA } },
});
const caConfigMap = (ns: string, pem: string): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: "ca-trust-bundle", namespace: ns },
  data: { "ca-bundle.crt": pem },
});
const owned = (kind: string, name: string, apiVersion = "apps/v1") => ({
  ownerReferences: [{ apiVersion, kind, name, uid: `uid-${name}`, controller: true }],
});
function pod(
  name: string,
  ns: string,
  extra: {
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    owner?: unknown;
    phase?: string;
  } = {},
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: ns,
      ...(extra.labels ? { labels: extra.labels } : {}),
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
      ...(extra.owner ?? {}),
    },
    spec: { containers: [{ name: "app", image: "x" }] },
    status: { phase: extra.phase ?? "Running" },
  };
}

/** A cluster with one of each finding, and objects that must not be reported. */
function cluster(): FakeCluster {
  return new FakeCluster().serve(...PLANES).add(
    namespace("apps", { "ca-trust.dev/inject": "enabled" }),
    namespace("plain"),
    caConfigMap("apps", CA_PEM),
    dataPlane("good", "apps", { value: CA_PEM }),
    dataPlane("bad", "apps", { value: "not a certificate" }),
    // Injected with the current bundle: fine.
    pod("current-1", "apps", { annotations: { "ca-trust.dev/injected": hash(CA_PEM) } }),
    // Injected with another bundle, owned by web's ReplicaSet: stale, grouped under web.
    pod("web-1", "apps", {
      annotations: { "ca-trust.dev/injected": hash(OTHER_PEM) },
      owner: owned("ReplicaSet", "web-5d4f"),
    }),
    pod("web-2", "apps", {
      annotations: { "ca-trust.dev/injected": hash(OTHER_PEM) },
      owner: owned("ReplicaSet", "web-5d4f"),
    }),
    {
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: { name: "web-5d4f", namespace: "apps", ...owned("Deployment", "web") },
    },
    // Opted in, not injected, no owner.
    pod("bare", "apps"),
    // Opted in by its own label in a plain namespace, not injected, owned by a StatefulSet.
    pod("db-0", "plain", {
      labels: { "ca-trust.dev/inject": "true" },
      owner: owned("StatefulSet", "db"),
    }),
    // Not reported: opted out, not opted in, finished.
    pod("out", "apps", { labels: { "ca-trust.dev/inject": "false" } }),
    pod("other", "plain"),
    pod("done", "apps", { phase: "Succeeded" }),
  );
}

const scanJson = async (fake: FakeCluster, args: string[] = []) => {
  const result = await run(runScan, ["-o", "json", ...args], { cluster: fake });
  return { ...result, report: JSON.parse(result.stdout || "null") as ScanReport };
};

describe("ca-trust-webhook scan", () => {
  it("finds objects that break the rules, Pods not injected and Pods with an older bundle", async () => {
    const { code, report } = await scanJson(cluster());

    expect(code).toBe(1);
    expect(report.objects.map((o) => [o.kind, o.namespace, o.name, o.decision])).toEqual([
      ["DataPlane", "apps", "bad", "denied"],
    ]);
    expect(report.notInjected.map((g) => [g.owner, g.pods, g.command])).toEqual([
      [
        { kind: "Pod", namespace: "apps", name: "bare" },
        ["bare"],
        "kubectl delete pod bare -n apps",
      ],
      [
        { kind: "StatefulSet", namespace: "plain", name: "db" },
        ["db-0"],
        "kubectl rollout restart statefulset/db -n plain",
      ],
    ]);
    expect(report.staleBundle).toEqual([
      {
        owner: { kind: "Deployment", namespace: "apps", name: "web" },
        pods: ["web-1", "web-2"],
        command: "kubectl rollout restart deployment/web -n apps",
        note: null,
        configMap: "apps/ca-trust-bundle",
        source: "ConfigMap apps/ca-trust-bundle",
        injected: [hash(OTHER_PEM)],
        current: hash(CA_PEM),
      },
    ]);
    expect(report.errors).toEqual([]);
    expect(report.scanned).toEqual({ objects: 2, pods: 8 });
  });

  it("exits 0 and says so when nothing is found", async () => {
    const fake = new FakeCluster()
      .serve(...PLANES)
      .add(namespace("apps", { "ca-trust.dev/inject": "enabled" }), caConfigMap("apps", CA_PEM))
      .add(dataPlane("good", "apps", { value: CA_PEM }))
      .add(pod("current", "apps", { annotations: { "ca-trust.dev/injected": hash(CA_PEM) } }));

    const result = await run(runScan, [], { cluster: fake });

    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^nothing found \(1 object and 1 Pod read\)\n$/);
  });

  it("prints the findings for people, grouped, with the commands to run", async () => {
    const result = await run(runScan, [], { cluster: cluster() });

    const lines = result.stdout.split("\n");
    expect(lines[0]).toMatch(/^DataPlane apps\/bad denied: spec\.clusterAgent\.clientCA\.value: /);
    expect(lines).toContain(
      "  StatefulSet plain/db (1 Pod: db-0): kubectl rollout restart statefulset/db -n plain",
    );
    expect(
      lines.some((l) =>
        l.startsWith("  Deployment apps/web (2 Pods: web-1, web-2; injected sha256:"),
      ),
    ).toBe(true);
    expect(result.code).toBe(1);
  });

  it("pages through every LIST with limit and continue", async () => {
    const fake = cluster();

    const { report } = await scanJson(fake, ["--limit", "3"]);

    expect(report.scanned.pods).toBe(8);
    expect(fake.calls.filter((c) => c.startsWith("listPods"))).toEqual([
      "listPods ",
      "listPods 3",
      "listPods 6",
    ]);
  });

  it("reports progress on stderr every N objects read", async () => {
    const result = await run(runScan, ["--progress-every", "4"], { cluster: cluster() });

    expect(result.stderr.split("\n").filter((l) => l.startsWith("scan: "))).toEqual([
      "scan: 4 objects read (pods)",
      "scan: 8 objects read (pods)",
    ]);
  });

  it("skips quietly the kinds whose CRD is not installed", async () => {
    const fake = new FakeCluster().add(namespace("apps"));

    const { code, report } = await scanJson(fake);

    expect(code).toBe(0);
    expect(report.errors).toEqual([]);
    expect(fake.calls.filter((c) => c.startsWith("listCustom"))).toEqual([]);
  });

  it("lists cluster-scoped kinds too, and decides them as cluster-scoped", async () => {
    const fake = new FakeCluster().serve(...PLANES).add({
      apiVersion: "openchoreo.dev/v1alpha1",
      kind: "ClusterDataPlane",
      metadata: { name: "shared" },
      spec: { clusterAgent: { clientCA: { secretKeyRef: { name: "ca", key: "ca.crt" } } } },
    });

    const { report } = await scanJson(fake);

    expect(report.objects.map((o) => [o.kind, o.namespace, o.name, o.decision])).toEqual([
      ["ClusterDataPlane", null, "shared", "denied"],
    ]);
  });

  it("limits itself to one namespace with -n, skipping cluster-scoped kinds", async () => {
    const fake = cluster();

    const { report } = await scanJson(fake, ["-n", "plain"]);

    expect(report.objects).toEqual([]);
    expect(report.notInjected.map((g) => g.owner.name)).toEqual(["db"]);
    expect(fake.calls).toContain("getNamespace plain");
    expect(fake.calls.some((c) => c.startsWith("listCustom clusterdataplanes"))).toBe(false);
  });

  it("checks labelled CA Secrets", async () => {
    const fake = new FakeCluster().add({
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: "global",
        namespace: "connectors-system",
        labels: { "connectors.cpaas.io/ca-cert": "true" },
      },
      data: {
        "ca.crt": Buffer.from("-----BEGIN CERTIFICATE-----\nnot base64!\n").toString("base64"),
      },
    });

    const { code, report } = await scanJson(fake);

    expect(code).toBe(1);
    expect(report.objects.map((o) => [o.kind, o.name, o.decision])).toEqual([
      ["Secret", "global", "denied"],
    ]);
    expect(fake.calls).toContain("listSecrets connectors.cpaas.io/ca-cert=true");
  });

  it("reports referenced Secrets whose content breaks the rule, grouped per Secret with the objects", async () => {
    const fake = cluster().add(
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "agent-ca", namespace: "apps" },
        data: { "ca.crt": Buffer.from(CA_PEM.slice(0, 200)).toString("base64") },
      },
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "fine-ca", namespace: "apps" },
        data: { "ca.crt": Buffer.from(CA_PEM).toString("base64") },
      },
      dataPlane("eu", "apps", { secretKeyRef: { name: "agent-ca", key: "ca.crt" } }),
      dataPlane("us", "apps", { secretKeyRef: { name: "agent-ca", key: "ca.crt" } }),
      dataPlane("fine", "apps", { secretKeyRef: { name: "fine-ca", key: "ca.crt" } }),
      // A key the Secret does not have: its own problem, for this DataPlane only.
      dataPlane("other-key", "apps", { secretKeyRef: { name: "fine-ca", key: "bundle.pem" } }),
    );

    const { code, report } = await scanJson(fake);
    const { stdout } = await run(runScan, [], { cluster: fake });

    expect(code).toBe(1);
    expect(report.brokenSecrets).toEqual([
      {
        secret: "apps/agent-ca",
        problems: [expect.stringMatching(/^data\[ca\.crt\]: Invalid value: "agent-ca": /)],
        referrers: [
          "DataPlane apps/eu (spec.clusterAgent.clientCA.secretKeyRef)",
          "DataPlane apps/us (spec.clusterAgent.clientCA.secretKeyRef)",
        ],
      },
      {
        secret: "apps/fine-ca",
        problems: [expect.stringMatching(/^data: Not found: "bundle\.pem": /)],
        referrers: ["DataPlane apps/other-key (spec.clusterAgent.clientCA.secretKeyRef)"],
      },
    ]);
    expect(stdout).toMatch(
      /^ {2}Secret apps\/agent-ca: data\[ca\.crt\]: .*\n {4}the CA of DataPlane apps\/eu \(spec\.clusterAgent\.clientCA\.secretKeyRef\), DataPlane apps\/us/m,
    );
  });

  it("reports the CA ConfigMap of an opted-in namespace whose bundle is broken", async () => {
    const fake = cluster();
    const index = fake.objects.findIndex((o) => o.kind === "ConfigMap");
    fake.objects.splice(index, 1, caConfigMap("apps", "-----BEGIN CERTIFICATE-----\nAAAA\n"));

    const { code, report } = await scanJson(fake);

    expect(code).toBe(1);
    expect(report.brokenConfigMaps).toEqual([
      {
        configMap: "apps/ca-trust-bundle",
        problems: [expect.stringMatching(/^data\[ca-bundle\.crt\]: Invalid value: .*BEGIN/)],
      },
    ]);
  });

  it("a clean cluster has no broken Secrets or CA ConfigMaps", async () => {
    const { report } = await scanJson(cluster());
    expect(report.brokenSecrets).toEqual([]);
    expect(report.brokenConfigMaps).toEqual([]);
  });

  it("reports a Pod whose CA ConfigMap is gone as stale, with no current hash", async () => {
    const fake = cluster();
    fake.objects.splice(
      fake.objects.findIndex((o) => o.kind === "ConfigMap"),
      1,
    );

    const { report } = await scanJson(fake);

    expect(report.staleBundle.map((g) => [g.owner.name, g.current])).toEqual([
      ["current-1", null],
      ["web", null],
    ]);
  });

  it("groups Pods of a ReplicaSet it cannot read under the ReplicaSet, deleting them", async () => {
    const fake = cluster();
    fake.fail.set("getOwner:ReplicaSet", 403);

    const { code, report } = await scanJson(fake);

    expect(code).toBe(1);
    expect(report.staleBundle[0]?.owner).toEqual({
      kind: "ReplicaSet",
      namespace: "apps",
      name: "web-5d4f",
    });
    expect(report.staleBundle[0]?.command).toBe("kubectl delete pod web-1 web-2 -n apps");
  });

  it.each([
    ["listing Pods fails", "listPods"],
    ["listing a custom resource fails", "listCustom:dataplanes"],
    ["reading a CA ConfigMap fails", "getConfigMap:apps/ca-trust-bundle"],
  ])("exits 2 when %s, reporting what it could read", async (_name, operation) => {
    const fake = cluster();
    fake.fail.set(operation, 500);

    const result = await scanJson(fake);

    expect(result.code).toBe(2);
    expect(result.report.errors.length).toBeGreaterThan(0);
    expect(result.report.staleBundle.filter((g) => g.current === null)).toEqual([]);
    expect(result.stderr).toMatch(/^error: .*HTTP 500/m);
  });

  it.each([
    ["no kubeconfig", [], undefined],
    ["a bad --limit", ["--limit", "0"], new FakeCluster()],
    ["a bad --progress-every", ["--progress-every", "x"], new FakeCluster()],
    ["a positional argument", ["pods"], new FakeCluster()],
  ])("exits 2 for %s", async (_name, argv, fake) => {
    const result = await run(runScan, argv, fake === undefined ? {} : { cluster: fake });

    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
  });

  it("exits 2 when the namespaces cannot be listed", async () => {
    const fake = cluster();
    fake.fail.set("listNamespaces", 403);

    const result = await run(runScan, [], { cluster: fake });

    expect(result.code).toBe(2);
    expect(result.stderr).toBe("error: listing namespaces: HTTP 403\n");
  });
});
