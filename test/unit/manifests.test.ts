/**
 * The registration derived from the rule table (src/manifests.ts): every generated file under
 * deploy/ (the kustomize copies, the Helm chart's templates, its built-in registration and
 * values.schema.json) is exactly what scripts/generate-deploy.ts writes, every
 * group/version/resource of every rule is registered once, the two Pod webhooks never both
 * match one Pod, the chart's registration data and its digests, and the CLI's exit codes. The
 * CEL itself, and the chart rendered by helm, are exercised in test/e2e/deploy.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments, stringify } from "yaml";
import { generatedFiles, VALUES_SCHEMA, valuesSchema } from "../../scripts/generate-deploy.js";
import { manifestsCommand } from "../../src/cli/manifests.js";
import { DEFAULT_INJECTION_SETTINGS } from "../../src/inject/settings.js";
import {
  ALLOWED_NAMESPACES_PLACEHOLDER,
  deriveRegistration,
  goJson,
  type Manifest,
  POLICY_NAME,
  policyValidations,
  renderHelmValues,
  renderManifests,
  renderManifestsYaml,
  rulesDigest,
  SYSTEM_NAMESPACES,
  TRUSTED_NAMESPACES_PLACEHOLDER,
  WEBHOOK_NAMES,
} from "../../src/manifests.js";
import { issueCertificate } from "../../src/pki/issue.js";
import { crossNamespaceDetail, notAllowedDetail } from "../../src/policy/engine.js";
import { BUILTIN_RULES, parseRules, type ReferenceRule } from "../../src/policy/rules.js";

const ROOT = join(import.meta.dirname, "..", "..");
const NO_CONFIG = { rules: [], allowedSecretNamespaces: [], trustedSecretNamespaces: [] };

/** Rules for a user's own CRDs, one of each shape (config file format). */
const USER_RULES = parseRules([
  {
    name: "widgets",
    apiGroups: ["example.com"],
    kinds: { Widget: "widgets", Gadget: "gadgets" },
    versions: ["v1", "v1beta1"],
    references: [
      {
        refs: ["spec.tls.caRef"],
        namespaceField: "namespace",
        keys: { mode: "fixed", key: "ca.crt" },
      },
    ],
  },
  {
    name: "cluster-widgets",
    apiGroups: ["example.com"],
    kinds: { ClusterWidget: "clusterwidgets" },
    scope: "Cluster",
    references: [
      { refs: ["spec.caRef"], namespaceField: "namespace", keys: { mode: "field", field: "key" } },
    ],
  },
  { name: "team-ca", type: "labelledSecret", label: "example.com/team-ca", value: "trusted" },
]);

interface Webhook {
  name: string;
  clientConfig: { service?: Record<string, unknown>; url?: string; caBundle?: string };
  rules: {
    apiGroups: string[];
    apiVersions: string[];
    resources: string[];
    operations: string[];
    scope: string;
  }[];
  matchConditions?: { name: string; expression: string }[];
  namespaceSelector?: Selector;
  objectSelector?: Selector;
  failurePolicy: string;
  matchPolicy: string;
  sideEffects: string;
  timeoutSeconds: number;
  admissionReviewVersions: string[];
  reinvocationPolicy?: string;
}
interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

function webhooks(list: Manifest[], kind: string): Webhook[] {
  const found = list.find((o) => o.kind === kind);
  if (found === undefined) throw new Error(`no ${kind}`);
  return found.webhooks as Webhook[];
}

/** A LabelSelector as the apiserver evaluates it (In/NotIn/Exists/DoesNotExist). */
function selects(selector: Selector | undefined, labels: Record<string, string>): boolean {
  if (selector === undefined) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {}))
    if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key] as string;
    if (e.operator === "In" && !(has && (e.values ?? []).includes(value))) return false;
    if (e.operator === "NotIn" && has && (e.values ?? []).includes(value)) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

describe("the generated files under deploy/", () => {
  it.each([...generatedFiles()].map(([path, text]) => ({ path, text })))(
    "$path is exactly what scripts/generate-deploy.ts writes",
    ({ path, text }) => {
      // On failure: npm run generate
      expect(readFileSync(join(ROOT, path), "utf8")).toBe(text);
    },
  );

  it("values.schema.json's rules and registration are the generated schemas", () => {
    // On failure: npm run generate
    const current = JSON.parse(readFileSync(join(ROOT, VALUES_SCHEMA), "utf8"));
    expect(current).toEqual(valuesSchema(current));
  });

  it.each([
    { file: "deploy/base/webhooks.yaml", only: "webhooks" as const },
    { file: "deploy/base/admission-policy.yaml", only: "vap" as const },
    { file: "deploy/overlays/self-managed/admission-policy.yaml", only: "self-managed" as const },
  ])("$file is exactly `ca-trust-webhook manifests --only $only`", ({ file, only }) => {
    // On failure: npm run build && node dist/src/main.js manifests --only <only> > <file>
    expect(readFileSync(join(ROOT, file), "utf8")).toBe(renderManifestsYaml(NO_CONFIG, { only }));
  });

  it("the chart's files/registration.yaml is the built-in rules' registration", () => {
    const file = join(ROOT, "deploy/helm/ca-trust-webhook/files/registration.yaml");
    expect(parse(readFileSync(file, "utf8"))).toEqual(deriveRegistration([]));
  });
});

describe("the registration as data (what the Helm chart places)", () => {
  it("names the rules it was derived from by digest: the built-in rules and the config file's", () => {
    const registration = deriveRegistration(USER_RULES);
    expect(registration.builtinRules).toBe(rulesDigest(BUILTIN_RULES));
    expect(registration.rules).toBe(rulesDigest(USER_RULES));
    // sha256 of "[]": what the chart computes for `rules: []`.
    expect(deriveRegistration([]).rules).toBe(
      "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
    );
  });

  it.each([
    { value: [], json: "[]" },
    { value: { b: 1, a: [true, "x"] }, json: '{"a":[true,"x"],"b":1}' },
    { value: { Widget: "w", "a-b": "c", B: "d" }, json: '{"B":"d","Widget":"w","a-b":"c"}' },
    { value: "<a & b>", json: '"\\u003ca \\u0026 b\\u003e"' },
    { value: "line\u2028sep\u2029", json: '"line\\u2028sep\\u2029"' },
    { value: 'quote " and \\', json: '"quote \\" and \\\\"' },
    { value: "é ü", json: '"é ü"' },
  ])("goJson($json) writes what Go's encoding/json writes", ({ value, json }) => {
    expect(goJson(value)).toBe(json);
  });

  it("renders the same objects as renderManifests from the data", () => {
    const registration = deriveRegistration(USER_RULES);
    const config = {
      rules: USER_RULES,
      allowedSecretNamespaces: ["a"],
      trustedSecretNamespaces: [{ rule: undefined, namespace: "t" }],
    };
    const objects = renderManifests(config);
    const validating = webhooks(objects, "ValidatingWebhookConfiguration");
    expect(validating[0]?.rules).toEqual(registration.webhookRules);
    expect(validating[1]?.matchConditions).toEqual(registration.labelledSecretConditions);
    const policy = objects.find((o) => o.kind === "ValidatingAdmissionPolicy") as Manifest;
    expect(policy.spec).toMatchObject({
      matchConstraints: { resourceRules: registration.policy.resourceRules },
      validations: policyValidations(registration.policy.validations, config),
    });
  });

  it("flags the allowed-namespace validations and fills in the list, or leaves them out", () => {
    const { validations } = deriveRegistration(USER_RULES).policy;
    const flagged = validations.filter((v) => v.allowedSecretNamespaces === true);
    // cluster-widgets' one spelling and the two OpenChoreo cluster-plane spellings.
    expect(flagged).toHaveLength(3);
    for (const v of flagged) expect(v.message).toContain(`"${ALLOWED_NAMESPACES_PLACEHOLDER}"`);
    const lists = (allowed: string[]) => ({
      allowedSecretNamespaces: allowed,
      trustedSecretNamespaces: [],
    });
    expect(policyValidations(validations, lists([]))).toHaveLength(validations.length - 3);
    const filled = policyValidations(validations, lists(["a", "b-c"]));
    expect(filled).toHaveLength(validations.length);
    expect(JSON.stringify(filled)).not.toContain(ALLOWED_NAMESPACES_PLACEHOLDER);
    expect(filled.some((v) => "allowedSecretNamespaces" in v)).toBe(false);
    const spelling = filled.find((v) => v.message.startsWith("spec.caRef.namespace: Forbidden"));
    expect(spelling?.message).toBe(
      'spec.caRef.namespace: Forbidden: must be one of "a", "b-c" (--allowed-secret-namespaces) or a namespace trusted with --trusted-secret-namespaces',
    );
    expect(spelling?.messageExpression).toBe(
      `'spec.caRef.namespace: Forbidden: must be one of "a", "b-c" (--allowed-secret-namespaces): put the CA Secret there, or have an administrator trust namespace "' + object.?spec.?caRef.?namespace.orValue('') + '" with --trusted-secret-namespaces=' + object.?spec.?caRef.?namespace.orValue('') + ' (or cluster-widgets=' + object.?spec.?caRef.?namespace.orValue('') + ' for this rule only)'`,
    );
    expect(spelling?.expression).toContain(
      "object.?spec.?caRef.?namespace.orValue('') in ['', 'a', 'b-c']",
    );
  });

  it("fills in the namespaces trusted for each validation's rule (every rule's and its own), or an empty list", () => {
    const { validations } = deriveRegistration(USER_RULES).policy;
    const withTrust = (trusted: { rule: string | undefined; namespace: string }[]) =>
      policyValidations(validations, {
        allowedSecretNamespaces: [],
        trustedSecretNamespaces: trusted,
      });
    const dataPlane = (filled: ReturnType<typeof withTrust>) =>
      filled.find((v) =>
        v.message.startsWith("spec.clusterAgent.clientCA.secretKeyRef.namespace: Forbidden"),
      )?.expression;

    expect(dataPlane(withTrust([]))).toContain(
      "object.?spec.?clusterAgent.?clientCA.?secretKeyRef.?namespace.orValue('') in []",
    );
    expect(
      dataPlane(
        withTrust([
          { rule: undefined, namespace: "shared" },
          { rule: "openchoreo-planes", namespace: "openchoreo-control-plane" },
          { rule: "kcp-operator", namespace: "kcp-pki" },
          { rule: undefined, namespace: "shared" },
        ]),
      ),
    ).toContain(
      "object.?spec.?clusterAgent.?clientCA.?secretKeyRef.?namespace.orValue('') in ['shared', 'openchoreo-control-plane']",
    );
    expect(JSON.stringify(withTrust([]))).not.toContain(TRUSTED_NAMESPACES_PLACEHOLDER);
    expect(withTrust([]).some((v) => "trustedFor" in v)).toBe(false);
  });

  it("the policy's messages are the webhook's, word for word, with the object's values from CEL", () => {
    const filled = policyValidations(deriveRegistration([]).policy.validations, {
      allowedSecretNamespaces: ["platform"],
      trustedSecretNamespaces: [],
    });
    const ref = "object.?spec.?clusterAgent.?clientCA.?secretKeyRef.?namespace.orValue('')";
    const values: Record<string, string> = {
      "request.kind.kind": "DataPlane",
      "request.namespace": "default",
      [ref]: "openchoreo-control-plane",
    };
    const path = "spec.clusterAgent.clientCA.secretKeyRef.namespace";
    const message = (start: string) =>
      evaluateConcat(
        filled.find((v) => v.message.startsWith(start))?.messageExpression ?? "",
        values,
      );

    expect(message(`${path}: Forbidden: must be the object's`)).toBe(
      `${path}: Forbidden: ${crossNamespaceDetail("openchoreo-planes", "DataPlane", "default", "openchoreo-control-plane")}`,
    );
    expect(message(`${path}: Forbidden: must be one of`)).toBe(
      `${path}: Forbidden: ${notAllowedDetail("openchoreo-cluster-planes", ["platform"], "openchoreo-control-plane")}`,
    );
    expect(message(`${path}: Required value`)).toBe(
      `${path}: Required value: a cluster-scoped DataPlane must name the CA Secret's namespace`,
    );
  });

  it("--helm-values writes the rules and their registration, quoted for helm's YAML 1.1", () => {
    const rules = parseRules([
      {
        name: "y",
        apiGroups: ["example.com"],
        kinds: { Y: "ys", On: "ons" },
        references: [{ refs: ["spec.caRef"], keys: { mode: "eligible" } }],
      },
      { name: "yes", type: "labelledSecret", label: "example.com/ca", value: "yes" },
    ]);
    const text = renderHelmValues({ rules });
    // YAML 1.1 (helm) reads unquoted Y, On and yes as booleans.
    expect(text).toMatch(/^ {6}"Y": ys$/m);
    expect(text).toMatch(/^ {6}"On": ons$/m);
    expect(text).toMatch(/^ {4}value: "yes"$/m);
    const values = parse(text, { version: "1.1" }) as Record<string, unknown>;
    expect(values).toEqual({ rules, registration: deriveRegistration(rules) });
  });
});

describe("ValidatingWebhookConfiguration", () => {
  const rules = [...BUILTIN_RULES, ...USER_RULES];
  const rendered = webhooks(
    renderManifests({ ...NO_CONFIG, rules: USER_RULES }),
    "ValidatingWebhookConfiguration",
  );
  const references = rendered.find((w) => w.name === WEBHOOK_NAMES.references) as Webhook;
  const secrets = rendered.find((w) => w.name === WEBHOOK_NAMES.labelledSecrets) as Webhook;

  const expected = rules
    .filter((r): r is ReferenceRule => r.type === "reference")
    .flatMap((r) =>
      r.apiGroups.flatMap((g) =>
        r.versions.flatMap((v) =>
          Object.values(r.kinds).map((res) => ({ g, v, res, scope: r.scope })),
        ),
      ),
    );
  it.each(expected)(
    "$g/$v $res ($scope) is registered exactly once, CREATE and UPDATE",
    ({ g, v, res, scope }) => {
      const matches = references.rules.filter(
        (r) => r.apiGroups.includes(g) && r.apiVersions.includes(v) && r.resources.includes(res),
      );
      expect(matches).toEqual([
        {
          apiGroups: [g],
          apiVersions: [v],
          operations: ["CREATE", "UPDATE"],
          resources: [res],
          scope,
        },
      ]);
    },
  );

  it("registers nothing else, and never a subresource", () => {
    expect(references.rules).toHaveLength(expected.length);
    expect(references.rules.flatMap((r) => r.resources).filter((r) => r.includes("/"))).toEqual([]);
  });

  it("sends only Secrets carrying one of the labelled-Secret rules' labels (CEL matchConditions)", () => {
    expect(secrets.rules).toEqual([
      {
        apiGroups: [""],
        apiVersions: ["v1"],
        operations: ["CREATE", "UPDATE"],
        resources: ["secrets"],
        scope: "Namespaced",
      },
    ]);
    expect(secrets.matchConditions).toEqual([
      {
        name: "labelled-ca-secret",
        expression:
          "has(object.metadata.labels) && (('connectors.cpaas.io/ca-cert' in object.metadata.labels && object.metadata.labels['connectors.cpaas.io/ca-cert'] == 'true') || ('example.com/team-ca' in object.metadata.labels && object.metadata.labels['example.com/team-ca'] == 'trusted'))",
      },
    ]);
  });
});

describe("settings every webhook shares", () => {
  const all = (options: Parameters<typeof renderManifests>[1]) => {
    const list = renderManifests(NO_CONFIG, options);
    return [
      ...webhooks(list, "ValidatingWebhookConfiguration"),
      ...webhooks(list, "MutatingWebhookConfiguration"),
    ];
  };
  const guards: string[] = [WEBHOOK_NAMES.referencedSecrets, WEBHOOK_NAMES.caConfigMaps];
  it.each(
    all({})
      .filter((w) => !guards.includes(w.name))
      .map((w) => [w.name, w] as const),
  )("%s: v1 reviews, no side effects, 5 s, Equivalent, Fail", (_, w) => {
    expect(w).toMatchObject({
      admissionReviewVersions: ["v1"],
      sideEffects: "None",
      timeoutSeconds: 5,
      matchPolicy: "Equivalent",
      failurePolicy: "Fail",
    });
    expect(w.namespaceSelector?.matchExpressions).toContainEqual({
      key: "kubernetes.io/metadata.name",
      operator: "NotIn",
      values: [...SYSTEM_NAMESPACES, "ca-trust-system"],
    });
  });

  it.each([
    {
      name: "a Service (default)",
      options: {},
      validate: {
        service: {
          name: "ca-trust-webhook",
          namespace: "ca-trust-system",
          port: 443,
          path: "/validate",
        },
      },
    },
    {
      name: "another Service, namespace and port",
      options: { service: "hook", namespace: "sec", port: 8443 },
      validate: { service: { name: "hook", namespace: "sec", port: 8443, path: "/validate" } },
    },
    {
      name: "a URL (trailing slash dropped)",
      options: { url: "https://10.0.0.1:9443/" },
      validate: { url: "https://10.0.0.1:9443/validate" },
    },
    {
      name: "a caBundle, base64 of the PEM",
      options: { caBundle: "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n" },
      validate: {
        service: {
          name: "ca-trust-webhook",
          namespace: "ca-trust-system",
          port: 443,
          path: "/validate",
        },
        caBundle: Buffer.from(
          "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n",
        ).toString("base64"),
      },
    },
  ])("clientConfig for $name", ({ options, validate }) => {
    const list = all(options);
    const named = (name: string) => list.find((w) => w.name === name)?.clientConfig;
    expect(named(WEBHOOK_NAMES.references)).toEqual(validate);
    for (const name of [WEBHOOK_NAMES.namespaceOptIn, WEBHOOK_NAMES.podOptIn]) {
      expect(JSON.stringify(named(name))).toBe(
        JSON.stringify(validate).replace("/validate", "/mutate"),
      );
    }
    for (const name of guards) {
      expect(JSON.stringify(named(name))).toBe(
        JSON.stringify(validate).replace("/validate", "/guard"),
      );
    }
  });

  it.each(["Fail", "Ignore"] as const)(
    "the guard's webhooks are failurePolicy Ignore with a 2 s timeout, whatever --failure-policy (%s)",
    (failurePolicy) => {
      const guard = all({ failurePolicy }).filter((w) => guards.includes(w.name));
      expect(guard.map((w) => w.name)).toEqual(guards);
      for (const w of guard) {
        expect(w).toMatchObject({
          admissionReviewVersions: ["v1"],
          sideEffects: "None",
          timeoutSeconds: 2,
          failurePolicy: "Ignore",
          rules: [
            {
              apiGroups: [""],
              apiVersions: ["v1"],
              operations: ["UPDATE", "DELETE"],
              scope: "Namespaced",
            },
          ],
        });
        expect(w.namespaceSelector?.matchExpressions).toContainEqual({
          key: "kubernetes.io/metadata.name",
          operator: "NotIn",
          values: [...SYSTEM_NAMESPACES, "ca-trust-system"],
        });
      }
    },
  );

  it("the CA ConfigMap guard selects opted-in namespaces and the configured ConfigMap name only", () => {
    const list = renderManifests(
      {
        ...NO_CONFIG,
        injection: {
          customCa: { ...DEFAULT_INJECTION_SETTINGS.customCa, configMapName: "corp-roots" },
        },
      },
      {},
    );
    const w = webhooks(list, "ValidatingWebhookConfiguration").find(
      (x) => x.name === WEBHOOK_NAMES.caConfigMaps,
    );
    expect(w?.namespaceSelector?.matchLabels).toEqual({ "ca-trust.dev/inject": "enabled" });
    expect(w?.matchConditions).toEqual([
      { name: "injection-ca-configmap", expression: "request.name == 'corp-roots'" },
    ]);
  });

  it("--failure-policy Ignore reaches every webhook, not the policy", () => {
    expect(new Set(all({ failurePolicy: "Ignore" }).map((w) => w.failurePolicy))).toEqual(
      new Set(["Ignore"]),
    );
    const policy = renderManifests(NO_CONFIG, {
      failurePolicy: "Ignore",
      only: "vap",
    })[0] as Manifest;
    expect((policy.spec as { failurePolicy: string }).failurePolicy).toBe("Fail");
  });
});

describe("the reference index's ClusterRole (list/watch of the rule table's kinds)", () => {
  const role = (rules: readonly ReferenceRule[]) =>
    renderManifests(
      { rules, allowedSecretNamespaces: [], trustedSecretNamespaces: [] },
      { only: "rbac" },
    );

  it("grants list and watch of every resource of the reference rules, one rule per group, and nothing else", () => {
    const [clusterRole, binding] = role(USER_RULES.filter((r) => r.type === "reference"));
    const granted = (
      (clusterRole?.rules ?? []) as { apiGroups: string[]; resources: string[]; verbs: string[] }[]
    )
      .flatMap((r) => r.resources.map((res) => `${res}.${r.apiGroups.join()} ${r.verbs.join()}`))
      .sort();
    const expected = [...BUILTIN_RULES, ...USER_RULES]
      .filter((r): r is ReferenceRule => r.type === "reference")
      .flatMap((r) =>
        r.apiGroups.flatMap((g) => Object.values(r.kinds).map((res) => `${res}.${g} list,watch`)),
      );
    expect(granted).toEqual([...new Set(expected)].sort());
    expect(granted.some((g) => g.startsWith("secrets."))).toBe(false);
    expect(binding).toMatchObject({
      kind: "ClusterRoleBinding",
      roleRef: { kind: "ClusterRole", name: "ca-trust-webhook-references" },
      subjects: [
        { kind: "ServiceAccount", name: "ca-trust-webhook", namespace: "ca-trust-system" },
      ],
    });
  });

  it("binds the ServiceAccount of --namespace and --service-account", () => {
    const [, binding] = renderManifests(NO_CONFIG, {
      only: "rbac",
      namespace: "sec",
      serviceAccount: "hook",
    });
    expect(binding?.subjects).toEqual([{ kind: "ServiceAccount", name: "hook", namespace: "sec" }]);
  });
});

describe("MutatingWebhookConfiguration for Pods", () => {
  const pods = webhooks(renderManifests(NO_CONFIG), "MutatingWebhookConfiguration");

  it("both webhooks take Pod CREATE only and may be reinvoked", () => {
    for (const w of pods) {
      expect(w.rules).toEqual([
        {
          apiGroups: [""],
          apiVersions: ["v1"],
          operations: ["CREATE"],
          resources: ["pods"],
          scope: "Namespaced",
        },
      ]);
      expect(w.reinvocationPolicy).toBe("IfNeeded");
    }
  });

  const label = fc.constantFrom(undefined, "enabled", "true", "false", "disabled");
  const namespace = fc.constantFrom("team-a", "kube-system", "kube-node-lease", "ca-trust-system");
  it("a Pod is sent at most once, and exactly when the opt-in labels say so", () => {
    fc.assert(
      fc.property(namespace, label, label, (ns, nsLabel, podLabel) => {
        const nsLabels: Record<string, string> = { "kubernetes.io/metadata.name": ns };
        if (nsLabel !== undefined) nsLabels["ca-trust.dev/inject"] = nsLabel;
        const podLabels: Record<string, string> =
          podLabel === undefined ? {} : { "ca-trust.dev/inject": podLabel };
        const sent = pods.filter(
          (w) => selects(w.namespaceSelector, nsLabels) && selects(w.objectSelector, podLabels),
        );
        const excluded = ["kube-system", "kube-node-lease", "ca-trust-system"].includes(ns);
        const optedIn = podLabel !== "false" && (nsLabel === "enabled" || podLabel === "true");
        expect(sent.length).toBe(!excluded && optedIn ? 1 : 0);
      }),
    );
  });
});

describe("ValidatingAdmissionPolicy", () => {
  const [policy, binding] = renderManifests(
    { rules: USER_RULES, allowedSecretNamespaces: ["platform-cas"], trustedSecretNamespaces: [] },
    { only: "vap" },
  ) as [Manifest, Manifest];
  const spec = policy.spec as {
    matchConstraints: { resourceRules: { apiGroups: string[]; resources: string[] }[] };
    validations: { expression: string; reason: string; message: string }[];
  };
  const resources = spec.matchConstraints.resourceRules.map(
    (r) => `${r.apiGroups[0]}/${r.resources[0]}`,
  );

  it("binds the policy to deny", () => {
    expect(binding).toMatchObject({
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name: POLICY_NAME },
      spec: { policyName: POLICY_NAME, validationActions: ["Deny"] },
    });
  });

  it.each([
    {
      what: "OpenChoreo planes (both groups)",
      resource: "core.openchoreo.dev/dataplanes",
      matched: true,
    },
    { what: "cluster-scoped planes", resource: "openchoreo.dev/clusterdataplanes", matched: true },
    { what: "a user rule", resource: "example.com/widgets", matched: true },
    {
      what: "kcp (no namespace field to check)",
      resource: "operator.kcp.io/shards",
      matched: false,
    },
    {
      what: "Connectors (feature-gated)",
      resource: "connectors.alauda.io/connectors",
      matched: false,
    },
  ])("matches $what: $matched", ({ resource, matched }) => {
    expect(resources.includes(resource)).toBe(matched);
  });

  it.each([
    {
      reason: "Forbidden",
      message:
        /^spec\.clusterAgent\.clientCA\.secretKeyRef\.namespace: Forbidden: must be the object's/,
    },
    {
      reason: "Forbidden",
      message:
        /^spec\.clusterAgent\.clientCA\.secretRef\.namespace: Forbidden: must be the object's/,
    },
    {
      reason: "Forbidden",
      message: /^spec\.clusterAgent\.clientCA\.secretKeyRef\.namespace: Required value: /,
    },
    {
      reason: "Forbidden",
      message: /^spec\.tls\.caRef\.namespace: Forbidden: must be the object's/,
    },
    { reason: "Forbidden", message: /^spec\.caRef\.namespace: Required value: / },
    {
      reason: "Forbidden",
      message: /^spec\.caRef\.namespace: Forbidden: must be one of "platform-cas" \(/,
    },
    {
      reason: "Forbidden",
      message:
        /^spec\.clusterAgent\.clientCA\.secretKeyRef\.namespace: Forbidden: must be one of "platform-cas" \(/,
    },
  ])("has a validation $reason at $message", ({ reason, message }) => {
    expect(
      spec.validations.filter((v) => v.reason === reason && message.test(v.message)),
    ).toHaveLength(1);
  });

  it("with the built-in rules alone, renders the policy and its binding", () => {
    const builtIn = renderManifests(NO_CONFIG, { only: "vap" });
    expect(builtIn.map((o) => o.kind)).toEqual([
      "ValidatingAdmissionPolicy",
      "ValidatingAdmissionPolicyBinding",
    ]);
  });
});

describe("`ca-trust-webhook manifests` (CLI)", () => {
  const dir = mkdtempSync(join(tmpdir(), "ca-trust-manifests-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const kinds = (yaml: string) => parseAllDocuments(yaml).map((d) => (d.toJS() as Manifest).kind);

  it.each([
    { name: "no options: all six objects", args: [], code: 0, kinds: 6 },
    { name: "--only webhooks", args: ["--only", "webhooks"], code: 0, kinds: 2 },
    { name: "--only rbac", args: ["--only", "rbac"], code: 0, kinds: 2 },
    { name: "--only vap", args: ["--only", "vap"], code: 0, kinds: 2 },
    { name: "--only self-managed", args: ["--only", "self-managed"], code: 0, kinds: 2 },
    {
      name: "--service-account not a name",
      args: ["--only", "self-managed", "--service-account", "a/b"],
      code: 2,
      kinds: 0,
    },
    {
      name: "--certificate-secret not a name",
      args: ["--only", "self-managed", "--certificate-secret", "Certs!"],
      code: 2,
      kinds: 0,
    },
    { name: "--help", args: ["--help"], code: 0, kinds: 0 },
    { name: "an unknown flag", args: ["--bogus"], code: 2, kinds: 0 },
    { name: "--only other", args: ["--only", "crds"], code: 2, kinds: 0 },
    { name: "--failure-policy other", args: ["--failure-policy", "Maybe"], code: 2, kinds: 0 },
    { name: "--url over http", args: ["--url", "http://x:9443"], code: 2, kinds: 0 },
    { name: "--url with a query", args: ["--url", "https://x:9443/?a=b"], code: 2, kinds: 0 },
    { name: "--namespace not a name", args: ["--namespace", "Not_A_Name"], code: 2, kinds: 0 },
    { name: "--port 0", args: ["--port", "0"], code: 2, kinds: 0 },
    {
      name: "a missing --ca-bundle-file",
      args: ["--ca-bundle-file", "/nonexistent/ca.crt"],
      code: 2,
      kinds: 0,
    },
    {
      name: "a missing --config",
      args: ["--config", "/nonexistent/config.yaml"],
      code: 2,
      kinds: 0,
    },
  ])("$name: exit $code", ({ args, code, kinds: count }) => {
    const result = manifestsCommand(args, {});
    expect(result.code).toBe(code);
    expect(result.stderr === "").toBe(code === 0);
    if (count > 0) expect(kinds(result.stdout)).toHaveLength(count);
  });

  it("--only self-managed names the ServiceAccount, Secret and configurations it is given, and only them", () => {
    const result = manifestsCommand(
      [
        "--only",
        "self-managed",
        "--namespace",
        "trust",
        "--service-account",
        "webhook-sa",
        "--certificate-secret",
        "webhook-certs",
        "--webhook-configuration",
        "trust-webhook",
      ],
      {},
    );
    expect(result.code).toBe(0);
    const [policy, binding] = parseAllDocuments(result.stdout).map((d) => d.toJS() as Manifest);
    const spec = policy?.spec as {
      matchConditions: { expression: string }[];
      validations: { expression: string }[];
    };
    expect(spec.matchConditions[0]?.expression).toBe(
      "request.userInfo.username == 'system:serviceaccount:trust:webhook-sa'",
    );
    expect(spec.validations[1]?.expression).toContain(
      "request.namespace == 'trust' && object.metadata.name == 'webhook-certs' : object.metadata.name == 'trust-webhook'",
    );
    expect(result.stdout).not.toContain("ca-trust-system");
    expect(binding?.spec).toEqual({
      policyName: "ca-trust-webhook-self-managed",
      validationActions: ["Deny"],
    });
  });

  it("a --ca-bundle-file without a certificate is a usage error", () => {
    const result = manifestsCommand(["--ca-bundle-file", file("not-pem.crt", "hello\n")], {});
    expect(result.code).toBe(2);
  });

  it("--ca-bundle-file puts the CA into every webhook", async () => {
    const ca = await issueCertificate({
      commonName: "manifests test CA",
      isCA: true,
      notBefore: new Date(Date.now() - 3_600_000),
      notAfter: new Date(Date.now() + 86_400_000),
    });
    const result = manifestsCommand(
      ["--ca-bundle-file", file("ca.crt", ca.certificatePem), "--only", "webhooks"],
      {},
    );
    expect(result.code).toBe(0);
    const bundles = parseAllDocuments(result.stdout).flatMap((d) =>
      ((d.toJS() as { webhooks: Webhook[] }).webhooks ?? []).map((w) => w.clientConfig.caBundle),
    );
    expect(new Set(bundles)).toEqual(new Set([Buffer.from(ca.certificatePem).toString("base64")]));
  });

  it("--config adds the file's rules to the registration", () => {
    const config = file(
      "config.yaml",
      stringify({
        rules: [
          {
            name: "w",
            apiGroups: ["example.com"],
            kinds: { Widget: "widgets" },
            references: [{ refs: ["spec.caRef"], keys: { mode: "eligible" } }],
          },
        ],
      }),
    );
    const result = manifestsCommand(["--config", config, "--only", "webhooks"], {});
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("- widgets");
  });

  it("--config with an invalid rule is a usage error", () => {
    const config = file("bad.yaml", stringify({ rules: [{ name: "w", kinds: {} }] }));
    expect(manifestsCommand(["--config", config], {}).code).toBe(2);
  });

  it.each([[], ["--helm-values"]])(
    "--config with a misspelt key %j: exit 2 with the path and the key that was meant",
    (...extra) => {
      const config = file(
        "typo.yaml",
        stringify({
          rules: [
            {
              name: "w",
              apiGroups: ["example.com"],
              kinds: { Widget: "widgets" },
              references: [
                { refs: ["spec.caRef"], namespaceFeild: "namespace", keys: { mode: "eligible" } },
              ],
            },
          ],
        }),
      );
      const result = manifestsCommand(["--config", config, ...extra.flat()], {});
      expect(result.code).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr).toContain(
        "rules[0].references[0].namespaceFeild: unknown key (did you mean namespaceField?)",
      );
    },
  );

  it("--helm-values prints the values file for the rules of --config", () => {
    const config = file(
      "helm.yaml",
      stringify({
        rules: [
          {
            name: "w",
            apiGroups: ["example.com"],
            kinds: { Widget: "widgets" },
            references: [{ refs: ["spec.caRef"], keys: { mode: "eligible" } }],
          },
        ],
      }),
    );
    const result = manifestsCommand(["--config", config, "--helm-values"], {});
    expect(result.code).toBe(0);
    const values = parse(result.stdout, { version: "1.1" }) as {
      rules: { name: string }[];
      registration: { webhookRules: { resources: string[] }[] };
    };
    expect(values.rules.map((r) => r.name)).toEqual(["w"]);
    expect(values.registration.webhookRules.flatMap((r) => r.resources)).toContain("widgets");
  });
});

/**
 * A messageExpression as generated (`'text' + expression + 'text'`) evaluated with the given
 * values of its expressions: enough CEL to read back what the apiserver will print.
 */
function evaluateConcat(expression: string, values: Record<string, string>): string {
  let out = "";
  let at = 0;
  while (at < expression.length) {
    if (expression[at] === "'") {
      let literal = "";
      at++;
      while (expression[at] !== "'") {
        if (expression[at] === "\\") at++;
        literal += expression[at];
        at++;
        if (at >= expression.length) throw new Error(`unterminated literal in ${expression}`);
      }
      out += literal;
      at++;
    } else {
      const next = expression.indexOf(" + '", at);
      const part = expression.slice(at, next === -1 ? undefined : next).trim();
      const value = values[part];
      if (value === undefined) throw new Error(`no value for ${part}`);
      out += value;
      at = next === -1 ? expression.length : next;
    }
    if (expression.startsWith(" + ", at)) at += 3;
  }
  return out;
}
