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

/**
 * The largest JSON patch the webhook sends. A patch grows with the containers (their mounts
 * and env: about 430 bytes each); a Pod of 12,000 containers would get a 5.2 MiB patch that
 * the apiserver must decode, apply and store, from a request a tenant can make. 512 KiB is
 * about 1,200 containers. Over it, the Pod is denied with the size, or admitted uninjected
 * with a warning under `--inject-on-failure skip-and-warn`.
 */
export const MAX_PATCH_BYTES = 512 * 1024;
/**
 * No injected container adds less than this to the patch (its smallest share is one `add` of
 * an env entry or a mount): with more containers than MAX_PATCH_BYTES / this, the patch is not
 * even planned.
 */
const MIN_PATCH_BYTES_PER_CONTAINER = 100;
/** Patches with at most this many operations are far below the limit; larger ones are measured. */
const MEASURE_PATCH_FROM_OPERATIONS = 64;

/** Pods created by the kubelet from static manifests; the apiserver stores them as-is. */
const MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror";

/**
 * Decides a Pod CREATE: checks opt-in against the namespace labels (the webhook's selectors
 * are not trusted alone, so a broad registration cannot inject everywhere), resolves the CA
 * (the ConfigMap, or ClusterTrustBundles: source.ts) through the view, validates its PEM with
 * the same analysis as validation, and returns the add-only patch of `planPodPatch`, or a
 * denial that names what is missing (docs/architecture.md "Injection").
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

  const spec = (pod.spec ?? {}) as { containers?: unknown; initContainers?: unknown };
  const containers = listLength(spec.containers) + listLength(spec.initContainers);
  if (containers * MIN_PATCH_BYTES_PER_CONTAINER > MAX_PATCH_BYTES) {
    return fail(
      policy,
      422,
      "Invalid",
      patchTooLarge(`at least ${kib(containers * MIN_PATCH_BYTES_PER_CONTAINER)}`, containers),
    );
  }
  const sha256 = resolved.ref.sha256;
  const plan = planPodPatch(pod, policy.settings, resolved.ref);
  if (plan.conflict !== undefined) return fail(policy, 422, "Invalid", plan.conflict);
  if (plan.operations.length > MEASURE_PATCH_FROM_OPERATIONS) {
    const size = Buffer.byteLength(JSON.stringify(plan.operations));
    if (size > MAX_PATCH_BYTES)
      return fail(policy, 422, "Invalid", patchTooLarge(kib(size), containers));
  }
  return {
    kind: "patch",
    operations: plan.operations,
    warnings: [...plan.warnings, ...resolved.warnings],
    summary: `${plan.operations.length} operations, ${resolved.label} sha256:${sha256.slice(0, 12)}`,
  };
}

/** The bundle's bytes and hash: moved to source.ts, exported here for existing callers. */
export { bundleBytes, bundleDigest } from "./source.js";

function listLength(value: unknown): number {
  return Array.isArray(value) ? value.length : 0;
}

function kib(bytes: number): string {
  return `${Math.ceil(bytes / 1024).toLocaleString("en-US")} KiB`;
}

function patchTooLarge(size: string, containers: number): string {
  return `the CA injection patch for this Pod (${containers.toLocaleString("en-US")} containers) would be ${size}; the webhook sends at most ${kib(MAX_PATCH_BYTES)}`;
}

function allow(warnings: string[] = []): Decision {
  return { kind: "allow", warnings };
}

/** A denial, or in skip-and-warn mode the Pod admitted unchanged with the reason as a warning. */
function fail(policy: InjectionPolicy, code: number, reason: string, message: string): Decision {
  const text = `ca-trust-webhook: ${message}`;
  if (policy.onFailure === "skip-and-warn") return allow([`CA not injected: ${message}`]);
  return { kind: "deny", code, reason, message: text, warnings: [] };
}
