import { describe, expect, it } from "vitest";
import { LruCache } from "../../../src/pki/cache.js";

describe("LruCache", () => {
  it("evicts the least recently used entry past the entry cap", () => {
    const cache = new LruCache<number>(2, 1000);
    cache.set("a", 1, 1);
    cache.set("b", 2, 1);
    expect(cache.get("a")).toBe(1); // "b" is now the oldest
    cache.set("c", 3, 1);
    expect([cache.get("a"), cache.get("b"), cache.get("c")]).toEqual([1, undefined, 3]);
  });

  it("evicts past the byte budget and skips entries larger than it", () => {
    const cache = new LruCache<string>(10, 100);
    cache.set("a", "a", 60);
    cache.set("b", "b", 60);
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: 60 });
    cache.set("huge", "h", 101);
    expect(cache.get("huge")).toBeUndefined();
    expect(cache.get("b")).toBe("b");
  });

  it("replaces an existing key without double counting", () => {
    const cache = new LruCache<string>(10, 100);
    cache.set("a", "x", 40);
    cache.set("a", "y", 50);
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: 50 });
    expect(cache.get("a")).toBe("y");
  });

  it("counts hits and misses and clears them", () => {
    const cache = new LruCache<string>(10, 100);
    cache.set("a", "x", 1);
    cache.get("a");
    cache.get("b");
    expect(cache.stats()).toEqual({ entries: 1, bytes: 1, hits: 1, misses: 1 });
    cache.clear();
    expect(cache.stats()).toEqual({ entries: 0, bytes: 0, hits: 0, misses: 0 });
  });
});
