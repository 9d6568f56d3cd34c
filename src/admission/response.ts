import type { AddOperation, Decision } from "../core/types.js";
import {
  ADMISSION_API_VERSION,
  ADMISSION_KIND,
  type AdmissionResponse,
  type AdmissionReview,
} from "./types.js";

/**
 * The one envelope builder: every answer the webhook sends comes from `allow`, `deny` or
 * `patch`, which always set apiVersion, kind and response.uid (copied from request.uid), and
 * set `patch` together with `patchType` or not at all.
 * https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#response
 */

/** Warnings per response; the apiserver truncates beyond 4 KiB in total. */
export const MAX_WARNINGS = 10;
/** Characters per warning: "Limit warnings to 120 characters if possible" (admission/v1 types). */
export const MAX_WARNING_LENGTH = 120;
/**
 * Characters of a denial's message. The apiserver shows it whole to the user and records it
 * in events and audit logs; one review must not be able to make it megabytes long (a Secret
 * with 70,000 bad keys once produced 6.85 MiB). 4,096 is the apiserver's own total for
 * warnings; a message with dozens of field errors still fits.
 */
export const MAX_MESSAGE_LENGTH = 4096;

export type Review = AdmissionReview<AdmissionResponse>;

/** Allows the request unchanged. */
export function allow(uid: string, warnings: readonly string[] = []): Review {
  return envelope({ uid, allowed: true, ...warningsField(warnings) });
}

/** Denies with a metav1.Status: `code` (4xx for policy), a CamelCase `reason`, and the message. */
export function deny(
  uid: string,
  status: { code: number; reason: string; message: string },
  warnings: readonly string[] = [],
): Review {
  return envelope({
    uid,
    allowed: false,
    status: { code: status.code, reason: status.reason, message: clampMessage(status.message) },
    ...warningsField(warnings),
  });
}

/** Allows with an RFC 6902 JSON patch (base64 of the JSON array); no operations → `allow`. */
export function patch(
  uid: string,
  operations: readonly AddOperation[],
  warnings: readonly string[] = [],
): Review {
  if (operations.length === 0) return allow(uid, warnings);
  return envelope({
    uid,
    allowed: true,
    patchType: "JSONPatch",
    patch: base64Json(JSON.stringify(operations)),
    ...warningsField(warnings),
  });
}

/**
 * Where a patch's UTF-8 bytes are written before base64: one buffer for the process, reused
 * by every answer (the encoding is synchronous, so no two answers share it at once, and only
 * the bytes just written are read). Allocating a Buffer per answer cost more than encoding it.
 */
const SCRATCH = Buffer.allocUnsafe(64 * 1024);

/** base64 of the UTF-8 bytes of `text`, encoded once. */
function base64Json(text: string): string {
  // At most three UTF-8 bytes per UTF-16 unit: a text this short always fits.
  if (text.length * 3 > SCRATCH.length) return Buffer.from(text, "utf8").toString("base64");
  const length = SCRATCH.write(text, 0, "utf8");
  return SCRATCH.toString("base64", 0, length);
}

/** Turns a Decision of the pure core into its envelope. */
export function respond(uid: string, decision: Decision): Review {
  switch (decision.kind) {
    case "allow":
      return allow(uid, decision.warnings);
    case "deny":
      return deny(uid, decision, decision.warnings);
    case "patch":
      return patch(uid, decision.operations, decision.warnings);
  }
}

/**
 * At most MAX_MESSAGE_LENGTH characters (UTF-16 units, never splitting a pair); a cut message
 * ends with how much was left out.
 */
export function clampMessage(message: string): string {
  if (message.length <= MAX_MESSAGE_LENGTH) return message;
  const note = (n: number) => ` … (${n.toLocaleString("en-US")} more characters not shown)`;
  let cut = MAX_MESSAGE_LENGTH - note(message.length).length;
  const last = message.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut--;
  return `${message.slice(0, cut)}${note(message.length - cut)}`;
}

/**
 * At most MAX_WARNINGS warnings of at most MAX_WARNING_LENGTH characters (code points), with
 * duplicates removed. When some are dropped, the last kept one says how many.
 */
export function clampWarnings(warnings: readonly string[]): string[] {
  const unique = [...new Set(warnings.map((w) => truncate(collapse(w))))].filter((w) => w !== "");
  if (unique.length <= MAX_WARNINGS) return unique;
  const kept = unique.slice(0, MAX_WARNINGS - 1);
  kept.push(`${unique.length - kept.length} more warnings not shown`);
  return kept;
}

/** Whitespace runs become one space; a huge warning is cut to a prefix first (bounded work). */
function collapse(text: string): string {
  const prefix =
    text.length > 8 * MAX_WARNING_LENGTH ? text.slice(0, 8 * MAX_WARNING_LENGTH) : text;
  return prefix.replace(/\s+/g, " ").trim();
}

function truncate(text: string): string {
  // Code points never outnumber UTF-16 units: short text needs no split, and a long one is cut
  // to a bounded prefix first so a megabyte warning costs no megabyte array.
  if (text.length <= MAX_WARNING_LENGTH) return text;
  const chars = Array.from(text.slice(0, 2 * MAX_WARNING_LENGTH));
  return chars.length <= MAX_WARNING_LENGTH
    ? text
    : `${chars.slice(0, MAX_WARNING_LENGTH - 1).join("")}…`;
}

function warningsField(warnings: readonly string[]): { warnings?: string[] } {
  const clamped = clampWarnings(warnings);
  return clamped.length === 0 ? {} : { warnings: clamped };
}

function envelope(response: AdmissionResponse): Review {
  return { apiVersion: ADMISSION_API_VERSION, kind: ADMISSION_KIND, response };
}

const ENVELOPE_HEAD = `{"apiVersion":${JSON.stringify(ADMISSION_API_VERSION)},"kind":${JSON.stringify(ADMISSION_KIND)},"response":{"uid":`;

/**
 * The answer's JSON text, written directly: for the envelopes `allow`, `deny` and `patch`
 * build, the same text as `JSON.stringify(review)` (same keys, same order; uid and allowed
 * always come first). The envelope and the key
 * names are constants, and the patch is base64 (no character needs escaping), so only the uid,
 * the status and the warnings go through `JSON.stringify`. The largest part of a Pod's answer
 * is the patch (4 KiB and more): it is written as is instead of being scanned again for
 * characters to escape, as a generic serialiser would.
 */
export function serializeReview(review: Review): string {
  const response = review.response;
  if (
    response === undefined ||
    review.apiVersion !== ADMISSION_API_VERSION ||
    review.kind !== ADMISSION_KIND
  ) {
    return JSON.stringify(review);
  }
  let text = `${ENVELOPE_HEAD}${JSON.stringify(response.uid)},"allowed":${response.allowed ? "true" : "false"}`;
  for (const key in response) {
    switch (key) {
      case "uid":
      case "allowed":
        break;
      case "patch":
        // Base64 (RFC 4648, from Buffer#toString("base64")): A-Z a-z 0-9 + / =, nothing to escape.
        if (response.patch !== undefined) text += `,"patch":"${response.patch}"`;
        break;
      case "patchType":
        if (response.patchType !== undefined) text += `,"patchType":"${response.patchType}"`;
        break;
      default: {
        const value = (response as unknown as Record<string, unknown>)[key];
        if (value !== undefined) text += `,${JSON.stringify(key)}:${JSON.stringify(value)}`;
      }
    }
  }
  return `${text}}}`;
}
