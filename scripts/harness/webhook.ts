/**
 * Our server as the kube-apiserver sees it: `node dist/src/main.js serve` as a child process
 * with a fresh serving certificate for IP:127.0.0.1, registered through Validating- and
 * MutatingWebhookConfigurations with `clientConfig.url` + `caBundle` (the way k8s's own
 * webhook integration tests and envtest do it; real-control-plane.md §5 "How a URL webhook is
 * called").
 *
 * Registration propagates to the apiserver asynchronously: after {@link registerWebhooks},
 * call {@link waitForWebhookCalled} before asserting anything.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { BUILTIN_RULES } from "../../src/policy/builtin-rules.js";
import {
  type ChildExit,
  childEnv,
  logTail,
  makeTempDir,
  removeTempDir,
  spawnLogged,
} from "./children.js";
import type { ControlPlane } from "./controlplane.js";
import { restrictedPod, secret, toYaml } from "./manifests.js";
import { uniqueName } from "./namespaces.js";
import { REPO_ROOT } from "./paths.js";
import { createWebhookPki, type WebhookPki } from "./pki.js";
import { pollUntil } from "./poll.js";
import { freePorts } from "./ports.js";
import { reportGroup } from "./remote.js";

/** The built CLI (`npm run build`); `CA_TRUST_WEBHOOK_SERVER_ENTRY` overrides it. */
export const SERVER_ENTRY =
  process.env.CA_TRUST_WEBHOOK_SERVER_ENTRY || join(REPO_ROOT, "dist", "src", "main.js");

/** The Prometheus counter our server increments once per AdmissionReview. */
export const REQUESTS_METRIC = "ca_trust_webhook_admission_requests_total";

/** Options of {@link startWebhook}. */
export interface StartWebhookOptions {
  /**
   * What to wait for: `readyz` (default: certificate loaded and caches synced), `healthz`
   * (the process is up; for tests that expect it not to become ready) or `none`.
   */
  waitFor?: "readyz" | "healthz" | "none";
  /** A config object, written as YAML and passed as `--config`. */
  config?: unknown;
  /** Default: the control plane's admin kubeconfig. `false`: pass no `--kubeconfig`. */
  kubeconfig?: string | false;
  /** Reuse certificates (e.g. to restart "the same" server); default: a fresh CA + cert. */
  pki?: WebhookPki;
  /** Reuse ports (e.g. to restart behind an existing registration); default: free ports. */
  port?: number;
  healthPort?: number;
  extraArgs?: readonly string[];
  env?: Record<string, string>;
  readyTimeoutMs?: number;
  /** The script node runs; default {@link SERVER_ENTRY}. */
  entry?: string;
  /** Flags for node itself, before the script (e.g. the Deployment's `--max-old-space-size`). */
  nodeArgs?: readonly string[];
}

/** One log line the server writes per AdmissionReview (fields agreed with the lead). */
export interface ReviewLogLine {
  uid: string;
  /** The request's kind (`Connector`, `Secret`, `Pod`, ...). */
  kind: string;
  namespace?: string;
  name?: string;
  operation?: string;
  decision?: string;
  dryRun?: boolean;
  durationMs?: number;
  [field: string]: unknown;
}

/** One sample of the Prometheus text exposition. */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A running (or stopped) webhook server. */
export interface WebhookServer {
  /** `https://127.0.0.1:PORT` (append `/validate` or `/mutate`). */
  url: string;
  /** `http://127.0.0.1:HEALTH_PORT` (`/healthz`, `/readyz`, `/metrics`). */
  healthUrl: string;
  port: number;
  healthPort: number;
  /** The CA of the serving cert, PEM: the registration's `caBundle`. */
  caPem: string;
  pki: WebhookPki;
  pid: number;
  /** Resolves when the process has exited. */
  exited: Promise<ChildExit>;
  /** The file the server writes its stdout and stderr to (removed by `stop`). */
  logPath: string;
  /** Everything the server wrote to stdout and stderr so far (also after stop). */
  logs(): string;
  /** The per-review JSON log lines. */
  reviews(): ReviewLogLine[];
  /** Scrapes `/metrics`. */
  metrics(): Promise<MetricSample[]>;
  /** SIGTERM (SIGKILL after `graceMs`, default 10 s); removes the temp dir, keeps the logs. */
  stop(graceMs?: number): Promise<ChildExit>;
}

/** Starts `node dist/src/main.js serve ...`; resolves when `/readyz` (or `/healthz`) answers 200. */
export async function startWebhook(
  cp: ControlPlane,
  options: StartWebhookOptions = {},
): Promise<WebhookServer> {
  const entry = options.entry ?? SERVER_ENTRY;
  if (!existsSync(entry)) {
    throw new Error(`${entry} does not exist: run \`npm run build\` first`);
  }
  const [freeA, freeB] = await freePorts(2);
  const port = options.port ?? freeA ?? 0;
  const healthPort = options.healthPort ?? freeB ?? 0;
  const pki = options.pki ?? (await createWebhookPki());
  const dir = makeTempDir("webhook");
  const certPath = join(dir, "tls.crt");
  const keyPath = join(dir, "tls.key");
  writeFileSync(certPath, pki.serving.certificatePem);
  writeFileSync(keyPath, pki.serving.privateKeyPem, { mode: 0o600 });
  const args = [
    ...(options.nodeArgs ?? []),
    entry,
    "serve",
    "--listen",
    `127.0.0.1:${port}`,
    "--health-listen",
    `127.0.0.1:${healthPort}`,
    "--tls-cert-file",
    certPath,
    "--tls-key-file",
    keyPath,
  ];
  const kubeconfig = options.kubeconfig ?? cp.kubeconfigPath;
  if (kubeconfig !== false) args.push("--kubeconfig", kubeconfig);
  if (options.config !== undefined) {
    const configPath = join(dir, "config.yaml");
    writeFileSync(configPath, stringify(options.config));
    args.push("--config", configPath);
  }
  args.push(...(options.extraArgs ?? []));

  const logPath = join(dir, "webhook.log");
  const child = spawnLogged({
    name: "webhook",
    command: process.execPath,
    args,
    logPath,
    env: hermeticEnv(options.env),
  });
  await reportGroup(cp.control, "track", child.pid, "webhook");

  let savedLogs: string | undefined;
  const logs = () => savedLogs ?? (existsSync(logPath) ? readFileSync(logPath, "utf8") : "");
  const healthUrl = `http://127.0.0.1:${healthPort}`;
  const stop = async (graceMs = 10_000): Promise<ChildExit> => {
    const exit = await child.stop(graceMs);
    savedLogs ??= logs();
    await reportGroup(cp.control, "untrack", child.pid, "webhook");
    removeTempDir(dir);
    // Every server's whole log is checked when it stops: no line may carry key material,
    // certificates or base64 Secret data (the tests feed it real PEM and Secrets).
    const leaks = secretLeaks(savedLogs);
    if (leaks.length > 0) {
      throw new Error(`webhook log leaks Secret or PEM data:\n${leaks.slice(0, 3).join("\n")}`);
    }
    return exit;
  };

  const server: WebhookServer = {
    url: `https://127.0.0.1:${port}`,
    healthUrl,
    port,
    healthPort,
    caPem: pki.ca.certificatePem,
    pki,
    pid: child.pid,
    exited: child.exited,
    logPath,
    logs,
    reviews: () => reviewLines(logs()),
    metrics: async () => parseMetrics(await (await fetch(`${healthUrl}/metrics`)).text()),
    stop,
  };

  const waitFor = options.waitFor ?? "readyz";
  if (waitFor !== "none") {
    try {
      await pollUntil(
        async () => {
          const exit = child.exit();
          if (exit !== undefined)
            throw new Exited(`webhook server exited: ${JSON.stringify(exit)}`);
          const response = await fetch(`${healthUrl}/${waitFor}`);
          return response.status === 200 ? true : undefined;
        },
        {
          what: `webhook ${healthUrl}/${waitFor}`,
          timeoutMs: options.readyTimeoutMs ?? 30_000,
          stopOn: (error) => error instanceof Exited,
        },
      );
    } catch (error) {
      const tail = logTail(logPath, 30);
      await stop(2_000);
      throw new Error(
        `${error instanceof Error ? error.message : String(error)}\n--- webhook log (tail) ---\n${tail}`,
        { cause: error },
      );
    }
  }
  return server;
}

class Exited extends Error {}

/**
 * Log lines that carry a PEM armour line or a long base64 run (Secret `data` values, DER):
 * what must never be logged. Hex digests (fingerprints, bundle hashes) are not base64 data.
 */
export function secretLeaks(logs: string): string[] {
  return logs.split("\n").filter((line) => {
    if (/-----(BEGIN|END) [A-Z0-9 ]+-----/.test(line)) return true;
    const runs = line.match(/[A-Za-z0-9+/]{48,}={0,2}/g) ?? [];
    // Random base64 mixes upper case, lower case and digits; a hex digest never does.
    return runs.some((run) => /[A-Z]/.test(run) && /[a-z]/.test(run) && /\d/.test(run));
  });
}

/**
 * The server reads `CA_TRUST_WEBHOOK_<NAME>` variables as configuration: none from the
 * developer's shell may leak into a test, only the ones the test sets.
 */
function hermeticEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = childEnv();
  for (const key of Object.keys(env)) {
    if (key.startsWith("CA_TRUST_WEBHOOK_")) delete env[key];
  }
  return { ...env, ...extra };
}

/** The JSON log lines that describe one AdmissionReview each. */
export function reviewLines(logs: string): ReviewLogLine[] {
  const lines: ReviewLogLine[] = [];
  for (const line of logs.split("\n")) {
    if (!line.startsWith("{")) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof parsed !== "object" || parsed === null) continue;
    const record = parsed as Record<string, unknown>;
    // `kind` may be logged as the GroupVersionKind object or just its kind.
    const kind =
      typeof record.kind === "string"
        ? record.kind
        : typeof record.kind === "object" && record.kind !== null
          ? (record.kind as { kind?: unknown }).kind
          : undefined;
    if (typeof record.uid !== "string" || typeof kind !== "string") continue;
    lines.push({ ...record, uid: record.uid, kind });
  }
  return lines;
}

/** Parses the Prometheus text exposition format (comments skipped). */
export function parseMetrics(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
  const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const match = sampleLine.exec(line);
    if (match === null) continue;
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (match[2] ?? "").matchAll(labelPair)) {
      if (key === undefined || raw === undefined) continue;
      labels[key] = raw.replace(/\\n/g, "\n").replace(/\\(.)/g, "$1");
    }
    samples.push({ name: match[1] ?? "", labels, value: Number(match[3]) });
  }
  return samples;
}

/** Sum of all samples named `name` whose labels include `labels`. */
export function metricSum(
  samples: readonly MetricSample[],
  name: string,
  labels: Record<string, string> = {},
): number {
  return samples
    .filter((s) => s.name === name)
    .filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** The kube-apiserver's own metrics (e.g. `apiserver_admission_webhook_fail_open_count`). */
export async function apiServerMetrics(cp: ControlPlane): Promise<MetricSample[]> {
  const response = await cp.request("GET", "/metrics");
  if (response.status !== 200) throw new Error(`GET /metrics: ${response.status}`);
  return parseMetrics(response.body);
}

/** A Kubernetes label selector. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: {
    key: string;
    operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
    values?: string[];
  }[];
}

/** Options of {@link registerWebhooks}. */
export interface RegisterWebhooksOptions {
  /** Base URL of the server, e.g. `WebhookServer.url`; `/validate` and `/mutate` are appended. */
  url: string;
  /**
   * Name of both configurations; the webhooks are `<name>.validate.ca-trust.dev` and
   * `<name>.mutate.ca-trust.dev` (kubectl prints it in every denial). Default: a unique
   * `ca-trust-e2e-<random>`, so that apiserver metrics of two registrations never mix.
   */
  name?: string;
  /** PEM of the CA that signed the server's certificate (`WebhookServer.caPem`). */
  caBundle: string;
  /** Default `Fail`. */
  failurePolicy?: "Fail" | "Ignore";
  /** Default 5. */
  timeoutSeconds?: number;
  /** Register the ValidatingWebhookConfiguration (default true). */
  validating?: boolean;
  /** Register the MutatingWebhookConfiguration for Pods (default true). */
  mutating?: boolean;
  /** Limits both webhooks to matching namespaces (cluster-scoped objects are always sent). */
  namespaceSelector?: LabelSelector;
  /** Overrides `namespaceSelector` for the Pod webhook (e.g. the injection opt-in label). */
  mutatingNamespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
}

/** What {@link registerWebhooks} created. */
export interface WebhookRegistration {
  /** Name of both configuration objects. */
  configurationName: string;
  /** `webhooks[0].name` of each configuration (unique per registration: apiserver metrics are labelled by it). */
  validatingWebhookName: string;
  mutatingWebhookName: string;
  validating: boolean;
  mutating: boolean;
  /** Deletes both configurations. */
  unregister(): Promise<void>;
}

/** Label on every configuration the harness creates. */
export const HARNESS_LABEL = "e2e.ca-trust.dev/harness";

/** The CRD resources of the built-in rule table (src/policy/builtin-rules.ts) plus Secrets. */
export const VALIDATED_RESOURCES: readonly { apiGroups: string[]; resources: string[] }[] = [
  ...BUILTIN_RULES.filter((rule) => rule.type === "reference").map((rule) => ({
    apiGroups: [...rule.apiGroups],
    resources: [...new Set(Object.values(rule.kinds))],
  })),
  { apiGroups: [""], resources: ["secrets"] },
];

/**
 * Applies a ValidatingWebhookConfiguration (CREATE/UPDATE of the CRD kinds and Secrets →
 * `/validate`) and a MutatingWebhookConfiguration (Pod CREATE → `/mutate`,
 * `reinvocationPolicy: IfNeeded`). Both: `sideEffects: None`, `admissionReviewVersions: [v1]`.
 *
 * At most one harness registration exists at a time: earlier ones are deleted first, so a
 * registration left behind by a failed test (pointing at a dead server with `Fail`) cannot
 * break the next test.
 */
export async function registerWebhooks(
  cp: ControlPlane,
  options: RegisterWebhooksOptions,
): Promise<WebhookRegistration> {
  const configurationName = options.name ?? uniqueName("ca-trust-e2e");
  const validatingWebhookName = `${configurationName}.validate.ca-trust.dev`;
  const mutatingWebhookName = `${configurationName}.mutate.ca-trust.dev`;
  const validating = options.validating ?? true;
  const mutating = options.mutating ?? true;
  const caBundle = Buffer.from(options.caBundle, "utf8").toString("base64");
  const common = {
    failurePolicy: options.failurePolicy ?? "Fail",
    sideEffects: "None",
    admissionReviewVersions: ["v1"],
    timeoutSeconds: options.timeoutSeconds ?? 5,
    matchPolicy: "Equivalent",
    ...(options.objectSelector === undefined ? {} : { objectSelector: options.objectSelector }),
  };
  const metadata = { name: configurationName, labels: { [HARNESS_LABEL]: "true" } };
  const docs: Record<string, unknown>[] = [];
  if (validating) {
    docs.push({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingWebhookConfiguration",
      metadata,
      webhooks: [
        {
          name: validatingWebhookName,
          clientConfig: { url: `${options.url}/validate`, caBundle },
          rules: VALIDATED_RESOURCES.map((r) => ({
            ...r,
            apiVersions: r.apiGroups[0] === "" ? ["v1"] : ["v1alpha1"],
            operations: ["CREATE", "UPDATE"],
            scope: "*",
          })),
          ...(options.namespaceSelector === undefined
            ? {}
            : { namespaceSelector: options.namespaceSelector }),
          ...common,
        },
      ],
    });
  }
  if (mutating) {
    const selector = options.mutatingNamespaceSelector ?? options.namespaceSelector;
    docs.push({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "MutatingWebhookConfiguration",
      metadata,
      webhooks: [
        {
          name: mutatingWebhookName,
          clientConfig: { url: `${options.url}/mutate`, caBundle },
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
          ...(selector === undefined ? {} : { namespaceSelector: selector }),
          ...common,
        },
      ],
    });
  }
  await removeHarnessWebhooks(cp);
  if (docs.length > 0) await cp.kubectl(["apply", "-f", "-"], { input: toYaml(...docs) });
  return {
    configurationName,
    validatingWebhookName,
    mutatingWebhookName,
    validating,
    mutating,
    unregister: async () => {
      await cp.kubectl(
        [
          "delete",
          "validatingwebhookconfiguration,mutatingwebhookconfiguration",
          configurationName,
          "--ignore-not-found",
        ],
        { allowFail: true },
      );
    },
  };
}

/** Deletes every webhook configuration the harness created. */
export async function removeHarnessWebhooks(cp: ControlPlane): Promise<void> {
  await cp.kubectl([
    "delete",
    "validatingwebhookconfiguration,mutatingwebhookconfiguration",
    "-l",
    `${HARNESS_LABEL}=true`,
    "--ignore-not-found",
  ]);
}

/** Options of {@link waitForWebhookCalled}. */
export interface WaitForWebhookCalledOptions {
  /** A namespace the registration selects (with a `default` ServiceAccount for Pod probes). */
  namespace: string;
  /** Which webhook to probe: a Secret dry-run (`validating`, default) or a Pod dry-run (`mutating`). */
  via?: "validating" | "mutating";
  /** Labels for the probe object (e.g. to satisfy an objectSelector). */
  labels?: Record<string, string>;
  /**
   * When given, also wait until the apiserver reports a call of exactly this registration's
   * webhook (`apiserver_admission_webhook_request_total{name=...}`), so that an older
   * registration of the same server cannot be mistaken for the new one.
   */
  registration?: WebhookRegistration;
  timeoutMs?: number;
}

/** The apiserver's per-webhook call counter (k8s ≥ 1.23). */
export const APISERVER_WEBHOOK_REQUESTS = "apiserver_admission_webhook_request_total";

/**
 * Polls until `server` has demonstrably been called by the apiserver through the current
 * registration: each round sends a `kubectl create --dry-run=server` of a probe object (dry
 * run: nothing is stored; the webhooks must have `sideEffects: None`), then looks for the
 * probe in the server's review log, or for an increase of its request counter.
 */
export async function waitForWebhookCalled(
  cp: ControlPlane,
  server: WebhookServer,
  options: WaitForWebhookCalledOptions,
): Promise<void> {
  const via = options.via ?? "validating";
  const probeName = uniqueName("webhook-probe");
  const probe =
    via === "validating"
      ? secret(probeName, options.namespace, { note: "probe" }, options.labels)
      : restrictedPod(probeName, options.namespace, options.labels);
  const webhookName =
    via === "validating"
      ? options.registration?.validatingWebhookName
      : options.registration?.mutatingWebhookName;
  const counted = async () => metricSum(await server.metrics().catch(() => []), REQUESTS_METRIC);
  const apiServerCounted = async () =>
    webhookName === undefined
      ? 0
      : metricSum(await apiServerMetrics(cp), APISERVER_WEBHOOK_REQUESTS, { name: webhookName });
  const before = await counted();
  const apiServerBefore = await apiServerCounted();
  await pollUntil(
    async () => {
      // The verdict does not matter (a probe Pod may well be denied): only that we were asked.
      await cp.kubectl(["create", "--dry-run=server", "-o", "name", "-f", "-"], {
        input: toYaml(probe),
        allowFail: true,
      });
      const serverSawIt =
        server.reviews().some((review) => review.name === probeName) || (await counted()) > before;
      if (!serverSawIt) return undefined;
      if (webhookName === undefined) return true;
      return (await apiServerCounted()) > apiServerBefore ? true : undefined;
    },
    {
      what: `the apiserver to call the ${via} webhook at ${server.url}`,
      timeoutMs: options.timeoutMs ?? 60_000,
      intervalMs: 500,
      onTimeout: () =>
        `--- webhook log (tail) ---\n${server.logs().split("\n").slice(-20).join("\n")}`,
    },
  );
}
