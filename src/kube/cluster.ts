import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import {
  AuthorizationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  type V1ConfigMap,
  type V1Namespace,
  type V1ObjectMeta,
  type V1Secret,
  Watch,
} from "@kubernetes/client-node";
import type { KubeObject, UserInfo } from "../core/types.js";
import type {
  Access,
  ClusterTrustBundleObject,
  ClusterTrustBundleSelection,
  ClusterView,
  ConfigMapObject,
  Freshness,
  Lookup,
  ReadResource,
  SecretObject,
  TrustManagerAnswer,
} from "../core/view.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { AccessReviewer, type ReviewAccess } from "./access.js";
import { KeepAliveAgents, keepAliveClient } from "./client.js";
import { ValueInterner } from "./intern.js";
import { LookupCache } from "./lookup-cache.js";
import {
  CERTIFICATES_GROUP,
  CLUSTER_TRUST_BUNDLES,
  CTB_API_NOT_SERVED,
  clusterTrustBundleOf,
  selectionKey,
  selectorsFor,
  selectsBundle,
  TrustSourceReader,
} from "./trust-sources.js";

/**
 * Finds the cluster as kubectl does: an explicit path, then $KUBECONFIG, then the in-cluster
 * ServiceAccount, then ~/.kube/config. Returns undefined when there is none.
 */
export function loadKubeConfig(
  path: string | undefined,
  env: NodeJS.ProcessEnv,
): KubeConfig | undefined {
  const kc = new KubeConfig();
  if (path !== undefined) {
    kc.loadFromFile(path);
    return kc;
  }
  if (env.KUBECONFIG) {
    kc.loadFromDefault();
    return kc;
  }
  if (
    env.KUBERNETES_SERVICE_HOST &&
    existsSync("/var/run/secrets/kubernetes.io/serviceaccount/token")
  ) {
    kc.loadFromCluster();
    return kc;
  }
  const home = join(env.HOME ?? homedir(), ".kube", "config");
  if (existsSync(home)) {
    kc.loadFromFile(home);
    return kc;
  }
  return undefined;
}

export interface KubeClusterViewOptions {
  /** Where the feature-flag ConfigMap lives (Connectors' `connectors-config`). */
  flagConfigMap: { namespace: string; name: string };
  /** Labelled Secrets watched in the system namespace (Connectors' global CAs). */
  labelledSecrets: { namespace: string; labelSelector: string } | undefined;
  /** The CA ConfigMap name watched in every namespace (injection); undefined: not watched. */
  caConfigMapName: string | undefined;
  /** The key of the CA ConfigMap that is kept in the cache (the others are dropped). */
  caConfigMapKey: string;
  /** Watch Namespaces' labels (injection opt-in). */
  watchNamespaces: boolean;
  /** The ClusterTrustBundles injected (source `clustertrustbundle`), watched; else none. */
  clusterTrustBundles?: ClusterTrustBundleSelection | undefined;
  /**
   * Answer "which trust-manager Bundle should have written this CA ConfigMap?" (a GET by name,
   * only when a Pod is about to be denied for a missing ConfigMap). Default true.
   */
  trustManager?: boolean;
  /**
   * How long an unwatched ConfigMap (and a trust-manager answer) is reused. Secrets are never
   * reused: every lookup reads them (docs/architecture.md "The cluster view and its caches").
   */
  lookupTtlMs: number;
  /** Most fetched ConfigMaps and trust-source answers kept. */
  maxCachedLookups: number;
  /** How long a SubjectAccessReview's answer is reused per user and object. */
  accessReviewTtlMs: number;
  /** Most SubjectAccessReview answers kept. */
  maxCachedAccessReviews: number;
  logger: Logger;
  /** Where SubjectAccessReviews and their cache are counted (the server's metrics). */
  metrics?: Pick<Metrics, "accessReviews" | "accessReviewCache">;
}

/**
 * A SubjectAccessReview is one small POST; an apiserver that has not answered in this long is
 * treated as unavailable (and the question is asked afresh next time).
 */
const ACCESS_REVIEW_TIMEOUT_MS = 5_000;

/** Objects per LIST request while syncing. */
const PAGE_SIZE = 500;

/** Only what identifies an object (and lets ListWatch track resource versions). */
function identity(metadata: V1ObjectMeta | undefined): V1ObjectMeta {
  return {
    name: metadata?.name,
    namespace: metadata?.namespace,
    resourceVersion: metadata?.resourceVersion,
    ...(metadata?.labels ? { labels: metadata.labels } : {}),
  } as V1ObjectMeta;
}

/** One informer's state: its objects and whether its list+watch is currently established. */
export class Reflector<T extends KubernetesObject> {
  readonly watch: ListWatch<T>;
  synced = false;
  lastError: string | undefined = "not started";
  private failures = 0;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  /**
   * The same selectors go to the list and to the watch: client-node's makeInformer drops the
   * field selector from the watch, which would silently watch every object of the kind. The
   * list is paged (500 per request) so a large cluster never arrives as one huge response, and
   * every object, listed or watched, is reduced by `project` to what the decisions read
   * before the cache keeps it (bounded memory: 10,000 CA ConfigMaps hold only their key).
   */
  constructor(
    readonly name: string,
    kc: KubeConfig,
    path: string,
    list: (query: {
      labelSelector?: string;
      fieldSelector?: string;
      limit: number;
      _continue?: string;
    }) => Promise<KubernetesListObject<T>>,
    selectors: { labelSelector?: string; fieldSelector?: string },
    private readonly logger: Logger,
    project: (object: T) => T = (object) => object,
  ) {
    const pagedList = async (): Promise<KubernetesListObject<T>> => {
      const items: T[] = [];
      let page: KubernetesListObject<T>;
      let token: string | undefined;
      do {
        page = await list({
          ...selectors,
          limit: PAGE_SIZE,
          ...(token ? { _continue: token } : {}),
        });
        for (const item of page.items) items.push(project(item));
        token = page.metadata?._continue || undefined;
      } while (token !== undefined);
      return { ...page, items };
    };
    const watch = new Watch(kc);
    const projecting = {
      watch: (
        watchPath: string,
        query: Record<string, string | number | boolean | undefined>,
        callback: (phase: string, object: T, raw: unknown) => void,
        done: (error: unknown) => void,
      ) =>
        watch.watch(
          watchPath,
          query,
          (phase: string, object: T, raw: unknown) =>
            callback(phase, phase === "ERROR" ? object : project(object), raw),
          done,
        ),
    } as unknown as Watch;
    this.watch = new ListWatch<T>(
      path,
      projecting,
      pagedList,
      false,
      selectors.labelSelector,
      selectors.fieldSelector,
    );
    this.watch.on("error", (error?: unknown) => this.failed(error));
    // A watch that ends normally is restarted by ListWatch itself (relisting on 410 Gone).
  }

  async start(): Promise<void> {
    this.stopped = false;
    const before = this.failures;
    await this.watch.start();
    if (this.failures === before && !this.stopped) {
      if (!this.synced) this.logger.info({ cache: this.name }, "cache synced");
      this.synced = true;
      this.lastError = undefined;
      this.failures = 0;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.watch.stop();
  }

  private failed(error: unknown): void {
    this.failures++;
    this.synced = false;
    this.lastError = describeError(error);
    if (this.stopped) return;
    // Exponential backoff, 0.5 s doubling to 10 s, so an apiserver restart is noticed quickly.
    const delay = Math.min(10_000, 500 * 2 ** Math.min(this.failures - 1, 5));
    this.logger.warn(
      { cache: this.name, error: this.lastError, retryInMs: delay },
      "watch failed; retrying",
    );
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.start(), delay);
    this.timer.unref();
  }
}

/** A Secret read in flight: when it was sent (`performance.now()`), and its answer. */
interface SecretRead {
  readonly startedAt: number;
  readonly answer: Promise<Lookup<SecretObject>>;
}

/**
 * The informer-backed ClusterView of the server. Watched (so the hot path makes no API call):
 * the flag ConfigMap, the labelled Secrets of the system namespace, the CA ConfigMaps by name
 * in every namespace (field selector), and Namespaces (labels only are read). Referenced Secrets
 * are read from the API for every lookup (a verdict never rests on a Secret older than its
 * request), sharing only reads in flight; never a cluster-wide Secret list or watch (least
 * privilege, bounded memory).
 */
export class KubeClusterView implements ClusterView {
  private readonly core: CoreV1Api;
  private readonly reflectors: Reflector<KubernetesObject>[] = [];
  private readonly flags: Reflector<V1ConfigMap>;
  private readonly caConfigMaps: Reflector<V1ConfigMap> | undefined;
  private readonly namespaces: Reflector<V1Namespace> | undefined;
  private readonly lookups: LookupCache;
  private readonly access: AccessReviewer;
  private readonly trust: TrustSourceReader;
  /** The watched ClusterTrustBundles (created by `start`, once the served version is known). */
  private clusterTrustBundles: Reflector<KubernetesObject> | undefined;
  /**
   * Secret reads in flight, by namespace/name: the newest one of each. At most one entry per
   * Secret being read by a review at this moment, so bounded by the reviews in flight.
   */
  private readonly secretReads = new Map<string, SecretRead>();
  /** One keep-alive connection pool for the reads and access reviews (src/kube/client.ts). */
  private readonly agents = new KeepAliveAgents();
  /** Lookups made against the API (not served from a cache), for tests and metrics. */
  apiLookups = 0;

  constructor(
    private readonly kc: KubeConfig,
    private readonly options: KubeClusterViewOptions,
  ) {
    this.core = keepAliveClient(kc, CoreV1Api, this.agents);
    this.trust = new TrustSourceReader(
      kc,
      options.lookupTtlMs,
      { status: statusOf, describe: describeError },
      this.agents,
    );
    const { logger } = options;
    const { namespace: flagNs, name: flagName } = options.flagConfigMap;
    this.flags = new Reflector<V1ConfigMap>(
      "flag-configmap",
      kc,
      `/api/v1/namespaces/${flagNs}/configmaps`,
      (s) => this.core.listNamespacedConfigMap({ namespace: flagNs, ...s }),
      { fieldSelector: `metadata.name=${flagName}` },
      logger,
    );
    this.reflectors.push(this.flags as Reflector<KubernetesObject>);
    if (options.labelledSecrets) {
      const { namespace, labelSelector } = options.labelledSecrets;
      this.reflectors.push(
        new Reflector<V1Secret>(
          "labelled-secrets",
          kc,
          `/api/v1/namespaces/${namespace}/secrets`,
          (s) => this.core.listNamespacedSecret({ namespace, ...s }),
          { labelSelector },
          logger,
          // Counted, never read: the data of the global CA Secrets is not kept.
          (secret) => ({ metadata: identity(secret.metadata) }),
        ) as Reflector<KubernetesObject>,
      );
    }
    if (options.caConfigMapName !== undefined) {
      const bundles = new ValueInterner();
      this.caConfigMaps = new Reflector<V1ConfigMap>(
        "ca-configmaps",
        kc,
        "/api/v1/configmaps",
        (s) => this.core.listConfigMapForAllNamespaces(s),
        { fieldSelector: `metadata.name=${options.caConfigMapName}` },
        logger,
        (cm) => {
          // Only the bundle key: a ConfigMap may carry much else. Its value is kept once for
          // all the namespaces that hold the same bundle (intern.ts).
          const key = options.caConfigMapKey;
          const text = cm.data?.[key];
          const binary = cm.binaryData?.[key];
          return {
            metadata: identity(cm.metadata),
            ...(text !== undefined ? { data: { [key]: bundles.intern(text) } } : {}),
            ...(binary !== undefined ? { binaryData: { [key]: bundles.intern(binary) } } : {}),
          };
        },
      );
      this.reflectors.push(this.caConfigMaps as Reflector<KubernetesObject>);
    }
    if (options.watchNamespaces) {
      this.namespaces = new Reflector<V1Namespace>(
        "namespaces",
        kc,
        "/api/v1/namespaces",
        (s) => this.core.listNamespace(s),
        {},
        logger,
        // Labels are all the opt-in check reads.
        (ns) => ({ metadata: identity(ns.metadata) }),
      );
      this.reflectors.push(this.namespaces as Reflector<KubernetesObject>);
    }
    this.lookups = new LookupCache({
      maxEntries: options.maxCachedLookups,
      maxBytes: 64 * 1024 * 1024,
    });
    this.access = new AccessReviewer(subjectAccessReview(kc, this.agents), {
      ttlMs: options.accessReviewTtlMs,
      max: options.maxCachedAccessReviews,
      timeoutMs: ACCESS_REVIEW_TIMEOUT_MS,
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    });
  }

  /** Starts every watch; resolves when each has listed once (or failed and is retrying). */
  async start(): Promise<void> {
    if (this.options.clusterTrustBundles !== undefined && this.clusterTrustBundles === undefined) {
      this.clusterTrustBundles = await this.watchClusterTrustBundles(
        this.options.clusterTrustBundles,
      );
      this.reflectors.push(this.clusterTrustBundles);
    }
    await Promise.all(this.reflectors.map((r) => r.start()));
  }

  /**
   * The watch of the injected ClusterTrustBundles, on the served version (v1beta1 from 1.33,
   * v1alpha1 before; v1beta1 when discovery fails, so readiness names the failure), selected
   * exactly as the Pods' projected volumes select them.
   */
  private async watchClusterTrustBundles(
    selection: ClusterTrustBundleSelection,
  ): Promise<Reflector<KubernetesObject>> {
    const version =
      (await this.trust.clusterTrustBundleVersion().catch(() => undefined)) ?? "v1beta1";
    const custom = this.kc.makeApiClient(CustomObjectsApi);
    const resource = { group: CERTIFICATES_GROUP, version, plural: CLUSTER_TRUST_BUNDLES };
    const apiVersion = `${CERTIFICATES_GROUP}/${version}`;
    return new Reflector<KubernetesObject>(
      "cluster-trust-bundles",
      this.kc,
      `/apis/${CERTIFICATES_GROUP}/${version}/${CLUSTER_TRUST_BUNDLES}`,
      async (s) => {
        const list = (await custom.listClusterCustomObject({ ...resource, ...s })) as {
          items?: KubernetesObject[];
          metadata?: KubernetesListObject<KubernetesObject>["metadata"];
        };
        return { apiVersion, kind: "ClusterTrustBundleList", ...list, items: list.items ?? [] };
      },
      selectorsFor(selection),
      this.options.logger,
      // What injection reads: identity, signer and the PEM (at most 1 MiB each, by the API).
      (object) => {
        const spec = (object as KubeObject).spec as Record<string, unknown> | undefined;
        return {
          apiVersion,
          kind: "ClusterTrustBundle",
          metadata: identity(object.metadata),
          spec: { signerName: spec?.signerName, trustBundle: spec?.trustBundle },
        } as KubernetesObject;
      },
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.reflectors.map((r) => r.stop()));
    this.agents.destroy();
  }

  /** Readiness: every watch has synced and is established. */
  health(): { ok: boolean; reason?: string } {
    const waiting = this.reflectors.filter((r) => !r.synced);
    if (waiting.length === 0) return { ok: true };
    const why = (r: Reflector<KubernetesObject>) =>
      r === this.clusterTrustBundles && r.lastError === "HTTP 404"
        ? `HTTP 404: ${CTB_API_NOT_SERVED}`
        : (r.lastError ?? "syncing");
    return {
      ok: false,
      reason: `caches not synced: ${waiting.map((r) => `${r.name} (${why(r)})`).join(", ")}`,
    };
  }

  /** Object counts per cache, for the cache-size metric. */
  sizes(): Record<string, number> {
    const sizes: Record<string, number> = {};
    for (const r of this.reflectors) sizes[r.name] = r.watch.list().length;
    sizes.lookups = this.lookups.size;
    sizes["access-reviews"] = this.access.size();
    return sizes;
  }

  featureFlag(name: string): boolean {
    const { namespace, name: cm } = this.options.flagConfigMap;
    return this.flags.watch.get(cm, namespace)?.data?.[name] === "true";
  }

  namespaceLabels(name: string): Record<string, string> | undefined {
    const ns = this.namespaces?.watch.get(name);
    return ns === undefined ? undefined : (ns.metadata?.labels ?? {});
  }

  /**
   * The watched ClusterTrustBundles when `selection` is the watched one and the cache has
   * them; otherwise (another selection, or a miss the watch may not have seen yet) a live
   * read, so that nobody is denied on a lagging cache.
   */
  async getClusterTrustBundles(
    selection: ClusterTrustBundleSelection,
  ): Promise<Lookup<readonly ClusterTrustBundleObject[]>> {
    const watched = this.options.clusterTrustBundles;
    const cache = this.clusterTrustBundles;
    if (
      cache?.synced &&
      watched !== undefined &&
      selectionKey(watched) === selectionKey(selection)
    ) {
      const bundles = cache.watch
        .list()
        .map((o) => clusterTrustBundleOf(o as KubeObject))
        .filter(
          (b): b is ClusterTrustBundleObject => b !== undefined && selectsBundle(selection, b),
        )
        .sort((a, b) => (a.name < b.name ? -1 : 1));
      if (bundles.length > 0) return { found: true, object: bundles };
    }
    return this.trust.getClusterTrustBundles(selection);
  }

  /** trust-manager's Bundle of this name (discovery and GET, on the denial path only). */
  async getTrustManagerBundle(name: string): Promise<Lookup<TrustManagerAnswer>> {
    if (this.options.trustManager === false) return { found: true, object: { installed: false } };
    return this.trust.getTrustManagerBundle(name);
  }

  /** A SubjectAccessReview for the request's user, cached briefly and coalesced. */
  mayGet(user: UserInfo, resource: ReadResource, namespace: string, name: string): Promise<Access> {
    return this.access.mayGet(user, resource, namespace, name);
  }

  /**
   * A Secret as it is now: a GET for every lookup, found or not. A lookup shares a GET already
   * in flight for the same Secret only if that GET was sent at or after
   * `freshness.startedAfter` (the start of the caller's decision), so the answer is never older
   * than the request; reads of one Secret by many reviews at the same moment still cost one GET.
   */
  getSecret(namespace: string, name: string, freshness?: Freshness): Promise<Lookup<SecretObject>> {
    const key = `${namespace}/${name}`;
    const inFlight = this.secretReads.get(key);
    if (inFlight !== undefined && inFlight.startedAt >= (freshness?.startedAfter ?? -Infinity)) {
      return inFlight.answer;
    }
    const read: SecretRead = {
      startedAt: performance.now(),
      answer: this.get("secret", namespace, name).then((lookup) => {
        if (this.secretReads.get(key) === read) this.secretReads.delete(key);
        return lookup as Lookup<SecretObject>;
      }),
    };
    this.secretReads.set(key, read);
    return read.answer;
  }

  /**
   * A watched ConfigMap comes from its cache; a miss is confirmed with a live GET (the watch may
   * lag a just-created ConfigMap) before anyone denies on it. Others are fetched and kept
   * `lookupTtlMs` (`fetch`).
   */
  async getConfigMap(namespace: string, name: string): Promise<Lookup<ConfigMapObject>> {
    const watched =
      name === this.options.caConfigMapName
        ? this.caConfigMaps
        : namespace === this.options.flagConfigMap.namespace &&
            name === this.options.flagConfigMap.name
          ? this.flags
          : undefined;
    if (watched?.synced) {
      const cached = watched.watch.get(name, namespace);
      if (cached !== undefined) return { found: true, object: toConfigMap(cached) };
    }
    return this.fetch(namespace, name);
  }

  /**
   * A ConfigMap GET with a short TTL cache (`--lookup-ttl`); concurrent lookups of one object
   * share one request. Only unwatched ConfigMaps come here: a Pod's `ca-trust.dev/configmap`,
   * read for injection, never a validation verdict.
   */
  private fetch(namespace: string, name: string): Promise<Lookup<ConfigMapObject>> {
    const ttl = this.options.lookupTtlMs;
    return this.lookups.get(`configmap/${namespace}/${name}`, {
      load: () => this.get("configmap", namespace, name) as Promise<Lookup<ConfigMapObject>>,
      // Answers the API could not give are not kept: the next request tries again. "Not
      // found" is kept 1 s at most: a Pod created just before its ConfigMap must see it soon.
      ttlMs: (lookup) =>
        lookup.found ? ttl : lookup.unavailable === undefined ? Math.min(ttl, 1_000) : undefined,
      bytes: estimate,
    });
  }

  private async get(
    kind: "secret" | "configmap",
    namespace: string,
    name: string,
  ): Promise<Lookup<SecretObject | ConfigMapObject>> {
    this.apiLookups++;
    try {
      if (kind === "secret") {
        const secret = await this.core.readNamespacedSecret({ namespace, name });
        return { found: true, object: toSecret(secret) };
      }
      const configMap = await this.core.readNamespacedConfigMap({ namespace, name });
      return { found: true, object: toConfigMap(configMap) };
    } catch (error) {
      if (statusOf(error) === 404) return { found: false };
      return { found: false, unavailable: describeError(error) };
    }
  }
}

/**
 * One SubjectAccessReview: may the user (name, uid, groups, extra, exactly as the apiserver
 * authenticated them) `get` the object? Authorization of a named object never depends on
 * whether it exists, so the answer reveals nothing about it. Needs `create
 * subjectaccessreviews` (deploy/base/rbac.yaml).
 */
function subjectAccessReview(kc: KubeConfig, agents: KeepAliveAgents): ReviewAccess {
  const api = keepAliveClient(kc, AuthorizationV1Api, agents);
  return async ({ user, resource, namespace, name }) => {
    try {
      const review = await api.createSubjectAccessReview({
        body: {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SubjectAccessReview",
          spec: {
            ...(user.username ? { user: user.username } : {}),
            ...(user.uid ? { uid: user.uid } : {}),
            ...(user.groups?.length ? { groups: [...user.groups] } : {}),
            ...(user.extra && Object.keys(user.extra).length > 0 ? { extra: user.extra } : {}),
            resourceAttributes: {
              verb: "get",
              group: "",
              version: "v1",
              resource,
              namespace,
              name,
            },
          },
        },
      });
      return review.status?.allowed === true;
    } catch (error) {
      throw new Error(describeError(error));
    }
  };
}

function toSecret(secret: V1Secret): SecretObject {
  return {
    namespace: secret.metadata?.namespace ?? "",
    name: secret.metadata?.name ?? "",
    ...(secret.metadata?.labels ? { labels: secret.metadata.labels } : {}),
    ...(secret.type ? { type: secret.type } : {}),
    data: secret.data ?? {},
    ...(secret.metadata?.resourceVersion
      ? { resourceVersion: secret.metadata.resourceVersion }
      : {}),
  };
}

function toConfigMap(cm: V1ConfigMap): ConfigMapObject {
  return {
    namespace: cm.metadata?.namespace ?? "",
    name: cm.metadata?.name ?? "",
    ...(cm.metadata?.labels ? { labels: cm.metadata.labels } : {}),
    data: cm.data ?? {},
    binaryData: cm.binaryData ?? {},
    ...(cm.metadata?.resourceVersion ? { resourceVersion: cm.metadata.resourceVersion } : {}),
  };
}

function estimate(lookup: Lookup<SecretObject | ConfigMapObject>): number {
  if (!lookup.found) return 64;
  let bytes = 256;
  for (const v of Object.values(lookup.object.data ?? {})) bytes += v.length;
  return bytes;
}

/** The HTTP status of a client-node error, if it has one. */
export function statusOf(error: unknown): number | undefined {
  const e = error as { code?: unknown; statusCode?: unknown };
  return typeof e?.code === "number"
    ? e.code
    : typeof e?.statusCode === "number"
      ? e.statusCode
      : undefined;
}

/** A short reason for logs and readiness; never a response body (it could echo data). */
export function describeError(error: unknown): string {
  const status = statusOf(error);
  if (status !== undefined) return `HTTP ${status}`;
  const e = error as { code?: unknown; message?: unknown; cause?: { code?: unknown } };
  const code =
    typeof e?.cause?.code === "string"
      ? e.cause.code
      : typeof e?.code === "string"
        ? e.code
        : undefined;
  if (code) return code;
  return typeof e?.message === "string" ? e.message.slice(0, 120) : "unknown error";
}
