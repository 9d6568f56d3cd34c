/**
 * Starts a bench server child (server.ts or baseline.ts) with an IPC channel and talks to it:
 * wait until it listens, reset and read its probe, stop it. Children never outlive the bench:
 * they exit when the channel closes, and the parent kills any left on exit.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { BenchBundles } from "./fixtures.js";
import type { ChildMessage, IndexFigures, ParentMessage, ProbeReport } from "./probe.js";

/** Which server a child runs. */
export type ServerKind = "webhook" | "baseline";

/** Options of {@link startChild}. */
export interface ChildOptions {
  tls: { cert: string; key: string };
  /** The in-memory cluster's CA bundles (webhook). */
  bundles?: BenchBundles;
  /** Use the informer-backed view against this cluster instead of the in-memory one. */
  kubeconfig?: string;
  /** Write a CPU profile of the measured window to this file. */
  profilePath?: string;
  /** Node flags for the child, e.g. `--trace-gc` or `--max-semi-space-size=32`. */
  nodeFlags?: string[];
  /** Deadline for `listening` (the scale run syncs 20,000 objects first). */
  startTimeoutMs?: number;
}

/** A running bench server child. */
export interface ServerChild {
  readonly kind: ServerKind;
  readonly port: number;
  readonly pid: number;
  /** Cache sync time of the informer-backed view, ms (scale run only). */
  readonly syncMs: number | undefined;
  readonly cacheSizes: Record<string, number> | undefined;
  /** RSS right after the sync (scale run only), MiB. */
  readonly rssAfterSyncMb: number | undefined;
  /** RSS once listening, before any request, MiB. */
  readonly rssStartMb: number | undefined;
  /** Heap in use after a full GC following the sync (scale run with --expose-gc), MiB. */
  readonly heapLiveMb: number | undefined;
  /** The reference index, started after the view (scale run with --expose-gc). */
  readonly index: IndexFigures | undefined;
  /** Starts a new measurement window in the child (empty until `resume`). */
  reset(): Promise<void>;
  /** Starts a measured slice. */
  resume(): Promise<void>;
  /** Ends the measured slice. */
  pause(): Promise<void>;
  /** The child's figures since the last reset. */
  report(): Promise<ProbeReport>;
  /** Asks the child to close and exit; kills it if it has not after 10 s. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

const ENTRIES: Record<ServerKind, string> = {
  webhook: fileURLToPath(new URL("./server.js", import.meta.url)),
  baseline: fileURLToPath(new URL("./baseline.js", import.meta.url)),
};

/** Forks the child, sends it `start` and resolves once it listens. */
export async function startChild(kind: ServerKind, options: ChildOptions): Promise<ServerChild> {
  const child = fork(ENTRIES[kind], [], {
    execArgv: options.nodeFlags ?? [],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  void exited.then(() => live.delete(child));

  const next = <T extends ChildMessage["type"]>(
    type: T,
    timeoutMs = 30_000,
  ): Promise<Extract<ChildMessage, { type: T }>> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${kind} child: no "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const onMessage = (message: ChildMessage) => {
        if (message.type === "failed") {
          cleanup();
          reject(new Error(`${kind} child failed: ${message.message}`));
        } else if (message.type === type) {
          cleanup();
          resolve(message as Extract<ChildMessage, { type: T }>);
        }
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`${kind} child exited (${code}) while waiting for "${type}"`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        child.off("message", onMessage);
        child.off("exit", onExit);
      };
      child.on("message", onMessage);
      child.once("exit", onExit);
    });
  const post = (message: ParentMessage) => child.send(message);

  const listening = next("listening", options.startTimeoutMs ?? 60_000);
  post({
    type: "start",
    tls: options.tls,
    ...(options.bundles !== undefined ? { bundles: options.bundles } : {}),
    ...(options.kubeconfig !== undefined ? { kubeconfig: options.kubeconfig } : {}),
    ...(options.profilePath !== undefined ? { profilePath: options.profilePath } : {}),
  });
  const ready = await listening;
  return {
    kind,
    port: ready.port,
    pid: child.pid ?? -1,
    syncMs: ready.syncMs,
    cacheSizes: ready.cacheSizes,
    rssAfterSyncMb: ready.rssAfterSyncMb,
    rssStartMb: ready.rssStartMb,
    heapLiveMb: ready.heapLiveMb,
    index: ready.index,
    async reset() {
      const done = next("reset-done");
      post({ type: "reset" });
      await done;
    },
    async resume() {
      const done = next("resume-done");
      post({ type: "resume" });
      await done;
    },
    async pause() {
      const done = next("pause-done");
      post({ type: "pause" });
      await done;
    },
    async report() {
      const report = next("report");
      post({ type: "report" });
      const { type: _type, ...figures } = await report;
      return figures;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      post({ type: "stop" });
      await exited;
      clearTimeout(timer);
    },
  };
}
