/**
 * Kubernetes field errors (k8s.io/apimachinery/pkg/util/validation/field), so a denial reads
 * like the apiserver's own validation: `spec.caCertSecretRef.name: Invalid value: "x": ...`.
 * https://github.com/kubernetes/apimachinery/blob/master/pkg/util/validation/field/errors.go
 */

export type FieldErrorType = "Required" | "Invalid" | "Forbidden" | "NotFound" | "InternalError";

export interface FieldError {
  readonly type: FieldErrorType;
  readonly field: string;
  /** The rendered error, exactly as it appears in the denial message. */
  readonly text: string;
  /**
   * The reason first, for a warning that may be cut at 120 characters (an UPDATE that leaves a
   * broken reference as it was): `PEM block 1: BEGIN without END (Secret a/b key "ca.crt")`.
   */
  readonly summary?: string;
}

const LABEL: Record<FieldErrorType, string> = {
  Required: "Required value",
  Invalid: "Invalid value",
  Forbidden: "Forbidden",
  NotFound: "Not found",
  InternalError: "Internal error",
};

/** One field error; `value` is shown quoted for Invalid and NotFound, as the apiserver does. */
export function fieldError(
  type: FieldErrorType,
  field: string,
  value: string | undefined,
  detail: string,
  summary?: string,
): FieldError {
  const shown =
    value !== undefined && (type === "Invalid" || type === "NotFound")
      ? ` ${JSON.stringify(value)}:`
      : "";
  const text = `${field}: ${LABEL[type]}:${shown} ${detail}`;
  return summary === undefined ? { type, field, text } : { type, field, text, summary };
}

/**
 * The status of a denial: 403 Forbidden when every error is a Forbidden, 500 when the CA could
 * not be verified, else 422 Invalid (the apiserver's code for field validation failures). The
 * message is the field errors, joined like an aggregate error, after the object's name.
 */
export function summarize(
  subject: string,
  errors: readonly FieldError[],
): { code: number; reason: string; message: string } {
  const body =
    errors.length === 1
      ? (errors[0] as FieldError).text
      : `[${errors.map((e) => e.text).join(", ")}]`;
  const message = `${subject} is invalid: ${body}`;
  if (errors.every((e) => e.type === "Forbidden"))
    return { code: 403, reason: "Forbidden", message };
  if (errors.some((e) => e.type === "InternalError"))
    return { code: 500, reason: "InternalError", message };
  return { code: 422, reason: "Invalid", message };
}
