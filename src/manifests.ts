import { createHash } from "node:crypto";
import Type, { type Static } from "typebox";
import { Document, isMap, isScalar, isSeq, type YAMLMap } from "yaml";
import type { DecisionSettings } from "./config.js";
import {
  DEFAULT_INJECTION_SETTINGS,
  INJECT_LABEL,
  INJECT_LABEL_VALUES,
  type InjectionSettings,
} from "./inject/settings.js";
import { crossNamespaceDetail, notAllowedDetail } from "./policy/engine.js";
import {
  BUILTIN_RULES,
  type LabelledSecretRule,
  type ReferenceRule,
  type ReferenceSpec,
  type Rule,
} from "./policy/rules.js";

/**
 * The registration derived from the rule table: the
 * ValidatingWebhookConfiguration (one `rules` entry per group/version/resource of every
 * reference rule, and labelled Secrets through a CEL `matchConditions`), the
 * MutatingWebhookConfiguration for Pods (the two opt-in selectors), and the
 * ValidatingAdmissionPolicy + binding that enforce the cross-namespace rule inside the
 * apiserver, so that it holds while our server is down. This module is the only derivation:
 * `ca-trust-webhook manifests` prints it, the checked-in copies in deploy/ and the Helm chart's
 * templates are generated from it (scripts/generate-deploy.ts), and the chart takes the
 * rule-derived parts as data (`deriveRegistration`, `renderHelmValues`) instead of deriving
 * them again (docs/architecture.md "Registration").
 */

/** Name of every object we register (webhook configurations, Service, ServiceAccount). */
export const WEBHOOK_NAME = "ca-trust-webhook";
/** The namespace the shipped manifests install into. */
export const DEFAULT_NAMESPACE = "ca-trust-system";
/** Name of the ValidatingAdmissionPolicy and its binding. */
export const POLICY_NAME = "ca-trust-webhook-cross-namespace";
/** Name of the policy (and binding) that limits what our ServiceAccount may write. */
export const SELF_MANAGED_POLICY_NAME = "ca-trust-webhook-self-managed";
/** The certificate Secret of the self-managed mode (`--certificate-secret`'s default). */
export const CERTIFICATE_SECRET = "ca-trust-webhook-certs";
/** Namespaces never sent to the webhooks: the node heartbeat, the control plane, and us. */
export const SYSTEM_NAMESPACES: readonly string[] = ["kube-system", "kube-node-lease"];

/** The webhook names (`webhooks[].name`); the apiserver's metrics and errors are labelled by them. */
export const WEBHOOK_NAMES = {
  references: "references.ca-trust.dev",
  labelledSecrets: "secrets.ca-trust.dev",
  referencedSecrets: "referenced-secrets.ca-trust.dev",
  caConfigMaps: "ca-configmaps.ca-trust.dev",
  namespaceOptIn: "namespace.inject.ca-trust.dev",
  podOptIn: "pod.inject.ca-trust.dev",
} as const;

/** The ClusterRole (and binding) that lets the server list and watch the rule table's kinds. */
export const REFERENCES_ROLE_NAME = "ca-trust-webhook-references";

/**
 * Secret types that never hold a CA bundle: their writes are not sent to the guard (a CEL
 * `matchConditions`), so token creation, Helm releases and image pull Secrets never wait on
 * this server.
 */
export const UNGUARDED_SECRET_TYPES: readonly string[] = [
  "kubernetes.io/service-account-token",
  "bootstrap.kubernetes.io/token",
  "kubernetes.io/dockercfg",
  "kubernetes.io/dockerconfigjson",
  "helm.sh/release.v1",
];

/** The guard's timeout: it answers from memory, so this bounds only a stuck connection. */
export const GUARD_TIMEOUT_SECONDS = 2;

/**
 * Which objects to render: the webhook configurations, the cross-namespace policy, the
 * ClusterRole that lets the server list and watch the rule table's kinds (`rbac`), all three
 * (`all`), or the policy that limits our own ServiceAccount in the self-managed certificate
 * mode (`self-managed`: only installs where the server writes its caBundle and Secret).
 */
export type ManifestSelection = "webhooks" | "vap" | "rbac" | "all" | "self-managed";

/** Where and how the apiserver calls us; see `DEFAULT_MANIFEST_OPTIONS`. */
export interface ManifestOptions {
  /** Our namespace: the Service's, and excluded from every webhook. */
  readonly namespace: string;
  /** The Service the apiserver calls (ignored when `url` is set). */
  readonly service: string;
  readonly port: number;
  /** A base URL (`https://host:port[/prefix]`) instead of the Service; paths are appended. */
  readonly url?: string | undefined;
  /** PEM of the CA that signs the serving certificate; empty: left for cert-manager's cainjector. */
  readonly caBundle?: string | undefined;
  readonly failurePolicy: "Fail" | "Ignore";
  readonly only: ManifestSelection;
  /** Self-managed policy: our ServiceAccount (in `namespace`). */
  readonly serviceAccount: string;
  /** Self-managed policy: the one Secret it may create and update (`--certificate-secret`). */
  readonly certificateSecret: string;
  /** Self-managed policy: our webhook configurations' name (`--webhook-configuration`). */
  readonly webhookConfiguration: string;
}

export const DEFAULT_MANIFEST_OPTIONS: ManifestOptions = Object.freeze({
  namespace: DEFAULT_NAMESPACE,
  service: WEBHOOK_NAME,
  port: 443,
  failurePolicy: "Fail",
  only: "all",
  serviceAccount: WEBHOOK_NAME,
  certificateSecret: CERTIFICATE_SECRET,
  webhookConfiguration: WEBHOOK_NAME,
});

/**
 * What of the configuration the registration depends on; the CA ConfigMap's name (for the
 * guard) defaults to injection's default.
 */
export type ManifestConfig = Pick<
  DecisionSettings,
  "rules" | "allowedSecretNamespaces" | "trustedSecretNamespaces"
> & {
  readonly injection?: Pick<InjectionSettings, "customCa">;
};

/** A Kubernetes object as a plain value. */
export type Manifest = Record<string, unknown> & { apiVersion: string; kind: string };

const ADMISSION_API = "admissionregistration.k8s.io/v1";
const RBAC_API = "rbac.authorization.k8s.io/v1";
const LABELS = { "app.kubernetes.io/name": WEBHOOK_NAME };

/**
 * The objects, in apply order: ValidatingWebhookConfiguration, MutatingWebhookConfiguration
 * (`only: webhooks`), ValidatingAdmissionPolicy and its binding (`only: vap`), the
 * reference index's ClusterRole and binding (`only: rbac`). The built-in rules come first,
 * then `config.rules`, as the server applies them (decisions.ts).
 */
export function renderManifests(
  config: ManifestConfig,
  options: Partial<ManifestOptions> = {},
): Manifest[] {
  const o: ManifestOptions = { ...DEFAULT_MANIFEST_OPTIONS, ...options };
  if (o.only === "self-managed") return selfManagedPolicy(o);
  const registration = deriveRegistration(config.rules);
  const caConfigMap = (config.injection ?? DEFAULT_INJECTION_SETTINGS).customCa.configMapName;
  const out: Manifest[] = [];
  if (o.only === "webhooks" || o.only === "all") {
    out.push(validatingWebhooks(registration, caConfigMap, o), mutatingWebhooks(o));
  }
  if (o.only === "vap" || o.only === "all") {
    out.push(...admissionPolicy(registration, config));
  }
  if (o.only === "rbac" || o.only === "all") out.push(...referencesRole(registration, o));
  return out;
}

// --- the rule-derived parts ----------------------------------------------------------------

/** A webhook `rules` entry / a policy `resourceRules` entry (admissionregistration/v1). */
const RuleWithOperationsSchema = Type.Object(
  {
    apiGroups: Type.Array(Type.String()),
    apiVersions: Type.Array(Type.String()),
    operations: Type.Array(Type.String()),
    resources: Type.Array(Type.String()),
    scope: Type.String(),
  },
  { additionalProperties: false },
);
export type RuleWithOperations = Static<typeof RuleWithOperationsSchema>;

/** An RBAC rule (rbac.authorization.k8s.io/v1 PolicyRule) without resourceNames. */
const PolicyRuleSchema = Type.Object(
  {
    apiGroups: Type.Array(Type.String()),
    resources: Type.Array(Type.String()),
    verbs: Type.Array(Type.String()),
  },
  { additionalProperties: false },
);
export type PolicyRule = Static<typeof PolicyRuleSchema>;

/** A ValidatingAdmissionPolicy validation, as `deriveRegistration` leaves it. */
const PolicyValidationSchema = Type.Object(
  {
    expression: Type.String(),
    message: Type.String(),
    messageExpression: Type.String(),
    reason: Type.Enum(["Forbidden", "Invalid"]),
    /**
     * Only while `allowedSecretNamespaces` is set: the validation names the list through
     * `ALLOWED_NAMESPACES_PLACEHOLDER`, which `policyValidations` replaces (and the chart the
     * same way, so `--set allowedSecretNamespaces` needs no new registration).
     */
    allowedSecretNamespaces: Type.Optional(Type.Literal(true)),
    /**
     * The rule whose trusted namespaces (`trustedSecretNamespaces`: the entries for every
     * rule and those for this one) replace `TRUSTED_NAMESPACES_PLACEHOLDER` in the expression;
     * none trusted leaves an empty list (the chart does the same).
     */
    trustedFor: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
type PolicyValidation = Static<typeof PolicyValidationSchema>;

/**
 * The parts of the registration that depend on the rule table, and only on it: the Helm
 * chart's templates place them (values `registration`, or files/registration.yaml for the
 * built-in rules alone) and derive nothing themselves. The digests name the rules they were
 * derived from, so the chart can refuse rules that come without their registration.
 */
export const RegistrationSchema = Type.Object(
  {
    /** `sha256:` of the built-in rules (`goJson`): another version's registration is refused. */
    builtinRules: Type.String({ pattern: "^sha256:[0-9a-f]{64}$" }),
    /** `sha256:` of the config file's rules as helm's `toJson` writes them (`goJson`). */
    rules: Type.String({ pattern: "^sha256:[0-9a-f]{64}$" }),
    /** The references webhook's `rules`. */
    webhookRules: Type.Array(RuleWithOperationsSchema),
    /** The labelled-Secret webhook's `matchConditions` (empty: no such webhook). */
    labelledSecretConditions: Type.Array(
      Type.Object(
        { name: Type.String(), expression: Type.String() },
        { additionalProperties: false },
      ),
    ),
    policy: Type.Object(
      {
        resourceRules: Type.Array(RuleWithOperationsSchema),
        validations: Type.Array(PolicyValidationSchema),
      },
      { additionalProperties: false },
    ),
    /** list/watch of every resource of the reference rules: the Secret guard's index. */
    watchRules: Type.Array(PolicyRuleSchema),
  },
  {
    additionalProperties: false,
    description:
      "generated by `ca-trust-webhook manifests --config FILE --helm-values` together with `rules`; do not edit",
  },
);
export type Registration = Static<typeof RegistrationSchema>;

/** Stands for the list of `allowedSecretNamespaces` in a flagged validation. */
export const ALLOWED_NAMESPACES_PLACEHOLDER = "__ALLOWED_SECRET_NAMESPACES__";
/** Stands for the namespaces trusted for a validation's rule (`trustedFor`). */
export const TRUSTED_NAMESPACES_PLACEHOLDER = "__TRUSTED_SECRET_NAMESPACES__";

/**
 * The registration's rule-derived parts for the built-in rules followed by `rules` (the config
 * file's), in the order the server applies them (decisions.ts).
 */
export function deriveRegistration(rules: readonly Rule[]): Registration {
  const all = [...BUILTIN_RULES, ...rules];
  const reference = all.filter((r): r is ReferenceRule => r.type === "reference");
  const labelled = all.filter((r): r is LabelledSecretRule => r.type === "labelledSecret");
  // Feature-gated rules are left out of the policy: their gate is a ConfigMap the policy
  // cannot see, and enforcing them while the gate is off would deny what the webhook allows.
  const enforced = reference.filter(
    (r) =>
      r.featureGate === undefined &&
      r.references.some((s) => s.refs.length > 0 && (r.scope === "Cluster" || s.namespaceField)),
  );
  return {
    builtinRules: rulesDigest(BUILTIN_RULES),
    rules: rulesDigest(rules),
    webhookRules: resourceRules(reference),
    labelledSecretConditions:
      labelled.length === 0
        ? []
        : [{ name: "labelled-ca-secret", expression: labelledSecretCondition(labelled) }],
    policy: {
      resourceRules: resourceRules(enforced),
      validations: enforced.flatMap((rule) =>
        rule.references.flatMap((spec) =>
          spec.refs.flatMap((ref) => referenceValidations(rule, spec, ref)),
        ),
      ),
    },
    watchRules: watchRules(reference),
  };
}

/**
 * list and watch of every resource of the reference rules, one RBAC rule per API group
 * (resources in name order): exactly what the reference index watches (kube/references.ts),
 * and nothing else. Never Secrets: the guard is told of Secret writes by the apiserver.
 */
export function watchRules(rules: readonly ReferenceRule[]): PolicyRule[] {
  const byGroup = new Map<string, Set<string>>();
  for (const rule of rules) {
    for (const group of rule.apiGroups) {
      const resources = byGroup.get(group) ?? new Set<string>();
      for (const resource of Object.values(rule.kinds)) resources.add(resource);
      byGroup.set(group, resources);
    }
  }
  return [...byGroup].map(([group, resources]) => ({
    apiGroups: [group],
    resources: [...resources].sort(),
    verbs: ["list", "watch"],
  }));
}

/**
 * The policy's validations for the installation's namespace lists: the ones flagged
 * `allowedSecretNamespaces` only when that list is set, with its placeholder replaced by the
 * list (as CEL literals in expressions, in double quotes in messages), and in every one with
 * `trustedFor` the trusted placeholder replaced by the namespaces trusted for that rule (none:
 * an empty list). The chart's `ca-trust-webhook.policyValidations` does the same replacements;
 * namespaces are DNS labels, so neither needs escaping.
 */
export function policyValidations(
  validations: readonly PolicyValidation[],
  config: Pick<ManifestConfig, "allowedSecretNamespaces" | "trustedSecretNamespaces">,
): Validation[] {
  const allowed = config.allowedSecretNamespaces;
  const celList = allowed.map(cel).join(", ");
  const quotedList = allowed.map((n) => `"${n}"`).join(", ");
  const out: Validation[] = [];
  for (const { allowedSecretNamespaces, trustedFor, ...v } of validations) {
    if (allowedSecretNamespaces === true && allowed.length === 0) continue;
    const trusted = [
      ...new Set(
        config.trustedSecretNamespaces
          .filter((t) => t.rule === undefined || t.rule === trustedFor)
          .map((t) => t.namespace),
      ),
    ];
    const fill = (text: string) =>
      text
        .replaceAll(cel(ALLOWED_NAMESPACES_PLACEHOLDER), celList)
        .replaceAll(`"${ALLOWED_NAMESPACES_PLACEHOLDER}"`, quotedList)
        .replaceAll(cel(TRUSTED_NAMESPACES_PLACEHOLDER), trusted.map(cel).join(", "));
    out.push({
      ...v,
      expression: fill(v.expression),
      message: fill(v.message),
      messageExpression: fill(v.messageExpression),
    });
  }
  return out;
}

/**
 * `sha256:<hex>` of `goJson(rules)`: the digest the chart computes from `values.rules` with
 * `sha256sum (toJson ...)`, so the two agree on the same rules.
 */
export function rulesDigest(rules: readonly Rule[]): string {
  return `sha256:${createHash("sha256").update(goJson(rules), "utf8").digest("hex")}`;
}

/**
 * JSON as Go's encoding/json writes it (helm's `toJson`): object keys sorted, `<`, `>`, `&`,
 * U+2028 and U+2029 escaped as \u00XX / \u20XX, no spaces. Rule values hold no control
 * characters and no numbers (the schema), where the two encoders differ further.
 */
export function goJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(goJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${goString(k)}:${goJson(v)}`).join(",")}}`;
  }
  return typeof value === "string" ? goString(value) : JSON.stringify(value);
}

function goString(text: string): string {
  return JSON.stringify(text).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

// --- webhook configurations -------------------------------------------------------------

/** One `rules` entry per group/version/resource; kinds in name order (stable, as Helm's `range`). */
export function resourceRules(rules: readonly ReferenceRule[]): RuleWithOperations[] {
  const seen = new Set<string>();
  const out: RuleWithOperations[] = [];
  for (const rule of rules) {
    for (const group of rule.apiGroups) {
      for (const version of rule.versions) {
        for (const kind of Object.keys(rule.kinds).sort()) {
          const resource = rule.kinds[kind] as string;
          const key = `${group}/${version}/${resource}`;
          if (seen.has(key)) continue;
          seen.add(key);
          out.push({
            apiGroups: [group],
            apiVersions: [version],
            operations: ["CREATE", "UPDATE"],
            resources: [resource],
            scope: rule.scope,
          });
        }
      }
    }
  }
  return out;
}

function clientConfig(
  o: ManifestOptions,
  path: "/validate" | "/mutate" | "/guard",
): Record<string, unknown> {
  const caBundle =
    o.caBundle === undefined || o.caBundle === ""
      ? {}
      : { caBundle: Buffer.from(o.caBundle, "utf8").toString("base64") };
  if (o.url !== undefined) return { url: `${o.url.replace(/\/+$/, "")}${path}`, ...caBundle };
  return { service: { name: o.service, namespace: o.namespace, port: o.port, path }, ...caBundle };
}

/** `kubernetes.io/metadata.name NotIn [kube-system, kube-node-lease, <ours>]`. */
function excludedNamespaces(o: ManifestOptions): Record<string, unknown> {
  return {
    key: "kubernetes.io/metadata.name",
    operator: "NotIn",
    values: [...SYSTEM_NAMESPACES, o.namespace],
  };
}

/** Fields every webhook shares. */
function common(o: ManifestOptions): Record<string, unknown> {
  return {
    failurePolicy: o.failurePolicy,
    matchPolicy: "Equivalent",
    sideEffects: "None",
    timeoutSeconds: 5,
    admissionReviewVersions: ["v1"],
  };
}

function validatingWebhooks(
  registration: Registration,
  caConfigMap: string,
  o: ManifestOptions,
): Manifest {
  const namespaceSelector = { matchExpressions: [excludedNamespaces(o)] };
  const webhooks: Record<string, unknown>[] = [];
  if (registration.webhookRules.length > 0) {
    webhooks.push({
      name: WEBHOOK_NAMES.references,
      clientConfig: clientConfig(o, "/validate"),
      rules: registration.webhookRules,
      namespaceSelector,
      ...common(o),
    });
  }
  if (registration.labelledSecretConditions.length > 0) {
    webhooks.push({
      name: WEBHOOK_NAMES.labelledSecrets,
      clientConfig: clientConfig(o, "/validate"),
      rules: [
        {
          apiGroups: [""],
          apiVersions: ["v1"],
          operations: ["CREATE", "UPDATE"],
          resources: ["secrets"],
          scope: "Namespaced",
        },
      ],
      // Every Secret write of the cluster would otherwise reach us; RBAC-free filtering by
      // label happens in the apiserver.
      matchConditions: registration.labelledSecretConditions,
      namespaceSelector,
      ...common(o),
    });
  }
  webhooks.push(...guardWebhooks(caConfigMap, o));
  return {
    apiVersion: ADMISSION_API,
    kind: "ValidatingWebhookConfiguration",
    metadata: { name: WEBHOOK_NAME, labels: LABELS },
    webhooks,
  };
}

/**
 * The Secret guard (POST /guard): UPDATE and DELETE of Secrets that may hold a CA bundle (the
 * server answers from its reference index whether anything reads them), and of the injection
 * CA ConfigMap in opted-in namespaces. Always failurePolicy Ignore with a short timeout
 * (`FAIL_COMMENT.guard` says why), whatever `failurePolicy` the other webhooks have.
 */
function guardWebhooks(caConfigMap: string, o: ManifestOptions): Record<string, unknown>[] {
  const guard = {
    failurePolicy: "Ignore",
    matchPolicy: "Equivalent",
    sideEffects: "None",
    timeoutSeconds: GUARD_TIMEOUT_SECONDS,
    admissionReviewVersions: ["v1"],
  };
  const writes = (resource: string) => [
    {
      apiGroups: [""],
      apiVersions: ["v1"],
      operations: ["UPDATE", "DELETE"],
      resources: [resource],
      scope: "Namespaced",
    },
  ];
  return [
    {
      name: WEBHOOK_NAMES.referencedSecrets,
      clientConfig: clientConfig(o, "/guard"),
      rules: writes("secrets"),
      // `object` is null for a DELETE: the stored Secret is `oldObject`.
      matchConditions: [
        {
          name: "may-hold-a-ca-bundle",
          expression: `!((request.operation == 'DELETE' ? oldObject : object).?type.orValue('Opaque') in [${UNGUARDED_SECRET_TYPES.map(cel).join(", ")}])`,
        },
      ],
      namespaceSelector: { matchExpressions: [excludedNamespaces(o)] },
      ...guard,
    },
    {
      name: WEBHOOK_NAMES.caConfigMaps,
      clientConfig: clientConfig(o, "/guard"),
      rules: writes("configmaps"),
      matchConditions: [
        { name: "injection-ca-configmap", expression: `request.name == ${cel(caConfigMap)}` },
      ],
      namespaceSelector: {
        matchLabels: { [INJECT_LABEL]: INJECT_LABEL_VALUES.namespaceEnabled },
        matchExpressions: [excludedNamespaces(o)],
      },
      ...guard,
    },
  ];
}

/**
 * The ClusterRole that lets the server list and watch the rule table's kinds (the reference
 * index), bound to our ServiceAccount: `watchRules` of the registration, nothing else.
 */
function referencesRole(registration: Registration, o: ManifestOptions): Manifest[] {
  const metadata = { name: REFERENCES_ROLE_NAME, labels: LABELS };
  return [
    {
      apiVersion: RBAC_API,
      kind: "ClusterRole",
      metadata,
      rules: registration.watchRules,
    },
    {
      apiVersion: RBAC_API,
      kind: "ClusterRoleBinding",
      metadata,
      roleRef: {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        name: REFERENCES_ROLE_NAME,
      },
      subjects: [{ kind: "ServiceAccount", name: o.serviceAccount, namespace: o.namespace }],
    },
  ];
}

/** CEL: the Secret carries one of the labelled-Secret rules' label=value. */
export function labelledSecretCondition(rules: readonly LabelledSecretRule[]): string {
  const labels = "object.metadata.labels";
  const any = rules
    .map((r) => `(${cel(r.label)} in ${labels} && ${labels}[${cel(r.label)}] == ${cel(r.value)})`)
    .join(" || ");
  return `has(${labels}) && ${rules.length > 1 ? `(${any})` : any}`;
}

function mutatingWebhooks(o: ManifestOptions): Manifest {
  const pods = [
    {
      apiGroups: [""],
      apiVersions: ["v1"],
      operations: ["CREATE"],
      resources: ["pods"],
      scope: "Namespaced",
    },
  ];
  const shared = {
    rules: pods,
    reinvocationPolicy: "IfNeeded",
    ...common(o),
  };
  // The two namespace selectors are disjoint (label = enabled / label != enabled), so no Pod
  // is sent twice; a Pod label "false" opts out of the first, only "true" opts into the second.
  return {
    apiVersion: ADMISSION_API,
    kind: "MutatingWebhookConfiguration",
    metadata: { name: WEBHOOK_NAME, labels: LABELS },
    webhooks: [
      {
        name: WEBHOOK_NAMES.namespaceOptIn,
        clientConfig: clientConfig(o, "/mutate"),
        namespaceSelector: {
          matchLabels: { [INJECT_LABEL]: INJECT_LABEL_VALUES.namespaceEnabled },
          matchExpressions: [excludedNamespaces(o)],
        },
        objectSelector: {
          matchExpressions: [
            { key: INJECT_LABEL, operator: "NotIn", values: [INJECT_LABEL_VALUES.podOptOut] },
          ],
        },
        ...shared,
      },
      {
        name: WEBHOOK_NAMES.podOptIn,
        clientConfig: clientConfig(o, "/mutate"),
        namespaceSelector: {
          matchExpressions: [
            {
              key: INJECT_LABEL,
              operator: "NotIn",
              values: [INJECT_LABEL_VALUES.namespaceEnabled],
            },
            excludedNamespaces(o),
          ],
        },
        objectSelector: { matchLabels: { [INJECT_LABEL]: INJECT_LABEL_VALUES.podOptIn } },
        ...shared,
      },
    ],
  };
}

// --- ValidatingAdmissionPolicy -----------------------------------------------------------

type Validation = Omit<PolicyValidation, "allowedSecretNamespaces" | "trustedFor">;

/**
 * The policy that enforces the namespace rules of the engine inside the apiserver, for the
 * rules of `deriveRegistration` (its validations are `referenceValidations`). Objects being
 * deleted are never matched (a finalizer removal must not be blocked).
 */
function admissionPolicy(registration: Registration, config: ManifestConfig): Manifest[] {
  const validations = policyValidations(registration.policy.validations, config);
  if (validations.length === 0) return [];
  return [
    {
      apiVersion: ADMISSION_API,
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: POLICY_NAME, labels: LABELS },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: {
          matchPolicy: "Equivalent",
          resourceRules: registration.policy.resourceRules,
        },
        matchConditions: [
          { name: "not-being-deleted", expression: "!has(object.metadata.deletionTimestamp)" },
        ],
        validations,
      },
    },
    {
      apiVersion: ADMISSION_API,
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name: POLICY_NAME, labels: LABELS },
      spec: { policyName: POLICY_NAME, validationActions: ["Deny"] },
    },
  ];
}

// --- what our own ServiceAccount may write (self-managed mode) ---------------------------

/**
 * The fields of a webhook (admissionregistration.k8s.io/v1 Validating- and MutatingWebhook)
 * that must stay as they are: every field but `clientConfig.caBundle`. Listed by name, because
 * CEL cannot compare two objects "except one field"; a field a future Kubernetes adds is not
 * frozen until it is listed here (test/e2e/deploy.test.ts tries each of these).
 */
export const FROZEN_WEBHOOK_FIELDS = [
  "clientConfig.url",
  "clientConfig.service",
  "rules",
  "namespaceSelector",
  "objectSelector",
  "matchConditions",
  "failurePolicy",
  "matchPolicy",
  "sideEffects",
  "timeoutSeconds",
  "admissionReviewVersions",
  "reinvocationPolicy",
] as const;

/** Metadata a write by our ServiceAccount must leave alone (the rest is the apiserver's). */
const FROZEN_METADATA = ["labels", "annotations", "finalizers", "ownerReferences"] as const;

/**
 * A ValidatingAdmissionPolicy (+ binding) that holds our ServiceAccount to what the
 * self-managed certificate mode needs, whatever RBAC grants: RBAC limits which webhook
 * configurations it may update (resourceNames) but not which fields, and `create secrets`
 * cannot be limited by name at all. A compromised Pod could otherwise point our webhooks at
 * a URL of its own with rules `*` (every write of the cluster, Secrets included, sent to it),
 * or create a `kubernetes.io/service-account-token` Secret (a token that never expires). With
 * the policy, requests by our ServiceAccount:
 * - may update only `clientConfig.caBundle` of the webhooks of the configurations named
 *   `webhookConfiguration` (same webhooks, same order, same metadata);
 * - may create only Secret `certificateSecret` in `namespace`, of type Opaque, and update only
 *   that Secret;
 * - may create and delete no webhook configuration, and delete no Secret.
 */
function selfManagedPolicy(o: ManifestOptions): Manifest[] {
  const user = `ServiceAccount ${o.namespace}/${o.serviceAccount}`;
  const username = `system:serviceaccount:${o.namespace}:${o.serviceAccount}`;
  const sameWebhook = [
    ...FROZEN_WEBHOOK_FIELDS.map((f) => `w${optionalPath(f)} == o${optionalPath(f)}`),
  ].join(" && ");
  const sameMetadata = FROZEN_METADATA.map(
    (f) => `object.metadata${optionalPath(f)} == oldObject.metadata${optionalPath(f)}`,
  ).join(" && ");
  const validations: Validation[] = [
    {
      expression:
        "request.operation == 'UPDATE' || (request.operation == 'CREATE' && variables.isSecret)",
      message: `${user} may not create or delete webhook configurations, nor delete Secrets`,
      messageExpression: concat(
        `${user} may not `,
        { expression: "request.operation.lowerAscii()" },
        " ",
        { expression: "request.resource.resource" },
      ),
      reason: "Forbidden",
    },
    {
      expression: `request.operation == 'DELETE' || (variables.isSecret ? request.namespace == ${cel(o.namespace)} && object.metadata.name == ${cel(o.certificateSecret)} : object.metadata.name == ${cel(o.webhookConfiguration)})`,
      message: `${user} may write only Secret ${o.namespace}/${o.certificateSecret} and the webhook configurations named ${o.webhookConfiguration}`,
      messageExpression: concat(
        `${user} may write only Secret ${o.namespace}/${o.certificateSecret} and the webhook configurations named ${o.webhookConfiguration}, not `,
        { expression: "request.resource.resource" },
        "/",
        { expression: "object.metadata.name" },
      ),
      reason: "Forbidden",
    },
    {
      expression:
        "!variables.isSecret || request.operation != 'CREATE' || object.?type.orValue('Opaque') == 'Opaque'",
      message: `${user} may create only Secrets of type Opaque (never a service-account token)`,
      messageExpression: concat(`${user} may create only Secrets of type Opaque, not `, {
        expression: "object.?type.orValue('')",
      }),
      reason: "Forbidden",
    },
    {
      expression: `variables.isSecret || request.operation != 'UPDATE' || (${sameMetadata} && object.?webhooks.orValue([]).map(w, w.name) == oldObject.?webhooks.orValue([]).map(w, w.name) && object.?webhooks.orValue([]).all(w, oldObject.webhooks.exists_one(o, o.name == w.name && ${sameWebhook})))`,
      message: `${user} may change only clientConfig.caBundle of its webhook configurations`,
      messageExpression: concat(
        `${user} may change only clientConfig.caBundle of its webhook configurations (url, service, rules, selectors, matchConditions, failurePolicy and the list of webhooks are frozen)`,
      ),
      reason: "Forbidden",
    },
  ];
  const name = SELF_MANAGED_POLICY_NAME;
  return [
    {
      apiVersion: ADMISSION_API,
      kind: "ValidatingAdmissionPolicy",
      metadata: { name, labels: LABELS },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: {
          matchPolicy: "Equivalent",
          resourceRules: [
            {
              apiGroups: ["admissionregistration.k8s.io"],
              apiVersions: ["*"],
              operations: ["CREATE", "UPDATE", "DELETE"],
              resources: ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"],
              scope: "Cluster",
            },
            {
              apiGroups: [""],
              apiVersions: ["*"],
              operations: ["CREATE", "UPDATE", "DELETE"],
              resources: ["secrets"],
              scope: "Namespaced",
            },
          ],
        },
        matchConditions: [
          {
            name: "our-service-account",
            expression: `request.userInfo.username == ${cel(username)}`,
          },
        ],
        variables: [{ name: "isSecret", expression: "request.resource.resource == 'secrets'" }],
        validations,
      },
    },
    {
      apiVersion: ADMISSION_API,
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name, labels: LABELS },
      spec: { policyName: name, validationActions: ["Deny"] },
    },
  ];
}

/**
 * The namespace rules of the engine (policy/engine.ts `checkReference`) as CEL, for one
 * reference spelling: a namespaced kind's reference names no other namespace than a trusted
 * one; a cluster-scoped kind's names one (from `allowedSecretNamespaces` or the trusted ones
 * when the former is set: the flagged validation). An UPDATE that leaves the reference as it
 * was is allowed (the engine's ratcheting). The messages are the engine's, word for word
 * (`crossNamespaceDetail`, `notAllowedDetail`), with the object's values filled in by CEL. Every
 * validation denies with reason Forbidden: for Invalid the apiserver wraps the message in a
 * field error of its own with an empty path, and kubectl prints `is invalid: : ...`.
 */
function referenceValidations(
  rule: ReferenceRule,
  spec: ReferenceSpec,
  ref: string,
): PolicyValidation[] {
  const gate = `${celIn("request.kind.group", rule.apiGroups)} && ${celIn("request.kind.kind", Object.keys(rule.kinds).sort())}`;
  const refValue = (root: string) => `${root}${optionalPath(ref)}`;
  const nsField = spec.namespaceField;
  const ns = (root: string) =>
    nsField === undefined ? "''" : `${refValue(root)}${optionalPath(nsField)}.orValue('')`;
  const kind = { expression: "request.kind.kind" };
  const secretNs = { expression: ns("object") };
  const trusted = `${ns("object")} in [${cel(TRUSTED_NAMESPACES_PLACEHOLDER)}]`;
  if (rule.scope === "Namespaced") {
    if (nsField === undefined) return [];
    const path = `${ref}.${nsField}`;
    return [
      {
        expression: `!(${gate}) || ${ns("object")} in ['', request.namespace] || ${trusted} || ${unchanged(refValue)}`,
        message: `${path}: Forbidden: must be the object's namespace: put the CA Secret there, or have an administrator trust the Secret's namespace with --trusted-secret-namespaces`,
        messageExpression: concat(
          `${path}: Forbidden: `,
          ...fillIn(crossNamespaceDetail(rule.name, SLOT.kind, SLOT.objectNs, SLOT.secretNs), {
            [SLOT.kind]: kind,
            [SLOT.objectNs]: { expression: "request.namespace" },
            [SLOT.secretNs]: secretNs,
          }),
        ),
        reason: "Forbidden",
        trustedFor: rule.name,
      },
    ];
  }
  // Cluster-scoped: the platform cannot resolve a Secret without a namespace.
  const at = `${ref}.${nsField ?? spec.nameField}`;
  const required = `${at}: Required value: a cluster-scoped `;
  const requiredTail = " must name the CA Secret's namespace";
  const out: PolicyValidation[] = [
    {
      expression: `!(${gate}) || !${refValue("object")}.hasValue() || ${ns("object")} != '' || ${unchanged(refValue)}`,
      message: `${required}object${requiredTail}`,
      messageExpression: concat(required, kind, requiredTail),
      reason: "Forbidden",
    },
  ];
  if (nsField !== undefined) {
    const detail = notAllowedDetail(rule.name, [ALLOWED_NAMESPACES_PLACEHOLDER], SLOT.secretNs);
    out.push({
      // An empty namespace is the Required error above, not this one.
      expression: `!(${gate}) || ${celIn(ns("object"), ["", ALLOWED_NAMESPACES_PLACEHOLDER])} || ${trusted} || ${unchanged(refValue)}`,
      message: `${at}: Forbidden: must be one of "${ALLOWED_NAMESPACES_PLACEHOLDER}" (--allowed-secret-namespaces) or a namespace trusted with --trusted-secret-namespaces`,
      messageExpression: concat(
        `${at}: Forbidden: `,
        ...fillIn(detail, { [SLOT.secretNs]: secretNs }),
      ),
      reason: "Forbidden",
      allowedSecretNamespaces: true,
      trustedFor: rule.name,
    });
  }
  return out;
}

/** Stand-ins for the values CEL fills into the engine's messages. */
const SLOT = {
  kind: "\uE000kind\uE000",
  objectNs: "\uE000objectNamespace\uE000",
  secretNs: "\uE000secretNamespace\uE000",
} as const;

/** Text with SLOT stand-ins as `concat` parts: literal text, and the CEL expression of each slot. */
function fillIn(
  text: string,
  slots: Record<string, { expression: string }>,
): (string | { expression: string })[] {
  const parts: (string | { expression: string })[] = [];
  for (const piece of text.split(/(\uE000[a-zA-Z]+\uE000)/)) {
    if (piece === "") continue;
    const slot = slots[piece];
    if (piece.startsWith("\uE000") && slot === undefined) {
      throw new Error(`internal: no CEL for ${JSON.stringify(piece)}`);
    }
    parts.push(slot ?? piece);
  }
  return parts;
}

/**
 * Ratcheting: an UPDATE that leaves the reference as it was (the whole reference object, as
 * the engine's `sameReferences` compares it) is not blocked by a problem it did not introduce.
 */
function unchanged(reference: (root: string) => string): string {
  return `(request.operation == 'UPDATE' && ${reference("oldObject")} == ${reference("object")})`;
}

/** `spec.a.b` → `.?spec.?a.?b` (optional field selection: a missing step is "no value"). */
function optionalPath(path: string): string {
  return path
    .split(".")
    .map((part) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(part) ? `.?${part}` : `[?${cel(part)}]`))
    .join("");
}

/** A CEL string literal. */
function cel(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** CEL: `subject in ['a', 'b']`. */
function celIn(subject: string, values: readonly string[]): string {
  return `${subject} in [${values.map(cel).join(", ")}]`;
}

/** CEL string concatenation of literal text and expressions (a messageExpression). */
function concat(...parts: (string | { expression: string })[]): string {
  const merged: (string | { expression: string })[] = [];
  for (const part of parts) {
    const previous = merged.at(-1);
    if (typeof part === "string" && typeof previous === "string")
      merged[merged.length - 1] = previous + part;
    else merged.push(part);
  }
  return merged.map((p) => (typeof p === "string" ? cel(p) : p.expression)).join(" + ");
}

// --- YAML --------------------------------------------------------------------------------

/** Why failurePolicy is what it is, by webhook configuration (`ignore`: for either). */
export const FAIL_COMMENT = {
  validate: [
    "failurePolicy Fail: a CA reference this server did not check must not be admitted silently:",
    "with Ignore, an outage lets a broken or cross-namespace CA through and the user learns of it",
    "only when a controller's condition turns False. Only the rule table's kinds and labelled",
    "Secrets are sent here, never kube-system, kube-node-lease or our own namespace, so an outage",
    "cannot lock the cluster or ourselves; 2 replicas and a PodDisruptionBudget keep it rare, and",
    "the ValidatingAdmissionPolicy keeps the namespace rule even then.",
  ],
  mutate: [
    "failurePolicy Fail: with Ignore, an outage admits opted-in Pods without the CA and they fail",
    "TLS at run time with no admission error and no event (aws/containers-roadmap#2874). Only",
    "opted-in Pods are sent, never from kube-system, kube-node-lease or our own namespace, so our",
    "own Pods and the control plane always start; 2 replicas and a PodDisruptionBudget keep it rare.",
  ],
  ignore: [
    "failurePolicy Ignore (chosen with --failure-policy, or the chart's failurePolicy): while this",
    "server is unreachable, requests are admitted unchecked (the ValidatingAdmissionPolicy still",
    "enforces the namespace rule) and opted-in Pods start without the CA.",
  ],
  guard: [
    "failurePolicy Ignore and a 2 s timeout, always: Secret and ConfigMap writes must never depend",
    "on this server's availability (certificate renewals, trust-manager, Helm releases and",
    "namespace deletion write them). The answer comes from memory in microseconds, so the",
    "timeout only bounds a stuck connection; while the server is unreachable a broken CA Secret",
    "or CA ConfigMap is admitted, and `ca-trust-webhook scan` finds it.",
  ],
};

/**
 * Multi-document YAML of `renderManifests`, with the reasoning as comments (a header naming the
 * generator, and why failurePolicy is what it is). Stable: the checked-in copies in deploy/
 * are compared with it byte for byte.
 */
export function renderManifestsYaml(
  config: ManifestConfig,
  options: Partial<ManifestOptions> = {},
): string {
  const o: ManifestOptions = { ...DEFAULT_MANIFEST_OPTIONS, ...options };
  return manifestsYaml(renderManifests(config, o), {
    header:
      o.only === "self-managed"
        ? "Generated by `ca-trust-webhook manifests --only self-managed` (src/manifests.ts).\nDo not edit: regenerate (deploy/README.md)."
        : "Generated by `ca-trust-webhook manifests` from the rule table (src/policy/rules.ts).\nDo not edit: regenerate (deploy/README.md).",
    failurePolicy: o.failurePolicy,
    selfManaged: o.only === "self-managed",
  });
}

/**
 * Objects as multi-document YAML with the reasoning as comments: `header` above each
 * document, why failurePolicy is what it is, and what each policy part does (`selfManaged`:
 * the objects are the self-managed policy).
 */
export function manifestsYaml(
  objects: readonly Manifest[],
  options: { header: string; failurePolicy: "Fail" | "Ignore"; selfManaged: boolean },
): string {
  const o = options;
  return objects
    .map((object) => {
      const doc = new Document(object, { aliasDuplicateObjects: false });
      doc.commentBefore = o.header
        .split("\n")
        .map((line) => ` ${line}`)
        .join("\n");
      const webhooks = doc.get("webhooks", true);
      if (isSeq(webhooks)) {
        for (const webhook of webhooks.items) {
          if (!isMap(webhook)) continue;
          const name = webhook.get("name");
          const lines =
            name === WEBHOOK_NAMES.referencedSecrets || name === WEBHOOK_NAMES.caConfigMaps
              ? FAIL_COMMENT.guard
              : o.failurePolicy === "Ignore"
                ? FAIL_COMMENT.ignore
                : object.kind === "MutatingWebhookConfiguration"
                  ? FAIL_COMMENT.mutate
                  : FAIL_COMMENT.validate;
          commentKey(webhook, "failurePolicy", lines);
        }
      }
      if (object.kind === "ClusterRole") {
        commentKey(doc.contents as YAMLMap, "rules", [
          "list and watch of the rule table's kinds only, never Secrets: the server keeps, per",
          "object, the names and keys its CA references point at (the Secret guard's index).",
        ]);
      }
      if (object.kind === "ValidatingAdmissionPolicy" && o.selfManaged) {
        const spec = doc.get("spec", true) as YAMLMap;
        commentKey(spec, "failurePolicy", [
          "Fail: if the policy cannot be evaluated, our ServiceAccount's write is refused (it retries).",
        ]);
        commentKey(spec, "matchConditions", [
          "Only requests by our own ServiceAccount: RBAC says which objects it may write, this",
          "policy says what it may write into them (src/manifests.ts selfManagedPolicy).",
        ]);
        commentKey(spec, "validations", [
          "1. no webhook configuration created or deleted, no Secret deleted;",
          "2. only our certificate Secret and our webhook configurations, by name;",
          "3. a Secret it creates is Opaque (never a kubernetes.io/service-account-token);",
          "4. an update of a webhook configuration changes clientConfig.caBundle and nothing else.",
        ]);
      } else if (object.kind === "ValidatingAdmissionPolicy") {
        const spec = doc.get("spec", true) as YAMLMap;
        commentKey(spec, "failurePolicy", [
          "Fail: an expression that cannot be evaluated denies (it is generated and tested, so this",
          "means a schema this policy was not written for).",
        ]);
        commentKey(spec, "matchConditions", [
          "Objects being deleted are never blocked: a finalizer removal must always go through.",
        ]);
        commentKey(spec, "validations", [
          "The webhook's namespace rules as CEL, enforced by the apiserver even while our server is",
          "down. An UPDATE that leaves the namespace field as it was is allowed (ratcheting).",
        ]);
      }
      return doc.toString({ lineWidth: 0 });
    })
    .join("---\n");
}

function commentKey(map: YAMLMap, key: string, lines: readonly string[]): void {
  for (const pair of map.items) {
    if (isScalar(pair.key) && pair.key.value === key) {
      pair.key.commentBefore = lines.map((l) => ` ${l}`).join("\n");
    }
  }
}

// --- Helm values -------------------------------------------------------------------------

/**
 * `ca-trust-webhook manifests --config FILE --helm-values`: a values file for the chart with the
 * config file's rules and the registration derived from them (plus the built-in rules). The
 * chart places `registration` and refuses `rules` whose digest it does not match, so the
 * registration the apiserver gets is always this module's. Written in YAML 1.1 quoting: helm
 * reads values as YAML 1.1, where unquoted `yes`, `on` or `Y` are booleans.
 */
export function renderHelmValues(config: Pick<DecisionSettings, "rules">): string {
  const doc = new Document(
    { rules: config.rules, registration: deriveRegistration(config.rules) },
    { version: "1.1", aliasDuplicateObjects: false },
  );
  doc.commentBefore = [
    " Generated by `ca-trust-webhook manifests --config FILE --helm-values`: the rules of FILE and",
    " the registration derived from them and the built-in rules. Pass it to helm with -f. Do not",
    ' edit: change FILE and regenerate (README "Rules for your own CRDs"); the chart refuses rules',
    " whose registration does not match them.",
  ].join("\n");
  return doc.toString({ lineWidth: 0 });
}
