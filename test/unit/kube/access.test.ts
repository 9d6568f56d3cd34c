/**
 * The SubjectAccessReview cache (src/kube/access.ts) against a fake review function: answers
 * are reused per (user, uid, groups, extra, object) for the TTL and no longer, identical
 * questions in flight share one review, failures are never cached, a hung review ends as
 * "unavailable", the cache is bounded, and every answer is counted in the metrics. A fixed
 * clock (the cache's `now`) and fake timers: nothing here depends on wall-clock speed.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { UserInfo } from "../../../src/core/types.js";
import {
  type AccessQuestion,
  AccessReviewer,
  type AccessReviewerOptions,
  cacheKey,
} from "../../../src/kube/access.js";
import { createMetrics, type Metrics } from "../../../src/observability/metrics.js";

const ALICE: UserInfo = { username: "alice", uid: "1", groups: ["a", "b"] };

/** A fake SubjectAccessReview: allowed when `allow` says so; records every review sent. */
class FakeReviews {
  readonly sent: AccessQuestion[] = [];
  allow: (q: AccessQuestion) => boolean = (q) => q.namespace === "team-a";
  /** When set, reviews wait for `release()` instead of answering at once. */
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  fail: string | undefined;
  hang = false;

  readonly review = async (q: AccessQuestion): Promise<boolean> => {
    this.sent.push(q);
    if (this.hang) return new Promise<boolean>(() => undefined);
    if (this.gate) await this.gate;
    if (this.fail !== undefined) throw new Error(this.fail);
    return this.allow(q);
  };

  hold(): void {
    this.gate = new Promise((resolve) => {
      this.open = resolve;
    });
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }
}

let clock = 0;
let fake: FakeReviews;
let metrics: Metrics;

function reviewer(options: Partial<AccessReviewerOptions> = {}): AccessReviewer {
  return new AccessReviewer(fake.review, {
    ttlMs: 10_000,
    max: 100,
    timeoutMs: 5_000,
    metrics,
    now: () => clock,
    ...options,
  });
}

async function counts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const counter of [metrics.accessReviews, metrics.accessReviewCache]) {
    for (const v of (await counter.get()).values) {
      out[
        `${counter === metrics.accessReviews ? "review" : "cache"}:${Object.values(v.labels)[0]}`
      ] = v.value;
    }
  }
  return out;
}

beforeEach(() => {
  clock = 1_000;
  fake = new FakeReviews();
  metrics = createMetrics({ processMetrics: false });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("answers and their reuse", () => {
  it("answers allowed and denied as the review says, each asked once within the TTL", async () => {
    const r = reviewer();
    expect(await r.mayGet(ALICE, "secrets", "team-a", "ca")).toEqual({ allowed: true });
    expect(await r.mayGet(ALICE, "secrets", "argocd", "admin")).toEqual({ allowed: false });
    expect(await r.mayGet(ALICE, "secrets", "team-a", "ca")).toEqual({ allowed: true });
    expect(await r.mayGet(ALICE, "secrets", "argocd", "admin")).toEqual({ allowed: false });
    expect(fake.sent).toHaveLength(2);
    expect(await counts()).toEqual({
      "review:allowed": 1,
      "review:denied": 1,
      "cache:miss": 2,
      "cache:hit": 2,
    });
  });

  it("asks again once the TTL has passed (a revoked grant stops counting)", async () => {
    const r = reviewer({ ttlMs: 10_000 });
    await r.mayGet(ALICE, "secrets", "team-a", "ca");
    clock += 9_999;
    await r.mayGet(ALICE, "secrets", "team-a", "ca");
    expect(fake.sent).toHaveLength(1);
    fake.allow = () => false;
    clock += 2;
    expect(await r.mayGet(ALICE, "secrets", "team-a", "ca")).toEqual({ allowed: false });
    expect(fake.sent).toHaveLength(2);
  });

  it.each<[string, UserInfo, boolean]>([
    ["the same groups in another order", { username: "alice", uid: "1", groups: ["b", "a"] }, true],
    ["another group", { username: "alice", uid: "1", groups: ["a", "b", "admins"] }, false],
    ["another uid", { username: "alice", uid: "2", groups: ["a", "b"] }, false],
    ["another user", { username: "bob", uid: "1", groups: ["a", "b"] }, false],
    ["an extra value", { ...ALICE, extra: { scopes: ["x"] } }, false],
  ])("%s: reused=%s", async (_name, other, reused) => {
    const r = reviewer();
    await r.mayGet(ALICE, "secrets", "team-a", "ca");
    await r.mayGet(other, "secrets", "team-a", "ca");
    expect(fake.sent).toHaveLength(reused ? 1 : 2);
  });

  it.each<[string, AccessQuestion]>([
    ["another name", { user: ALICE, resource: "secrets", namespace: "team-a", name: "other" }],
    ["another namespace", { user: ALICE, resource: "secrets", namespace: "team-b", name: "ca" }],
    ["another resource", { user: ALICE, resource: "configmaps", namespace: "team-a", name: "ca" }],
  ])("%s is another question", async (_name, q) => {
    const r = reviewer();
    await r.mayGet(ALICE, "secrets", "team-a", "ca");
    await r.mayGet(q.user, q.resource, q.namespace, q.name);
    expect(fake.sent).toHaveLength(2);
  });

  it("TTL 0 reuses nothing", async () => {
    const r = reviewer({ ttlMs: 0 });
    await r.mayGet(ALICE, "secrets", "team-a", "ca");
    await r.mayGet(ALICE, "secrets", "team-a", "ca");
    expect(fake.sent).toHaveLength(2);
    expect(r.size()).toBe(0);
  });
});

describe("coalescing", () => {
  it("identical questions in flight share one review and all get its answer", async () => {
    const r = reviewer();
    fake.hold();
    const answers = Promise.all(
      Array.from({ length: 20 }, () => r.mayGet(ALICE, "secrets", "team-a", "ca")),
    );
    fake.release();
    expect(new Set((await answers).map((a) => JSON.stringify(a)))).toEqual(
      new Set([JSON.stringify({ allowed: true })]),
    );
    expect(fake.sent).toHaveLength(1);
    expect(await counts()).toEqual({ "review:allowed": 1, "cache:miss": 1, "cache:coalesced": 19 });
  });

  it("TTL 0 still shares a review in flight", async () => {
    const r = reviewer({ ttlMs: 0 });
    fake.hold();
    const both = Promise.all([
      r.mayGet(ALICE, "secrets", "team-a", "ca"),
      r.mayGet(ALICE, "secrets", "team-a", "ca"),
    ]);
    fake.release();
    expect(await both).toEqual([{ allowed: true }, { allowed: true }]);
    expect(fake.sent).toHaveLength(1);
  });
});

describe("failures", () => {
  it("an API error is 'unavailable' with its reason, counted, and never cached", async () => {
    const r = reviewer();
    fake.fail = "HTTP 503";
    expect(await r.mayGet(ALICE, "secrets", "team-a", "ca")).toEqual({
      allowed: false,
      unavailable: "HTTP 503",
    });
    fake.fail = undefined;
    expect(await r.mayGet(ALICE, "secrets", "team-a", "ca")).toEqual({ allowed: true });
    expect(fake.sent).toHaveLength(2);
    expect(await counts()).toEqual({ "review:error": 1, "review:allowed": 1, "cache:miss": 2 });
  });

  it("a review that never answers ends as 'unavailable' after the timeout; the next asks anew", async () => {
    vi.useFakeTimers();
    const r = reviewer({ timeoutMs: 5_000 });
    fake.hang = true;
    const first = r.mayGet(ALICE, "secrets", "team-a", "ca");
    const second = r.mayGet(ALICE, "secrets", "team-a", "ca");
    await vi.advanceTimersByTimeAsync(5_000);
    const expected = {
      allowed: false,
      unavailable: "no answer to the SubjectAccessReview in 5000ms",
    };
    expect(await first).toEqual(expected);
    expect(await second).toEqual(expected);
    fake.hang = false;
    expect(await r.mayGet(ALICE, "secrets", "team-a", "ca")).toEqual({ allowed: true });
    expect(fake.sent).toHaveLength(2);
  });
});

describe("bounds", () => {
  it("keeps at most `max` answers, the least recently used going first", async () => {
    const r = reviewer({ max: 2 });
    await r.mayGet(ALICE, "secrets", "ns", "one");
    await r.mayGet(ALICE, "secrets", "ns", "two");
    await r.mayGet(ALICE, "secrets", "ns", "three");
    expect(r.size()).toBe(2);
    await r.mayGet(ALICE, "secrets", "ns", "three");
    expect(fake.sent).toHaveLength(3);
    await r.mayGet(ALICE, "secrets", "ns", "one");
    expect(fake.sent).toHaveLength(4);
  });

  it("a huge userInfo costs one fixed-size key", () => {
    const huge: UserInfo = {
      username: "x".repeat(1_000_000),
      groups: Array.from({ length: 10_000 }, (_, i) => `g${i}`),
      extra: { k: ["v".repeat(100_000)] },
    };
    const key = cacheKey({ user: huge, resource: "secrets", namespace: "n", name: "s" });
    expect(key).toMatch(/^[0-9a-f]{64}$/);
  });
});
