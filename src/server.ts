import type { SecureContextOptions, TLSSocket } from "node:tls";
import Fastify, { type FastifyError, type FastifyInstance, LogController } from "fastify";
import { depthExceeds, MAX_JSON_DEPTH } from "./admission/review.js";
import { admissionRoutes } from "./admission/routes.js";
import type { Decide } from "./core/types.js";
import { errors } from "./errors.js";
import type { Logger } from "./observability/logger.js";
import type { Metrics } from "./observability/metrics.js";
import type { Readiness } from "./observability/readiness.js";

/**
 * Largest body accepted. The apiserver caps a request at 3 MiB (k8s.io/apiserver
 * MaxRequestBodyBytes), and a Pod CREATE review carries one object; 4 MiB leaves room for the
 * envelope. Fastify's 1 MiB default would refuse legal Pods.
 */
export const BODY_LIMIT = 4 * 1024 * 1024;

/** How often Node enforces requestTimeout/headersTimeout on open connections. */
const CHECK_INTERVAL_MS = 1_000;

export interface ServerOptions {
  /** TLS options; absent only in tests that use `inject()` (the CLI always serves HTTPS). */
  https?: SecureContextOptions;
  /**
   * Mutual TLS: require a client certificate signed by `https.ca` (the handshake fails
   * without one) and, if non-empty, one of these subject CNs (else 403).
   * https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#authenticate-apiservers
   */
  clientAuth?: { commonNames: readonly string[] };
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

export interface ServerDeps {
  logger: Logger;
  metrics: Metrics;
  validate: Decide;
  mutate: Decide;
}

/**
 * The webhook's Fastify instance: POST /validate and /mutate, hardened against hostile input
 * (body limit → 413, wrong content type → 415, not JSON or too deep → 400, bad review → 400
 * naming the field). It never listens itself: `main.ts` does, tests use `inject()`.
 */
export function buildServer(options: ServerOptions, deps: ServerDeps): FastifyInstance {
  const fastify = Fastify({
    // The https server type differs from http only in typing; Fastify's overloads cannot see
    // through a conditional, so the options object is built for both.
    // Node checks request and header timeouts only every connectionsCheckingInterval (30 s by
    // default), which would let a slow client hold a socket 3x longer than requestTimeout.
    ...(options.https
      ? {
          https: {
            ...options.https,
            ...(options.clientAuth ? { requestCert: true, rejectUnauthorized: true } : {}),
            connectionsCheckingInterval: CHECK_INTERVAL_MS,
          },
        }
      : { http: { connectionsCheckingInterval: CHECK_INTERVAL_MS } }),
    bodyLimit: BODY_LIMIT,
    requestTimeout: options.requestTimeoutMs,
    connectionTimeout: 0,
    keepAliveTimeout: options.keepAliveTimeoutMs,
    // In-flight reviews finish on close; new ones on an open keep-alive connection are still
    // answered (with `Connection: close`) instead of a 503 the apiserver would count as failure.
    return503OnClosing: false,
    forceCloseConnections: "idle",
    loggerInstance: deps.logger,
    // One line per review comes from the route; Fastify's per-request lines would double it.
    logController: new LogController({ disableRequestLogging: true }),
    onProtoPoisoning: "error",
    onConstructorPoisoning: "error",
    routerOptions: { ignoreTrailingSlash: false },
  }) as unknown as FastifyInstance;
  // A slow client must not hold a socket with half its headers either.
  fastify.server.headersTimeout = Math.min(options.requestTimeoutMs, 10_000);

  // Only JSON is an AdmissionReview: drop Fastify's default text/plain parser so that any other
  // content type is a 415.
  fastify.removeContentTypeParser("text/plain");
  const parseJson = fastify.getDefaultJsonParser("error", "error");
  fastify.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) => {
    parseJson(req, body as string, (error, value) => {
      if (error) done(error, undefined);
      else if (depthExceeds(value, MAX_JSON_DEPTH))
        done(new errors.TOO_DEEP(MAX_JSON_DEPTH), undefined);
      else done(null, value);
    });
  });

  const commonNames = options.clientAuth?.commonNames ?? [];
  if (commonNames.length > 0) {
    fastify.addHook("onRequest", async (req, reply) => {
      const socket = req.raw.socket as TLSSocket;
      const cn = socket.getPeerCertificate?.()?.subject?.CN;
      if (typeof cn !== "string" || !commonNames.includes(cn)) {
        const error = new errors.CLIENT_NOT_ALLOWED(String(cn ?? "none"));
        deps.metrics.rejectedInputs.inc({ reason: error.code });
        return reply
          .code(403)
          .send({ statusCode: 403, code: error.code, error: "Forbidden", message: error.message });
      }
    });
  }

  let closing = false;
  fastify.addHook("onClose", async () => {
    closing = true;
  });
  fastify.addHook("preClose", async () => {
    closing = true;
  });
  fastify.addHook("onSend", async (_req, reply, payload) => {
    if (closing) reply.header("connection", "close");
    return payload;
  });

  fastify.setErrorHandler((error: FastifyError, req, reply) => {
    const status =
      error.statusCode && error.statusCode >= 400 && error.statusCode < 500
        ? error.statusCode
        : 400;
    const code = error.code ?? "CTW_ERR_BAD_REQUEST";
    deps.metrics.rejectedInputs.inc({ reason: code });
    if (!error.statusCode || error.statusCode >= 500) {
      // Not one of ours or Fastify's input errors: still a bad request from our point of view,
      // but worth a log line (without the body).
      deps.logger.warn({ url: req.url, code, message: error.message }, "request failed");
    }
    const field = (error as FastifyError & { field?: string }).field;
    void reply
      .code(status)
      .type("application/json")
      .send({
        statusCode: status,
        code,
        error: httpReason(status),
        message: error.message,
        ...(field ? { field } : {}),
      });
  });
  fastify.setNotFoundHandler((req, reply) => {
    const error = new errors.NOT_FOUND(req.method, req.url.split("?")[0] ?? "");
    deps.metrics.rejectedInputs.inc({ reason: error.code });
    void reply
      .code(404)
      .send({ statusCode: 404, code: error.code, error: "Not Found", message: error.message });
  });

  fastify.register(admissionRoutes, {
    validate: deps.validate,
    mutate: deps.mutate,
    logger: deps.logger,
    metrics: deps.metrics,
  });
  return fastify;
}

export interface HealthDeps {
  metrics: Metrics;
  readiness: Readiness;
}

/**
 * The plain-HTTP health listener: /healthz (the process answers), /readyz (every readiness
 * check passes: certificate loaded and valid, caches synced, not shutting down) and /metrics.
 */
export function buildHealthServer(deps: HealthDeps): FastifyInstance {
  const fastify = Fastify({ logger: false, forceCloseConnections: true });
  fastify.get("/healthz", async (_req, reply) => reply.type("text/plain").send("ok"));
  fastify.get("/readyz", async (_req, reply) => {
    const report = deps.readiness.report();
    return reply.code(report.ready ? 200 : 503).send(report);
  });
  fastify.get("/metrics", async (_req, reply) =>
    reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()),
  );
  return fastify;
}

function httpReason(status: number): string {
  switch (status) {
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    default:
      return "Client Error";
  }
}
