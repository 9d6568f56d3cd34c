/**
 * At most `perSecond` log lines per reason and second. Every byte that reaches the webhook can
 * come from a client with no credentials (the webhook port is reachable in the cluster), and a
 * line per request would let one client write tens of thousands of lines a second, with
 * uids and names of its choosing, into the operators' log pipeline. Lines over the limit are
 * counted instead, and one line per reason and window says how many were left out.
 */
export interface LogLimiterOptions {
  /** Lines per reason per window; 0 means no limit. */
  perSecond: number;
  /** Writes the summary of a window that left lines out. */
  report: (reason: string, suppressed: number, windowMs: number) => void;
  /** Counts each line left out (a metric). */
  onSuppressed?: (reason: string) => void;
  now?: () => number;
  windowMs?: number;
}

interface Window {
  start: number;
  written: number;
  suppressed: number;
  timer: NodeJS.Timeout | undefined;
}

export class LogLimiter {
  readonly #options: LogLimiterOptions;
  readonly #now: () => number;
  readonly #windowMs: number;
  /** Reasons are the webhook's own codes and decisions: a small, fixed set. */
  readonly #windows = new Map<string, Window>();

  constructor(options: LogLimiterOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#windowMs = options.windowMs ?? 1_000;
  }

  /** Whether a line for `reason` may be written now; if not, it is counted as left out. */
  allow(reason: string): boolean {
    if (this.#options.perSecond <= 0) return true;
    const now = this.#now();
    let window = this.#windows.get(reason);
    if (window === undefined) {
      window = { start: now, written: 0, suppressed: 0, timer: undefined };
      this.#windows.set(reason, window);
    } else if (now - window.start >= this.#windowMs) {
      this.#flush(reason, window);
      window.start = now;
      window.written = 0;
    }
    if (window.written < this.#options.perSecond) {
      window.written++;
      return true;
    }
    window.suppressed++;
    this.#options.onSuppressed?.(reason);
    if (window.timer === undefined) {
      // The summary is due even if no further line for this reason ever comes.
      const w = window;
      w.timer = setTimeout(
        () => this.#flush(reason, w),
        Math.max(1, w.start + this.#windowMs - now),
      );
      w.timer.unref();
    }
    return false;
  }

  /** Writes every pending summary now (shutdown, tests). */
  flush(): void {
    for (const [reason, window] of this.#windows) this.#flush(reason, window);
  }

  #flush(reason: string, window: Window): void {
    if (window.timer !== undefined) clearTimeout(window.timer);
    window.timer = undefined;
    if (window.suppressed === 0) return;
    const suppressed = window.suppressed;
    window.suppressed = 0;
    this.#options.report(reason, suppressed, this.#windowMs);
  }
}
