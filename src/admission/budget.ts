/**
 * The memory the requests in flight may hold, as one budget: a request takes its share when
 * its headers arrive (the body it announces) and grows it once the body is scanned (what
 * decoding it will cost), and gives it back when its answer is sent or its connection closes.
 * A request that does not fit is refused at once (429), so a burst of large bodies is turned
 * away instead of queued into an out-of-memory crash. docs/reliability.md has the arithmetic.
 *
 * Small bodies (a Pod review is 5–40 KiB) may use the whole budget; larger ones only what is
 * left above a reserve, so that hostile large bodies can never crowd out the small reviews the
 * apiserver sends for ordinary Pods (with failurePolicy Fail, a refused review is a denied Pod).
 */

/**
 * Largest body accepted. The apiserver caps a request at 3 MiB (k8s.io/apiserver
 * MaxRequestBodyBytes), and a Pod CREATE review carries one object; 4 MiB leaves room for the
 * envelope. Fastify's 1 MiB default would refuse legal Pods.
 */
export const BODY_LIMIT = 4 * 1024 * 1024;

/** Bodies up to this size are "small": they may use the reserve. */
export const SMALL_BODY_BYTES = 64 * 1024;
/** Share of the budget only small bodies may use. */
export const SMALL_RESERVE_FRACTION = 0.25;
/** Fixed cost of one request (Fastify request/reply, headers, the answer), estimated. */
export const REQUEST_OVERHEAD_BYTES = 16 * 1024;
/**
 * Heap per decoded JSON value, worst case measured on Node 20 (docs/reliability.md): 134 bytes
 * for objects that each bring a new key, 64 for `{}`, 8 for a number in an array.
 */
export const BYTES_PER_VALUE = 150;

/** While a body arrives: the chunks and their concatenation. */
export function receiveEstimate(bodyBytes: number): number {
  return REQUEST_OVERHEAD_BYTES + 2 * bodyBytes;
}

/**
 * Once scanned: the raw body, its text (two bytes per character when it is not ASCII) and the
 * decoded values.
 */
export function decodeEstimate(bodyBytes: number, values: number): number {
  return REQUEST_OVERHEAD_BYTES + 3 * bodyBytes + BYTES_PER_VALUE * values;
}

/** One request's share of the budget. */
export class Ticket {
  #released = false;

  constructor(
    readonly budget: MemoryBudget,
    readonly small: boolean,
    /** Bytes held now. */
    public bytes: number,
  ) {}

  /** Grows the share to `bytes` (never shrinks it); false (unchanged) if it does not fit. */
  grow(bytes: number): boolean {
    if (this.#released || bytes <= this.bytes) return true;
    if (!this.budget.add(bytes - this.bytes, this.small)) return false;
    this.bytes = bytes;
    return true;
  }

  /** Gives the share back; later calls do nothing. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.budget.add(-this.bytes, this.small);
  }
}

export class MemoryBudget {
  #used = 0;
  #peak = 0;

  constructor(
    /** Total bytes. */
    readonly capacity: number,
    /** Bytes only small requests may use. */
    readonly reserve: number = Math.floor(capacity * SMALL_RESERVE_FRACTION),
  ) {}

  /** Bytes held by requests in flight. */
  get used(): number {
    return this.#used;
  }

  /** Most bytes held at once since start. */
  get peak(): number {
    return this.#peak;
  }

  /** What a request of this class may hold in total with everything else in flight. */
  limitFor(small: boolean): number {
    return small ? this.capacity : this.capacity - this.reserve;
  }

  /** A ticket for `bytes`, or undefined when they do not fit. */
  take(bytes: number, small: boolean): Ticket | undefined {
    return this.add(bytes, small) ? new Ticket(this, small, bytes) : undefined;
  }

  /** Adds `bytes` (negative: gives back) if they fit; tickets call it. */
  add(bytes: number, small: boolean): boolean {
    if (bytes > 0 && this.#used + bytes > this.limitFor(small)) return false;
    this.#used += bytes;
    if (this.#used > this.#peak) this.#peak = this.#used;
    return true;
  }
}
