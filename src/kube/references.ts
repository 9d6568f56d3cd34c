/**
 * The live reference index of the Secret guard: a list+watch of every resource the rule table
 * covers (Connectors, the OpenChoreo planes, the kcp kinds, the config file's rules; never
 * Secrets), each object reduced to its Secret references as it arrives (policy/references.ts,
 * the engine's own resolution) before anything keeps it, and the index (reference-index.ts)
 * updated from the watch events.
 *
 * Which version of each kind is served comes from discovery: the group's preferred version
 * when the rule allows it, else the first served one it allows. A kind whose CRD is not
 * installed is not an error: it is looked for again every `rediscoverMs` (and at once when a
 * watched resource answers 404, its CRD removed), and readiness waits only for the kinds that
 * exist. Readiness waits for the first discovery and for every watch found then; a kind
 * installed later is watched as soon as it is discovered, without making a ready server
 * unready while it lists.
 */
import {
  ApisApi,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1ObjectMeta,
} from "@kubernetes/client-node";
import type { GroupVersionKind, KubeObject } from "../core/types.js";
import type { Logger } from "../observability/logger.js";
import type { PolicySettings } from "../policy/engine.js";
import { referencesOf, type SecretReference } from "../policy/references.js";
import type { ReferenceRule } from "../policy/rules.js";
import { describeError, Reflector, statusOf } from "./cluster.js";
import { clientDiscovery, type Discovery } from "./discovery.js";
import { ReferenceIndex } from "./reference-index.js";

export type { Discovery } from "./discovery.js";

/** A resource of the rule table that the apiserver serves, as discovery found it. */
export interface ServedResource {
  readonly group: string;
  readonly version: string;
  /** Plural resource name, e.g. `dataplanes`. */
  readonly resource: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

/**
 * The served resources of the reference rules: for each group and kind, the first served
 * version the rule allows (the preferred one first) that serves the kind's plural resource.
 * Kinds that are not served are left out; a group or kind named by two rules is taken once
 * (the first rule governs it, as in the engine's `findRule`).
 */
export async function servedResources(
  rules: readonly ReferenceRule[],
  discovery: Discovery,
): Promise<ServedResource[]> {
  const groups = await discovery.apiGroups();
  const resources = new Map<string, ReturnType<Discovery["apiResources"]>>();
  const listOf = (group: string, version: string) => {
    const id = `${group}/${version}`;
    let list = resources.get(id);
    if (list === undefined) {
      list = discovery.apiResources(group, version);
      resources.set(id, list);
    }
    return list;
  };
  const out: ServedResource[] = [];
  const seen = new Set<string>();
  for (const rule of rules) {
    for (const group of rule.apiGroups) {
      const versions = (groups.get(group) ?? []).filter(
        (v) => rule.versions.includes("*") || rule.versions.includes(v),
      );
      for (const [kind, plural] of Object.entries(rule.kinds)) {
        if (seen.has(`${group}/${kind}`)) continue;
        for (const version of versions) {
          const served = (await listOf(group, version))?.find(
            (r) => r.name === plural && r.kind === kind,
          );
          if (served === undefined) continue;
          seen.add(`${group}/${kind}`);
          out.push({ group, version, resource: plural, kind, namespaced: served.namespaced });
          break;
        }
      }
    }
  }
  return out;
}

/** How often discovery looks for kinds that are not served (yet), and for removed ones. */
export const REDISCOVER_MS = 30_000;

export interface ReferenceWatcherOptions {
  /** The rules (built-in first) and settings the engine decides with. */
  readonly settings: PolicySettings;
  readonly logger: Logger;
  /** Default {@link REDISCOVER_MS}. */
  readonly rediscoverMs?: number;
}

/** What a watched object is reduced to: its identity and its Secret references. */
interface Projected extends KubernetesObject {
  references: readonly SecretReference[];
}

/** One watched resource. */
interface Watched {
  readonly served: ServedResource;
  readonly reflector: Reflector<Projected>;
  /** Counts toward readiness: found by the first discovery, or synced once since. */
  gates: boolean;
}

/**
 * The watches of the rule table's resources and the index they fill. `start` resolves after
 * the first discovery and the first list of every resource it found (or their failure; they
 * retry with backoff and readiness says why).
 */
export class ReferenceWatcher {
  readonly index = new ReferenceIndex();
  private readonly apis: ApisApi;
  private readonly custom: CustomObjectsApi;
  private readonly watched = new Map<string, Watched>();
  private readonly rules: readonly ReferenceRule[];
  private discovered = false;
  private discoveryError: string | undefined = "not started";
  private discoveryFailures = 0;
  private timer: NodeJS.Timeout | undefined;
  private discovering: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly kc: KubeConfig,
    private readonly options: ReferenceWatcherOptions,
  ) {
    this.apis = kc.makeApiClient(ApisApi);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.rules = options.settings.rules.filter((r): r is ReferenceRule => r.type === "reference");
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.discover();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.all([...this.watched.values()].map((w) => w.reflector.stop()));
  }

  /** Readiness: discovery has answered once and every gating watch has listed. */
  health(): { ok: boolean; reason?: string } {
    if (!this.discovered) {
      return {
        ok: false,
        reason: `reference index: discovering the rule table's kinds (${this.discoveryError ?? "in progress"})`,
      };
    }
    const waiting = [...this.watched.values()].filter((w) => w.gates && !w.reflector.synced);
    if (waiting.length === 0) return { ok: true };
    return {
      ok: false,
      reason: `reference index not synced: ${waiting.map((w) => `${w.reflector.name} (${w.reflector.lastError ?? "syncing"})`).join(", ")}`,
    };
  }

  /** The resources watched now, `resource.group/version`. */
  resources(): string[] {
    return [...this.watched.values()].map(
      (w) => `${w.served.resource}.${w.served.group}/${w.served.version}`,
    );
  }

  /** Objects per watch and the index's size (the cache-size metric). */
  sizes(): Record<string, number> {
    const { objects, secrets, references } = this.index.sizes();
    return {
      "reference-index-objects": objects,
      "reference-index-secrets": secrets,
      "reference-index-references": references,
    };
  }

  /** Discovery, then a watch for every newly served resource and none for removed ones. */
  private discover(): Promise<void> {
    this.discovering ??= this.discoverOnce().finally(() => {
      this.discovering = undefined;
    });
    return this.discovering;
  }

  private async discoverOnce(): Promise<void> {
    let served: ServedResource[];
    try {
      served = await servedResources(this.rules, this.discovery());
    } catch (error) {
      this.discoveryFailures++;
      this.discoveryError = describeError(error);
      // Until discovery first answers, retry as the watches do (0.5 s doubling to 10 s).
      const delay = this.discovered
        ? (this.options.rediscoverMs ?? REDISCOVER_MS)
        : Math.min(10_000, 500 * 2 ** Math.min(this.discoveryFailures - 1, 5));
      this.options.logger.warn(
        { cache: "reference-index", error: this.discoveryError, retryInMs: delay },
        "discovery failed; retrying",
      );
      this.schedule(delay);
      return;
    }
    this.discoveryFailures = 0;
    this.discoveryError = undefined;
    const first = !this.discovered;
    const wanted = new Map(served.map((s) => [keyOf(s), s]));
    const stopping: Promise<void>[] = [];
    for (const [key, watched] of this.watched) {
      const now = wanted.get(key);
      if (now !== undefined && now.version === watched.served.version) continue;
      // No longer served (the CRD is gone) or served at another version: its objects go.
      this.watched.delete(key);
      stopping.push(watched.reflector.stop());
      this.index.deletePrefix(`${key} `);
      this.options.logger.info({ resource: key }, "reference index: no longer watched");
    }
    await Promise.all(stopping);
    const starting: Promise<void>[] = [];
    for (const [key, resource] of wanted) {
      if (this.watched.has(key)) continue;
      const watched: Watched = {
        served: resource,
        reflector: this.reflect(resource),
        gates: first,
      };
      this.watched.set(key, watched);
      starting.push(
        watched.reflector.start().then(() => {
          if (watched.reflector.synced) watched.gates = true;
        }),
      );
      this.options.logger.info(
        { resource: `${key}/${resource.version}` },
        "reference index: watching",
      );
    }
    this.discovered = true;
    this.schedule(this.options.rediscoverMs ?? REDISCOVER_MS);
    await Promise.all(starting);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.discover(), delayMs);
    this.timer.unref();
  }

  /** The list+watch of one resource, each object reduced to its references. */
  private reflect(served: ServedResource): Reflector<Projected> {
    const { group, version, resource, kind } = served;
    const gvk: GroupVersionKind = { group, version, kind };
    const key = keyOf(served);
    const settings = this.options.settings;
    const reflector = new Reflector<Projected>(
      `references ${resource}.${group}`,
      this.kc,
      `/apis/${group}/${version}/${resource}`,
      async (query) => {
        const list = (await this.custom.listClusterCustomObject({
          group,
          version,
          plural: resource,
          ...query,
        })) as {
          items?: Projected[];
          metadata?: { resourceVersion?: string; continue?: string };
        };
        // A custom object list is plain JSON: its continue token is `continue`, where the
        // typed lists the paging reads (V1ListMeta) call it `_continue`.
        const metadata: KubernetesListObject<Projected>["metadata"] = {
          ...(list.metadata?.resourceVersion
            ? { resourceVersion: list.metadata.resourceVersion }
            : {}),
          ...(list.metadata?.continue ? { _continue: list.metadata.continue } : {}),
        };
        return {
          apiVersion: `${group}/${version}`,
          kind: `${kind}List`,
          metadata,
          items: list.items ?? [],
        };
      },
      {},
      this.options.logger,
      (object) => ({
        metadata: identity(object.metadata, this.index),
        references: referencesOf(object as unknown as KubeObject, gvk, settings),
      }),
    );
    const objectKey = (object: Projected) =>
      `${key} ${object.metadata?.namespace ?? ""}/${object.metadata?.name ?? ""}`;
    const update = (object: Projected) => {
      this.index.set(
        objectKey(object),
        {
          group,
          kind,
          namespace: object.metadata?.namespace ?? "",
          name: object.metadata?.name ?? "",
        },
        object.references,
      );
      // The index holds them now; the watch's own store keeps the identity only.
      object.references = NONE;
    };
    reflector.watch.on("add", update);
    reflector.watch.on("update", update);
    reflector.watch.on("delete", (object: Projected) => this.index.delete(objectKey(object)));
    reflector.watch.on("error", (error?: unknown) => {
      // The CRD was removed: look again now rather than retrying a resource that is gone.
      if (statusOf(error) === 404) this.schedule(0);
    });
    return reflector;
  }

  private discovery(): Discovery {
    return clientDiscovery(this.apis, this.custom);
  }
}

function keyOf(served: ServedResource): string {
  return `${served.resource}.${served.group}`;
}

const NONE: readonly SecretReference[] = Object.freeze([]);

/** Name, namespace (shared) and resourceVersion: what ListWatch needs of a stored object. */
function identity(metadata: V1ObjectMeta | undefined, strings: ReferenceIndex): V1ObjectMeta {
  return {
    name: metadata?.name,
    namespace: metadata?.namespace === undefined ? undefined : strings.intern(metadata.namespace),
    resourceVersion: metadata?.resourceVersion,
  } as V1ObjectMeta;
}
