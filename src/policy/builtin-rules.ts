/**
 * The built-in rules: TypeScript data of the schema's type (`Rule`), so the compiler checks
 * every key and a unit test checks the rest of the schema (patterns, bounds) and that the data is
 * already in its complete form (test/unit/policy/rules.test.ts). What each rule means and why
 * is in docs/architecture.md "The rule table".
 */
import type { ReferenceSpec, Rule } from "./rule-schema.js";

const OPENCHOREO_CLIENT_CA: ReferenceSpec = {
  // `secretKeyRef` since OpenChoreo v1.0 (#2642); `secretRef` in v0.10-v0.17: accept both.
  refs: ["spec.clusterAgent.clientCA.secretKeyRef", "spec.clusterAgent.clientCA.secretRef"],
  inline: "spec.clusterAgent.clientCA.value",
  nameField: "name",
  namespaceField: "namespace",
  keys: { mode: "field", field: "key" },
  required: true,
  // Upstream's controller builds the agent's client CA only from clientCA.value for the
  // observability planes (internal/clients/kubernetes/client.go): a secretKeyRef alone makes
  // it fail ("agent mode must be enabled"). Still checked, but the user is told.
  referenceWarning: {
    kinds: ["ObservabilityPlane", "ClusterObservabilityPlane"],
    message: "OpenChoreo reads only clientCA.value for this kind; set the PEM there",
  },
};

const OPENCHOREO_GROUPS = ["openchoreo.dev", "core.openchoreo.dev"];

/** The built-in rules, in the order they are matched (before the config file's rules). */
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
      CacheServer: "cacheservers",
    },
    versions: ["*"],
    scope: "Namespaced",
    // corev1.LocalObjectReferences (a name only): the Secret is in the object's namespace. The
    // CRDs default an omitted one to {name: ""}, which counts as not set. Each field exists on
    // some of the kinds only (docs/architecture.md "The rule table").
    references: [
      // RootShard, Shard, FrontProxy, VirtualWorkspace: the operator reads key tls.crt.
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
      // RootShard, Shard, FrontProxy: the OIDC issuer's CA, key `key` (default ca.crt).
      {
        refs: ["spec.auth.oidc.caFileRef"],
        nameField: "name",
        keys: { mode: "field", field: "key", default: "ca.crt" },
        required: false,
      },
      // RootShard, CacheServer: the CA the operator's issuer signs with, and its key.
      {
        refs: ["spec.certificates.caSecretRef"],
        nameField: "name",
        keys: { mode: "caWithKey", certificate: "tls.crt", privateKey: "tls.key" },
        required: false,
      },
      // RootShard, Shard, CacheServer: etcd client TLS; ca.crt verifies the etcd servers.
      {
        refs: ["spec.etcd.tlsConfig.secretRef"],
        nameField: "name",
        keys: { mode: "fixed", key: "ca.crt" },
        required: false,
      },
    ],
  },
]);
