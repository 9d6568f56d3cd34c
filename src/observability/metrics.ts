import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * The webhook's Prometheus metrics, on their own registry so that every server instance (and
 * every test) counts separately. Served as text at GET /metrics on the health listener.
 */
export interface Metrics {
  readonly registry: Registry;
  /** Reviews answered, by webhook (validate|mutate), operation and decision. */
  readonly requests: Counter<"webhook" | "operation" | "decision">;
  /** Time from body parsed to answer built, by webhook. */
  readonly duration: Histogram<"webhook">;
  /** Requests refused before a decision (4xx), by error code. */
  readonly rejectedInputs: Counter<"reason">;
  /** notAfter of the serving certificate in use, as Unix seconds. */
  readonly certificateNotAfter: Gauge;
  /** Certificate file reloads, by result (loaded|rejected). */
  readonly certificateReloads: Counter<"result">;
  /** Objects held per cache (watched objects and fetched lookups); filled at scrape time. */
  readonly cacheObjects: Gauge<"cache">;
  /** SubjectAccessReviews sent to the API, by decision (allowed|denied|error). */
  readonly accessReviews: Counter<"decision">;
  /** "May this user get it?" questions, by where the answer came from (hit|coalesced|miss). */
  readonly accessReviewCache: Counter<"result">;
  /** Webhook connections open now. */
  readonly openConnections: Gauge;
  /** Connections the server closed itself, by reason (limit|evicted|idle). */
  readonly connectionsClosed: Counter<"reason">;
  /** Estimated bytes held by the requests in flight (the --max-request-memory-mib budget). */
  readonly requestMemoryBytes: Gauge;
  /** Log lines left out by the rate limit (--log-rate-limit), by reason. */
  readonly logLinesSuppressed: Counter<"reason">;
  /**
   * Secret and CA ConfigMap writes reviewed by the guard, by resource, operation and verdict
   * (unreferenced|allowed|warned|denied).
   */
  readonly guardedWrites: Counter<"resource" | "operation" | "verdict">;
  /** The reference index: referencing objects, referenced Secrets, references; at scrape time. */
  readonly referenceIndex: Gauge<"count">;
  /**
   * Where the server's gauges read their values at scrape time (set by buildServer), so
   * that serving a request never pays for a metric update.
   */
  readonly serverState: { openConnections: () => number; requestMemoryBytes: () => number };
  /** Where the cache-size gauge reads at scrape time (set by the app once its view exists). */
  readonly cacheState: { sizes: () => Record<string, number> };
  /** Where the reference-index gauge reads at scrape time (set by the app with the index). */
  readonly referenceIndexState: { sizes: () => Record<string, number> };
}

/**
 * Bucket edges in seconds. 1, 5, 10, 25 and 100 ms are required (the apiserver's own webhook
 * histogram uses 5/25/100 ms, so operators can compare); finer below 1 ms for the warm path.
 */
export const DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

export function createMetrics(
  options: { processMetrics?: boolean; cacheSizes?: () => Record<string, number> } = {},
): Metrics {
  const cacheState = { sizes: options.cacheSizes ?? ((): Record<string, number> => ({})) };
  const referenceIndexState = { sizes: (): Record<string, number> => ({}) };
  const registry = new Registry();
  const serverState = { openConnections: () => 0, requestMemoryBytes: () => 0 };
  if (options.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix: "ca_trust_webhook_" });
  }
  return {
    registry,
    requests: new Counter({
      name: "ca_trust_webhook_admission_requests_total",
      help: "AdmissionReviews answered, by webhook, operation and decision",
      labelNames: ["webhook", "operation", "decision"],
      registers: [registry],
    }),
    duration: new Histogram({
      name: "ca_trust_webhook_admission_duration_seconds",
      help: "Time to decide and build the answer of one AdmissionReview",
      labelNames: ["webhook"],
      buckets: DURATION_BUCKETS,
      registers: [registry],
    }),
    rejectedInputs: new Counter({
      name: "ca_trust_webhook_rejected_inputs_total",
      help: "Requests refused before a decision, by error code",
      labelNames: ["reason"],
      registers: [registry],
    }),
    certificateNotAfter: new Gauge({
      name: "ca_trust_webhook_serving_certificate_not_after_seconds",
      help: "notAfter of the serving certificate in use (Unix seconds)",
      registers: [registry],
    }),
    certificateReloads: new Counter({
      name: "ca_trust_webhook_certificate_reloads_total",
      help: "Serving certificate reloads, by result",
      labelNames: ["result"],
      registers: [registry],
    }),
    cacheObjects: new Gauge({
      name: "ca_trust_webhook_cache_objects",
      help: "Objects held per cache (watched, or fetched and cached briefly)",
      labelNames: ["cache"],
      registers: [registry],
      collect() {
        for (const [cache, count] of Object.entries(cacheState.sizes())) this.set({ cache }, count);
      },
    }),
    accessReviews: new Counter({
      name: "ca_trust_webhook_access_reviews_total",
      help: "SubjectAccessReviews sent before reading a Secret for a request, by decision",
      labelNames: ["decision"],
      registers: [registry],
    }),
    accessReviewCache: new Counter({
      name: "ca_trust_webhook_access_review_cache_total",
      help: "Access questions answered from the cache (hit), by a review in flight (coalesced) or by a new review (miss)",
      labelNames: ["result"],
      registers: [registry],
    }),
    openConnections: new Gauge({
      name: "ca_trust_webhook_open_connections",
      help: "Webhook (HTTPS) connections open now",
      registers: [registry],
      collect() {
        this.set(serverState.openConnections());
      },
    }),
    connectionsClosed: new Counter({
      name: "ca_trust_webhook_connections_closed_total",
      help: "Connections closed by the server: limit (refused at --max-connections), evicted (made room), idle (no request within --first-request-timeout)",
      labelNames: ["reason"],
      registers: [registry],
    }),
    requestMemoryBytes: new Gauge({
      name: "ca_trust_webhook_request_memory_bytes",
      help: "Estimated memory held by the requests being read or decided (--max-request-memory-mib)",
      registers: [registry],
      collect() {
        this.set(serverState.requestMemoryBytes());
      },
    }),
    logLinesSuppressed: new Counter({
      name: "ca_trust_webhook_log_lines_suppressed_total",
      help: "Log lines left out by --log-rate-limit, by reason",
      labelNames: ["reason"],
      registers: [registry],
    }),
    guardedWrites: new Counter({
      name: "ca_trust_webhook_guarded_writes_total",
      help: "Secret and CA ConfigMap writes reviewed by the guard, by resource, operation and verdict (unreferenced: answered from memory, nothing reads it)",
      labelNames: ["resource", "operation", "verdict"],
      registers: [registry],
    }),
    referenceIndex: new Gauge({
      name: "ca_trust_webhook_reference_index_size",
      help: "The guard's reference index: objects with CA references (objects), Secrets they reference (secrets), references (references)",
      labelNames: ["count"],
      registers: [registry],
      collect() {
        for (const [count, n] of Object.entries(referenceIndexState.sizes()))
          this.set({ count }, n);
      },
    }),
    serverState,
    cacheState,
    referenceIndexState,
  };
}
