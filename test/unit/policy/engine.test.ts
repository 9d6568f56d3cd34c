import { beforeAll, describe, expect, it } from "vitest";
import type { AdmissionRequest, KubeObject, Operation } from "../../../src/core/types.js";
import type { ClusterView } from "../../../src/core/view.js";
import { MemoryClusterView } from "../../../src/kube/memory.js";
import { decideValidation, type PolicySettings } from "../../../src/policy/engine.js";
import { BUILTIN_RULES, parseRules } from "../../../src/policy/rules.js";
import { NOW, type PkiFixtures, pkiFixtures } from "../../fixtures/pki/certificates.js";

let pki: PkiFixtures;
beforeAll(async () => {
  pki = await pkiFixtures();
});

const SETTINGS: PolicySettings = {
  rules: BUILTIN_RULES,
  systemNamespace: "connectors-system",
  missingSecret: "warn",
  allowedSecretNamespaces: [],
  trustedSecretNamespaces: [],
  unverifiable: "deny",
  authorizeReferences: true,
  secretNamespaces: [],
  expiringWithinDays: 30,
};

const b64 = (text: string) => Buffer.from(text).toString("base64");

/** The cluster every scenario starts from; the PEM is generated, so it is built lazily. */
function cluster(flag = true): MemoryClusterView {
  const view = new MemoryClusterView()
    .addConfigMap({
      namespace: "connectors-system",
      name: "connectors-config",
      data: { "enable-custom-ca-certs": flag ? "true" : "false" },
    })
    .addSecret({
      namespace: "acme",
      name: "agent-ca",
      data: { "ca.crt": b64(pki.root.certificatePem), "tls.key": b64("secret") },
    })
    .addSecret({
      namespace: "platform",
      name: "agent-ca",
      data: { "ca.crt": b64(pki.root.certificatePem) },
    })
    .addSecret({
      namespace: "acme",
      name: "broken",
      data: {
        "ca.crt": b64("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"),
      },
    })
    .addSecret({
      namespace: "acme",
      name: "with-key",
      data: { "ca.crt": b64(pki.root.certificatePem + pki.keys.pkcs8) },
    })
    .addSecret({
      namespace: "acme",
      name: "expiring",
      data: { "ca.crt": b64(pki.expiringIn10Days.certificatePem) },
    })
    .addSecret({
      namespace: "acme",
      name: "kcp-ca",
      data: { "tls.crt": b64(pki.root.certificatePem) },
    })
    .addSecret({
      namespace: "acme",
      name: "only-ca-crt",
      data: { "ca.crt": b64(pki.root.certificatePem) },
    })
    .addSecret({
      namespace: "acme",
      name: "connector-ca",
      data: {
        "ca.pem": b64(pki.root.certificatePem),
        token: b64("not a certificate at all"),
        password: b64("hunter2"),
      },
    })
    .addSecret({
      namespace: "acme",
      name: "connector-bad-eligible",
      data: { "ca.crt": b64(pki.root.certificatePem), "extra.pem": b64("garbage") },
    })
    .addSecret({ namespace: "acme", name: "connector-nothing", data: { token: b64("abc") } });
  const tls = (name: string, data: Record<string, string>, type = "kubernetes.io/tls") =>
    view.addSecret({
      namespace: "acme",
      name,
      type,
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
    });
  // kcp's signing CA Secrets (certificates.caSecretRef): tls.crt and its tls.key.
  tls("kcp-signing", { "tls.crt": pki.root.certificatePem, "tls.key": pki.root.privateKeyPem });
  tls("kcp-signing-chain", {
    "tls.crt": pki.intermediate.certificatePem + pki.root.certificatePem,
    "tls.key": pki.intermediate.privateKeyPem,
  });
  tls("kcp-signing-wrong-key", {
    "tls.crt": pki.root.certificatePem,
    "tls.key": pki.intermediate.privateKeyPem,
  });
  tls("kcp-signing-leaf", {
    "tls.crt": pki.leaf.certificatePem,
    "tls.key": pki.leaf.privateKeyPem,
  });
  tls("kcp-signing-encrypted", {
    "tls.crt": pki.root.certificatePem,
    "tls.key": pki.keys.encryptedPkcs8,
  });
  tls("kcp-signing-no-key", { "tls.crt": pki.root.certificatePem }, "Opaque");
  tls("kcp-signing-key-is-cert", {
    "tls.crt": pki.root.certificatePem,
    "tls.key": pki.root.certificatePem,
  });
  // etcd client TLS (etcd.tlsConfig.secretRef): ca.crt verifies the etcd servers.
  tls("etcd-client", {
    "ca.crt": pki.root.certificatePem,
    "tls.crt": pki.leaf.certificatePem,
    "tls.key": pki.leaf.privateKeyPem,
  });
  tls("etcd-broken-ca", {
    "ca.crt": "-----BEGIN CERTIFICATE-----\nMIIB\n",
    "tls.crt": pki.leaf.certificatePem,
    "tls.key": pki.leaf.privateKeyPem,
  });
  // cert-manager Secrets as a Connector's CA: tls.crt, tls.key, ca.crt.
  tls("cm-ca", {
    "tls.crt": pki.root.certificatePem,
    "tls.key": pki.root.privateKeyPem,
    "ca.crt": pki.root.certificatePem,
  });
  tls("cm-leaf", {
    "tls.crt": pki.leaf.certificatePem,
    "tls.key": pki.leaf.privateKeyPem,
    "ca.crt": pki.intermediate.certificatePem,
  });
  tls("cm-key-in-ca", {
    "tls.crt": pki.root.certificatePem,
    "tls.key": pki.root.privateKeyPem,
    "ca.crt": pki.root.certificatePem + pki.root.privateKeyPem,
  });
  tls("cm-key-with-cert", {
    "tls.crt": pki.root.certificatePem,
    "tls.key": pki.root.privateKeyPem + pki.root.certificatePem,
  });
  tls(
    "opaque-with-tls-key",
    { "ca.crt": pki.root.certificatePem, "tls.key": pki.root.privateKeyPem },
    "Opaque",
  );
  return view;
}

let seq = 0;
function request(
  group: string,
  kind: string,
  object: KubeObject,
  overrides: Partial<AdmissionRequest> = {},
): AdmissionRequest {
  return {
    uid: `u-${++seq}`,
    kind: { group, version: "v1alpha1", kind },
    resource: { group, version: "v1alpha1", resource: `${kind.toLowerCase()}s` },
    namespace: object.metadata?.namespace,
    name: object.metadata?.name,
    operation: "CREATE" as Operation,
    object,
    oldObject: null,
    dryRun: false,
    userInfo: { username: "alice", groups: ["team-acme", "system:authenticated"] },
    ...overrides,
  };
}

const meta = (name: string, namespace?: string) => ({ name, ...(namespace ? { namespace } : {}) });
const plane = (
  kind: string,
  clientCA: Record<string, unknown>,
  namespace?: string,
): KubeObject => ({
  apiVersion: "openchoreo.dev/v1alpha1",
  kind,
  metadata: meta("prod-eu", namespace),
  spec: { clusterAgent: { clientCA } },
});
const connector = (secret?: string, namespace = "acme"): KubeObject => ({
  apiVersion: "connectors.alauda.io/v1alpha1",
  kind: "Connector",
  metadata: meta("git", namespace),
  spec: {
    address: "https://git.example",
    ...(secret ? { caCertSecretRef: { name: secret } } : {}),
  },
});
const kcp = (kind: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: "operator.kcp.io/v1alpha1",
  kind,
  metadata: meta("root", "acme"),
  spec,
});

type Expectation = {
  decision: "allow" | "deny";
  message?: RegExp;
  warning?: RegExp;
  code?: number;
};

interface Scenario {
  name: string;
  group: string;
  kind: string;
  object: () => KubeObject;
  expect: Expectation;
  settings?: Partial<PolicySettings>;
  view?: () => ClusterView;
  overrides?: Partial<AdmissionRequest>;
}

const OC = ["openchoreo.dev", "core.openchoreo.dev"];
/** OpenChoreo reads only `clientCA.value` for these: a reference is checked, with a warning. */
const OBSERVABILITY = ["ObservabilityPlane", "ClusterObservabilityPlane"];
const referenceVerdict = (kind: string, spelling: string): Expectation =>
  OBSERVABILITY.includes(kind)
    ? {
        decision: "allow",
        warning: new RegExp(
          `^spec\\.clusterAgent\\.clientCA\\.${spelling}: OpenChoreo reads only clientCA\\.value for this kind; set the PEM there$`,
        ),
      }
    : { decision: "allow" };
const NAMESPACED_PLANES = ["DataPlane", "WorkflowPlane", "BuildPlane", "ObservabilityPlane"];
const CLUSTER_PLANES = [
  "ClusterDataPlane",
  "ClusterWorkflowPlane",
  "ClusterBuildPlane",
  "ClusterObservabilityPlane",
];

const scenarios: Scenario[] = [
  // OpenChoreo namespaced planes, both groups, both spellings.
  ...OC.flatMap((group) =>
    NAMESPACED_PLANES.flatMap((kind): Scenario[] => [
      {
        name: `${group} ${kind} with a same-namespace secretKeyRef is allowed${OBSERVABILITY.includes(kind) ? ", with the warning that OpenChoreo reads only value there" : ""}`,
        group,
        kind,
        object: () => plane(kind, { secretKeyRef: { name: "agent-ca", key: "ca.crt" } }, "acme"),
        expect: referenceVerdict(kind, "secretKeyRef"),
      },
      {
        name: `${group} ${kind} with the older secretRef spelling is allowed`,
        group,
        kind,
        object: () =>
          plane(
            kind,
            { secretRef: { name: "agent-ca", key: "ca.crt", namespace: "acme" } },
            "acme",
          ),
        expect: referenceVerdict(kind, "secretRef"),
      },
      {
        name: `${group} ${kind} referencing another namespace is denied`,
        group,
        kind,
        object: () =>
          plane(
            kind,
            { secretKeyRef: { name: "agent-ca", key: "ca.crt", namespace: "platform" } },
            "acme",
          ),
        expect: {
          decision: "deny",
          code: 403,
          message: new RegExp(
            `spec\\.clusterAgent\\.clientCA\\.secretKeyRef\\.namespace: Forbidden: must be "acme" \\(the ${kind}'s namespace\\): put the CA Secret there, or have an administrator trust namespace "platform" with --trusted-secret-namespaces=platform \\(or openchoreo-planes=platform for this rule only\\)$`,
          ),
        },
      },
    ]),
  ),
  {
    name: "a plane with both value and secretKeyRef is denied",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () =>
      plane(
        "DataPlane",
        { value: pki.root.certificatePem, secretKeyRef: { name: "agent-ca", key: "ca.crt" } },
        "acme",
      ),
    expect: {
      decision: "deny",
      message:
        /spec\.clusterAgent\.clientCA: Invalid value: exactly one of value or secretKeyRef or secretRef may be set/,
    },
  },
  {
    name: "a plane with both spellings of the reference is denied",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () =>
      plane(
        "DataPlane",
        {
          secretKeyRef: { name: "agent-ca", key: "ca.crt" },
          secretRef: { name: "agent-ca", key: "ca.crt" },
        },
        "acme",
      ),
    expect: { decision: "deny", message: /exactly one of/ },
  },
  {
    name: "a plane with an empty clientCA is denied",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () => plane("DataPlane", {}, "acme"),
    expect: {
      decision: "deny",
      message:
        /spec\.clusterAgent\.clientCA: Required value: one of value or secretKeyRef or secretRef must be set/,
    },
  },
  {
    name: "a plane with a valid inline value is allowed",
    group: "openchoreo.dev",
    kind: "ObservabilityPlane",
    object: () => plane("ObservabilityPlane", { value: pki.root.certificatePem }, "acme"),
    expect: { decision: "allow" },
  },
  {
    name: 'a plane whose inline value is "some-ca" is denied',
    group: "openchoreo.dev",
    kind: "ObservabilityPlane",
    object: () => plane("ObservabilityPlane", { value: "some-ca" }, "acme"),
    expect: {
      decision: "deny",
      code: 422,
      message:
        /spec\.clusterAgent\.clientCA\.value: Invalid value: .*no CERTIFICATE|spec\.clusterAgent\.clientCA\.value: Invalid value:/,
    },
  },
  {
    name: "a plane whose named key is missing is denied, listing the keys",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () => plane("DataPlane", { secretKeyRef: { name: "kcp-ca", key: "ca.crt" } }, "acme"),
    expect: {
      decision: "deny",
      message:
        /secretKeyRef\.key: Not found: "ca\.crt": Secret acme\/kcp-ca has no key "ca\.crt" \(keys: tls\.crt\)/,
    },
  },
  {
    name: "a plane without a key is denied",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () => plane("DataPlane", { secretKeyRef: { name: "agent-ca" } }, "acme"),
    expect: { decision: "deny", message: /secretKeyRef\.key: Required value/ },
  },
  {
    name: "a plane whose Secret holds a private key is denied",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () => plane("DataPlane", { secretKeyRef: { name: "with-key", key: "ca.crt" } }, "acme"),
    expect: {
      decision: "deny",
      message:
        /secretKeyRef\.key: Invalid value: "ca\.crt": Secret acme\/with-key key "ca\.crt": PEM block 2 \(PRIVATE KEY\): a private key; remove it$/,
    },
  },
  {
    name: "a plane whose Secret holds broken base64 is denied",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () => plane("DataPlane", { secretKeyRef: { name: "broken", key: "ca.crt" } }, "acme"),
    expect: {
      decision: "deny",
      message:
        /secretKeyRef\.key: Invalid value: "ca\.crt": Secret acme\/broken key "ca\.crt": PEM block 1 \(CERTIFICATE\): not valid base64$/,
    },
  },
  {
    name: "a plane whose CA expires in 10 days is allowed with a warning naming key, CN and fingerprint",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () => plane("DataPlane", { secretKeyRef: { name: "expiring", key: "ca.crt" } }, "acme"),
    expect: {
      decision: "allow",
      warning: /Secret acme\/expiring key "ca\.crt": certificate 1 \(CN=.*sha256 [0-9a-f]{12}\)/,
    },
  },
  {
    name: "a plane whose Secret does not exist is allowed with a warning",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () => plane("DataPlane", { secretKeyRef: { name: "later", key: "ca.crt" } }, "acme"),
    expect: {
      decision: "allow",
      warning:
        /secretKeyRef\.name: Secret "later" not found in "acme"; CA not trusted until it exists/,
    },
  },
  {
    name: "a plane whose Secret does not exist is denied when configured so",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () => plane("DataPlane", { secretKeyRef: { name: "later", key: "ca.crt" } }, "acme"),
    settings: { missingSecret: "deny" },
    expect: { decision: "deny", message: /secretKeyRef\.name: Not found: "later"/ },
  },
  {
    name: "a plane whose Secret cannot be read is denied as unverifiable",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () => plane("DataPlane", { secretKeyRef: { name: "agent-ca", key: "ca.crt" } }, "acme"),
    view: () => unavailableView(),
    expect: {
      decision: "deny",
      message: /could not verify the CA Secret acme\/agent-ca: apiserver unreachable/,
    },
  },
  {
    name: "a plane whose Secret cannot be read is allowed with a warning when configured so",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () => plane("DataPlane", { secretKeyRef: { name: "agent-ca", key: "ca.crt" } }, "acme"),
    view: () => unavailableView(),
    settings: { unverifiable: "warn" },
    expect: { decision: "allow", warning: /could not verify/ },
  },
  // Cluster-scoped planes.
  ...OC.flatMap((group) =>
    CLUSTER_PLANES.flatMap((kind): Scenario[] => [
      {
        name: `${group} ${kind} without a Secret namespace is denied`,
        group,
        kind,
        object: () => plane(kind, { secretKeyRef: { name: "agent-ca", key: "ca.crt" } }),
        expect: {
          decision: "deny",
          message: new RegExp(
            `secretKeyRef\\.namespace: Required value: a cluster-scoped ${kind} must name the CA Secret's namespace`,
          ),
        },
      },
      {
        name: `${group} ${kind} with a Secret namespace is allowed`,
        group,
        kind,
        object: () =>
          plane(kind, { secretKeyRef: { name: "agent-ca", key: "ca.crt", namespace: "platform" } }),
        expect: referenceVerdict(kind, "secretKeyRef"),
      },
    ]),
  ),
  {
    name: "a cluster-scoped plane outside allowedSecretNamespaces is denied",
    group: "openchoreo.dev",
    kind: "ClusterDataPlane",
    object: () =>
      plane("ClusterDataPlane", {
        secretKeyRef: { name: "agent-ca", key: "ca.crt", namespace: "acme" },
      }),
    settings: { allowedSecretNamespaces: ["platform"] },
    expect: {
      decision: "deny",
      code: 403,
      message:
        /secretKeyRef\.namespace: Forbidden: must be one of "platform" \(--allowed-secret-namespaces\): put the CA Secret there, or have an administrator trust namespace "acme" with --trusted-secret-namespaces=acme \(or openchoreo-cluster-planes=acme for this rule only\)$/,
    },
  },
  {
    name: "a cluster-scoped plane inside allowedSecretNamespaces is allowed",
    group: "openchoreo.dev",
    kind: "ClusterDataPlane",
    object: () =>
      plane("ClusterDataPlane", {
        secretKeyRef: { name: "agent-ca", key: "ca.crt", namespace: "platform" },
      }),
    settings: { allowedSecretNamespaces: ["platform"] },
    expect: { decision: "allow" },
  },
  // kcp, both references, all four kinds.
  ...["RootShard", "Shard", "FrontProxy", "VirtualWorkspace"].flatMap((kind): Scenario[] => [
    {
      name: `kcp ${kind} with both references holding tls.crt is allowed`,
      group: "operator.kcp.io",
      kind,
      object: () =>
        kcp(kind, { clientCABundleRef: { name: "kcp-ca" }, caBundleSecretRef: { name: "kcp-ca" } }),
      expect: { decision: "allow" },
    },
    {
      name: `kcp ${kind} whose Secret lacks tls.crt is denied`,
      group: "operator.kcp.io",
      kind,
      object: () => kcp(kind, { clientCABundleRef: { name: "only-ca-crt" } }),
      expect: {
        decision: "deny",
        message:
          /spec\.clientCABundleRef\.name: Invalid value: "only-ca-crt": Secret acme\/only-ca-crt has no key "tls\.crt"/,
      },
    },
    {
      name: `kcp ${kind} whose references are {name: ""} and {} (what the CRD defaults an omitted one to) is allowed: not set`,
      group: "operator.kcp.io",
      kind,
      object: () => kcp(kind, { caBundleSecretRef: { name: "" }, clientCABundleRef: {} }),
      expect: { decision: "allow" },
    },
  ]),
  {
    name: "kcp with two bad references reports both",
    group: "operator.kcp.io",
    kind: "Shard",
    object: () =>
      kcp("Shard", {
        clientCABundleRef: { name: "only-ca-crt" },
        etcd: { tlsConfig: { secretRef: { name: "kcp-ca" } } },
      }),
    expect: {
      decision: "deny",
      message:
        /\[spec\.clientCABundleRef\.name: .*, spec\.etcd\.tlsConfig\.secretRef\.name: Invalid value: "kcp-ca": Secret acme\/kcp-ca has no key "ca\.crt" \(keys: tls\.crt\)\]$/,
    },
  },
  ...KCP_SCENARIOS(),
  // Connectors.
  {
    name: "a Connector with a same-namespace Secret of eligible keys is allowed, other keys ignored",
    group: "connectors.alauda.io",
    kind: "Connector",
    object: () => connector("connector-ca"),
    expect: { decision: "allow" },
  },
  {
    name: "a Connector whose eligible key does not parse is denied",
    group: "connectors.alauda.io",
    kind: "Connector",
    object: () => connector("connector-bad-eligible"),
    expect: {
      decision: "deny",
      message:
        /spec\.caCertSecretRef\.name: Invalid value: "connector-bad-eligible": Secret acme\/connector-bad-eligible key "extra\.pem"/,
    },
  },
  {
    name: "a Connector whose Secret has no eligible key is denied",
    group: "connectors.alauda.io",
    kind: "Connector",
    object: () => connector("connector-nothing"),
    expect: { decision: "deny", message: /holds no CA certificate/ },
  },
  {
    name: "a Connector whose Secret does not exist is allowed with a warning",
    group: "connectors.alauda.io",
    kind: "Connector",
    object: () => connector("missing"),
    expect: {
      decision: "allow",
      warning: /spec\.caCertSecretRef\.name: Secret "missing" not found in "acme"/,
    },
  },
  {
    name: "a Connector with a cross-namespace reference (if a version carries one) is denied",
    group: "connectors.alauda.io",
    kind: "Connector",
    object: () => ({
      ...connector(),
      spec: { caCertSecretRef: { name: "agent-ca", namespace: "platform" } },
    }),
    expect: {
      decision: "deny",
      message: /spec\.caCertSecretRef\.namespace: Forbidden: must be "acme"/,
    },
  },
  {
    name: "a Connector without a CA reference is allowed",
    group: "connectors.alauda.io",
    kind: "Connector",
    object: () => connector(),
    expect: { decision: "allow" },
  },
  {
    name: "a Connector with the feature flag off is allowed with a warning that the reference is ignored",
    group: "connectors.alauda.io",
    kind: "Connector",
    object: () => connector("connector-bad-eligible"),
    view: () => cluster(false),
    expect: { decision: "allow", warning: /feature flag enable-custom-ca-certs is off/ },
  },
  {
    name: "a Connector referencing a cert-manager CA Secret (tls.crt, tls.key, ca.crt) is allowed: tls.key is not part of the bundle",
    group: "connectors.alauda.io",
    kind: "Connector",
    object: () => connector("cm-ca"),
    expect: { decision: "allow" },
  },
  {
    name: "a Connector referencing a cert-manager leaf Secret is allowed with the warning that tls.crt is not a CA",
    group: "connectors.alauda.io",
    kind: "Connector",
    object: () => connector("cm-leaf"),
    expect: {
      decision: "allow",
      warning:
        /^Secret acme\/cm-leaf key "tls\.crt": certificate 1 \(CN=service\.example\.svc, sha256 [0-9a-f]{12}\) is not a CA \(no CA:TRUE\)$/,
    },
  },
  {
    name: "a Connector whose cert-manager Secret has a private key in ca.crt is denied",
    group: "connectors.alauda.io",
    kind: "Connector",
    object: () => connector("cm-key-in-ca"),
    expect: {
      decision: "deny",
      message: /key "ca\.crt": PEM block 2 \(PRIVATE KEY\): a private key; remove it$/,
    },
  },
  {
    name: "a Connector whose cert-manager Secret's tls.key also holds a certificate is denied",
    group: "connectors.alauda.io",
    kind: "Connector",
    object: () => connector("cm-key-with-cert"),
    expect: {
      decision: "deny",
      message: /key "tls\.key": PEM block 1 \(PRIVATE KEY\): a private key; remove it$/,
    },
  },
  {
    name: "a Connector whose Opaque Secret holds a private key under tls.key is denied (only a kubernetes.io/tls Secret's tls.key is skipped)",
    group: "connectors.alauda.io",
    kind: "Connector",
    object: () => connector("opaque-with-tls-key"),
    expect: { decision: "deny", message: /key "tls\.key": PEM block 1 \(PRIVATE KEY\)/ },
  },
  // Trusted Secret namespaces.
  {
    name: "a DataPlane referencing a Secret in a namespace trusted for every rule is allowed",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () =>
      plane(
        "DataPlane",
        { secretKeyRef: { name: "agent-ca", key: "ca.crt", namespace: "platform" } },
        "acme",
      ),
    settings: { trustedSecretNamespaces: [{ rule: undefined, namespace: "platform" }] },
    expect: { decision: "allow" },
  },
  {
    name: "a DataPlane referencing a Secret in a namespace trusted for its rule is allowed",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () =>
      plane(
        "DataPlane",
        { secretKeyRef: { name: "agent-ca", key: "ca.crt", namespace: "platform" } },
        "acme",
      ),
    settings: { trustedSecretNamespaces: [{ rule: "openchoreo-planes", namespace: "platform" }] },
    expect: { decision: "allow" },
  },
  {
    name: "a DataPlane referencing a namespace trusted for another rule only is denied",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () =>
      plane(
        "DataPlane",
        { secretKeyRef: { name: "agent-ca", key: "ca.crt", namespace: "platform" } },
        "acme",
      ),
    settings: { trustedSecretNamespaces: [{ rule: "alauda-connectors", namespace: "platform" }] },
    expect: { decision: "deny", code: 403, message: /namespace: Forbidden: must be "acme"/ },
  },
  {
    name: "a trusted namespace's Secret is still checked: a broken one is denied",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () =>
      plane(
        "DataPlane",
        { secretKeyRef: { name: "broken", key: "ca.crt", namespace: "acme" } },
        "team-b",
      ),
    settings: { trustedSecretNamespaces: [{ rule: undefined, namespace: "acme" }] },
    expect: {
      decision: "deny",
      message: /secretKeyRef\.key: Invalid value: "ca\.crt": Secret acme\/broken/,
    },
  },
  {
    name: "a Connector referencing a trusted namespace (if a version carries the field) is allowed",
    group: "connectors.alauda.io",
    kind: "Connector",
    object: () => ({
      ...connector(),
      spec: { caCertSecretRef: { name: "agent-ca", namespace: "platform" } },
    }),
    settings: { trustedSecretNamespaces: [{ rule: "alauda-connectors", namespace: "platform" }] },
    expect: { decision: "allow" },
  },
  {
    name: "a cluster-scoped plane may reference a trusted namespace outside allowedSecretNamespaces",
    group: "openchoreo.dev",
    kind: "ClusterDataPlane",
    object: () =>
      plane("ClusterDataPlane", {
        secretKeyRef: { name: "agent-ca", key: "ca.crt", namespace: "acme" },
      }),
    settings: {
      allowedSecretNamespaces: ["platform"],
      trustedSecretNamespaces: [{ rule: "openchoreo-cluster-planes", namespace: "acme" }],
    },
    expect: { decision: "allow" },
  },
  // Global CA Secrets.
  {
    name: "a labelled Secret in the system namespace with a valid CA is allowed",
    group: "",
    kind: "Secret",
    object: () => globalSecret("connectors-system", { "ca.crt": b64(pki.root.certificatePem) }),
    expect: { decision: "allow" },
  },
  {
    name: "a labelled Secret in the system namespace holding a private key is denied",
    group: "",
    kind: "Secret",
    object: () =>
      globalSecret("connectors-system", {
        "ca.crt": b64(pki.root.certificatePem),
        "key.pem": b64(pki.keys.ec),
      }),
    expect: {
      decision: "deny",
      message:
        /^Secret "global-ca" is invalid: data\[key\.pem\]: Invalid value: Secret connectors-system\/global-ca key "key\.pem": PEM block 1 \(EC PRIVATE KEY\): a private key; remove it; value holds no PEM certificate$/,
    },
  },
  {
    name: "a labelled Secret given as stringData is read too",
    group: "",
    kind: "Secret",
    object: () => ({
      ...globalSecret("connectors-system", {}),
      stringData: { "ca.crt": "garbage" },
    }),
    expect: { decision: "deny", message: /key "ca\.crt"/ },
  },
  {
    name: "a labelled Secret of 70,000 keys is denied by its key count, without reading them",
    group: "",
    kind: "Secret",
    object: () =>
      globalSecret(
        "connectors-system",
        Object.fromEntries(
          Array.from({ length: 70_000 }, (_, i) => [`k${i}.crt`, b64(pki.root.certificatePem)]),
        ),
      ),
    expect: {
      decision: "deny",
      message:
        /^Secret "global-ca" is invalid: data: Invalid value: Secret connectors-system\/global-ca has 70,000 keys; .* at most 1,024$/,
    },
  },
  {
    name: "a labelled Secret whose keys hold more than 300 PEM blocks together is denied before parsing",
    group: "",
    kind: "Secret",
    object: () =>
      globalSecret(
        "connectors-system",
        Object.fromEntries(
          Array.from({ length: 4 }, (_, i) => [
            `part${i}.crt`,
            b64(pki.root.certificatePem.repeat(80)),
          ]),
        ),
      ),
    expect: {
      decision: "deny",
      message: /has 320 PEM blocks across 4 keys; at most 300 are analysed per Secret/,
    },
  },
  {
    name: "a labelled Secret with 300 PEM blocks across its keys is analysed",
    group: "",
    kind: "Secret",
    object: () =>
      globalSecret(
        "connectors-system",
        Object.fromEntries(
          Array.from({ length: 3 }, (_, i) => [
            `part${i}.crt`,
            b64(pki.root.certificatePem.repeat(100)),
          ]),
        ),
      ),
    expect: { decision: "allow", warning: /duplicate/i },
  },
  {
    name: "a labelled Secret outside the system namespace is allowed with a warning",
    group: "",
    kind: "Secret",
    object: () => globalSecret("team-a", { "ca.crt": b64("garbage") }),
    expect: {
      decision: "allow",
      warning:
        /label connectors\.cpaas\.io\/ca-cert is ignored in namespace "team-a"; only "connectors-system" is read/,
    },
  },
  {
    name: "an unlabelled Secret is allowed untouched",
    group: "",
    kind: "Secret",
    object: () => ({
      apiVersion: "v1",
      kind: "Secret",
      metadata: meta("x", "connectors-system"),
      data: { "ca.crt": b64("garbage") },
    }),
    expect: { decision: "allow" },
  },
  // Operations.
  {
    name: "a DELETE is allowed",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () => plane("DataPlane", { value: "junk" }, "acme"),
    overrides: { operation: "DELETE" },
    expect: { decision: "allow" },
  },
  {
    name: "a dry-run CREATE is decided the same way",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () =>
      plane(
        "DataPlane",
        { secretKeyRef: { name: "agent-ca", key: "ca.crt", namespace: "platform" } },
        "acme",
      ),
    overrides: { dryRun: true },
    expect: { decision: "deny", message: /must be "acme" \(the DataPlane's namespace\)/ },
  },
  {
    name: "an UPDATE that changes the reference to another namespace is denied",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () =>
      plane(
        "DataPlane",
        { secretKeyRef: { name: "agent-ca", key: "ca.crt", namespace: "platform" } },
        "acme",
      ),
    overrides: {
      operation: "UPDATE",
      oldObject: plane("DataPlane", { secretKeyRef: { name: "agent-ca", key: "ca.crt" } }, "acme"),
    },
    expect: { decision: "deny", message: /secretKeyRef\.namespace: Forbidden: must be "acme"/ },
  },
  {
    name: "an UPDATE that leaves a bad reference unchanged is allowed with a warning",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () => plane("DataPlane", { secretKeyRef: { name: "broken", key: "ca.crt" } }, "acme"),
    overrides: {
      operation: "UPDATE",
      oldObject: plane("DataPlane", { secretKeyRef: { name: "broken", key: "ca.crt" } }, "acme"),
    },
    expect: { decision: "allow", warning: /unchanged by this update/ },
  },
  {
    name: "an UPDATE of an object being deleted is allowed (finalizers must be removable)",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () => ({
      ...plane("DataPlane", { value: "junk" }, "acme"),
      metadata: { name: "x", namespace: "acme", deletionTimestamp: "2026-06-01T00:00:00Z" },
    }),
    overrides: { operation: "UPDATE", oldObject: plane("DataPlane", {}, "acme") },
    expect: { decision: "allow" },
  },
  {
    name: "a status subresource update is allowed",
    group: "openchoreo.dev",
    kind: "DataPlane",
    object: () => plane("DataPlane", { value: "junk" }, "acme"),
    overrides: { operation: "UPDATE", subResource: "status" },
    expect: { decision: "allow" },
  },
  {
    name: "an unknown kind is allowed",
    group: "example.com",
    kind: "Widget",
    object: () => ({
      metadata: meta("w", "acme"),
      spec: { caCertSecretRef: { name: "x", namespace: "other" } },
    }),
    expect: { decision: "allow" },
  },
];

/** kcp-operator's other CA references (docs/architecture.md "The built-in rules"), on the kinds that have them. */
function KCP_SCENARIOS(): Scenario[] {
  const kcpScenario = (
    name: string,
    kind: string,
    spec: Record<string, unknown>,
    expect: Expectation,
  ): Scenario => ({ name, group: "operator.kcp.io", kind, object: () => kcp(kind, spec), expect });
  const oidc = (caFileRef: Record<string, unknown>) => ({ auth: { oidc: { caFileRef } } });
  const signing = (name: string) => ({ certificates: { caSecretRef: { name } } });
  const etcd = (name: string) => ({ etcd: { tlsConfig: { secretRef: { name } } } });
  return [
    ...["RootShard", "Shard", "FrontProxy"].flatMap((kind) => [
      kcpScenario(
        `kcp ${kind} auth.oidc.caFileRef without a key reads ca.crt, and a valid one is allowed`,
        kind,
        oidc({ name: "only-ca-crt" }),
        { decision: "allow" },
      ),
      kcpScenario(
        `kcp ${kind} auth.oidc.caFileRef naming its key is allowed`,
        kind,
        oidc({ name: "kcp-ca", key: "tls.crt" }),
        { decision: "allow" },
      ),
      kcpScenario(
        `kcp ${kind} auth.oidc.caFileRef whose Secret lacks the default key ca.crt is denied at the name`,
        kind,
        oidc({ name: "kcp-ca" }),
        {
          decision: "deny",
          message:
            /spec\.auth\.oidc\.caFileRef\.name: Invalid value: "kcp-ca": Secret acme\/kcp-ca has no key "ca\.crt" \(keys: tls\.crt\)$/,
        },
      ),
      kcpScenario(
        `kcp ${kind} auth.oidc.caFileRef naming a key the Secret lacks is denied at the key, showing the key`,
        kind,
        oidc({ name: "kcp-ca", key: "oidc.crt" }),
        {
          decision: "deny",
          message:
            /spec\.auth\.oidc\.caFileRef\.key: Not found: "oidc\.crt": Secret acme\/kcp-ca has no key "oidc\.crt"/,
        },
      ),
      kcpScenario(
        `kcp ${kind} auth.oidc.caFileRef whose key holds broken PEM is denied at the key`,
        kind,
        oidc({ name: "broken", key: "ca.crt" }),
        {
          decision: "deny",
          message:
            /spec\.auth\.oidc\.caFileRef\.key: Invalid value: "ca\.crt": Secret acme\/broken key "ca\.crt": PEM block 1 \(CERTIFICATE\): not valid base64$/,
        },
      ),
    ]),
    ...["RootShard", "CacheServer"].flatMap((kind) => [
      kcpScenario(
        `kcp ${kind} certificates.caSecretRef holding a CA and its private key is allowed`,
        kind,
        signing("kcp-signing"),
        { decision: "allow" },
      ),
      kcpScenario(
        `kcp ${kind} certificates.caSecretRef holding an intermediate CA, its chain and its key is allowed`,
        kind,
        signing("kcp-signing-chain"),
        { decision: "allow" },
      ),
      kcpScenario(
        `kcp ${kind} certificates.caSecretRef whose tls.key is another CA's key is denied`,
        kind,
        signing("kcp-signing-wrong-key"),
        {
          decision: "deny",
          message:
            /spec\.certificates\.caSecretRef\.name: Invalid value: "kcp-signing-wrong-key": Secret acme\/kcp-signing-wrong-key key "tls\.key": PEM block 1 \(PRIVATE KEY\) is not the private key of the CA certificate in "tls\.crt"$/,
        },
      ),
      kcpScenario(
        `kcp ${kind} certificates.caSecretRef whose tls.crt is not a CA is denied`,
        kind,
        signing("kcp-signing-leaf"),
        {
          decision: "deny",
          message:
            /caSecretRef\.name: Invalid value: "kcp-signing-leaf": Secret acme\/kcp-signing-leaf key "tls\.crt": certificate 1 \(sha256 [0-9a-f]{12}\) is not a CA \(no CA:TRUE\); it must be the signing CA$/,
        },
      ),
      kcpScenario(
        `kcp ${kind} certificates.caSecretRef whose tls.key is encrypted is denied`,
        kind,
        signing("kcp-signing-encrypted"),
        {
          decision: "deny",
          message: /key "tls\.key": PEM block 1 \(ENCRYPTED PRIVATE KEY\) is encrypted/,
        },
      ),
      kcpScenario(
        `kcp ${kind} certificates.caSecretRef without tls.key is denied`,
        kind,
        signing("kcp-signing-no-key"),
        {
          decision: "deny",
          message: /Secret acme\/kcp-signing-no-key has no key "tls\.key" \(keys: tls\.crt\)$/,
        },
      ),
      kcpScenario(
        `kcp ${kind} certificates.caSecretRef whose tls.key holds a certificate is denied`,
        kind,
        signing("kcp-signing-key-is-cert"),
        {
          decision: "deny",
          message: /key "tls\.key": PEM block 1 \(CERTIFICATE\) is not a private key/,
        },
      ),
      kcpScenario(
        `kcp ${kind} certificates.caSecretRef naming a Secret that holds only a CA bundle is denied`,
        kind,
        signing("kcp-ca"),
        { decision: "deny", message: /has no key "tls\.key"/ },
      ),
    ]),
    ...["RootShard", "Shard", "CacheServer"].flatMap((kind) => [
      kcpScenario(
        `kcp ${kind} etcd.tlsConfig.secretRef with a valid ca.crt is allowed`,
        kind,
        etcd("etcd-client"),
        { decision: "allow" },
      ),
      kcpScenario(
        `kcp ${kind} etcd.tlsConfig.secretRef whose ca.crt is broken is denied`,
        kind,
        etcd("etcd-broken-ca"),
        {
          decision: "deny",
          message:
            /spec\.etcd\.tlsConfig\.secretRef\.name: Invalid value: "etcd-broken-ca": Secret acme\/etcd-broken-ca key "ca\.crt": PEM block 1: BEGIN without END$/,
        },
      ),
    ]),
    kcpScenario(
      "kcp RootShard with every CA reference valid is allowed",
      "RootShard",
      {
        clientCABundleRef: { name: "kcp-ca" },
        caBundleSecretRef: { name: "kcp-ca" },
        ...oidc({ name: "only-ca-crt" }),
        ...signing("kcp-signing"),
        ...etcd("etcd-client"),
      },
      { decision: "allow" },
    ),
  ];
}

function globalSecret(namespace: string, data: Record<string, string>): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "global-ca", namespace, labels: { "connectors.cpaas.io/ca-cert": "true" } },
    data,
  };
}

function unavailableView(): ClusterView {
  const base = cluster();
  return {
    getSecret: async () => ({ found: false, unavailable: "apiserver unreachable" }),
    getConfigMap: (ns, name) => base.getConfigMap(ns, name),
    getClusterTrustBundles: (s) => base.getClusterTrustBundles(s),
    getTrustManagerBundle: (n) => base.getTrustManagerBundle(n),
    namespaceLabels: (n) => base.namespaceLabels(n),
    featureFlag: (f) => base.featureFlag(f),
    mayGet: (user, resource, ns, n) => base.mayGet(user, resource, ns, n),
  };
}

describe("decideValidation", () => {
  it.each(scenarios.map((s) => [s.name, s] as const))("%s", async (_name, s) => {
    const view = s.view ? s.view() : cluster();
    const decision = await decideValidation(
      request(s.group, s.kind, s.object(), s.overrides),
      { ...SETTINGS, ...s.settings },
      view,
      NOW,
    );
    expect(decision.kind).toBe(s.expect.decision);
    if (decision.kind === "deny") {
      if (s.expect.message) expect(decision.message).toMatch(s.expect.message);
      if (s.expect.code) expect(decision.code).toBe(s.expect.code);
      expect(decision.code).toBeGreaterThanOrEqual(400);
      expect(["Invalid", "Forbidden", "InternalError"]).toContain(decision.reason);
    }
    if (s.expect.warning) expect(decision.warnings.join("\n")).toMatch(s.expect.warning);
    else if (s.expect.decision === "allow") expect(decision.warnings).toEqual([]);
    // Never Secret contents in any message.
    const text = JSON.stringify(decision);
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("-----BEGIN");
  });

  it("reports a Forbidden denial with status 403 and an Invalid one with 422", async () => {
    const view = cluster();
    const forbidden = await decideValidation(
      request(
        "openchoreo.dev",
        "DataPlane",
        plane("DataPlane", { secretKeyRef: { name: "a", key: "k", namespace: "x" } }, "acme"),
      ),
      SETTINGS,
      view,
      NOW,
    );
    const invalid = await decideValidation(
      request("openchoreo.dev", "DataPlane", plane("DataPlane", { value: "x" }, "acme")),
      SETTINGS,
      view,
      NOW,
    );
    expect(forbidden).toMatchObject({ kind: "deny", code: 403, reason: "Forbidden" });
    expect(invalid).toMatchObject({ kind: "deny", code: 422, reason: "Invalid" });
  });
});

describe("user rules from the config file", () => {
  const widgetRules = parseRules([
    {
      name: "widgets",
      apiGroups: ["example.com"],
      kinds: { Widget: "widgets" },
      references: [
        {
          refs: ["spec.tls.caSecret"],
          namespaceField: "namespace",
          keys: { mode: "fixed", key: "ca.crt" },
          required: true,
        },
      ],
    },
  ]);

  it.each([
    [
      "a Widget with a valid same-namespace CA is allowed",
      { caSecret: { name: "agent-ca" } },
      "allow",
      undefined,
    ],
    [
      "a Widget referencing another namespace is denied",
      { caSecret: { name: "agent-ca", namespace: "platform" } },
      "deny",
      /spec\.tls\.caSecret\.namespace: Forbidden/,
    ],
    ["a Widget without the reference is denied", {}, "deny", /spec\.tls: Required value/],
  ] as const)("%s", async (_name, tls, expected, message) => {
    const decision = await decideValidation(
      request("example.com", "Widget", { metadata: meta("w", "acme"), spec: { tls } }),
      { ...SETTINGS, rules: [...BUILTIN_RULES, ...widgetRules] },
      cluster(),
      NOW,
    );
    expect(decision.kind).toBe(expected);
    if (message && decision.kind === "deny") expect(decision.message).toMatch(message);
  });

  it.each([
    ["not a list", { a: 1 }, "rules: must be a list"],
    [
      "a rule without kinds",
      [
        {
          name: "x",
          apiGroups: ["g"],
          references: [{ refs: ["spec.a"], keys: { mode: "eligible" } }],
        },
      ],
      "rules[0].kinds",
    ],
    [
      "a lower-case Kind",
      [
        {
          name: "x",
          apiGroups: ["g"],
          kinds: { widget: "widgets" },
          references: [{ refs: ["spec.a"], keys: { mode: "eligible" } }],
        },
      ],
      "is not a Kind",
    ],
    [
      "a bad key mode",
      [
        {
          name: "x",
          apiGroups: ["g"],
          kinds: { W: "ws" },
          references: [{ refs: ["spec.a"], keys: { mode: "any" } }],
        },
      ],
      "keys.mode",
    ],
    [
      "a reference with neither refs nor inline",
      [
        {
          name: "x",
          apiGroups: ["g"],
          kinds: { W: "ws" },
          references: [{ keys: { mode: "eligible" } }],
        },
      ],
      "needs refs or inline",
    ],
    [
      "a bad field path",
      [
        {
          name: "x",
          apiGroups: ["g"],
          kinds: { W: "ws" },
          references: [{ refs: ["spec..a"], keys: { mode: "eligible" } }],
        },
      ],
      "not a dotted field path",
    ],
  ])("rejects %s with the path of the mistake", (_name, input, message) => {
    expect(() => parseRules(input)).toThrow(message);
  });
});
