/**
 * Nothing a Pod author sends can crash or starve the webhook (issue 12), against the real
 * kube-apiserver, with the server started under the memory flags the Deployment ships
 * (deploy/base/deployment.yaml: NODE_OPTIONS and the allocator settings). While hostile
 * clients keep sending what once crashed, starved or amplified it, legitimate opted-in Pods are
 * created at 10 a second, and:
 *
 * - every legitimate Pod is created and injected;
 * - the server never restarts (same pid, still answering) and its health endpoint answers;
 * - its peak RSS (the kernel's VmHWM) stays under the Deployment's memory limit;
 * - every hostile request gets a clear refusal.
 *
 * Through the apiserver (dry-run creates; the apiserver caps a body at 3 MiB): a Pod with
 * 1,000,000 tolerations, a Connector with a 1,000,000-element array, DataPlanes with an inline
 * CA of 4,900 certificates three at a time (one byte changed each time, so no memo helps), a
 * Pod with 12,000 containers. Directly to the webhook's port: 3.6 MiB of nesting, and 4,000
 * sockets that never speak. The figures are printed for docs/reliability.md.
 *
 * Then the finalizer case: an object whose status holds a `__proto__` key can still be deleted.
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { caBundle } from "../../scripts/bench/fixtures.js";
import { restrictedPod, toYaml } from "../../scripts/harness/manifests.js";
import {
  createTestNamespace,
  INJECT_ENABLED,
  uniqueName,
} from "../../scripts/harness/namespaces.js";
import { REPO_ROOT } from "../../scripts/harness/paths.js";
import { pollUntil } from "../../scripts/harness/poll.js";
import {
  registerWebhooks,
  startWebhook,
  type WebhookRegistration,
  type WebhookServer,
  waitForWebhookCalled,
} from "../../scripts/harness/webhook.js";
import { useControlPlane } from "./harness/context.js";

const cp = useControlPlane();

/** How long the hostile clients run while the legitimate Pods are created. */
const ATTACK_MS = 40_000;
const LEGIT_PER_SECOND = 10;

/** The webhook container of the shipped Deployment: its env and memory limit. */
function shippedMemorySettings(): {
  nodeArgs: string[];
  env: Record<string, string>;
  limitMiB: number;
} {
  const text = readFileSync(join(REPO_ROOT, "deploy", "base", "deployment.yaml"), "utf8");
  const deployment = parseAllDocuments(text)[0]?.toJS() as {
    spec: {
      template: {
        spec: {
          containers: {
            env?: { name: string; value?: string }[];
            resources: { limits: { memory: string } };
          }[];
        };
      };
    };
  };
  const container = deployment.spec.template.spec.containers[0];
  if (container === undefined) throw new Error("no container in deploy/base/deployment.yaml");
  const env: Record<string, string> = {};
  let nodeArgs: string[] = [];
  for (const { name, value } of container.env ?? []) {
    if (value === undefined) continue;
    if (name === "NODE_OPTIONS") nodeArgs = value.split(/\s+/).filter((a) => a !== "");
    else if (name.startsWith("MALLOC_")) env[name] = value;
  }
  const limit = /^(\d+)Mi$/.exec(container.resources.limits.memory);
  if (limit === null)
    throw new Error(`memory limit ${container.resources.limits.memory}: expected NNNMi`);
  return { nodeArgs, env, limitMiB: Number(limit[1]) };
}

/** The kernel's view of a process's memory: current and peak RSS, MiB. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kib("VmRSS") / 1024, peak: kib("VmHWM") / 1024 };
}

interface Answer {
  status: number;
  message: string;
  body: string;
  ms: number;
}

/** Raw HTTPS POSTs of pre-built bodies (the harness's request() would re-encode them). */
function poster(agent: Agent, base: string) {
  return (path: string, body: string | Buffer, timeoutMs = 60_000): Promise<Answer> =>
    new Promise((resolve) => {
      const started = Date.now();
      const req = request(
        new URL(path, base),
        {
          method: "POST",
          agent,
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
          },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let message = "";
            try {
              const json = JSON.parse(text) as { message?: string };
              message = json.message ?? "";
            } catch {
              message = text.slice(0, 200);
            }
            resolve({ status: res.statusCode ?? 0, message, body: text, ms: Date.now() - started });
          });
          res.on("error", (e) =>
            resolve({ status: 0, message: e.message, body: "", ms: Date.now() - started }),
          );
        },
      );
      req.on("timeout", () => req.destroy(new Error("client timeout")));
      req.on("error", (e) =>
        resolve({ status: 0, message: e.message, body: "", ms: Date.now() - started }),
      );
      req.end(body);
    });
}

/** RSS, V8 heap (total, used, by space) and external memory, from the server's /metrics. */
async function memoryMetrics(server: WebhookServer): Promise<string> {
  const samples = await server.metrics();
  const mib = (name: string, labels: Record<string, string> = {}) =>
    (
      samples
        .filter((s) => s.name === `ca_trust_webhook_${name}`)
        .filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        .reduce((sum, s) => sum + s.value, 0) / 1048576
    ).toFixed(1);
  return [
    `rss ${mib("process_resident_memory_bytes")}`,
    `heap total ${mib("nodejs_heap_size_total_bytes")} used ${mib("nodejs_heap_size_used_bytes")}`,
    `new space ${mib("nodejs_heap_space_size_total_bytes", { space: "new" })}`,
    `external ${mib("nodejs_external_memory_bytes")} MiB`,
  ].join(", ");
}

/** What a clear refusal of each hostile shape looks like (status, and the message). */
const REFUSALS: Record<string, { status: number[]; message: RegExp }[]> = {
  tolerations: [
    {
      status: [413],
      message: /JSON holds 1,000,\d{3} values; the webhook accepts at most 200,000/,
    },
  ],
  connectorArray: [
    {
      status: [413],
      message: /JSON holds 1,000,\d{3} values; the webhook accepts at most 200,000/,
    },
  ],
  bundle: [{ status: [422], message: /more than 300 PEM blocks; at most 300 are analysed/ }],
  containers: [
    {
      status: [422],
      message:
        /injection patch for this Pod \(12,000 containers\) would be at least [\d,]+ KiB; the webhook sends at most 512 KiB/,
    },
  ],
  nesting: [
    { status: [400], message: /JSON nests 1,887,436 levels deep; the webhook accepts at most 100/ },
  ],
};
/** The memory budget may turn a large body away before reading it: also a clear refusal. */
const BUSY = { status: [500], message: /too many requests/i };
const BUSY_DIRECT = { status: [429], message: /request memory \(--max-request-memory-mib\)/ };

describe("hostile clients while legitimate Pods are created", () => {
  const settings = shippedMemorySettings();
  let server: WebhookServer;
  let registration: WebhookRegistration;
  let namespace: string;
  let apiAgent: Agent;
  let webhookAgent: Agent;

  beforeAll(async () => {
    namespace = await createTestNamespace(cp, { prefix: "hostile", labels: { ...INJECT_ENABLED } });
    await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "ca-trust-bundle", namespace },
        data: { "ca-bundle.crt": await caBundle(2, "Hostile test") },
      }),
    });
    server = await startWebhook(cp, { nodeArgs: settings.nodeArgs, env: settings.env });
    registration = await registerWebhooks(cp, {
      url: server.url,
      caBundle: server.caPem,
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
    });
    await waitForWebhookCalled(cp, server, { namespace, registration, via: "mutating" });
    apiAgent = new Agent({
      keepAlive: true,
      maxSockets: 16,
      ca: cp.caPem,
      cert: readFileSync(cp.adminCertPath),
      key: readFileSync(cp.adminKeyPath),
    });
    webhookAgent = new Agent({ keepAlive: true, maxSockets: 4, ca: server.caPem });
  });
  afterAll(async () => {
    apiAgent?.destroy();
    webhookAgent?.destroy();
    await registration?.unregister();
    await server?.stop();
  });

  it("creates every legitimate Pod, stays up under its memory limit, and refuses every hostile request clearly", async () => {
    const api = poster(apiAgent, cp.server);
    const direct = poster(webhookAgent, server.url);
    const pid = server.pid;
    const dryRun = (resource: string) => `${resource}?dryRun=All`;
    const pods = dryRun(`/api/v1/namespaces/${namespace}/pods`);
    const dataPlanes = dryRun(`/apis/openchoreo.dev/v1alpha1/namespaces/${namespace}/dataplanes`);
    const connectors = dryRun(
      `/apis/connectors.alauda.io/v1alpha1/namespaces/${namespace}/connectors`,
    );

    // The hostile bodies, built once.
    const hostilePod = (spec: string) =>
      `{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"hostile-","namespace":"${namespace}","labels":{"ca-trust.dev/inject":"true"}},"spec":${spec}}`;
    const hostilePlane = (spec: string) =>
      `{"apiVersion":"openchoreo.dev/v1alpha1","kind":"DataPlane","metadata":{"generateName":"hostile-","namespace":"${namespace}"},"spec":${spec}}`;
    const tolerations = hostilePod(
      `{"automountServiceAccountToken":false,"containers":[{"name":"app","image":"nginx"}],"tolerations":[${Array(1_000_000).fill("{}").join(",")}]}`,
    );
    // Valid as far as the CRD schema goes (validating webhooks run after it, and an unknown
    // field would be pruned before admission): the real Connector CRD keeps whatever a
    // `spec.params[].value` holds, so 1,000,000 array elements reach the webhook there. (The
    // real DataPlane CRD keeps no unknown field: the same padding would be pruned.)
    const connectorArray = `{"apiVersion":"connectors.alauda.io/v1alpha1","kind":"Connector","metadata":{"generateName":"hostile-","namespace":"${namespace}"},"spec":{"caCertSecretRef":{"name":"agent-ca"},"params":[{"name":"padding","value":[${Array(1_000_000).fill("0").join(",")}]}]}}`;
    // 4,900 certificates in 2.8 MB, as in the report: one base64 line per block (PEM allows
    // it), which keeps the JSON-escaped value under the apiserver's 3 MiB.
    const certificates = (await caBundle(50, "H"))
      .split(/(?<=-----END CERTIFICATE-----\n)/)
      .map((pem) => pem.replace(/-----[A-Z ]+-----|\s/g, ""))
      .map((body) => `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`);
    const bundleText = Array.from({ length: 4_900 }, (_, i) => certificates[i % 50]).join("");
    const bundle = (n: number) =>
      hostilePlane(
        `{"clusterAgent":{"clientCA":{"value":${JSON.stringify(`# ${n}\n${bundleText}`)}}}}`,
      );
    const containers = hostilePod(
      `{"automountServiceAccountToken":false,"containers":[${Array.from({ length: 12_000 }, (_, i) => `{"name":"c${i}","image":"busybox"}`).join(",")}]}`,
    );
    const nesting = `${"[".repeat(1_887_436)}${"]".repeat(1_887_436)}`;
    expect(Buffer.byteLength(tolerations)).toBeLessThan(3 * 1024 * 1024);
    expect(Buffer.byteLength(bundle(0))).toBeLessThan(3 * 1024 * 1024);
    expect(Buffer.byteLength(nesting)).toBeGreaterThan(3.5 * 1024 * 1024);

    const outcomes = new Map<string, Answer[]>();
    const record = (shape: string, answer: Answer) => {
      const list = outcomes.get(shape) ?? [];
      list.push(answer);
      outcomes.set(shape, list);
    };
    let attacking = true;
    const loop = async (shape: string, send: (i: number) => Promise<Answer>) => {
      for (let i = 0; attacking; i++) record(shape, await send(i));
    };
    let socketsOpened = 0;
    let socketsClosedByServer = 0;
    const idleSockets = async () => {
      // 4,000 connections that never speak, opened in bursts, held until the server drops them.
      const open: Socket[] = [];
      while (attacking && socketsOpened < 4_000) {
        for (let k = 0; k < 250; k++) {
          const s = connect(server.port, "127.0.0.1");
          s.on("error", () => {});
          s.on("close", () => {
            if (attacking) socketsClosedByServer++;
          });
          open.push(s);
          socketsOpened++;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      while (attacking) await new Promise((r) => setTimeout(r, 200));
      return open;
    };

    const idle = await memoryMetrics(server);
    // The server's memory and health, sampled throughout.
    let rssMax = 0;
    const healthMs: number[] = [];
    let healthFailures = 0;
    const sampler = setInterval(() => {
      rssMax = Math.max(rssMax, memoryOf(pid).rss);
    }, 50);
    const health = (async () => {
      while (attacking) {
        const t0 = Date.now();
        const ok = await fetch(`${server.healthUrl}/healthz`, {
          signal: AbortSignal.timeout(10_000),
        })
          .then((r) => r.status === 200)
          .catch(() => false);
        healthMs.push(Date.now() - t0);
        if (!ok) healthFailures++;
        await new Promise((r) => setTimeout(r, 250));
      }
    })();

    // The legitimate Pods, created (not dry-run) at 10 a second through the apiserver.
    const legit: { status: number; injected: boolean; ms: number; message: string }[] = [];
    const legitDone = (async () => {
      const pending: Promise<void>[] = [];
      const start = Date.now();
      const prefix = uniqueName("legit");
      for (let i = 0; Date.now() - start < ATTACK_MS; i++) {
        const t0 = Date.now();
        pending.push(
          cp
            .request(
              "POST",
              `/api/v1/namespaces/${namespace}/pods`,
              restrictedPod(`${prefix}-${i}`, namespace),
            )
            .then(
              (res) => {
                const pod = res.json as {
                  metadata?: { annotations?: Record<string, string> };
                  message?: string;
                };
                legit.push({
                  status: res.status,
                  injected:
                    pod.metadata?.annotations?.["ca-trust.dev/injected"]?.startsWith("sha256:") ===
                    true,
                  ms: Date.now() - t0,
                  message: res.status === 201 ? "" : (pod.message ?? res.body.slice(0, 200)),
                });
              },
              (error: Error) => {
                legit.push({
                  status: 0,
                  injected: false,
                  ms: Date.now() - t0,
                  message: error.message,
                });
              },
            ),
        );
        const next = start + ((i + 1) * 1000) / LEGIT_PER_SECOND;
        await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      }
      await Promise.all(pending);
    })();

    const attacks = [
      loop("tolerations", () => api(pods, tolerations)),
      loop("connectorArray", () => api(connectors, connectorArray)),
      // Three bundles in flight at all times, each with a different byte (no memo hit).
      ...[0, 1, 2].map((k) => loop("bundle", (i) => api(dataPlanes, bundle(i * 3 + k)))),
      loop("containers", () => api(pods, containers)),
      loop("nesting", () => direct("/validate", nesting)),
    ];
    const sockets = idleSockets();
    await legitDone;
    attacking = false;
    await Promise.all([...attacks, health]);
    for (const s of await sockets) s.destroy();
    clearInterval(sampler);

    // Still the same process, and still answering correctly.
    const exited = await Promise.race([
      server.exited.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 100)),
    ]);
    const after = await cp.request(
      "POST",
      `/api/v1/namespaces/${namespace}/pods`,
      restrictedPod(uniqueName("after"), namespace),
    );
    const memory = memoryOf(pid);
    const end = await memoryMetrics(server);
    const afterPod = after.json as { metadata?: { annotations?: Record<string, string> } };

    // Figures for docs/reliability.md.
    const ms = legit.map((r) => r.ms).sort((a, b) => a - b);
    const pct = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? 0;
    const lines = [
      `legitimate Pods: ${legit.length} created at ${LEGIT_PER_SECOND}/s, ${legit.filter((r) => r.status !== 201).length} failed, ${legit.filter((r) => !r.injected).length} not injected; p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${ms.at(-1)} ms`,
      `webhook RSS: peak (VmHWM) ${memory.peak.toFixed(1)} MiB, sampled max ${rssMax.toFixed(1)} MiB, at the end ${memory.rss.toFixed(1)} MiB; limit ${settings.limitMiB} MiB; node ${settings.nodeArgs.join(" ")} ${Object.entries(
        settings.env,
      )
        .map(([k, v]) => `${k}=${v}`)
        .join(" ")}`,
      `memory before the attack: ${idle}; after it: ${end}`,
      `health probes: ${healthMs.length}, ${healthFailures} failed, max ${Math.max(...healthMs)} ms`,
      `idle sockets: ${socketsOpened} opened, ${socketsClosedByServer} closed by the server during the attack`,
      ...[...outcomes].map(([shape, answers]) => {
        const byKind = new Map<string, number>();
        for (const a of answers) {
          const message = a.message
            .replace(/admission webhook "[^"]+" denied the request: /, "denied: ")
            .replace(/failed calling webhook "[^"]+"/, "failed calling webhook")
            .replace(/"hostile-\w+"/, '"hostile-*"');
          const key = `${a.status} ${message.slice(0, 160)}`;
          byKind.set(key, (byKind.get(key) ?? 0) + 1);
        }
        const times = answers.map((a) => a.ms).sort((a, b) => a - b);
        return `${shape}: ${answers.length} sent, median ${times[Math.floor(times.length / 2)]} ms; ${[...byKind].map(([k, n]) => `${n} x ${k}`).join(" | ")}`;
      }),
    ];
    console.log(lines.map((l) => `[hostile] ${l}`).join("\n"));

    expect(legit.filter((r) => r.status !== 201 || !r.injected).map((r) => r.message)).toEqual([]);
    expect(legit.length).toBeGreaterThanOrEqual((ATTACK_MS / 1000) * LEGIT_PER_SECOND - 1);
    expect(exited).toBe(false);
    expect(after.status).toBe(201);
    expect(afterPod.metadata?.annotations?.["ca-trust.dev/injected"]).toMatch(/^sha256:/);
    expect(memory.peak).toBeLessThan(settings.limitMiB);
    expect(healthFailures).toBe(0);
    expect(socketsOpened).toBe(4_000);
    expect(socketsClosedByServer).toBeGreaterThan(0);
    for (const shape of Object.keys(REFUSALS)) {
      const answers = outcomes.get(shape) ?? [];
      expect(answers.length, `${shape} was sent`).toBeGreaterThan(0);
      const accepted = [...(REFUSALS[shape] ?? []), shape === "nesting" ? BUSY_DIRECT : BUSY];
      const unclear = answers.filter(
        (a) => !accepted.some((r) => r.status.includes(a.status) && r.message.test(a.message)),
      );
      expect(unclear.map((a) => `${shape}: ${a.status} ${a.message.slice(0, 300)}`)).toEqual([]);
    }
  }, 240_000);
});

describe("an object whose status holds a __proto__ key", () => {
  let server: WebhookServer;
  let registration: WebhookRegistration;
  let namespace: string;

  beforeAll(async () => {
    namespace = await createTestNamespace(cp, { prefix: "proto" });
    server = await startWebhook(cp);
    registration = await registerWebhooks(cp, {
      url: server.url,
      caBundle: server.caPem,
      mutating: false,
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
    });
    await waitForWebhookCalled(cp, server, { namespace, registration });
  });
  afterAll(async () => {
    await registration?.unregister();
    await server?.stop();
  });

  // The issue's case is a DataPlane, but the real DataPlane CRD prunes a `__proto__` key from
  // its status (it keeps no unknown field); the real Connector CRD keeps it in
  // `status.annotations` (a map of strings), so the Connector is where it can be stored.
  it("can still have its finalizer removed once deleted, and is gone", async () => {
    const name = uniqueName("conn");
    const resource = "connectors.connectors.alauda.io";
    const connector = {
      apiVersion: "connectors.alauda.io/v1alpha1",
      kind: "Connector",
      metadata: { name, namespace, finalizers: ["e2e.ca-trust.dev/hold"] },
      spec: { caCertSecretRef: { name: "agent-ca" } },
    };
    await cp.kubectl(["apply", "-f", "-"], { input: toYaml(connector) });
    const path = `/apis/connectors.alauda.io/v1alpha1/namespaces/${namespace}/connectors/${name}`;

    // Through the status subresource, which the webhook never sees.
    const patched = await cp.kubectl([
      "patch",
      resource,
      name,
      "-n",
      namespace,
      "--subresource=status",
      "--type=merge",
      "-p",
      '{"status":{"annotations":{"__proto__":"polluted","constructor":"x"}}}',
    ]);
    expect(patched.code).toBe(0);
    const stored = await cp.request("GET", path);
    expect(stored.body).toContain('"__proto__":"polluted"');

    // An ordinary update of it is decided (the key is dropped while decoding), not refused.
    const labelled = await cp.kubectl(["label", resource, name, "-n", namespace, "team=a"]);
    expect(labelled.code).toBe(0);

    await cp.kubectl(["delete", resource, name, "-n", namespace, "--wait=false"]);
    const removed = await cp.kubectl(
      [
        "patch",
        resource,
        name,
        "-n",
        namespace,
        "--type=json",
        "-p",
        '[{"op":"remove","path":"/metadata/finalizers"}]',
      ],
      { allowFail: true },
    );
    expect(removed.code, removed.stderr).toBe(0);
    await pollUntil(
      async () => ((await cp.request("GET", path)).status === 404 ? true : undefined),
      {
        what: `Connector ${namespace}/${name} to be gone`,
        timeoutMs: 30_000,
      },
    );
    // Both updates reached the webhook and were decided.
    const updates = () =>
      server.reviews().filter((r) => r.name === name && r.operation === "UPDATE");
    // The log lines are read as the server writes them: wait for the second one.
    await pollUntil(async () => (updates().length >= 2 ? true : undefined), {
      what: `two UPDATE reviews of ${name} in the webhook's log`,
      timeoutMs: 10_000,
    }).catch(() => undefined);
    expect(updates().map((r) => r.decision)).toEqual(["allowed", "allowed"]);
  });
});
