/**
 * Evaluates a Pod (or a Pod template: anything with `metadata` and `spec`) against a level at
 * a version, as the kube-apiserver's PodSecurity admission does, and words the result as it
 * does: `violates PodSecurity "restricted:latest": <reason> (<detail>), ...`.
 */
import { podView } from "./pod.js";
import { checksFor } from "./registry.js";
import type { PodSecurityPolicy, PodSecurityResult, PodSecurityViolation } from "./types.js";
import { effectiveMinor } from "./version.js";

/** A Pod or a Pod template, as plain JSON; anything else counts as a Pod without containers. */
export interface PodLike {
  readonly metadata?: unknown;
  readonly spec?: unknown;
}

export function evaluate(pod: PodLike, policy: PodSecurityPolicy): PodSecurityResult {
  const view = podView(pod.metadata, pod.spec);
  const violations: PodSecurityViolation[] = [];
  for (const check of checksFor(policy.level, effectiveMinor(policy.version))) {
    const failed = check.run(view);
    if (failed !== undefined) violations.push({ check: check.id, ...failed });
  }
  return {
    level: policy.level,
    version: policy.version,
    allowed: violations.length === 0,
    violations,
  };
}

/** The apiserver's wording: `violates PodSecurity "restricted:v1.33": reason (detail), ...`. */
export function forbiddenMessage(result: PodSecurityResult): string {
  const parts = result.violations.map((v) =>
    v.detail === "" ? v.reason : `${v.reason} (${v.detail})`,
  );
  return `violates PodSecurity "${result.level}:${result.version}": ${parts.join(", ")}`;
}

/**
 * The violations of `after` that `before` did not have: a check that did not fail before, or
 * that now names something (a container, the pod, a volume) it did not name before.
 */
export function newViolations(
  before: PodSecurityResult,
  after: PodSecurityResult,
): PodSecurityViolation[] {
  return after.violations.filter((v) => {
    const old = before.violations.find((b) => b.check === v.check);
    if (old === undefined) return true;
    return v.subjects.some((s) => !old.subjects.includes(s));
  });
}
