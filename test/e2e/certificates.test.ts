/**
 * Self-managed certificates against the real kube-apiserver (issue 6, acceptance 2 and 3).
 *
 * The server is started with only a kubeconfig and `--certificate-mode self-managed`: it
 * creates its Secret, writes the caBundle into webhook configurations that were registered
 * with none, and the apiserver then calls it over TLS it verifies (with `failurePolicy: Fail`,
 * any TLS or caBundle problem is a failed admission). With lifetimes shortened by flags, two
 * replicas then go through a CA rotation while Pods and Connectors are created continuously;
 * every admission must succeed, and the timeline of phases is printed.
 */
import { X509Certificate } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { KubeConfig, Watch } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ChildExit,
  childEnv,
  logTail,
  makeTempDir,
  removeTempDir,
  spawnLogged,
} from "../../scripts/harness/children.js";
import { helmTemplate, serviceAccountKubeconfig } from "../../scripts/harness/helm.js";
import {
  connector,
  type Manifest,
  restrictedPod,
  secret,
  toYaml,
} from "../../scripts/harness/manifests.js";
import {
  createTestNamespace,
  INJECT_ENABLED,
  uniqueName,
} from "../../scripts/harness/namespaces.js";
import { caCertificatePem } from "../../scripts/harness/pki.js";
import { pollUntil } from "../../scripts/harness/poll.js";
import { freePorts } from "../../scripts/harness/ports.js";
import { reportGroup } from "../../scripts/harness/remote.js";
import {
  apiServerMetrics,
  HARNESS_LABEL,
  metricSum,
  type ReviewLogLine,
  reviewLines,
  SERVER_ENTRY,
} from "../../scripts/harness/webhook.js";
import { issueCertificate } from "../../src/pki/issue.js";
import { bundleFingerprints } from "../../src/tls/certificate-set.js";
import { KubeSecretStore, KubeWebhookConfigStore } from "../../src/tls/kube-stores.js";
import { StoreConflictError } from "../../src/tls/stores.js";
import { useControlPlane } from "./harness/context.js";

const cp = useControlPlane();

const SECRET = "ca-trust-webhook-certs";
const SERVICE = "ca-trust-webhook";

const CA_PEM = await caCertificatePem("e2e Private Root CA");

/** One `serve --certificate-mode self-managed` process. */
interface Replica {
  name: string;
  url: string;
  healthUrl: string;
  logs(): string;
  reviews(): ReviewLogLine[];
  ready(): Promise<boolean>;
  stop(): Promise<ChildExit>;
}

/** Starts the built CLI in self-managed mode (no certificate files); waits for /readyz. */
async function startSelfManaged(options: {
  name: string;
  namespace: string;
  configuration: string;
  port: number;
  /** The credentials it runs with: a ServiceAccount's ({@link installServiceAccount}). */
  kubeconfig: string;
  extraArgs?: readonly string[];
}): Promise<Replica> {
  if (!existsSync(SERVER_ENTRY)) throw new Error(`${SERVER_ENTRY}: run \`npm run build\` first`);
  const [healthPort] = await freePorts(1);
  const dir = makeTempDir(`certs-${options.name}`);
  const logPath = join(dir, "webhook.log");
  const env = childEnv();
  for (const key of Object.keys(env)) if (key.startsWith("CA_TRUST_WEBHOOK_")) delete env[key];
  const child = spawnLogged({
    name: `webhook-${options.name}`,
    command: process.execPath,
    args: [
      SERVER_ENTRY,
      "serve",
      "--certificate-mode",
      "self-managed",
      "--namespace",
      options.namespace,
      "--service-name",
      SERVICE,
      "--webhook-configuration",
      options.configuration,
      "--certificate-ip-addresses",
      "127.0.0.1",
      "--certificate-sync-interval",
      "1s",
      "--system-namespace",
      options.namespace,
      "--listen",
      `127.0.0.1:${options.port}`,
      "--health-listen",
      `127.0.0.1:${healthPort}`,
      "--kubeconfig",
      options.kubeconfig,
      ...(options.extraArgs ?? []),
    ],
    logPath,
    env,
  });
  await reportGroup(cp.control, "track", child.pid, "webhook");
  let saved: string | undefined;
  const logs = () => saved ?? (existsSync(logPath) ? readFileSync(logPath, "utf8") : "");
  const healthUrl = `http://127.0.0.1:${healthPort}`;
  const replica: Replica = {
    name: options.name,
    url: `https://127.0.0.1:${options.port}`,
    healthUrl,
    logs,
    reviews: () => reviewLines(logs()),
    ready: async () => (await fetch(`${healthUrl}/readyz`).catch(() => undefined))?.status === 200,
    stop: async () => {
      const exit = await child.stop(10_000);
      saved ??= logs();
      await reportGroup(cp.control, "untrack", child.pid, "webhook");
      removeTempDir(dir);
      return exit;
    },
  };
  try {
    await pollUntil(
      async () => {
        if (child.exit() !== undefined) throw new Error(`exited: ${JSON.stringify(child.exit())}`);
        return (await replica.ready()) ? true : undefined;
      },
      { what: `replica ${options.name} /readyz`, timeoutMs: 60_000, intervalMs: 250 },
    );
  } catch (error) {
    const tail = logTail(logPath, 40);
    const readyz = await fetch(`${healthUrl}/readyz`)
      .then((r) => r.text())
      .catch(() => "");
    await replica.stop();
    throw new Error(`${(error as Error).message}\n/readyz: ${readyz}\n--- log ---\n${tail}`);
  }
  return replica;
}

/**
 * Validating (Connectors) and Mutating (Pods) configurations named `name`, one webhook per
 * replica URL in each (so every admission goes through every replica), with NO caBundle:
 * the server fills it in. Only `namespace` is selected (never the server's own).
 */
function registration(name: string, urls: readonly string[], namespace: string): Manifest[] {
  const common = {
    failurePolicy: "Fail",
    sideEffects: "None",
    admissionReviewVersions: ["v1"],
    timeoutSeconds: 5,
    matchPolicy: "Equivalent",
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
  };
  const metadata = { name, labels: { [HARNESS_LABEL]: "true" } };
  return [
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingWebhookConfiguration",
      metadata,
      webhooks: urls.map((url, i) => ({
        name: `r${i}.validate.${name}.ca-trust.dev`,
        clientConfig: { url: `${url}/validate` },
        rules: [
          {
            apiGroups: ["connectors.alauda.io"],
            apiVersions: ["v1alpha1"],
            resources: ["connectors"],
            operations: ["CREATE", "UPDATE"],
            scope: "Namespaced",
          },
        ],
        ...common,
      })),
    },
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "MutatingWebhookConfiguration",
      metadata,
      webhooks: urls.map((url, i) => ({
        name: `r${i}.mutate.${name}.ca-trust.dev`,
        clientConfig: { url: `${url}/mutate` },
        rules: [
          {
            apiGroups: [""],
            apiVersions: ["v1"],
            resources: ["pods"],
            operations: ["CREATE"],
            scope: "Namespaced",
          },
        ],
        reinvocationPolicy: "IfNeeded",
        ...common,
      })),
    },
  ];
}

async function unregister(name: string): Promise<void> {
  await cp.kubectl(
    [
      "delete",
      "validatingwebhookconfiguration,mutatingwebhookconfiguration",
      name,
      "--ignore-not-found",
    ],
    { allowFail: true },
  );
}

/** Requests the apiserver's ValidatingAdmissionPolicy `policy` denied so far (its metric). */
async function policyDenials(policy: string): Promise<number> {
  return metricSum(
    await apiServerMetrics(cp),
    "apiserver_validating_admission_policy_check_total",
    {
      policy,
    },
  );
}

/** What {@link installServiceAccount} set up. */
interface Installed {
  /** Credentials of the release's ServiceAccount. */
  kubeconfig: string;
  /** The self-managed ValidatingAdmissionPolicy that holds that ServiceAccount. */
  policy: string;
  uninstall(): Promise<void>;
}

/**
 * The shipped chart's ServiceAccount, RBAC and self-managed ValidatingAdmissionPolicy for a
 * release named `configuration` (so the chart's webhook configuration name, which the RBAC and
 * the policy allow, is the test's) in `namespace`; the replicas then run with exactly an
 * install's permissions and under its policy. Waits until the policy is in force.
 */
async function installServiceAccount(namespace: string, configuration: string): Promise<Installed> {
  const rendered = await helmTemplate(cp, {
    release: configuration,
    namespace,
    values: { certificate: { mode: "self-managed" }, systemNamespace: namespace },
  });
  if (rendered.code !== 0) throw new Error(`helm template: ${rendered.stderr}`);
  const policy = `${configuration}-self-managed`;
  const objects = rendered.objects.filter(
    (o) =>
      ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"].includes(
        o.kind,
      ) ||
      (o.kind.startsWith("ValidatingAdmissionPolicy") &&
        (o.metadata as { name?: string } | undefined)?.name === policy),
  );
  const yaml = toYaml(...objects);
  await cp.kubectl(["apply", "--server-side", "-f", "-"], { input: yaml });
  const user = `system:serviceaccount:${namespace}:${configuration}`;
  await pollUntil(
    async () => {
      const probe = await cp.kubectl(
        [
          "create",
          "secret",
          "generic",
          "policy-probe",
          "-n",
          namespace,
          "--dry-run=server",
          `--as=${user}`,
        ],
        { allowFail: true },
      );
      return probe.stderr.includes(policy) ? true : undefined;
    },
    { what: `ValidatingAdmissionPolicy ${policy} in force`, timeoutMs: 30_000 },
  );
  const dir = makeTempDir(`sa-${configuration}`);
  const kubeconfig = await serviceAccountKubeconfig(cp, {
    namespace,
    name: configuration,
    dir,
  });
  // The replicas are that ServiceAccount to the apiserver (a SelfSubjectReview says who).
  const whoami = await cp.kubectl([
    "--kubeconfig",
    kubeconfig,
    "auth",
    "whoami",
    "-o",
    "jsonpath={.status.userInfo.username}",
  ]);
  if (whoami.stdout !== user) throw new Error(`the token authenticates as ${whoami.stdout}`);
  return {
    kubeconfig,
    policy,
    uninstall: async () => {
      await cp.kubectl(["delete", "--ignore-not-found", "-f", "-"], {
        input: yaml,
        allowFail: true,
      });
      removeTempDir(dir);
    },
  };
}

/** The namespace the admissions happen in: opted in, with the CA ConfigMap and CA Secrets. */
async function appNamespace(prefix: string): Promise<string> {
  const ns = await createTestNamespace(cp, { prefix, labels: { ...INJECT_ENABLED } });
  await cp.kubectl(["apply", "-f", "-"], {
    input: toYaml(
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "ca-trust-bundle", namespace: ns },
        data: { "ca-bundle.crt": CA_PEM },
      },
      secret("good-ca", ns, { "ca.crt": CA_PEM }),
      secret("broken-ca", ns, { "ca.crt": "-----BEGIN CERTIFICATE-----\nnot base64!\n" }),
    ),
  });
  return ns;
}

/** The server's namespace, with the Connectors feature flag on (the rule is then enforced). */
async function systemNamespace(prefix: string): Promise<string> {
  const ns = await createTestNamespace(cp, { prefix });
  await cp.kubectl(["apply", "-f", "-"], {
    input: toYaml({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "connectors-config", namespace: ns },
      data: { "enable-custom-ca-certs": "true" },
    }),
  });
  return ns;
}

interface StoredSecretJson {
  type: string;
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  data: Record<string, string>;
}
async function readSecret(namespace: string): Promise<StoredSecretJson> {
  const res = await cp.kubectl(["get", "secret", SECRET, "-n", namespace, "-o", "json"]);
  return JSON.parse(res.stdout) as StoredSecretJson;
}
const decode = (b64: string | undefined) => Buffer.from(b64 ?? "", "base64").toString("utf8");

async function caBundles(name: string): Promise<string[]> {
  const bundles: string[] = [];
  for (const kind of ["validatingwebhookconfiguration", "mutatingwebhookconfiguration"]) {
    const res = await cp.kubectl(["get", kind, name, "-o", "json"]);
    const object = JSON.parse(res.stdout) as {
      webhooks: { clientConfig: { caBundle?: string } }[];
    };
    for (const w of object.webhooks) bundles.push(decode(w.clientConfig.caBundle));
  }
  return bundles;
}

describe("self-managed certificates", () => {
  let sysNs: string;
  let appNs: string;
  let configuration: string;
  let installed: Installed;
  let server: Replica;

  beforeAll(async () => {
    sysNs = await systemNamespace("certs-sys");
    appNs = await appNamespace("certs-app");
    configuration = uniqueName("ca-trust-webhook-self");
    const [port] = await freePorts(1);
    const url = `https://127.0.0.1:${port}`;
    await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml(...registration(configuration, [url], appNs)),
    });
    installed = await installServiceAccount(sysNs, configuration);
    server = await startSelfManaged({
      name: "a",
      namespace: sysNs,
      configuration,
      port: port ?? 0,
      kubeconfig: installed.kubeconfig,
    });
  });

  afterAll(async () => {
    await unregister(configuration);
    await server?.stop();
    await installed?.uninstall();
  });

  it("creates its Secret with a CA and a serving certificate for the Service names and 127.0.0.1", async () => {
    const stored = await readSecret(sysNs);
    expect(stored.type).toBe("Opaque");
    expect(stored.metadata.labels?.["app.kubernetes.io/managed-by"]).toBe("ca-trust-webhook");
    expect(Object.keys(stored.data).sort()).toEqual(["ca.crt", "ca.key", "tls.crt", "tls.key"]);
    const ca = new X509Certificate(decode(stored.data["ca.crt"]));
    const leaf = new X509Certificate(decode(stored.data["tls.crt"]));
    expect(ca.ca).toBe(true);
    expect(leaf.checkIssued(ca) && leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.subjectAltName?.split(", ")).toEqual([
      `DNS:${SERVICE}`,
      `DNS:${SERVICE}.${sysNs}`,
      `DNS:${SERVICE}.${sysNs}.svc`,
      `DNS:${SERVICE}.${sysNs}.svc.cluster.local`,
      "IP Address:127.0.0.1",
    ]);
  });

  it("writes its CA into the caBundle of every webhook of both configurations", async () => {
    const ca = decode((await readSecret(sysNs)).data["ca.crt"]);
    expect(await caBundles(configuration)).toEqual([ca, ca]);
  });

  it("is called by the apiserver over verified TLS: a broken CA reference is denied, a Pod injected", async () => {
    const denied = await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml(connector(uniqueName("conn"), appNs, "broken-ca")),
      allowFail: true,
    });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain(
      `admission webhook "r0.validate.${configuration}.ca-trust.dev" denied the request`,
    );

    const name = uniqueName("pod");
    const created = await cp.request(
      "POST",
      `/api/v1/namespaces/${appNs}/pods`,
      restrictedPod(name, appNs),
    );
    expect(created.status).toBe(201);
    const pod = created.json as { metadata: { annotations?: Record<string, string> } };
    expect(pod.metadata.annotations?.["ca-trust.dev/injected"]).toMatch(/^sha256:/);
    expect(server.reviews().some((r) => r.kind === "Pod" && r.name === name)).toBe(true);
  });

  it("writes its caBundle back within seconds when someone overwrites it", async () => {
    const foreign = (
      await issueCertificate({
        commonName: "someone else's CA",
        isCA: true,
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 3_600_000),
      })
    ).certificatePem;
    const ca = decode((await readSecret(sysNs)).data["ca.crt"]);
    const patch = JSON.stringify([
      {
        op: "replace",
        path: "/webhooks/0/clientConfig/caBundle",
        value: Buffer.from(foreign).toString("base64"),
      },
    ]);
    const t0 = Date.now();
    await cp.kubectl([
      "patch",
      "validatingwebhookconfiguration",
      configuration,
      "--type=json",
      "-p",
      patch,
    ]);
    await pollUntil(async () => ((await caBundles(configuration))[0] === ca ? true : undefined), {
      what: "the caBundle to be written back",
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    const restoredMs = Date.now() - t0;
    process.stdout.write(`[certificates] overwritten caBundle restored after ${restoredMs} ms\n`);
    expect(restoredMs).toBeLessThan(5_000);
    expect(server.logs()).toContain('"reason":"reasserted"');
  });
});

describe("the client-node stores against the apiserver", () => {
  let ns: string;
  let configuration: string;
  let kc: KubeConfig;

  beforeAll(async () => {
    ns = await createTestNamespace(cp, { prefix: "certs-store" });
    configuration = uniqueName("ca-trust-store");
    await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml(
        ...registration(configuration, ["https://127.0.0.1:9", "https://127.0.0.1:9"], ns),
      ),
    });
    kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
  });

  afterAll(async () => {
    await unregister(configuration);
  });

  it("creates once, then answers AlreadyExists; an update over a newer version is a Conflict", async () => {
    const store = new KubeSecretStore(kc, ns, SECRET);
    expect(await store.get()).toBeUndefined();
    const created = await store.create({
      data: { "tls.crt": "a", "tls.key": "b" },
      annotations: {},
    });
    const again = await store
      .create({ data: { "tls.crt": "c", "tls.key": "d" }, annotations: {} })
      .catch((e: unknown) => e);
    expect(again instanceof StoreConflictError && again.reason).toBe("AlreadyExists");
    // Someone labels it: the update keeps the label (merge patch of our keys only).
    await cp.kubectl(["label", "secret", SECRET, "-n", ns, "team=platform"]);
    const stale = await store
      .update(created.resourceVersion, {
        data: { "tls.crt": "x", "tls.key": "y" },
        annotations: {},
      })
      .catch((e: unknown) => e);
    expect(stale instanceof StoreConflictError && stale.reason).toBe("Conflict");
    const fresh = await store.get();
    const updated = await store.update(fresh?.resourceVersion ?? "", {
      data: { "ca.crt": "ca", "tls.crt": "x", "tls.key": "y" },
      annotations: { "ca-trust.dev/ca-promoted-at": "2026-01-01T00:00:00.000Z" },
    });
    expect(updated.data).toEqual({ "ca.crt": "ca", "tls.crt": "x", "tls.key": "y" });
    expect((await readSecret(ns)).metadata.labels?.team).toBe("platform");
  });

  it("sets the caBundle of every webhook, conditional on the resourceVersion", async () => {
    const store = new KubeWebhookConfigStore(kc);
    const ref = { kind: "MutatingWebhookConfiguration", name: configuration } as const;
    const before = await store.get(ref);
    expect(before?.caBundles).toEqual(["", ""]);
    const written = await store.setCaBundle(
      ref,
      before ?? { resourceVersion: "", caBundles: [] },
      CA_PEM,
    );
    expect(written.caBundles).toEqual([CA_PEM, CA_PEM]);
    const stale = await store
      .setCaBundle(ref, before ?? { resourceVersion: "", caBundles: [] }, "")
      .catch((e: unknown) => e);
    expect(stale instanceof StoreConflictError && stale.reason).toBe("Conflict");
    expect((await store.get(ref))?.caBundles).toEqual([CA_PEM, CA_PEM]);
    expect(
      await store.get({ kind: "ValidatingWebhookConfiguration", name: uniqueName("none") }),
    ).toBeUndefined();
  });
});

/** One event of the timeline, from a replica's log or from the load. */
interface TimelineEvent {
  atMs: number;
  replica: string;
  text: string;
}

/** The certificate events of a replica's pino log (`event` field; never key material). */
function certificateEvents(replica: Replica, t0: number): TimelineEvent[] {
  const events: TimelineEvent[] = [];
  for (const line of replica.logs().split("\n")) {
    if (!line.startsWith("{")) continue;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const time = Date.parse(String(record.time));
    const short = (v: unknown) => (typeof v === "string" ? v.slice(0, 8) : "-");
    let text: string | undefined;
    switch (record.event) {
      case "phase":
        text = `phase ${record.from ?? "(start)"} -> ${record.phase}  ca=${short(record.ca)} next=${short(record.nextCa)} previous=${short(record.previousCa)}`;
        break;
      case "secret-written":
        text = `Secret: ${record.action}${record.reason ? ` (${record.reason})` : ""}  ca=${short(record.ca)} serving=${short(record.serving)}`;
        break;
      case "cabundle-written":
        text = `caBundle written (${record.reason}) ${String(record.configuration).replace(/WebhookConfiguration\/.*/, "")}: CAs ${(record.cas as string[]).map(short).join("+")}`;
        break;
      case "serving":
        text = `serving ${short(record.serving)} signed by ${short(record.ca)} until ${String(record.notAfter).slice(11, 19)}`;
        break;
      case "adopted":
      case "sync-failed":
        text = `${record.event} ${record.error ?? ""}`;
        break;
    }
    if (text !== undefined) events.push({ atMs: time - t0, replica: replica.name, text });
  }
  return events;
}

/** One admission of the load. */
interface Admission {
  atMs: number;
  kind: "Pod" | "Connector";
  status: number;
  injected?: boolean;
  message?: string;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The CAs the apiserver trusts for ALL our webhooks (every webhook's caBundle of both
 * configurations `name`), over time: a watch of both objects, each change stamped on arrival
 * (a few ms after the write).
 */
class TrustedCas {
  private readonly bundles = new Map<string, string[]>();
  private readonly history: { at: number; cas: X509Certificate[] }[] = [];
  private readonly aborts: AbortController[] = [];
  changes = 0;
  /** SHA-256 fingerprints (colon hex, as X509Certificate prints them) ever in any caBundle. */
  readonly everSeen = new Set<string>();

  constructor(private readonly name: string) {}

  async start(): Promise<void> {
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    const watch = new Watch(kc);
    for (const kind of ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"]) {
      this.aborts.push(
        await watch.watch(
          `/apis/admissionregistration.k8s.io/v1/${kind}`,
          { fieldSelector: `metadata.name=${this.name}` },
          (_type, object: { webhooks?: { clientConfig: { caBundle?: string } }[] }) => {
            this.bundles.set(
              kind,
              (object.webhooks ?? []).map((w) => decode(w.clientConfig.caBundle)),
            );
            this.record();
          },
          () => {},
        ),
      );
    }
    await pollUntil(() => (this.bundles.size === 2 ? true : undefined), {
      what: "the webhook configurations' watch",
    });
  }

  stop(): void {
    for (const abort of this.aborts) abort.abort();
  }

  /** What was trusted at time `at` (ms since the epoch). */
  at(at: number): X509Certificate[] {
    let cas: X509Certificate[] = [];
    for (const entry of this.history) if (entry.at <= at) cas = entry.cas;
    return cas;
  }

  private record(): void {
    const parse = (bundle: string) =>
      (bundle.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map(
        (pem) => new X509Certificate(pem),
      );
    const parsed = [...this.bundles.values()].flat().map(parse);
    for (const ca of parsed.flat()) this.everSeen.add(ca.fingerprint256);
    const [first = [], ...rest] = parsed;
    const cas = first.filter((ca) =>
      rest.every((others) => others.some((o) => o.fingerprint256 === ca.fingerprint256)),
    );
    this.changes++;
    this.history.push({ at: Date.now(), cas });
  }
}

/** The certificate a NEW TLS connection to `url` is served (not verified here), and when. */
function servedCertificate(url: string): Promise<{ at: number; leaf: X509Certificate }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      { host: hostname, port: Number(port), rejectUnauthorized: false },
      () => {
        const at = Date.now();
        const leaf = socket.getPeerX509Certificate();
        socket.end();
        if (leaf === undefined) reject(new Error(`${url}: no certificate`));
        else resolve({ at, leaf });
      },
    );
    socket.once("error", reject);
  });
}

describe("CA rotation under load, two replicas (shipped RBAC and self-managed policy)", () => {
  let sysNs: string;
  let appNs: string;
  let configuration: string;
  let installed: Installed;
  let replicas: Replica[] = [];

  beforeAll(async () => {
    sysNs = await systemNamespace("rotate-sys");
    appNs = await appNamespace("rotate-app");
    configuration = uniqueName("ca-trust-webhook-rotate");
    const ports = await freePorts(2);
    const urls = ports.map((p) => `https://127.0.0.1:${p}`);
    await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml(...registration(configuration, urls, appNs)),
    });
    const lifetimes = [
      "--ca-lifetime",
      "40s",
      "--serving-certificate-lifetime",
      "15s",
      "--ca-publish-delay",
      "2s",
      "--ca-retire-delay",
      "4s",
    ];
    installed = await installServiceAccount(sysNs, configuration);
    // Started together: one creates the Secret, the other adopts it.
    replicas = await Promise.all(
      ["a", "b"].map((name, i) =>
        startSelfManaged({
          name,
          namespace: sysNs,
          configuration,
          port: ports[i] ?? 0,
          kubeconfig: installed.kubeconfig,
          extraArgs: lifetimes,
        }),
      ),
    );
  });

  afterAll(async () => {
    await unregister(configuration);
    await Promise.all(replicas.map((r) => r.stop()));
    await installed?.uninstall();
  });

  it("rotates the CA while Pods and Connectors are created: zero failed admissions", async () => {
    // t = 0 is when the Secret was created (by whichever replica won).
    const created = replicas
      .flatMap((r) => certificateEvents(r, 0))
      .filter((e) => e.text.startsWith("Secret: create"))
      .map((e) => e.atMs);
    expect(created).toHaveLength(1);
    const start = created[0] ?? Date.now();
    const deadline = start + 45_000;
    const denialsBefore = await policyDenials(installed.policy);

    // The load: a Pod and a Connector every 300 ms, each through both replicas' webhooks.
    const admissions: Admission[] = [];
    const notReady: { atMs: number; replica: string }[] = [];
    const load = async () => {
      for (let n = 1; Date.now() < deadline; n++) {
        const tick = Date.now();
        const [pod, conn, ...ready] = await Promise.all([
          cp.request("POST", `/api/v1/namespaces/${appNs}/pods`, restrictedPod(`pod-${n}`, appNs)),
          cp.request(
            "POST",
            `/apis/connectors.alauda.io/v1alpha1/namespaces/${appNs}/connectors`,
            connector(`conn-${n}`, appNs, "good-ca"),
          ),
          ...replicas.map((r) => r.ready()),
        ]);
        const annotations = (pod.json as { metadata?: { annotations?: Record<string, string> } })
          ?.metadata?.annotations;
        admissions.push({
          atMs: tick - start,
          kind: "Pod",
          status: pod.status,
          injected: annotations?.["ca-trust.dev/injected"] !== undefined,
          ...(pod.status === 201 ? {} : { message: pod.body.slice(0, 300) }),
        });
        admissions.push({
          atMs: tick - start,
          kind: "Connector",
          status: conn.status,
          ...(conn.status === 201 ? {} : { message: conn.body.slice(0, 300) }),
        });
        ready.forEach((ok, i) => {
          if (!ok) notReady.push({ atMs: tick - start, replica: replicas[i]?.name ?? "?" });
        });
        await sleep(Math.max(0, 300 - (Date.now() - tick)));
      }
    };
    // The invariant, from outside: the apiserver keeps TLS connections alive, so a gap would
    // only hit its new connections. Every 20 ms each replica gets a NEW TLS handshake, and the
    // CA that signed what it serves must be in every webhook's caBundle as stored at that
    // moment (watched). The correct order leaves seconds of margin; a one-step replacement
    // leaves a gap of about one sync.
    const trusted = new TrustedCas(configuration);
    await trusted.start();
    const probes: { atMs: number; replica: string; ok: boolean }[] = [];
    const probe = async () => {
      while (Date.now() < deadline) {
        const served = await Promise.all(replicas.map((r) => servedCertificate(r.url)));
        served.forEach(({ at, leaf }, i) => {
          const ok = trusted.at(at).some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey));
          probes.push({ atMs: at - start, replica: replicas[i]?.name ?? "?", ok });
        });
        await sleep(20);
      }
    };
    try {
      await Promise.all([load(), probe()]);
    } finally {
      trusted.stop();
    }

    const events = replicas
      .flatMap((r) => certificateEvents(r, start))
      .sort((x, y) => x.atMs - y.atMs);
    const failed = admissions.filter((a) => a.status !== 201 || (a.kind === "Pod" && !a.injected));
    const gaps = probes.filter((p) => !p.ok);
    const metrics = await apiServerMetrics(cp);
    const ours = (labels: Record<string, string>) =>
      ["r0", "r1"]
        .flatMap((r) =>
          ["validate", "mutate"].map((w) => `${r}.${w}.${configuration}.ca-trust.dev`),
        )
        .reduce(
          (sum, name) =>
            sum +
            metricSum(metrics, "apiserver_admission_webhook_request_total", { name, ...labels }),
          0,
        );

    // The timeline, for the notes: certificate events of both replicas, the load per stage.
    const lines = events.map(
      (e) => `${(e.atMs / 1000).toFixed(1).padStart(6)}s  ${e.replica}  ${e.text}`,
    );
    const stages = events.filter((e) =>
      /^Secret: (create|add-next-ca|publish-next-ca|promote-next-ca|retire-previous-ca)/.test(
        e.text,
      ),
    );
    const windows = stages.map((stage, i) => {
      const end = stages[i + 1]?.atMs ?? Number.POSITIVE_INFINITY;
      const inside = admissions.filter((a) => a.atMs >= stage.atMs && a.atMs < end);
      const probed = probes.filter((p) => p.atMs >= stage.atMs && p.atMs < end);
      const name = stage.text.replace(/^Secret: (\S+).*$/, "$1");
      return `after ${name.padEnd(19)} (${(stage.atMs / 1000).toFixed(1).padStart(5)}s): ${String(inside.length).padStart(3)} admissions, ${inside.filter((a) => a.status !== 201).length} failed; ${String(probed.length).padStart(3)} TLS probes, ${probed.filter((p) => !p.ok).length} served a CA missing from the caBundle`;
    });
    const pods = admissions.filter((a) => a.kind === "Pod");
    // The apiserver counts a policy's denials (not what it allows): none during the run, and
    // the policy was in force all along (it still denies our ServiceAccount a foreign Secret).
    const denialsAfter = await policyDenials(installed.policy);
    const stillInForce = await cp.kubectl(
      [
        "create",
        "secret",
        "generic",
        "not-ours",
        "-n",
        sysNs,
        "--dry-run=server",
        `--as=system:serviceaccount:${sysNs}:${configuration}`,
      ],
      { allowFail: true },
    );
    const summary = [
      `self-managed policy ${installed.policy}: ${denialsAfter - denialsBefore} denials during the run (replicas writing as its ServiceAccount); still denies a foreign Secret: ${stillInForce.stderr.includes(installed.policy)}`,
      `admissions: ${admissions.length} (${pods.length} Pods, all injected: ${pods.every((a) => a.injected)}; ${admissions.length - pods.length} Connectors) over ${((admissions.at(-1)?.atMs ?? 0) / 1000).toFixed(1)}s, each through both replicas`,
      `failed admissions: ${failed.length}`,
      `apiserver calls to our 4 webhooks: ${ours({})}, rejected: ${ours({ rejected: "true" })}`,
      `new-connection TLS probes: ${probes.length}, serving a CA missing from a caBundle: ${gaps.length}`,
      `replica /readyz not 200: ${notReady.length} samples`,
    ];
    const report = [
      "rotation timeline (t=0: Secret created; CA 40s, serving 15s, publish delay 2s, retire delay 4s, sync 1s)",
      ...lines,
      "",
      ...windows,
      "",
      ...summary,
    ].join("\n");
    process.stdout.write(`\n[certificates] ${report}\n\n`);

    expect(failed).toEqual([]);
    expect(gaps).toEqual([]);
    expect(denialsAfter).toBe(denialsBefore);
    expect(stillInForce.stderr).toContain(installed.policy);
    expect(probes.length).toBeGreaterThan(500);
    expect(ours({ rejected: "true" })).toBe(0);
    expect(ours({})).toBeGreaterThanOrEqual(admissions.length * 2);
    // The Secret went through a whole CA rotation, in order, and renewed serving certificates.
    const actions = events
      .filter((e) => e.text.startsWith("Secret:"))
      .map((e) => e.text.replace(/^Secret: (\S+).*$/, "$1"));
    const rotation = ["add-next-ca", "publish-next-ca", "promote-next-ca", "retire-previous-ca"];
    // A replica that read a caBundle just before the other one added the next CA clears the
    // publish stamp and publishes again (safe: the wait restarts), so a step may repeat.
    const steps = actions
      .filter((a) => rotation.includes(a))
      .filter((a, i, all) => i === 0 || all[i - 1] !== a);
    expect(steps.slice(0, 4)).toEqual(rotation);
    expect(actions).toContain("renew-serving");
    // Both replicas ended up serving a certificate of the new CA, which is the only CA left.
    const finalCa = decode((await readSecret(sysNs)).data["ca.crt"]);
    const finalFingerprint = [...bundleFingerprints(finalCa)][0]?.slice(0, 8);
    const servedCas = replicas.map((r) =>
      events
        .filter((e) => e.replica === r.name && e.text.startsWith("serving"))
        .at(-1)
        ?.text.replace(/.*signed by (\S+).*/, "$1"),
    );
    expect(servedCas).toEqual([finalFingerprint, finalFingerprint]);
    expect(await caBundles(configuration)).toEqual([finalCa, finalCa, finalCa, finalCa]);
  }, 150_000);
});

/**
 * Issue 13: a `ca-trust-webhook-certs` Secret pre-created by someone who may write Secrets in
 * our namespace, with their CA (valid until 2126) and a serving certificate for our names plus
 * one of theirs. It must be replaced before anything of it is served or written into a
 * caBundle, and reported.
 */
describe("a planted certificate Secret", () => {
  let sysNs: string;
  let appNs: string;
  let configuration: string;
  let installed: Installed;
  let server: Replica;
  let trusted: TrustedCas;
  let planted: { ca: X509Certificate; leaf: X509Certificate; data: Record<string, string> };
  /** Every certificate a new TLS connection was served, from before start-up on. */
  const served: { at: number; fingerprint: string }[] = [];
  let probing = true;
  let probeLoop: Promise<void>;
  let readyAt = 0;

  async function plant(): Promise<void> {
    await cp.kubectl(["apply", "--server-side", "--force-conflicts", "-f", "-"], {
      input: toYaml({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: SECRET, namespace: sysNs },
        type: "kubernetes.io/tls",
        data: planted.data,
      }),
    });
  }

  beforeAll(async () => {
    sysNs = await systemNamespace("planted-sys");
    appNs = await appNamespace("planted-app");
    configuration = uniqueName("ca-trust-webhook-planted");
    const [port] = await freePorts(1);
    const url = `https://127.0.0.1:${port}`;
    await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml(...registration(configuration, [url], appNs)),
    });
    installed = await installServiceAccount(sysNs, configuration);

    const ca = await issueCertificate({
      commonName: "attacker CA",
      isCA: true,
      notBefore: new Date(Date.now() - 3_600_000),
      notAfter: new Date("2126-01-01T00:00:00Z"),
    });
    const leaf = await issueCertificate({
      commonName: SERVICE,
      usage: "server",
      dnsNames: [
        SERVICE,
        `${SERVICE}.${sysNs}`,
        `${SERVICE}.${sysNs}.svc`,
        `${SERVICE}.${sysNs}.svc.cluster.local`,
        "webhook.attacker.example",
      ],
      ipAddresses: ["127.0.0.1"],
      notBefore: new Date(Date.now() - 3_600_000),
      notAfter: new Date(Date.now() + 30 * 86_400_000),
      issuer: ca,
    });
    const b64 = (text: string) => Buffer.from(text).toString("base64");
    planted = {
      ca: new X509Certificate(ca.certificatePem),
      leaf: new X509Certificate(leaf.certificatePem),
      data: {
        "ca.crt": b64(ca.certificatePem),
        "ca.key": b64(ca.privateKeyPem),
        "tls.crt": b64(leaf.certificatePem),
        "tls.key": b64(leaf.privateKeyPem),
      },
    };
    await plant();

    // Watch the caBundles and probe the port from before the server exists.
    trusted = new TrustedCas(configuration);
    await trusted.start();
    probeLoop = (async () => {
      while (probing) {
        const got = await servedCertificate(url).catch(() => undefined);
        if (got !== undefined) served.push({ at: got.at, fingerprint: got.leaf.fingerprint256 });
        await sleep(20);
      }
    })();
    server = await startSelfManaged({
      name: "a",
      namespace: sysNs,
      configuration,
      port: port ?? 0,
      kubeconfig: installed.kubeconfig,
    });
    readyAt = Date.now();
    await sleep(2_000);
  });

  afterAll(async () => {
    probing = false;
    await probeLoop;
    trusted?.stop();
    await unregister(configuration);
    await server?.stop();
    await installed?.uninstall();
  });

  it("found at start-up: replaced (same Secret, new CA and serving certificate), never served, never in a caBundle", async () => {
    const stored = await readSecret(sysNs);
    const ca = new X509Certificate(decode(stored.data["ca.crt"]));
    const leaf = new X509Certificate(decode(stored.data["tls.crt"]));
    expect(ca.fingerprint256).not.toBe(planted.ca.fingerprint256);
    expect(leaf.fingerprint256).not.toBe(planted.leaf.fingerprint256);
    expect(leaf.checkIssued(ca) && leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.subjectAltName).not.toContain("attacker");
    expect(Date.parse(ca.validTo)).toBeLessThan(Date.now() + 400 * 86_400_000);
    // Replaced by a conditional update of the same object (its type stays).
    expect(stored.type).toBe("kubernetes.io/tls");

    const afterReady = served.filter((p) => p.at >= readyAt);
    process.stdout.write(
      `[certificates] planted Secret: ${served.length} TLS probes from start-up (${afterReady.length} after ready), served the planted certificate: ${served.filter((p) => p.fingerprint === planted.leaf.fingerprint256).length}; CAs ever in a caBundle: ${trusted.everSeen.size}, the planted one among them: ${trusted.everSeen.has(planted.ca.fingerprint256)}\n`,
    );
    expect(afterReady.length).toBeGreaterThan(20);
    expect(served.filter((p) => p.fingerprint === planted.leaf.fingerprint256)).toEqual([]);
    expect(afterReady.every((p) => p.fingerprint === leaf.fingerprint256)).toBe(true);
    expect(trusted.everSeen.has(planted.ca.fingerprint256)).toBe(false);
    expect(trusted.everSeen.has(ca.fingerprint256)).toBe(true);
    const bundle = decode(stored.data["ca.crt"]);
    expect(await caBundles(configuration)).toEqual([bundle, bundle]);
  });

  it("is reported: a security warning naming what was refused (no key material) and a metric", async () => {
    const refused = server
      .logs()
      .split("\n")
      .filter((l) => l.includes('"event":"secret-refused"'))
      .map((l) => JSON.parse(l) as { level: string; security: boolean; refused: string[] });
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ level: "warn", security: true });
    expect(refused[0]?.refused[0]).toMatch(
      /^ca\.crt: valid for \d+(\.\d)?d \(.* to 2126-01-01T00:00:00\.000Z\), longer than the configured CA lifetime of 365d$/,
    );
    expect(server.logs()).not.toContain("PRIVATE KEY");
    const metrics = await (await fetch(`${server.healthUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /^ca_trust_webhook_certificate_secret_refused_total\{key="ca.crt"\} 1$/m,
    );
  });

  it("the apiserver calls it over TLS it verifies with the new CA: a Pod is injected", async () => {
    const name = uniqueName("pod");
    const created = await cp.request(
      "POST",
      `/api/v1/namespaces/${appNs}/pods`,
      restrictedPod(name, appNs),
    );
    expect(created.status).toBe(201);
    const pod = created.json as { metadata: { annotations?: Record<string, string> } };
    expect(pod.metadata.annotations?.["ca-trust.dev/injected"]).toMatch(/^sha256:/);
  });

  it("planted again while running: replaced within seconds, still never served nor in a caBundle", async () => {
    const before = decode((await readSecret(sysNs)).data["ca.crt"]);
    await plant();
    await pollUntil(
      async () => {
        const now = decode((await readSecret(sysNs)).data["ca.crt"]);
        const fingerprint = new X509Certificate(now).fingerprint256;
        return now !== before && fingerprint !== planted.ca.fingerprint256 ? true : undefined;
      },
      { what: "the planted Secret to be replaced again", timeoutMs: 15_000, intervalMs: 100 },
    );
    const stored = await readSecret(sysNs);
    expect(new X509Certificate(decode(stored.data["ca.crt"])).fingerprint256).not.toBe(
      planted.ca.fingerprint256,
    );
    await sleep(1_000);
    expect(served.filter((p) => p.fingerprint === planted.leaf.fingerprint256)).toEqual([]);
    expect(trusted.everSeen.has(planted.ca.fingerprint256)).toBe(false);
  });
});
