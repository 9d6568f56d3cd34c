import type { AdmissionRequest, Decision, KubeObject } from "../core/types.js";
import type { ClusterView, SecretObject } from "../core/view.js";
import { analyseBundle, type BundleAnalysis } from "../pki/bundle.js";
import { type FieldError, type FieldErrorType, fieldError, summarize } from "./field-error.js";
import {
  findRule,
  type LabelledSecretRule,
  type ReferenceRule,
  type ReferenceSpec,
  type Rule,
} from "./rules.js";
import { checkSecretAgainstReference, type SecretKeys } from "./secret-check.js";

/** `--trusted-secret-namespaces` entry: a namespace trusted for one rule, or every rule. */
export interface TrustedNamespace {
  readonly namespace: string;
  /** The rule's name; undefined: every rule. */
  readonly rule: string | undefined;
}

/** What the validation engine decides with, besides the request and the cluster view. */
export interface PolicySettings {
  readonly rules: readonly Rule[];
  /** Namespace of the Connectors system (global CA Secrets and the flag ConfigMap live there). */
  readonly systemNamespace: string;
  /** A referenced Secret that does not exist (yet): warn (default) or deny. */
  readonly missingSecret: "warn" | "deny";
  /** Cluster-scoped objects may reference Secrets only in these namespaces (empty: any). */
  readonly allowedSecretNamespaces: readonly string[];
  /**
   * Namespaces whose Secrets may be referenced from any namespace (and from cluster-scoped
   * objects whatever `allowedSecretNamespaces` says), for every rule or one rule.
   */
  readonly trustedSecretNamespaces: readonly TrustedNamespace[];
  /** A lookup the API could not answer: deny (default, fail closed) or allow with a warning. */
  readonly unverifiable: "deny" | "warn";
  /**
   * Read a referenced Secret only if the requesting user may `get` it themself (asked through
   * `ClusterView.mayGet`); otherwise deny without reading it. Off, anyone who may create the
   * object learns through the answers what the Secret holds.
   */
  readonly authorizeReferences: boolean;
  /**
   * The namespaces our ServiceAccount may read Secrets in (namespace-scoped RBAC); empty: any.
   * A reference elsewhere is denied naming the option instead of failing on a 403.
   */
  readonly secretNamespaces: readonly string[];
  /** CERT_EXPIRES_SOON window in days. */
  readonly expiringWithinDays: number;
}

/**
 * Decides a validating review: finds the rule for the request's kind, extracts each CA
 * reference, applies the namespace rules, resolves Secrets through the view, analyses the PEM
 * and returns allow (with warnings) or deny (with Kubernetes field errors), as
 * docs/architecture.md "Decisions" describes.
 */
export async function decideValidation(
  request: AdmissionRequest,
  settings: PolicySettings,
  view: ClusterView,
  now: Date,
): Promise<Decision> {
  // DELETE and CONNECT, subresources (status, scale) and objects being deleted are never
  // blocked: refusing a finalizer removal would leave the object stuck forever.
  if (request.operation !== "CREATE" && request.operation !== "UPDATE") return allowed();
  if (request.subResource) return allowed();
  const object = request.object;
  if (!object || typeof object !== "object") return allowed();
  if (request.operation === "UPDATE" && object.metadata?.deletionTimestamp) return allowed();

  const rule = findRule(
    settings.rules,
    request.kind.group,
    request.kind.kind,
    object.metadata?.labels,
  );
  if (rule === undefined) return allowed();
  const context: Context = { request, object, settings, view, now };
  const outcome =
    rule.type === "reference"
      ? await checkReferences(rule, context)
      : checkLabelledSecret(rule, context);

  if (outcome.errors.length === 0) return allowed(outcome.warnings);
  // Ratcheting: an UPDATE that leaves the CA reference as it was is not blocked by a problem
  // it did not introduce (the Secret may have gone bad since), but the problem is reported.
  if (
    request.operation === "UPDATE" &&
    rule.type === "reference" &&
    sameReferences(rule, object, request.oldObject)
  ) {
    // The reason first: a warning may be cut at 120 characters.
    return allowed([
      ...outcome.errors.map((e) =>
        e.summary === undefined
          ? `${e.text} (unchanged by this update)`
          : `${e.field}: unchanged by this update, but ${e.summary}`,
      ),
      ...outcome.warnings,
    ]);
  }
  return denied(outcome.errors, outcome.warnings, describe(request, object));
}

interface Context {
  request: AdmissionRequest;
  object: KubeObject;
  settings: PolicySettings;
  view: ClusterView;
  now: Date;
}

interface Outcome {
  errors: FieldError[];
  warnings: string[];
}

async function checkReferences(rule: ReferenceRule, ctx: Context): Promise<Outcome> {
  const outcome: Outcome = { errors: [], warnings: [] };
  const kind = ctx.request.kind.kind;
  if (rule.featureGate !== undefined && !ctx.view.featureFlag(rule.featureGate)) {
    const set = rule.references.some((spec) =>
      spec.refs.some((ref) => isSet(read(ctx.object, ref))),
    );
    if (set) {
      outcome.warnings.push(
        `${kind} CA reference is ignored: feature flag ${rule.featureGate} is off in ${ctx.settings.systemNamespace}`,
      );
    }
    return outcome;
  }
  const results = await Promise.all(rule.references.map((spec) => checkReference(rule, spec, ctx)));
  for (const r of results) {
    outcome.errors.push(...r.errors);
    outcome.warnings.push(...r.warnings);
  }
  return outcome;
}

/**
 * One CA reference of an object, read from it by a rule's reference spec: nothing set, an
 * inline PEM value, a Secret reference, or a mistake in how it is written (a field error).
 */
export type ReferenceResolution =
  | { readonly state: "unset" }
  | { readonly state: "inline"; readonly path: string; readonly value: unknown }
  | { readonly state: "invalid"; readonly error: FieldError }
  | { readonly state: "secret"; readonly reference: SecretReference };

/** A Secret reference as written in an object, with the key(s) the rule reads. */
export interface SecretReference {
  /** Where the reference object sits, e.g. `spec.clusterAgent.clientCA.secretKeyRef`. */
  readonly path: string;
  readonly name: string;
  readonly namePath: string;
  /** The namespace as written ("" or undefined: not set); its path when the API has the field. */
  readonly namespace: string | undefined;
  readonly namespacePath: string | undefined;
  /** The key(s) of the Secret the rule reads. */
  readonly keys: SecretKeys;
  /** The object's field that named the key, and the key, when the object named it. */
  readonly keyField: { readonly path: string; readonly key: string } | undefined;
}

/**
 * Reads one CA reference of `object` as `spec` describes it. A reference object with nothing
 * set (`{}`, or `{name: ""}` as CRD defaults write it) is not set. Pure; the namespace rules
 * and the Secret itself are the caller's.
 */
export function resolveReference(spec: ReferenceSpec, object: KubeObject): ReferenceResolution {
  const setRefs = spec.refs.filter((ref) => isSet(read(object, ref)));
  const inlineValue = spec.inline === undefined ? undefined : read(object, spec.inline);
  const inlineSet = inlineValue !== undefined && inlineValue !== null && inlineValue !== "";
  const parent = commonParent([...spec.refs, ...(spec.inline ? [spec.inline] : [])]);
  const choices = [...(spec.inline ? [last(spec.inline)] : []), ...spec.refs.map(last)].join(
    " or ",
  );
  if (setRefs.length + (inlineSet ? 1 : 0) > 1) {
    return invalid("Invalid", parent, undefined, `exactly one of ${choices} may be set`);
  }
  if (inlineSet && spec.inline !== undefined) {
    return { state: "inline", path: spec.inline, value: inlineValue };
  }
  const refPath = setRefs[0];
  if (refPath === undefined) {
    return spec.required
      ? invalid("Required", parent, undefined, `one of ${choices} must be set`)
      : { state: "unset" };
  }
  const ref = read(object, refPath);
  if (typeof ref !== "object" || ref === null || Array.isArray(ref)) {
    return invalid("Invalid", refPath, undefined, "must be an object");
  }
  const refObject = ref as Record<string, unknown>;
  const namePath = `${refPath}.${spec.nameField}`;
  const name = refObject[spec.nameField];
  if (typeof name !== "string" || name === "") {
    return invalid("Required", namePath, undefined, "the CA Secret's name must be set");
  }
  const namespacePath =
    spec.namespaceField === undefined ? undefined : `${refPath}.${spec.namespaceField}`;
  const rawNamespace =
    spec.namespaceField === undefined ? undefined : refObject[spec.namespaceField];
  if (rawNamespace !== undefined && rawNamespace !== null && typeof rawNamespace !== "string") {
    return invalid("Invalid", namespacePath ?? namePath, undefined, "must be a string");
  }
  let keys: SecretKeys;
  let keyField: SecretReference["keyField"];
  const selection = spec.keys;
  if (selection.mode === "field") {
    const path = `${refPath}.${selection.field}`;
    const key = refObject[selection.field];
    if (typeof key === "string" && key !== "") {
      keys = { mode: "key", key };
      keyField = { path, key };
    } else if ((key === undefined || key === null || key === "") && selection.default) {
      keys = { mode: "key", key: selection.default };
    } else {
      return invalid("Required", path, undefined, "the Secret key holding the CA must be set");
    }
  } else if (selection.mode === "fixed") {
    keys = { mode: "key", key: selection.key };
  } else if (selection.mode === "caWithKey") {
    keys = {
      mode: "caWithKey",
      certificate: selection.certificate,
      privateKey: selection.privateKey,
    };
  } else {
    keys = { mode: "eligible" };
  }
  return {
    state: "secret",
    reference: {
      path: refPath,
      name,
      namePath,
      namespace: rawNamespace ?? undefined,
      namespacePath,
      keys,
      keyField,
    },
  };
}

function invalid(
  type: FieldErrorType,
  field: string,
  value: string | undefined,
  detail: string,
): ReferenceResolution {
  return { state: "invalid", error: fieldError(type, field, value, detail) };
}

/**
 * The namespace of the Secret a reference names: its own namespace field when set, else the
 * object's (a namespaced object); undefined for a cluster-scoped object that names none.
 */
export function secretNamespaceOf(
  rule: ReferenceRule,
  reference: SecretReference,
  objectNamespace: string,
): string | undefined {
  if (reference.namespace !== undefined && reference.namespace !== "") return reference.namespace;
  return rule.scope === "Namespaced" ? objectNamespace : undefined;
}

/**
 * The namespace rules applied to a Secret reference: where the Secret is, or the field error
 * that denies the reference (a namespaced object may name only its own namespace or a trusted
 * one; a cluster-scoped object must name one, within --allowed-secret-namespaces or trusted).
 * The engine decides with it, and the Secret guard's reference index keeps only what it
 * places, so the two never disagree on which Secret an object depends on.
 */
export function placeSecret(
  rule: ReferenceRule,
  ref: SecretReference,
  kind: string,
  objectNamespace: string,
  settings: Pick<PolicySettings, "trustedSecretNamespaces" | "allowedSecretNamespaces">,
): { readonly namespace: string } | { readonly error: FieldError } {
  const nsPath = ref.namespacePath ?? ref.namePath;
  const named = ref.namespace !== undefined && ref.namespace !== "" ? ref.namespace : undefined;
  const trusted = (ns: string) => isTrusted(settings.trustedSecretNamespaces, rule.name, ns);
  if (rule.scope === "Namespaced") {
    if (named !== undefined && named !== objectNamespace && !trusted(named)) {
      return {
        error: fieldError(
          "Forbidden",
          nsPath,
          undefined,
          crossNamespaceDetail(rule.name, kind, objectNamespace, named),
        ),
      };
    }
  } else {
    if (named === undefined) {
      return {
        error: fieldError(
          "Required",
          nsPath,
          undefined,
          `a cluster-scoped ${kind} must name the CA Secret's namespace`,
        ),
      };
    }
    const allowedNs = settings.allowedSecretNamespaces;
    if (allowedNs.length > 0 && !allowedNs.includes(named) && !trusted(named)) {
      return {
        error: fieldError(
          "Forbidden",
          nsPath,
          undefined,
          notAllowedDetail(rule.name, allowedNs, named),
        ),
      };
    }
  }
  return { namespace: secretNamespaceOf(rule, ref, objectNamespace) ?? objectNamespace };
}

async function checkReference(
  rule: ReferenceRule,
  spec: ReferenceSpec,
  ctx: Context,
): Promise<Outcome> {
  const errors: FieldError[] = [];
  const warnings: string[] = [];
  const kind = ctx.request.kind.kind;
  const resolution = resolveReference(spec, ctx.object);
  switch (resolution.state) {
    case "unset":
      return { errors, warnings };
    case "invalid":
      return { errors: [resolution.error], warnings };
    case "inline": {
      if (typeof resolution.value !== "string") {
        errors.push(fieldError("Invalid", resolution.path, undefined, "must be a PEM string"));
      } else {
        const analysis = analyseBundle(resolution.value, {
          now: ctx.now,
          expiringWithinDays: ctx.settings.expiringWithinDays,
        });
        // An inline value is the certificate data itself: never shown back.
        addProblems(analysis, resolution.path, errors, warnings);
      }
      return { errors, warnings };
    }
  }
  const ref = resolution.reference;
  const warning = spec.referenceWarning;
  if (warning !== undefined && (warning.kinds === undefined || warning.kinds.includes(kind))) {
    warnings.push(`${ref.path}: ${warning.message}`);
  }

  // Namespace rules.
  const objectNamespace = ctx.object.metadata?.namespace ?? ctx.request.namespace ?? "";
  const nsPath = ref.namespacePath ?? ref.namePath;
  const placed = placeSecret(rule, ref, kind, objectNamespace, ctx.settings);
  if ("error" in placed) {
    errors.push(placed.error);
    return { errors, warnings };
  }
  const secretNamespace = placed.namespace;

  // Nothing about the Secret, not even whether it exists, is said before the user is known to
  // be allowed to read it: the access question does not depend on its existence.
  const refused = await refuseRead(ctx, secretNamespace, ref.name, ref.namePath, nsPath);
  if (refused !== undefined) return refused;

  const lookup = await ctx.view.getSecret(secretNamespace, ref.name);
  if (!lookup.found) {
    if (lookup.unavailable !== undefined) {
      const text = `could not verify the CA Secret ${secretNamespace}/${ref.name}${lookup.timedOut ? " in time" : ""}: ${lookup.unavailable}`;
      if (ctx.settings.unverifiable === "deny")
        errors.push(fieldError("InternalError", ref.namePath, undefined, text));
      else warnings.push(`${ref.namePath}: ${text}`);
      return { errors, warnings };
    }
    const text = `Secret "${ref.name}" not found in "${secretNamespace}"`;
    if (ctx.settings.missingSecret === "deny")
      errors.push(fieldError("NotFound", ref.namePath, ref.name, text));
    else warnings.push(`${ref.namePath}: ${text}; CA not trusted until it exists`);
    return { errors, warnings };
  }
  const check = checkSecretAgainstReference(lookup.object, ref.keys, {
    now: ctx.now,
    expiringWithinDays: ctx.settings.expiringWithinDays,
  });
  for (const problem of check.errors) {
    const summary = `${problem.reason} (Secret ${secretNamespace}/${ref.name}${problem.key === undefined ? "" : ` key "${problem.key}"`})`;
    // The key the object itself named is the value at fault; otherwise the Secret it named.
    if (ref.keyField !== undefined && problem.key === ref.keyField.key) {
      errors.push(
        fieldError(
          problem.type === "missing" ? "NotFound" : "Invalid",
          ref.keyField.path,
          ref.keyField.key,
          problem.detail,
          summary,
        ),
      );
    } else {
      errors.push(fieldError("Invalid", ref.namePath, ref.name, problem.detail, summary));
    }
  }
  warnings.push(...check.warnings);
  return { errors, warnings };
}

/**
 * Whether Secrets of `namespace` may be referenced from any namespace under rule `ruleName`
 * (`--trusted-secret-namespaces`: an entry for every rule, or one for this rule).
 */
export function isTrusted(
  trusted: readonly TrustedNamespace[],
  ruleName: string,
  namespace: string,
): boolean {
  return trusted.some(
    (t) => t.namespace === namespace && (t.rule === undefined || t.rule === ruleName),
  );
}

/**
 * The denial of a cross-namespace reference, naming both ways out: the Secret in the object's
 * namespace, or an administrator trusting the Secret's namespace. The ValidatingAdmissionPolicy
 * writes the same text (src/manifests.ts).
 */
export function crossNamespaceDetail(
  ruleName: string,
  kind: string,
  objectNamespace: string,
  secretNamespace: string,
): string {
  return `must be "${objectNamespace}" (the ${kind}'s namespace): put the CA Secret there, or have an administrator trust namespace "${secretNamespace}" ${trustHow(ruleName, secretNamespace)}`;
}

/** A cluster-scoped reference outside `--allowed-secret-namespaces`, and the two ways out. */
export function notAllowedDetail(
  ruleName: string,
  allowed: readonly string[],
  secretNamespace: string,
): string {
  return `must be one of ${allowed.map((n) => `"${n}"`).join(", ")} (--allowed-secret-namespaces): put the CA Secret there, or have an administrator trust namespace "${secretNamespace}" ${trustHow(ruleName, secretNamespace)}`;
}

function trustHow(ruleName: string, namespace: string): string {
  return `with --trusted-secret-namespaces=${namespace} (or ${ruleName}=${namespace} for this rule only)`;
}

/** Longest user name quoted in a denial (a direct caller chooses it). */
const MAX_SHOWN_USER = 100;

/**
 * Whether the webhook may read Secret `namespace/name` for this request: the namespace must be
 * one our ServiceAccount reads in (`secretNamespaces`), and the requesting user must be allowed
 * to `get` it. Returns the outcome that ends the reference's check (a denial, or under
 * `unverifiable: warn` a warning) without reading, or undefined to go on and read.
 */
async function refuseRead(
  ctx: Context,
  namespace: string,
  name: string,
  namePath: string,
  nsPath: string,
): Promise<Outcome | undefined> {
  const listed = ctx.settings.secretNamespaces;
  if (listed.length > 0 && !listed.includes(namespace)) {
    const shown = listed.slice(0, 10).map((n) => `"${n}"`);
    if (listed.length > 10) shown.push("...");
    return {
      errors: [
        fieldError(
          "Forbidden",
          nsPath,
          undefined,
          `this webhook reads CA Secrets only in the namespaces of its --secret-namespaces option (${shown.join(", ")}), not in "${namespace}"; ask the cluster administrator to add it`,
        ),
      ],
      warnings: [],
    };
  }
  if (!ctx.settings.authorizeReferences) return undefined;
  const user = ctx.request.userInfo;
  const must = "a CA reference must point at a Secret you can read";
  if (user === undefined || ((user.username ?? "") === "" && (user.groups ?? []).length === 0)) {
    return {
      errors: [fieldError("Forbidden", namePath, undefined, `the request names no user; ${must}`)],
      warnings: [],
    };
  }
  const access = await ctx.view.mayGet(user, "secrets", namespace, name);
  if (access.allowed) return undefined;
  const who = shownUser(user.username ?? "");
  if (access.unavailable !== undefined) {
    const text = `could not check that user ${who} may get secrets in namespace "${namespace}"${access.timedOut ? " in time" : ""}: ${access.unavailable}`;
    return ctx.settings.unverifiable === "deny"
      ? { errors: [fieldError("InternalError", namePath, undefined, text)], warnings: [] }
      : { errors: [], warnings: [`${namePath}: ${text}; the CA Secret was not read`] };
  }
  return {
    errors: [
      fieldError(
        "Forbidden",
        namePath,
        undefined,
        `user ${who} may not get secrets in namespace "${namespace}"; ${must}`,
      ),
    ],
    warnings: [],
  };
}

/** A user name for a message: quoted, escaped, and cut short. */
function shownUser(username: string): string {
  const cut =
    username.length > MAX_SHOWN_USER ? `${username.slice(0, MAX_SHOWN_USER)}...` : username;
  return JSON.stringify(cut);
}

function checkLabelledSecret(rule: LabelledSecretRule, ctx: Context): Outcome {
  const errors: FieldError[] = [];
  const warnings: string[] = [];
  const namespace = ctx.object.metadata?.namespace ?? ctx.request.namespace ?? "";
  if (namespace !== ctx.settings.systemNamespace) {
    warnings.push(
      `label ${rule.label} is ignored in namespace "${namespace}"; only "${ctx.settings.systemNamespace}" is read`,
    );
    return { errors, warnings };
  }
  const secret: SecretObject = {
    namespace,
    name: ctx.object.metadata?.name ?? "",
    ...(typeof ctx.object.type === "string" ? { type: ctx.object.type } : {}),
    data: secretData(ctx.object),
  };
  const keys: SecretKeys =
    rule.keys.mode === "fixed"
      ? { mode: "key", key: rule.keys.key }
      : rule.keys.mode === "caWithKey"
        ? {
            mode: "caWithKey",
            certificate: rule.keys.certificate,
            privateKey: rule.keys.privateKey,
          }
        : // A labelled Secret names no key itself: a field selection reads its default, if any.
          rule.keys.mode === "field" && rule.keys.default !== undefined
          ? { mode: "key", key: rule.keys.default }
          : { mode: "eligible" };
  const check = checkSecretAgainstReference(secret, keys, {
    now: ctx.now,
    expiringWithinDays: ctx.settings.expiringWithinDays,
  });
  // Field paths of a Secret's own keys, as the apiserver writes map entries: data[ca.crt]. The
  // values are the certificate data: never shown back.
  for (const problem of check.errors) {
    errors.push(
      fieldError(
        problem.type === "missing" ? "Required" : "Invalid",
        problem.key === undefined ? "data" : `data[${problem.key}]`,
        undefined,
        problem.detail,
      ),
    );
  }
  warnings.push(...check.warnings);
  return { errors, warnings };
}

/** Hard findings of an inline value become one field error; soft ones warnings at its path. */
function addProblems(
  analysis: BundleAnalysis,
  path: string,
  errors: FieldError[],
  warnings: string[],
): void {
  const hard = analysis.findings.filter((f) => f.severity === "error");
  if (hard.length > 0) {
    errors.push(fieldError("Invalid", path, undefined, hard.map((f) => f.message).join("; ")));
  }
  for (const f of analysis.findings) {
    if (f.severity === "warning") warnings.push(`${path}: ${f.message}`);
  }
}

/** A Secret object's data, with `stringData` merged in (offline inputs may carry it). */
export function secretData(object: KubeObject): Record<string, string> {
  const data: Record<string, string> = {};
  const d = object.data;
  if (d && typeof d === "object") {
    for (const [k, v] of Object.entries(d as Record<string, unknown>))
      if (typeof v === "string") data[k] = v;
  }
  const s = object.stringData;
  if (s && typeof s === "object") {
    for (const [k, v] of Object.entries(s as Record<string, unknown>)) {
      if (typeof v === "string") data[k] = Buffer.from(v, "utf8").toString("base64");
    }
  }
  return data;
}

/** Reads a dotted field path from an object; undefined when any step is missing. */
export function read(object: unknown, path: string): unknown {
  let node: unknown = object;
  for (const part of path.split(".")) {
    if (node === null || typeof node !== "object" || Array.isArray(node)) return undefined;
    if (!Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/**
 * A reference object counts as set when any of its fields holds a value: `{}` and `{name: ""}`
 * (what a CRD's defaults make of an omitted LocalObjectReference) are not set.
 */
function isSet(v: unknown): boolean {
  if (v === undefined || v === null || v === "") return false;
  if (typeof v !== "object" || Array.isArray(v)) return true;
  return Object.values(v as Record<string, unknown>).some(
    (field) => field !== undefined && field !== null && field !== "",
  );
}

function sameReferences(
  rule: ReferenceRule,
  object: KubeObject,
  old: KubeObject | null | undefined,
): boolean {
  if (!old) return false;
  return rule.references.every((spec) =>
    [...spec.refs, ...(spec.inline ? [spec.inline] : [])].every(
      (p) => JSON.stringify(read(object, p)) === JSON.stringify(read(old, p)),
    ),
  );
}

function commonParent(paths: string[]): string {
  const split = paths.map((p) => p.split("."));
  const first = split[0] ?? [];
  let n = first.length - 1;
  while (n > 0 && !split.every((s) => s.slice(0, n).join(".") === first.slice(0, n).join("."))) n--;
  return first.slice(0, n).join(".");
}

function last(path: string): string {
  return path.slice(path.lastIndexOf(".") + 1);
}

function describe(request: AdmissionRequest, object: KubeObject): string {
  const name = object.metadata?.name || request.name || object.metadata?.generateName || "";
  return `${request.kind.kind}${request.kind.group ? `.${request.kind.group}` : ""} "${name}"`;
}

function allowed(warnings: string[] = []): Decision {
  return { kind: "allow", warnings };
}

function denied(errors: FieldError[], warnings: string[], subject: string): Decision {
  const { code, reason, message } = summarize(subject, errors);
  return { kind: "deny", code, reason, message, warnings };
}
