import createError from "@fastify/error";

/**
 * Every error the HTTP layer can answer with, declared once. Each carries a stable `code` and
 * an HTTP status; tests assert the code, never the text. Errors inside the admission protocol
 * (a bad CA reference, a missing ConfigMap) are not errors here: they are `deny` decisions.
 * Fastify's own codes (FST_ERR_CTP_BODY_TOO_LARGE 413, FST_ERR_CTP_INVALID_MEDIA_TYPE 415,
 * FST_ERR_CTP_EMPTY_JSON_BODY 400, FST_ERR_CTP_INVALID_JSON_BODY 400) pass through unchanged.
 */
export const errors = {
  /** The body parsed as JSON but is not an `admission.k8s.io/v1` AdmissionReview. */
  NOT_ADMISSION_REVIEW: createError<[string]>(
    "CTW_ERR_NOT_ADMISSION_REVIEW",
    "not an admission.k8s.io/v1 AdmissionReview: %s",
    400,
  ),
  /** A field of `request` that the webhook relies on is missing or malformed. */
  BAD_REVIEW_FIELD: createError<[string, string]>("CTW_ERR_BAD_REVIEW", "%s: %s", 400),
  /** JSON nested deeper than any Kubernetes object; refused before it is decoded. */
  TOO_DEEP: createError<[string, string]>(
    "CTW_ERR_JSON_TOO_DEEP",
    "JSON nests %s levels deep; the webhook accepts at most %s",
    400,
  ),
  /** More JSON values than --max-json-values; refused before it is decoded (bounded memory). */
  TOO_MANY_VALUES: createError<[string, string]>(
    "CTW_ERR_JSON_TOO_MANY_VALUES",
    "JSON holds %s values; the webhook accepts at most %s (--max-json-values)",
    400,
  ),
  /**
   * The requests already being read or decided hold the memory budget
   * (--max-request-memory-mib): refused at once instead of queued. Large bodies find it full
   * first: a quarter of the budget is kept for bodies of at most 64 KiB.
   */
  BUSY: createError<[string]>("CTW_ERR_BUSY", "%s", 429),
  /** Mutual TLS: the client certificate's CN is not one of --client-cn. */
  CLIENT_NOT_ALLOWED: createError<[string]>(
    "CTW_ERR_CLIENT_NOT_ALLOWED",
    "client certificate CN %s is not allowed",
    403,
  ),
  /** The route exists but not for this method. */
  NOT_FOUND: createError<[string, string]>("CTW_ERR_NOT_FOUND", "no route %s %s", 404),
} as const;

/** An error for a bad value of one `request` field; `field` is echoed in the JSON answer. */
export function badReviewField(field: string, problem: string): Error & { field: string } {
  return Object.assign(new errors.BAD_REVIEW_FIELD(field, problem), { field });
}
