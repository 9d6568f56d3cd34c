import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliResult, runCli as cli } from "../../scripts/harness/cli.js";
import {
  exampleConfig,
  exampleFiles,
  exampleObjects,
  examplePath,
} from "../../scripts/harness/examples.js";
import { type Manifest, restrictedPod, toYaml } from "../../scripts/harness/manifests.js";
import {
  createTestNamespace,
  INJECT_ENABLED,
  RESTRICTED,
  uniqueName,
} from "../../scripts/harness/namespaces.js";
import { EXAMPLES_DIR } from "../../scripts/harness/paths.js";
import { caCertificatePem } from "../../scripts/harness/pki.js";
import { pollUntil } from "../../scripts/harness/poll.js";
import { applyVerdict } from "../../scripts/harness/verdicts.js";
import {
  metricSum,
  registerWebhooks,
  removeHarnessWebhooks,
  startWebhook,
  type WebhookRegistration,
  type WebhookServer,
  waitForWebhookCalled,
} from "../../scripts/harness/webhook.js";
import type { InjectReport } from "../../src/cli/inject.js";
import type { ObjectVerdict } from "../../src/cli/output.js";
import type { ScanReport } from "../../src/cli/scan.js";
import { forbiddenMessage } from "../../src/podsecurity/index.js";
import { useControlPlane } from "./harness/context.js";

const cp = useControlPlane();

const caConfigMap = (namespace: string, pem: string): Manifest => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: "ca-trust-bundle", namespace },
  data: { "ca-bundle.crt": pem },
});

/**
 * The namespaces examples/ uses: those it creates (examples/namespaces.yaml,
 * injection/namespace.yaml) and those its objects live in (`default`, for OpenChoreo's guide).
 */
const EXAMPLE_NAMESPACES = [
  ...new Set(
    exampleFiles().flatMap((file) =>
      exampleObjects(file).flatMap((o) => {
        const metadata = o.metadata as { name: string; namespace?: string };
        if (o.kind === "Namespace") return [metadata.name];
        return metadata.namespace === undefined ? [] : [metadata.namespace];
      }),
    ),
  ),
].sort();

/** A verdict reduced to what both sides can say: decided how, with how many warnings. */
type Outcome = { verdict: "allowed" | "denied" | "refused by the API"; warnings: number };

describe("check on examples/ and the webhook behind kubectl", () => {
  let server: WebhookServer;
  let registration: WebhookRegistration;

  beforeAll(async () => {
    for (const file of ["namespaces.yaml", "injection/namespace.yaml"]) {
      await cp.kubectl(["apply", "-f", examplePath(file)]);
    }
    server = await startWebhook(cp);
    registration = await registerWebhooks(cp, {
      url: server.url,
      caBundle: server.caPem,
      namespaceSelector: {
        matchExpressions: [
          { key: "kubernetes.io/metadata.name", operator: "In", values: EXAMPLE_NAMESPACES },
        ],
      },
    });
    // The cluster the verdicts are about: every unlabelled Secret and every ConfigMap of the
    // examples exists for real (what `check` reads from the same input), the flag included.
    for (const file of exampleFiles()) {
      for (const object of exampleObjects(file)) {
        const labels = (object.metadata as { labels?: Record<string, string> }).labels ?? {};
        const context =
          object.kind === "ConfigMap" ||
          (object.kind === "Secret" && labels["connectors.cpaas.io/ca-cert"] === undefined);
        if (context) await cp.kubectl(["apply", "-f", "-"], { input: toYaml(object) });
      }
    }
    await pollUntil(
      async () =>
        metricSum(await server.metrics(), "ca_trust_webhook_cache_objects", {
          cache: "flag-configmap",
        }) === 1
          ? true
          : undefined,
      { what: "the webhook's flag ConfigMap cache", timeoutMs: 30_000 },
    );
    await waitForWebhookCalled(cp, server, { namespace: "my-namespace", registration });
    await waitForWebhookCalled(cp, server, {
      namespace: "app-team",
      via: "mutating",
      registration,
    });
  });

  afterAll(async () => {
    await registration?.unregister();
    await server?.stop();
  });

  /** Each object's verdict from `check` and from kubectl through the registered webhook. */
  async function bothVerdicts(verdicts: readonly ObjectVerdict[]) {
    const fromCheck: Record<string, Outcome> = {};
    const fromKubectl: Record<string, Outcome> = {};
    for (const v of verdicts) {
      const key = `${v.kind} ${v.namespace ?? ""}/${v.name}`;
      fromCheck[key] = { verdict: v.decision, warnings: v.warnings.length };
      const object = exampleObjects(v.file?.slice(EXAMPLES_DIR.length + 1) ?? "").find(
        (o) => o.kind === v.kind && (o.metadata as { name: string }).name === v.name,
      );
      expect(object, key).toBeDefined();
      // `create` is what `apply` sends for an object that does not exist, and stays a CREATE
      // (never an UPDATE) even if another test stored the object; the webhook decides before
      // storage, so an AlreadyExists answer means it allowed the object.
      const answer = applyVerdict(
        await cp.kubectl(["create", "--dry-run=server", "--validate=strict", "-f", "-"], {
          input: toYaml(object as Manifest),
          allowFail: true,
        }),
      );
      const denied = answer.errors.some((e) => e.deniedBy !== undefined);
      const refused = answer.errors.some(
        (e) => e.deniedBy === undefined && e.reason !== "AlreadyExists",
      );
      fromKubectl[key] = {
        verdict: denied ? "denied" : refused ? "refused by the API" : "allowed",
        warnings: answer.warnings.length,
      };
    }
    return { fromCheck, fromKubectl };
  }

  it("gives every object the verdict the webhook gives kubectl", { timeout: 600_000 }, async () => {
    const result = await cli(["check", "-f", EXAMPLES_DIR, "-o", "json"]);
    expect(result.code).toBe(1);
    const verdicts = JSON.parse(result.stdout) as ObjectVerdict[];
    expect(verdicts.length).toBeGreaterThan(20);
    const { fromCheck, fromKubectl } = await bothVerdicts(verdicts);

    // The one example the apiserver refuses before admission (strict field validation of the
    // CRD: `caCertSecretRef.namespace` does not exist); `check` knows no CRD schemas and
    // decides the field as the webhook would if it existed.
    const refusedByApi = "Connector my-namespace/cross-namespace-ca";
    expect(fromKubectl[refusedByApi]).toEqual({ verdict: "refused by the API", warnings: 0 });
    expect(fromCheck[refusedByApi]?.verdict).toBe("denied");
    delete fromKubectl[refusedByApi];
    delete fromCheck[refusedByApi];
    expect(fromCheck).toEqual(fromKubectl);
  });

  it.each(exampleFiles().filter((file) => exampleConfig(file).length > 0))(
    "%s: with its # Config: options, check and a webhook started with them agree",
    async (file) => {
      const options = exampleConfig(file);
      const configured = await startWebhook(cp, { extraArgs: options });
      let result: CliResult;
      let both: Awaited<ReturnType<typeof bothVerdicts>>;
      try {
        await registerWebhooks(cp, {
          url: configured.url,
          caBundle: configured.caPem,
          mutating: false,
        });
        result = await cli(["check", ...options, "-f", examplePath(file), "-o", "json"]);
        both = await bothVerdicts(JSON.parse(result.stdout) as ObjectVerdict[]);
      } finally {
        await configured.stop();
        // This suite's own registration again (the harness keeps one at a time).
        registration = await registerWebhooks(cp, {
          url: server.url,
          caBundle: server.caPem,
          namespaceSelector: {
            matchExpressions: [
              { key: "kubernetes.io/metadata.name", operator: "In", values: EXAMPLE_NAMESPACES },
            ],
          },
        });
      }
      const withoutOptions = await cli(["check", "-f", examplePath(file), "-o", "json"]);

      expect(result.code).toBe(0);
      expect(Object.keys(both.fromCheck).length).toBeGreaterThan(0);
      expect(both.fromCheck).toEqual(both.fromKubectl);
      // The options are what makes the difference.
      expect(withoutOptions.code).toBe(1);
    },
  );
});

describe("inject and the apiserver's PodSecurity admission", () => {
  let namespace: string;
  let pem: string;

  const workload = (name: string, podSecurity: Record<string, unknown> = {}): Manifest => {
    const pod = restrictedPod(name, namespace) as {
      metadata: Record<string, unknown>;
      spec: { securityContext: Record<string, unknown> };
    };
    return {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace },
      spec: {
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { ...pod.spec, securityContext: { ...pod.spec.securityContext, ...podSecurity } },
        },
      },
    };
  };

  beforeAll(async () => {
    await removeHarnessWebhooks(cp);
    namespace = await createTestNamespace(cp, {
      prefix: "cli-inject",
      labels: {
        ...RESTRICTED,
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "latest",
      },
    });
    pem = await caCertificatePem("e2e inject CA");
  });

  it("injects compliant workloads into manifests the apiserver admits under restricted", async () => {
    const input = toYaml(
      caConfigMap(namespace, pem),
      workload("web"),
      restrictedPod(uniqueName("pod"), namespace),
    );

    const injected = await cli(["inject", "-f", "-"], input);
    expect(injected.code).toBe(0);
    const applied = await cp.kubectl(["apply", "--dry-run=server", "-o", "json", "-f", "-"], {
      input: injected.stdout,
      allowFail: true,
    });

    expect(applied.stderr).toBe("");
    expect(applied.code).toBe(0);
    const stored = JSON.parse(applied.stdout) as { items: Manifest[] };
    const pod = stored.items.find((o) => o.kind === "Pod") as {
      spec: { initContainers: { name: string }[] };
    };
    expect(pod.spec.initContainers.map((c) => c.name)).toEqual(["install-ca-cert"]);
  });

  it("reports a template running as root as the apiserver does, and exits 1", async () => {
    const input = toYaml(caConfigMap(namespace, pem), workload("root", { runAsUser: 0 }));

    const injected = await cli(["inject", "-f", "-", "-o", "json"], input);
    expect(injected.code).toBe(1);
    const [report] = JSON.parse(injected.stdout) as InjectReport[];
    expect(report?.podSecurity.verdict).toBe("fails-already");
    const yamlOut = await cli(["inject", "-f", "-"], input);
    const applied = await cp.kubectl(["apply", "--dry-run=server", "-f", "-"], {
      input: yamlOut.stdout,
    });

    // PodSecurity only warns for workloads (it enforces on Pods): its warning is our verdict.
    const warnings = applyVerdict(applied).warnings;
    expect(warnings).toEqual([
      `would ${forbiddenMessage((report as InjectReport).podSecurity.after).replace(/^violates/, "violate")}`,
    ]);
  });

  it("refuses the same template as a Pod, with the message our evaluator writes", async () => {
    const name = uniqueName("root-pod");
    const pod = restrictedPod(name, namespace) as {
      spec: { securityContext: Record<string, unknown> };
    };
    pod.spec.securityContext.runAsUser = 0;
    const input = toYaml(caConfigMap(namespace, pem), pod as unknown as Manifest);

    const injected = await cli(["inject", "-f", "-", "-o", "json"], input);
    const [report] = JSON.parse(injected.stdout) as InjectReport[];
    const yamlOut = await cli(["inject", "-f", "-"], input);
    const applied = await cp.kubectl(["apply", "--dry-run=server", "-f", "-"], {
      input: yamlOut.stdout,
      allowFail: true,
    });

    expect(applied.code).toBe(1);
    expect(applied.stderr).toContain(forbiddenMessage((report as InjectReport).podSecurity.after));
  });
});

describe("scan of a cluster with objects and Pods the webhook never saw", () => {
  let namespace: string;
  let clean: string;
  let bundleBefore: string;
  const deployment = "web";
  const replicaSet = "web-6f7d9c";

  const scan = async (args: string[]) => {
    const result = await cli(["scan", "--kubeconfig", cp.kubeconfigPath, "-o", "json", ...args]);
    return { ...result, report: JSON.parse(result.stdout || "null") as ScanReport };
  };

  beforeAll(async () => {
    await removeHarnessWebhooks(cp);
    namespace = await createTestNamespace(cp, { prefix: "cli-scan", labels: INJECT_ENABLED });
    clean = await createTestNamespace(cp, { prefix: "cli-clean" });
    bundleBefore = await caCertificatePem("e2e CA before rotation");
    const bad = exampleObjects("openchoreo/invalid-dataplane-value-and-ref.yaml")[0] as Manifest;
    // Without a registered webhook nothing stops these.
    await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml(
        { ...bad, metadata: { name: "ambiguous", namespace } },
        caConfigMap(namespace, bundleBefore),
        restrictedPod("missed", namespace),
      ),
    });

    // Injected Pods: a bare one, and one owned by a ReplicaSet of a Deployment (no
    // kube-controller-manager here: the owners are created by hand, as a controller would).
    const server = await startWebhook(cp);
    const registration = await registerWebhooks(cp, {
      url: server.url,
      caBundle: server.caPem,
      validating: false,
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
    });
    try {
      await waitForWebhookCalled(cp, server, { namespace, via: "mutating", registration });
      const template = {
        metadata: { labels: { app: deployment } },
        spec: restrictedPod("x", namespace).spec,
      };
      await cp.kubectl(["apply", "-f", "-"], {
        input: toYaml({
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: deployment, namespace },
          spec: { selector: { matchLabels: { app: deployment } }, template },
        }),
      });
      const uid = async (kind: string, name: string) =>
        (await cp.kubectl(["get", kind, name, "-n", namespace, "-o", "jsonpath={.metadata.uid}"]))
          .stdout;
      const ownedBy = (apiVersion: string, kind: string, name: string, id: string) => ({
        ownerReferences: [{ apiVersion, kind, name, uid: id, controller: true }],
      });
      await cp.kubectl(["apply", "-f", "-"], {
        input: toYaml({
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          metadata: {
            name: replicaSet,
            namespace,
            ...ownedBy("apps/v1", "Deployment", deployment, await uid("deployment", deployment)),
          },
          spec: { selector: { matchLabels: { app: deployment } }, template },
        }),
      });
      const rsUid = await uid("replicaset", replicaSet);
      const owned = restrictedPod(`${replicaSet}-a1b2c`, namespace, { app: deployment }) as {
        metadata: Record<string, unknown>;
      };
      Object.assign(owned.metadata, ownedBy("apps/v1", "ReplicaSet", replicaSet, rsUid));
      await cp.kubectl(["create", "-f", "-"], {
        input: toYaml(owned as Manifest, restrictedPod("bare-injected", namespace)),
      });
    } finally {
      await registration.unregister();
      await server.stop();
    }
    // The CA rotates: every injected Pod now trusts an older bundle.
    await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml(caConfigMap(namespace, await caCertificatePem("e2e CA after rotation"))),
    });
  });

  it("finds the DataPlane, the missed Pod and the Pods with the older bundle", async () => {
    const { code, report, stderr } = await scan(["-n", namespace]);

    expect(stderr).toBe("");
    expect(code).toBe(1);
    expect(report.objects.map((o) => [o.kind, o.name, o.decision])).toEqual([
      ["DataPlane", "ambiguous", "denied"],
    ]);
    expect(report.notInjected.map((g) => [g.owner.kind, g.owner.name, g.pods])).toEqual([
      ["Pod", "missed", ["missed"]],
    ]);
    expect(report.staleBundle.map((g) => [g.owner.kind, g.owner.name, g.pods, g.command])).toEqual([
      [
        "Pod",
        "bare-injected",
        ["bare-injected"],
        `kubectl delete pod bare-injected -n ${namespace}`,
      ],
      [
        "Deployment",
        deployment,
        [`${replicaSet}-a1b2c`],
        `kubectl rollout restart deployment/${deployment} -n ${namespace}`,
      ],
    ]);
    for (const group of report.staleBundle) {
      expect(group.current).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(group.injected).toHaveLength(1);
      expect(group.injected).not.toContain(group.current);
    }
  });

  it("finds the same across all namespaces, page by page, with progress on stderr", async () => {
    const { code, report, stderr } = await scan(["--limit", "2", "--progress-every", "3"]);

    expect(code).toBe(1);
    expect(report.errors).toEqual([]);
    expect(stderr).toMatch(/^scan: 3 objects read/m);
    const ours = (g: { owner: { namespace: string } }) => g.owner.namespace === namespace;
    expect(report.objects.filter((o) => o.namespace === namespace).map((o) => o.name)).toEqual([
      "ambiguous",
    ]);
    expect(report.notInjected.filter(ours)).toHaveLength(1);
    expect(report.staleBundle.filter(ours)).toHaveLength(2);
  });

  it("exits 0 for a namespace with nothing to find", async () => {
    await cp.kubectl(["apply", "-f", "-"], { input: toYaml(restrictedPod("plain", clean)) });

    const { code, report } = await scan(["-n", clean]);

    expect(code).toBe(0);
    expect(report.scanned.pods).toBe(1);
  });

  it("reads with --cluster what the input lacks: a Secret for check, the CA for inject", async () => {
    const pem = await caCertificatePem("e2e agent CA");
    await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "agent-ca", namespace },
        stringData: { "ca.crt": pem },
      }),
    });
    const plane = (name: string, key: string): Manifest => ({
      apiVersion: "openchoreo.dev/v1alpha1",
      kind: "DataPlane",
      metadata: { name, namespace },
      spec: { clusterAgent: { clientCA: { secretKeyRef: { name: "agent-ca", key } } } },
    });
    const kube = ["--cluster", "--kubeconfig", cp.kubeconfigPath];
    const checkArgs = ["check", "-f", "-", "-o", "json"];

    const offline = await cli(checkArgs, toYaml(plane("ok", "ca.crt")));
    const online = await cli(
      [...checkArgs, ...kube],
      toYaml(plane("ok", "ca.crt"), plane("typo", "tls.crt")),
    );
    const injected = await cli(
      ["inject", "-f", "-", "-o", "json", "--assume-opted-in=false", ...kube],
      toYaml(restrictedPod("from-cluster", namespace)),
    );

    const outcome = (r: CliResult) =>
      (JSON.parse(r.stdout) as ObjectVerdict[]).map((v) => [v.name, v.decision, v.warnings.length]);
    expect(outcome(offline)).toEqual([["ok", "allowed", 1]]);
    expect(outcome(online)).toEqual([
      ["ok", "allowed", 0],
      ["typo", "denied", 0],
    ]);
    expect(online.code).toBe(1);
    expect((JSON.parse(injected.stdout) as InjectReport[]).map((r) => r.injection)).toEqual([
      "injected",
    ]);
    expect(injected.code).toBe(0);
  });

  it("exits 2 without a cluster to read", async () => {
    const result = await cli(["scan", "--kubeconfig", "/nonexistent/kubeconfig"]);

    expect(result.code).toBe(2);
  });
});
