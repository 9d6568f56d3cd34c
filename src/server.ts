import type { SecureContextOptions, TLSSocket } from "node:tls";
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyRequest,
  LogController,
} from "fastify";
import {
  BODY_LIMIT,
  decodeEstimate,
  MemoryBudget,
  receiveEstimate,
  SMALL_BODY_BYTES,
  type Ticket,
} from "./admission/budget.js";
import { ConnectionGuard } from "./admission/connections.js";
import { LogLimiter } from "./admission/log-limiter.js";
import { MAX_JSON_DEPTH, OversizedReview } from "./admission/review.js";
import { admissionRoutes } from "./admission/routes.js";
import { type BodyShape, measureDecoded, reviewFacts, scanShape } from "./admission/shape.js";
import type { ServerLimits } from "./config.js";
import type { Decide } from "./core/types.js";
import { errors } from "./errors.js";
import type { Logger } from "./observability/logger.js";
import type { Metrics } from "./observability/metrics.js";
import type { Readiness } from "./observability/readiness.js";

export { BODY_LIMIT } from "./admission/budget.js";

/** How often Node enforces requestTimeout/headersTimeout on open connections. */
const CHECK_INTERVAL_MS = 1_000;

export type { ServerLimits } from "./config.js";

/** The defaults of the --max-* options (src/config.ts); tests and scripts start from them. */
export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  maxJsonValues: 200_000,
  maxRequestMemoryBytes: 64 * 1024 * 1024,
  maxConnections: 500,
  tlsHandshakeTimeoutMs: 5_000,
  firstRequestTimeoutMs: 10_000,
  logRateLimit: 50,
});

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
  /** Default {@link DEFAULT_LIMITS}. */
  limits?: Partial<ServerLimits>;
}

export interface ServerDeps {
  logger: Logger;
  metrics: Metrics;
  validate: Decide;
  mutate: Decide;
  /** The Secret guard (POST /guard); absent: nothing is referenced, every write is allowed. */
  guard?: Decide;
}

/** Each request's share of the memory budget, from its headers to its answer. */
type WithTicket = FastifyRequest & { ctwTicket: Ticket | null };

/**
 * The webhook's Fastify instance: POST /validate, /mutate and /guard, hardened against hostile input
 * (body limit → 413, wrong content type → 415, not JSON or too deep or too many values → 400,
 * or an AdmissionReview denial when the uid can be read; bad review → 400 naming the field;
 * memory budget full → 429). It never listens itself: `main.ts` does, tests use `inject()`.
 */
export function buildServer(options: ServerOptions, deps: ServerDeps): FastifyInstance {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
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
            // Node's default is 120 s: a socket that never starts TLS would hold memory that long.
            handshakeTimeout: limits.tlsHandshakeTimeoutMs,
          },
        }
      : { http: { connectionsCheckingInterval: CHECK_INTERVAL_MS } }),
    bodyLimit: BODY_LIMIT,
    requestTimeout: options.requestTimeoutMs,
    // Idle sockets are the ConnectionGuard's (first request) and keepAliveTimeout's (after it).
    connectionTimeout: 0,
    keepAliveTimeout: options.keepAliveTimeoutMs,
    // In-flight reviews finish on close; new ones on an open keep-alive connection are still
    // answered (with `Connection: close`) instead of a 503 the apiserver would count as failure.
    return503OnClosing: false,
    forceCloseConnections: "idle",
    loggerInstance: deps.logger,
    // One line per review comes from the route; Fastify's per-request lines would double it.
    logController: new LogController({ disableRequestLogging: true }),
    // Nothing logs through a request's own logger (the routes log one line per review with
    // the server's): a pino child per request, which Fastify makes by default to bind its
    // request id, would be built on every review for nothing.
    childLoggerFactory: (logger) => logger,
    // A `__proto__` key (or `constructor.prototype`) is dropped, not refused: it cannot
    // pollute anything once removed, and refusing it would make an object that carries one
    // (e.g. written through the status subresource, which we never see) impossible to update,
    // so its finalizers could never be removed.
    onProtoPoisoning: "remove",
    onConstructorPoisoning: "remove",
    routerOptions: { ignoreTrailingSlash: false },
  }) as unknown as FastifyInstance;
  // A slow client must not hold a socket with half its headers either.
  fastify.server.headersTimeout = Math.min(options.requestTimeoutMs, 10_000);

  const budget = new MemoryBudget(limits.maxRequestMemoryBytes);
  const guard = new ConnectionGuard({
    maxConnections: limits.maxConnections,
    firstRequestTimeoutMs: limits.firstRequestTimeoutMs,
    onClose: (reason) => deps.metrics.connectionsClosed.inc({ reason }),
  });
  // Before the TLS layer wraps the socket: a refused connection costs no TLS state.
  fastify.server.prependListener("connection", guard.onConnection);
  // A TLS listener tells which connections finished their handshake (evicted last).
  fastify.server.prependListener("secureConnection", guard.onSecureConnection);
  deps.metrics.serverState.openConnections = () => guard.open;
  deps.metrics.serverState.requestMemoryBytes = () => budget.used;
  const logLimiter = new LogLimiter({
    perSecond: limits.logRateLimit,
    report: (reason, suppressed, windowMs) =>
      deps.logger.warn({ reason, suppressed, windowMs }, "log lines suppressed"),
    onSuppressed: (reason) => deps.metrics.logLinesSuppressed.inc({ reason }),
  });

  // Only JSON is an AdmissionReview: drop Fastify's default text/plain parser so that any other
  // content type is a 415.
  fastify.removeContentTypeParser("text/plain");
  const parseJson = fastify.getDefaultJsonParser("remove", "remove");
  const refusalOf = (depth: number, values: number, exact: boolean) =>
    depth > MAX_JSON_DEPTH
      ? new errors.TOO_DEEP(
          exact ? count(depth) : `more than ${count(MAX_JSON_DEPTH)}`,
          count(MAX_JSON_DEPTH),
        )
      : values > limits.maxJsonValues
        ? new errors.TOO_MANY_VALUES(count(values), count(limits.maxJsonValues))
        : undefined;
  // A body whose uid can be read gets an AdmissionReview the apiserver shows its user.
  const refuse = (
    facts: Pick<BodyShape, "uid" | "operation" | "deleting">,
    refusal: Error & { code: string },
    done: (error: Error | null, value?: unknown) => void,
  ) => {
    if (facts.uid !== undefined)
      done(null, new OversizedReview({ ...facts, uid: facts.uid }, refusal));
    else done(refusal, undefined);
  };
  fastify.addContentTypeParser("application/json", { parseAs: "buffer" }, (req, body, done) => {
    const bytes = body as Buffer;
    const ticket = (req as WithTicket).ctwTicket;
    if (bytes.length > SMALL_BODY_BYTES) {
      // A large body is measured on its raw bytes before anything is decoded: the decision to
      // spend heap on it is made on what it holds (src/admission/shape.ts).
      const shape = scanShape(bytes);
      const refusal = refusalOf(shape.depth, shape.values, true);
      if (refusal !== undefined) return refuse(shape, refusal, done);
      if (ticket !== null && !ticket.grow(decodeEstimate(bytes.length, shape.values))) {
        return done(busy(budget, ticket), undefined);
      }
      return parseJson(req, bytes.toString("utf8"), done);
    }
    // A small body costs at most a few MiB decoded: decode it, then measure the value once
    // (depth before anything recursive touches it, values for the budget), removing poisoned
    // keys in the same walk (measureDecoded), so the text is parsed once and the value walked
    // once.
    const accept = (value: unknown) => {
      const measured = measureDecoded(value, MAX_JSON_DEPTH, { dropPoisonedKeys: true });
      const refusal = refusalOf(measured.depth, measured.values, false);
      if (refusal !== undefined) return refuse(reviewFacts(value), refusal, done);
      if (ticket !== null && !ticket.grow(decodeEstimate(bytes.length, measured.values))) {
        return done(busy(budget, ticket), undefined);
      }
      done(null, value);
    };
    const text = bytes.toString("utf8");
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      // Not JSON (or JSON after a byte order mark): Fastify's parser gives its coded error, or
      // the value, exactly as before.
      return parseJson(req, text, (error, parsed) =>
        error ? done(error, undefined) : accept(parsed),
      );
    }
    accept(value);
  });

  // Every request takes its share of the memory budget before its body is read.
  fastify.decorateRequest("ctwTicket", null);
  fastify.addHook("onRequest", (req, reply, done) => {
    guard.requestOn(req.raw.socket);
    const declared = declaredLength(req);
    const small = declared !== undefined && declared <= SMALL_BODY_BYTES;
    const ticket = budget.take(
      receiveEstimate(Math.min(declared ?? BODY_LIMIT, BODY_LIMIT)),
      small,
    );
    if (ticket === undefined) {
      done(busy(budget, undefined));
      return;
    }
    (req as WithTicket).ctwTicket = ticket;
    // The response closes when the answer is sent or the connection goes away mid-request
    // (the request's own "close" fires as soon as its body is read: too early).
    reply.raw.once("close", () => ticket.release());
    done();
  });

  const commonNames = options.clientAuth?.commonNames ?? [];
  if (commonNames.length > 0) {
    fastify.addHook("onRequest", async (req, reply) => {
      const socket = req.raw.socket as TLSSocket;
      const cn = socket.getPeerCertificate?.()?.subject?.CN;
      if (typeof cn !== "string" || !commonNames.includes(cn)) {
        const error = new errors.CLIENT_NOT_ALLOWED(String(cn ?? "none"));
        deps.metrics.rejectedInputs.inc({ reason: error.code });
        if (logLimiter.allow(error.code)) {
          deps.logger.warn({ code: error.code, remote: remoteOf(req) }, "request rejected");
        }
        return reply
          .code(403)
          .send({ statusCode: 403, code: error.code, error: "Forbidden", message: error.message });
      }
    });
  }

  let closing = false;
  fastify.addHook("onClose", async () => {
    closing = true;
    guard.stop();
    logLimiter.flush();
  });
  fastify.addHook("preClose", async () => {
    closing = true;
  });
  // Callback style: an async hook would cost a promise and a microtask on every answer.
  fastify.addHook("onSend", (_req, reply, payload, done) => {
    if (closing) reply.header("connection", "close");
    done(null, payload);
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
      if (logLimiter.allow(code)) {
        deps.logger.warn({ url: req.url, code, message: error.message }, "request failed");
      }
    } else if (logLimiter.allow(code)) {
      // What was refused and from where, never the body (messages name limits and fields).
      deps.logger.info(
        { code, status, message: error.message, remote: remoteOf(req) },
        "request rejected",
      );
    }
    // A body refused before it is read (413, 429) is drained and discarded by Node after the
    // answer, which costs no memory; closing instead would make the kernel reset the socket
    // over the unread bytes, and the client could lose the answer with it.
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
    if (logLimiter.allow(error.code)) {
      deps.logger.info({ code: error.code, remote: remoteOf(req) }, "request rejected");
    }
    void reply
      .code(404)
      .send({ statusCode: 404, code: error.code, error: "Not Found", message: error.message });
  });

  fastify.register(admissionRoutes, {
    validate: deps.validate,
    mutate: deps.mutate,
    guard: deps.guard ?? (async () => ({ kind: "allow", warnings: [] })),
    logger: deps.logger,
    metrics: deps.metrics,
    logLimiter,
  });
  return fastify;
}

/** The body size the client announces; undefined when it does not (chunked) or lies oddly. */
function declaredLength(req: FastifyRequest): number | undefined {
  if (req.method === "GET" || req.method === "HEAD") return 0;
  const header = req.headers["content-length"];
  if (header === undefined) return undefined;
  const n = Number(header);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function busy(budget: MemoryBudget, ticket: Ticket | undefined): Error {
  const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
  const what =
    ticket === undefined ? "this request" : `decoding this body (${mib(ticket.bytes)} so far)`;
  return new errors.BUSY(
    `requests in flight hold ${mib(budget.used)} of the ${mib(budget.capacity)} request memory (--max-request-memory-mib); ${what} does not fit; retry`,
  );
}

function remoteOf(req: FastifyRequest): string {
  const socket = req.raw.socket;
  return `${socket?.remoteAddress ?? "?"}:${socket?.remotePort ?? "?"}`;
}

/** 1234567 → "1,234,567" (messages name counts the way a user reads them). */
function count(n: number): string {
  return n.toLocaleString("en-US");
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
    case 429:
      return "Too Many Requests";
    default:
      return "Client Error";
  }
}
