/**
 * What `kubectl apply` answered, read back from its output: the objects it reports, the
 * `Warning:` lines (admission warnings), and each error with the apiserver's status reason,
 * the webhook that denied (if one did) and the field errors in the message
 * (k8s.io/apimachinery field.Error: `<path>: <type>: ...`). Tests compare these parts, never
 * whole sentences.
 */
import type { KubectlResult } from "./controlplane.js";

/** The field error types as the apiserver prints them (field.ErrorType.String()). */
export const FIELD_ERROR_TYPES = [
  "Required value",
  "Invalid value",
  "Forbidden",
  "Not found",
  "Duplicate value",
  "Unsupported value",
  "Too long",
  "Too many",
  "Internal error",
] as const;

/** One field error in a message: `spec.x.namespace: Forbidden`. */
export interface FieldErrorRef {
  field: string;
  type: (typeof FIELD_ERROR_TYPES)[number];
}

/** One `Error from server (...)` (or other error) kubectl printed. */
export interface ApplyError {
  /**
   * The status reason: from `Error from server (Reason)` (`Forbidden`, `BadRequest`, ...), or
   * `Invalid` for kubectl's `The request is invalid: ...` (how it prints every 422).
   */
  reason: string | undefined;
  /** Name of the admission webhook that denied the request, when one did. */
  deniedBy: string | undefined;
  /** Field errors found in the message, in order. */
  fields: FieldErrorRef[];
  /** The error as printed (possibly several lines for an update). */
  text: string;
}

/** What one `kubectl apply` (or create) answered. */
export interface ApplyVerdict {
  /** kubectl's exit code. */
  code: number;
  /** `kind/name created|configured|unchanged`, without the ` (server dry run)` suffix. */
  objects: string[];
  /** Admission warnings, without kubectl's `Warning: ` prefix. */
  warnings: string[];
  errors: ApplyError[];
}

const FIELD_ERROR = new RegExp(
  `(?:^|[\\s\\[,])([A-Za-z][\\w-]*(?:\\.[\\w-]+|\\[[^\\]\\s]*\\])*): (${FIELD_ERROR_TYPES.join("|")})(?=:|$|,|\\])`,
  "g",
);
/** kubectl's rendering of a 422 (k8s.io/kubectl/pkg/cmd/util/helpers.go, checkErr). */
const INVALID = /^The (?:request|\S+ "[^"]*") is invalid/;
const DENIED = /admission webhook "([^"]+)" denied the request/;
const OBJECT_LINE = /^(\S+\/\S+) (created|configured|unchanged)(?: \(server dry run\))?$/;

/** Field errors named in a message, in order. */
export function fieldErrorsIn(message: string): FieldErrorRef[] {
  return [...message.matchAll(FIELD_ERROR)].map((m) => ({
    field: m[1] as string,
    type: m[2] as FieldErrorRef["type"],
  }));
}

/** Parses kubectl's stdout and stderr (or a combined stream given as `stdout`). */
export function applyVerdict(result: KubectlResult): ApplyVerdict {
  const objects: string[] = [];
  const warnings: string[] = [];
  const errors: ApplyError[] = [];
  const lines = `${result.stdout}\n${result.stderr}`.split("\n");
  let current: string[] | undefined;
  const flush = () => {
    if (current === undefined) return;
    const text = current.join("\n");
    errors.push({
      reason: INVALID.test(text) ? "Invalid" : /^Error from server \(([^)]+)\)/.exec(text)?.[1],
      deniedBy: DENIED.exec(text)?.[1],
      fields: DENIED.test(text) ? fieldErrorsIn(text.slice(text.search(DENIED))) : [],
      text,
    });
    current = undefined;
  };
  for (const line of lines) {
    if (line.startsWith("Warning: ")) {
      flush();
      warnings.push(line.slice("Warning: ".length));
    } else if (OBJECT_LINE.test(line)) {
      flush();
      const match = OBJECT_LINE.exec(line) as RegExpExecArray;
      objects.push(`${match[1]} ${match[2]}`);
    } else if (
      line.startsWith("Error from server") ||
      line.startsWith("error: ") ||
      INVALID.test(line)
    ) {
      flush();
      current = [line];
    } else if (current !== undefined && line !== "") {
      current.push(line); // continuation of a multi-line error ("error when applying patch:")
    }
  }
  flush();
  return { code: result.code, objects, warnings, errors };
}

/** The outcome of an apply in one word. */
export type VerdictKind =
  /** Exit 0, no warning. */
  | "allowed"
  /** Exit 0 with admission warnings. */
  | "warned"
  /** An admission webhook denied (some of) the objects. */
  | "denied"
  /** The apiserver refused before any webhook (decoding, strict field validation, schema). */
  | "refused"
  /** A non-zero exit without an error kubectl attributed to the server. */
  | "failed";

/** Classifies a verdict; a denial wins over any other error in the same apply. */
export function verdictKind(verdict: ApplyVerdict): VerdictKind {
  if (verdict.errors.some((e) => e.deniedBy !== undefined)) return "denied";
  if (verdict.errors.length > 0) return "refused";
  if (verdict.code !== 0) return "failed";
  return verdict.warnings.length > 0 ? "warned" : "allowed";
}

/** A one-line summary for people: `denied (Forbidden) at spec.x: Forbidden`, `allowed, 1 warning`. */
export function summarizeVerdict(verdict: ApplyVerdict): string {
  const warned =
    verdict.warnings.length === 0
      ? ""
      : `, ${verdict.warnings.length} warning${verdict.warnings.length === 1 ? "" : "s"}`;
  switch (verdictKind(verdict)) {
    case "denied": {
      const denied = verdict.errors.filter((e) => e.deniedBy !== undefined);
      const at = denied
        .flatMap((e) => e.fields)
        .map((f) => `${f.field}: ${f.type}`)
        .join("; ");
      return `denied (${denied[0]?.reason ?? "?"})${at ? ` at ${at}` : ""}${warned}`;
    }
    case "refused":
      return `refused by the API server (${verdict.errors[0]?.reason ?? "error"})`;
    case "failed":
      return `failed (exit ${verdict.code})`;
    default:
      return `allowed${warned}`;
  }
}
