/**
 * The Secret guard's figures (issue 16, acceptance 4), in-process:
 *
 * - the decision for an UPDATE of a Secret nothing references (the common case: every Secret
 *   write of the cluster but the few CA Secrets), with the reference index holding 10,000
 *   referencing objects: p50/p99 of `guard` alone, and of decode + decide + envelope;
 * - the memory the index costs at N referencing objects: the real ReferenceWatcher
 *   (discovery, paged LIST, watch, projection, index) against a minimal API on loopback that
 *   serves N DataPlanes as a kube-apiserver writes them (managedFields included), with the
 *   V8 heap measured after a full GC before the watcher starts and once it has synced.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { KubeConfig } from "@kubernetes/client-node";
import { respond } from "../../src/admission/response.js";
import { decodeReview } from "../../src/admission/review.js";
import { defaultDecisionSettings } from "../../src/config.js";
import type { KubeObject } from "../../src/core/types.js";
import { buildDecisions, policySettings } from "../../src/decisions.js";
import { ReferenceIndex } from "../../src/kube/reference-index.js";
import { ReferenceWatcher } from "../../src/kube/references.js";
import { silentLogger } from "../../src/observability/logger.js";
import { referencesOf } from "../../src/policy/references.js";
import { type BenchBundles, benchClusterView } from "./fixtures.js";
import { percentiles } from "./load.js";

/** The guard micro-benchmark's figures (JSON field names as written to `--json`). */
export interface GuardFigures {
  n: number;
  /** Referencing objects in the index while the decisions ran. */
  index_objects: number;
  /** `guard(request)` alone: the decision from memory. */
  decide_p50_ms: number;
  decide_p99_ms: number;
  decide_max_ms: number;
  /** decodeReview(JSON.parse(body)) + guard + respond: what the route does around it. */
  in_process_p50_ms: number;
  in_process_p99_ms: number;
  body_bytes: number;
  decision: string;
}

/** The index's memory (JSON field names as written to `--json`). */
export interface IndexMemoryFigures {
  objects: number;
  /** Bytes of one DataPlane as the API lists it (compact JSON). */
  object_bytes: number;
  sync_s: number;
  /** V8 heap in use after a full GC: before the watcher, and once it has synced. */
  heap_before_mb: number;
  heap_after_mb: number;
  heap_delta_mb: number;
  heap_bytes_per_object: number;
  rss_before_mb: number;
  rss_after_mb: number;
  index: { objects: number; secrets: number; references: number };
}

const SECRET_NAMESPACE = "platform";

/** A DataPlane as a kube-apiserver lists it: labels, annotations, managedFields, status. */
function dataPlane(i: number): Record<string, unknown> {
  const name = `plane-${String(i).padStart(5, "0")}`;
  const namespace = `team-${String(i % 500).padStart(3, "0")}`;
  return {
    apiVersion: "openchoreo.dev/v1alpha1",
    kind: "DataPlane",
    metadata: {
      name,
      namespace,
      uid: `0f1e2d3c-4b5a-4978-8a6b-${String(i).padStart(12, "0")}`,
      resourceVersion: String(1000 + i),
      generation: 1,
      creationTimestamp: "2026-06-01T00:00:00Z",
      labels: { "app.kubernetes.io/part-of": "openchoreo", "openchoreo.dev/org": "acme" },
      annotations: { "openchoreo.dev/description": `data plane ${i} of the benchmark` },
      managedFields: [
        {
          manager: "kubectl-client-side-apply",
          operation: "Update",
          apiVersion: "openchoreo.dev/v1alpha1",
          time: "2026-06-01T00:00:00Z",
          fieldsType: "FieldsV1",
          fieldsV1: {
            "f:metadata": { "f:labels": { ".": {}, "f:app.kubernetes.io/part-of": {} } },
            "f:spec": { ".": {}, "f:planeID": {}, "f:clusterAgent": { ".": {}, "f:clientCA": {} } },
          },
        },
      ],
    },
    spec: {
      planeID: name,
      clusterAgent: {
        clientCA: { secretKeyRef: { name: `agent-ca-${i % 2000}`, key: "ca.crt" } },
      },
      gateway: { publicVirtualHost: `${name}.apps.example.com`, organizationVirtualHost: "acme" },
    },
    status: { conditions: [{ type: "Ready", status: "True", reason: "Connected" }] },
  };
}

/** An UPDATE of a kubernetes.io/tls Secret that no object references, as the apiserver sends it. */
function unreferencedSecretUpdate(): string {
  const blob = (n: number) => Buffer.alloc(n, 7).toString("base64");
  const secret = (rv: string) => ({
    apiVersion: "v1",
    kind: "Secret",
    type: "kubernetes.io/tls",
    metadata: {
      name: "web-tls",
      namespace: SECRET_NAMESPACE,
      uid: "5b4c3d2e-1f0a-4b9c-8d7e-6f5a4b3c2d1e",
      resourceVersion: rv,
      creationTimestamp: "2026-06-01T00:00:00Z",
      labels: { "controller.cert-manager.io/fao": "true" },
      annotations: {
        "cert-manager.io/certificate-name": "web",
        "cert-manager.io/issuer-kind": "Issuer",
      },
    },
    data: { "tls.crt": blob(1400), "tls.key": blob(1200), "ca.crt": blob(700) },
  });
  return JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "8c1f5e2a-3d4b-4c6a-9e8f-7a6b5c4d3e2f",
      kind: { group: "", version: "v1", kind: "Secret" },
      resource: { group: "", version: "v1", resource: "secrets" },
      requestKind: { group: "", version: "v1", kind: "Secret" },
      requestResource: { group: "", version: "v1", resource: "secrets" },
      name: "web-tls",
      namespace: SECRET_NAMESPACE,
      operation: "UPDATE",
      userInfo: {
        username: "system:serviceaccount:cert-manager:cert-manager",
        groups: ["system:serviceaccounts"],
      },
      object: secret("2002"),
      oldObject: secret("2001"),
      dryRun: false,
      options: { kind: "UpdateOptions", apiVersion: "meta.k8s.io/v1" },
    },
  });
}

/** Runs the decision `n` times (after 2,000 warm-up calls) with 10,000 objects in the index. */
export async function guardBenchmark(n: number, bundles: BenchBundles): Promise<GuardFigures> {
  const settings = defaultDecisionSettings();
  const policy = policySettings(settings);
  const index = new ReferenceIndex();
  const gvk = { group: "openchoreo.dev", version: "v1alpha1", kind: "DataPlane" };
  for (let i = 0; i < 10_000; i++) {
    const object = dataPlane(i);
    const meta = object.metadata as { name: string; namespace: string };
    index.set(
      `dataplanes.openchoreo.dev ${meta.namespace}/${meta.name}`,
      { group: gvk.group, kind: gvk.kind, namespace: meta.namespace, name: meta.name },
      referencesOf(object as KubeObject, gvk, policy),
    );
  }
  const { guard } = buildDecisions(settings, benchClusterView(bundles), { references: index });
  const body = unreferencedSecretUpdate();
  const request = decodeReview(JSON.parse(body));
  const context = { deadline: undefined };
  const first = await guard(request, context);
  for (let i = 0; i < 2_000; i++) await guard(request, context);

  const decide: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await guard(request, context);
    decide.push(performance.now() - t0);
  }
  const whole: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const decoded = decodeReview(JSON.parse(body));
    respond(decoded.uid, await guard(decoded, context));
    whole.push(performance.now() - t0);
  }
  const d = percentiles(decide);
  const w = percentiles(whole);
  const ms = (v: number) => Math.round(v * 10_000) / 10_000;
  return {
    n,
    index_objects: index.sizes().objects,
    decide_p50_ms: ms(d.p50Ms),
    decide_p99_ms: ms(d.p99Ms),
    decide_max_ms: ms(d.maxMs),
    in_process_p50_ms: ms(w.p50Ms),
    in_process_p99_ms: ms(w.p99Ms),
    body_bytes: Buffer.byteLength(body),
    decision:
      first.kind === "allow" && first.warnings.length === 0 ? "allow" : JSON.stringify(first),
  };
}

/**
 * The real ReferenceWatcher filled with `objects` DataPlanes from a loopback API; the heap is
 * measured after a full GC before and after (objects are generated page by page, so the API
 * itself holds none of them).
 */
export async function indexMemory(objects: number): Promise<IndexMemoryFigures> {
  const gc = exposeGc();
  const api = await servePlanes(objects);
  try {
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const rssBefore = process.memoryUsage().rss;
    const watcher = new ReferenceWatcher(api.kubeConfig, {
      settings: policySettings(defaultDecisionSettings()),
      logger: silentLogger(),
      rediscoverMs: 3_600_000,
    });
    const t0 = performance.now();
    await watcher.start();
    const syncS = (performance.now() - t0) / 1000;
    if (!watcher.health().ok) throw new Error(`index not ready: ${watcher.health().reason}`);
    gc();
    const heapAfter = process.memoryUsage().heapUsed;
    const rssAfter = process.memoryUsage().rss;
    const index = watcher.index.sizes();
    await watcher.stop();
    const mb = (b: number) => Math.round((b / 1048576) * 100) / 100;
    return {
      objects,
      object_bytes: Buffer.byteLength(JSON.stringify(dataPlane(0))),
      sync_s: Math.round(syncS * 100) / 100,
      heap_before_mb: mb(heapBefore),
      heap_after_mb: mb(heapAfter),
      heap_delta_mb: mb(heapAfter - heapBefore),
      heap_bytes_per_object: Math.round((heapAfter - heapBefore) / objects),
      rss_before_mb: mb(rssBefore),
      rss_after_mb: mb(rssAfter),
      index,
    };
  } finally {
    await api.close();
  }
}

function exposeGc(): () => void {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  return () => {
    gc();
    gc();
  };
}

/**
 * A loopback API serving discovery of `openchoreo.dev/v1alpha1` dataplanes, paged LISTs of
 * `count` generated DataPlanes, and watches that stay open without events.
 */
async function servePlanes(
  count: number,
): Promise<{ kubeConfig: KubeConfig; close: () => Promise<void> }> {
  const open = new Set<ServerResponse>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://loopback");
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === "/apis") {
      return json(200, {
        kind: "APIGroupList",
        apiVersion: "v1",
        groups: [
          {
            name: "openchoreo.dev",
            versions: [{ groupVersion: "openchoreo.dev/v1alpha1", version: "v1alpha1" }],
            preferredVersion: { groupVersion: "openchoreo.dev/v1alpha1", version: "v1alpha1" },
          },
        ],
      });
    }
    if (url.pathname === "/apis/openchoreo.dev/v1alpha1") {
      return json(200, {
        kind: "APIResourceList",
        apiVersion: "v1",
        groupVersion: "openchoreo.dev/v1alpha1",
        resources: [
          {
            name: "dataplanes",
            singularName: "dataplane",
            namespaced: true,
            kind: "DataPlane",
            verbs: ["list", "watch"],
          },
        ],
      });
    }
    if (url.pathname !== "/apis/openchoreo.dev/v1alpha1/dataplanes") return json(404, {});
    if (url.searchParams.get("watch") === "true") {
      res.writeHead(200, { "content-type": "application/json" });
      res.flushHeaders();
      open.add(res);
      res.on("close", () => open.delete(res));
      return;
    }
    const limit = Number(url.searchParams.get("limit") ?? count);
    const offset = Number(url.searchParams.get("continue") ?? 0);
    const items: unknown[] = [];
    for (let i = offset; i < Math.min(count, offset + limit); i++) items.push(dataPlane(i));
    const more = offset + limit < count;
    json(200, {
      apiVersion: "openchoreo.dev/v1alpha1",
      kind: "DataPlaneList",
      metadata: { resourceVersion: "99999", ...(more ? { continue: String(offset + limit) } : {}) },
      items,
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: "loopback", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "bench", token: "t" }],
    contexts: [{ name: "bench", cluster: "loopback", user: "bench" }],
    currentContext: "bench",
  });
  return {
    kubeConfig,
    close: async () => {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
