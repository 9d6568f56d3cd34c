import { LRUCache } from "lru-cache";

/**
 * One copy of each recently seen CA bundle value, shared by every cached ConfigMap that holds
 * it. trust-manager writes the same bundle into the CA ConfigMap of every namespace it
 * targets, so with 10,000 namespaces the watch cache would otherwise keep 10,000 identical
 * strings of a few KiB (36 MiB of heap in the scale run of docs/performance.md for a 3.6 KiB
 * bundle). A value is looked up by its content (a Map key), and the copy already kept is
 * returned; the fresh one becomes garbage. Bounded by entries and characters, so distinct
 * bundles (a cluster without trust-manager) cost only the lookup.
 */
export class ValueInterner {
  readonly #values: LRUCache<string, string>;

  constructor(options: { maxValues?: number; maxChars?: number } = {}) {
    const maxChars = options.maxChars ?? 16 * 1024 * 1024;
    this.#values = new LRUCache<string, string>({
      max: options.maxValues ?? 64,
      maxSize: maxChars,
      // A value larger than the whole budget is returned as it is, never kept.
      maxEntrySize: maxChars,
      sizeCalculation: (value) => Math.max(1, value.length),
    });
  }

  /** The kept copy of `value` if there is one; otherwise `value`, now kept. */
  intern(value: string): string {
    const known = this.#values.get(value);
    if (known !== undefined) return known;
    this.#values.set(value, value);
    return value;
  }

  /** Distinct values kept. */
  get size(): number {
    return this.#values.size;
  }
}
