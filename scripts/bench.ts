/**
 * `npm run bench`: the webhook against the runtime's ceiling, side by side, in one run
 * (issue 7; method and figures in docs/performance.md).
 *
 * Each scenario starts a fresh child process for the webhook (scripts/bench/server.ts: the real
 * buildServer + buildDecisions over HTTPS, warm in-memory cluster) and one for the baseline
 * (scripts/bench/baseline.ts: bare node:https, JSON.parse, canned allow), checks and warms up
 * both, then loads them in alternating slices (so that both see the same background load of a
 * shared machine) and reads each server's own peak RSS, event-loop delay and CPU time.
 * Before the scenarios: the in-process validation micro-benchmark of issue 4 (100-certificate
 * Secret), the Secret guard's of issue 16 (an UPDATE of an unreferenced Secret, and the
 * reference index's memory at 10,000 referencing objects; `--guard` runs them alone) and the
 * CPU cost of each in-process stage of a review. After them: the scale run against a real
 * kube-apiserver (scripts/bench/scale.ts; `--scale` runs it alone).
 *
 *   npm run bench -- [--duration S] [--connections N] [--warmup S] [--slices N] [--json FILE]
 *                    [--only a,b,...] [--cpu-prof DIR] [--node-flags=FLAGS]
 *                    [--validation-n N] [--skip-scale] [--compare FILE]
 *   npm run bench -- --compare OLD.json --current NEW.json
 *   npm run bench -- --scale [--namespaces N] [--referencing N] [--json FILE]
 *   npm run bench -- --guard [--guard-n N] [--index-objects N] [--json FILE]
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { defaultDecisionSettings } from "../src/config.js";
import { buildDecisions } from "../src/decisions.js";
import { type ServerChild, type ServerKind, startChild } from "./bench/child.js";
import { compareRuns } from "./bench/compare.js";
import { summarizeProfile } from "./bench/cpuprofile.js";
import {
  type BenchBundles,
  benchBundles,
  benchClusterView,
  connectorReview,
  pathologicalPodReview,
  podReview,
  servingCertificate,
} from "./bench/fixtures.js";
import {
  type GuardFigures,
  guardBenchmark,
  type IndexMemoryFigures,
  indexMemory,
} from "./bench/guard.js";
import {
  APISERVER_QUERY,
  closedLoop,
  combine,
  type LoadResult,
  paced,
  type Target,
} from "./bench/load.js";
import { overheadRun } from "./bench/overhead.js";
import type { ProbeReport } from "./bench/probe.js";
import { type ScaleFigures, scaleRun } from "./bench/scale.js";
import { type StageCosts, stageCosts } from "./bench/stages.js";
import { type ValidationFigures, validationBenchmark } from "./bench/validation.js";

/** How a scenario loads the server. */
type Load =
  | { type: "closed" }
  | { type: "overallRate"; rate: number }
  | { type: "paced"; rate: number };

interface Scenario {
  /** Key in the JSON output. */
  name: string;
  /** Short letter for `--only`. */
  id: string;
  title: string;
  path: Target["path"];
  body: () => string;
  load: Load;
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: "a_pod_inject",
    id: "a",
    title: "(a) Pod CREATE, inject, ~9 KB",
    path: "/mutate",
    body: podReview,
    load: { type: "closed" },
  },
  {
    name: "b_connector_3_certs",
    id: "b",
    title: "(b) Connector, 3-cert Secret",
    path: "/validate",
    body: () => connectorReview(),
    load: { type: "closed" },
  },
  {
    name: "c_pod_1mib",
    id: "c",
    title: "(c) Pod 5x1,000 env, ~1 MiB",
    path: "/mutate",
    body: () => pathologicalPodReview(),
    load: { type: "closed" },
  },
  {
    name: "c_pod_1mib_paced_10",
    id: "c10",
    title: "(c) ~1 MiB Pod, paced 10/s",
    path: "/mutate",
    body: () => pathologicalPodReview(),
    load: { type: "paced", rate: 10 },
  },
  {
    name: "d_rate_200",
    id: "d",
    title: "(d) (a) at 200/s, autocannon",
    path: "/mutate",
    body: podReview,
    load: { type: "overallRate", rate: 200 },
  },
  {
    name: "d_paced_200",
    id: "d2",
    title: "(d) (a) at 200/s, evenly paced",
    path: "/mutate",
    body: podReview,
    load: { type: "paced", rate: 200 },
  },
];

/** One server's figures in one scenario (JSON field names as issue 7 asks). */
interface Figures {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  errors: number;
  /**
   * Peak RSS of the server process (kernel ru_maxrss; fresh process per scenario): RSS under
   * this scenario's load, warm-up included.
   */
  rss_mb: number;
  /** RSS once the server listened, before its first request (start-up alone). */
  rss_start_mb: number;
  /** Worst event-loop delay in the measured window. */
  loop_delay_max_ms: number;
  loop_delay_p99_ms: number;
  /** Event-loop utilisation in the measured window. */
  elu: number;
  server_cpu_pct: number;
  /**
   * Server CPU time per answered review: the cost of one review, and the figure least
   * disturbed by other processes on a shared machine (they take wall time, not our CPU time).
   */
  cpu_ms_per_req: number;
  client_cpu_pct: number;
  /** What the server answered to the scenario's review (checked once before the load). */
  answer: string;
  responses: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: "string", default: "4" },
      connections: { type: "string", default: "10" },
      warmup: { type: "string", default: "1" },
      slices: { type: "string", default: "4" },
      json: { type: "string" },
      compare: { type: "string" },
      current: { type: "string" },
      only: { type: "string" },
      "cpu-prof": { type: "string" },
      "node-flags": { type: "string" },
      "validation-n": { type: "string", default: "5000" },
      guard: { type: "boolean", default: false },
      "guard-n": { type: "string", default: "20000" },
      "index-objects": { type: "string", default: "10000" },
      scale: { type: "boolean", default: false },
      overhead: { type: "boolean", default: false },
      "skip-scale": { type: "boolean", default: false },
      namespaces: { type: "string", default: "10000" },
      referencing: { type: "string", default: "10000" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  // The previous run is read first: a wrong path fails now, not after minutes of measuring.
  const previous =
    values.compare === undefined ? undefined : JSON.parse(readFileSync(values.compare, "utf8"));
  if (values.current !== undefined) {
    if (previous === undefined) throw new Error("--current FILE needs --compare FILE");
    const current: unknown = JSON.parse(readFileSync(values.current, "utf8"));
    process.stdout.write(`${compareRuns(previous, current, values.compare ?? "")}\n`);
    return;
  }
  const durationS = positive("duration", values.duration);
  const connections = positive("connections", values.connections);
  const warmupS = Number(values.warmup);
  const slices = Math.round(positive("slices", values.slices));
  const machine = describeMachine();
  process.stdout.write(
    `machine: ${machine.cpus} x ${machine.cpu_model}, node ${machine.node}, load average ${machine.loadavg.join(" ")}\n`,
  );

  const runScale = async (): Promise<ScaleFigures> => {
    process.stdout.write("\nscale run (real kube-apiserver + etcd, informer-backed view):\n");
    const figures = await scaleRun({
      namespaces: positive("namespaces", values.namespaces),
      referencing: positive("referencing", values.referencing),
      connections,
      log: (m) => process.stdout.write(`  ${m}\n`),
    });
    printScale(figures);
    return figures;
  };
  if (values.overhead) {
    process.stdout.write(
      "\nwebhook overhead on Pod creation (real kube-apiserver, 300 Pods each way):\n",
    );
    const overhead = await overheadRun(300, (m) => process.stdout.write(`${m}\n`));
    process.stdout.write(
      `  without: p50 ${overhead.without_p50_ms} ms, p99 ${overhead.without_p99_ms} ms\n` +
        `  with:    p50 ${overhead.with_p50_ms} ms, p99 ${overhead.with_p99_ms} ms (${overhead.injected}/${overhead.pods} injected, ${overhead.failed} failed)\n` +
        `  overhead: p50 ${overhead.overhead_p50_ms} ms, p99 ${overhead.overhead_p99_ms} ms\n` +
        `  of which our server (decode to answer): p50 ${overhead.server_p50_ms} ms, p99 ${overhead.server_p99_ms} ms\n`,
    );
    if (values.json) writeJson(values.json, { machine, overhead });
    return;
  }
  if (values.scale) {
    const scale = await runScale();
    if (values.json) writeJson(values.json, { machine, scale });
    return;
  }

  const started = performance.now();
  const bundles = await benchBundles();

  const runGuard = async (): Promise<{ guard: GuardFigures; index: IndexMemoryFigures }> => {
    const n = positive("guard-n", values["guard-n"]);
    const objects = positive("index-objects", values["index-objects"]);
    process.stdout.write(`Secret guard micro-benchmark: ${n} decisions ...\n`);
    const guard = await guardBenchmark(n, bundles);
    process.stdout.write(
      `  UPDATE of an unreferenced Secret (${guard.body_bytes} B review, ${guard.index_objects} objects indexed): decide p50 ${guard.decide_p50_ms} ms, p99 ${guard.decide_p99_ms} ms, max ${guard.decide_max_ms} ms; decode + decide + envelope p50 ${guard.in_process_p50_ms} ms, p99 ${guard.in_process_p99_ms} ms; ${guard.decision}\n`,
    );
    process.stdout.write(`reference index memory at ${objects} referencing objects ...\n`);
    const index = await indexMemory(objects);
    process.stdout.write(
      `  ${index.objects} DataPlanes (${index.object_bytes} B each as listed) synced in ${index.sync_s} s; heap after GC ${index.heap_before_mb} -> ${index.heap_after_mb} MiB (+${index.heap_delta_mb} MiB, ${index.heap_bytes_per_object} B per object); RSS ${index.rss_before_mb} -> ${index.rss_after_mb} MiB; index ${JSON.stringify(index.index)}\n`,
    );
    return { guard, index };
  };
  if (values.guard) {
    const figures = await runGuard();
    const targets = guardTargets(figures.guard, figures.index);
    printTargets(targets);
    if (values.json) writeJson(values.json, { machine, ...figures, targets });
    return;
  }
  const tls = await servingCertificate();

  const validationN = positive("validation-n", values["validation-n"]);
  process.stdout.write(`validation micro-benchmark: ${validationN} decisions ...\n`);
  const validation = await validationBenchmark(validationN, bundles);
  printValidation(validation);
  const guarded = await runGuard();

  if (values["cpu-prof"] !== undefined) mkdirSync(values["cpu-prof"], { recursive: true });
  const stages = await measureStages(bundles);
  printStages(stages);

  const only = values.only?.split(",").map((s) => s.trim());
  const chosen = SCENARIOS.filter((s) => only === undefined || only.includes(s.id));
  const scenarios: Record<string, Figures> = {};
  const baseline: Record<string, Figures> = {};
  const profiles: string[] = [];
  for (const scenario of chosen) {
    const body = scenario.body();
    process.stdout.write(
      `${scenario.title}: body ${(body.length / 1024).toFixed(1)} KiB, webhook and baseline in ${slices} alternating slices ...\n`,
    );
    const pair = await measurePair(scenario, body, {
      tls,
      bundles,
      connections,
      durationS,
      warmupS,
      slices,
      profileDir: values["cpu-prof"],
      nodeFlags: values["node-flags"]?.split(/\s+/).filter((f) => f !== "") ?? [],
    });
    scenarios[scenario.name] = pair.webhook;
    baseline[scenario.name] = pair.baseline;
    profiles.push(...pair.profiles);
  }
  const ratios: Record<string, number> = {};
  const costRatios: Record<string, number> = {};
  // The webhook's CPU per review as a multiple of the baseline's (issue 18: <= 1.5 for (a)).
  const cpuMultiples: Record<string, number> = {};
  for (const name of Object.keys(scenarios)) {
    const ours = scenarios[name];
    const theirs = baseline[name];
    // Throughput ratios only where both servers ran flat out (rate-limited runs are ~1).
    const closed = chosen.find((c) => c.name === name)?.load.type === "closed";
    if (closed && ours && theirs && theirs.rps > 0) ratios[name] = round(ours.rps / theirs.rps, 3);
    if (ours && theirs && ours.cpu_ms_per_req > 0) {
      costRatios[name] = round(theirs.cpu_ms_per_req / ours.cpu_ms_per_req, 3);
      if (theirs.cpu_ms_per_req > 0) {
        cpuMultiples[name] = round(ours.cpu_ms_per_req / theirs.cpu_ms_per_req, 3);
      }
    }
  }
  printTable(chosen, scenarios, baseline, ratios, costRatios);
  for (const file of profiles) process.stdout.write(`\n${summarizeProfile(file, 25)}\n`);
  const scale = values["skip-scale"] || only !== undefined ? undefined : await runScale();
  const targets = [
    ...evaluateTargets(scenarios, baseline, ratios, cpuMultiples, validation, scale),
    ...guardTargets(guarded.guard, guarded.index),
  ];
  printTargets(targets);
  const totalS = (performance.now() - started) / 1000;
  const loadEnd = loadavg().map((l) => round(l, 2));
  process.stdout.write(
    `\ntotal ${totalS.toFixed(0)} s; load average at the end ${loadEnd.join(" ")}\n`,
  );
  const report = {
    machine: { ...machine, loadavg_end: loadEnd },
    settings: {
      duration_s: durationS,
      connections,
      warmup_s: warmupS,
      slices,
      total_s: round(totalS, 1),
    },
    scenarios,
    baseline,
    ratios,
    cpu_cost_ratios: costRatios,
    cpu_ms_multiples: cpuMultiples,
    validation_100_certs: validation,
    guard: guarded.guard,
    reference_index_memory: guarded.index,
    stage_costs_us: stages,
    ...(scale !== undefined ? { scale } : {}),
    targets,
  };
  if (values.json) writeJson(values.json, report);
  if (previous !== undefined) {
    process.stdout.write(`\n${compareRuns(previous, report, values.compare ?? "")}\n`);
  }
}

/** CPU cost of each in-process stage for the reviews of (a) and (c). */
async function measureStages(bundles: BenchBundles): Promise<Record<string, StageCosts>> {
  const { mutate } = buildDecisions(defaultDecisionSettings(), benchClusterView(bundles));
  return {
    a_pod_inject: await stageCosts(podReview(), mutate, 2000),
    c_pod_1mib: await stageCosts(pathologicalPodReview(), mutate, 20),
  };
}

function printStages(costs: Record<string, StageCosts>): void {
  const names = Object.keys(costs);
  const first = costs[names[0] ?? ""];
  if (first === undefined) return;
  process.stdout.write(
    `in-process CPU per review, by stage (µs): ${names.map((n) => `${n} (${costs[n]?.body_kib} KiB)`).join(" | ")}\n`,
  );
  for (const stage of Object.keys(first.stages)) {
    const cells = names.map((n) => String(costs[n]?.stages[stage] ?? "-").padStart(10));
    process.stdout.write(`  ${stage.padEnd(38)}${cells.join("")}\n`);
  }
  const total = names.map((n) => String(costs[n]?.webhook_total_us ?? "-").padStart(10));
  const base = names.map((n) => String(costs[n]?.baseline_json_parse_us ?? "-").padStart(10));
  process.stdout.write(`  ${"webhook, sum of stages".padEnd(38)}${total.join("")}\n`);
  process.stdout.write(`  ${"baseline (JSON.parse)".padEnd(38)}${base.join("")}\n`);
}

interface MeasureOptions {
  tls: { cert: string; key: string };
  bundles: BenchBundles;
  connections: number;
  durationS: number;
  warmupS: number;
  /** The measured duration is split into this many slices per server. */
  slices: number;
  /** CPU-profile both children into this directory. */
  profileDir: string | undefined;
  /** Node flags for both children. */
  nodeFlags: string[];
}

/**
 * One scenario: a fresh webhook child and a fresh baseline child, each checked and warmed up,
 * then loaded in alternating slices (webhook first in odd slices, baseline first in even ones)
 * so that both see the same background load of a shared machine; each child's probe counts
 * only its own slices.
 */
async function measurePair(
  scenario: Scenario,
  body: string,
  options: MeasureOptions,
): Promise<{ webhook: Figures; baseline: Figures; profiles: string[] }> {
  const profiles: string[] = [];
  const start = (kind: ServerKind) => {
    const profilePath =
      options.profileDir === undefined
        ? undefined
        : join(options.profileDir, `${scenario.name}-${kind}.cpuprofile`);
    if (profilePath !== undefined) profiles.push(profilePath);
    return startChild(kind, {
      tls: options.tls,
      nodeFlags: options.nodeFlags,
      ...(kind === "webhook" ? { bundles: options.bundles } : {}),
      ...(profilePath !== undefined ? { profilePath } : {}),
    });
  };
  const children: Partial<Record<ServerKind, ServerChild>> = {};
  try {
    children.webhook = await start("webhook");
    children.baseline = await start("baseline");
    const kinds = ["webhook", "baseline"] as const;
    const sides = kinds.map((kind) => {
      const child = children[kind] as ServerChild;
      return {
        kind,
        child,
        target: { port: child.port, path: scenario.path, body } satisfies Target,
        results: [] as LoadResult[],
        answer: "",
      };
    });
    for (const side of sides) {
      side.answer = await checkAnswer(side.target);
      if (options.warmupS > 0) {
        await closedLoop(side.target, {
          connections: options.connections,
          durationS: options.warmupS,
        });
      }
      await side.child.reset();
    }
    const sliceS = options.durationS / options.slices;
    for (let i = 0; i < options.slices; i++) {
      for (const side of i % 2 === 0 ? sides : [...sides].reverse()) {
        await side.child.resume();
        side.results.push(await runLoad(side.target, scenario.load, options, sliceS));
        await side.child.pause();
      }
    }
    const out: Partial<Record<ServerKind, Figures>> = {};
    for (const side of sides) {
      out[side.kind] = figures(
        combine(side.results),
        await side.child.report(),
        side.answer,
        side.child.rssStartMb,
      );
    }
    return { webhook: out.webhook as Figures, baseline: out.baseline as Figures, profiles };
  } finally {
    await Promise.all(Object.values(children).map((c) => c?.stop()));
  }
}

function runLoad(
  target: Target,
  load: Load,
  options: MeasureOptions,
  durationS: number,
): Promise<LoadResult> {
  switch (load.type) {
    case "closed":
      return closedLoop(target, { connections: options.connections, durationS });
    case "overallRate":
      return closedLoop(target, {
        connections: options.connections,
        durationS,
        overallRate: load.rate,
      });
    case "paced":
      return paced(target, {
        rate: load.rate,
        durationS,
        connections: options.connections,
      });
  }
}

function figures(
  result: LoadResult,
  probe: ProbeReport,
  answer: string,
  rssStartMb: number | undefined,
): Figures {
  return {
    rps: round(result.rps, 1),
    p50_ms: round(result.p50Ms, 3),
    p99_ms: round(result.p99Ms, 3),
    max_ms: round(result.maxMs, 3),
    errors: result.errors,
    rss_mb: round(probe.maxRssMb, 1),
    rss_start_mb: round(rssStartMb ?? Number.NaN, 1),
    loop_delay_max_ms: round(probe.loopDelayMaxMs, 1),
    loop_delay_p99_ms: round(probe.loopDelayP99Ms, 1),
    elu: round(probe.elu, 2),
    server_cpu_pct: round(probe.cpuPercent, 0),
    cpu_ms_per_req: round(result.responses > 0 ? probe.cpuMs / result.responses : Number.NaN, 3),
    client_cpu_pct: round(result.clientCpuPercent, 0),
    answer,
    responses: result.responses,
  };
}

/** Sends the scenario's review once and describes the answer (patch, allow, deny). */
async function checkAnswer(target: Target): Promise<string> {
  const response = await fetchJson(target);
  if (response.status !== 200) return `HTTP ${response.status}`;
  const r = (response.json as { response?: Record<string, unknown> }).response ?? {};
  const warnings = Array.isArray(r.warnings) ? r.warnings.length : 0;
  const w = warnings > 0 ? ` +${warnings}w` : "";
  if (r.allowed !== true) {
    const status = r.status as { code?: number } | undefined;
    return `deny ${status?.code ?? "?"}${w}`;
  }
  if (typeof r.patch === "string") {
    const ops = JSON.parse(Buffer.from(r.patch, "base64").toString("utf8")) as unknown[];
    return `patch ${ops.length} ops${w}`;
  }
  return `allow${w}`;
}

async function fetchJson(target: Target): Promise<{ status: number; json: unknown }> {
  const { request } = await import("node:https");
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: target.port,
        path: `${target.path}${APISERVER_QUERY}`,
        method: "POST",
        rejectUnauthorized: false,
        headers: { "content-type": "application/json" },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on("error", reject);
    req.end(target.body);
  });
}

interface TargetCheck {
  what: string;
  value: string;
  /** undefined: the run could not judge it (printed "n/a", with the reason in `value`). */
  met: boolean | undefined;
}

/**
 * The targets of issue 18 (which tightened those of issue 7) and of issue 4 (acceptance 5),
 * judged on this run's figures. A target that depends on a quiet machine says so instead of
 * being judged when the baseline itself shows the machine was not quiet.
 */
function evaluateTargets(
  scenarios: Record<string, Figures>,
  baseline: Record<string, Figures>,
  ratios: Record<string, number>,
  cpuMultiples: Record<string, number>,
  validation: ValidationFigures,
  scale: ScaleFigures | undefined,
): TargetCheck[] {
  const out: TargetCheck[] = [];
  const a = scenarios.a_pod_inject;
  const aBase = baseline.a_pod_inject;
  const aRatio = ratios.a_pod_inject;
  const aCpu = cpuMultiples.a_pod_inject;
  if (a && aBase && aRatio !== undefined) {
    out.push({
      what: "(a) throughput >= 70% of baseline",
      value: `${(aRatio * 100).toFixed(0)}% (${a.rps.toFixed(0)} vs ${aBase.rps.toFixed(0)} req/s)`,
      met: aRatio >= 0.7,
    });
  }
  if (a && aBase && aCpu !== undefined) {
    out.push({
      what: "(a) CPU ms per review <= 1.5x baseline's",
      value: `${aCpu.toFixed(2)}x (${a.cpu_ms_per_req.toFixed(3)} vs ${aBase.cpu_ms_per_req.toFixed(3)} ms)`,
      met: aCpu <= 1.5,
    });
  }
  if (a) {
    out.push({ what: "(a) 0 errors", value: String(a.errors), met: a.errors === 0 });
    out.push({
      what: "(a) RSS of serve under load <= 120 MiB",
      value: `${a.rss_mb} MiB peak (${a.rss_start_mb} MiB at start; baseline ${aBase?.rss_mb ?? "-"} MiB)`,
      met: a.rss_mb <= 120,
    });
  }
  const d = scenarios.d_paced_200;
  const dBase = baseline.d_paced_200;
  if (d && dBase) {
    // Issue 18: "p99 <= 5 ms where the baseline's p99 in the same run is <= 3 ms". A baseline
    // slower than that means other processes took the CPU: the run cannot judge this target.
    const judged = dBase.p99_ms <= 3;
    out.push({
      what: "(d) 200/s evenly paced: p99 <= 5 ms, 0 errors",
      value: `p99 ${d.p99_ms} ms, ${d.errors} errors (baseline p99 ${dBase.p99_ms} ms${judged ? "" : " > 3 ms: machine not quiet, not judged"})`,
      met: judged ? d.p99_ms <= 5 && d.errors === 0 : undefined,
    });
  }
  const c10 = scenarios.c_pod_1mib_paced_10;
  if (c10) {
    out.push({
      what: "(c) ~1 MiB Pod one at a time: p99 <= 50 ms",
      value: `${c10.p99_ms} ms (baseline ${baseline.c_pod_1mib_paced_10?.p99_ms ?? "-"} ms)`,
      met: c10.p99_ms <= 50,
    });
    // One such Pod at a time, as an apiserver sends them; the closed loop with 10 in flight
    // (scenario c) queues 10 x ~25 ms of parsing by design and is reported, not judged.
    out.push({
      what: "(c) no event-loop stall > 50 ms (one at a time)",
      value: `worst ${c10.loop_delay_max_ms} ms (baseline ${baseline.c_pod_1mib_paced_10?.loop_delay_max_ms ?? "-"} ms)`,
      met: c10.loop_delay_max_ms <= 50,
    });
  }
  out.push({
    what: "validation, 100-cert Secret: p99 < 5 ms",
    value: `${round(validation.p99_ms, 3)} ms`,
    met: validation.p99_ms < 5,
  });
  if (scale !== undefined) {
    out.push({
      what: "scale: RSS <= 250 MiB with 10,000 namespaces",
      value: `${scale.rss_after_sync_mb} MiB after sync, ${scale.rss_peak_mb} MiB peak`,
      met: scale.rss_peak_mb <= 250,
    });
  }
  return out;
}

/** Issue 16's targets: the unreferenced-Secret decision and the index's memory. */
function guardTargets(guard: GuardFigures, index: IndexMemoryFigures): TargetCheck[] {
  return [
    {
      what: "guard, UPDATE of an unreferenced Secret: p99 < 0.2 ms",
      value: `${guard.decide_p99_ms} ms (with decode and envelope ${guard.in_process_p99_ms} ms)`,
      met: guard.decide_p99_ms < 0.2,
    },
    {
      what: `reference index at ${index.objects} objects: <= 30 MiB of heap`,
      value: `+${index.heap_delta_mb} MiB heap, RSS ${index.rss_before_mb} -> ${index.rss_after_mb} MiB`,
      met: index.heap_delta_mb <= 30,
    },
  ];
}

const COLUMNS = [
  "scenario",
  "server",
  "req/s",
  "p50 ms",
  "p99 ms",
  "max ms",
  "errors",
  "RSS MiB",
  "RSS start",
  "loop max",
  "ELU",
  "srv CPU%",
  "CPU ms/req",
  "cli CPU%",
  "answer",
];

function printTable(
  chosen: readonly Scenario[],
  scenarios: Record<string, Figures>,
  baseline: Record<string, Figures>,
  ratios: Record<string, number>,
  costRatios: Record<string, number>,
): void {
  const rows: string[][] = [];
  for (const s of chosen) {
    for (const [server, f] of [
      ["webhook", scenarios[s.name]],
      ["baseline", baseline[s.name]],
    ] as const) {
      if (!f) continue;
      rows.push([
        server === "webhook" ? s.title : "",
        server,
        f.rps.toFixed(0),
        f.p50_ms.toFixed(2),
        f.p99_ms.toFixed(2),
        f.max_ms.toFixed(1),
        String(f.errors),
        f.rss_mb.toFixed(0),
        Number.isFinite(f.rss_start_mb) ? f.rss_start_mb.toFixed(0) : "-",
        f.loop_delay_max_ms.toFixed(1),
        f.elu.toFixed(2),
        f.server_cpu_pct.toFixed(0),
        f.cpu_ms_per_req.toFixed(3),
        f.client_cpu_pct.toFixed(0),
        f.answer,
      ]);
    }
  }
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? "").length)));
  const left = (i: number) => i < 2 || i === COLUMNS.length - 1;
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (left(i) ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(" | ")} |`;
  const rule = widths.map((w, i) => (left(i) ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`));
  process.stdout.write(`\n${line(COLUMNS)}\n|${rule.join("|")}|\n`);
  for (const r of rows) process.stdout.write(`${line(r)}\n`);
  process.stdout.write(
    "\nratio to the baseline: throughput (webhook req/s / baseline req/s), and CPU cost\n(baseline CPU ms per review / webhook's: the throughput ratio if each had a core of its own):\n",
  );
  for (const s of chosen) {
    const ratio = ratios[s.name];
    const cost = costRatios[s.name];
    if (ratio !== undefined && s.load.type === "closed") {
      process.stdout.write(
        `  ${s.title.padEnd(34)} throughput ${(ratio * 100).toFixed(0).padStart(3)}%   CPU cost ${cost === undefined ? "-" : `${(cost * 100).toFixed(0)}% (CPU ms per review ${(1 / cost).toFixed(2)}x the baseline's)`}\n`,
      );
    }
  }
}

function printTargets(targets: TargetCheck[]): void {
  process.stdout.write("\ntargets:\n");
  for (const t of targets) {
    const verdict = t.met === undefined ? "n/a   " : t.met ? "met   " : "MISSED";
    process.stdout.write(`  ${verdict} ${t.what.padEnd(48)} ${t.value}\n`);
  }
}

function printValidation(v: ValidationFigures): void {
  process.stdout.write(
    `  Connector -> 100-certificate Secret, warm: p50 ${v.p50_ms.toFixed(3)} ms, p99 ${v.p99_ms.toFixed(3)} ms, max ${v.max_ms.toFixed(2)} ms, mean ${v.mean_ms.toFixed(3)} ms over ${v.n}; cold first decision ${v.cold_ms.toFixed(1)} ms; ${v.decision}\n`,
  );
}

function printScale(s: ScaleFigures): void {
  const caches = Object.entries(s.cache_objects)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  process.stdout.write(
    [
      `  ${s.namespaces} namespaces + ${s.configmaps} CA ConfigMaps (${s.bundle_bytes} B bundle each), created in ${s.create_s} s (${s.create_per_s}/s)`,
      `  cache sync ${s.sync_s} s (${caches})`,
      `  webhook RSS after sync ${s.rss_after_sync_mb} MiB (live heap after GC ${s.heap_live_after_sync_mb} MiB); peak ${s.rss_peak_mb} MiB incl. ${s.load_s} s of (a)`,
      `  reference index over ${s.referencing_objects} DataPlanes: synced in ${s.index_sync_s} s (${JSON.stringify(s.index_sizes)}); live heap ${s.heap_live_after_sync_mb} -> ${s.heap_live_with_index_mb} MiB (+${s.index_heap_mb} MiB), RSS ${s.rss_with_index_mb} MiB`,
      `  (a) from these caches: ${s.load_rps} req/s, p99 ${s.load_p99_ms} ms, ${s.load_errors} errors, answer ${s.load_answer}`,
      `  (b) Connector, Secret read from the apiserver: ${s.connector_rps} req/s, p50 ${s.connector_p50_ms} ms, p99 ${s.connector_p99_ms} ms, ${s.connector_errors} errors, answer ${s.connector_answer}; scale run ${s.total_s} s`,
      "",
    ].join("\n"),
  );
}

function describeMachine() {
  const list = cpus();
  return {
    cpus: list.length,
    cpu_model: list[0]?.model.trim() ?? "unknown",
    node: process.version,
    loadavg: loadavg().map((l) => round(l, 2)),
  };
}

function writeJson(file: string, data: unknown): void {
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  process.stdout.write(`wrote ${file}\n`);
}

function positive(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}: expected a positive number`);
  return n;
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

const HELP = `Usage: npm run bench -- [options]

  --duration S        measured seconds per scenario and server (default 4)
  --connections N     autocannon connections; socket limit of the paced runs (default 10)
  --warmup S          closed-loop warm-up of each server before its measured slices (default 1)
  --slices N          split each server's measured time into N slices, taking turns (default 4)
  --only IDS          scenarios to run: a,b,c,c10,d,d2 (default all)
  --cpu-prof DIR      CPU-profile each server's measured window (as node --cpu-prof does) into
                      DIR/<scenario>-<server>.cpuprofile and print a summary; use with --only
  --validation-n N    decisions in the validation micro-benchmark (default 5000)
  --guard             only the Secret guard's micro-benchmark and the reference index's memory
  --guard-n N         decisions in the guard micro-benchmark (default 20000)
  --index-objects N   referencing objects in the index memory measurement (default 10000)
  --node-flags=FLAGS  Node flags for both server children, e.g. --node-flags=--trace-gc
  --json FILE         also write the figures as JSON
  --compare FILE      then print the change against a previous run's JSON (from --json)
  --current FILE      with --compare: compare two saved runs, without measuring anything
  --skip-scale        leave out the scale run (it is left out with --only too)
  --scale             only the scale run
  --overhead          only the webhook's overhead on Pod creation through a real apiserver
  --namespaces N      namespaces (each with a CA ConfigMap) in the scale run (default 10000)
  --referencing N     DataPlanes referencing CA Secrets in the scale run (default 10000)`;

main().catch((error: unknown) => {
  process.stderr.write(
    `bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
