/**
 * The Secret guard: reviews writes of the Secrets that CA references point at, and of the CA
 * ConfigMaps that injection mounts, so that a renewal with a truncated certificate is refused
 * when it is applied instead of breaking a plane's TLS later (docs/architecture.md "The Secret
 * guard"). Pure: who references what comes from the reference index, the rest from the request.
 *
 * - UPDATE of a referenced Secret that makes a referenced key fail the rule that references it
 *   (broken PEM, no certificate, key removed, a private key pasted in): denied, naming the
 *   referencing objects (at most 5, then a count) and the field path of each. A key that was
 *   already failing before the update does not block it (the engine's ratcheting), and keys
 *   the update leaves as they were are not judged at all. Soft findings (expiring, not a CA)
 *   are warnings, as objects get them.
 * - DELETE of a referenced Secret: allowed (a namespace deletion must never hang) with a
 *   warning per object that loses its CA.
 * - The injection CA ConfigMap of an opted-in namespace: the same for its key, and a DELETE
 *   warns that new Pods there will be denied (or start without the CA).
 *
 * No SubjectAccessReview here: whoever writes the Secret may read it, and the answer names
 * only objects that reference it (their kind, name and field path, never their content).
 */
import type { AdmissionRequest, Decision, KubeObject } from "../core/types.js";
import type { ClusterView, ConfigMapObject } from "../core/view.js";
import { INJECT_LABEL, INJECT_LABEL_VALUES } from "../inject/settings.js";
import { bundleBytes } from "../inject/source.js";
import { analyseBundle } from "../pki/bundle.js";
import { type PolicySettings, secretData } from "./engine.js";
import { type FieldError, fieldError, summarize } from "./field-error.js";
import {
  checkReferencedSecret,
  describeReferrer,
  type ReferenceIndexView,
  type Referrer,
  requirementOf,
} from "./references.js";

/** What the guard decides with besides the request, the index and the view. */
export interface GuardSettings {
  readonly policy: Pick<PolicySettings, "expiringWithinDays">;
  /** The injection CA ConfigMap: guarded only while injection reads ConfigMaps. */
  readonly caConfigMap:
    | {
        readonly name: string;
        readonly key: string;
        /** What an opted-in Pod gets while the ConfigMap is missing or broken. */
        readonly onFailure: "deny" | "skip-and-warn";
      }
    | undefined;
}

/**
 * How a guarded write was decided, for the metric: `unreferenced` (nothing reads it: answered
 * from memory), `allowed`, `warned` (allowed with warnings), `denied`.
 */
export type GuardVerdict = "unreferenced" | "allowed" | "warned" | "denied";

export interface GuardOutcome {
  readonly decision: Decision;
  readonly verdict: GuardVerdict;
}

/** Referencing objects named in one answer; the rest are counted. */
export const MAX_NAMED_REFERRERS = 5;

const UNREFERENCED: GuardOutcome = Object.freeze({
  decision: Object.freeze({ kind: "allow", warnings: Object.freeze([]) }) as Decision,
  verdict: "unreferenced",
});

/** Decides a Secret or ConfigMap UPDATE/DELETE sent to the guard's webhooks. */
export function decideGuard(
  request: AdmissionRequest,
  settings: GuardSettings,
  index: ReferenceIndexView,
  view: Pick<ClusterView, "featureFlag" | "namespaceLabels">,
  now: Date,
): GuardOutcome {
  if (request.kind.group !== "" || request.subResource) return UNREFERENCED;
  if (request.operation !== "UPDATE" && request.operation !== "DELETE") return UNREFERENCED;
  // The object being written: the stored one for a DELETE (`object` is null then).
  const current = request.operation === "DELETE" ? request.oldObject : request.object;
  const namespace = request.namespace || current?.metadata?.namespace || "";
  const name = request.name || current?.metadata?.name || "";
  if (request.kind.kind === "Secret") {
    const referrers = index.referrers(namespace, name);
    if (referrers.length === 0) return UNREFERENCED;
    // A reference whose feature gate is off is ignored by its controller (and by the engine).
    const active = referrers.filter(
      (r) => r.reference.featureGate === undefined || view.featureFlag(r.reference.featureGate),
    );
    if (active.length === 0) return UNREFERENCED;
    if (request.operation === "DELETE") return secretDeleted(namespace, name, active);
    return secretUpdated(request, namespace, name, active, settings, now);
  }
  if (request.kind.kind === "ConfigMap") {
    const guarded = settings.caConfigMap;
    if (guarded === undefined || name !== guarded.name) return UNREFERENCED;
    const labels = view.namespaceLabels(namespace);
    if (labels?.[INJECT_LABEL] !== INJECT_LABEL_VALUES.namespaceEnabled) return UNREFERENCED;
    return request.operation === "DELETE"
      ? outcome({ kind: "allow", warnings: [configMapLoss(namespace, name, guarded, "deleted")] })
      : configMapUpdated(request, namespace, guarded, settings, now);
  }
  return UNREFERENCED;
}

function secretDeleted(namespace: string, name: string, referrers: readonly Referrer[]) {
  const warnings = named(referrers).map((r) => `${describeReferrer(r, namespace)} loses its CA`);
  const rest = referrers.length - MAX_NAMED_REFERRERS;
  if (rest > 0) warnings.push(`${rest} more objects lose their CA with Secret ${name}`);
  return outcome({ kind: "allow", warnings });
}

/**
 * The references grouped by what they read (a key, or the eligible keys): each group is judged
 * once, on the keys it reads, and only when the update changes them.
 */
function secretUpdated(
  request: AdmissionRequest,
  namespace: string,
  name: string,
  referrers: readonly Referrer[],
  settings: GuardSettings,
  now: Date,
): GuardOutcome {
  const object = request.object;
  // Removing a finalizer from a Secret being deleted must always go through.
  if (!object || object.metadata?.deletionTimestamp)
    return outcome({ kind: "allow", warnings: [] });
  const after = secretData(object);
  const before = request.oldObject ? secretData(request.oldObject) : {};
  // The Secret's type decides whether a `tls.key` holding only a key is read (eligible mode).
  const type = typeof object.type === "string" ? object.type : undefined;
  const groups = new Map<string, Referrer[]>();
  for (const r of referrers) {
    const requirement = requirementOf(r.reference);
    const group = groups.get(requirement);
    if (group === undefined) groups.set(requirement, [r]);
    else group.push(r);
  }
  const errors: FieldError[] = [];
  const broken: Referrer[] = [];
  const warnings: string[] = [];
  for (const group of groups.values()) {
    const reference = (group[0] as Referrer).reference;
    if (!readsChanged(reference.key, before, after)) continue;
    const found = checkReferencedSecret(
      { namespace, name, data: after, ...(type === undefined ? {} : { type }) },
      reference,
      settings.policy,
      now,
    );
    warnings.push(...found.warnings);
    if (found.errors.length === 0) continue;
    const earlier = checkReferencedSecret(
      { namespace, name, data: before, ...(type === undefined ? {} : { type }) },
      reference,
      settings.policy,
      now,
    );
    if (earlier.errors.length > 0) {
      // Already failing before this update: not blocked by a problem it did not introduce.
      warnings.push(...found.errors.map((e) => `${e.text} (already failing before this update)`));
      continue;
    }
    for (const e of found.errors) if (!errors.some((x) => x.text === e.text)) errors.push(e);
    broken.push(...group);
  }
  if (errors.length === 0) return outcome({ kind: "allow", warnings });
  const { code, reason, message } = summarize(`Secret "${name}"`, errors);
  const shown = named(broken).map((r) => describeReferrer(r, namespace));
  const rest = broken.length - shown.length;
  return outcome({
    kind: "deny",
    code,
    reason,
    message: `${message}; it is the CA of ${shown.join(", ")}${rest > 0 ? ` and ${rest} more` : ""}`,
    warnings,
  });
}

/**
 * Whether an update changes what a reference reads: its key, or (eligible mode, `key`
 * undefined) any key, since any value may hold a PEM header.
 */
function readsChanged(
  key: string | undefined,
  before: Record<string, string>,
  after: Record<string, string>,
): boolean {
  if (key !== undefined) return before[key] !== after[key];
  const keys = Object.keys(after);
  if (keys.length !== Object.keys(before).length) return true;
  return keys.some((k) => before[k] !== after[k]);
}

function configMapUpdated(
  request: AdmissionRequest,
  namespace: string,
  guarded: NonNullable<GuardSettings["caConfigMap"]>,
  settings: GuardSettings,
  now: Date,
): GuardOutcome {
  const object = request.object;
  if (!object || object.metadata?.deletionTimestamp)
    return outcome({ kind: "allow", warnings: [] });
  const after = bundleBytes(configMapOf(object, namespace, guarded.name), guarded.key);
  const before = request.oldObject
    ? bundleBytes(configMapOf(request.oldObject, namespace, guarded.name), guarded.key)
    : undefined;
  if (after !== undefined && before !== undefined && after.equals(before)) {
    return outcome({ kind: "allow", warnings: [] });
  }
  const options = { now, expiringWithinDays: settings.policy.expiringWithinDays };
  const where = `ConfigMap ${namespace}/${guarded.name} key "${guarded.key}"`;
  const field = `data[${guarded.key}]`;
  let error: FieldError | undefined;
  const warnings: string[] = [];
  if (after === undefined) {
    error = fieldError("Required", field, undefined, `the CA bundle key "${guarded.key}" is gone`);
  } else {
    const analysis = analyseBundle(after, options);
    const hard = analysis.findings.filter((f) => f.severity === "error");
    if (hard.length > 0) {
      error = fieldError(
        "Invalid",
        field,
        undefined,
        `not a valid CA bundle: ${hard.map((f) => f.message).join("; ")}`,
      );
    }
    for (const f of analysis.findings) {
      if (f.severity === "warning") warnings.push(`${where}: ${f.message}`);
    }
  }
  if (error === undefined) return outcome({ kind: "allow", warnings });
  const wasValid = before !== undefined && analyseBundle(before, options).ok;
  if (!wasValid) {
    return outcome({
      kind: "allow",
      warnings: [...warnings, `${error.text} (already failing before this update)`],
    });
  }
  const { code, reason, message } = summarize(`ConfigMap "${guarded.name}"`, [error]);
  return outcome({
    kind: "deny",
    code,
    reason,
    message: `${message}; ${configMapLoss(namespace, guarded.name, guarded, "broken")}`,
    warnings,
  });
}

/** What happens to new opted-in Pods of the namespace without the CA ConfigMap. */
function configMapLoss(
  namespace: string,
  name: string,
  guarded: NonNullable<GuardSettings["caConfigMap"]>,
  how: "deleted" | "broken",
): string {
  const fate =
    guarded.onFailure === "deny" ? "would be denied" : "would start without the private CA";
  return how === "deleted"
    ? `new opted-in Pods in "${namespace}" ${fate} until ConfigMap ${name} exists again`
    : `it is the injected CA of namespace "${namespace}": new Pods there that opt in to CA injection ${fate}`;
}

function configMapOf(object: KubeObject, namespace: string, name: string): ConfigMapObject {
  const strings = (value: unknown): Record<string, string> => {
    const out: Record<string, string> = {};
    if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v === "string") out[k] = v;
      }
    }
    return out;
  };
  return { namespace, name, data: strings(object.data), binaryData: strings(object.binaryData) };
}

function named(referrers: readonly Referrer[]): readonly Referrer[] {
  return referrers.slice(0, MAX_NAMED_REFERRERS);
}

function outcome(decision: Decision): GuardOutcome {
  const verdict: GuardVerdict =
    decision.kind === "deny" ? "denied" : decision.warnings.length > 0 ? "warned" : "allowed";
  return { decision, verdict };
}
