/**
 * Which Secrets an object's CA references point at, as names and keys only: what the Secret
 * guard's index keeps (kube/references.ts) and `scan` groups by. The references are resolved
 * by the validation engine's own `resolveReference` and `placeSecret`, with the same rule table
 * and settings, so the index and the verdicts on the objects never disagree: a reference the
 * engine would deny (an untrusted cross-namespace one, a missing name or key field) points at
 * nothing here.
 */
import type { GroupVersionKind, KubeObject } from "../core/types.js";
import type { SecretObject } from "../core/view.js";
import { type PolicySettings, placeSecret, resolveReference } from "./engine.js";
import { type FieldError, fieldError } from "./field-error.js";
import { findRule } from "./rules.js";
import { checkSecretAgainstReference, type SecretKeys } from "./secret-check.js";

/** One CA reference of an object to a Secret: where it sits and what of the Secret it reads. */
export interface SecretReference {
  /** The Secret, after the engine's namespace rules. */
  readonly namespace: string;
  readonly name: string;
  /** The key(s) of the Secret the reference reads, resolved as the engine resolves them. */
  readonly keys: SecretKeys;
  /** The one key read (`keys.mode` "key"); undefined: several (eligible, CA with its key). */
  readonly key: string | undefined;
  /** The field path of the reference in the object, e.g. `spec.caCertSecretRef`. */
  readonly path: string;
  /** The rule's feature gate: while it is off, the controller ignores the reference. */
  readonly featureGate: string | undefined;
}

/** An object that references a Secret, and the reference. */
export interface Referrer {
  readonly group: string;
  readonly kind: string;
  /** Empty for a cluster-scoped object. */
  readonly namespace: string;
  readonly name: string;
  readonly reference: SecretReference;
}

/** Who references a Secret: what the Secret guard decides with (kube/reference-index.ts). */
export interface ReferenceIndexView {
  /** The references to Secret `namespace/name`, in a stable order; empty when there are none. */
  referrers(namespace: string, name: string): readonly Referrer[];
}

/** An index that knows no reference (no cluster, or the guard's tests of other paths). */
export const NO_REFERENCES: ReferenceIndexView = Object.freeze({ referrers: () => [] });

/**
 * The Secret references of `object` (of kind `gvk`) under the rule that governs its kind (the
 * first matching one, as the engine picks it). Inline values, unset optional references and
 * references the engine would deny are not references to a Secret.
 */
export function referencesOf(
  object: KubeObject,
  gvk: GroupVersionKind,
  settings: PolicySettings,
): SecretReference[] {
  const rule = findRule(settings.rules, gvk.group, gvk.kind, undefined);
  if (rule === undefined || rule.type !== "reference") return [];
  const objectNamespace = object.metadata?.namespace ?? "";
  const out: SecretReference[] = [];
  for (const spec of rule.references) {
    const resolution = resolveReference(spec, object);
    if (resolution.state !== "secret") continue;
    const ref = resolution.reference;
    const placed = placeSecret(rule, ref, gvk.kind, objectNamespace, settings);
    if ("error" in placed) continue;
    out.push({
      namespace: placed.namespace,
      name: ref.name,
      keys: ref.keys,
      key: ref.keys.mode === "key" ? ref.keys.key : undefined,
      path: ref.path,
      featureGate: rule.featureGate,
    });
  }
  return out;
}

/** What a Secret's data means for the references that read it. */
export interface SecretFindings {
  /** Field errors against the Secret's own fields (`data[ca.crt]: Invalid value: ...`). */
  readonly errors: FieldError[];
  readonly warnings: string[];
}

/**
 * Whether the Secret's data satisfies the key rule of a reference (the named key exists and
 * holds a valid CA bundle; in eligible mode every eligible key parses and together they hold a
 * certificate), with the engine's own check and findings. Paths name the Secret's fields, as
 * the apiserver writes map entries: `data[ca.crt]`.
 */
export function checkReferencedSecret(
  secret: SecretObject,
  reference: Pick<SecretReference, "keys">,
  settings: Pick<PolicySettings, "expiringWithinDays">,
  now: Date,
): SecretFindings {
  const check = checkSecretAgainstReference(secret, reference.keys, {
    now,
    expiringWithinDays: settings.expiringWithinDays,
  });
  const errors = check.errors.map((problem) =>
    problem.key === undefined
      ? fieldError("Invalid", "data", secret.name, problem.detail)
      : problem.type === "missing"
        ? fieldError("NotFound", "data", problem.key, problem.detail)
        : fieldError("Invalid", `data[${problem.key}]`, secret.name, problem.detail),
  );
  return { errors, warnings: [...check.warnings] };
}

/** What a reference reads of a Secret, as a key: references that read the same are judged once. */
export function requirementOf(reference: Pick<SecretReference, "keys">): string {
  const keys = reference.keys;
  switch (keys.mode) {
    case "key":
      return `key ${keys.key}`;
    case "caWithKey":
      return `ca ${keys.certificate} with ${keys.privateKey}`;
    default:
      return "eligible";
  }
}

/**
 * `DataPlane dp1 (spec.clusterAgent.clientCA.secretKeyRef)`: the referring object as a person
 * finds it, its namespace shown only when it is not the Secret's.
 */
export function describeReferrer(referrer: Referrer, secretNamespace: string): string {
  const where =
    referrer.namespace === "" || referrer.namespace === secretNamespace
      ? referrer.name
      : `${referrer.namespace}/${referrer.name}`;
  return `${referrer.kind} ${where} (${referrer.reference.path})`;
}
