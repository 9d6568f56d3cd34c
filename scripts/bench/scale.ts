/**
 * The scale run (issue 7): a real kube-apiserver + etcd (the e2e harness's control plane)
 * holding N namespaces labelled for injection, each with its CA ConfigMap, and (issue 16) the
 * rule table's CRDs with M DataPlanes referencing CA Secrets; then the webhook child with the
 * informer-backed KubeClusterView (CA ConfigMaps by name in every namespace, Namespaces, the
 * flag ConfigMap, labelled Secrets): time until every cache has synced, RSS after the sync,
 * then the Secret guard's reference index (its sync, and the heap after a full GC with and
 * without it), and RSS and latency while it answers scenario (a) from those caches. Then
 * scenario (b), the Connector, against the same view: its Secret is read from the apiserver
 * (a GET per review, after a SubjectAccessReview answered from its cache), which is what a
 * validation costs when nothing about the Secret is reused.
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { performance } from "node:perf_hooks";
import { resolveBinaries } from "../harness/binaries.js";
import { startControlPlane } from "../harness/controlplane.js";
import { installCrds } from "../harness/crds.js";
import { startChild } from "./child.js";
import {
  CA_CONFIGMAP,
  CONNECTOR_NAMESPACE,
  caBundle,
  connectorReview,
  FLAG_CONFIGMAP,
  POD_NAMESPACE,
  podReview,
  SECRET_3_CERTS,
  servingCertificate,
} from "./fixtures.js";
import { APISERVER_QUERY, closedLoop } from "./load.js";

/** What the scale run measured (JSON field names as written to `--json`). */
export interface ScaleFigures {
  namespaces: number;
  configmaps: number;
  /** Bytes of `ca-bundle.crt` in each CA ConfigMap. */
  bundle_bytes: number;
  control_plane_start_s: number;
  /** Creating the namespaces and ConfigMaps through the API (48 requests in flight). */
  create_s: number;
  create_per_s: number;
  /** From KubeClusterView.start() to every watch listed and established. */
  sync_s: number;
  cache_objects: Record<string, number>;
  /** Webhook process RSS right after the sync, and its peak so far (ru_maxrss). */
  rss_after_sync_mb: number;
  rss_peak_after_sync_mb: number;
  /** V8 heap in use after a full GC that followed the sync: what the caches really keep. */
  heap_live_after_sync_mb: number;
  /** DataPlanes (each referencing a CA Secret) created for the reference index. */
  referencing_objects: number;
  /** The reference index, started after the view: its sync, its size, heap and RSS after it. */
  index_sync_s: number;
  index_sizes: Record<string, number>;
  heap_live_with_index_mb: number;
  index_heap_mb: number;
  rss_with_index_mb: number;
  /** Scenario (a) answered from these caches for `load_s` seconds (closed loop). */
  load_s: number;
  load_rps: number;
  load_p99_ms: number;
  load_errors: number;
  load_answer: string;
  /** Scenario (b), the Connector, its Secret read from the apiserver, for `load_s` seconds. */
  connector_rps: number;
  connector_p50_ms: number;
  connector_p99_ms: number;
  connector_errors: number;
  connector_answer: string;
  /** Peak RSS of the webhook over its whole life (sync + load). */
  rss_peak_mb: number;
  total_s: number;
}

/** Options of {@link scaleRun}. */
export interface ScaleOptions {
  namespaces: number;
  /** DataPlanes referencing CA Secrets (the reference index); default 10,000. */
  referencing?: number;
  /** Seconds of scenario (a) against the synced view. */
  loadS?: number;
  connections?: number;
  log: (message: string) => void;
}

/** Runs the scale run; the control plane is always stopped. */
export async function scaleRun(options: ScaleOptions): Promise<ScaleFigures> {
  const t0 = performance.now();
  const { log } = options;
  const binDir = await resolveBinaries();
  const cp = await startControlPlane({ binDir, log: (m) => log(`  [control plane] ${m}`) });
  try {
    const controlPlaneStartS = cp.startupMs / 1000;
    const agent = new Agent({
      keepAlive: true,
      maxSockets: 48,
      ca: cp.caPem,
      cert: readFileSync(cp.adminCertPath, "utf8"),
      key: readFileSync(cp.adminKeyPath, "utf8"),
    });
    const api = (path: string, body: unknown) => post(agent, cp.server, path, body);

    // Three RSA-2048 CAs: the size of a typical private bundle (root, intermediate, old root).
    const bundle = await caBundle(3, "Scale Private", new Date(), "RSA-2048");
    const names = Array.from({ length: options.namespaces }, (_, i) =>
      i === 0 ? POD_NAMESPACE : `team-${String(i).padStart(5, "0")}`,
    );
    log(`creating ${names.length} namespaces and ${names.length} CA ConfigMaps ...`);
    const c0 = performance.now();
    await api("/api/v1/namespaces", namespace(FLAG_CONFIGMAP.namespace, {}));
    await api(`/api/v1/namespaces/${FLAG_CONFIGMAP.namespace}/configmaps`, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: FLAG_CONFIGMAP.name, namespace: FLAG_CONFIGMAP.namespace },
      data: { [FLAG_CONFIGMAP.key]: "true" },
    });
    // Each worker creates a namespace and then its ConfigMap, so both kinds flow together.
    await inParallel(names, 48, async (name) => {
      await api(
        "/api/v1/namespaces",
        namespace(name, {
          "ca-trust.dev/inject": "enabled",
          "team.example.com/cost-center": "cc-42",
        }),
      );
      await api(`/api/v1/namespaces/${name}/configmaps`, {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: {
          name: CA_CONFIGMAP.name,
          namespace: name,
          labels: { "app.kubernetes.io/managed-by": "trust-distributor" },
        },
        data: { [CA_CONFIGMAP.key]: bundle },
      });
    });
    const createS = (performance.now() - c0) / 1000;
    // Scenario (b)'s Secret, and the right of the review's user (alice) to read it: the
    // webhook reads a Secret only for a user who may get it.
    const secretBundle = await caBundle(3, "Git Private", new Date());
    await api("/api/v1/namespaces", namespace(CONNECTOR_NAMESPACE, {}));
    await api(`/api/v1/namespaces/${CONNECTOR_NAMESPACE}/secrets`, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: SECRET_3_CERTS, namespace: CONNECTOR_NAMESPACE },
      stringData: { "ca.crt": secretBundle, token: "not-a-certificate" },
    });
    await api(`/apis/rbac.authorization.k8s.io/v1/namespaces/${CONNECTOR_NAMESPACE}/roles`, {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "read-ca", namespace: CONNECTOR_NAMESPACE },
      rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }],
    });
    await api(`/apis/rbac.authorization.k8s.io/v1/namespaces/${CONNECTOR_NAMESPACE}/rolebindings`, {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "read-ca", namespace: CONNECTOR_NAMESPACE },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "read-ca" },
      subjects: [
        { apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "alice@example.com" },
      ],
    });
    log(`  created ${2 * names.length} objects in ${createS.toFixed(1)} s`);

    // The Secret guard's index: the rule table's CRDs and DataPlanes referencing CA Secrets.
    const referencing = options.referencing ?? 10_000;
    const crds = await installCrds(cp);
    log(`  ${crds.length} CRDs established; creating ${referencing} DataPlanes ...`);
    const r0 = performance.now();
    const planes = Array.from({ length: referencing }, (_, i) => i);
    await inParallel(planes, 48, async (i) => {
      const ns = names[i % names.length] as string;
      await api(`/apis/openchoreo.dev/v1alpha1/namespaces/${ns}/dataplanes`, {
        apiVersion: "openchoreo.dev/v1alpha1",
        kind: "DataPlane",
        metadata: { name: `plane-${String(i).padStart(5, "0")}`, namespace: ns },
        spec: {
          planeID: `plane-${i}`,
          clusterAgent: { clientCA: { secretKeyRef: { name: "agent-ca", key: "ca.crt" } } },
        },
      });
    });
    log(`  created ${referencing} DataPlanes in ${((performance.now() - r0) / 1000).toFixed(1)} s`);
    agent.destroy();

    const tls = await servingCertificate();
    log("starting the webhook with the informer-backed view ...");
    const child = await startChild("webhook", {
      tls,
      kubeconfig: cp.kubeconfigPath,
      startTimeoutMs: 300_000,
      nodeFlags: ["--expose-gc"],
    });
    try {
      const afterSync = await child.report();
      log(
        `  synced in ${((child.syncMs ?? 0) / 1000).toFixed(2)} s: ${JSON.stringify(child.cacheSizes)}; RSS ${(child.rssAfterSyncMb ?? 0).toFixed(0)} MiB`,
      );
      const loadS = options.loadS ?? 5;
      const target = { port: child.port, path: "/mutate" as const, body: podReview() };
      const answer = await describeAnswer(target.port, target.path, target.body);
      log(`scenario (a) against the synced view for ${loadS} s (answer: ${answer}) ...`);
      await child.reset();
      await child.resume();
      const load = await closedLoop(target, {
        connections: options.connections ?? 10,
        durationS: loadS,
      });
      await child.pause();
      const validate = { port: child.port, path: "/validate" as const, body: connectorReview() };
      const connectorAnswer = await describeAnswer(validate.port, validate.path, validate.body);
      log(
        `scenario (b) reading its Secret from the apiserver for ${loadS} s (answer: ${connectorAnswer}) ...`,
      );
      await child.resume();
      const connector = await closedLoop(validate, {
        connections: options.connections ?? 10,
        durationS: loadS,
      });
      await child.pause();
      const after = await child.report();
      return {
        namespaces: names.length,
        configmaps: names.length,
        bundle_bytes: Buffer.byteLength(bundle),
        control_plane_start_s: round(controlPlaneStartS),
        create_s: round(createS),
        create_per_s: Math.round((2 * names.length) / createS),
        sync_s: round((child.syncMs ?? 0) / 1000),
        cache_objects: child.cacheSizes ?? {},
        rss_after_sync_mb: round(child.rssAfterSyncMb ?? afterSync.rssMb),
        rss_peak_after_sync_mb: round(afterSync.maxRssMb),
        heap_live_after_sync_mb: round(child.heapLiveMb ?? afterSync.heapUsedMb),
        referencing_objects: referencing,
        index_sync_s: round((child.index?.syncMs ?? 0) / 1000),
        index_sizes: child.index?.sizes ?? {},
        heap_live_with_index_mb: round(child.index?.heapLiveMb ?? 0),
        index_heap_mb: round((child.index?.heapLiveMb ?? 0) - (child.heapLiveMb ?? 0)),
        rss_with_index_mb: round(child.index?.rssMb ?? 0),
        load_s: loadS,
        load_rps: round(load.rps),
        load_p99_ms: round(load.p99Ms),
        load_errors: load.errors,
        load_answer: answer,
        connector_rps: round(connector.rps),
        connector_p50_ms: round(connector.p50Ms),
        connector_p99_ms: round(connector.p99Ms),
        connector_errors: connector.errors,
        connector_answer: connectorAnswer,
        rss_peak_mb: round(after.maxRssMb),
        total_s: round((performance.now() - t0) / 1000),
      };
    } finally {
      await child.stop();
    }
  } finally {
    await cp.stop();
  }
}

function namespace(name: string, labels: Record<string, string>) {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } };
}

/** POSTs a JSON object; rejects unless the apiserver answers 201 (or 409: it exists). */
function post(agent: Agent, server: string, path: string, body: unknown): Promise<void> {
  const payload = Buffer.from(JSON.stringify(body), "utf8");
  const url = new URL(path, server);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": payload.length },
        timeout: 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          if (res.statusCode === 201 || res.statusCode === 409) resolve();
          else {
            const text = Buffer.concat(chunks).toString("utf8").slice(0, 300);
            reject(new Error(`POST ${path}: HTTP ${res.statusCode}: ${text}`));
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`POST ${path}: timeout`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/** Runs `work` over `items` with at most `limit` in flight; the first failure rejects. */
async function inParallel<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

async function describeAnswer(
  port: number,
  path: "/mutate" | "/validate",
  body: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: `${path}${APISERVER_QUERY}`,
        method: "POST",
        rejectUnauthorized: false,
        headers: { "content-type": "application/json" },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          try {
            const r = (
              JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
                response?: { allowed?: boolean; patch?: string; status?: { code?: number } };
              }
            ).response;
            resolve(
              r?.allowed !== true
                ? `deny ${r?.status?.code ?? res.statusCode}`
                : r.patch
                  ? "patch"
                  : "allow",
            );
          } catch {
            resolve(`HTTP ${res.statusCode}`);
          }
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
