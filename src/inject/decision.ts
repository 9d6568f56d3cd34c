import type { AdmissionRequest, Decision } from "../core/types.js";
import type { ClusterView } from "../core/view.js";
import { planPodPatch, podOptIn } from "./pod.js";
import type { InjectionSettings } from "./settings.js";
import { resolveCaBundle } from "./source.js";

/** How injection behaves when it cannot be done completely. */
export interface InjectionPolicy {
  readonly settings: InjectionSettings;
  /**
   * A missing or invalid CA ConfigMap, or a Pod that conflicts with our names: deny (default;
   * the Pod would otherwise hang in ContainerCreating or run without its CA) or allow the Pod
   * unchanged with a warning.
   */
  readonly onFailure: "deny" | "skip-and-warn";
  readonly expiringWithinDays: number;
}

/** Pods created by the kubelet from static manifests; the apiserver stores them as-is. */
const MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror";

/**
 * Decides a Pod CREATE: checks opt-in against the namespace labels (the webhook's selectors
 * are not trusted alone, so a broad registration cannot inject everywhere), resolves the CA
 * (the ConfigMap, or ClusterTrustBundles: source.ts) through the view, validates its PEM with
 * the same analysis as validation, and returns the add-only patch of `planPodPatch`, or a
 * denial that names what is missing.
 * shared/DESIGN.md "Injection".
 */
export async function decideInjection(
  request: AdmissionRequest,
  policy: InjectionPolicy,
  view: ClusterView,
  now: Date,
): Promise<Decision> {
  const pod = request.object;
  if (
    request.operation !== "CREATE" ||
    request.kind.group !== "" ||
    request.kind.kind !== "Pod" ||
    request.subResource ||
    !pod
  ) {
    return allow();
  }
  const annotations = pod.metadata?.annotations ?? {};
  if (annotations[MIRROR_POD_ANNOTATION] !== undefined) return allow();
  const namespace = request.namespace ?? pod.metadata?.namespace ?? "";
  const namespaceLabels = view.namespaceLabels(namespace);
  const optIn = podOptIn(pod.metadata?.labels, namespaceLabels);
  if (optIn !== "inject") {
    return allow(
      namespaceLabels === undefined && optIn === "not-opted-in"
        ? [`namespace "${namespace}" is not in the webhook's cache yet; CA not injected`]
        : [],
    );
  }

  const resolved = await resolveCaBundle(pod, namespace, policy, view, now);
  if (!resolved.ok) return fail(policy, resolved.code, resolved.reason, resolved.message);
  const sha256 = resolved.ref.sha256;
  const plan = planPodPatch(pod, policy.settings, resolved.ref);
  if (plan.conflict !== undefined) return fail(policy, 422, "Invalid", plan.conflict);
  return {
    kind: "patch",
    operations: plan.operations,
    warnings: [...plan.warnings, ...resolved.warnings],
    summary: `${plan.operations.length} operations, ${resolved.label} sha256:${sha256.slice(0, 12)}`,
  };
}

/** The bundle's bytes and hash: moved to source.ts, exported here for existing callers. */
export { bundleBytes, bundleDigest } from "./source.js";

function allow(warnings: string[] = []): Decision {
  return { kind: "allow", warnings };
}

/** A denial, or in skip-and-warn mode the Pod admitted unchanged with the reason as a warning. */
function fail(policy: InjectionPolicy, code: number, reason: string, message: string): Decision {
  const text = `ca-trust-webhook: ${message}`;
  if (policy.onFailure === "skip-and-warn") return allow([`CA not injected: ${message}`]);
  return { kind: "deny", code, reason, message: text, warnings: [] };
}
