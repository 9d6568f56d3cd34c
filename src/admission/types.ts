/**
 * AdmissionReview v1 wire types. Field names are the JSON tags of k8s.io/api/admission/v1
 * (https://github.com/kubernetes/api/blob/master/admission/v1/types.go), so an object of these
 * types serialises to exactly what the kube-apiserver sends and expects.
 */

export const ADMISSION_API_VERSION = "admission.k8s.io/v1";
export const ADMISSION_KIND = "AdmissionReview";

/** The operations an AdmissionRequest can carry. */
export const OPERATIONS = ["CREATE", "UPDATE", "DELETE", "CONNECT"] as const;
export type Operation = (typeof OPERATIONS)[number];

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

/** A Kubernetes object as it arrives: only metadata is assumed, the rest is read by JSON pointer. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [field: string]: unknown;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  uid?: string;
  [field: string]: unknown;
}

export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** `request` of an AdmissionReview, after `decodeReview` has checked the fields we rely on. */
export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  requestKind?: GroupVersionKind;
  requestResource?: GroupVersionResource;
  requestSubResource?: string;
  name?: string;
  namespace?: string;
  operation: Operation;
  userInfo?: UserInfo;
  object?: KubeObject | null;
  oldObject?: KubeObject | null;
  dryRun?: boolean;
  options?: unknown;
}

/** metav1.Status, the `status` of a response (the apiserver shows `message` to the user). */
export interface Status {
  code: number;
  reason?: string;
  message: string;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: Status;
  /** base64 of a JSON array of RFC 6902 operations; always together with `patchType`. */
  patch?: string;
  patchType?: "JSONPatch";
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export interface AdmissionReview<T = AdmissionRequest | AdmissionResponse> {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: typeof ADMISSION_KIND;
  request?: T extends AdmissionRequest ? AdmissionRequest : never;
  response?: T extends AdmissionResponse ? AdmissionResponse : never;
}

/** RFC 6902 operations we ever emit: our patches are add-only by design. */
export interface AddOperation {
  op: "add";
  path: string;
  value: unknown;
}

/**
 * What a decision function returns; `admission/response.ts` turns it into the wire envelope.
 * `deny.code` is the HTTP-like status placed in `response.status.code` (4xx for policy
 * rejections), `reason` a CamelCase metav1.StatusReason such as "Invalid" or "Forbidden".
 */
export type Decision =
  | { readonly kind: "allow"; readonly warnings: readonly string[] }
  | {
      readonly kind: "deny";
      readonly code: number;
      readonly reason: string;
      readonly message: string;
      readonly warnings: readonly string[];
    }
  | {
      readonly kind: "patch";
      readonly operations: readonly AddOperation[];
      readonly warnings: readonly string[];
      /** Optional, for logs and metrics only (never the patch itself). */
      readonly summary?: string;
    };
