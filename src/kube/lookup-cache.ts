/**
 * The cache of the server's on-demand API reads (unwatched ConfigMaps, trust sources,
 * discovery), on lru-cache: bounded by entries and by estimated bytes, each answer kept for its
 * own TTL (found, absent and failed answers differ), and concurrent reads of one key sharing one
 * request (lru-cache's fetchMethod).
 */
import { LRUCache } from "lru-cache";

/** How one read is made and kept. */
export interface Read<T> {
  readonly load: () => Promise<T>;
  /** How long the answer is kept (ms); undefined: not kept, the next read asks again. */
  readonly ttlMs: (value: T) => number | undefined;
  /** Estimated bytes of the answer. */
  readonly bytes: (value: T) => number;
}

/** An answer that is returned to every waiting reader but not kept. */
class NotKept {
  constructor(readonly value: unknown) {}
}

type Box = { readonly value: unknown };

export class LookupCache {
  private readonly cache: LRUCache<string, Box, Read<unknown>>;

  constructor(options: { readonly maxEntries: number; readonly maxBytes: number }) {
    this.cache = new LRUCache<string, Box, Read<unknown>>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      // Each answer gets its TTL when it arrives (fetchMethod sets options.ttl).
      ttl: 1,
      ttlAutopurge: false,
      // Date.now, not performance.now: tests move it with fake timers.
      perf: { now: () => Date.now() },
      ttlResolution: 0,
      // A key evicted while its read is in flight still gets that read's answer.
      ignoreFetchAbort: true,
      fetchMethod: async (_key, _stale, { options, context }) => {
        const value = await context.load();
        const ttl = context.ttlMs(value);
        if (ttl === undefined || ttl <= 0) throw new NotKept(value);
        options.ttl = ttl;
        options.size = Math.max(1, context.bytes(value));
        return { value };
      },
    });
  }

  /** The kept answer, the one in flight, or a new read. A failed `load` rejects. */
  async get<T>(key: string, read: Read<T>): Promise<T> {
    try {
      const box = await this.cache.fetch(key, { context: read as Read<unknown> });
      if (box === undefined) return await read.load();
      return box.value as T;
    } catch (error) {
      if (error instanceof NotKept) return error.value as T;
      throw error;
    }
  }

  /** Entries held, for the cache-size metric. */
  get size(): number {
    return this.cache.size;
  }
}
