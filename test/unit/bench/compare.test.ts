import { describe, expect, it } from "vitest";
import { compareRuns } from "../../../scripts/bench/compare.js";

const run = (rps: number, cpu: number, extra: Record<string, unknown> = {}) => ({
  machine: { loadavg: [0.5, 0.4, 0.3] },
  scenarios: { a_pod_inject: { rps, p50_ms: 1, p99_ms: 2, cpu_ms_per_req: cpu, rss_mb: 100 } },
  baseline: { a_pod_inject: { rps: 1000, p50_ms: 1, p99_ms: 2, cpu_ms_per_req: 0.1, rss_mb: 70 } },
  ratios: { a_pod_inject: rps / 1000 },
  stage_costs_us: { a_pod_inject: { stages: { "decision (buildDecisions)": 20 } } },
  targets: [{ what: "(a) throughput >= 70% of baseline", value: `${rps / 10}%`, met: rps >= 700 }],
  ...extra,
});

describe("bench --compare", () => {
  it("prints each figure's change in percent against the previous run", () => {
    const text = compareRuns(run(400, 0.25), run(500, 0.2), "old.json");
    expect(text).toContain("change against old.json");
    expect(text).toMatch(/a_pod_inject\s+webhook\s+req\/s 400 -> 500 \(\+25%\)/);
    expect(text).toContain("CPU ms/req 0.250 -> 0.200 (-20%)");
    expect(text).toMatch(/a_pod_inject\s+40% -> 50%/);
    expect(text).toContain("MISSED (a) throughput >= 70% of baseline");
    expect(text).toContain("(before: MISSED, 40%)");
  });

  it("shows '-' for a figure an older run did not record", () => {
    const newer = run(500, 0.2);
    (newer.scenarios.a_pod_inject as Record<string, number>).rss_start_mb = 80;
    expect(compareRuns(run(400, 0.25), newer, "old.json")).toContain("RSS start - -> 80");
  });

  it("compares the scale run when both have one", () => {
    const text = compareRuns(
      run(400, 0.25, { scale: { rss_after_sync_mb: 240, rss_peak_mb: 250, sync_s: 2 } }),
      run(400, 0.25, { scale: { rss_after_sync_mb: 200, rss_peak_mb: 210, sync_s: 2 } }),
      "old.json",
    );
    expect(text).toContain("RSS after sync 240 -> 200 (-17%) MiB; peak 250 -> 210 (-16%) MiB");
  });
});
