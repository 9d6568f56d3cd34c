import type { Socket } from "node:net";

/**
 * Bounds the webhook's TCP connections. Every connection costs native memory whether or not
 * it ever speaks TLS (about 17 KiB idle, 34 KiB after a handshake, and a burst more when many
 * close at once: docs/reliability.md), so:
 *
 * - a connection that has not sent its first request within `firstRequestTimeoutMs` is closed
 *   (the TLS handshake timeout closes those that never finish TLS sooner);
 * - at most `maxConnections` are open. When a new one arrives at the limit, the oldest
 *   connection that has not yet sent a request makes room: first one that has not finished
 *   its TLS handshake, then one that has; only when every open connection has sent a request
 *   is the new connection refused. A flood of idle sockets therefore cannot lock the apiserver
 *   out: its new connections send a request within milliseconds and push the idle ones out,
 *   and its connections that have sent one are never touched. The order matters because the
 *   apiserver's HTTP client (Go's) keeps connections it dialed for a burst in its pool even
 *   when another connection took the request: such a connection has finished TLS but sent
 *   nothing, is older than a flood's sockets, and would be the first to go; the apiserver
 *   writing its next review into it just then fails that review ("broken pipe"). Sockets that
 *   never finish TLS (the cheap flood) go first, so that needs a flood of full handshakes.
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
  /**
   * Connections that have not sent a request yet, oldest first (a Map keeps insertion order):
   * those still without TLS (or on a plain HTTP listener), and those past their handshake.
   */
  readonly #plain = new Map<string, Waiting>();
  readonly #secured = new Map<string, Waiting>();
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
    return this.#plain.size + this.#secured.size;
  }

  /** For the server's `connection` event (the TCP socket, before TLS). */
  readonly onConnection = (socket: Socket): void => {
    if (this.#open >= this.#options.maxConnections) {
      const from = this.#plain.size > 0 ? this.#plain : this.#secured;
      const oldest = from.entries().next();
      if (oldest.done) {
        this.#options.onClose?.("limit");
        socket.destroy();
        return;
      }
      from.delete(oldest.value[0]);
      this.#options.onClose?.("evicted");
      oldest.value[1].socket.destroy();
    }
    this.#open++;
    const key = keyOf(socket);
    this.#plain.set(key, { socket, since: this.#now() });
    socket.once("close", () => {
      this.#open--;
      if (this.#plain.get(key)?.socket === socket) this.#plain.delete(key);
      if (this.#secured.get(key)?.socket === socket) this.#secured.delete(key);
    });
    this.#sweeper ??= setInterval(() => this.sweep(), sweepInterval(this.#options)).unref();
  };

  /** For the TLS server's `secureConnection` event: the connection finished its handshake. */
  readonly onSecureConnection = (socket: {
    remoteAddress?: string | undefined;
    remotePort?: number | undefined;
  }): void => {
    const key = keyOf(socket);
    const entry = this.#plain.get(key);
    if (entry === undefined) return;
    this.#plain.delete(key);
    this.#secured.set(key, entry);
  };

  /** A request arrived on `socket` (the TLS socket: it has the same peer address and port). */
  requestOn(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): void {
    if (this.#plain.size + this.#secured.size === 0) return;
    const key = keyOf(socket);
    this.#secured.delete(key);
    this.#plain.delete(key);
  }

  /** Closes the connections that waited too long for their first request. */
  sweep(): void {
    const cutoff = this.#now() - this.#options.firstRequestTimeoutMs;
    // Both hold at most maxConnections entries; the handshake order need not be the connect
    // order, so every entry is looked at.
    for (const waiting of [this.#plain, this.#secured]) {
      for (const [key, entry] of waiting) {
        if (entry.since > cutoff) continue;
        waiting.delete(key);
        this.#options.onClose?.("idle");
        entry.socket.destroy();
      }
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
