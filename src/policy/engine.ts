import type { AdmissionRequest, Decision, KubeObject } from "../core/types.js";
import type { ClusterView, SecretObject } from "../core/view.js";
import { analyseBundle, type BundleAnalysis, MAX_BUNDLE_BLOCKS } from "../pki/bundle.js";
import { type FieldError, fieldError, summarize } from "./field-error.js";
import {
  findRule,
  type KeySelection,
  type LabelledSecretRule,
  type ReferenceRule,
  type ReferenceSpec,
  type Rule,
} from "./rules.js";

/** What the validation engine decides with, besides the request and the cluster view. */
export interface PolicySettings {
  readonly rules: readonly Rule[];
  /** Namespace of the Connectors system (global CA Secrets and the flag ConfigMap live there). */
  readonly systemNamespace: string;
  /** A referenced Secret that does not exist (yet): warn (default) or deny. */
  readonly missingSecret: "warn" | "deny";
  /** Cluster-scoped objects may reference Secrets only in these namespaces (empty: any). */
  readonly allowedSecretNamespaces: readonly string[];
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
    return allowed([
      ...outcome.errors.map((e) => `${e.text} (unchanged by this update)`),
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

export interface Outcome {
  errors: FieldError[];
  warnings: string[];
}

async function checkReferences(rule: ReferenceRule, ctx: Context): Promise<Outcome> {
  const outcome: Outcome = { errors: [], warnings: [] };
  const kind = ctx.request.kind.kind;
  if (rule.featureGate !== undefined && !ctx.view.featureFlag(rule.featureGate)) {
    const set = rule.references.some((spec) =>
      spec.refs.some((ref) => present(read(ctx.object, ref))),
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
 * Where one CA reference of an object points, as the engine resolves it: the Secret (its
 * namespace after the namespace rules, its name, the key when the reference or the rule names
 * one) and the field paths of each part, or the inline PEM value. The reference index of the
 * Secret guard (kube/references.ts) resolves references with this same function, so the two
 * never disagree on what an object references.
 */
export type ResolvedReference =
  | { readonly inline: string; readonly value: unknown }
  | {
      readonly inline?: undefined;
      readonly refPath: string;
      readonly namePath: string;
      readonly nsPath: string | undefined;
      readonly keyPath: string | undefined;
      readonly namespace: string;
      readonly name: string;
      readonly key: string | undefined;
    };

/** What resolving a reference reads: the object, the request's kind and namespace, settings. */
export interface ReferenceContext {
  readonly object: KubeObject;
  readonly request: Pick<AdmissionRequest, "kind" | "namespace">;
  readonly settings: PolicySettings;
}

async function checkReference(
  rule: ReferenceRule,
  spec: ReferenceSpec,
  ctx: Context,
): Promise<Outcome> {
  const resolved = resolveReference(rule, spec, ctx);
  if ("errors" in resolved) return resolved;
  const errors: FieldError[] = [];
  const warnings: string[] = [];
  if (resolved.inline !== undefined) {
    const inlineValue = resolved.value;
    if (typeof inlineValue !== "string") {
      errors.push(fieldError("Invalid", resolved.inline, undefined, "must be a PEM string"));
    } else {
      const analysis = analyseBundle(inlineValue, {
        now: ctx.now,
        expiringWithinDays: ctx.settings.expiringWithinDays,
      });
      collect(analysis, resolved.inline, undefined, "", errors, warnings);
    }
    return { errors, warnings };
  }
  const { namePath, nsPath, keyPath, namespace: secretNamespace, name, key } = resolved;

  // Nothing about the Secret, not even whether it exists, is said before the user is known to
  // be allowed to read it: the access question does not depend on its existence.
  const refused = await refuseRead(ctx, secretNamespace, name, namePath, nsPath ?? namePath);
  if (refused !== undefined) return refused;

  const lookup = await ctx.view.getSecret(secretNamespace, name);
  if (!lookup.found) {
    if (lookup.unavailable !== undefined) {
      const text = `could not verify the CA Secret ${secretNamespace}/${name}${lookup.timedOut ? " in time" : ""}: ${lookup.unavailable}`;
      if (ctx.settings.unverifiable === "deny")
        errors.push(fieldError("InternalError", namePath, undefined, text));
      else warnings.push(`${namePath}: ${text}`);
      return { errors, warnings };
    }
    const text = `Secret "${name}" not found in "${secretNamespace}"`;
    if (ctx.settings.missingSecret === "deny")
      errors.push(fieldError("NotFound", namePath, name, text));
    else warnings.push(`${namePath}: ${text}; CA not trusted until it exists`);
    return { errors, warnings };
  }
  const at = keyPath ?? namePath;
  checkSecretData(lookup.object, spec.keys, key, () => at, name, ctx, errors, warnings);
  return { errors, warnings };
}

/**
 * Resolves one CA reference of the object: which of its spellings is set, the Secret's name,
 * namespace (after the namespace rules) and key, or the inline value; or the field errors
 * that end its check. Pure and synchronous: it reads the object and the settings only.
 */
export function resolveReference(
  rule: ReferenceRule,
  spec: ReferenceSpec,
  ctx: ReferenceContext,
): Outcome | ResolvedReference {
  const errors: FieldError[] = [];
  const warnings: string[] = [];
  const kind = ctx.request.kind.kind;
  const setRefs = spec.refs.filter(
    (ref) => read(ctx.object, ref) !== undefined && read(ctx.object, ref) !== null,
  );
  const inlineValue = spec.inline === undefined ? undefined : read(ctx.object, spec.inline);
  const inlineSet = inlineValue !== undefined && inlineValue !== null && inlineValue !== "";
  const parent = commonParent([...spec.refs, ...(spec.inline ? [spec.inline] : [])]);
  const choices = [...(spec.inline ? [last(spec.inline)] : []), ...spec.refs.map(last)].join(
    " or ",
  );

  if (setRefs.length + (inlineSet ? 1 : 0) > 1) {
    errors.push(fieldError("Invalid", parent, undefined, `exactly one of ${choices} may be set`));
    return { errors, warnings };
  }
  if (inlineSet && spec.inline !== undefined) return { inline: spec.inline, value: inlineValue };
  const refPath = setRefs[0];
  if (refPath === undefined) {
    if (spec.required)
      errors.push(fieldError("Required", parent, undefined, `one of ${choices} must be set`));
    return { errors, warnings };
  }
  const ref = read(ctx.object, refPath);
  if (typeof ref !== "object" || ref === null || Array.isArray(ref)) {
    errors.push(fieldError("Invalid", refPath, undefined, "must be an object"));
    return { errors, warnings };
  }
  const refObject = ref as Record<string, unknown>;
  const namePath = `${refPath}.${spec.nameField}`;
  const name = refObject[spec.nameField];
  if (typeof name !== "string" || name === "") {
    errors.push(fieldError("Required", namePath, undefined, "the CA Secret's name must be set"));
    return { errors, warnings };
  }

  // Namespace rules.
  const objectNamespace = ctx.object.metadata?.namespace ?? ctx.request.namespace ?? "";
  const nsPath =
    spec.namespaceField === undefined ? undefined : `${refPath}.${spec.namespaceField}`;
  const refNamespace =
    spec.namespaceField === undefined ? undefined : refObject[spec.namespaceField];
  let secretNamespace: string;
  if (rule.scope === "Namespaced") {
    if (refNamespace !== undefined && refNamespace !== "" && refNamespace !== objectNamespace) {
      errors.push(
        fieldError(
          "Forbidden",
          nsPath ?? namePath,
          undefined,
          `must be "${objectNamespace}" (the ${kind}'s namespace); cross-namespace CA references are not allowed`,
        ),
      );
      return { errors, warnings };
    }
    secretNamespace = objectNamespace;
  } else {
    if (typeof refNamespace !== "string" || refNamespace === "") {
      errors.push(
        fieldError(
          "Required",
          nsPath ?? namePath,
          undefined,
          `a cluster-scoped ${kind} must name the CA Secret's namespace`,
        ),
      );
      return { errors, warnings };
    }
    const allowedNs = ctx.settings.allowedSecretNamespaces;
    if (allowedNs.length > 0 && !allowedNs.includes(refNamespace)) {
      errors.push(
        fieldError(
          "Forbidden",
          nsPath ?? namePath,
          refNamespace,
          `must be one of ${allowedNs.map((n) => `"${n}"`).join(", ")}`,
        ),
      );
      return { errors, warnings };
    }
    secretNamespace = refNamespace;
  }

  // The key, when the reference names it.
  let keyPath: string | undefined;
  let key: string | undefined;
  if (spec.keys.mode === "field") {
    keyPath = `${refPath}.${spec.keys.field}`;
    const k = refObject[spec.keys.field];
    if (typeof k !== "string" || k === "") {
      errors.push(
        fieldError("Required", keyPath, undefined, "the Secret key holding the CA must be set"),
      );
      return { errors, warnings };
    }
    key = k;
  } else if (spec.keys.mode === "fixed") {
    key = spec.keys.key;
  }
  return { refPath, namePath, nsPath, keyPath, namespace: secretNamespace, name, key };
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
    data: secretData(ctx.object),
  };
  // Field paths of a Secret's own keys, as the apiserver writes map entries: data[ca.crt].
  checkSecretData(
    secret,
    rule.keys,
    rule.keys.mode === "fixed" ? rule.keys.key : undefined,
    (k) => (k === undefined ? "data" : `data[${k}]`),
    secret.name,
    ctx,
    errors,
    warnings,
  );
  return { errors, warnings };
}

/**
 * Applies the key rule to a Secret's data: the named key must exist and parse; in eligible
 * mode every eligible key must parse and together they hold at least one certificate.
 */
export function checkSecretData(
  secret: SecretObject,
  keys: KeySelection,
  key: string | undefined,
  pathOf: (key: string | undefined) => string,
  name: string,
  ctx: { readonly now: Date; readonly settings: Pick<PolicySettings, "expiringWithinDays"> },
  errors: FieldError[],
  warnings: string[],
): void {
  const data = secret.data ?? {};
  const options = { now: ctx.now, expiringWithinDays: ctx.settings.expiringWithinDays };
  const where = `Secret ${secret.namespace}/${secret.name}`;
  if (keys.mode !== "eligible") {
    const k = key as string;
    const encoded = data[k];
    if (encoded === undefined) {
      const present = Object.keys(data).sort();
      const detail = `${where} has no key "${k}"${present.length > 0 ? ` (keys: ${present.slice(0, 8).join(", ")})` : " (no data)"}`;
      // A key named in the object (`secretKeyRef.key`) is the value not found; a fixed key
      // (kcp's tls.crt) makes the Secret named by the object invalid.
      errors.push(
        keys.mode === "field"
          ? fieldError("NotFound", pathOf(undefined), k, detail)
          : fieldError("Invalid", pathOf(undefined), name, detail),
      );
      return;
    }
    collect(
      analyseBundle(decodeBase64(encoded), options),
      pathOf(k),
      name,
      `${where} key "${k}":`,
      errors,
      warnings,
    );
    return;
  }
  const allKeys = Object.keys(data);
  if (allKeys.length > MAX_SECRET_KEYS) {
    errors.push(
      fieldError(
        "Invalid",
        pathOf(undefined),
        name,
        `${where} has ${allKeys.length.toLocaleString("en-US")} keys; a CA Secret read key by key may have at most ${MAX_SECRET_KEYS.toLocaleString("en-US")}`,
      ),
    );
    return;
  }
  // Each value is bounded by the analysis (MAX_BUNDLE_BLOCKS), but a Secret of many values is
  // not: the PEM blocks of all its eligible keys are counted first, and over the same bound
  // nothing is parsed (one review must not hold the event loop for long).
  const eligible: [string, Buffer][] = [];
  let blocks = 0;
  for (const k of allKeys.sort()) {
    const bytes = decodeBase64(data[k] as string);
    if (!isEligible(k, bytes)) continue;
    eligible.push([k, bytes]);
    blocks += countPemBlocks(bytes);
  }
  if (blocks > MAX_BUNDLE_BLOCKS) {
    errors.push(
      fieldError(
        "Invalid",
        pathOf(undefined),
        name,
        `${where} has ${blocks.toLocaleString("en-US")} PEM blocks across ${eligible.length.toLocaleString("en-US")} keys; at most ${MAX_BUNDLE_BLOCKS} are analysed per Secret`,
      ),
    );
    return;
  }
  let certificates = 0;
  for (const [k, bytes] of eligible) {
    const analysis = analyseBundle(bytes, options);
    certificates += analysis.certificates.length;
    collect(analysis, pathOf(k), name, `${where} key "${k}":`, errors, warnings);
  }
  if (eligible.length === 0 || (certificates === 0 && errors.length === 0)) {
    errors.push(
      fieldError(
        "Invalid",
        pathOf(undefined),
        name,
        `${where} holds no CA certificate (keys ending .crt or .pem, or values holding a PEM header, are read)`,
      ),
    );
  }
}

/**
 * Most keys of a Secret read in eligible mode (every key is decoded and looked at). Real CA
 * Secrets have a handful; a Secret of 70,000 tiny keys would otherwise cost half a second of
 * CPU in one review.
 */
const MAX_SECRET_KEYS = 1024;

/** PEM BEGIN lines in a value (an upper bound of its blocks), without parsing it. */
function countPemBlocks(bytes: Buffer): number {
  let count = 0;
  for (
    let at = bytes.indexOf("-----BEGIN ");
    at !== -1;
    at = bytes.indexOf("-----BEGIN ", at + 11)
  ) {
    count++;
    if (count > MAX_BUNDLE_BLOCKS) break;
  }
  return count;
}

/** Connectors' rule: a key ending `.crt` / `.pem`, or a value that contains a PEM header. */
export function isEligible(key: string, value: Uint8Array): boolean {
  if (key.endsWith(".crt") || key.endsWith(".pem")) return true;
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).includes("-----BEGIN ");
}

/** Findings of one value: errors become field errors, warnings are prefixed with where they are. */
function collect(
  analysis: BundleAnalysis,
  path: string,
  value: string | undefined,
  where: string,
  errors: FieldError[],
  warnings: string[],
): void {
  const hard = analysis.findings.filter((f) => f.severity === "error");
  if (hard.length > 0) {
    errors.push(
      fieldError(
        "Invalid",
        path,
        value,
        `${where ? `${where} ` : ""}${hard.map((f) => f.message).join("; ")}`,
      ),
    );
  }
  for (const f of analysis.findings)
    if (f.severity === "warning") warnings.push(`${where} ${f.message}`);
}

function decodeBase64(text: string): Buffer {
  return Buffer.from(typeof text === "string" ? text : "", "base64");
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

function present(v: unknown): boolean {
  return v !== undefined && v !== null && v !== "";
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
