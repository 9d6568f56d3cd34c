import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { KubeClusterView, type KubeClusterViewOptions } from "../../../src/kube/cluster.js";
import { silentLogger } from "../../../src/observability/logger.js";
import { FakeApi, type FakeObject } from "./fake-api.js";

const SYSTEM = "connectors-system";
const FLAGS = `/api/v1/namespaces/${SYSTEM}/configmaps`;
const LABELLED = `/api/v1/namespaces/${SYSTEM}/secrets`;
const CA_CONFIGMAPS = "/api/v1/configmaps";
const NAMESPACES = "/api/v1/namespaces";
const REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

const configMap = (namespace: string, name: string, data: Record<string, string>): FakeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { namespace, name },
  data,
});
const namespace = (name: string, labels: Record<string, string> = {}): FakeObject => ({
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name, labels },
});
const secret = (ns: string, name: string): FakeObject => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { namespace: ns, name },
  data: { "ca.crt": Buffer.from("pem").toString("base64") },
});

let api: FakeApi;
const views: KubeClusterView[] = [];

beforeEach(async () => {
  api = new FakeApi();
  await api.start();
  api.set(FLAGS, [configMap(SYSTEM, "connectors-config", { "enable-custom-ca-certs": "true" })]);
  api.set(NAMESPACES, [namespace("team-a", { "ca-trust.dev/inject": "enabled" })]);
});

afterEach(async () => {
  vi.useRealTimers();
  for (const view of views.splice(0)) await view.stop();
  await api.stop();
});

function view(overrides: Partial<KubeClusterViewOptions> = {}): KubeClusterView {
  const v = new KubeClusterView(api.kubeConfig(), {
    flagConfigMap: { namespace: SYSTEM, name: "connectors-config" },
    labelledSecrets: { namespace: SYSTEM, labelSelector: "connectors.cpaas.io/ca-cert=true" },
    caConfigMapName: "ca-trust-bundle",
    caConfigMapKey: "ca-bundle.crt",
    watchNamespaces: true,
    trustManager: false,
    lookupTtlMs: 60_000,
    maxCachedLookups: 100,
    accessReviewTtlMs: 60_000,
    maxCachedAccessReviews: 100,
    logger: silentLogger(),
    ...overrides,
  });
  views.push(v);
  return v;
}

/** Polls (real time) until `check` passes; the watch protocol is asynchronous. */
async function eventually(check: () => void | Promise<void>): Promise<void> {
  await vi.waitFor(check, { timeout: 5_000, interval: 10 });
}

describe("KubeClusterView against a scripted API", () => {
  describe("sync and readiness", () => {
    it("lists and watches each cache, then is ready and answers from the caches", async () => {
      const v = view();
      await v.start();

      expect(v.health()).toEqual({ ok: true });
      expect(v.featureFlag("enable-custom-ca-certs")).toBe(true);
      expect(v.namespaceLabels("team-a")).toEqual({ "ca-trust.dev/inject": "enabled" });
      expect(v.namespaceLabels("team-b")).toBeUndefined();
      for (const path of [FLAGS, LABELLED, CA_CONFIGMAPS, NAMESPACES]) {
        expect(api.count("list", path)).toBe(1);
        expect(api.count("watch", path)).toBe(1);
      }
      // The same selectors on the list and on the watch (never every ConfigMap of the cluster).
      for (const kind of ["list", "watch"] as const) {
        expect(api.matching(kind, CA_CONFIGMAPS)[0]?.query.get("fieldSelector")).toBe(
          "metadata.name=ca-trust-bundle",
        );
        expect(api.matching(kind, LABELLED)[0]?.query.get("labelSelector")).toBe(
          "connectors.cpaas.io/ca-cert=true",
        );
      }
    });

    it("is not ready while a list is refused, naming the cache and the status", async () => {
      api.listFailures.set(CA_CONFIGMAPS, [403]);
      const v = view();
      await v.start();

      expect(v.health()).toEqual({
        ok: false,
        reason: "caches not synced: ca-configmaps (HTTP 403)",
      });
    });

    it("names every cache still waiting before the first list", () => {
      const v = view({ labelledSecrets: undefined });

      expect(v.health().reason).toBe(
        "caches not synced: flag-configmap (not started), ca-configmaps (not started), namespaces (not started)",
      );
    });
  });

  describe("watches", () => {
    it("applies watch events to the cache", async () => {
      const v = view();
      await v.start();

      api.emit(NAMESPACES, "ADDED", namespace("team-b", { "ca-trust.dev/inject": "enabled" }));
      api.emit(FLAGS, "MODIFIED", configMap(SYSTEM, "connectors-config", {}));

      await eventually(() => {
        expect(v.namespaceLabels("team-b")).toEqual({ "ca-trust.dev/inject": "enabled" });
        expect(v.featureFlag("enable-custom-ca-certs")).toBe(false);
      });
    });

    it("re-establishes a watch the server ends, from the last resourceVersion, without listing again", async () => {
      const v = view();
      await v.start();
      api.emit(NAMESPACES, "ADDED", namespace("team-b"));
      await eventually(() => expect(v.namespaceLabels("team-b")).toEqual({}));

      api.endWatches(NAMESPACES);
      await eventually(() => expect(api.openWatches(NAMESPACES)).toBe(1));
      const [first, second] = api.matching("watch", NAMESPACES);
      expect(second?.query.get("resourceVersion")).not.toBe(first?.query.get("resourceVersion"));
      api.emit(NAMESPACES, "ADDED", namespace("team-c"));

      await eventually(() => expect(v.namespaceLabels("team-c")).toEqual({}));
      expect(api.count("list", NAMESPACES)).toBe(1);
      expect(v.health().ok).toBe(true);
    });

    it("lists again after 410 Gone, dropping what was deleted meanwhile", async () => {
      api.set(NAMESPACES, [namespace("team-a"), namespace("old")]);
      const v = view();
      await v.start();
      expect(v.namespaceLabels("old")).toEqual({});

      // While the watch was away: "old" deleted, "new" created; the watch can no longer resume.
      api.set(NAMESPACES, [namespace("team-a"), namespace("new")]);
      api.expireWatches(NAMESPACES);

      await eventually(() => {
        expect(api.count("list", NAMESPACES)).toBe(2);
        expect(v.namespaceLabels("new")).toEqual({});
        expect(v.namespaceLabels("old")).toBeUndefined();
      });
      expect(v.health().ok).toBe(true);
    });

    it("reads a large list in pages of 500 with continue tokens", async () => {
      api.set(
        NAMESPACES,
        Array.from({ length: 1_201 }, (_, i) => namespace(`ns-${i}`)),
      );
      const v = view();
      await v.start();

      const pages = api.matching("list", NAMESPACES);
      expect(pages.map((p) => [p.query.get("limit"), p.query.get("continue")])).toEqual([
        ["500", null],
        ["500", "500"],
        ["500", "1000"],
      ]);
      expect(v.sizes().namespaces).toBe(1_201);
      expect(v.namespaceLabels("ns-1200")).toEqual({});
    });

    it("retries a failing list with backoff: 0.5 s doubling to 10 s, then ready", async () => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const retries: number[] = [];
      const logger = silentLogger();
      logger.warn = ((fields: { retryInMs?: number }) => {
        if (fields.retryInMs !== undefined) retries.push(fields.retryInMs);
      }) as typeof logger.warn;
      api.listFailures.set(NAMESPACES, [500, 500, 500, 500, 500, 500, 500]);
      const v = view({ logger });
      await v.start();
      expect(v.health().reason).toBe("caches not synced: namespaces (HTTP 500)");

      for (let attempt = 1; attempt <= 7; attempt++) {
        await eventually(() => expect(retries).toHaveLength(attempt));
        vi.advanceTimersByTime(retries[attempt - 1] as number);
      }
      await eventually(() => expect(v.health()).toEqual({ ok: true }));
      expect(retries).toEqual([500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
      expect(api.count("list", NAMESPACES)).toBe(8);
    });
  });

  describe("lookups", () => {
    it("shares one GET among identical Secret lookups in flight, and reads again for the next lookup", async () => {
      const path = "/api/v1/namespaces/team-a/secrets";
      api.set(path, [secret("team-a", "git-ca")]);
      let open: () => void = () => {};
      api.getGate = new Promise((resolve) => {
        open = resolve;
      });
      const v = view();

      const answers = Promise.all(
        Array.from({ length: 10 }, () => v.getSecret("team-a", "git-ca")),
      );
      await eventually(() => expect(api.count("get", `${path}/git-ca`)).toBe(1));
      open();
      const results = await answers;

      expect(results.every((r) => r.found && r.object.name === "git-ca")).toBe(true);
      expect((await v.getSecret("team-a", "git-ca")).found).toBe(true);
      expect(api.count("get", `${path}/git-ca`)).toBe(2);
      expect(v.apiLookups).toBe(2);
      expect(v.sizes().lookups).toBe(0);
    });

    it("does not share a GET sent before the lookup's decision started", async () => {
      const path = "/api/v1/namespaces/team-a/secrets";
      api.set(path, [secret("team-a", "git-ca")]);
      let open: () => void = () => {};
      api.getGate = new Promise((resolve) => {
        open = resolve;
      });
      const v = view();

      const early = v.getSecret("team-a", "git-ca");
      await eventually(() => expect(api.count("get", `${path}/git-ca`)).toBe(1));
      const decisionStart = performance.now();
      const late = v.getSecret("team-a", "git-ca", { startedAfter: decisionStart });
      const alsoLate = v.getSecret("team-a", "git-ca", { startedAfter: decisionStart });
      await eventually(() => expect(api.count("get", `${path}/git-ca`)).toBe(2));
      open();

      expect((await early).found).toBe(true);
      expect((await late).found).toBe(true);
      expect((await alsoLate).found).toBe(true);
      expect(api.count("get", `${path}/git-ca`)).toBe(2);
    });

    it("sees a Secret change at the very next lookup, and an absent Secret as soon as it exists", async () => {
      const path = "/api/v1/namespaces/team-a/secrets";
      const v = view();

      expect(await v.getSecret("team-a", "later")).toEqual({ found: false });
      api.set(path, [secret("team-a", "later")]);
      const created = await v.getSecret("team-a", "later");
      expect(created.found && created.object.data).toEqual({
        "ca.crt": Buffer.from("pem").toString("base64"),
      });
      api.set(path, [{ ...secret("team-a", "later"), data: { "ca.crt": "Y2hhbmdlZA==" } }]);
      const changed = await v.getSecret("team-a", "later");
      expect(changed.found && changed.object.data).toEqual({ "ca.crt": "Y2hhbmdlZA==" });
      expect(api.count("get", `${path}/later`)).toBe(3);
    });

    it("keeps no unavailable answer: the next lookup asks again", async () => {
      const path = "/api/v1/namespaces/team-a/secrets";
      const v = view();

      api.getStatus = 500;
      expect(await v.getSecret("team-a", "broken")).toEqual({
        found: false,
        unavailable: "HTTP 500",
      });
      api.getStatus = undefined;
      api.set(path, [secret("team-a", "broken")]);
      expect((await v.getSecret("team-a", "broken")).found).toBe(true);
      expect(api.count("get", `${path}/broken`)).toBe(2);
    });

    it("keeps an unwatched ConfigMap --lookup-ttl, and reads it again once that has passed", async () => {
      const path = "/api/v1/namespaces/team-a/configmaps";
      api.set(path, [configMap("team-a", "other-ca", { "ca-bundle.crt": "PEM" })]);
      const v = view({ lookupTtlMs: 20 });

      await v.getConfigMap("team-a", "other-ca");
      await v.getConfigMap("team-a", "other-ca");
      expect(api.count("get", `${path}/other-ca`)).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 40));
      await v.getConfigMap("team-a", "other-ca");

      expect(api.count("get", `${path}/other-ca`)).toBe(2);
    });

    it("answers a watched CA ConfigMap from its cache, and confirms a miss with a GET", async () => {
      api.set(CA_CONFIGMAPS, [
        configMap("team-a", "ca-trust-bundle", { "ca-bundle.crt": "PEM", other: "x" }),
      ]);
      const v = view();
      await v.start();

      const cached = await v.getConfigMap("team-a", "ca-trust-bundle");
      expect(cached.found && cached.object.data).toEqual({ "ca-bundle.crt": "PEM" });
      expect(api.count("get", "/api/v1/namespaces/team-a/configmaps/ca-trust-bundle")).toBe(0);

      expect(await v.getConfigMap("team-b", "ca-trust-bundle")).toEqual({ found: false });
      expect(api.count("get", "/api/v1/namespaces/team-b/configmaps/ca-trust-bundle")).toBe(1);
    });
  });

  describe("SubjectAccessReviews", () => {
    const user = { username: "alice", uid: "u-1", groups: ["dev", "system:authenticated"] };

    it("asks for the request's user exactly, and reuses the answer per user and object", async () => {
      api.review = (spec) => spec.user === "alice";
      const v = view();

      expect(await v.mayGet(user, "secrets", "team-a", "git-ca")).toEqual({ allowed: true });
      expect(await v.mayGet(user, "secrets", "team-a", "git-ca")).toEqual({ allowed: true });
      expect(await v.mayGet({ username: "bob" }, "secrets", "team-a", "git-ca")).toEqual({
        allowed: false,
      });

      const sent = api.matching("review", REVIEWS);
      expect(sent).toHaveLength(2);
      expect(sent[0]?.body).toMatchObject({
        apiVersion: "authorization.k8s.io/v1",
        kind: "SubjectAccessReview",
        spec: {
          user: "alice",
          uid: "u-1",
          groups: ["dev", "system:authenticated"],
          resourceAttributes: {
            verb: "get",
            group: "",
            version: "v1",
            resource: "secrets",
            namespace: "team-a",
            name: "git-ca",
          },
        },
      });
    });

    it("answers unavailable when the API cannot review, and asks again next time", async () => {
      api.review = () => 503;
      const v = view();

      expect(await v.mayGet(user, "secrets", "team-a", "git-ca")).toEqual({
        allowed: false,
        unavailable: "HTTP 503",
      });
      api.review = () => true;
      expect(await v.mayGet(user, "secrets", "team-a", "git-ca")).toEqual({ allowed: true });
      expect(api.count("review", REVIEWS)).toBe(2);
    });
  });
});
