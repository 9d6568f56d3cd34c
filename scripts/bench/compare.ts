/**
 * `npm run bench -- --compare FILE`: this run's figures against a previous run's JSON (written
 * with `--json`), scenario by scenario and server by server, with the change in percent; then
 * the ratios to the baseline, the in-process stage costs, the scale run and the targets.
 * `--current FILE` compares two saved runs without running anything. Older JSON files that
 * lack a field (e.g. `rss_start_mb`, `cpu_ms_multiples`) show "-" for it.
 *
 * Wall-clock figures of two runs are comparable only on the same, equally quiet machine; the
 * CPU per review and the ratios to the baseline of the same run much more so
 * (docs/performance.md).
 */

type Json = Record<string, unknown>;

/** The figures compared per scenario and server, with how each is printed. */
const FIELDS: readonly { key: string; label: string; digits: number }[] = [
  { key: "rps", label: "req/s", digits: 0 },
  { key: "p50_ms", label: "p50 ms", digits: 2 },
  { key: "p99_ms", label: "p99 ms", digits: 2 },
  { key: "cpu_ms_per_req", label: "CPU ms/req", digits: 3 },
  { key: "rss_mb", label: "RSS MiB", digits: 0 },
  { key: "rss_start_mb", label: "RSS start", digits: 0 },
  { key: "loop_delay_max_ms", label: "loop max", digits: 1 },
];

/** The comparison as text lines. */
export function compareRuns(previous: unknown, current: unknown, previousName: string): string {
  const before = record(previous);
  const after = record(current);
  const lines: string[] = [];
  const load = (run: Json) => {
    const machine = record(run.machine);
    const start = Array.isArray(machine.loadavg) ? machine.loadavg[0] : undefined;
    return typeof start === "number" ? start.toFixed(2) : "-";
  };
  lines.push(
    `change against ${previousName} (load average at the start: before ${load(before)}, now ${load(after)}):`,
  );
  const scenarios = union(record(before.scenarios), record(after.scenarios));
  for (const name of scenarios) {
    for (const server of ["scenarios", "baseline"] as const) {
      const old = record(record(before[server])[name]);
      const now = record(record(after[server])[name]);
      if (Object.keys(old).length === 0 && Object.keys(now).length === 0) continue;
      const cells = FIELDS.map(
        (f) => `${f.label} ${change(old[f.key], now[f.key], f.digits)}`,
      ).join("; ");
      lines.push(
        `  ${name.padEnd(20)} ${server === "scenarios" ? "webhook " : "baseline"} ${cells}`,
      );
    }
  }
  for (const [key, title, percent] of [
    ["ratios", "throughput ratio (webhook / baseline)", true],
    ["cpu_cost_ratios", "CPU-cost ratio (baseline / webhook CPU per review)", true],
    ["cpu_ms_multiples", "CPU per review, multiple of the baseline's", false],
  ] as const) {
    const names = union(record(before[key]), record(after[key]));
    if (names.length === 0) continue;
    lines.push(`  ${title}:`);
    for (const name of names) {
      const old = record(before[key])[name];
      const now = record(after[key])[name];
      lines.push(
        `    ${name.padEnd(20)} ${percent ? `${pct(old)} -> ${pct(now)}` : change(old, now, 2)}`,
      );
    }
  }
  const stages = union(record(before.stage_costs_us), record(after.stage_costs_us));
  for (const body of stages) {
    const old = record(record(record(before.stage_costs_us)[body]).stages);
    const now = record(record(record(after.stage_costs_us)[body]).stages);
    lines.push(`  in-process stage costs, ${body} (µs):`);
    for (const stage of union(old, now)) {
      lines.push(`    ${stage.padEnd(44)} ${change(old[stage], now[stage], 1)}`);
    }
  }
  const oldScale = record(before.scale);
  const newScale = record(after.scale);
  if (Object.keys(oldScale).length > 0 || Object.keys(newScale).length > 0) {
    lines.push(
      `  scale run: RSS after sync ${change(oldScale.rss_after_sync_mb, newScale.rss_after_sync_mb, 0)} MiB; peak ${change(oldScale.rss_peak_mb, newScale.rss_peak_mb, 0)} MiB; sync ${change(oldScale.sync_s, newScale.sync_s, 2)} s`,
    );
  }
  const targets = (run: Json) =>
    new Map(
      (Array.isArray(run.targets) ? run.targets : []).map((t) => {
        const r = record(t);
        return [String(r.what), r] as const;
      }),
    );
  const oldTargets = targets(before);
  const newTargets = targets(after);
  if (newTargets.size > 0) {
    lines.push(
      "  targets (this run; the previous run's verdict and figure where it had the same one):",
    );
    for (const [what, t] of newTargets) {
      const old = oldTargets.get(what);
      lines.push(
        `    ${verdict(t.met).padEnd(6)} ${what.padEnd(48)} ${String(t.value)}${old ? `  (before: ${verdict(old.met)}, ${String(old.value)})` : ""}`,
      );
    }
  }
  return lines.join("\n");
}

function record(value: unknown): Json {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Json)
    : {};
}

function union(a: Json, b: Json): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])];
}

/** "old -> new (+x%)", or "-" for a side that lacks the figure. */
function change(old: unknown, now: unknown, digits: number): string {
  const show = (v: unknown) =>
    typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "-";
  if (typeof old !== "number" || typeof now !== "number" || !Number.isFinite(old) || old === 0) {
    return `${show(old)} -> ${show(now)}`;
  }
  const delta = ((now - old) / old) * 100;
  return `${show(old)} -> ${show(now)} (${delta >= 0 ? "+" : ""}${delta.toFixed(0)}%)`;
}

function pct(value: unknown): string {
  return typeof value === "number" ? `${(value * 100).toFixed(0)}%` : "-";
}

function verdict(met: unknown): string {
  return met === true ? "met" : met === false ? "MISSED" : "n/a";
}
