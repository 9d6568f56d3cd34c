/**
 * The domain types shared by the pure core (`policy/`, `inject/`), the HTTP layer
 * (`admission/`), the cluster adapters (`kube/`) and the offline commands (`cli/`). A leaf
 * module: it imports nothing. Field names follow the JSON tags of k8s.io/api/admission/v1
 * (https://github.com/kubernetes/api/blob/master/admission/v1/types.go).
 */

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

/** What a webhook decides with besides the request: when the apiserver stops waiting. */
export interface DecideContext {
  /** Epoch milliseconds by which the answer must be sent (from `?timeout=`), if known. */
  readonly deadline: number | undefined;
}

/** A decision function of the pure core, bound to its settings and view (`decisions.ts`). */
export type Decide = (request: AdmissionRequest, context: DecideContext) => Promise<Decision>;
