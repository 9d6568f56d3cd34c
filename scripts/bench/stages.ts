/**
 * Where one review's CPU goes inside the webhook, stage by stage, in-process and without HTTP:
 * the body checks and parse the server runs (the measure of a small body's decoded value or the
 * shape scan of a large body's raw bytes, Fastify's secure-json-parse of their text),
 * decodeReview, the decision, the envelope (patch → base64), Fastify's serialisation
 * (JSON.stringify), the per-review log line and the metrics. Each stage is repeated and timed in
 * CPU time (process.cpuUsage), which other processes on a shared machine disturb far less than
 * wall time. Compared with the bare `JSON.parse` the baseline server does.
 */
import { Writable } from "node:stream";
import Fastify, { type FastifyRequest } from "fastify";
import { pino } from "pino";
import { SMALL_BODY_BYTES } from "../../src/admission/budget.js";
import { respond } from "../../src/admission/response.js";
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
  // The very parser server.ts uses (Fastify's secure-json-parse, poisoned keys removed), on
  // the text of the body's bytes as server.ts gets them.
  const fastifyParse = Fastify().getDefaultJsonParser("remove", "remove");
  const fakeRequest = {} as FastifyRequest;
  const bytes = Buffer.from(body, "utf8");
  const parse = (): unknown => {
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
  if (bytes.length > SMALL_BODY_BYTES) {
    await measure("shape scan (scanShape, raw bytes, > 64 KiB)", () => scanShape(bytes));
  } else {
    await measure("measure (measureDecoded, <= 64 KiB)", () =>
      measureDecoded(parsed, MAX_JSON_DEPTH),
    );
  }
  await measure("parse (Fastify's secure-json-parse)", parse);
  await measure("decodeReview", () => decodeReview(parsed));
  await measure("decision (buildDecisions)", () => decide(request, context));
  await measure("envelope (respond: patch, base64)", () => respond(request.uid, decision));
  await measure("serialise (JSON.stringify)", () => JSON.stringify(review));
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
  await measure("metrics (counter + histogram)", () => {
    metrics.requests.inc({ webhook: "mutate", operation: "CREATE", decision: decision.kind });
    metrics.duration.observe({ webhook: "mutate" }, 0.001);
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
