/**
 * The reference index's watches (kube/references.ts) against a scripted API: discovery picks
 * what is served, objects become references as they are listed and watched, kinds installed or
 * removed later are followed, and readiness waits only for what exists.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ReferenceIndex } from "../../../src/kube/reference-index.js";
import { type Discovery, ReferenceWatcher, servedResources } from "../../../src/kube/references.js";
import { silentLogger } from "../../../src/observability/logger.js";
import type { PolicySettings } from "../../../src/policy/engine.js";
import type { SecretReference } from "../../../src/policy/references.js";
import { BUILTIN_RULES, parseRules, type ReferenceRule } from "../../../src/policy/rules.js";
import { FakeApi, type FakeObject } from "./fake-api.js";

const SETTINGS: PolicySettings = {
  rules: BUILTIN_RULES,
  systemNamespace: "connectors-system",
  missingSecret: "warn",
  allowedSecretNamespaces: [],
  unverifiable: "deny",
  authorizeReferences: true,
  secretNamespaces: [],
  trustedSecretNamespaces: [],
  expiringWithinDays: 30,
};
const REFERENCE_RULES = BUILTIN_RULES.filter((r): r is ReferenceRule => r.type === "reference");

const DATAPLANES = "/apis/openchoreo.dev/v1alpha1/dataplanes";
const SHARDS = "/apis/operator.kcp.io/v1alpha1/shards";

const dataPlane = (
  namespace: string,
  name: string,
  secret: string,
  key = "ca.crt",
): FakeObject => ({
  apiVersion: "openchoreo.dev/v1alpha1",
  kind: "DataPlane",
  metadata: { namespace, name },
  spec: { clusterAgent: { clientCA: { secretKeyRef: { name: secret, key } } } },
});
const shard = (namespace: string, name: string, secret: string): FakeObject => ({
  apiVersion: "operator.kcp.io/v1alpha1",
  kind: "Shard",
  metadata: { namespace, name },
  spec: { caBundleSecretRef: { name: secret } },
});

/** Who references Secret ns/name, as `Kind ns/name path key`. */
function who(index: ReferenceIndex, namespace: string, name: string): string[] {
  return index
    .referrers(namespace, name)
    .map((r) => `${r.kind} ${r.namespace}/${r.name} ${r.reference.path} ${r.reference.key ?? "*"}`);
}

let api: FakeApi;
const watchers: ReferenceWatcher[] = [];

beforeEach(async () => {
  api = new FakeApi();
  await api.start();
});

afterEach(async () => {
  for (const w of watchers.splice(0)) await w.stop();
  await api.stop();
});

function watcher(rediscoverMs = 60_000): ReferenceWatcher {
  const w = new ReferenceWatcher(api.kubeConfig(), {
    settings: SETTINGS,
    logger: silentLogger(),
    rediscoverMs,
  });
  watchers.push(w);
  return w;
}

/** Waits for `check` to pass; the bound only stops a hang (a loaded CI machine is slow). */
async function eventually(check: () => void | Promise<void>): Promise<void> {
  await vi.waitFor(check, { timeout: 20_000, interval: 10 });
}

function serveDataPlanes(): void {
  api.served.set("openchoreo.dev/v1alpha1", [
    { name: "dataplanes", kind: "DataPlane", namespaced: true },
    { name: "clusterdataplanes", kind: "ClusterDataPlane", namespaced: false },
  ]);
}

describe("discovery: servedResources", () => {
  const discovery = (
    groups: Record<string, string[]>,
    resources: Record<string, { name: string; kind: string; namespaced: boolean }[]>,
  ): Discovery => ({
    apiGroups: async () => new Map(Object.entries(groups)),
    apiResources: async (group, version) => resources[`${group}/${version}`],
  });

  it("takes the preferred version that serves the kind, skips what is not installed", async () => {
    const served = await servedResources(
      REFERENCE_RULES,
      discovery(
        { "openchoreo.dev": ["v1alpha1"], "operator.kcp.io": ["v1alpha1"] },
        {
          "openchoreo.dev/v1alpha1": [{ name: "dataplanes", kind: "DataPlane", namespaced: true }],
          "operator.kcp.io/v1alpha1": [
            { name: "shards", kind: "Shard", namespaced: true },
            { name: "shards/status", kind: "Shard", namespaced: true },
          ],
        },
      ),
    );
    expect(served.map((s) => `${s.resource}.${s.group}/${s.version}`)).toEqual([
      "dataplanes.openchoreo.dev/v1alpha1",
      "shards.operator.kcp.io/v1alpha1",
    ]);
  });

  it("falls back to another served version the rule allows, and honours a rule's versions", async () => {
    const [rule] = parseRules([
      {
        name: "widgets",
        apiGroups: ["example.com"],
        kinds: { Widget: "widgets" },
        versions: ["v1beta1"],
        references: [{ refs: ["spec.caRef"], keys: { mode: "fixed", key: "ca.crt" } }],
      },
    ]) as ReferenceRule[];
    const widgets = [{ name: "widgets", kind: "Widget", namespaced: true }];
    const served = await servedResources(
      [rule as ReferenceRule],
      discovery(
        { "example.com": ["v1", "v1beta1"] },
        { "example.com/v1": widgets, "example.com/v1beta1": widgets },
      ),
    );
    expect(served.map((s) => s.version)).toEqual(["v1beta1"]);
  });
});

describe("ReferenceWatcher against a scripted API", () => {
  it("indexes the references of listed objects, then follows adds, changes and deletes", async () => {
    serveDataPlanes();
    api.set(DATAPLANES, [dataPlane("acme", "dp1", "agent-ca")]);
    const w = watcher();
    await w.start();
    expect(w.health()).toEqual({ ok: true });
    expect(w.resources()).toEqual([
      "dataplanes.openchoreo.dev/v1alpha1",
      "clusterdataplanes.openchoreo.dev/v1alpha1",
    ]);
    expect(who(w.index, "acme", "agent-ca")).toEqual([
      "DataPlane acme/dp1 spec.clusterAgent.clientCA.secretKeyRef ca.crt",
    ]);
    await eventually(() => expect(api.openWatches(DATAPLANES)).toBe(1));

    api.emit(DATAPLANES, "ADDED", dataPlane("acme", "dp2", "agent-ca"));
    await eventually(() => expect(who(w.index, "acme", "agent-ca")).toHaveLength(2));

    // dp1 now points at another Secret (and another key).
    api.emit(DATAPLANES, "MODIFIED", dataPlane("acme", "dp1", "new-ca", "bundle.pem"));
    await eventually(() =>
      expect(who(w.index, "acme", "new-ca")).toEqual([
        "DataPlane acme/dp1 spec.clusterAgent.clientCA.secretKeyRef bundle.pem",
      ]),
    );
    expect(who(w.index, "acme", "agent-ca")).toEqual([
      "DataPlane acme/dp2 spec.clusterAgent.clientCA.secretKeyRef ca.crt",
    ]);

    api.emit(DATAPLANES, "DELETED", dataPlane("acme", "dp2", "agent-ca"));
    await eventually(() => expect(who(w.index, "acme", "agent-ca")).toEqual([]));
    expect(w.index.sizes()).toEqual({ objects: 1, secrets: 1, references: 1 });
  });

  it("reads a large list in pages of 500, following the custom list's continue token", async () => {
    serveDataPlanes();
    api.set(
      DATAPLANES,
      Array.from({ length: 1_200 }, (_, i) => dataPlane("acme", `dp-${i}`, `ca-${i % 3}`)),
    );
    const w = watcher();
    await w.start();
    const pages = api.matching("list", DATAPLANES).map((r) => r.query.get("continue"));
    expect(pages).toEqual([null, "500", "1000"]);
    expect(w.index.sizes()).toEqual({ objects: 1_200, secrets: 3, references: 1_200 });
  });

  it("keeps names and keys only: a cross-namespace reference the engine denies is not indexed", async () => {
    serveDataPlanes();
    const cross = dataPlane("team", "dp", "agent-ca");
    (
      cross.spec as { clusterAgent: { clientCA: { secretKeyRef: Record<string, string> } } }
    ).clusterAgent.clientCA.secretKeyRef.namespace = "platform";
    api.set(DATAPLANES, [cross]);
    const w = watcher();
    await w.start();
    expect(w.index.sizes()).toEqual({ objects: 0, secrets: 0, references: 0 });
  });

  it("never lists or watches Secrets, and only the served kinds of the rule table", async () => {
    serveDataPlanes();
    const w = watcher();
    await w.start();
    const paths = new Set(api.requests.map((r) => r.path));
    expect([...paths].filter((p) => p.includes("secrets"))).toEqual([]);
    expect(api.count("list", DATAPLANES)).toBe(1);
    // Not installed: no list, and readiness does not wait for them.
    expect(api.count("list", SHARDS)).toBe(0);
    expect(w.health().ok).toBe(true);
  });

  it("is not ready until discovery answers, and says so", async () => {
    const w = watcher();
    expect(w.health()).toMatchObject({ ok: false, reason: expect.stringMatching(/discovering/) });
    await w.start();
    expect(w.health()).toEqual({ ok: true });
  });

  it("is not ready while a served kind cannot be listed, naming it and the status", async () => {
    serveDataPlanes();
    api.listFailures.set(DATAPLANES, [403, 403, 403, 403, 403, 403]);
    const w = watcher();
    await w.start();
    expect(w.health()).toEqual({
      ok: false,
      reason: "reference index not synced: references dataplanes.openchoreo.dev (HTTP 403)",
    });
  });

  it("watches a kind installed later without becoming unready, and drops a removed one", async () => {
    serveDataPlanes();
    api.set(DATAPLANES, [dataPlane("acme", "dp1", "agent-ca")]);
    const w = watcher(50);
    await w.start();
    expect(w.health().ok).toBe(true);

    api.served.set("operator.kcp.io/v1alpha1", [
      { name: "shards", kind: "Shard", namespaced: true },
    ]);
    api.set(SHARDS, [shard("acme", "s1", "kcp-ca")]);
    await eventually(() =>
      expect(who(w.index, "acme", "kcp-ca")).toEqual([
        "Shard acme/s1 spec.caBundleSecretRef tls.crt",
      ]),
    );
    expect(w.health().ok).toBe(true);

    api.served.delete("openchoreo.dev/v1alpha1");
    await eventually(() => expect(who(w.index, "acme", "agent-ca")).toEqual([]));
    expect(w.resources()).toEqual(["shards.operator.kcp.io/v1alpha1"]);
    expect(w.health().ok).toBe(true);
  });
});

describe("ReferenceIndex", () => {
  const ref = (namespace: string, name: string, path = "spec.caRef"): SecretReference => ({
    namespace,
    name,
    keys: { mode: "key", key: "ca.crt" },
    key: "ca.crt",
    path,
    featureGate: undefined,
  });
  const object = (name: string) => ({ group: "example.com", kind: "Widget", namespace: "a", name });

  it("replaces an object's references on set and forgets them on delete", () => {
    const index = new ReferenceIndex();
    index.set("w a/one", object("one"), [ref("a", "x"), ref("a", "y", "spec.other")]);
    index.set("w a/two", object("two"), [ref("a", "x")]);
    expect(index.referrers("a", "x").map((r) => r.name)).toEqual(["one", "two"]);
    index.set("w a/one", object("one"), [ref("a", "y")]);
    expect(index.referrers("a", "x").map((r) => r.name)).toEqual(["two"]);
    expect(index.referrers("a", "y").map((r) => r.reference.path)).toEqual(["spec.caRef"]);
    index.delete("w a/two");
    expect(index.referrers("a", "x")).toEqual([]);
    expect(index.sizes()).toEqual({ objects: 1, secrets: 1, references: 1 });
    index.set("w a/one", object("one"), []);
    expect(index.sizes()).toEqual({ objects: 0, secrets: 0, references: 0 });
  });

  it("drops every object of a resource by its key prefix", () => {
    const index = new ReferenceIndex();
    index.set("widgets.example.com a/one", object("one"), [ref("a", "x")]);
    index.set("gadgets.example.com a/two", object("two"), [ref("a", "x")]);
    index.deletePrefix("widgets.example.com ");
    expect(index.referrers("a", "x").map((r) => r.name)).toEqual(["two"]);
  });

  it("does not confuse Secrets whose namespace and name join alike", () => {
    const index = new ReferenceIndex();
    index.set("w a/one", object("one"), [ref("a", "b-c")]);
    expect(index.referrers("a-b", "c")).toEqual([]);
  });
});
