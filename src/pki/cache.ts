/**
 * A small least-recently-used map bounded by entry count and by an estimated byte size, so a
 * flood of distinct inputs cannot grow memory without limit. A Map keeps insertion order, so
 * re-inserting on a hit makes the first key the least recently used one.
 */
export class LruCache<V> {
  readonly #entries = new Map<string, { value: V; bytes: number }>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;

  /**
   * @param maxEntries most entries kept
   * @param maxBytes most estimated bytes kept; a single larger entry is not cached at all
   */
  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
  ) {}

  /** The value for `key`, marking it most recently used. */
  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** Stores `value` (of estimated size `bytes`), evicting the least recently used entries. */
  set(key: string, value: V, bytes: number): void {
    this.delete(key);
    if (bytes > this.maxBytes || this.maxEntries <= 0) return;
    this.#entries.set(key, { value, bytes });
    this.#bytes += bytes;
    while (this.#entries.size > this.maxEntries || this.#bytes > this.maxBytes) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
    }
  }

  /** Removes `key` if present. */
  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }

  /** Removes everything and resets the counters. */
  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
    this.#hits = 0;
    this.#misses = 0;
  }

  /** Counters for tests and metrics. */
  stats(): { entries: number; bytes: number; hits: number; misses: number } {
    return {
      entries: this.#entries.size,
      bytes: this.#bytes,
      hits: this.#hits,
      misses: this.#misses,
    };
  }
}
