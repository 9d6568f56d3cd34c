import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Decide, DecideContext, Decision } from "../core/types.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { Review } from "./response.js";
import { respond } from "./response.js";
import { decodeReview } from "./review.js";

export interface AdmissionRoutesOptions {
  validate: Decide;
  mutate: Decide;
  logger: Logger;
  metrics: Metrics;
}

/**
 * POST /validate and POST /mutate: decode → decide → respond. The only place that touches the
 * reply. A decision that throws (a bug) becomes a denial with status 500 inside a well-formed
 * AdmissionReview, so the apiserver applies the webhook's failurePolicy with a clear message
 * instead of a transport error.
 */
export async function admissionRoutes(
  fastify: FastifyInstance,
  options: AdmissionRoutesOptions,
): Promise<void> {
  const { logger, metrics } = options;
  const route =
    (webhook: "validate" | "mutate", decide: Decide) =>
    async (req: FastifyRequest<{ Querystring: { timeout?: string } }>): Promise<Review> => {
      const started = performance.now();
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
      metrics.requests.inc({ webhook, operation: request.operation, decision: outcome });
      metrics.duration.observe({ webhook }, durationMs / 1000);
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

  fastify.post("/validate", route("validate", options.validate));
  fastify.post("/mutate", route("mutate", options.mutate));
}

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
