/**
 * Polling with a deadline. Everything the apiserver does asynchronously (readiness, webhook
 * registration, CRD establishment) is waited for with this, never with a fixed sleep.
 */
import { setTimeout as sleep } from "node:timers/promises";

/** Options for {@link pollUntil}. */
export interface PollOptions {
  /** What is being waited for, for the timeout message. */
  what: string;
  timeoutMs?: number;
  intervalMs?: number;
  /** Extra context for the timeout message (e.g. a log tail), computed only on timeout. */
  onTimeout?: () => string;
  /** An error for which this returns true ends the wait at once (rethrown as is). */
  stopOn?: (error: unknown) => boolean;
}

/**
 * Calls `attempt` until it returns a value other than `undefined`, or throws after the
 * deadline with the last error (if any) as `cause`. Errors thrown by `attempt` count as "not
 * yet".
 */
export async function pollUntil<T>(
  attempt: () => Promise<T | undefined> | T | undefined,
  options: PollOptions,
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const interval = options.intervalMs ?? 200;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await attempt();
      if (value !== undefined) return value;
    } catch (error) {
      if (options.stopOn?.(error) === true) throw error;
      lastError = error;
    }
    if (Date.now() >= deadline) break;
    await sleep(interval);
  }
  const detail = options.onTimeout?.() ?? "";
  const last = lastError instanceof Error ? `; last error: ${lastError.message}` : "";
  throw new Error(
    `timed out after ${options.timeoutMs ?? 30_000} ms waiting for ${options.what}${last}${detail ? `\n${detail}` : ""}`,
    { cause: lastError },
  );
}
