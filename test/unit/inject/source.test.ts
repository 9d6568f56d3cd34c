/**
 * Where an injected Pod's CA comes from (inject/source.ts), decided end to end by
 * `decideInjection` against an in-memory view: ClusterTrustBundles by name or by signer
 * (projected volume, same PEM analysis and messages, a hash over their content), and the
 * trust-manager Bundle named in a missing-ConfigMap denial.
 */
import { createHash } from "node:crypto";
import { applyPatch, deepClone } from "fast-json-patch";
import { beforeAll, describe, expect, it } from "vitest";
import type { AdmissionRequest, Decision, KubeObject } from "../../../src/core/types.js";
import type { ClusterTrustBundleSelection, TrustManagerBundle } from "../../../src/core/view.js";
import { decideInjection, type InjectionPolicy } from "../../../src/inject/decision.js";
import { DEFAULT_INJECTION_SETTINGS } from "../../../src/inject/settings.js";
import { clusterTrustBundleDigest, podCaSource } from "../../../src/inject/source.js";
import { MemoryClusterView } from "../../../src/kube/memory.js";
import { trustManagerBundleOf } from "../../../src/kube/trust-sources.js";
import { NOW, type PkiFixtures, pkiFixtures } from "../../fixtures/pki/certificates.js";

let pki: PkiFixtures;
beforeAll(async () => {
  pki = await pkiFixtures();
});

const SIGNER = "example.com/corp-roots";

function policy(
  selection?: ClusterTrustBundleSelection,
  onFailure: "deny" | "skip-and-warn" = "deny",
): InjectionPolicy {
  return {
    settings:
      selection === undefined
        ? DEFAULT_INJECTION_SETTINGS
        : { ...DEFAULT_INJECTION_SETTINGS, caSource: { kind: "clustertrustbundle", selection } },
    onFailure,
    expiringWithinDays: 30,
  };
}

function pod(namespace: string, annotations?: Record<string, string>): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "web",
      namespace,
      labels: { "ca-trust.dev/inject": "true" },
      ...(annotations ? { annotations } : {}),
    },
    spec: { containers: [{ name: "app", image: "nginx" }] },
  };
}

function request(object: KubeObject): AdmissionRequest {
  return {
    uid: "u",
    kind: { group: "", version: "v1", kind: "Pod" },
    resource: { group: "", version: "v1", resource: "pods" },
    namespace: object.metadata?.namespace,
    operation: "CREATE",
    object,
    oldObject: null,
    dryRun: false,
  };
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function customCaVolume(decision: Decision): unknown {
  if (decision.kind !== "patch") throw new Error(`expected a patch, got ${decision.kind}`);
  const patched = applyPatch(deepClone(pod("apps")), decision.operations, true, false)
    .newDocument as KubeObject;
  const volumes = (patched.spec as { volumes: { name: string }[] }).volumes;
  return volumes.find((v) => v.name === "ca-trust-custom-ca");
}

function annotation(decision: Decision): string | undefined {
  if (decision.kind !== "patch") return undefined;
  const patched = applyPatch(deepClone(pod("apps")), decision.operations, true, false)
    .newDocument as KubeObject;
  return patched.metadata?.annotations?.["ca-trust.dev/injected"];
}

describe("the ClusterTrustBundle source", () => {
  function ctbView(): MemoryClusterView {
    return new MemoryClusterView()
      .addNamespace("apps", {})
      .addClusterTrustBundle({ name: "corp-roots", trustBundle: pki.root.certificatePem })
      .addClusterTrustBundle({
        name: "example.com:corp-roots:a",
        signerName: SIGNER,
        labels: { audience: "internal" },
        trustBundle: pki.root.certificatePem,
      })
      .addClusterTrustBundle({
        name: "example.com:corp-roots:b",
        signerName: SIGNER,
        labels: { audience: "internal" },
        trustBundle: pki.intermediate.certificatePem,
      })
      .addClusterTrustBundle({
        name: "example.com:corp-roots:public",
        signerName: SIGNER,
        labels: { audience: "public" },
        trustBundle: pki.leaf.certificatePem,
      });
  }

  it("injects a projected volume of the bundle by name; the hash is its content's", async () => {
    const decision = await decideInjection(
      request(pod("apps")),
      policy({ name: "corp-roots" }),
      ctbView(),
      NOW,
    );
    expect(customCaVolume(decision)).toEqual({
      name: "ca-trust-custom-ca",
      projected: {
        sources: [{ clusterTrustBundle: { name: "corp-roots", path: "ca-bundle.crt" } }],
      },
    });
    expect(annotation(decision)).toBe(`sha256:${sha256(pki.root.certificatePem)}`);
    expect(decision.kind === "patch" && decision.summary).toMatch(
      /ClusterTrustBundle "corp-roots" sha256:/,
    );
  });

  it("by signer and labels: selects the matching bundles, hashes them in name order", async () => {
    const selection = {
      signerName: SIGNER,
      labelSelector: { matchLabels: { audience: "internal" } },
    };
    const decision = await decideInjection(request(pod("apps")), policy(selection), ctbView(), NOW);
    expect(customCaVolume(decision)).toEqual({
      name: "ca-trust-custom-ca",
      projected: {
        sources: [
          {
            clusterTrustBundle: {
              signerName: SIGNER,
              labelSelector: { matchLabels: { audience: "internal" } },
              path: "ca-bundle.crt",
            },
          },
        ],
      },
    });
    expect(annotation(decision)).toBe(
      `sha256:${sha256(`${pki.root.certificatePem}\n${pki.intermediate.certificatePem}`)}`,
    );
    // The leaf of the "public" bundle is not selected, so there is no "not a CA" warning.
    expect(decision.warnings.join("\n")).not.toMatch(/public/);
  });

  it("the hash changes when a selected bundle changes, and not when an unselected one does", async () => {
    const view = ctbView();
    const selection = {
      signerName: SIGNER,
      labelSelector: { matchLabels: { audience: "internal" } },
    };
    const before = annotation(
      await decideInjection(request(pod("apps")), policy(selection), view, NOW),
    );
    view.addClusterTrustBundle({
      name: "example.com:corp-roots:public",
      signerName: SIGNER,
      labels: { audience: "public" },
      trustBundle: pki.root.certificatePem,
    });
    const unrelated = annotation(
      await decideInjection(request(pod("apps")), policy(selection), view, NOW),
    );
    view.addClusterTrustBundle({
      name: "example.com:corp-roots:b",
      signerName: SIGNER,
      labels: { audience: "internal" },
      trustBundle: pki.expired.certificatePem,
    });
    const changed = annotation(
      await decideInjection(request(pod("apps")), policy(selection), view, NOW),
    );
    expect(unrelated).toBe(before);
    expect(changed).not.toBe(before);
  });

  it.each([
    [
      "a bundle that does not exist is denied with its name",
      { name: "missing-roots" },
      undefined,
      /ca-trust-webhook: the CA ClusterTrustBundle "missing-roots" does not exist; create it/,
    ],
    [
      "a signer selection that matches nothing is denied, naming the signer and labels",
      { signerName: SIGNER, labelSelector: { matchLabels: { audience: "partners" } } },
      undefined,
      /no CA ClusterTrustBundle matches: ClusterTrustBundles of signer "example.com\/corp-roots" with labels "audience=partners" selects none/,
    ],
    [
      "a truncated bundle is denied with the analysis' reason, naming the bundle",
      { name: "truncated" },
      (view: MemoryClusterView) =>
        view.addClusterTrustBundle({
          name: "truncated",
          trustBundle: `${pki.root.certificatePem}-----BEGIN CERTIFICATE-----\nMIIB\n`,
        }),
      /the CA ClusterTrustBundle "truncated" spec\.trustBundle is not a valid CA bundle: PEM block 2: BEGIN without END/,
    ],
    [
      "a broken bundle among a signer's is denied, naming that one",
      { signerName: SIGNER, labelSelector: {} },
      (view: MemoryClusterView) =>
        view.addClusterTrustBundle({
          name: "example.com:corp-roots:z-bad",
          signerName: SIGNER,
          trustBundle: "not PEM at all",
        }),
      /ClusterTrustBundle "example\.com:corp-roots:z-bad" spec\.trustBundle is not a valid CA bundle: value holds no PEM certificate/,
    ],
  ] as const)("%s", async (_name, selection, setup, message) => {
    const view = ctbView();
    setup?.(view);
    const decision = await decideInjection(request(pod("apps")), policy(selection), view, NOW);
    expect(decision.kind).toBe("deny");
    expect(decision.kind === "deny" && decision.message).toMatch(message);
  });

  it("bundles holding more than a CA bundle may together are denied before any is parsed", async () => {
    const view = ctbView();
    for (const n of [1, 2, 3, 4]) {
      view.addClusterTrustBundle({
        name: `example.com:corp-roots:big-${n}`,
        signerName: SIGNER,
        labels: { audience: "big" },
        trustBundle: "x".repeat(1024 * 1024),
      });
    }
    const selection = { signerName: SIGNER, labelSelector: { matchLabels: { audience: "big" } } };
    const decision = await decideInjection(request(pod("apps")), policy(selection), view, NOW);
    expect(decision.kind === "deny" && decision.message).toMatch(
      /hold 4194304 bytes together, over the 3145728-byte limit of a CA bundle/,
    );
  });

  it("names the bundle in the analysis' warnings (here: a leaf that is not a CA)", async () => {
    const selection = {
      signerName: SIGNER,
      labelSelector: { matchLabels: { audience: "public" } },
    };
    const decision = await decideInjection(request(pod("apps")), policy(selection), ctbView(), NOW);
    expect(decision.kind).toBe("patch");
    expect(decision.warnings.join("\n")).toMatch(
      /ClusterTrustBundle "example\.com:corp-roots:public": certificate 1 .*not a CA/,
    );
  });

  it("warns that the ConfigMap annotation has no effect", async () => {
    const decision = await decideInjection(
      request(pod("apps", { "ca-trust.dev/configmap": "team-ca" })),
      policy({ name: "corp-roots" }),
      ctbView(),
      NOW,
    );
    expect(decision.kind).toBe("patch");
    expect(decision.warnings).toContain(
      'metadata.annotations[ca-trust.dev/configmap] ignored: this webhook injects ClusterTrustBundle "corp-roots"',
    );
  });

  it("a view that cannot read them gives 500 InternalError naming the bundle", async () => {
    const base = ctbView();
    const decision = await decideInjection(
      request(pod("apps")),
      policy({ name: "corp-roots" }),
      {
        ...bind(base),
        getClusterTrustBundles: async () => ({ found: false, unavailable: "HTTP 403" }),
      },
      NOW,
    );
    expect(decision).toMatchObject({
      kind: "deny",
      code: 500,
      reason: "InternalError",
      message: 'ca-trust-webhook: could not read the CA ClusterTrustBundle "corp-roots": HTTP 403',
    });
  });

  it("skip-and-warn admits the Pod uninjected with the reason", async () => {
    const decision = await decideInjection(
      request(pod("apps")),
      policy({ name: "missing-roots" }, "skip-and-warn"),
      ctbView(),
      NOW,
    );
    expect(decision.kind).toBe("allow");
    expect(decision.warnings[0]).toMatch(
      /CA not injected: the CA ClusterTrustBundle "missing-roots"/,
    );
  });

  it("scan reads the source from the Pod's own volume", () => {
    const injected = pod("apps");
    (injected.spec as Record<string, unknown>).volumes = [
      {
        name: "ca-trust-custom-ca",
        projected: {
          sources: [{ clusterTrustBundle: { name: "corp-roots", path: "ca-bundle.crt" } }],
        },
      },
    ];
    expect(podCaSource(injected, DEFAULT_INJECTION_SETTINGS)).toEqual({
      kind: "clustertrustbundle",
      selection: { name: "corp-roots" },
    });
    expect(podCaSource(pod("apps"), DEFAULT_INJECTION_SETTINGS)).toEqual({
      kind: "configmap",
      name: "ca-trust-bundle",
    });
    expect(
      clusterTrustBundleDigest([
        { name: "b", trustBundle: "B" },
        { name: "a", trustBundle: "A" },
      ]),
    ).toBe(sha256("A\nB"));
  });
});

/** The view's methods bound to it, to override one in a literal. */
function bind(view: MemoryClusterView) {
  return {
    getSecret: view.getSecret.bind(view),
    getConfigMap: view.getConfigMap.bind(view),
    getClusterTrustBundles: view.getClusterTrustBundles.bind(view),
    getTrustManagerBundle: view.getTrustManagerBundle.bind(view),
    namespaceLabels: view.namespaceLabels.bind(view),
    featureFlag: view.featureFlag.bind(view),
    mayGet: view.mayGet.bind(view),
  };
}

describe("a missing CA ConfigMap with trust-manager installed names the Bundle", () => {
  const bundle = (overrides: Partial<TrustManagerBundle> = {}): TrustManagerBundle => ({
    kind: "Bundle",
    name: "ca-trust-bundle",
    namespaceSelector: { matchLabels: { "ca-trust.dev/inject": "enabled" } },
    configMapKeys: ["ca-bundle.crt"],
    ...overrides,
  });
  const view = () =>
    new MemoryClusterView()
      .addNamespace("unlabelled", { "kubernetes.io/metadata.name": "unlabelled" })
      .addNamespace("labelled", { "ca-trust.dev/inject": "enabled" });

  it.each([
    [
      "trust-manager not installed: the plain message",
      "unlabelled",
      (v: MemoryClusterView) => v,
      /ConfigMap unlabelled\/ca-trust-bundle does not exist; create it with key "ca-bundle\.crt" \(the Pod/,
    ],
    [
      "installed, no Bundle of that name: says so and how to create it",
      "unlabelled",
      (v: MemoryClusterView) => v.installTrustManager(),
      /does not exist; no trust-manager Bundle "ca-trust-bundle" writes it: create that Bundle \(target configMap key "ca-bundle\.crt", namespaceSelector ca-trust\.dev\/inject=enabled\)/,
    ],
    [
      "a Bundle that does not select the namespace: names it and its selector",
      "unlabelled",
      (v: MemoryClusterView) => v.addTrustManagerBundle(bundle()),
      /ConfigMap unlabelled\/ca-trust-bundle does not exist; trust-manager Bundle "ca-trust-bundle" does not select namespace "unlabelled" \(namespaceSelector "ca-trust\.dev\/inject=enabled"\): label the namespace to match, or change the Bundle/,
    ],
    [
      "a ClusterBundle (v1alpha2) that does not select it: the same, with its kind",
      "unlabelled",
      (v: MemoryClusterView) =>
        v.addTrustManagerBundle(
          bundle({
            kind: "ClusterBundle",
            namespaceSelector: {
              matchExpressions: [{ key: "team", operator: "In", values: ["b", "a"] }],
            },
          }),
        ),
      /trust-manager ClusterBundle "ca-trust-bundle" does not select namespace "unlabelled" \(namespaceSelector "team in \(a,b\)"\): label the namespace to match, or change the ClusterBundle/,
    ],
    [
      "a Bundle that selects it but has not written it: its Synced status and reason",
      "labelled",
      (v: MemoryClusterView) =>
        v.addTrustManagerBundle(bundle({ synced: { status: "False", reason: "SourceNotFound" } })),
      /trust-manager Bundle "ca-trust-bundle" selects namespace "labelled" but has not written the ConfigMap yet \(Synced False: SourceNotFound\); see kubectl describe bundle ca-trust-bundle/,
    ],
    [
      "a Bundle writing another key: says which",
      "labelled",
      (v: MemoryClusterView) =>
        v.addTrustManagerBundle(bundle({ configMapKeys: ["root-certs.pem"] })),
      /trust-manager Bundle "ca-trust-bundle" writes key "root-certs\.pem", not "ca-bundle\.crt": set its target key/,
    ],
    [
      "a Bundle without a ConfigMap target: says so",
      "labelled",
      (v: MemoryClusterView) => v.addTrustManagerBundle(bundle({ configMapKeys: [] })),
      /trust-manager Bundle "ca-trust-bundle" writes no ConfigMap/,
    ],
    [
      "a Bundle without namespaceSelector selects every namespace",
      "unlabelled",
      (v: MemoryClusterView) => v.addTrustManagerBundle(bundle({ namespaceSelector: undefined })),
      /Bundle "ca-trust-bundle" selects namespace "unlabelled" but has not written the ConfigMap yet; see/,
    ],
  ] as const)("%s", async (_name, namespace, setup, message) => {
    const decision = await decideInjection(request(pod(namespace)), policy(), setup(view()), NOW);
    expect(decision.kind).toBe("deny");
    expect(decision.kind === "deny" && decision.message).toMatch(message);
  });

  it("a Bundle lookup that fails leaves the plain message (it only explains)", async () => {
    const base = view().addTrustManagerBundle(bundle());
    const decision = await decideInjection(
      request(pod("unlabelled")),
      policy(),
      {
        ...bind(base),
        getTrustManagerBundle: async () => ({ found: false, unavailable: "HTTP 403" }),
      },
      NOW,
    );
    expect(decision.kind === "deny" && decision.message).toMatch(
      /does not exist; create it with key/,
    );
  });

  it("the ConfigMap exists without the key: names the Bundle's key", async () => {
    const v = view()
      .addTrustManagerBundle(bundle({ configMapKeys: ["trust.pem"] }))
      .addConfigMap({ namespace: "labelled", name: "ca-trust-bundle", data: { "trust.pem": "x" } });
    const decision = await decideInjection(request(pod("labelled")), policy(), v, NOW);
    expect(decision.kind === "deny" && decision.message).toMatch(
      /has no key "ca-bundle\.crt"; trust-manager Bundle "ca-trust-bundle" writes key "trust\.pem"/,
    );
  });
});

describe("trustManagerBundleOf reads both APIs' objects", () => {
  it.each([
    [
      "a trust.cert-manager.io/v1alpha1 Bundle",
      {
        apiVersion: "trust.cert-manager.io/v1alpha1",
        kind: "Bundle",
        metadata: { name: "ca-trust-bundle" },
        spec: {
          sources: [{ secret: { name: "corp-ca", key: "ca.crt" } }],
          target: {
            configMap: { key: "ca-bundle.crt" },
            namespaceSelector: { matchLabels: { "ca-trust.dev/inject": "enabled" } },
          },
        },
        status: {
          conditions: [{ type: "Synced", status: "True", reason: "Synced", message: "secret x" }],
        },
      },
      {
        kind: "Bundle",
        name: "ca-trust-bundle",
        namespaceSelector: { matchLabels: { "ca-trust.dev/inject": "enabled" } },
        configMapKeys: ["ca-bundle.crt"],
        synced: { status: "True", reason: "Synced" },
      },
    ],
    [
      "a trust-manager.io/v1alpha2 ClusterBundle (PEM keys only)",
      {
        apiVersion: "trust-manager.io/v1alpha2",
        kind: "ClusterBundle",
        metadata: { name: "ca-trust-bundle" },
        spec: {
          sourceRefs: [{ kind: "Secret", name: "corp-ca", key: "ca.crt" }],
          target: {
            configMap: {
              data: [
                { key: "ca-bundle.crt" },
                { key: "bundle.p12", format: "PKCS12" },
                { key: "more.pem", format: "PEM" },
              ],
            },
          },
        },
      },
      {
        kind: "ClusterBundle",
        name: "ca-trust-bundle",
        namespaceSelector: undefined,
        configMapKeys: ["ca-bundle.crt", "more.pem"],
      },
    ],
    [
      "a selector that is not one selects nothing",
      {
        apiVersion: "trust.cert-manager.io/v1alpha1",
        kind: "Bundle",
        metadata: { name: "x" },
        spec: { target: { namespaceSelector: { matchExpressions: "oops" } } },
      },
      { kind: "Bundle", name: "x", namespaceSelector: "invalid", configMapKeys: [] },
    ],
  ] as const)("%s", (_name, object, expected) => {
    expect(trustManagerBundleOf(object as unknown as KubeObject)).toEqual(expected);
  });

  it("ignores other kinds", () => {
    expect(
      trustManagerBundleOf({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" } }),
    ).toBeUndefined();
  });
});

describe("the CA ConfigMap's bytes and digest, remembered by value", () => {
  const configMapView = (data: {
    data?: Record<string, string>;
    binaryData?: Record<string, string>;
  }) =>
    new MemoryClusterView()
      .addNamespace("apps", {})
      .addConfigMap({ namespace: "apps", name: "ca-trust-bundle", ...data });

  it("records the digest of each value, again and again, and of a changed value its own", async () => {
    const root = pki.root.certificatePem;
    const both = `${root}${pki.intermediate.certificatePem}`;
    for (const pem of [root, root, both, root]) {
      const decision = await decideInjection(
        request(pod("apps")),
        policy(),
        configMapView({ data: { "ca-bundle.crt": pem } }),
        NOW,
      );
      expect(annotation(decision)).toBe(`sha256:${sha256(pem)}`);
    }
  });

  it("decodes binaryData as base64 even when a data value with the same characters was seen", async () => {
    const pem = pki.root.certificatePem;
    const base64 = Buffer.from(pem, "utf8").toString("base64");
    // The same characters once as text (an invalid bundle) and once as base64 of the PEM.
    const asText = await decideInjection(
      request(pod("apps")),
      policy(),
      configMapView({ data: { "ca-bundle.crt": base64 } }),
      NOW,
    );
    expect(asText.kind).toBe("deny");
    const asBinary = await decideInjection(
      request(pod("apps")),
      policy(),
      configMapView({ binaryData: { "ca-bundle.crt": base64 } }),
      NOW,
    );
    expect(annotation(asBinary)).toBe(`sha256:${sha256(pem)}`);
  });
});
