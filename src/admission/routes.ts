import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  type Decide,
  type DecideContext,
  type Decision,
  OPERATIONS,
  type Operation,
} from "../core/types.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { LogLimiter } from "./log-limiter.js";
import type { Review } from "./response.js";
import { allow, deny, respond, serializeReview } from "./response.js";
import { decodeReview, OversizedReview } from "./review.js";

export interface AdmissionRoutesOptions {
  validate: Decide;
  mutate: Decide;
  /** The Secret guard (POST /guard): Secret and CA ConfigMap UPDATE/DELETE. */
  guard: Decide;
  logger: Logger;
  metrics: Metrics;
  /** Review lines are rate-limited per decision (a forged-review flood must not flood logs). */
  logLimiter?: LogLimiter;
}

/**
 * POST /validate, /mutate and /guard: decode → decide → respond. The only place that touches the
 * reply. A decision that throws (a bug) becomes a denial with status 500 inside a well-formed
 * AdmissionReview, so the apiserver applies the webhook's failurePolicy with a clear message
 * instead of a transport error.
 */
export async function admissionRoutes(
  fastify: FastifyInstance,
  options: AdmissionRoutesOptions,
): Promise<void> {
  const { logger, metrics } = options;
  // The metric children of each label set, bound once: an observation is then an increment,
  // without hashing a label object per review (prom-client's labels() does that every call).
  const counted = new Map<string, { inc: () => void }>();
  const countReview = (webhook: Webhook, operation: string, decision: string) => {
    const key = `${webhook} ${operation} ${decision}`;
    let child = counted.get(key);
    if (child === undefined) {
      child = metrics.requests.labels(webhook, operation, decision);
      counted.set(key, child);
    }
    child.inc();
  };
  const timers = {
    validate: metrics.duration.labels("validate"),
    mutate: metrics.duration.labels("mutate"),
    guard: metrics.duration.labels("guard"),
  } satisfies Record<Webhook, { observe: (value: number) => void }>;
  const route =
    (webhook: Webhook, decide: Decide) =>
    async (
      req: FastifyRequest<{ Querystring: { timeout?: string } }>,
      reply: FastifyReply,
    ): Promise<string> => {
      // The answer is JSON text already (serializeReview): Fastify sends it as is.
      reply.type(ANSWER_CONTENT_TYPE);
      return serializeReview(await answer(webhook, decide, req));
    };
  const answer = async (
    webhook: Webhook,
    decide: Decide,
    req: FastifyRequest<{ Querystring: { timeout?: string } }>,
  ): Promise<Review> => {
    const started = performance.now();
    if (req.body instanceof OversizedReview) return oversized(webhook, req.body, started);
    const request = decodeReview(req.body);
    const context: DecideContext = { deadline: deadlineOf(req.query.timeout, started) };
    let decision: Decision;
    try {
      decision = await decide(request, context);
    } catch (error) {
      logger.error(
        {
          uid: request.uid,
          err: { message: (error as Error).message, stack: (error as Error).stack },
        },
        "decision failed",
      );
      decision = {
        kind: "deny",
        code: 500,
        reason: "InternalError",
        message: "ca-trust-webhook: internal error while deciding; see the webhook's logs",
        warnings: [],
      };
    }
    const review = respond(request.uid, decision);
    const durationMs = performance.now() - started;
    const outcome =
      decision.kind === "deny" ? "denied" : review.response?.patch ? "patched" : "allowed";
    countReview(webhook, request.operation, outcome);
    timers[webhook].observe(durationMs / 1000);
    if (options.logLimiter?.allow(`review ${outcome}`) === false) return review;
    logger.info(
      {
        webhook,
        uid: request.uid,
        kind: request.kind.kind,
        group: request.kind.group,
        namespace: request.namespace,
        name: request.name || request.object?.metadata?.generateName,
        operation: request.operation,
        dryRun: request.dryRun === true,
        decision: outcome,
        ...(decision.kind === "deny" ? { code: decision.code, reason: decision.reason } : {}),
        ...(decision.kind === "patch" && decision.summary ? { summary: decision.summary } : {}),
        warnings: review.response?.warnings?.length ?? 0,
        durationMs: Math.round(durationMs * 1000) / 1000,
      },
      "review",
    );
    return review;
  };

  /**
   * A body refused before decoding that names its uid. An object being deleted is allowed
   * whatever it holds (its finalizers must stay removable; README), and so are DELETE and
   * CONNECT, which the webhook never judges; anything else is denied with the limit.
   */
  const oversized = (webhook: Webhook, body: OversizedReview, started: number): Review => {
    const { uid, operation, deleting } = body.shape;
    const letThrough =
      operation === "DELETE" || operation === "CONNECT" || (operation === "UPDATE" && deleting);
    const problem = body.error.message;
    const review = letThrough
      ? allow(uid, [`ca-trust-webhook: not inspected: ${problem}`])
      : deny(uid, {
          code: 413,
          reason: "RequestEntityTooLarge",
          message: `ca-trust-webhook: ${problem}`,
        });
    const outcome = letThrough ? "allowed" : "denied";
    metrics.rejectedInputs.inc({ reason: body.error.code });
    // The operation label comes from an undecoded body: only the known ones are labels.
    const label = OPERATIONS.includes(operation as Operation) ? (operation as string) : "unknown";
    countReview(webhook, label, outcome);
    timers[webhook].observe((performance.now() - started) / 1000);
    if (options.logLimiter?.allow(body.error.code) !== false) {
      logger.info(
        { webhook, uid, operation, decision: outcome, code: body.error.code, message: problem },
        "review refused before decoding",
      );
    }
    return review;
  };

  fastify.post("/validate", route("validate", options.validate));
  fastify.post("/mutate", route("mutate", options.mutate));
  fastify.post("/guard", route("guard", options.guard));
}

/** What the routes answer (with `charset`, so that Fastify need not add it per reply). */
const ANSWER_CONTENT_TYPE = "application/json; charset=utf-8";

/** The three paths, and the `webhook` label of the metrics and review logs. */
type Webhook = "validate" | "mutate" | "guard";

/**
 * The apiserver appends `?timeout=10s` (its timeoutSeconds) to the webhook URL; the answer is
 * useless after that. Returns the epoch-ms deadline, or undefined if absent or malformed.
 */
export function deadlineOf(timeout: string | undefined, startedAt: number): number | undefined {
  if (timeout === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(timeout);
  if (m === null) return undefined;
  const ms = Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "s" ? 1000 : 60_000);
  return Date.now() - (performance.now() - startedAt) + ms;
}
