/**
 * The Pod Security Standards (https://kubernetes.io/docs/concepts/security/pod-security-standards/),
 * `baseline` and `restricted`, at every policy version from v1.0 to the newest one known here,
 * as the kube-apiserver's PodSecurity admission evaluates them (k8s.io/pod-security-admission,
 * package `policy`: one check per `check_*.go`, same IDs, versions, order, reasons and
 * details). Tested against that module's generated fixture corpus (see docs/podsecurity.md).
 *
 * Pure: plain JSON in (a Pod's or Pod template's metadata and spec), results out.
 */
export { evaluate, forbiddenMessage, newViolations, type PodLike } from "./evaluate.js";
export { CHECKS, checksFor, NEWEST_MINOR } from "./registry.js";
export type {
  CheckDef,
  CheckId,
  PodSecurityLevel,
  PodSecurityPolicy,
  PodSecurityResult,
  PodSecurityVersion,
  PodSecurityViolation,
} from "./types.js";
export { effectiveMinor, NEWEST_VERSION, parsePodSecurityVersion } from "./version.js";
