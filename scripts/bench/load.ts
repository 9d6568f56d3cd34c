/**
 * Load generators. `closedLoop` drives a server with autocannon (keep-alive connections, each
 * sending its next request when the answer arrives; optionally autocannon's `overallRate`).
 * `paced` is an open-loop generator that sends one request every 1/rate seconds whatever the
 * server does, as a real apiserver's Pod creations arrive, and measures each latency from the
 * request's scheduled time (so a stalled server cannot hide its queue: no coordinated omission).
 *
 * Latencies are kept per response (sub-millisecond), not read from autocannon's histogram,
 * which records whole milliseconds and, with `overallRate`, adds synthetic values for its
 * coordinated-omission correction.
 */
import { Agent, request } from "node:https";
import { performance } from "node:perf_hooks";
import autocannon from "autocannon";

/** What one load run (or several, see {@link combine}) measured, from the client side. */
export interface LoadResult {
  /** Latency of every response (any status), ms. */
  latencies: number[];
  /** Responses received (any status). */
  responses: number;
  /** Responses per second of the measured run. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Non-2xx answers + connection errors + timeouts. */
  errors: number;
  durationS: number;
  /** CPU time of the load generator (this process) during the run, ms. */
  clientCpuMs: number;
  /** The same over the run's wall time, percent of one core. */
  clientCpuPercent: number;
}

/** One result for several runs against the same server (slices of one measurement). */
export function combine(results: readonly LoadResult[]): LoadResult {
  const latencies = results.flatMap((r) => r.latencies);
  const durationS = results.reduce((a, r) => a + r.durationS, 0);
  const clientCpuMs = results.reduce((a, r) => a + r.clientCpuMs, 0);
  return {
    latencies,
    responses: latencies.length,
    rps: durationS > 0 ? latencies.length / durationS : 0,
    ...percentiles(latencies),
    errors: results.reduce((a, r) => a + r.errors, 0),
    durationS,
    clientCpuMs,
    clientCpuPercent: durationS > 0 ? clientCpuMs / 10 / durationS : 0,
  };
}

function result(
  latencies: number[],
  errors: number,
  durationS: number,
  cpuSince: NodeJS.CpuUsage,
): LoadResult {
  const used = process.cpuUsage(cpuSince);
  const clientCpuMs = (used.user + used.system) / 1000;
  return {
    latencies,
    responses: latencies.length,
    rps: durationS > 0 ? latencies.length / durationS : 0,
    ...percentiles(latencies),
    errors,
    durationS,
    clientCpuMs,
    clientCpuPercent: durationS > 0 ? clientCpuMs / 10 / durationS : 0,
  };
}

/** One scenario's request: path and body (the same body every time). */
export interface Target {
  port: number;
  path: "/mutate" | "/validate";
  body: string;
}

/**
 * The query the kube-apiserver appends to a webhook's URL: its `timeoutSeconds` (10 s by
 * default). The server derives each review's deadline from it.
 */
export const APISERVER_QUERY = "?timeout=10s";

/** Options of {@link closedLoop}. */
export interface ClosedLoopOptions {
  connections: number;
  durationS: number;
  /** autocannon `overallRate`: requests per second across all connections. */
  overallRate?: number;
}

/** Runs autocannon against `target` and returns its figures. */
export function closedLoop(target: Target, options: ClosedLoopOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `https://127.0.0.1:${target.port}${target.path}${APISERVER_QUERY}`,
        method: "POST",
        headers: { "content-type": "application/json" },
        body: target.body,
        connections: options.connections,
        duration: options.durationS,
        pipelining: 1,
        timeout: 10,
        ...(options.overallRate !== undefined ? { overallRate: options.overallRate } : {}),
      },
      (error, outcome) => {
        if (error) {
          reject(error);
          return;
        }
        const wallS = (performance.now() - t0) / 1000;
        const durationS = outcome.duration > 0 ? outcome.duration : wallS;
        // `errors` already counts timeouts (autocannon treats a timeout as an error).
        resolve(result(latencies, outcome.errors + outcome.non2xx, durationS, cpu));
      },
    );
    instance.on("response", (_client, _statusCode, _bytes, responseTime) => {
      latencies.push(responseTime);
    });
  });
}

/** Options of {@link paced}. */
export interface PacedOptions {
  /** Requests per second, evenly spaced. */
  rate: number;
  durationS: number;
  /** Most sockets kept open (a request waits for a free one, and its latency shows it). */
  connections: number;
}

/** Sends `rate` requests per second, evenly spaced, for `durationS`; latency from schedule. */
export async function paced(target: Target, options: PacedOptions): Promise<LoadResult> {
  const agent = new Agent({
    keepAlive: true,
    maxSockets: options.connections,
    rejectUnauthorized: false,
  });
  const body = Buffer.from(target.body, "utf8");
  const latencies: number[] = [];
  let errors = 0;
  const cpu = process.cpuUsage();
  const total = Math.round(options.rate * options.durationS);
  const intervalMs = 1000 / options.rate;
  const t0 = performance.now();
  const pending: Promise<void>[] = [];

  const send = (scheduled: number): Promise<void> =>
    new Promise((resolve) => {
      const req = request(
        {
          host: "127.0.0.1",
          port: target.port,
          path: `${target.path}${APISERVER_QUERY}`,
          method: "POST",
          agent,
          headers: { "content-type": "application/json", "content-length": body.length },
          timeout: 10_000,
        },
        (res) => {
          res.on("data", () => {});
          res.on("end", () => {
            latencies.push(performance.now() - scheduled);
            if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) errors++;
            resolve();
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", () => {
        errors++;
        resolve();
      });
      req.end(body);
    });

  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (sent < total && t0 + sent * intervalMs <= now) {
        pending.push(send(t0 + sent * intervalMs));
        sent++;
      }
      if (sent >= total) resolve();
      else setTimeout(tick, Math.max(0, t0 + sent * intervalMs - performance.now()));
    };
    tick();
  });
  await Promise.all(pending);
  agent.destroy();
  // Offered rate over the scheduled span (the tail of the last answers is not idle time).
  return result(latencies, errors, options.durationS, cpu);
}

/** p50, p99 and max of a list of milliseconds (nearest-rank). */
export function percentiles(values: number[]): { p50Ms: number; p99Ms: number; maxMs: number } {
  if (values.length === 0) return { p50Ms: Number.NaN, p99Ms: Number.NaN, maxMs: Number.NaN };
  const sorted = Float64Array.from(values).sort();
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
  return {
    p50Ms: rank(0.5) ?? Number.NaN,
    p99Ms: rank(0.99) ?? Number.NaN,
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
  };
}
