/**
 * What ships in deploy/ against the real kube-apiserver: the kustomize base and overlays and
 * the Helm chart render objects the apiserver accepts (server-side apply, dry run); every
 * shipped registration (kustomize base and overlays, the chart with the built-in rules and with
 * rules of a user's own) is exactly what the rule table derives; the chart refuses a misspelt
 * rule and rules without their registration; the shipped RBAC grants what the server reads and
 * no Secret list; and the generated ValidatingAdmissionPolicy enforces the cross-namespace rule
 * with no webhook server running or registered.
 *
 * helm is built by scripts/build-controlplane.sh next to kubectl (test/e2e/helm/go.mod).
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import {
  CHART,
  helmTemplate as renderChart,
  helm as runHelm,
  serviceAccountKubeconfig,
} from "../../scripts/harness/helm.js";
import { kustomizeDeploy } from "../../scripts/harness/kustomize.js";
import { type Manifest, restrictedPod, toYaml } from "../../scripts/harness/manifests.js";
import { createTestNamespace, uniqueName } from "../../scripts/harness/namespaces.js";
import { REPO_ROOT } from "../../scripts/harness/paths.js";
import { caCertificatePem } from "../../scripts/harness/pki.js";
import { pollUntil } from "../../scripts/harness/poll.js";
import {
  registerWebhooks,
  removeHarnessWebhooks,
  startWebhook,
  type WebhookRegistration,
  type WebhookServer,
  waitForWebhookCalled,
} from "../../scripts/harness/webhook.js";
import { loadServeConfig } from "../../src/config.js";
import {
  FROZEN_WEBHOOK_FIELDS,
  POLICY_NAME,
  REFERENCES_ROLE_NAME,
  renderHelmValues,
  renderManifests,
  renderManifestsYaml,
  SELF_MANAGED_POLICY_NAME,
} from "../../src/manifests.js";
import { parseRules } from "../../src/policy/rules.js";
import { useControlPlane } from "./harness/context.js";

const cp = useControlPlane();

const DEPLOY = join(REPO_ROOT, "deploy");
const NAMESPACE = "ca-trust-system";
const SERVICE_ACCOUNT = `system:serviceaccount:${NAMESPACE}:ca-trust-webhook`;
/** The objects' name in the kustomize install and in a Helm release named ca-trust-webhook. */
const NAME = "ca-trust-webhook";

/** A rendered object. */
type Rendered = Manifest & { apiVersion: string; kind: string };

/** Objects of a multi-document YAML stream (empty documents dropped). */
function objects(yaml: string): Rendered[] {
  return parseAllDocuments(yaml)
    .map((doc) => doc.toJS() as Rendered | null)
    .filter((o): o is Rendered => o !== null && typeof o === "object");
}

function find(list: readonly Manifest[], kind: string): Manifest {
  const found = list.find((o) => o.kind === kind);
  if (found === undefined) throw new Error(`no ${kind} in the rendered output`);
  return found;
}

/** `kubectl apply --server-side --dry-run=server`: the apiserver validates, admits, stores nothing. */
async function serverDryRun(yaml: string) {
  return cp.kubectl(["apply", "--server-side", "--dry-run=server", "-f", "-"], {
    input: yaml,
    allowFail: true,
  });
}

/** Runs the helm built beside kubectl (scripts/harness/helm.ts). */
function helm(args: readonly string[]) {
  return runHelm(cp, args);
}

/** `helm template` of the chart as release ca-trust-webhook in ca-trust-system; must succeed. */
async function helmTemplate(values: Record<string, unknown>): Promise<Rendered[]> {
  const result = await renderChart(cp, {
    release: "ca-trust-webhook",
    namespace: NAMESPACE,
    values,
  });
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return result.objects;
}

beforeAll(async () => {
  // Namespaced objects are dry-run into their namespaces, which must exist; the Connectors
  // Role's namespace is a documented prerequisite of the install.
  // `create`, not a client-side apply: that would leave an annotation the server-side dry runs
  // below warn about migrating. AlreadyExists (another test file made it) is fine.
  for (const name of [NAMESPACE, "connectors-system"]) {
    await cp.kubectl(["create", "namespace", name], { allowFail: true });
  }
});

describe("kustomize: deploy/ and its overlays", () => {
  it("`kubectl kustomize deploy/` renders every object of the install and the apiserver accepts them", async () => {
    const rendered = await cp.kubectl(["kustomize", DEPLOY]);
    const kinds = objects(rendered.stdout)
      .map((o) => o.kind)
      .sort();
    expect(kinds).toEqual(
      [
        "ClusterRole",
        "ClusterRoleBinding",
        // The reference index's list/watch grant (rbac-references.yaml, generated).
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "MutatingWebhookConfiguration",
        "Namespace",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
      ].sort(),
    );
    const applied = await serverDryRun(rendered.stdout);
    expect(applied.stderr).toBe("");
    expect(applied.code).toBe(0);
    expect(applied.stdout.match(/serverside-applied \(server dry run\)/g)).toHaveLength(17);
  });

  it("the cert-manager overlay adds the CA chain and the cainjector annotation; the rest is accepted", async () => {
    const rendered = objects(
      (await cp.kubectl(["kustomize", join(DEPLOY, "overlays", "cert-manager")])).stdout,
    );
    const certManager = rendered.filter((o) => o.apiVersion === "cert-manager.io/v1");
    expect(certManager.map((o) => `${o.kind}/${(o.metadata as { name: string }).name}`)).toEqual([
      "Certificate/ca-trust-webhook",
      "Certificate/ca-trust-webhook-ca",
      "Issuer/ca-trust-webhook-ca",
      "Issuer/ca-trust-webhook-selfsigned",
    ]);
    const serving = certManager[0] as unknown as {
      spec: { secretName: string; dnsNames: string[] };
    };
    expect(serving.spec.secretName).toBe("ca-trust-webhook-tls");
    expect(serving.spec.dnsNames).toContain("ca-trust-webhook.ca-trust-system.svc");
    for (const kind of ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]) {
      const annotations = (find(rendered, kind).metadata as { annotations?: object }).annotations;
      expect(annotations).toEqual({
        "cert-manager.io/inject-ca-from": "ca-trust-system/ca-trust-webhook",
      });
    }
    // cert-manager's CRDs are not installed in this control plane: the rest is dry-run.
    const applied = await serverDryRun(
      toYaml(...rendered.filter((o) => o.apiVersion !== "cert-manager.io/v1")),
    );
    expect(applied.code).toBe(0);
  });

  it("the self-managed overlay runs --certificate-mode self-managed without a TLS Secret and adds its named grants", async () => {
    const yaml = (await cp.kubectl(["kustomize", join(DEPLOY, "overlays", "self-managed")])).stdout;
    const rendered = objects(yaml);
    const pod = (
      find(rendered, "Deployment") as {
        spec: { template: { spec: { containers: { args: string[] }[]; volumes: object[] } } };
      }
    ).spec.template.spec;
    expect(pod.containers[0]?.args).toContain("--certificate-mode=self-managed");
    expect(pod.containers[0]?.args.some((a) => a.startsWith("--tls-"))).toBe(false);
    expect(JSON.stringify(pod.volumes)).not.toContain("ca-trust-webhook-tls");
    const applied = await serverDryRun(yaml);
    expect(applied.stderr).toBe("");
    expect(applied.code).toBe(0);
  });
});

type PodSpec = {
  containers: { args: string[]; volumeMounts: { name: string; mountPath: string }[] }[];
  volumes: { name: string; secret?: { secretName: string; items?: object[] } }[];
};
type Rules = { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };

describe("kustomize components: mutual TLS and namespace-scoped Secret reads", () => {
  it("components/mtls mounts the client CA and passes --client-ca-file and --client-cn; the apiserver accepts it", async () => {
    const yaml = await kustomizeDeploy(cp, ["overlays/self-managed"], ["components/mtls"]);
    const rendered = objects(yaml);
    const pod = (find(rendered, "Deployment") as { spec: { template: { spec: PodSpec } } }).spec
      .template.spec;
    const container = pod.containers[0] as PodSpec["containers"][number];
    expect(container.args).toEqual(
      expect.arrayContaining([
        "--certificate-mode=self-managed",
        "--client-ca-file=/client-ca/ca.crt",
        "--client-cn=kube-apiserver",
      ]),
    );
    expect(container.volumeMounts).toContainEqual({
      name: "client-ca",
      mountPath: "/client-ca",
      readOnly: true,
    });
    expect(pod.volumes).toContainEqual({
      name: "client-ca",
      secret: {
        secretName: "ca-trust-webhook-client-ca",
        items: [{ key: "ca.crt", path: "ca.crt" }],
      },
    });
    const applied = await serverDryRun(yaml);
    expect(applied.stderr).toBe("");
    expect(applied.code).toBe(0);
  });

  it("components/namespaced-secrets drops the cluster-wide Secret get, grants it in platform-cas and passes --secret-namespaces", async () => {
    await cp.kubectl(["create", "namespace", "platform-cas"], { allowFail: true });
    const yaml = await kustomizeDeploy(
      cp,
      ["overlays/self-managed"],
      ["components/mtls", "components/namespaced-secrets"],
    );
    const rendered = objects(yaml);
    const clusterRole = rendered.find(
      (o) => o.kind === "ClusterRole" && (o.metadata as { name: string }).name === NAME,
    ) as unknown as Rules;
    expect(clusterRole.rules.filter((r) => r.resources.includes("secrets"))).toEqual([]);
    expect(clusterRole.rules).toContainEqual({
      apiGroups: ["authorization.k8s.io"],
      resources: ["subjectaccessreviews"],
      verbs: ["create"],
    });
    const role = rendered.find(
      (o) =>
        o.kind === "Role" && (o.metadata as { namespace: string }).namespace === "platform-cas",
    ) as unknown as Rules;
    expect(role.rules).toEqual([{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }]);
    const args = (find(rendered, "Deployment") as { spec: { template: { spec: PodSpec } } }).spec
      .template.spec.containers[0]?.args;
    expect(args).toContain("--secret-namespaces=platform-cas");
    expect(args).toContain("--client-ca-file=/client-ca/ca.crt");
    const applied = await serverDryRun(yaml);
    expect(applied.stderr).toBe("");
    expect(applied.code).toBe(0);
  });

  it("with namespaced-secrets applied, the ServiceAccount may get Secrets in platform-cas and nowhere else", async () => {
    await cp.kubectl(["create", "namespace", "platform-cas"], { allowFail: true });
    const rendered = objects(await kustomizeDeploy(cp, ["."], ["components/namespaced-secrets"]));
    const rbacYaml = toYaml(
      ...rendered.filter((o) =>
        ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"].includes(
          o.kind,
        ),
      ),
    );
    await cp.kubectl(["apply", "-f", "-"], { input: rbacYaml });
    try {
      const can = async (...args: string[]) =>
        (
          await cp.kubectl(["auth", "can-i", ...args, `--as=${SERVICE_ACCOUNT}`], {
            allowFail: true,
          })
        ).stdout.trim();
      expect(await can("get", "secrets", "-n", "platform-cas")).toBe("yes");
      expect(await can("get", "secrets", "-n", "default")).toBe("no");
      expect(await can("get", "secrets", "-n", "kube-system")).toBe("no");
      expect(await can("create", "subjectaccessreviews.authorization.k8s.io")).toBe("yes");
    } finally {
      await cp.kubectl(["delete", "--ignore-not-found", "-f", "-"], {
        input: rbacYaml,
        allowFail: true,
      });
    }
  });
});

describe("kustomize components: CA distribution (trust-manager Bundle, ClusterTrustBundle)", () => {
  it("components/cluster-trust-bundle passes the source arguments and grants get/list/watch of that bundle only; the apiserver accepts it", async () => {
    const yaml = await kustomizeDeploy(cp, ["."], ["components/cluster-trust-bundle"]);
    const rendered = objects(yaml);
    const args = (find(rendered, "Deployment") as { spec: { template: { spec: PodSpec } } }).spec
      .template.spec.containers[0]?.args;
    expect(args).toEqual(
      expect.arrayContaining([
        "--inject-source=clustertrustbundle",
        "--inject-cluster-trust-bundle=corp-roots",
      ]),
    );
    const clusterRole = rendered.find(
      (o) => o.kind === "ClusterRole" && (o.metadata as { name: string }).name === NAME,
    ) as unknown as { rules: Record<string, unknown>[] };
    expect(clusterRole.rules).toContainEqual({
      apiGroups: ["certificates.k8s.io"],
      resources: ["clustertrustbundles"],
      resourceNames: ["corp-roots"],
      verbs: ["get", "list", "watch"],
    });
    const applied = await serverDryRun(yaml);
    expect(applied.stderr).toBe("");
    expect(applied.code).toBe(0);
  });

  it("components/trust-manager-bundle adds one Bundle named like the CA ConfigMap, writing its key into opted-in namespaces", async () => {
    const rendered = objects(await kustomizeDeploy(cp, ["."], ["components/trust-manager-bundle"]));
    const bundles = rendered.filter((o) => o.kind === "Bundle");
    expect(bundles).toHaveLength(1);
    expect(bundles[0]).toMatchObject({
      apiVersion: "trust.cert-manager.io/v1alpha1",
      metadata: { name: "ca-trust-bundle" },
      spec: {
        target: {
          configMap: { key: "ca-bundle.crt" },
          namespaceSelector: { matchLabels: { "ca-trust.dev/inject": "enabled" } },
        },
      },
    });
  });
});

describe("RBAC: the shipped ClusterRole and Roles, impersonating the ServiceAccount", () => {
  let rbacYaml: string;
  beforeAll(async () => {
    const rendered = objects((await cp.kubectl(["kustomize", DEPLOY])).stdout);
    rbacYaml = toYaml(
      ...rendered.filter((o) =>
        ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"].includes(
          o.kind,
        ),
      ),
    );
    await cp.kubectl(["apply", "-f", "-"], { input: rbacYaml });
  });
  afterAll(async () => {
    await cp.kubectl(["delete", "--ignore-not-found", "-f", "-"], {
      input: rbacYaml,
      allowFail: true,
    });
  });

  // Each row: what the server (src/kube/cluster.ts) does, or must never be able to do.
  it.each([
    {
      what: "lists Secrets cluster-wide",
      args: ["get", "secrets", "--all-namespaces"],
      allowed: false,
    },
    {
      what: "lists Secrets in the Connectors system namespace (labelled global CAs)",
      args: ["get", "secrets", "-n", "connectors-system", "-l", "connectors.cpaas.io/ca-cert=true"],
      allowed: true,
    },
    {
      what: "reads one referenced Secret by name",
      args: ["get", "secret", "no-such-secret", "-n", "default"],
      allowed: true,
    },
    {
      what: "lists the CA ConfigMaps by name in every namespace (field selector)",
      args: [
        "get",
        "configmaps",
        "--all-namespaces",
        "--field-selector",
        "metadata.name=ca-trust-bundle",
      ],
      allowed: true,
    },
    {
      what: "lists every ConfigMap",
      args: ["get", "configmaps", "--all-namespaces"],
      allowed: false,
    },
    {
      what: "lists Namespaces (opt-in labels)",
      args: ["get", "namespaces"],
      allowed: true,
    },
    {
      what: "lists DataPlanes in every namespace (the reference index of the Secret guard)",
      args: ["get", "dataplanes.openchoreo.dev", "--all-namespaces"],
      allowed: true,
    },
    {
      what: "lists kcp Shards in every namespace (the reference index of the Secret guard)",
      args: ["get", "shards.operator.kcp.io", "--all-namespaces"],
      allowed: true,
    },
    {
      what: "lists Pods (no rule covers them)",
      args: ["get", "pods", "--all-namespaces"],
      allowed: false,
    },
    {
      what: "writes a webhook configuration (base install, not self-managed)",
      args: ["delete", "validatingwebhookconfiguration", "ca-trust-webhook", "--dry-run=server"],
      allowed: false,
    },
  ])("the ServiceAccount $what: allowed=$allowed", async ({ args, allowed }) => {
    const result = await cp.kubectl([...args, `--as=${SERVICE_ACCOUNT}`], { allowFail: true });
    const forbidden = /\(Forbidden\)|forbidden/.test(result.stderr);
    expect(forbidden).toBe(!allowed);
    if (allowed) expect(result.stderr).not.toMatch(/forbidden/i);
  });

  it("the ServiceAccount may create SubjectAccessReviews (the per-user Secret check)", async () => {
    const result = await cp.kubectl(
      [
        "auth",
        "can-i",
        "create",
        "subjectaccessreviews.authorization.k8s.io",
        `--as=${SERVICE_ACCOUNT}`,
      ],
      { allowFail: true },
    );
    expect(result.stdout.trim()).toBe("yes");
  });

  describe("the server running with exactly these permissions (a ServiceAccount token)", () => {
    let server: WebhookServer;
    let registration: WebhookRegistration;
    let kubeconfig: string;
    let dir: string;
    let ns: string;

    beforeAll(async () => {
      // A token of the shipped ServiceAccount, from the TokenRequest API.
      dir = mkdtempSync(join(tmpdir(), "ca-trust-e2e-sa-"));
      kubeconfig = await serviceAccountKubeconfig(cp, {
        namespace: NAMESPACE,
        name: "ca-trust-webhook",
        dir,
      });
      ns = await createTestNamespace(cp, {
        prefix: "rbac",
        labels: { "ca-trust.dev/inject": "enabled" },
      });
      const pem = await caCertificatePem("rbac test CA");
      await cp.kubectl(["apply", "-f", "-"], {
        input: toYaml(
          {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "ca-trust-bundle", namespace: ns },
            data: { "ca-bundle.crt": pem },
          },
          {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "team-ca", namespace: ns },
            data: { "ca-bundle.crt": pem },
          },
          {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "agent-ca", namespace: ns },
            stringData: { "ca.crt": pem },
          },
          {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "connectors-config", namespace: "connectors-system" },
            data: { "enable-custom-ca-certs": "true" },
          },
        ),
      });
      // Ready means every watch (flag ConfigMap, labelled Secrets, CA ConfigMaps, Namespaces)
      // listed and is established with the ServiceAccount's permissions.
      server = await startWebhook(cp, { kubeconfig });
      registration = await registerWebhooks(cp, {
        url: server.url,
        caBundle: server.caPem,
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
      });
      await waitForWebhookCalled(cp, server, { namespace: ns, registration });
    });

    afterAll(async () => {
      await registration?.unregister();
      await server?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("cannot list Secrets cluster-wide with its token", async () => {
      const result = await cp.kubectl(
        ["--kubeconfig", kubeconfig, "get", "secrets", "--all-namespaces"],
        {
          allowFail: true,
        },
      );
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/forbidden/i);
    });

    it("validates a Connector and a DataPlane by reading their Secret (get) and the flag (watch)", async () => {
      const dp = await cp.kubectl(["apply", "--dry-run=server", "-f", "-"], {
        input: toYaml({
          apiVersion: "openchoreo.dev/v1alpha1",
          kind: "DataPlane",
          metadata: { name: "rbac-dp", namespace: ns },
          spec: {
            planeID: "rbac-dp",
            clusterAgent: { clientCA: { secretKeyRef: { name: "agent-ca", key: "ca.crt" } } },
          },
        }),
        allowFail: true,
      });
      expect(dp.code).toBe(0);
      expect(dp.stderr).not.toMatch(/Warning|could not verify/);
      const connector = await cp.kubectl(["apply", "--dry-run=server", "-f", "-"], {
        input: toYaml({
          apiVersion: "connectors.alauda.io/v1alpha1",
          kind: "Connector",
          metadata: { name: "rbac-connector", namespace: ns },
          spec: {
            connectorClassName: "git",
            address: "https://git.example",
            caCertSecretRef: { name: "agent-ca" },
          },
        }),
        allowFail: true,
      });
      expect(connector.code).toBe(0);
      // The flag is on (read through the watch): no "feature flag is off" warning.
      expect(connector.stderr).not.toMatch(/Warning/);
    });

    it("injects Pods from the watched CA ConfigMap and from an annotation's ConfigMap (get)", async () => {
      for (const [name, annotations] of [
        ["rbac-pod", {}],
        ["rbac-pod-annotated", { "ca-trust.dev/configmap": "team-ca" }],
      ] as const) {
        const pod = restrictedPod(name, ns);
        (pod.metadata as Record<string, unknown>).annotations = annotations;
        await cp.kubectl(["apply", "-f", "-"], { input: toYaml(pod) });
        const stored = JSON.parse(
          (await cp.kubectl(["get", "pod", name, "-n", ns, "-o", "json"])).stdout,
        );
        expect(stored.spec.initContainers[0].name).toBe("install-ca-cert");
      }
    });
  });
});

/** A plane with a CA Secret reference (`spelling`) whose namespace is `refNamespace`. */
function plane(
  group: string,
  kind: string,
  name: string,
  namespace: string | undefined,
  spelling: "secretKeyRef" | "secretRef",
  refNamespace: string | undefined,
  extra: Record<string, unknown> = {},
): Manifest {
  return {
    apiVersion: `${group}/v1alpha1`,
    kind,
    metadata: { name, ...(namespace === undefined ? {} : { namespace }), ...extra },
    spec: {
      planeID: name,
      clusterAgent: {
        clientCA: {
          [spelling]: {
            name: "cluster-agent-ca",
            key: "ca.crt",
            ...(refNamespace === undefined ? {} : { namespace: refNamespace }),
          },
        },
      },
    },
  };
}

function collectionPath(group: string, resource: string, namespace: string | undefined): string {
  return `/apis/${group}/v1alpha1/${namespace === undefined ? "" : `namespaces/${namespace}/`}${resource}`;
}

describe("ValidatingAdmissionPolicy: the cross-namespace rule with no webhook server", () => {
  let ns: string;
  let other: string;
  let legacy: string;
  const policyYaml = renderManifestsYaml(
    { rules: [], allowedSecretNamespaces: [], trustedSecretNamespaces: [] },
    { only: "vap" },
  );

  beforeAll(async () => {
    ns = await createTestNamespace(cp, { prefix: "vap" });
    other = await createTestNamespace(cp, { prefix: "vap-other" });
    // No webhook of ours (or the harness's) is registered: only the policy can deny.
    await removeHarnessWebhooks(cp);
    const registered = await cp.kubectl([
      "get",
      "validatingwebhookconfigurations,mutatingwebhookconfigurations",
      "-o",
      "json",
    ]);
    expect(registered.stdout).not.toMatch(/dataplanes|ca-trust\.dev/);
    // Stored before the policy existed: a cross-namespace reference with a finalizer.
    legacy = uniqueName("legacy");
    await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml(
        plane("openchoreo.dev", "DataPlane", legacy, ns, "secretKeyRef", other, {
          finalizers: ["e2e.ca-trust.dev/hold"],
        }),
      ),
    });
    await cp.kubectl(["apply", "-f", "-"], { input: policyYaml });
    // The apiserver compiles and binds the policy asynchronously: wait until it denies.
    const probe = plane("openchoreo.dev", "DataPlane", "probe", ns, "secretKeyRef", other);
    await pollUntil(
      async () => {
        const r = await cp.request(
          "POST",
          `${collectionPath("openchoreo.dev", "dataplanes", ns)}?dryRun=All`,
          probe,
        );
        return r.status === 403 ? true : undefined;
      },
      { what: "the ValidatingAdmissionPolicy to take effect", timeoutMs: 30_000 },
    );
  });

  afterAll(async () => {
    await cp.kubectl(["delete", "--ignore-not-found", "-f", "-"], {
      input: policyYaml,
      allowFail: true,
    });
    await cp.kubectl(
      [
        "patch",
        "dataplane.openchoreo.dev",
        legacy,
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"metadata":{"finalizers":null}}',
      ],
      { allowFail: true },
    );
  });

  it("the generated policy and binding are stored as generated", async () => {
    const stored = await cp.kubectl([
      "get",
      "validatingadmissionpolicy,validatingadmissionpolicybinding",
      POLICY_NAME,
      "-o",
      "name",
    ]);
    expect(stored.stdout.trim().split("\n")).toEqual([
      `validatingadmissionpolicy.admissionregistration.k8s.io/${POLICY_NAME}`,
      `validatingadmissionpolicybinding.admissionregistration.k8s.io/${POLICY_NAME}`,
    ]);
  });

  type Row = {
    name: string;
    group: string;
    kind: string;
    resource: string;
    namespaced: boolean;
    spelling: "secretKeyRef" | "secretRef";
    /** "same", "other", "" or undefined (field absent). */
    refNamespace: "same" | "other" | "" | undefined;
    status: number;
    reason?: string;
    field?: string;
  };
  it.each<Row>([
    {
      name: "a DataPlane naming another namespace is denied",
      group: "openchoreo.dev",
      kind: "DataPlane",
      resource: "dataplanes",
      namespaced: true,
      spelling: "secretKeyRef",
      refNamespace: "other",
      status: 403,
      reason: "Forbidden",
      field: "spec.clusterAgent.clientCA.secretKeyRef.namespace",
    },
    {
      name: "a DataPlane naming its own namespace is allowed",
      group: "openchoreo.dev",
      kind: "DataPlane",
      resource: "dataplanes",
      namespaced: true,
      spelling: "secretKeyRef",
      refNamespace: "same",
      status: 201,
    },
    {
      name: "a DataPlane naming no namespace is allowed",
      group: "openchoreo.dev",
      kind: "DataPlane",
      resource: "dataplanes",
      namespaced: true,
      spelling: "secretKeyRef",
      refNamespace: undefined,
      status: 201,
    },
    {
      name: "an empty namespace means the same namespace",
      group: "openchoreo.dev",
      kind: "WorkflowPlane",
      resource: "workflowplanes",
      namespaced: true,
      spelling: "secretKeyRef",
      refNamespace: "",
      status: 201,
    },
    {
      name: "the pre-v1.0 spelling secretRef in the older group naming another namespace is denied",
      group: "core.openchoreo.dev",
      kind: "BuildPlane",
      resource: "buildplanes",
      namespaced: true,
      spelling: "secretRef",
      refNamespace: "other",
      status: 403,
      reason: "Forbidden",
      field: "spec.clusterAgent.clientCA.secretRef.namespace",
    },
    {
      name: "a ClusterDataPlane naming no namespace is denied",
      group: "openchoreo.dev",
      kind: "ClusterDataPlane",
      resource: "clusterdataplanes",
      namespaced: false,
      spelling: "secretKeyRef",
      refNamespace: undefined,
      status: 403,
      reason: "Forbidden",
      field: "spec.clusterAgent.clientCA.secretKeyRef.namespace",
    },
    {
      name: "a ClusterBuildPlane (pre-v1.0 schema, secretRef) naming no namespace is denied",
      group: "core.openchoreo.dev",
      kind: "ClusterBuildPlane",
      resource: "clusterbuildplanes",
      namespaced: false,
      spelling: "secretRef",
      refNamespace: "",
      status: 403,
      reason: "Forbidden",
      field: "spec.clusterAgent.clientCA.secretRef.namespace",
    },
    {
      name: "a ClusterDataPlane naming a namespace is allowed",
      group: "openchoreo.dev",
      kind: "ClusterDataPlane",
      resource: "clusterdataplanes",
      namespaced: false,
      spelling: "secretKeyRef",
      refNamespace: "other",
      status: 201,
    },
  ])("$name", async (row) => {
    const name = uniqueName(row.kind.toLowerCase());
    const refNamespace =
      row.refNamespace === "same" ? ns : row.refNamespace === "other" ? other : row.refNamespace;
    const namespace = row.namespaced ? ns : undefined;
    const body = plane(row.group, row.kind, name, namespace, row.spelling, refNamespace);
    const response = await cp.request(
      "POST",
      collectionPath(row.group, row.resource, namespace),
      body,
    );
    expect(response.status, response.body).toBe(row.status);
    if (row.status >= 400) {
      const status = response.json as { reason: string; message: string };
      expect(status.reason).toBe(row.reason);
      // The policy's own name and the webhook's field path, as the user reads them.
      expect(status.message).toContain(POLICY_NAME);
      expect(status.message).toContain(`${row.field}: `);
    } else if (!row.namespaced) {
      await cp.kubectl(["delete", `${row.resource}.${row.group}`, name, "--wait=false"]);
    }
  });

  it("an UPDATE that leaves a stored cross-namespace reference unchanged is allowed (ratcheting)", async () => {
    const r = await cp.kubectl([
      "label",
      "dataplane.openchoreo.dev",
      legacy,
      "-n",
      ns,
      "e2e.ca-trust.dev/touched=true",
    ]);
    expect(r.code).toBe(0);
  });

  it("an UPDATE that changes the reference to yet another namespace is denied", async () => {
    const r = await cp.kubectl(
      [
        "patch",
        "dataplane.openchoreo.dev",
        legacy,
        "-n",
        ns,
        "--type=merge",
        "-p",
        JSON.stringify({
          spec: { clusterAgent: { clientCA: { secretKeyRef: { namespace: "kube-public" } } } },
        }),
      ],
      { allowFail: true },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(POLICY_NAME);
  });

  it("an object being deleted can drop its finalizer even with a cross-namespace reference", async () => {
    await cp.kubectl(["delete", "dataplane.openchoreo.dev", legacy, "-n", ns, "--wait=false"]);
    const r = await cp.kubectl([
      "patch",
      "dataplane.openchoreo.dev",
      legacy,
      "-n",
      ns,
      "--type=merge",
      "-p",
      '{"metadata":{"finalizers":null}}',
    ]);
    expect(r.code).toBe(0);
    const gone = await cp.kubectl(["get", "dataplane.openchoreo.dev", legacy, "-n", ns], {
      allowFail: true,
    });
    expect(gone.stderr).toMatch(/NotFound|not found/);
  });
});

/** A JSON patch of webhook configuration `kind` that changes one frozen field. */
interface FrozenRow {
  field: (typeof FROZEN_WEBHOOK_FIELDS)[number];
  kind: "validatingwebhookconfiguration" | "mutatingwebhookconfiguration";
  patch: unknown[];
}

describe("self-managed: the ServiceAccount may change only the caBundle (RBAC + ValidatingAdmissionPolicy, impersonated)", () => {
  const AS = `--as=${SERVICE_ACCOUNT}`;
  const SECRET = "ca-trust-webhook-certs";
  let installed: string;
  const asServiceAccount = (args: readonly string[], input?: string) =>
    cp.kubectl([...args, AS], { allowFail: true, ...(input === undefined ? {} : { input }) });
  /** Denied: by the apiserver's RBAC ("forbidden") or by our policy (named in the message). */
  const denied = (r: { code: number; stderr: string }) =>
    r.code !== 0 && /forbidden|denied request/i.test(r.stderr);
  const byPolicy = (r: { stderr: string }) => r.stderr.includes(SELF_MANAGED_POLICY_NAME);
  const ca = async (cn: string) => Buffer.from(await caCertificatePem(cn)).toString("base64");

  beforeAll(async () => {
    await removeHarnessWebhooks(cp);
    // The shipped install minus the workload: the ServiceAccount, every RBAC object, the two
    // webhook configurations it may write and the policy. Nothing else is registered or runs,
    // so no admission in this file reaches these webhook configurations (they exclude our
    // namespace, and the tests below create nothing they select).
    const rendered = objects(
      (await cp.kubectl(["kustomize", join(DEPLOY, "overlays", "self-managed")])).stdout,
    ).filter((o) =>
      [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
      ].includes(o.kind),
    );
    installed = toYaml(...rendered);
    expect(
      rendered.filter((o) => (o.metadata as { name: string }).name === SELF_MANAGED_POLICY_NAME),
    ).toHaveLength(2);
    await cp.kubectl(["apply", "--server-side", "-f", "-"], { input: installed });
    // The apiserver compiles and binds the policy asynchronously: wait until it denies.
    await pollUntil(
      async () => {
        const r = await asServiceAccount([
          "create",
          "secret",
          "generic",
          "policy-probe",
          "-n",
          NAMESPACE,
          "--dry-run=server",
        ]);
        return byPolicy(r) ? true : undefined;
      },
      { what: "the self-managed ValidatingAdmissionPolicy to take effect", timeoutMs: 30_000 },
    );
  });

  afterAll(async () => {
    await cp.kubectl(["delete", "--ignore-not-found", "-f", "-"], {
      input: installed,
      allowFail: true,
    });
    await cp.kubectl(["delete", "secret", SECRET, "-n", NAMESPACE, "--ignore-not-found"], {
      allowFail: true,
    });
  });

  it.each(["validatingwebhookconfiguration", "mutatingwebhookconfiguration"])(
    "writes the caBundle of every webhook of its %s, conditional on the resourceVersion (what the server does)",
    async (kind) => {
      const before = JSON.parse(
        (await cp.kubectl(["get", kind, "ca-trust-webhook", "-o", "json"])).stdout,
      );
      const bundle = await ca(`caBundle for ${kind}`);
      const patch = [
        { op: "add", path: "/metadata/resourceVersion", value: before.metadata.resourceVersion },
        ...before.webhooks.map((_: unknown, i: number) => ({
          op: "add",
          path: `/webhooks/${i}/clientConfig/caBundle`,
          value: bundle,
        })),
      ];
      const r = await asServiceAccount([
        "patch",
        kind,
        "ca-trust-webhook",
        "--type=json",
        "-p",
        JSON.stringify(patch),
      ]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const after = JSON.parse(
        (await cp.kubectl(["get", kind, "ca-trust-webhook", "-o", "json"])).stdout,
      );
      expect(
        after.webhooks.map((w: { clientConfig: { caBundle?: string } }) => w.clientConfig.caBundle),
      ).toEqual(before.webhooks.map(() => bundle));
      // Nothing else moved.
      const strip = (o: { webhooks: { clientConfig: Record<string, unknown> }[] }) =>
        o.webhooks.map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle: undefined } }));
      expect(strip(after)).toEqual(strip(before));
    },
  );

  const rows: FrozenRow[] = [
    {
      field: "clientConfig.url",
      kind: "mutatingwebhookconfiguration",
      patch: [
        { op: "remove", path: "/webhooks/0/clientConfig/service" },
        {
          op: "add",
          path: "/webhooks/0/clientConfig/url",
          value: "https://attacker.example/mutate",
        },
      ],
    },
    {
      field: "clientConfig.service",
      kind: "validatingwebhookconfiguration",
      patch: [{ op: "replace", path: "/webhooks/0/clientConfig/service/name", value: "attacker" }],
    },
    {
      field: "rules",
      kind: "mutatingwebhookconfiguration",
      patch: [
        {
          op: "replace",
          path: "/webhooks/0/rules",
          value: [
            {
              apiGroups: ["*"],
              apiVersions: ["*"],
              operations: ["*"],
              resources: ["*/*"],
              scope: "*",
            },
          ],
        },
      ],
    },
    {
      field: "namespaceSelector",
      kind: "mutatingwebhookconfiguration",
      patch: [{ op: "replace", path: "/webhooks/0/namespaceSelector", value: {} }],
    },
    {
      field: "objectSelector",
      kind: "mutatingwebhookconfiguration",
      patch: [{ op: "replace", path: "/webhooks/1/objectSelector", value: {} }],
    },
    {
      field: "matchConditions",
      kind: "validatingwebhookconfiguration",
      patch: [{ op: "remove", path: "/webhooks/1/matchConditions" }],
    },
    {
      field: "failurePolicy",
      kind: "validatingwebhookconfiguration",
      patch: [{ op: "replace", path: "/webhooks/0/failurePolicy", value: "Ignore" }],
    },
    {
      field: "matchPolicy",
      kind: "validatingwebhookconfiguration",
      patch: [{ op: "replace", path: "/webhooks/0/matchPolicy", value: "Exact" }],
    },
    {
      field: "sideEffects",
      kind: "mutatingwebhookconfiguration",
      patch: [{ op: "replace", path: "/webhooks/0/sideEffects", value: "NoneOnDryRun" }],
    },
    {
      field: "timeoutSeconds",
      kind: "validatingwebhookconfiguration",
      patch: [{ op: "replace", path: "/webhooks/0/timeoutSeconds", value: 30 }],
    },
    {
      field: "admissionReviewVersions",
      kind: "validatingwebhookconfiguration",
      patch: [
        { op: "replace", path: "/webhooks/0/admissionReviewVersions", value: ["v1", "v1beta1"] },
      ],
    },
    {
      field: "reinvocationPolicy",
      kind: "mutatingwebhookconfiguration",
      patch: [{ op: "replace", path: "/webhooks/0/reinvocationPolicy", value: "Never" }],
    },
  ];

  it("every frozen field has a row below (a field added to the policy gets tried too)", () => {
    expect(rows.map((r) => r.field).sort()).toEqual([...FROZEN_WEBHOOK_FIELDS].sort());
  });

  it.each(rows)(
    "cannot change $field ($kind), not even along with the caBundle",
    async ({ kind, patch }) => {
      const bundle = await ca("attacker CA");
      for (const body of [
        patch,
        [...patch, { op: "add", path: "/webhooks/0/clientConfig/caBundle", value: bundle }],
      ]) {
        const before = (await cp.kubectl(["get", kind, "ca-trust-webhook", "-o", "json"])).stdout;
        const r = await asServiceAccount([
          "patch",
          kind,
          "ca-trust-webhook",
          "--type=json",
          "-p",
          JSON.stringify(body),
        ]);
        expect(denied(r), r.stderr).toBe(true);
        expect(byPolicy(r), r.stderr).toBe(true);
        expect(r.stderr).toContain("may change only clientConfig.caBundle");
        const after = (await cp.kubectl(["get", kind, "ca-trust-webhook", "-o", "json"])).stdout;
        expect(JSON.parse(after).metadata.resourceVersion).toBe(
          JSON.parse(before).metadata.resourceVersion,
        );
      }
    },
  );

  it.each([
    {
      what: "add a webhook",
      kind: "validatingwebhookconfiguration",
      patch: (webhooks: Record<string, unknown>[]) => [
        {
          op: "add",
          path: "/webhooks/-",
          value: { ...webhooks[0], name: "everything.attacker.example" },
        },
      ],
    },
    {
      what: "remove a webhook",
      kind: "mutatingwebhookconfiguration",
      patch: () => [{ op: "remove", path: "/webhooks/1" }],
    },
    {
      what: "reorder the webhooks",
      kind: "mutatingwebhookconfiguration",
      patch: (webhooks: Record<string, unknown>[]) => [
        { op: "replace", path: "/webhooks", value: [webhooks[1], webhooks[0]] },
      ],
    },
    {
      what: "rename a webhook",
      kind: "validatingwebhookconfiguration",
      patch: () => [{ op: "replace", path: "/webhooks/0/name", value: "renamed.ca-trust.dev" }],
    },
    {
      what: "add an annotation (e.g. cert-manager's CA injection)",
      kind: "validatingwebhookconfiguration",
      patch: () => [
        {
          op: "add",
          path: "/metadata/annotations",
          value: { "cert-manager.io/inject-ca-from-secret": "ca-trust-system/attacker" },
        },
      ],
    },
    {
      what: "change a label",
      kind: "mutatingwebhookconfiguration",
      patch: () => [{ op: "add", path: "/metadata/labels/team", value: "attacker" }],
    },
  ])("cannot $what", async ({ kind, patch }) => {
    const current = JSON.parse(
      (await cp.kubectl(["get", kind, "ca-trust-webhook", "-o", "json"])).stdout,
    );
    const r = await asServiceAccount([
      "patch",
      kind,
      "ca-trust-webhook",
      "--type=json",
      "-p",
      JSON.stringify(patch(current.webhooks)),
    ]);
    expect(denied(r), r.stderr).toBe(true);
    expect(byPolicy(r), r.stderr).toBe(true);
  });

  it.each([
    {
      what: "create a webhook configuration",
      args: ["create", "-f", "-"],
      input: toYaml({
        apiVersion: "admissionregistration.k8s.io/v1",
        kind: "MutatingWebhookConfiguration",
        metadata: { name: "attacker" },
        webhooks: [],
      }),
    },
    {
      what: "delete its webhook configuration",
      args: ["delete", "mutatingwebhookconfiguration", "ca-trust-webhook"],
    },
    {
      what: "change the policy that limits it",
      args: ["label", "validatingadmissionpolicy", POLICY_NAME, "x=y"],
    },
  ])("cannot $what (RBAC)", async ({ args, input }) => {
    const r = await asServiceAccount(args, input);
    expect(denied(r), r.stderr).toBe(true);
  });

  it("creates its certificate Secret (Opaque) and updates it, but cannot delete it", async () => {
    const created = await asServiceAccount(
      ["create", "-f", "-"],
      toYaml(secretOf(SECRET, "Opaque")),
    );
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    const updated = await asServiceAccount([
      "patch",
      "secret",
      SECRET,
      "-n",
      NAMESPACE,
      "--type=merge",
      "-p",
      JSON.stringify({ data: { "tls.crt": Buffer.from("renewed").toString("base64") } }),
    ]);
    expect(updated.stderr).toBe("");
    expect(updated.code).toBe(0);
    const deleted = await asServiceAccount(["delete", "secret", SECRET, "-n", NAMESPACE]);
    expect(denied(deleted), deleted.stderr).toBe(true);
    await cp.kubectl(["delete", "secret", SECRET, "-n", NAMESPACE]);
  });

  it.each([
    {
      what: "a service-account-token Secret (a token that never expires)",
      secret: () => ({
        ...secretOf("ca-trust-webhook-token", "kubernetes.io/service-account-token"),
        metadata: {
          name: "ca-trust-webhook-token",
          namespace: NAMESPACE,
          annotations: { "kubernetes.io/service-account.name": "ca-trust-webhook" },
        },
      }),
      policy: true,
    },
    {
      what: "a service-account-token Secret under the certificate Secret's name",
      secret: () => ({
        ...secretOf(SECRET, "kubernetes.io/service-account-token"),
        metadata: {
          name: SECRET,
          namespace: NAMESPACE,
          annotations: { "kubernetes.io/service-account.name": "ca-trust-webhook" },
        },
      }),
      policy: true,
    },
    {
      what: "the certificate Secret with another type (kubernetes.io/tls)",
      secret: () => secretOf(SECRET, "kubernetes.io/tls"),
      policy: true,
    },
    {
      what: "an Opaque Secret of another name",
      secret: () => secretOf("other", "Opaque"),
      policy: true,
    },
    {
      what: "a Secret named by generateName",
      secret: () => ({
        ...secretOf("x", "Opaque"),
        metadata: { generateName: "ca-trust-webhook-", namespace: NAMESPACE },
      }),
      policy: true,
    },
    {
      what: "its Secret in another namespace",
      secret: () => ({
        ...secretOf(SECRET, "Opaque"),
        metadata: { name: SECRET, namespace: "default" },
      }),
      policy: false,
    },
  ])("cannot create $what", async ({ secret, policy }) => {
    const r = await asServiceAccount(["create", "-f", "-"], toYaml(secret()));
    expect(denied(r), r.stderr).toBe(true);
    if (policy) expect(byPolicy(r), r.stderr).toBe(true);
    const listed = await cp.kubectl(["get", "secrets", "-n", NAMESPACE, "-o", "name"]);
    expect(listed.stdout).not.toMatch(/ca-trust-webhook-(token|certs)|secret\/other/);
  });
});

function secretOf(name: string, type: string): Manifest {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: NAMESPACE },
    type,
    data:
      type === "kubernetes.io/tls"
        ? {
            "tls.crt": Buffer.from("x").toString("base64"),
            "tls.key": Buffer.from("y").toString("base64"),
          }
        : { "ca.crt": Buffer.from("x").toString("base64") },
  };
}

/** Rules for CRDs of a user's own, in the config file's format (one of each shape). */
const USER_RULES = [
  {
    name: "widgets",
    apiGroups: ["example.com"],
    kinds: { Widget: "widgets", Gadget: "gadgets" },
    versions: ["v1", "v1beta1"],
    references: [
      {
        refs: ["spec.tls.caRef"],
        namespaceField: "namespace",
        keys: { mode: "fixed", key: "ca.crt" },
      },
    ],
  },
  {
    name: "cluster-widgets",
    apiGroups: ["example.com"],
    kinds: { ClusterWidget: "clusterwidgets" },
    scope: "Cluster",
    references: [
      {
        refs: ["spec.caSecretRef", "spec.caRef"],
        namespaceField: "namespace",
        keys: { mode: "field", field: "key" },
      },
    ],
  },
  { name: "team-ca", type: "labelledSecret", label: "example.com/team-ca", value: "trusted" },
];
const ALLOWED = ["platform-cas", "shared-cas"];
/** Trusted for every rule, for OpenChoreo's planes only, and for a user rule only. */
const TRUSTED = ["shared-cas", "openchoreo-planes=openchoreo-control-plane", "widgets=widget-cas"];
/** USER_RULES with their registration, as `manifests --helm-values` writes them (YAML 1.1). */
const USER_VALUES = parse(renderHelmValues({ rules: parseRules(USER_RULES) }), {
  version: "1.1",
}) as Record<string, unknown>;

/** `ca-trust-webhook manifests ARGS` of the built CLI, as a user runs it. */
function manifestsCli(args: readonly string[]): string {
  return execFileSync(
    process.execPath,
    [join(REPO_ROOT, "dist/src/main.js"), "manifests", ...args],
    {
      encoding: "utf8",
    },
  );
}

/** `helm template` with values files (in order) and then `values`; must succeed. */
async function helmTemplateFiles(
  files: readonly string[],
  values: Record<string, unknown>,
): Promise<Rendered[]> {
  const dir = mkdtempSync(join(tmpdir(), "ca-trust-e2e-values-"));
  try {
    writeFileSync(join(dir, "last.yaml"), toYaml(values));
    const result = await helm([
      "template",
      NAME,
      CHART,
      "--namespace",
      NAMESPACE,
      ...files.flatMap((f) => ["-f", f]),
      "-f",
      join(dir, "last.yaml"),
    ]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    return objects(result.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The registration objects of a rendering, as `${kind}/${name}` → webhooks or spec, and the
 * reference index's ClusterRole (its rules) and binding (whom it binds).
 */
function registrationOf(list: readonly Manifest[]): Record<string, unknown> {
  const kinds = [
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
  ];
  const out: Record<string, unknown> = {};
  for (const o of list) {
    const name = (o.metadata as { name: string }).name;
    const key = `${o.kind}/${name}`;
    if (name === REFERENCES_ROLE_NAME && o.kind === "ClusterRole") out[key] = o.rules;
    if (name === REFERENCES_ROLE_NAME && o.kind === "ClusterRoleBinding") {
      out[key] = { roleRef: o.roleRef, subjects: o.subjects };
    }
    if (!kinds.includes(o.kind as string)) continue;
    out[key] = o.kind?.toString().endsWith("WebhookConfiguration") ? o.webhooks : o.spec;
  }
  return out;
}

describe("every shipped registration is what the rule table derives (src/manifests.ts)", () => {
  const builtIn = { rules: [], allowedSecretNamespaces: [], trustedSecretNamespaces: [] };
  const selfManaged = (options: { certificateSecret?: string } = {}) =>
    renderManifests(builtIn, { only: "self-managed", namespace: NAMESPACE, ...options });
  let caPem: string;
  let dir: string;
  beforeAll(async () => {
    caPem = await caCertificatePem("e2e registration CA");
    dir = mkdtempSync(join(tmpdir(), "ca-trust-e2e-registration-"));
    writeFileSync(join(dir, "config.yaml"), toYaml({ rules: USER_RULES }));
    // The user's flow: the values file for the rules of their config file, from the CLI.
    writeFileSync(
      join(dir, "rules-values.yaml"),
      manifestsCli(["--config", join(dir, "config.yaml"), "--helm-values"]),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each<{
    source: string;
    render: () => Promise<Rendered[]>;
    expected: () => Manifest[];
  }>([
    {
      source: "kustomize deploy/ (base/webhooks.yaml, base/admission-policy.yaml)",
      render: async () => objects((await cp.kubectl(["kustomize", DEPLOY])).stdout),
      expected: () => renderManifests(builtIn),
    },
    {
      source: "kustomize overlays/cert-manager",
      render: async () =>
        objects((await cp.kubectl(["kustomize", join(DEPLOY, "overlays", "cert-manager")])).stdout),
      expected: () => renderManifests(builtIn),
    },
    {
      source: "kustomize overlays/self-managed (and its admission-policy.yaml)",
      render: async () =>
        objects((await cp.kubectl(["kustomize", join(DEPLOY, "overlays", "self-managed")])).stdout),
      expected: () => [...renderManifests(builtIn), ...selfManaged()],
    },
    {
      source: "the Helm chart, built-in rules, default values",
      render: () => helmTemplateFiles([], {}),
      expected: () => renderManifests(builtIn, { namespace: NAMESPACE }),
    },
    {
      source: "the Helm chart, built-in rules, self-managed mode with its own Secret name",
      render: () =>
        helmTemplateFiles([], {
          certificate: { mode: "self-managed", selfManaged: { secretName: "corp-certs" } },
        }),
      expected: () => [
        ...renderManifests(builtIn, { namespace: NAMESPACE }),
        ...selfManaged({ certificateSecret: "corp-certs" }),
      ],
    },
    {
      source:
        "the Helm chart, the user's rules from `manifests --helm-values`, allowedSecretNamespaces, trustedSecretNamespaces, Ignore, a caBundle",
      render: () =>
        helmTemplateFiles([join(dir, "rules-values.yaml")], {
          certificate: { mode: "secret", secret: { name: "my-tls", caBundle: caPem } },
          failurePolicy: "Ignore",
          allowedSecretNamespaces: ALLOWED,
          trustedSecretNamespaces: TRUSTED,
        }),
      expected: () =>
        renderManifests(
          {
            rules: parseRules(USER_RULES),
            allowedSecretNamespaces: ALLOWED,
            trustedSecretNamespaces: TRUSTED.map((entry) => {
              const at = entry.lastIndexOf("=");
              return at === -1
                ? { rule: undefined, namespace: entry }
                : { rule: entry.slice(0, at), namespace: entry.slice(at + 1) };
            }),
          },
          { namespace: NAMESPACE, caBundle: caPem, failurePolicy: "Ignore" },
        ),
    },
  ])("$source", async ({ render, expected }) => {
    const rendered = await render();
    expect(registrationOf(rendered)).toEqual(registrationOf(expected()));
    // The CEL compiles in the real apiserver, user rules included.
    const applied = await serverDryRun(
      toYaml(
        ...rendered.filter(
          (o) => o.kind.includes("Admission") || o.kind.endsWith("WebhookConfiguration"),
        ),
      ),
    );
    expect(applied.stderr).toBe("");
    expect(applied.code).toBe(0);
  });
});

describe("Helm chart deploy/helm/ca-trust-webhook", () => {
  let caPem: string;
  beforeAll(async () => {
    caPem = await caCertificatePem("e2e webhook CA");
  });

  it("`helm lint` passes", async () => {
    const result = await helm(["lint", CHART]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
  });

  it.each([
    { mode: "cert-manager", extra: {} },
    { mode: "self-managed", extra: {} },
    { mode: "secret", extra: { hostNetwork: true, webhookPort: 10260, healthPort: 10261 } },
  ])("certificate mode $mode renders objects the apiserver accepts", async ({ mode, extra }) => {
    const rendered = await helmTemplate({
      certificate: {
        mode,
        ...(mode === "secret" ? { secret: { name: "my-tls", caBundle: caPem } } : {}),
      },
      ...extra,
    });
    const deployment = find(rendered, "Deployment") as {
      spec: { template: { spec: { hostNetwork?: boolean; containers: { args: string[] }[] } } };
    };
    const args = deployment.spec.template.spec.containers[0]?.args ?? [];
    expect(args.includes("--certificate-mode=self-managed")).toBe(mode === "self-managed");
    expect(args.includes("--tls-cert-file=/tls/tls.crt")).toBe(mode !== "self-managed");
    expect(deployment.spec.template.spec.hostNetwork === true).toBe(mode === "secret");
    const webhooks = find(rendered, "ValidatingWebhookConfiguration") as {
      metadata: { annotations?: Record<string, string> };
      webhooks: { clientConfig: { caBundle?: string } }[];
    };
    expect(webhooks.metadata.annotations?.["cert-manager.io/inject-ca-from"] !== undefined).toBe(
      mode === "cert-manager",
    );
    expect(webhooks.webhooks[0]?.clientConfig.caBundle !== undefined).toBe(mode === "secret");
    const applied = await serverDryRun(
      toYaml(...rendered.filter((o) => o.apiVersion !== "cert-manager.io/v1")),
    );
    expect(applied.stderr).toBe("");
    expect(applied.code).toBe(0);
  });

  it("self-managed mode renders the policy `ca-trust-webhook manifests --only self-managed` prints for its names; the other modes none", async () => {
    const rendered = await helmTemplate({
      certificate: { mode: "self-managed", selfManaged: { secretName: "corp-webhook-certs" } },
    });
    const expected = renderManifests(
      { rules: [], allowedSecretNamespaces: [], trustedSecretNamespaces: [] },
      { only: "self-managed", namespace: NAMESPACE, certificateSecret: "corp-webhook-certs" },
    );
    const policies = rendered.filter(
      (o) => (o.metadata as { name: string }).name === SELF_MANAGED_POLICY_NAME,
    );
    expect(policies.map((o) => o.kind)).toEqual([
      "ValidatingAdmissionPolicy",
      "ValidatingAdmissionPolicyBinding",
    ]);
    for (const kind of ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]) {
      expect(find(policies, kind).spec, kind).toEqual(find(expected, kind).spec);
    }
    // The RBAC grants the name the policy allows.
    const role = rendered.find(
      (o) => o.kind === "Role" && (o.metadata as { name: string }).name.endsWith("-certificates"),
    ) as unknown as { rules: { resourceNames?: string[] }[] };
    expect(role.rules.flatMap((r) => r.resourceNames ?? [])).toEqual(["corp-webhook-certs"]);
    for (const mode of ["cert-manager", "secret"]) {
      const other = await helmTemplate({
        certificate: {
          mode,
          ...(mode === "secret" ? { secret: { name: "my-tls", caBundle: caPem } } : {}),
        },
      });
      expect(
        other.filter((o) => (o.metadata as { name: string }).name === SELF_MANAGED_POLICY_NAME),
      ).toEqual([]);
    }
  });

  it("renders a config file the server loads, with the chart's injection settings", async () => {
    const rendered = await helmTemplate({
      certificate: { mode: "self-managed" },
      injection: { image: "registry.example.com/alpine:3.21", configMap: "corp-ca", runAsUser: -1 },
      ...USER_VALUES,
      config: { logLevel: "debug", missingSecret: "deny" },
    });
    const configMap = find(rendered, "ConfigMap") as { data: { "config.yaml": string } };
    const dir = mkdtempSync(join(tmpdir(), "ca-trust-e2e-config-"));
    try {
      const file = join(dir, "config.yaml");
      writeFileSync(file, configMap.data["config.yaml"]);
      const config = loadServeConfig(
        ["--config", file, "--tls-cert-file", "unused", "--tls-key-file", "unused"],
        {},
      );
      const { decision, serving } = config;
      expect(decision.injection.initContainer.image).toBe("registry.example.com/alpine:3.21");
      expect(decision.injection.initContainer.runAsUser).toBeNull();
      expect(decision.injection.customCa.configMapName).toBe("corp-ca");
      expect(decision.rules.map((r) => r.name)).toEqual(USER_RULES.map((r) => r.name));
      expect(serving.logLevel).toBe("debug");
      expect(decision.missingSecret).toBe("deny");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // The RBAC follows the CA ConfigMap's name.
    const role = rendered.find(
      (o) =>
        o.kind === "ClusterRole" && (o.metadata as { name: string }).name === "ca-trust-webhook",
    ) as unknown as { rules: { resourceNames?: string[] }[] };
    expect(role.rules.flatMap((r) => r.resourceNames ?? [])).toEqual(["corp-ca"]);
  });

  it("secretNamespaces, mtls and networkPolicy.webhookFrom render narrow grants, the client CA and a narrowed ingress; the apiserver accepts them", async () => {
    const namespaces = ["platform-cas", "shared-cas"];
    for (const name of namespaces) {
      await cp.kubectl(["create", "namespace", name], { allowFail: true });
    }
    const rendered = await helmTemplate({
      certificate: { mode: "self-managed" },
      secretNamespaces: namespaces,
      mtls: { enabled: true, commonNames: ["kube-apiserver", "kube-apiserver-2"] },
      networkPolicy: { webhookFrom: [{ ipBlock: { cidr: "10.0.0.0/28" } }] },
    });
    const clusterRole = rendered.find(
      (o) => o.kind === "ClusterRole" && (o.metadata as { name: string }).name === NAME,
    ) as unknown as Rules;
    expect(clusterRole.rules.filter((r) => r.resources.includes("secrets"))).toEqual([]);
    expect(clusterRole.rules).toContainEqual({
      apiGroups: ["authorization.k8s.io"],
      resources: ["subjectaccessreviews"],
      verbs: ["create"],
    });
    const readers = rendered.filter(
      (o) => o.kind === "Role" && (o.metadata as { name: string }).name === `${NAME}-secret-reader`,
    );
    expect(readers.map((o) => (o.metadata as { namespace: string }).namespace)).toEqual(namespaces);
    expect(
      rendered.filter(
        (o) =>
          o.kind === "RoleBinding" &&
          (o.metadata as { name: string }).name === `${NAME}-secret-reader`,
      ),
    ).toHaveLength(2);
    const pod = (find(rendered, "Deployment") as { spec: { template: { spec: PodSpec } } }).spec
      .template.spec;
    expect(pod.containers[0]?.args).toEqual(
      expect.arrayContaining([
        "--client-ca-file=/client-ca/ca.crt",
        "--client-cn=kube-apiserver,kube-apiserver-2",
      ]),
    );
    expect(pod.volumes).toContainEqual({
      name: "client-ca",
      secret: {
        secretName: "ca-trust-webhook-client-ca",
        items: [{ key: "ca.crt", path: "ca.crt" }],
      },
    });
    const policy = find(rendered, "NetworkPolicy") as {
      spec: { ingress: { from?: object[]; ports: { port: number }[] }[] };
    };
    expect(policy.spec.ingress[0]).toEqual({
      ports: [{ port: 9443, protocol: "TCP" }],
      from: [{ ipBlock: { cidr: "10.0.0.0/28" } }],
    });
    expect(policy.spec.ingress[1]?.from).toBeUndefined();
    // The server gets the same list as --secret-namespaces (through its config file).
    const configMap = find(rendered, "ConfigMap") as { data: { "config.yaml": string } };
    const dir = mkdtempSync(join(tmpdir(), "ca-trust-e2e-config-"));
    try {
      const file = join(dir, "config.yaml");
      writeFileSync(file, configMap.data["config.yaml"]);
      const config = loadServeConfig(
        ["--config", file, "--namespace", NAMESPACE, "--certificate-mode", "self-managed"],
        {},
      );
      expect(config.decision.secretNamespaces).toEqual(namespaces);
      expect(config.decision.authorizeReferences).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const applied = await serverDryRun(toYaml(...rendered));
    expect(applied.stderr).toBe("");
    expect(applied.code).toBe(0);
  });

  it("by default the chart grants Secret get cluster-wide, no client CA and an open webhook port", async () => {
    const rendered = await helmTemplate({ certificate: { mode: "self-managed" } });
    const clusterRole = rendered.find(
      (o) => o.kind === "ClusterRole" && (o.metadata as { name: string }).name === NAME,
    ) as unknown as Rules;
    expect(clusterRole.rules).toContainEqual({
      apiGroups: [""],
      resources: ["secrets"],
      verbs: ["get"],
    });
    expect(
      rendered.filter((o) => o.kind === "Role").map((o) => (o.metadata as { name: string }).name),
    ).not.toContain(`${NAME}-secret-reader`);
    const args = (find(rendered, "Deployment") as { spec: { template: { spec: PodSpec } } }).spec
      .template.spec.containers[0]?.args;
    expect(args?.some((a) => a.startsWith("--client-"))).toBe(false);
    const policy = find(rendered, "NetworkPolicy") as { spec: { ingress: { from?: object[] }[] } };
    expect(policy.spec.ingress[0]?.from).toBeUndefined();
  });

  it("trustManager.bundle renders the kustomize component's Bundle, named after injection.configMap", async () => {
    const [withDefaults, renamed] = await Promise.all([
      helmTemplate({ trustManager: { bundle: { enabled: true } } }),
      helmTemplate({
        trustManager: { bundle: { enabled: true, sources: [{ inLine: caPem }] } },
        injection: { configMap: "corp-ca", configMapKey: "ca.pem" },
      }),
    ]);
    const component = objects(
      await kustomizeDeploy(cp, ["."], ["components/trust-manager-bundle"]),
    ).find((o) => o.kind === "Bundle") as unknown as { spec: unknown };
    expect((find(withDefaults, "Bundle") as unknown as { spec: unknown }).spec).toEqual(
      component.spec,
    );
    expect(find(renamed, "Bundle")).toMatchObject({
      metadata: { name: "corp-ca" },
      spec: { sources: [{ inLine: caPem }], target: { configMap: { key: "ca.pem" } } },
    });
    expect((await helmTemplate({})).some((o) => o.kind === "Bundle")).toBe(false);
  });

  it.each([
    {
      source: { name: "corp-roots" },
      selection: { name: "corp-roots" },
      rule: { resourceNames: ["corp-roots"] },
    },
    {
      source: { signerName: "example.com/corp-roots", labelSelector: "audience=internal" },
      selection: {
        signerName: "example.com/corp-roots",
        labelSelector: { matchLabels: { audience: "internal" } },
      },
      rule: {},
    },
  ])(
    "injection.source clustertrustbundle $source: the server loads it, RBAC grants exactly that",
    async ({ source, selection, rule }) => {
      const rendered = await helmTemplate({
        certificate: { mode: "self-managed" },
        injection: { source: "clustertrustbundle", clusterTrustBundle: source },
      });
      const configMap = find(rendered, "ConfigMap") as { data: { "config.yaml": string } };
      const dir = mkdtempSync(join(tmpdir(), "ca-trust-e2e-config-"));
      try {
        const file = join(dir, "config.yaml");
        writeFileSync(file, configMap.data["config.yaml"]);
        const config = loadServeConfig(
          ["--config", file, "--tls-cert-file", "unused", "--tls-key-file", "unused"],
          {},
        );
        expect(config.decision.injection.caSource).toEqual({
          kind: "clustertrustbundle",
          selection,
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      const clusterRole = rendered.find(
        (o) => o.kind === "ClusterRole" && (o.metadata as { name: string }).name === NAME,
      ) as unknown as { rules: Record<string, unknown>[] };
      expect(clusterRole.rules).toContainEqual({
        apiGroups: ["certificates.k8s.io"],
        resources: ["clustertrustbundles"],
        ...rule,
        verbs: ["get", "list", "watch"],
      });
      const applied = await serverDryRun(toYaml(...rendered));
      expect(applied.stderr).toBe("");
      expect(applied.code).toBe(0);
    },
  );

  it("values.schema.json refuses a misspelt key in a rule, naming its path and the key meant", async () => {
    const typo = structuredClone(USER_RULES) as { references?: Record<string, unknown>[] }[];
    const reference = typo[0]?.references?.[0] as Record<string, unknown>;
    reference.namespaceFeild = reference.namespaceField;
    delete reference.namespaceField;
    const result = await renderChart(cp, {
      release: NAME,
      namespace: NAMESPACE,
      values: { ...USER_VALUES, rules: typo },
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      "at '/rules/0/references/0/namespaceFeild': value must be 'unknown key (did you mean namespaceField?)'",
    );
  });

  it.each([
    {
      what: "rules without their registration",
      values: { rules: USER_RULES },
      message:
        "rules: no registration for these rules; write rules and registration with `ca-trust-webhook manifests --config FILE --helm-values`",
    },
    {
      what: "a registration derived for other rules (rules edited afterwards)",
      values: { ...USER_VALUES, rules: parseRules(USER_RULES).slice(1) },
      message: "registration: derived for other rules than values.rules",
    },
    {
      what: "a registration derived with other built-in rules (another version's)",
      values: {
        ...USER_VALUES,
        registration: {
          ...(USER_VALUES.registration as object),
          builtinRules: `sha256:${"0".repeat(64)}`,
        },
      },
      message: "registration: derived with the built-in rules of another ca-trust-webhook version",
    },
  ])("refuses $what", async ({ values, message }) => {
    const result = await renderChart(cp, { release: NAME, namespace: NAMESPACE, values });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(message);
  });

  it("values.schema.json refuses an unknown certificate mode", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ca-trust-e2e-values-"));
    try {
      writeFileSync(join(dir, "v.yaml"), toYaml({ certificate: { mode: "vault" } }));
      const result = await helm(["template", "x", CHART, "-f", join(dir, "v.yaml")]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain("/certificate/mode");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("image layout (SLOW: two npm ci runs, about 1.5 minutes)", () => {
  it("scripts/image-layout.sh assembles the Dockerfile's runtime file set on Node.js 24 and starts it as uid 65532", async () => {
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>(
      (resolve, reject) => {
        const child = spawn("bash", [join(REPO_ROOT, "scripts", "image-layout.sh")], {
          stdio: ["ignore", "pipe", "pipe"],
        });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on("data", (c: Buffer) => out.push(c));
        child.stderr.on("data", (c: Buffer) => err.push(c));
        child.once("error", reject);
        child.once("close", (code) =>
          resolve({
            code: code ?? 1,
            stdout: Buffer.concat(out).toString("utf8"),
            stderr: Buffer.concat(err).toString("utf8"),
          }),
        );
      },
    );
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    // The Dockerfile's images carry Node.js 24; the file set is built and started on it.
    expect(result.stdout).toMatch(
      /^image layout OK: .* started as uid 65532 on Node\.js v24\.\d+\.\d+$/m,
    );
    expect(result.stderr).toMatch(/build stage runs on Node\.js v24\./);
    expect(result.stderr).toContain("GET /healthz: 200");
    expect(result.stderr).toContain("SIGTERM: exit 0");
  }, 400_000);
});
