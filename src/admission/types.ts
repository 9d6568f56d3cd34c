import type { AdmissionRequest } from "../core/types.js";

/**
 * AdmissionReview v1 wire types: the envelope around the request (whose domain types are in
 * core/types.ts). Field names are the JSON tags of k8s.io/api/admission/v1
 * (https://github.com/kubernetes/api/blob/master/admission/v1/types.go), so an object of these
 * types serialises to exactly what the kube-apiserver sends and expects.
 */

export const ADMISSION_API_VERSION = "admission.k8s.io/v1";
export const ADMISSION_KIND = "AdmissionReview";

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
