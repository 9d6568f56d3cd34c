/**
 * Where one review's CPU goes inside the webhook, stage by stage, in-process and without HTTP:
 * the body checks and parse the server runs (a small body: JSON.parse of its text, then one
 * walk that measures the value and drops poisoned keys; a large body: the shape scan of its
 * raw bytes, then Fastify's secure-json-parse), decodeReview, the decision, the envelope
 * (patch → base64), the answer's text (serializeReview), the per-review log line and the
 * metrics (label children bound once, as routes.ts does). Each stage is repeated and timed in
 * CPU time (process.cpuUsage), which other processes on a shared machine disturb far less than
 * wall time. Compared with the bare `JSON.parse` the baseline server does.
 */
import { Writable } from "node:stream";
import Fastify, { type FastifyRequest } from "fastify";
import { pino } from "pino";
import { SMALL_BODY_BYTES } from "../../src/admission/budget.js";
import { respond, serializeReview } from "../../src/admission/response.js";
import { decodeReview, MAX_JSON_DEPTH } from "../../src/admission/review.js";
import { measureDecoded, scanShape } from "../../src/admission/shape.js";
import type { Decide } from "../../src/core/types.js";
import { createMetrics } from "../../src/observability/metrics.js";

/** CPU microseconds per call of each stage, for one body. */
export interface StageCosts {
  body_kib: number;
  /** Stage name → CPU µs per call. */
  stages: Record<string, number>;
  /** Sum of the webhook's stages. */
  webhook_total_us: number;
  /** What the baseline does with the same body (JSON.parse). */
  baseline_json_parse_us: number;
}

/** Measures every stage of one review `repeat` times (after as many warm-up calls). */
export async function stageCosts(
  body: string,
  decide: Decide,
  repeat: number,
): Promise<StageCosts> {
  // The very parsers server.ts uses, on the text of the body's bytes as server.ts gets them:
  // JSON.parse for a small body (whose poisoned keys the measuring walk drops), Fastify's
  // secure-json-parse (poisoned keys removed) for a large one.
  const fastifyParse = Fastify().getDefaultJsonParser("remove", "remove");
  const fakeRequest = {} as FastifyRequest;
  const bytes = Buffer.from(body, "utf8");
  const small = bytes.length <= SMALL_BODY_BYTES;
  const parse = (): unknown => {
    if (small) return JSON.parse(bytes.toString("utf8"));
    let out: unknown;
    fastifyParse(fakeRequest, bytes.toString("utf8"), (error, value) => {
      if (error) throw error;
      out = value;
    });
    return out;
  };
  const parsed = parse();
  const request = decodeReview(parsed);
  const context = { deadline: Date.now() + 10_000 };
  const decision = await decide(request, context);
  const review = respond(request.uid, decision);
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  const logger = pino({ level: "info", base: { pid: process.pid } }, sink);
  const metrics = createMetrics({ processMetrics: false });

  const stages: Record<string, number> = {};
  const measure = async (name: string, fn: () => unknown) => {
    for (let i = 0; i < repeat; i++) await fn();
    const t0 = process.cpuUsage();
    for (let i = 0; i < repeat; i++) await fn();
    const used = process.cpuUsage(t0);
    stages[name] = Math.round(((used.user + used.system) / repeat) * 10) / 10;
  };
  // server.ts measures a small body's decoded value, a large body's raw bytes.
  if (!small) {
    await measure("shape scan (scanShape, raw bytes, > 64 KiB)", () => scanShape(bytes));
  } else {
    await measure("measure + drop poisoned keys (<= 64 KiB)", () =>
      measureDecoded(parsed, MAX_JSON_DEPTH, { dropPoisonedKeys: true }),
    );
  }
  await measure(small ? "parse (JSON.parse)" : "parse (Fastify's secure-json-parse)", parse);
  await measure("decodeReview", () => decodeReview(parsed));
  await measure("decision (buildDecisions)", () => decide(request, context));
  await measure("envelope (respond: patch, base64)", () => respond(request.uid, decision));
  await measure("answer text (serializeReview)", () => serializeReview(review));
  await measure("log line (pino, info)", () =>
    logger.info(
      {
        webhook: "mutate",
        uid: request.uid,
        kind: request.kind.kind,
        namespace: request.namespace,
        operation: request.operation,
        decision: decision.kind,
        warnings: 0,
        durationMs: 1.234,
      },
      "review",
    ),
  );
  // As routes.ts observes: label children bound once.
  const counter = metrics.requests.labels("mutate", "CREATE", decision.kind);
  const timer = metrics.duration.labels("mutate");
  await measure("metrics (counter + histogram)", () => {
    counter.inc();
    timer.observe(0.001);
  });
  const webhookTotal = Object.values(stages).reduce((a, b) => a + b, 0);
  const baseline: Record<string, number> = {};
  {
    for (let i = 0; i < repeat; i++) JSON.parse(body);
    const t0 = process.cpuUsage();
    for (let i = 0; i < repeat; i++) JSON.parse(body);
    const used = process.cpuUsage(t0);
    baseline.parse = (used.user + used.system) / repeat;
  }
  return {
    body_kib: Math.round((body.length / 1024) * 10) / 10,
    stages,
    webhook_total_us: Math.round(webhookTotal * 10) / 10,
    baseline_json_parse_us: Math.round((baseline.parse ?? 0) * 10) / 10,
  };
}
