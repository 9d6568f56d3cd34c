import { createHash } from "node:crypto";
import { applyPatch, deepClone } from "fast-json-patch";
import { beforeAll, describe, expect, it } from "vitest";
import type { AdmissionRequest, KubeObject } from "../../../src/core/types.js";
import type { ClusterView } from "../../../src/core/view.js";
import {
  decideInjection,
  type InjectionPolicy,
  MAX_PATCH_BYTES,
} from "../../../src/inject/decision.js";
import { DEFAULT_INJECTION_SETTINGS } from "../../../src/inject/settings.js";
import { MemoryClusterView } from "../../../src/kube/memory.js";
import { NOW, type PkiFixtures, pkiFixtures } from "../../fixtures/pki/certificates.js";

let pki: PkiFixtures;
beforeAll(async () => {
  pki = await pkiFixtures();
});

const POLICY: InjectionPolicy = {
  settings: DEFAULT_INJECTION_SETTINGS,
  onFailure: "deny",
  expiringWithinDays: 30,
};

function view(): MemoryClusterView {
  return new MemoryClusterView()
    .addNamespace("labelled", { "ca-trust.dev/inject": "enabled" })
    .addNamespace("plain", {})
    .addNamespace("no-configmap", { "ca-trust.dev/inject": "enabled" })
    .addNamespace("bad-pem", { "ca-trust.dev/inject": "enabled" })
    .addNamespace("expiring", { "ca-trust.dev/inject": "enabled" })
    .addConfigMap({
      namespace: "labelled",
      name: "ca-trust-bundle",
      data: { "ca-bundle.crt": pki.root.certificatePem },
    })
    .addConfigMap({
      namespace: "labelled",
      name: "team-ca",
      data: { "ca-bundle.crt": pki.intermediate.certificatePem },
    })
    .addConfigMap({
      namespace: "labelled",
      name: "wrong-key",
      data: { "ca.crt": pki.root.certificatePem },
    })
    .addConfigMap({
      namespace: "plain",
      name: "ca-trust-bundle",
      data: { "ca-bundle.crt": pki.root.certificatePem },
    })
    .addConfigMap({
      namespace: "bad-pem",
      name: "ca-trust-bundle",
      data: { "ca-bundle.crt": pki.root.certificatePem + pki.keys.pkcs8 },
    })
    .addConfigMap({
      namespace: "expiring",
      name: "ca-trust-bundle",
      data: { "ca-bundle.crt": pki.expiringIn10Days.certificatePem },
    });
}

function pod(
  namespace: string,
  extra: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    volumes?: unknown[];
  } = {},
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "web",
      namespace,
      ...(extra.labels ? { labels: extra.labels } : {}),
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
    },
    spec: {
      containers: [{ name: "app", image: "nginx" }],
      ...(extra.volumes ? { volumes: extra.volumes } : {}),
    },
  };
}

function request(object: KubeObject, overrides: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return {
    uid: "u",
    kind: { group: "", version: "v1", kind: "Pod" },
    resource: { group: "", version: "v1", resource: "pods" },
    namespace: object.metadata?.namespace,
    operation: "CREATE",
    object,
    oldObject: null,
    dryRun: false,
    ...overrides,
  };
}

type Outcome = {
  kind: "allow" | "patch" | "deny";
  message?: RegExp;
  warning?: RegExp;
  configMap?: string;
};

const cases: [
  string,
  () => AdmissionRequest,
  Outcome,
  Partial<InjectionPolicy>?,
  (() => ClusterView)?,
][] = [
  [
    "injects a Pod in a labelled namespace",
    () => request(pod("labelled")),
    { kind: "patch", configMap: "ca-trust-bundle" },
  ],
  [
    "injects a Pod that opts in by label in a plain namespace",
    () => request(pod("plain", { labels: { "ca-trust.dev/inject": "true" } })),
    { kind: "patch" },
  ],
  [
    "leaves an opted-out Pod in a labelled namespace alone",
    () => request(pod("labelled", { labels: { "ca-trust.dev/inject": "false" } })),
    { kind: "allow" },
  ],
  ["leaves a Pod that is not opted in alone", () => request(pod("plain")), { kind: "allow" }],
  [
    "uses the ConfigMap the Pod names in its annotation",
    () => request(pod("labelled", { annotations: { "ca-trust.dev/configmap": "team-ca" } })),
    { kind: "patch", configMap: "team-ca" },
  ],
  [
    "denies an annotation that is not a ConfigMap name",
    () => request(pod("labelled", { annotations: { "ca-trust.dev/configmap": "Not_A_Name" } })),
    { kind: "deny", message: /metadata\.annotations\[ca-trust\.dev\/configmap\]: Invalid value/ },
  ],
  [
    "denies when the CA ConfigMap is missing, naming it",
    () => request(pod("no-configmap")),
    { kind: "deny", message: /ConfigMap no-configmap\/ca-trust-bundle does not exist/ },
  ],
  [
    "admits uninjected with a warning when the ConfigMap is missing in skip-and-warn mode",
    () => request(pod("no-configmap")),
    { kind: "allow", warning: /CA not injected: .*no-configmap\/ca-trust-bundle/ },
    { onFailure: "skip-and-warn" },
  ],
  [
    "denies when the ConfigMap lacks the key",
    () => request(pod("labelled", { annotations: { "ca-trust.dev/configmap": "wrong-key" } })),
    { kind: "deny", message: /has no key "ca-bundle\.crt"/ },
  ],
  [
    "denies when the bundle holds a private key",
    () => request(pod("bad-pem")),
    {
      kind: "deny",
      message:
        /bad-pem\/ca-trust-bundle key "ca-bundle\.crt" is not a valid CA bundle: .*private key/i,
    },
  ],
  [
    "injects and warns when the CA expires soon",
    () => request(pod("expiring")),
    { kind: "patch", warning: /expiring\/ca-trust-bundle key "ca-bundle\.crt": certificate 1/ },
  ],
  [
    "denies a Pod whose volume takes our name",
    () =>
      request(pod("labelled", { volumes: [{ name: "ca-trust-certs", hostPath: { path: "/x" } }] })),
    { kind: "deny", message: /ca-trust-certs/ },
  ],
  [
    "leaves a mirror Pod alone",
    () => request(pod("labelled", { annotations: { "kubernetes.io/config.mirror": "x" } })),
    { kind: "allow" },
  ],
  [
    "leaves an UPDATE alone",
    () => request(pod("labelled"), { operation: "UPDATE" }),
    { kind: "allow" },
  ],
  [
    "leaves a non-Pod kind alone",
    () => request(pod("labelled"), { kind: { group: "apps", version: "v1", kind: "Deployment" } }),
    { kind: "allow" },
  ],
  [
    "leaves the ephemeralcontainers subresource alone",
    () => request(pod("labelled"), { subResource: "ephemeralcontainers" }),
    { kind: "allow" },
  ],
  [
    "warns when the namespace is not in the cache yet",
    () => request(pod("brand-new")),
    { kind: "allow", warning: /namespace "brand-new" is not in the webhook's cache/ },
  ],
  [
    "denies when the ConfigMap cannot be read",
    () => request(pod("labelled")),
    {
      kind: "deny",
      message: /could not read the CA ConfigMap labelled\/ca-trust-bundle: connection refused/,
    },
    undefined,
    () => {
      const base = view();
      return {
        getSecret: (ns, n) => base.getSecret(ns, n),
        getConfigMap: async () => ({ found: false, unavailable: "connection refused" }),
        getClusterTrustBundles: (s) => base.getClusterTrustBundles(s),
        getTrustManagerBundle: (n) => base.getTrustManagerBundle(n),
        namespaceLabels: (n) => base.namespaceLabels(n),
        featureFlag: () => false,
        mayGet: (user, resource, ns, n) => base.mayGet(user, resource, ns, n),
      };
    },
  ],
];

describe("decideInjection", () => {
  it.each(cases)("%s", async (_name, make, expected, policy, makeView) => {
    const req = make();
    const decision = await decideInjection(
      req,
      { ...POLICY, ...policy },
      (makeView ?? view)(),
      NOW,
    );
    expect(decision.kind).toBe(expected.kind);
    if (decision.kind === "deny") {
      expect(decision.code).toBeGreaterThanOrEqual(400);
      if (expected.message) expect(decision.message).toMatch(expected.message);
      expect(decision.message).not.toContain("BEGIN");
    }
    if (expected.warning) expect(decision.warnings.join("\n")).toMatch(expected.warning);
    if (decision.kind === "patch") {
      const patched = applyPatch(
        deepClone(req.object),
        deepClone(decision.operations),
        true,
      ).newDocument;
      const cm = patched.spec.volumes.find(
        (v: { configMap?: { name: string } }) => v.configMap,
      )?.configMap;
      if (expected.configMap) expect(cm.name).toBe(expected.configMap);
      const ns = req.namespace as string;
      const source = await view().getConfigMap(ns, cm.name);
      const bundle = source.found ? (source.object.data?.["ca-bundle.crt"] ?? "") : "";
      expect(patched.metadata.annotations["ca-trust.dev/injected"]).toBe(
        `sha256:${createHash("sha256").update(bundle).digest("hex")}`,
      );
      expect(patched.spec.initContainers[0].name).toBe("install-ca-cert");
      // Planning again on the result is a no-op: reinvocation adds nothing.
      const again = await decideInjection(
        { ...req, object: patched },
        { ...POLICY, ...policy },
        view(),
        NOW,
      );
      expect(again.kind === "patch" ? again.operations : []).toEqual([]);
    }
  });
});

describe("the patch-size limit", () => {
  /** A Pod in the labelled namespace with `n` minimal containers (and `init` init containers). */
  const wide = (n: number, init = 0): KubeObject => {
    const p = pod("labelled");
    const named = (prefix: string, count: number) =>
      Array.from({ length: count }, (_, i) => ({ name: `${prefix}-${i}`, image: "busybox" }));
    p.spec = {
      containers: named("c", n),
      ...(init > 0 ? { initContainers: named("i", init) } : {}),
    };
    return p;
  };

  it("injects a Pod of 1,000 containers (a patch under 512 KiB)", async () => {
    const decision = await decideInjection(request(wide(1_000)), POLICY, view(), NOW);
    expect(decision.kind).toBe("patch");
    const size = decision.kind === "patch" ? JSON.stringify(decision.operations).length : 0;
    expect(size).toBeLessThanOrEqual(MAX_PATCH_BYTES);
  });

  it.each([
    [
      "12,000 containers, refused before planning",
      12_000,
      0,
      /\(12,000 containers\) would be at least 1,172 KiB; the webhook sends at most 512 KiB/,
    ],
    [
      "1,300 containers and 300 init containers, measured",
      1_300,
      300,
      /\(1,600 containers\) would be \d{3,} KiB; the webhook sends at most 512 KiB/,
    ],
  ])("denies a Pod whose patch would be too large: %s", async (_name, n, init, message) => {
    const decision = await decideInjection(request(wide(n, init)), POLICY, view(), NOW);
    expect(decision.kind).toBe("deny");
    if (decision.kind === "deny") expect(decision.message).toMatch(message);
  });

  it("admits it uninjected with a warning under skip-and-warn", async () => {
    const decision = await decideInjection(
      request(wide(12_000)),
      { ...POLICY, onFailure: "skip-and-warn" },
      view(),
      NOW,
    );
    expect(decision.kind).toBe("allow");
    expect(decision.warnings.join()).toMatch(/^CA not injected: the CA injection patch/);
  });
});
