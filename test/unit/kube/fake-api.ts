/**
 * A scripted Kubernetes API on loopback (plain HTTP) speaking what KubeClusterView and the
 * reference index use: paged LISTs (limit, continue, field and label selectors on name and
 * labels), WATCH streams (JSON lines) the test can feed, end or expire (410 Gone), GETs of
 * single objects, SubjectAccessReviews, and discovery (`/apis`, `/apis/GROUP/VERSION`) of the
 * custom resources the test serves. Every request is recorded; lists, gets and reviews can be
 * made to fail.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";

export interface FakeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    resourceVersion?: string;
  };
  data?: Record<string, string>;
  spec?: Record<string, unknown>;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: unknown;
}

const COLLECTIONS = new Set(["configmaps", "secrets", "namespaces"]);

export class FakeApi {
  readonly requests: RecordedRequest[] = [];
  /** Status to answer the next LISTs of a collection with, one per request. */
  readonly listFailures = new Map<string, number[]>();
  /** Status to answer every GET of a single object with (unset: the stored object or 404). */
  getStatus: number | undefined;
  /** GETs of single objects wait for this before answering (to have them in flight at once). */
  getGate: Promise<void> = Promise.resolve();
  /** The SubjectAccessReview answer for a request body, or an HTTP status to fail with. */
  review: (spec: Record<string, unknown>) => boolean | number = () => true;
  /** Served custom resources: `group/version` → its resources (discovery answers these). */
  readonly served = new Map<string, { name: string; kind: string; namespaced: boolean }[]>();
  private readonly collections = new Map<string, FakeObject[]>();
  private readonly watches = new Map<string, Set<ServerResponse>>();
  private version = 100;
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
  }

  async stop(): Promise<void> {
    for (const set of this.watches.values()) for (const res of set) res.destroy();
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    if (this.server === undefined) throw new Error("start() the fake API first");
    const { port } = this.server.address() as AddressInfo;
    kc.loadFromOptions({
      clusters: [{ name: "fake", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: "fake", token: "t" }],
      contexts: [{ name: "fake", cluster: "fake", user: "fake" }],
      currentContext: "fake",
    });
    return kc;
  }

  /** Replaces a collection's objects (path like /api/v1/namespaces/ns/configmaps). */
  set(collection: string, objects: FakeObject[]): void {
    this.collections.set(
      collection,
      objects.map((o) => ({ ...o, metadata: { ...o.metadata, resourceVersion: this.next() } })),
    );
  }

  /** Stores an object change and sends it to the collection's open watches. */
  emit(collection: string, type: "ADDED" | "MODIFIED" | "DELETED", object: FakeObject): void {
    const stored = { ...object, metadata: { ...object.metadata, resourceVersion: this.next() } };
    const items = (this.collections.get(collection) ?? []).filter(
      (o) => o.metadata.name !== object.metadata.name,
    );
    this.collections.set(collection, type === "DELETED" ? items : [...items, stored]);
    for (const res of this.watches.get(collection) ?? []) {
      res.write(`${JSON.stringify({ type, object: stored })}\n`);
    }
  }

  /** Ends the collection's watches normally (as an apiserver does after its timeout). */
  endWatches(collection: string): void {
    for (const res of this.watches.get(collection) ?? []) res.end();
    this.watches.get(collection)?.clear();
  }

  /** Tells the collection's watches their resourceVersion is too old (410 Gone), then ends them. */
  expireWatches(collection: string): void {
    for (const res of this.watches.get(collection) ?? []) {
      const status = {
        kind: "Status",
        apiVersion: "v1",
        status: "Failure",
        code: 410,
        reason: "Expired",
      };
      res.end(`${JSON.stringify({ type: "ERROR", object: status })}\n`);
    }
    this.watches.get(collection)?.clear();
  }

  openWatches(collection: string): number {
    return this.watches.get(collection)?.size ?? 0;
  }

  /** Recorded requests of one kind on one path. */
  count(kind: "list" | "watch" | "get" | "review", path: string): number {
    return this.matching(kind, path).length;
  }

  matching(kind: "list" | "watch" | "get" | "review", path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path && kindOf(r, this.resourceNames()) === kind);
  }

  private next(): string {
    this.version += 1;
    return String(this.version);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const recorded: RecordedRequest = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: url.searchParams,
      body: text === "" ? undefined : JSON.parse(text),
    };
    this.requests.push(recorded);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (recorded.method === "GET" && url.searchParams.get("watch") !== "true") {
      const discovery = this.discovery(url.pathname);
      if (discovery !== undefined) return json(discovery.status, discovery.body);
    }
    const kind = kindOf(recorded, this.resourceNames());
    if (kind === "review") {
      const spec = (recorded.body as { spec: Record<string, unknown> }).spec;
      const answer = this.review(spec);
      if (typeof answer === "number") return json(answer, status(answer));
      return json(201, { ...(recorded.body as object), status: { allowed: answer } });
    }
    if (kind === "get") {
      await this.getGate;
      if (this.getStatus !== undefined) return json(this.getStatus, status(this.getStatus));
      const collection = url.pathname.slice(0, url.pathname.lastIndexOf("/"));
      const name = url.pathname.slice(url.pathname.lastIndexOf("/") + 1);
      const object = this.collections.get(collection)?.find((o) => o.metadata.name === name);
      return object === undefined ? json(404, status(404)) : json(200, object);
    }
    const items = this.select(url.pathname, url.searchParams);
    if (kind === "watch") {
      res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
      res.flushHeaders();
      const set = this.watches.get(url.pathname) ?? new Set();
      set.add(res);
      this.watches.set(url.pathname, set);
      res.on("close", () => set.delete(res));
      return;
    }
    const failure = this.listFailures.get(url.pathname)?.shift();
    if (failure !== undefined) return json(failure, status(failure));
    const limit = Number(url.searchParams.get("limit") ?? items.length);
    const offset = Number(url.searchParams.get("continue") ?? 0);
    const page = items.slice(offset, offset + limit);
    const more = offset + limit < items.length;
    json(200, {
      apiVersion: "v1",
      kind: "List",
      metadata: {
        resourceVersion: String(this.version),
        ...(more ? { continue: String(offset + limit) } : {}),
      },
      items: page,
    });
  }

  /** Collection names: the core ones and every served custom resource's plural. */
  private resourceNames(): Set<string> {
    const names = new Set(COLLECTIONS);
    for (const list of this.served.values()) for (const r of list) names.add(r.name);
    return names;
  }

  /** `/apis` (APIGroupList) and `/apis/GROUP/VERSION` (APIResourceList) of `served`. */
  private discovery(path: string): { status: number; body: unknown } | undefined {
    if (path === "/apis") {
      const groups = new Map<string, string[]>();
      for (const groupVersion of this.served.keys()) {
        const [group, version] = groupVersion.split("/") as [string, string];
        groups.set(group, [...(groups.get(group) ?? []), version]);
      }
      return {
        status: 200,
        body: {
          kind: "APIGroupList",
          apiVersion: "v1",
          groups: [...groups].map(([name, versions]) => ({
            name,
            versions: versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
            preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
          })),
        },
      };
    }
    const match = /^\/apis\/([^/]+)\/([^/]+)$/.exec(path);
    if (match === null) return undefined;
    const resources = this.served.get(`${match[1]}/${match[2]}`);
    if (resources === undefined) return { status: 404, body: status(404) };
    return {
      status: 200,
      body: {
        kind: "APIResourceList",
        apiVersion: "v1",
        groupVersion: `${match[1]}/${match[2]}`,
        resources: resources.map((r) => ({
          ...r,
          singularName: "",
          verbs: ["get", "list", "watch"],
        })),
      },
    };
  }

  private select(path: string, query: URLSearchParams): FakeObject[] {
    let items = this.collections.get(path) ?? [];
    const field = /^metadata\.name=(.+)$/.exec(query.get("fieldSelector") ?? "");
    if (field !== null) items = items.filter((o) => o.metadata.name === field[1]);
    const label = /^([^=]+)=(.*)$/.exec(query.get("labelSelector") ?? "");
    if (label !== null) {
      items = items.filter((o) => o.metadata.labels?.[label[1] as string] === label[2]);
    }
    return items;
  }
}

function kindOf(
  r: RecordedRequest,
  collections: ReadonlySet<string> = COLLECTIONS,
): "list" | "watch" | "get" | "review" {
  if (r.method === "POST") return "review";
  if (r.query.get("watch") === "true") return "watch";
  const last = r.path.slice(r.path.lastIndexOf("/") + 1);
  return collections.has(last) ? "list" : "get";
}

function status(code: number): Record<string, unknown> {
  return { kind: "Status", apiVersion: "v1", status: "Failure", code, message: `HTTP ${code}` };
}
