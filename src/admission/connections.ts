import type { Socket } from "node:net";

/**
 * Bounds the webhook's TCP connections. Every connection costs native memory whether or not
 * it ever speaks TLS (about 17 KiB idle, 34 KiB after a handshake, and a burst more when many
 * close at once: docs/reliability.md), so:
 *
 * - a connection that has not sent its first request within `firstRequestTimeoutMs` is closed
 *   (the TLS handshake timeout closes those that never finish TLS sooner);
 * - at most `maxConnections` are open. When a new one arrives at the limit, the oldest
 *   connection that has not yet sent a request makes room; only when every open connection
 *   has sent one is the new connection refused. A flood of idle sockets therefore cannot lock
 *   the apiserver out: its new connections send a request within milliseconds and push the
 *   idle ones out, and its pooled keep-alive connections are never touched.
 */
export interface ConnectionGuardOptions {
  maxConnections: number;
  firstRequestTimeoutMs: number;
  /** Called for each connection closed by the guard, with why. */
  onClose?: (reason: "limit" | "evicted" | "idle") => void;
  now?: () => number;
}

interface Waiting {
  socket: Socket;
  since: number;
}

export class ConnectionGuard {
  readonly #options: ConnectionGuardOptions;
  readonly #now: () => number;
  /** Connections that have not sent a request yet, oldest first (a Map keeps insertion order). */
  readonly #waiting = new Map<string, Waiting>();
  #open = 0;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(options: ConnectionGuardOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Open connections (as counted by the guard). */
  get open(): number {
    return this.#open;
  }

  /** Connections that have not sent a request yet. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** For the server's `connection` event (the TCP socket, before TLS). */
  readonly onConnection = (socket: Socket): void => {
    if (this.#open >= this.#options.maxConnections) {
      const oldest = this.#waiting.entries().next();
      if (oldest.done) {
        this.#options.onClose?.("limit");
        socket.destroy();
        return;
      }
      this.#waiting.delete(oldest.value[0]);
      this.#options.onClose?.("evicted");
      oldest.value[1].socket.destroy();
    }
    this.#open++;
    const key = keyOf(socket);
    this.#waiting.set(key, { socket, since: this.#now() });
    socket.once("close", () => {
      this.#open--;
      if (this.#waiting.get(key)?.socket === socket) this.#waiting.delete(key);
    });
    this.#sweeper ??= setInterval(() => this.sweep(), sweepInterval(this.#options)).unref();
  };

  /** A request arrived on `socket` (the TLS socket: it has the same peer address and port). */
  requestOn(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): void {
    if (this.#waiting.size > 0) this.#waiting.delete(keyOf(socket));
  }

  /** Closes the connections that waited too long for their first request. */
  sweep(): void {
    const cutoff = this.#now() - this.#options.firstRequestTimeoutMs;
    for (const [key, entry] of this.#waiting) {
      if (entry.since > cutoff) break;
      this.#waiting.delete(key);
      this.#options.onClose?.("idle");
      entry.socket.destroy();
    }
  }

  stop(): void {
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }
}

function keyOf(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }) {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}

/** Often enough that a connection outlives its timeout by at most a quarter of it (≤ 1 s). */
function sweepInterval(options: ConnectionGuardOptions): number {
  return Math.max(50, Math.min(1_000, Math.floor(options.firstRequestTimeoutMs / 4)));
}
