/**
 * What a benchmark server child reports about itself over its IPC channel: peak RSS, the
 * worst event-loop delay, event-loop utilisation and CPU time. Measured inside the server
 * process, so the figures are the server's and not the load generator's (which shares the
 * machine). The measured window is a sum of slices: the parent `resume`s the probe when it
 * starts loading this server and `pause`s it when it stops, so that the webhook and the
 * baseline can take turns under the same background load of a shared machine.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import {
  type EventLoopUtilization,
  type IntervalHistogram,
  monitorEventLoopDelay,
  performance,
} from "node:perf_hooks";
import type { BenchBundles } from "./fixtures.js";

/** The messages the parent sends to a bench server child. */
export type ParentMessage =
  | { type: "reset" }
  | { type: "resume" }
  | { type: "pause" }
  | { type: "report" }
  | { type: "stop" }
  | {
      type: "start";
      tls: { cert: string; key: string };
      /** The in-memory cluster's CA bundles (webhook child without a kubeconfig). */
      bundles?: BenchBundles;
      /** Decide against the informer-backed view of this cluster instead. */
      kubeconfig?: string;
      /**
       * Write a V8 CPU profile (.cpuprofile, as `node --cpu-prof` does) from the first `reset`
       * to `stop` to this file: start-up and warm-up stay out of it.
       */
      profilePath?: string;
    };

/** The figures a child sends back for `report`. */
export interface ProbeReport {
  /** RSS now, MiB. */
  rssMb: number;
  /** The kernel's peak RSS of the whole process life (ru_maxrss), MiB. */
  maxRssMb: number;
  /** V8 heap in use now, MiB. */
  heapUsedMb: number;
  /** Worst event-loop delay in the measured slices (10 ms sampling resolution), ms. */
  loopDelayMaxMs: number;
  /** 99th percentile of the event-loop delay in the worst measured slice, ms. */
  loopDelayP99Ms: number;
  /** Event-loop utilisation in the measured slices, 0..1 (1: never idle). */
  elu: number;
  /** CPU time (user + system) over the slices' wall time, percent of one core. */
  cpuPercent: number;
  /** CPU time (user + system) in the measured slices, ms. */
  cpuMs: number;
}

/** The reference index in the scale run's server: its sync and what it added. */
export interface IndexFigures {
  syncMs: number;
  sizes: Record<string, number>;
  /** Heap in use after a full GC once the index has synced, and RSS then, MiB. */
  heapLiveMb: number;
  rssMb: number;
}

/** The messages a bench server child sends. */
export type ChildMessage =
  | {
      type: "listening";
      port: number;
      /** RSS once listening, before any request: what start-up (imports, caches) costs, MiB. */
      rssStartMb?: number;
      /** Scale run: cache sync time, object counts, RSS right after the sync. */
      syncMs?: number;
      cacheSizes?: Record<string, number>;
      rssAfterSyncMb?: number;
      /** Scale run with --expose-gc: heap in use after a full GC that followed the sync. */
      heapLiveMb?: number;
      /** Scale run: the Secret guard's reference index, started after the view's sync. */
      index?: IndexFigures;
    }
  | { type: "reset-done" }
  | { type: "resume-done" }
  | { type: "pause-done" }
  | ({ type: "report" } & ProbeReport)
  | { type: "failed"; message: string };

const MIB = 1024 * 1024;

/** Accumulates the process's figures over measured slices. */
export class Probe {
  private slice:
    | {
        elu: EventLoopUtilization;
        cpu: NodeJS.CpuUsage;
        t0: number;
        delay: IntervalHistogram;
      }
    | undefined;
  /** Event-loop delay over the slices: worst, and the worst slice's p99 (ns). */
  private delayMaxNs = 0;
  private delayP99Ns = 0;
  private active = 0;
  private idle = 0;
  private cpuUs = 0;
  private wallMs = 0;

  /** Forgets every slice measured so far. */
  reset(): void {
    this.pause();
    this.delayMaxNs = 0;
    this.delayP99Ns = 0;
    this.active = 0;
    this.idle = 0;
    this.cpuUs = 0;
    this.wallMs = 0;
  }

  /** Starts a measured slice. */
  resume(): void {
    if (this.slice !== undefined) return;
    // A fresh monitor per slice: one re-enabled after a pause would count the pause as delay.
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    this.slice = {
      elu: performance.eventLoopUtilization(),
      cpu: process.cpuUsage(),
      t0: performance.now(),
      delay,
    };
  }

  /** Ends the current slice, adding it to the window. */
  pause(): void {
    const slice = this.slice;
    if (slice === undefined) return;
    this.slice = undefined;
    slice.delay.disable();
    if (slice.delay.count > 0) {
      this.delayMaxNs = Math.max(this.delayMaxNs, slice.delay.max);
      this.delayP99Ns = Math.max(this.delayP99Ns, slice.delay.percentile(99));
    }
    const elu = performance.eventLoopUtilization(slice.elu);
    this.active += elu.active;
    this.idle += elu.idle;
    const cpu = process.cpuUsage(slice.cpu);
    this.cpuUs += cpu.user + cpu.system;
    this.wallMs += performance.now() - slice.t0;
  }

  report(): ProbeReport {
    const busy = this.active + this.idle;
    return {
      rssMb: process.memoryUsage.rss() / MIB,
      // ru_maxrss is in KiB on Linux.
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      heapUsedMb: process.memoryUsage().heapUsed / MIB,
      loopDelayMaxMs: this.delayMaxNs / 1e6,
      loopDelayP99Ms: this.delayP99Ns / 1e6,
      elu: busy > 0 ? this.active / busy : 0,
      cpuPercent: this.wallMs > 0 ? (this.cpuUs / 1000 / this.wallMs) * 100 : 0,
      cpuMs: this.cpuUs / 1000,
    };
  }

  stop(): void {
    this.pause();
  }
}

/**
 * Wires a child's IPC channel: `reset`/`resume`/`pause`/`report` go to the probe, `stop` calls `onStop` and
 * then exits. With `profilePath`, the first `reset` starts V8's sampling profiler (the one
 * behind `--cpu-prof`, same 1 ms interval) and `stop` writes the profile.
 */
export function serveProbe(probe: Probe, onStop: () => Promise<void>, profilePath?: string): void {
  let profiler: Session | undefined;
  const startProfiler = async () => {
    profiler = new Session();
    profiler.connect();
    await profiler.post("Profiler.enable");
    await profiler.post("Profiler.setSamplingInterval", { interval: 1000 });
    await profiler.post("Profiler.start");
  };
  const stopProfiler = async () => {
    if (profiler === undefined || profilePath === undefined) return;
    const { profile } = await profiler.post("Profiler.stop");
    writeFileSync(profilePath, JSON.stringify(profile));
    profiler.disconnect();
  };
  process.on("message", (message: ParentMessage) => {
    switch (message.type) {
      case "reset":
        void (async () => {
          if (profilePath !== undefined && profiler === undefined) await startProfiler();
          probe.reset();
          send({ type: "reset-done" });
        })();
        break;
      case "resume":
        probe.resume();
        send({ type: "resume-done" });
        break;
      case "pause":
        probe.pause();
        send({ type: "pause-done" });
        break;
      case "report":
        send({ type: "report", ...probe.report() });
        break;
      case "stop":
        probe.stop();
        void stopProfiler()
          .then(onStop)
          .finally(() => {
            process.disconnect?.();
            process.exit(0);
          });
        break;
      default:
        break;
    }
  });
  // The parent died: do not linger.
  process.on("disconnect", () => process.exit(0));
}

/** Sends a message to the parent (a no-op without an IPC channel). */
export function send(message: ChildMessage): void {
  process.send?.(message);
}

/** Waits for the parent's `start` message. */
export function waitForStart(): Promise<Extract<ParentMessage, { type: "start" }>> {
  return new Promise((resolve) => {
    const onMessage = (message: ParentMessage) => {
      if (message.type !== "start") return;
      process.off("message", onMessage);
      resolve(message);
    };
    process.on("message", onMessage);
  });
}
