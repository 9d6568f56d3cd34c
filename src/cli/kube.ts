/**
 * The read-only Kubernetes access of the offline commands, as one small interface: the commands
 * make only GETs and paginated LISTs (never a watch, never a write), and unit tests give them an
 * in-memory fake. `clientReader` implements it with @kubernetes/client-node.
 */

import {
  ApisApi,
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
} from "@kubernetes/client-node";
import type { KubeObject } from "../core/types.js";
import { KeepAliveAgents, keepAliveClient } from "../kube/client.js";
import { describeError, statusOf } from "../kube/cluster.js";
import { type ApiResource, clientDiscovery } from "../kube/discovery.js";

export type { ApiResource } from "../kube/discovery.js";

/** One page of a LIST: its items and the `continue` token of the next page, if any. */
export interface Page {
  readonly items: readonly KubeObject[];
  readonly continue: string | undefined;
}

/** `limit` and `continue` of a LIST (https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks). */
export interface PageRequest {
  readonly limit: number;
  readonly continue: string | undefined;
}

/** A custom resource to list: group, version, plural and, optionally, one namespace. */
export interface CustomResource {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly namespace: string | undefined;
}

/** `labelSelector` / `fieldSelector` of a LIST. */
export interface Selectors {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
}

/** An API answer other than 404 (which the reader reports as "absent"). */
export class KubeReadError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
  ) {
    super(message);
  }
}

/**
 * Everything the offline commands read. A 404 is never an error: GETs answer `undefined`,
 * discovery answers `undefined`, and a LIST of a resource that is not served answers
 * `undefined`. Anything else throws a KubeReadError.
 */
export interface KubeReader {
  /** API groups (not the core group) and their served versions, the preferred one first. */
  apiGroups(): Promise<ReadonlyMap<string, readonly string[]>>;
  /** The resources a group version serves; undefined when it is not served. */
  apiResources(group: string, version: string): Promise<readonly ApiResource[] | undefined>;
  /** A LIST of a custom (or any non-core) resource, optionally filtered by selectors. */
  listCustom(
    resource: CustomResource,
    page: PageRequest,
    selectors?: Selectors,
  ): Promise<Page | undefined>;
  /** One cluster-scoped object of a non-core group (a trust-manager Bundle, a ClusterTrustBundle). */
  getClusterCustom(
    resource: Omit<CustomResource, "namespace">,
    name: string,
  ): Promise<KubeObject | undefined>;
  listSecrets(
    namespace: string | undefined,
    labelSelector: string,
    page: PageRequest,
  ): Promise<Page>;
  listPods(namespace: string | undefined, page: PageRequest): Promise<Page>;
  listNamespaces(page: PageRequest): Promise<Page>;
  getSecret(namespace: string, name: string): Promise<KubeObject | undefined>;
  getConfigMap(namespace: string, name: string): Promise<KubeObject | undefined>;
  getNamespace(name: string): Promise<KubeObject | undefined>;
  /**
   * An owner of a Pod that may itself be owned (ReplicaSet → Deployment, Job → CronJob);
   * undefined when absent or of a kind that is not followed.
   */
  getOwner(
    apiVersion: string,
    kind: string,
    namespace: string,
    name: string,
  ): Promise<KubeObject | undefined>;
}

/** Every item of a paginated LIST, one page at a time (memory is bounded by the page size). */
export async function* paginate(
  list: (page: PageRequest) => Promise<Page | undefined>,
  limit: number,
): AsyncGenerator<KubeObject> {
  let token: string | undefined;
  do {
    const page = await list({ limit, continue: token });
    if (page === undefined) return;
    yield* page.items;
    token = page.continue || undefined;
  } while (token !== undefined);
}

/** The reader over a kubeconfig (client-node 1.4). */
export function clientReader(kc: KubeConfig): KubeReader {
  // One pool of kept-alive connections (idle ones never hold the process open).
  const agents = new KeepAliveAgents();
  const core = keepAliveClient(kc, CoreV1Api, agents);
  const apps = keepAliveClient(kc, AppsV1Api, agents);
  const batch = keepAliveClient(kc, BatchV1Api, agents);
  const custom = keepAliveClient(kc, CustomObjectsApi, agents);
  const discovery = clientDiscovery(keepAliveClient(kc, ApisApi, agents), custom);
  const paging = (page: PageRequest) => ({
    limit: page.limit,
    ...(page.continue === undefined ? {} : { _continue: page.continue }),
  });
  return {
    apiGroups: () => read(() => discovery.apiGroups()),
    apiResources: (group, version) => read(() => discovery.apiResources(group, version)),
    listCustom: (resource, page, selectors = {}) =>
      absentOn404(async () => {
        const { group, version, plural } = resource;
        const list = (
          resource.namespace === undefined
            ? await custom.listClusterCustomObject({
                group,
                version,
                plural,
                ...selectors,
                ...paging(page),
              })
            : await custom.listNamespacedCustomObject({
                group,
                version,
                plural,
                namespace: resource.namespace,
                ...selectors,
                ...paging(page),
              })
        ) as { items?: KubeObject[]; metadata?: { continue?: string } };
        return { items: list.items ?? [], continue: list.metadata?.continue };
      }),
    getClusterCustom: ({ group, version, plural }, name) =>
      absentOn404(
        async () =>
          (await custom.getClusterCustomObject({ group, version, plural, name })) as KubeObject,
      ),
    listSecrets: (namespace, labelSelector, page) =>
      read(async () =>
        typed(
          namespace === undefined
            ? await core.listSecretForAllNamespaces({ labelSelector, ...paging(page) })
            : await core.listNamespacedSecret({ namespace, labelSelector, ...paging(page) }),
          "v1",
          "Secret",
        ),
      ),
    listPods: (namespace, page) =>
      read(async () =>
        typed(
          namespace === undefined
            ? await core.listPodForAllNamespaces(paging(page))
            : await core.listNamespacedPod({ namespace, ...paging(page) }),
          "v1",
          "Pod",
        ),
      ),
    listNamespaces: (page) =>
      read(async () => typed(await core.listNamespace(paging(page)), "v1", "Namespace")),
    getSecret: (namespace, name) =>
      absentOn404(async () =>
        object(await core.readNamespacedSecret({ namespace, name }), "v1", "Secret"),
      ),
    getConfigMap: (namespace, name) =>
      absentOn404(async () =>
        object(await core.readNamespacedConfigMap({ namespace, name }), "v1", "ConfigMap"),
      ),
    getNamespace: (name) =>
      absentOn404(async () => object(await core.readNamespace({ name }), "v1", "Namespace")),
    getOwner: (apiVersion, kind, namespace, name) => {
      if (apiVersion === "apps/v1" && kind === "ReplicaSet") {
        return absentOn404(async () =>
          object(await apps.readNamespacedReplicaSet({ namespace, name }), apiVersion, kind),
        );
      }
      if (apiVersion === "batch/v1" && kind === "Job") {
        return absentOn404(async () =>
          object(await batch.readNamespacedJob({ namespace, name }), apiVersion, kind),
        );
      }
      return Promise.resolve(undefined);
    },
  };
}

/** A typed client-node list as plain items with `apiVersion` and `kind` (lists omit them). */
function typed(
  list: { items: unknown[]; metadata?: { _continue?: string } },
  apiVersion: string,
  kind: string,
): Page {
  return {
    items: list.items.map((item) => object(item, apiVersion, kind)),
    continue: list.metadata?._continue,
  };
}

/**
 * A client-node model as a KubeObject. The generated models keep the wire names for every
 * field read here (metadata, spec, data, status), so no conversion is needed.
 */
function object(value: unknown, apiVersion: string, kind: string): KubeObject {
  return { ...(value as KubeObject), apiVersion, kind };
}

async function read<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw readError(error);
  }
}

async function absentOn404<T>(call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    const failure = readError(error);
    if (failure.status === 404) return undefined;
    throw failure;
  }
}

/** A short reason, never a response body (it could echo Secret data). */
function readError(error: unknown): KubeReadError {
  return new KubeReadError(describeError(error), statusOf(error));
}
