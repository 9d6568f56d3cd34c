/**
 * The Secret guard behind a real kube-apiserver (issue 16): the guard's webhooks exactly as
 * `ca-trust-webhook manifests` generates them (failurePolicy Ignore, 2 s, the Secret-type
 * matchConditions), pointed at our server and narrowed to the test's namespace, and our
 * server's reference index watching the CRDs the harness installed.
 *
 * - the documented renewal commands (`kubectl create secret generic ... --dry-run=client -o
 *   yaml | kubectl apply -f -`, and the same for the CA ConfigMap) with a truncated
 *   certificate are denied, naming the referencing object and its field path; with a good
 *   certificate they pass; `kubectl delete` passes with the warning;
 * - the index follows objects created after their Secret, deleted, or re-pointed, judged by
 *   the verdict of the next Secret write (server-side dry runs, so nothing is stored);
 * - with our server stopped, Secret writes still succeed and the apiserver counts a fail-open.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connector, type Manifest, toYaml } from "../../scripts/harness/manifests.js";
import { createTestNamespace, uniqueName } from "../../scripts/harness/namespaces.js";
import { caCertificatePem } from "../../scripts/harness/pki.js";
import { pollUntil } from "../../scripts/harness/poll.js";
import {
  apiServerMetrics,
  HARNESS_LABEL,
  metricSum,
  removeHarnessWebhooks,
  startWebhook,
  type WebhookServer,
} from "../../scripts/harness/webhook.js";
import { renderManifests, WEBHOOK_NAMES } from "../../src/manifests.js";
import { useControlPlane } from "./harness/context.js";

const cp = useControlPlane();

const FLAG = { namespace: "connectors-system", name: "connectors-config" } as const;

let ns: string;
let dir: string;
let server: WebhookServer;
let serverStopped = false;
let goodPem: string;
let otherGoodPem: string;
let truncatedPem: string;
/** The guard's webhook names in this registration (apiserver metrics are labelled by them). */
let guardNames: { secrets: string; configMaps: string };
let configurationName: string;

/** A file holding `text`, for `--from-file`. */
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Runs a shell pipeline with the built kubectl as `kubectl` and the admin kubeconfig. */
function shell(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", command], {
      env: {
        ...process.env,
        KUBECONFIG: cp.kubeconfigPath,
        PATH: `${cp.binDir}:${process.env.PATH ?? ""}`,
      },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** OpenChoreo's documented renewal: the Secret rewritten from a file with kubectl apply. */
function renewSecret(name: string, key: string, pemFile: string) {
  return shell(
    `kubectl create secret generic ${name} -n ${ns} --from-file=${key}=${pemFile} --dry-run=client -o yaml | kubectl apply -f -`,
  );
}

function renewConfigMap(name: string, key: string, pemFile: string) {
  return shell(
    `kubectl create configmap ${name} -n ${ns} --from-file=${key}=${pemFile} --dry-run=client -o yaml | kubectl apply -f -`,
  );
}

/** A server-side dry-run UPDATE of Secret `name` with `data` (nothing is stored). */
async function dryRunSecretUpdate(name: string, data: Record<string, string>) {
  return cp.request("PUT", `/api/v1/namespaces/${ns}/secrets/${name}?dryRun=All`, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: ns },
    type: "Opaque",
    stringData: data,
  });
}

/** Polls dry-run updates until Secret `name` with a truncated `key` is `denied` (or not). */
async function untilGuarded(name: string, key: string, denied: boolean): Promise<number> {
  const started = performance.now();
  await pollUntil(
    async () => {
      const answer = await dryRunSecretUpdate(name, { [key]: truncatedPem });
      return (answer.status !== 200) === denied ? true : undefined;
    },
    {
      what: `a truncated ${key} in Secret ${ns}/${name} to be ${denied ? "denied" : "allowed"}`,
      timeoutMs: 10_000,
      intervalMs: 50,
    },
  );
  return Math.round(performance.now() - started);
}

function dataPlane(name: string, secret: string): Manifest {
  return {
    apiVersion: "openchoreo.dev/v1alpha1",
    kind: "DataPlane",
    metadata: { name, namespace: ns },
    spec: {
      planeID: name,
      clusterAgent: { clientCA: { secretKeyRef: { name: secret, key: "ca.crt" } } },
    },
  };
}

function rootShard(name: string, secret: string): Manifest {
  return {
    apiVersion: "operator.kcp.io/v1alpha1",
    kind: "RootShard",
    metadata: { name, namespace: ns },
    spec: {
      external: { hostname: "example.operator.kcp.io", port: 6443 },
      certificates: { issuerRef: { group: "cert-manager.io", kind: "Issuer", name: "selfsigned" } },
      cache: { embedded: { enabled: true } },
      etcd: { endpoints: ["http://etcd.default.svc.cluster.local:2379"] },
      caBundleSecretRef: { name: secret },
    },
  };
}

/**
 * The generated ValidatingWebhookConfiguration for our server's URL, each webhook renamed
 * uniquely and narrowed to the test namespace (added to its own selector, so the CA ConfigMap
 * guard still needs the injection label).
 */
function registration(url: string, caBundle: string): Manifest {
  const [validating] = renderManifests(
    { rules: [], allowedSecretNamespaces: [], trustedSecretNamespaces: [] },
    { only: "webhooks", url, caBundle },
  );
  const webhooks = ((validating?.webhooks ?? []) as Record<string, unknown>[]).map((w) => {
    const selector = w.namespaceSelector as { matchLabels?: Record<string, string> };
    return {
      ...w,
      name: `${configurationName}.${w.name as string}`,
      namespaceSelector: {
        ...selector,
        matchLabels: { ...selector.matchLabels, "kubernetes.io/metadata.name": ns },
      },
    };
  });
  return {
    ...validating,
    metadata: { name: configurationName, labels: { [HARNESS_LABEL]: "true" } },
    webhooks,
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ca-trust-e2e-guard-"));
  goodPem = await caCertificatePem("guard e2e CA");
  otherGoodPem = await caCertificatePem("guard e2e renewed CA");
  // A certificate cut off mid-body: what a bad copy-paste or a truncated file gives.
  truncatedPem = `${goodPem.slice(0, Math.floor(goodPem.length / 2))}\n`;
  ns = await createTestNamespace(cp, {
    prefix: "guard",
    labels: { "ca-trust.dev/inject": "enabled" },
  });
  await cp.kubectl(["create", "namespace", FLAG.namespace], { allowFail: true });
  await cp.kubectl(["apply", "-f", "-"], {
    input: toYaml({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: FLAG,
      data: { "enable-custom-ca-certs": "true" },
    }),
  });
  server = await startWebhook(cp);
  configurationName = uniqueName("ca-trust-e2e-guard");
  guardNames = {
    secrets: `${configurationName}.${WEBHOOK_NAMES.referencedSecrets}`,
    configMaps: `${configurationName}.${WEBHOOK_NAMES.caConfigMaps}`,
  };
  await removeHarnessWebhooks(cp);
  await cp.kubectl(["apply", "-f", "-"], {
    input: toYaml(registration(server.url, server.caPem)),
  });
  // Registered and indexing: a referenced probe Secret's broken update is denied.
  await cp.kubectl(["apply", "-f", "-"], {
    input: toYaml(
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "probe-ca", namespace: ns },
        stringData: { "ca.crt": goodPem },
      },
      dataPlane("probe", "probe-ca"),
    ),
  });
  await pollUntil(
    async () =>
      (await dryRunSecretUpdate("probe-ca", { "ca.crt": truncatedPem })).status !== 200
        ? true
        : undefined,
    { what: "the guard to deny a broken probe Secret", timeoutMs: 60_000, intervalMs: 250 },
  );
});

afterAll(async () => {
  await cp.kubectl(["delete", "validatingwebhookconfiguration", configurationName], {
    allowFail: true,
  });
  if (!serverStopped) await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("renewal commands against the guard", () => {
  it.each([
    {
      what: "an OpenChoreo DataPlane's clientCA Secret",
      secret: "agent-ca",
      key: "ca.crt",
      object: () => dataPlane("prod-eu", "agent-ca"),
      named: "DataPlane prod-eu (spec.clusterAgent.clientCA.secretKeyRef)",
    },
    {
      what: "a Connector's caCertSecretRef Secret",
      secret: "tool-ca",
      key: "ca.crt",
      object: () => ({ ...connector("my-tool", ns, "tool-ca") }),
      named: "Connector my-tool (spec.caCertSecretRef)",
    },
    {
      what: "a kcp RootShard's caBundleSecretRef tls.crt",
      secret: "kcp-server-ca",
      key: "tls.crt",
      object: () => rootShard("root", "kcp-server-ca"),
      named: "RootShard root (spec.caBundleSecretRef)",
    },
  ])(
    "$what: truncated is denied naming the object, good is allowed, delete warns",
    async ({ secret, key, object, named }) => {
      const good = file(`${secret}-good.pem`, goodPem);
      const renewed = file(`${secret}-renewed.pem`, otherGoodPem);
      const truncated = file(`${secret}-truncated.pem`, truncatedPem);
      // The Secret exists first (a CREATE: not the guard's), then the object that references it.
      expect((await renewSecret(secret, key, good)).code).toBe(0);
      await cp.kubectl(["apply", "-f", "-"], { input: toYaml(object()) });
      await untilGuarded(secret, key, true);

      const denied = await renewSecret(secret, key, truncated);
      expect(denied.code).not.toBe(0);
      expect(denied.stderr).toContain(
        `admission webhook "${guardNames.secrets}" denied the request`,
      );
      expect(denied.stderr).toContain(`Secret "${secret}" is invalid: data[${key}]: Invalid value`);
      expect(denied.stderr).toContain(`it is the CA of ${named}`);
      const stored = await cp.kubectl(["get", "secret", secret, "-n", ns, "-o", "json"]);
      const storedKey = JSON.parse(stored.stdout).data[key];
      expect(Buffer.from(storedKey, "base64").toString("utf8")).toBe(goodPem);

      const allowed = await renewSecret(secret, key, renewed);
      expect(allowed.stderr).not.toMatch(/denied|Warning/);
      expect(allowed.code).toBe(0);
      expect(allowed.stdout).toContain(`secret/${secret} configured`);

      const deleted = await cp.kubectl(["delete", "secret", secret, "-n", ns]);
      expect(deleted.stderr).toContain(`Warning: ${named} loses its CA`);
      expect(deleted.stdout).toContain(`secret "${secret}" deleted`);
    },
  );

  it("the ca-trust-bundle ConfigMap of an opted-in namespace: truncated is denied, good allowed, delete warns", async () => {
    const key = "ca-bundle.crt";
    const good = file("bundle-good.pem", goodPem);
    const renewed = file("bundle-renewed.pem", `${goodPem}${otherGoodPem}`);
    const truncated = file("bundle-truncated.pem", truncatedPem);
    expect((await renewConfigMap("ca-trust-bundle", key, good)).code).toBe(0);

    const denied = await renewConfigMap("ca-trust-bundle", key, truncated);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain(
      `admission webhook "${guardNames.configMaps}" denied the request: ConfigMap "ca-trust-bundle" is invalid: data[ca-bundle.crt]: Invalid value: not a valid CA bundle`,
    );
    expect(denied.stderr).toContain(
      `it is the injected CA of namespace "${ns}": new Pods there that opt in to CA injection would be denied`,
    );

    const allowed = await renewConfigMap("ca-trust-bundle", key, renewed);
    expect(allowed.stderr).not.toMatch(/denied|Warning/);
    expect(allowed.code).toBe(0);

    const deleted = await cp.kubectl(["delete", "configmap", "ca-trust-bundle", "-n", ns]);
    expect(deleted.stderr).toContain(
      `Warning: new opted-in Pods in "${ns}" would be denied until ConfigMap ca-trust-bundle exists again`,
    );
  });

  it("a Secret nothing references is not judged: a truncated update goes through", async () => {
    expect((await renewSecret("nobodys-ca", "ca.crt", file("n-good.pem", goodPem))).code).toBe(0);
    const updated = await renewSecret("nobodys-ca", "ca.crt", file("n-bad.pem", truncatedPem));
    expect(updated.stderr).not.toMatch(/denied|Warning/);
    expect(updated.code).toBe(0);
  });
});

describe("the index follows the objects (judged by the next Secret write)", () => {
  /** Delays measured from the object write to the first write judged the new way. */
  const delays: Record<string, number> = {};
  afterAll(() => {
    process.stdout.write(`guard e2e: index follow delays (ms): ${JSON.stringify(delays)}\n`);
  });

  it("an object created after its Secret: the Secret becomes guarded", async () => {
    await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "late-ca", namespace: ns },
        stringData: { "ca.crt": goodPem },
      }),
    });
    expect((await dryRunSecretUpdate("late-ca", { "ca.crt": truncatedPem })).status).toBe(200);
    await cp.kubectl(["apply", "-f", "-"], { input: toYaml(dataPlane("late", "late-ca")) });
    delays.created = await untilGuarded("late-ca", "ca.crt", true);
    const answer = await dryRunSecretUpdate("late-ca", { "ca.crt": truncatedPem });
    expect(answer.status).toBe(422);
    expect(answer.body).toContain("DataPlane late (spec.clusterAgent.clientCA.secretKeyRef)");
  });

  it("an object whose reference changes: the new Secret is guarded, the old one no longer", async () => {
    await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml(
        ...["first-ca", "second-ca"].map((name) => ({
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name, namespace: ns },
          stringData: { "ca.crt": goodPem },
        })),
        dataPlane("moving", "first-ca"),
      ),
    });
    await untilGuarded("first-ca", "ca.crt", true);
    await cp.kubectl(["apply", "-f", "-"], { input: toYaml(dataPlane("moving", "second-ca")) });
    delays.changed = await untilGuarded("second-ca", "ca.crt", true);
    await untilGuarded("first-ca", "ca.crt", false);
  });

  it("an object deleted: its Secret is no longer guarded", async () => {
    await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml(
        {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "orphan-ca", namespace: ns },
          stringData: { "ca.crt": goodPem },
        },
        dataPlane("short-lived", "orphan-ca"),
      ),
    });
    await untilGuarded("orphan-ca", "ca.crt", true);
    await cp.kubectl(["delete", "dataplanes.openchoreo.dev", "short-lived", "-n", ns]);
    delays.deleted = await untilGuarded("orphan-ca", "ca.crt", false);
  });
});

describe("with our server stopped", () => {
  it("Secret writes still succeed (failurePolicy Ignore) and the apiserver counts a fail-open", async () => {
    const failOpen = async () =>
      metricSum(await apiServerMetrics(cp), "apiserver_admission_webhook_fail_open_count", {
        name: guardNames.secrets,
      });
    const before = await failOpen();
    await server.stop();
    serverStopped = true;
    // The probe Secret is referenced and its update is broken: with our server up it is denied.
    const updated = await renewSecret("probe-ca", "ca.crt", file("down.pem", truncatedPem));
    expect(updated.stderr).not.toMatch(/denied|failed calling webhook/);
    expect(updated.code).toBe(0);
    const deleted = await cp.kubectl(["delete", "secret", "probe-ca", "-n", ns]);
    expect(deleted.code).toBe(0);
    expect(await failOpen()).toBeGreaterThanOrEqual(before + 2);
  });
});
