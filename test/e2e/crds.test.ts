/**
 * The CRDs installed for the e2e suite are upstream's (docs/e2e-crds.md), so what a cluster
 * running those releases refuses, prunes or defaults before any admission webhook is seen here
 * too. No webhook of ours is registered: every answer below is the apiserver's own. These are
 * the facts the examples and the other tests rely on when they say "refused before admission".
 */
import { beforeAll, describe, expect, it } from "vitest";
import { crdFiles } from "../../scripts/harness/crds.js";
import { type Manifest, toYaml } from "../../scripts/harness/manifests.js";
import { createTestNamespace } from "../../scripts/harness/namespaces.js";
import { removeHarnessWebhooks } from "../../scripts/harness/webhook.js";
import { useControlPlane } from "./harness/context.js";

const cp = useControlPlane();
let ns: string;

const dataPlane =
  (clientCA: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  (namespace: string): Manifest => ({
    apiVersion: "openchoreo.dev/v1alpha1",
    kind: "DataPlane",
    metadata: { name: "schema-probe", namespace },
    spec: { clusterAgent: { clientCA }, ...extra },
  });

const rootShard =
  (spec: Record<string, unknown>) =>
  (namespace: string): Manifest => ({
    apiVersion: "operator.kcp.io/v1alpha1",
    kind: "RootShard",
    metadata: { name: "schema-probe", namespace },
    spec,
  });

/** A RootShard with every field upstream requires. */
const ROOT_SHARD_SPEC = {
  external: { hostname: "kcp.example.com", port: 6443 },
  certificates: { issuerRef: { group: "cert-manager.io", kind: "Issuer", name: "selfsigned" } },
  cache: { embedded: { enabled: true } },
  etcd: { endpoints: ["https://etcd:2379"] },
};

const REF = { name: "agent-ca", key: "ca.crt" };

beforeAll(async () => {
  await removeHarnessWebhooks(cp);
  ns = await createTestNamespace(cp, { prefix: "crds" });
});

describe("the installed CRDs", () => {
  it("are the upstream sets: OpenChoreo v1 (six planes), kcp-operator (six kinds), Connectors, and the v0.17 BuildPlanes in their own group", async () => {
    const result = await cp.kubectl([
      "get",
      "crds",
      "-o",
      'jsonpath={range .items[*]}{.metadata.name}{" "}{.spec.scope}{"\\n"}{end}',
    ]);
    const installed = result.stdout.trim().split("\n").sort();

    expect(installed).toEqual(
      [
        "buildplanes.core.openchoreo.dev Namespaced",
        "cacheservers.operator.kcp.io Namespaced",
        "clusterbuildplanes.core.openchoreo.dev Cluster",
        "clusterdataplanes.openchoreo.dev Cluster",
        "clusterobservabilityplanes.openchoreo.dev Cluster",
        "clusterworkflowplanes.openchoreo.dev Cluster",
        "connectorclasses.connectors.alauda.io Cluster",
        "connectors.connectors.alauda.io Namespaced",
        "connectorsconfigs.operator.connectors.alauda.io Namespaced",
        "dataplanes.openchoreo.dev Namespaced",
        "frontproxies.operator.kcp.io Namespaced",
        "kubeconfigs.operator.kcp.io Namespaced",
        "observabilityplanes.openchoreo.dev Namespaced",
        "rootshards.operator.kcp.io Namespaced",
        "shards.operator.kcp.io Namespaced",
        "virtualworkspaces.operator.kcp.io Namespaced",
        "workflowplanes.openchoreo.dev Namespaced",
      ].sort(),
    );
    expect(installed).toHaveLength(crdFiles().length);
  });

  it.each<{ name: string; object: (namespace: string) => Manifest; refused: string }>([
    {
      name: "the pre-v1.0 spelling clientCA.secretRef on a v1 DataPlane",
      object: dataPlane({ secretRef: REF }),
      refused: 'unknown field "spec.clusterAgent.clientCA.secretRef"',
    },
    {
      name: "a field OpenChoreo does not have",
      object: dataPlane({ secretKeyRef: REF }, { caBundle: "x" }),
      refused: 'unknown field "spec.caBundle"',
    },
    {
      name: "a secretKeyRef without its required key",
      object: dataPlane({ secretKeyRef: { name: "agent-ca" } }),
      refused: "spec.clusterAgent.clientCA.secretKeyRef.key: Required value",
    },
    {
      name: "an ObservabilityPlane without observerURL",
      object: (namespace) => ({
        apiVersion: "openchoreo.dev/v1alpha1",
        kind: "ObservabilityPlane",
        metadata: { name: "schema-probe", namespace },
        spec: { clusterAgent: { clientCA: { value: "x" } } },
      }),
      refused: "spec.observerURL: Required value",
    },
    {
      name: "a RootShard without etcd",
      object: rootShard({ ...ROOT_SHARD_SPEC, etcd: undefined }),
      refused: "spec.etcd: Required value",
    },
    {
      name: "a Connector with caCertSecretRef.namespace",
      object: (namespace) => ({
        apiVersion: "connectors.alauda.io/v1alpha1",
        kind: "Connector",
        metadata: { name: "schema-probe", namespace },
        spec: {
          connectorClassName: "git",
          address: "https://git.example.com",
          caCertSecretRef: { name: "ca", namespace: "connectors-system" },
        },
      }),
      refused: 'unknown field "spec.caCertSecretRef.namespace"',
    },
    {
      name: "the group of OpenChoreo's docs text for a DataPlane",
      object: (namespace) => ({
        ...dataPlane({ secretKeyRef: REF })(namespace),
        apiVersion: "core.openchoreo.dev/v1alpha1",
      }),
      refused: 'no matches for kind "DataPlane" in version "core.openchoreo.dev/v1alpha1"',
    },
    {
      name: "a BuildPlane in the v1 group (renamed WorkflowPlane)",
      object: (namespace) => ({
        ...dataPlane({ secretKeyRef: REF })(namespace),
        kind: "BuildPlane",
      }),
      refused: 'no matches for kind "BuildPlane" in version "openchoreo.dev/v1alpha1"',
    },
  ])("refuses $name before admission (strict field validation)", async ({ object, refused }) => {
    const result = await cp.kubectl(["apply", "--dry-run=server", "-f", "-"], {
      input: toYaml(object(ns)),
      allowFail: true,
    });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(refused);
  });

  it("prunes unknown fields with --validate=false, before any admission webhook could see them", async () => {
    const result = await cp.kubectl(
      ["apply", "--dry-run=server", "--validate=false", "-o", "json", "-f", "-"],
      { input: toYaml(dataPlane({ secretRef: REF, secretKeyRef: REF }, { caBundle: "x" })(ns)) },
    );

    const stored = JSON.parse(result.stdout) as { spec: Record<string, unknown> };
    expect(stored.spec).toEqual({ clusterAgent: { clientCA: { secretKeyRef: REF } } });
  });

  it('applies upstream defaults: a kcp clientCABundleRef without a name gets name ""', async () => {
    const result = await cp.kubectl(["apply", "--dry-run=server", "-o", "json", "-f", "-"], {
      input: toYaml(rootShard({ ...ROOT_SHARD_SPEC, clientCABundleRef: {} })(ns)),
    });

    const stored = JSON.parse(result.stdout) as { spec: { clientCABundleRef: unknown } };
    expect(stored.spec.clientCABundleRef).toEqual({ name: "" });
  });

  it("serves the legacy spelling only in the legacy group: a v0.17 BuildPlane with secretRef is stored as sent", async () => {
    const plane: Manifest = {
      apiVersion: "core.openchoreo.dev/v1alpha1",
      kind: "BuildPlane",
      metadata: { name: "schema-probe", namespace: ns },
      spec: { planeID: "ci", clusterAgent: { clientCA: { secretRef: REF } } },
    };

    const result = await cp.kubectl(["apply", "--dry-run=server", "-o", "json", "-f", "-"], {
      input: toYaml(plane),
    });

    expect((JSON.parse(result.stdout) as { spec: unknown }).spec).toEqual(plane.spec);
  });
});
