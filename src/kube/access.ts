/**
 * "May this user `get` this object?", asked before the webhook reads a Secret for a request, so
 * that nobody learns through the webhook what they could not read themselves. The question is a
 * SubjectAccessReview (authorization.k8s.io/v1) for the request's `userInfo`; this module keeps
 * the answers briefly (bounded LRU, TTL) and lets concurrent identical questions share one
 * review. The review itself is a function given to it (`kube/cluster.ts` sends it with
 * client-node; tests pass a fake).
 */
import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { UserInfo } from "../core/types.js";
import type { Access, ReadResource } from "../core/view.js";
import type { Metrics } from "../observability/metrics.js";

/** What one SubjectAccessReview asks: may `user` get `resource` `namespace/name`? */
export interface AccessQuestion {
  readonly user: UserInfo;
  readonly resource: ReadResource;
  readonly namespace: string;
  readonly name: string;
}

/**
 * Sends one SubjectAccessReview: resolves with `status.allowed`, rejects (with a short reason
 * as the message) when the API cannot answer.
 */
export type ReviewAccess = (question: AccessQuestion) => Promise<boolean>;

export interface AccessReviewerOptions {
  /** How long an answer (allowed or denied) is reused; 0 reuses none (in-flight still shared). */
  readonly ttlMs: number;
  /** Most answers kept (least recently used go first). */
  readonly max: number;
  /** A review still unanswered after this counts as "unavailable" (and is not shared further). */
  readonly timeoutMs: number;
  readonly metrics?: Pick<Metrics, "accessReviews" | "accessReviewCache">;
  /** Milliseconds of a monotonic clock, for tests; default `performance.now()`. */
  readonly now?: () => number;
}

export class AccessReviewer {
  private readonly cache: LRUCache<string, boolean, AccessQuestion>;

  constructor(
    private readonly review: ReviewAccess,
    private readonly options: AccessReviewerOptions,
  ) {
    const now = options.now;
    this.cache = new LRUCache<string, boolean, AccessQuestion>({
      max: options.max,
      // lru-cache reads ttl 0 as "forever": with no reuse wanted, entries are dropped on arrival.
      ttl: Math.max(options.ttlMs, 1),
      ttlResolution: 0,
      // A question evicted while its review is in flight still gets that review's answer.
      ignoreFetchAbort: true,
      ...(now === undefined ? {} : { perf: { now } }),
      fetchMethod: (_key, _stale, { context }) => this.send(context),
    });
  }

  /** Whether the user may get the object: from the cache, a review in flight, or a new review. */
  async mayGet(
    user: UserInfo,
    resource: ReadResource,
    namespace: string,
    name: string,
  ): Promise<Access> {
    const question: AccessQuestion = { user, resource, namespace, name };
    const key = cacheKey(question);
    const status: LRUCache.Status<string, boolean, AccessQuestion> = {};
    const pending = this.cache.fetch(key, { context: question, status });
    // `status.fetch` is set before fetch() first awaits: hit, inflight (shared) or miss/stale.
    const source =
      status.fetch === "hit" ? "hit" : status.fetch === "inflight" ? "coalesced" : "miss";
    this.options.metrics?.accessReviewCache.inc({ result: source });
    try {
      const allowed = await pending;
      if (this.options.ttlMs <= 0) this.cache.delete(key);
      if (allowed === undefined) return { allowed: false, unavailable: "access review abandoned" };
      return allowed ? { allowed: true } : { allowed: false };
    } catch (error) {
      return { allowed: false, unavailable: (error as Error).message };
    }
  }

  /** Entries held, for the cache-size metric. */
  size(): number {
    return this.cache.size;
  }

  private async send(question: AccessQuestion): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new Error(`no answer to the SubjectAccessReview in ${this.options.timeoutMs}ms`)),
        this.options.timeoutMs,
      );
      timer.unref();
    });
    try {
      const allowed = await Promise.race([this.review(question), timeout]);
      this.options.metrics?.accessReviews.inc({ decision: allowed ? "allowed" : "denied" });
      return allowed;
    } catch (error) {
      // Not cached (fetch() rejects and forgets the key): the next question asks again.
      this.options.metrics?.accessReviews.inc({ decision: "error" });
      throw error instanceof Error ? error : new Error(String(error));
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * One key per (user, uid, groups, extra, object): a fixed-size digest, so that a request with a
 * huge `userInfo` (a direct caller chooses it) costs the cache no more than any other. Groups
 * and extra keys are sorted: their order does not change what the user may do.
 */
export function cacheKey(question: AccessQuestion): string {
  const { user, resource, namespace, name } = question;
  const extra = Object.entries(user.extra ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const identity = [
    user.username ?? "",
    user.uid ?? "",
    [...(user.groups ?? [])].sort(),
    extra,
    resource,
    namespace,
    name,
  ];
  return createHash("sha256").update(JSON.stringify(identity)).digest("hex");
}
