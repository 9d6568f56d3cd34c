import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { withDeadline } from "../../src/decisions.js";
import { MemoryClusterView } from "../../src/kube/memory.js";

describe("withDeadline (answers before the apiserver's deadline)", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date("2026-12-01T00:00:00Z") });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const view = () =>
    new MemoryClusterView().addConfigMap({
      namespace: "apps",
      name: "ca",
      data: { "ca-bundle.crt": "pem" },
    });

  it("answers a lookup the view already has with its value, and arms no timer for it", async () => {
    const timers = vi.spyOn(globalThis, "setTimeout");
    const bounded = withDeadline(view(), Date.now() + 10_000, 1_000);
    const lookup = await bounded.getConfigMap("apps", "ca");
    expect(lookup.found).toBe(true);
    expect(timers).not.toHaveBeenCalled();
    timers.mockRestore();
  });

  it("answers a lookup that hangs as timed out at the margin before the deadline", async () => {
    const hung = view();
    hung.getConfigMap = () => new Promise(() => {});
    const bounded = withDeadline(hung, Date.now() + 3_000, 1_000);
    let answer: unknown;
    void bounded.getConfigMap("apps", "ca").then((value) => {
      answer = value;
    });
    await vi.advanceTimersByTimeAsync(1_999);
    expect(answer).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(answer).toMatchObject({ found: false, timedOut: true });
  });

  it("answers a lookup that arrives in time with its value and clears the timer", async () => {
    const slow = view();
    const original = slow.getConfigMap.bind(slow);
    slow.getConfigMap = (namespace, name) =>
      new Promise((resolve) => setTimeout(() => resolve(original(namespace, name)), 500));
    const bounded = withDeadline(slow, Date.now() + 3_000, 1_000);
    const pending = bounded.getConfigMap("apps", "ca");
    await vi.advanceTimersByTimeAsync(500);
    expect((await pending).found).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });
});
