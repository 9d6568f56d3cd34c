/**
 * Issue 4, acceptance 5: with the Secret cache warm, validating a Connector that references a
 * 100-certificate Secret, in-process (no HTTP), N times; p50/p99 of one decision. The first
 * (cold) decision, which parses the 100 certificates with pkijs, is reported apart.
 */
import { performance } from "node:perf_hooks";
import { decodeReview } from "../../src/admission/review.js";
import { defaultDecisionSettings } from "../../src/config.js";
import { buildDecisions } from "../../src/decisions.js";
import { clearBundleCache } from "../../src/pki/bundle.js";
import {
  type BenchBundles,
  benchClusterView,
  connectorReview,
  SECRET_100_CERTS,
} from "./fixtures.js";
import { percentiles } from "./load.js";

/** The micro-benchmark's figures (JSON field names as written to `--json`). */
export interface ValidationFigures {
  n: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  mean_ms: number;
  /** The first decision, with an empty parse memo (the 100 certificates parsed). */
  cold_ms: number;
  /** The decision every iteration returned (`allow` expected, no warnings). */
  decision: string;
}

/** Runs the micro-benchmark `n` times (after the cold call and 200 warm-up calls). */
export async function validationBenchmark(
  n: number,
  bundles: BenchBundles,
): Promise<ValidationFigures> {
  const view = benchClusterView(bundles);
  const { validate } = buildDecisions(defaultDecisionSettings(), view);
  const request = decodeReview(JSON.parse(connectorReview(SECRET_100_CERTS)));
  const context = { deadline: undefined };

  clearBundleCache();
  const c0 = performance.now();
  const first = await validate(request, context);
  const coldMs = performance.now() - c0;
  const describe = (d: typeof first) =>
    d.kind === "deny"
      ? `deny ${d.code}: ${d.message}`
      : `${d.kind} (${d.warnings.length} warnings)`;
  for (let i = 0; i < 200; i++) await validate(request, context);

  const times: number[] = [];
  let total = 0;
  let decision = describe(first);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const d = await validate(request, context);
    const ms = performance.now() - t0;
    times.push(ms);
    total += ms;
    if (d.kind !== first.kind) decision = `inconsistent: ${describe(d)}`;
  }
  const { p50Ms, p99Ms, maxMs } = percentiles(times);
  const ms = (v: number) => Math.round(v * 1000) / 1000;
  return {
    n,
    p50_ms: ms(p50Ms),
    p99_ms: ms(p99Ms),
    max_ms: ms(maxMs),
    mean_ms: ms(total / n),
    cold_ms: ms(coldMs),
    decision,
  };
}
