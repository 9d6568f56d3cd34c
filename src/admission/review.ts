import {
  type AdmissionRequest,
  type KubeObject,
  OPERATIONS,
  type Operation,
} from "../core/types.js";
import { badReviewField, errors } from "../errors.js";
import type { BodyShape } from "./shape.js";
import { ADMISSION_API_VERSION, ADMISSION_KIND } from "./types.js";

/**
 * The deepest JSON nesting we decode. Real Kubernetes objects are < 30 levels deep; Node's
 * JSON.stringify and structuredClone overflow the stack near 10,000 (docs/reliability.md), so
 * anything deeper is refused before it is decoded (src/admission/shape.ts measures it).
 */
export const MAX_JSON_DEPTH = 100;

/**
 * A body refused before decoding (too many values, too deep) that still names an
 * AdmissionReview uid: the route answers it with an AdmissionReview (a denial naming the
 * limit, or an allow when the object is being deleted) instead of a bare 400, so the apiserver
 * shows the user why.
 */
export class OversizedReview {
  constructor(
    readonly shape: Pick<BodyShape, "operation" | "deleting"> & { uid: string },
    readonly error: Error & { code: string },
  ) {}
}

/**
 * Checks a parsed body is an `admission.k8s.io/v1` AdmissionReview and returns its request,
 * or throws a 400 error naming the offending field. Only the fields the webhook relies on are
 * checked; the rest is passed through untouched (the apiserver owns their validity).
 * https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#request
 */
export function decodeReview(body: unknown): AdmissionRequest {
  if (!isObject(body)) throw new errors.NOT_ADMISSION_REVIEW("body is not a JSON object");
  if (body.apiVersion !== ADMISSION_API_VERSION) {
    throw badReviewField("apiVersion", `must be "${ADMISSION_API_VERSION}"`);
  }
  if (body.kind !== ADMISSION_KIND) throw badReviewField("kind", `must be "${ADMISSION_KIND}"`);
  const request = body.request;
  if (!isObject(request)) throw badReviewField("request", "must be an object");
  const uid = request.uid;
  if (typeof uid !== "string" || uid === "" || uid.length > 256) {
    throw badReviewField("request.uid", "must be a non-empty string of at most 256 characters");
  }
  const kind = request.kind;
  if (!isObject(kind) || !isString(kind.kind) || kind.kind === "") {
    throw badReviewField("request.kind", "must be an object with a non-empty kind");
  }
  if (!isString(kind.group) || !isString(kind.version)) {
    throw badReviewField("request.kind", "group and version must be strings");
  }
  const operation = request.operation;
  if (!OPERATIONS.includes(operation as Operation)) {
    throw badReviewField("request.operation", `must be one of ${OPERATIONS.join(", ")}`);
  }
  const resource = request.resource;
  if (resource !== undefined && !isObject(resource)) {
    throw badReviewField("request.resource", "must be an object");
  }
  for (const field of ["namespace", "name", "subResource"] as const) {
    if (request[field] !== undefined && !isString(request[field])) {
      throw badReviewField(`request.${field}`, "must be a string");
    }
  }
  for (const field of ["object", "oldObject"] as const) {
    const value = request[field];
    if (value !== undefined && value !== null && !isObject(value)) {
      throw badReviewField(`request.${field}`, "must be an object or null");
    }
    if (isObject(value) && value.metadata !== undefined && !isObject(value.metadata)) {
      throw badReviewField(`request.${field}.metadata`, "must be an object");
    }
  }
  if (request.dryRun !== undefined && typeof request.dryRun !== "boolean") {
    throw badReviewField("request.dryRun", "must be a boolean");
  }
  return {
    ...(request as object),
    uid,
    kind: { group: kind.group, version: kind.version, kind: kind.kind },
    resource: isObject(resource)
      ? {
          group: String(resource.group ?? ""),
          version: String(resource.version ?? ""),
          resource: String(resource.resource ?? ""),
        }
      : { group: kind.group, version: kind.version, resource: "" },
    operation: operation as Operation,
    object: (request.object ?? null) as KubeObject | null,
    oldObject: (request.oldObject ?? null) as KubeObject | null,
    dryRun: request.dryRun === true,
  } as AdmissionRequest;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isString(value: unknown): value is string {
  return typeof value === "string";
}
