/**
 * The CA-reference rule table. Each rule is data: which kinds it matches, where in the object
 * the CA reference (or inline PEM) sits, how the Secret key is chosen, and which feature gate
 * enables it. One generic engine (`engine.ts`) applies every rule; the validating webhook's
 * registration (`ca-trust-webhook manifests`) is derived from the same table. Users add rules
 * for their own CRDs in the config file, in exactly this format (`parseRules`).
 * shared/DESIGN.md "The systems it serves: built-in rules".
 */

/** How the Secret key(s) holding the CA are chosen. */
export type KeySelection =
  /** The reference names the key in a field (`keyField`), e.g. OpenChoreo `secretKeyRef.key`. */
  | { mode: "field"; field: string }
  /** A fixed key, e.g. kcp's `tls.crt`. */
  | { mode: "fixed"; key: string }
  /**
   * Every eligible key: a key ending `.crt` or `.pem`, or a value containing `-----BEGIN `
   * (Alauda Connectors' documented rule); other keys (tokens, passwords) are ignored.
   */
  | { mode: "eligible" };

/** One CA reference in an object: a Secret reference (one or more spellings) and/or inline PEM. */
export interface ReferenceSpec {
  /** Dotted paths of the reference object; alternatives are spellings of the same field. */
  refs: string[];
  /** Dotted path of an inline PEM value that may replace the reference. */
  inline?: string;
  /** Field of the reference object holding the Secret name. */
  nameField: string;
  /** Field of the reference object holding the Secret namespace, if the API has one. */
  namespaceField?: string;
  keys: KeySelection;
  /** One of the reference / the inline value must be set. */
  required: boolean;
}

/** A rule that validates an object referring to a CA Secret. */
export interface ReferenceRule {
  name: string;
  type: "reference";
  apiGroups: string[];
  /** Kind → plural resource, for matching requests and for the webhook registration. */
  kinds: Record<string, string>;
  versions: string[];
  scope: "Namespaced" | "Cluster";
  /** A feature flag (see ClusterView.featureFlag) that must be on for the rule to be enforced. */
  featureGate?: string;
  references: ReferenceSpec[];
}

/**
 * A rule that validates a labelled Secret as a CA bundle itself (Connectors' global CAs). It
 * is enforced in the system namespace; elsewhere the label has no effect and a warning says so.
 */
export interface LabelledSecretRule {
  name: string;
  type: "labelledSecret";
  label: string;
  value: string;
  keys: KeySelection;
  /** What the label does, for the warning outside the system namespace. */
  purpose: string;
}

export type Rule = ReferenceRule | LabelledSecretRule;

const OPENCHOREO_CLIENT_CA: ReferenceSpec = {
  // `secretKeyRef` since OpenChoreo v1.0 (#2642); `secretRef` in v0.10-v0.17: accept both.
  refs: ["spec.clusterAgent.clientCA.secretKeyRef", "spec.clusterAgent.clientCA.secretRef"],
  inline: "spec.clusterAgent.clientCA.value",
  nameField: "name",
  namespaceField: "namespace",
  keys: { mode: "field", field: "key" },
  required: true,
};

const OPENCHOREO_GROUPS = ["openchoreo.dev", "core.openchoreo.dev"];

/** The built-in rules, one entry per row of DESIGN.md's table. */
export const BUILTIN_RULES: readonly Rule[] = Object.freeze<Rule[]>([
  {
    name: "alauda-connectors",
    type: "reference",
    apiGroups: ["connectors.alauda.io"],
    kinds: { Connector: "connectors" },
    versions: ["*"],
    scope: "Namespaced",
    featureGate: "enable-custom-ca-certs",
    references: [
      {
        refs: ["spec.caCertSecretRef"],
        nameField: "name",
        // No CRD version carries one today; checked in case one does.
        namespaceField: "namespace",
        keys: { mode: "eligible" },
        required: false,
      },
    ],
  },
  {
    name: "alauda-connectors-global-ca",
    type: "labelledSecret",
    label: "connectors.cpaas.io/ca-cert",
    value: "true",
    keys: { mode: "eligible" },
    purpose: "global Connectors CA Secrets are read only from the system namespace",
  },
  {
    name: "openchoreo-planes",
    type: "reference",
    apiGroups: OPENCHOREO_GROUPS,
    kinds: {
      DataPlane: "dataplanes",
      WorkflowPlane: "workflowplanes",
      BuildPlane: "buildplanes",
      ObservabilityPlane: "observabilityplanes",
    },
    versions: ["*"],
    scope: "Namespaced",
    references: [OPENCHOREO_CLIENT_CA],
  },
  {
    name: "openchoreo-cluster-planes",
    type: "reference",
    apiGroups: OPENCHOREO_GROUPS,
    kinds: {
      ClusterDataPlane: "clusterdataplanes",
      ClusterWorkflowPlane: "clusterworkflowplanes",
      ClusterBuildPlane: "clusterbuildplanes",
      ClusterObservabilityPlane: "clusterobservabilityplanes",
    },
    versions: ["*"],
    scope: "Cluster",
    references: [OPENCHOREO_CLIENT_CA],
  },
  {
    name: "kcp-operator",
    type: "reference",
    apiGroups: ["operator.kcp.io"],
    kinds: {
      RootShard: "rootshards",
      Shard: "shards",
      FrontProxy: "frontproxies",
      VirtualWorkspace: "virtualworkspaces",
    },
    versions: ["*"],
    scope: "Namespaced",
    references: [
      // corev1.LocalObjectReference: a name only; the operator reads key tls.crt.
      {
        refs: ["spec.clientCABundleRef"],
        nameField: "name",
        keys: { mode: "fixed", key: "tls.crt" },
        required: false,
      },
      {
        refs: ["spec.caBundleSecretRef"],
        nameField: "name",
        keys: { mode: "fixed", key: "tls.crt" },
        required: false,
      },
    ],
  },
]);

/** An error in a user-supplied rule, with the path inside the `rules` list. */
export class RuleError extends Error {}

/**
 * Validates user rules from the config file (YAML already parsed) into Rule objects. Same
 * format as BUILTIN_RULES; `type` defaults to "reference", `versions` to ["*"].
 */
export function parseRules(input: unknown): Rule[] {
  if (input === undefined || input === null) return [];
  if (!Array.isArray(input)) throw new RuleError("rules: must be a list");
  return input.map((entry, i) => parseRule(entry, `rules[${i}]`));
}

function parseRule(input: unknown, at: string): Rule {
  const o = object(input, at);
  const name = str(o.name, `${at}.name`);
  const type = o.type ?? "reference";
  if (type === "labelledSecret") {
    return {
      name,
      type,
      label: str(o.label, `${at}.label`),
      value: str(o.value, `${at}.value`),
      keys: keySelection(o.keys ?? { mode: "eligible" }, `${at}.keys`),
      purpose:
        o.purpose === undefined
          ? "the label has effect only in the system namespace"
          : str(o.purpose, `${at}.purpose`),
    };
  }
  if (type !== "reference")
    throw new RuleError(`${at}.type: must be "reference" or "labelledSecret"`);
  const kinds = object(o.kinds, `${at}.kinds`);
  if (Object.keys(kinds).length === 0)
    throw new RuleError(`${at}.kinds: must map at least one Kind to its plural resource`);
  for (const [kind, resource] of Object.entries(kinds)) {
    if (!/^[A-Z][A-Za-z0-9]*$/.test(kind))
      throw new RuleError(`${at}.kinds: "${kind}" is not a Kind`);
    if (typeof resource !== "string" || !/^[a-z][a-z0-9]*$/.test(resource)) {
      throw new RuleError(`${at}.kinds.${kind}: must be the plural resource name, e.g. "widgets"`);
    }
  }
  const scope = o.scope ?? "Namespaced";
  if (scope !== "Namespaced" && scope !== "Cluster")
    throw new RuleError(`${at}.scope: must be Namespaced or Cluster`);
  const references = o.references;
  if (!Array.isArray(references) || references.length === 0) {
    throw new RuleError(`${at}.references: must be a non-empty list`);
  }
  return {
    name,
    type: "reference",
    apiGroups: strings(o.apiGroups, `${at}.apiGroups`),
    kinds: kinds as Record<string, string>,
    versions: o.versions === undefined ? ["*"] : strings(o.versions, `${at}.versions`),
    scope,
    ...(o.featureGate === undefined
      ? {}
      : { featureGate: str(o.featureGate, `${at}.featureGate`) }),
    references: references.map((r, j) => parseReference(r, `${at}.references[${j}]`)),
  };
}

function parseReference(input: unknown, at: string): ReferenceSpec {
  const o = object(input, at);
  const refs =
    o.refs === undefined ? [] : strings(o.refs, `${at}.refs`).map((p) => path(p, `${at}.refs`));
  const inline =
    o.inline === undefined ? undefined : path(str(o.inline, `${at}.inline`), `${at}.inline`);
  if (refs.length === 0 && inline === undefined) throw new RuleError(`${at}: needs refs or inline`);
  return {
    refs,
    ...(inline === undefined ? {} : { inline }),
    nameField: o.nameField === undefined ? "name" : str(o.nameField, `${at}.nameField`),
    ...(o.namespaceField === undefined
      ? {}
      : { namespaceField: str(o.namespaceField, `${at}.namespaceField`) }),
    keys: keySelection(o.keys, `${at}.keys`),
    required: o.required === undefined ? false : bool(o.required, `${at}.required`),
  };
}

function keySelection(input: unknown, at: string): KeySelection {
  const o = object(input, at);
  switch (o.mode) {
    case "field":
      return { mode: "field", field: str(o.field, `${at}.field`) };
    case "fixed":
      return { mode: "fixed", key: str(o.key, `${at}.key`) };
    case "eligible":
      return { mode: "eligible" };
    default:
      throw new RuleError(`${at}.mode: must be field, fixed or eligible`);
  }
}

function path(text: string, at: string): string {
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(text))
    throw new RuleError(`${at}: "${text}" is not a dotted field path`);
  return text;
}

function object(v: unknown, at: string): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new RuleError(`${at}: must be a mapping`);
  return v as Record<string, unknown>;
}

function str(v: unknown, at: string): string {
  if (typeof v !== "string" || v === "") throw new RuleError(`${at}: must be a non-empty string`);
  return v;
}

function bool(v: unknown, at: string): boolean {
  if (typeof v !== "boolean") throw new RuleError(`${at}: must be true or false`);
  return v;
}

function strings(v: unknown, at: string): string[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((s) => typeof s === "string" && s !== "")) {
    throw new RuleError(`${at}: must be a non-empty list of strings`);
  }
  return v as string[];
}

/** The rule (if any) that governs a request's group and kind; labelled-Secret rules match Secrets. */
export function findRule(
  rules: readonly Rule[],
  group: string,
  kind: string,
  labels: Record<string, string> | undefined,
): Rule | undefined {
  for (const rule of rules) {
    if (rule.type === "reference") {
      if (rule.apiGroups.includes(group) && Object.hasOwn(rule.kinds, kind)) return rule;
    } else if (group === "" && kind === "Secret" && labels?.[rule.label] === rule.value) {
      return rule;
    }
  }
  return undefined;
}
