/**
 * Synthetic AdmissionRequests: what the kube-apiserver would send the webhook for
 * `kubectl apply` of an object that does not exist yet (a CREATE, `dryRun: false`, a fresh
 * uid, the namespace defaulted as the apiserver defaults it). The offline commands hand these
 * to the webhook's own decision functions, so there is no second implementation of a rule.
 */
import { randomUUID } from "node:crypto";
import type { AdmissionRequest, GroupVersionKind, KubeObject } from "../core/types.js";
import { findRule, type Rule } from "../policy/rules.js";

/** Which of the webhook's decisions an object gets, if any. */
export type Target =
  /** A kind of the rule table (or a labelled Secret): the validating webhook decides it. */
  | {
      readonly decide: "validate";
      readonly gvk: GroupVersionKind;
      readonly resource: string;
      readonly namespaced: boolean;
    }
  /** A Pod: the mutating webhook decides (injects or denies) it. */
  | { readonly decide: "mutate"; readonly gvk: GroupVersionKind }
  /**
   * Secrets, ConfigMaps, Namespaces, ClusterTrustBundles, trust-manager Bundles: the cluster
   * context decisions read, not decided.
   */
  | { readonly decide: "context" }
  /** Anything else: neither webhook is registered for it. */
  | { readonly decide: "none" };

/** `openchoreo.dev/v1alpha1` → group and version; `v1` → the core group. */
export function groupVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.lastIndexOf("/");
  return slash < 0
    ? { group: "", version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** The kinds the decisions read as cluster context. */
const CONTEXT_KINDS = new Set(["Secret", "ConfigMap", "Namespace"]);
/**
 * Context kinds of other groups: CA sources injection reads, and the Connectors operator's
 * ConnectorsConfig (the feature flags, `check`).
 */
const CONTEXT_GROUP_KINDS = new Set([
  "certificates.k8s.io/ClusterTrustBundle",
  "trust.cert-manager.io/Bundle",
  "trust-manager.io/ClusterBundle",
  "operator.connectors.alauda.io/ConnectorsConfig",
]);

/** Which decision the webhook makes for `object` under `rules`. */
export function targetOf(object: KubeObject, rules: readonly Rule[]): Target {
  const { group, version } = groupVersion(object.apiVersion ?? "");
  const kind = object.kind ?? "";
  const gvk = { group, version, kind };
  const rule = findRule(rules, group, kind, object.metadata?.labels);
  if (rule !== undefined) {
    if (rule.type === "labelledSecret") {
      return { decide: "validate", gvk, resource: "secrets", namespaced: true };
    }
    return {
      decide: "validate",
      gvk,
      resource: rule.kinds[kind] as string,
      namespaced: rule.scope === "Namespaced",
    };
  }
  if (group === "" && kind === "Pod") return { decide: "mutate", gvk };
  if (group === "" && CONTEXT_KINDS.has(kind)) return { decide: "context" };
  if (CONTEXT_GROUP_KINDS.has(`${group}/${kind}`)) return { decide: "context" };
  return { decide: "none" };
}

/**
 * The CREATE request of `object`. For namespaced kinds the namespace is the object's, else
 * `defaultNamespace` (set in the object too, as the apiserver does before admission); for
 * cluster-scoped kinds it is cleared.
 */
export function createRequest(
  object: KubeObject,
  target: { gvk: GroupVersionKind; resource: string; namespaced: boolean },
  defaultNamespace: string,
  username: string,
): AdmissionRequest {
  const metadata = { ...(object.metadata ?? {}) };
  let namespace: string | undefined;
  if (target.namespaced) {
    namespace = metadata.namespace || defaultNamespace;
    metadata.namespace = namespace;
  } else {
    delete metadata.namespace;
  }
  const resource = {
    group: target.gvk.group,
    version: target.gvk.version,
    resource: target.resource,
  };
  return {
    uid: randomUUID(),
    kind: target.gvk,
    resource,
    requestKind: target.gvk,
    requestResource: resource,
    ...(metadata.name ? { name: metadata.name } : {}),
    ...(namespace === undefined ? {} : { namespace }),
    operation: "CREATE",
    userInfo: { username },
    object: { ...object, metadata },
    oldObject: null,
    dryRun: false,
  };
}
