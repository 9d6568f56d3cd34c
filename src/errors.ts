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
  /** JSON nested deeper than any Kubernetes object; refused before it can exhaust the stack. */
  TOO_DEEP: createError<[number]>("CTW_ERR_JSON_TOO_DEEP", "JSON nesting exceeds %d levels", 400),
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
