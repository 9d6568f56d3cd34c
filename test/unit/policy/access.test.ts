/**
 * "Reference only what you may read": the engine asks the view whether the requesting user may
 * get a Secret before it reads it, and a user who may not learns nothing about the Secret: not
 * its keys, not its certificates, not whether it exists. MemoryClusterView answers the
 * question from a table (its `restrictAccess` grants), as the server's SubjectAccessReview
 * would.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { AdmissionRequest, KubeObject, UserInfo } from "../../../src/core/types.js";
import type { ClusterView } from "../../../src/core/view.js";
import { type AccessGrant, MemoryClusterView } from "../../../src/kube/memory.js";
import { decideValidation, type PolicySettings } from "../../../src/policy/engine.js";
import { BUILTIN_RULES } from "../../../src/policy/rules.js";
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
const ALICE: UserInfo = {
  username: "alice",
  uid: "4c1d",
  groups: ["tenants", "system:authenticated"],
  extra: { "authentication.kubernetes.io/credential-id": ["X509SHA256=ab12"] },
};

/** The cluster of the oracle cases: Secrets alice must learn nothing about. */
function cluster(...grants: AccessGrant[]): MemoryClusterView {
  const view = new MemoryClusterView()
    .addSecret({
      namespace: "argocd",
      name: "argocd-initial-admin-secret",
      data: { password: b64("hunter2") },
    })
    .addSecret({
      namespace: "kube-system",
      name: "bootstrap-token-abcdef",
      data: { "token-id": b64("abcdef"), "token-secret": b64("0123456789abcdef") },
    })
    .addSecret({
      namespace: "istio-system",
      name: "cacerts",
      data: {
        "ca-cert.pem": b64(pki.root.certificatePem),
        "ca-key.pem": b64(pki.keys.pkcs8),
      },
    })
    .addSecret({
      namespace: "platform",
      name: "expiring-ca",
      data: { "ca.crt": b64(pki.expiringIn10Days.certificatePem) },
    })
    .addSecret({
      namespace: "payments",
      name: "payments-db",
      data: { password: b64("hunter2"), username: b64("app") },
    });
  return view.restrictAccess(...grants);
}

/** The view, counting the Secret reads the engine makes through it. */
function counting(view: ClusterView): { view: ClusterView; reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    view: {
      getSecret: (ns, name) => {
        reads.push(`${ns}/${name}`);
        return view.getSecret(ns, name);
      },
      getConfigMap: (ns, name) => view.getConfigMap(ns, name),
      getClusterTrustBundles: (s) => view.getClusterTrustBundles(s),
      getTrustManagerBundle: (name) => view.getTrustManagerBundle(name),
      namespaceLabels: (name) => view.namespaceLabels(name),
      featureFlag: (name) => view.featureFlag(name),
      mayGet: (user, resource, ns, name) => view.mayGet(user, resource, ns, name),
    },
  };
}

function clusterPlane(ref: { namespace: string; name: string; key: string }): KubeObject {
  return {
    apiVersion: "openchoreo.dev/v1alpha1",
    kind: "ClusterDataPlane",
    metadata: { name: "prod" },
    spec: { clusterAgent: { clientCA: { secretKeyRef: ref } } },
  };
}

function dataPlane(namespace: string, ref: { name: string; key: string }): KubeObject {
  return {
    apiVersion: "openchoreo.dev/v1alpha1",
    kind: "DataPlane",
    metadata: { name: "prod", namespace },
    spec: { clusterAgent: { clientCA: { secretKeyRef: ref } } },
  };
}

let seq = 0;
function request(object: KubeObject, overrides: Partial<AdmissionRequest> = {}): AdmissionRequest {
  const kind = object.kind as string;
  const group = (object.apiVersion as string).split("/")[0] as string;
  return {
    uid: `u-${++seq}`,
    kind: { group, version: "v1alpha1", kind },
    resource: { group, version: "v1alpha1", resource: `${kind.toLowerCase()}s` },
    ...(object.metadata?.namespace ? { namespace: object.metadata.namespace } : {}),
    name: object.metadata?.name ?? "",
    operation: "CREATE",
    userInfo: ALICE,
    object,
    oldObject: null,
    ...overrides,
  };
}

const FIELD = "spec.clusterAgent.clientCA.secretKeyRef.name";
const refusal = (namespace: string) =>
  `${FIELD}: Forbidden: user "alice" may not get secrets in namespace "${namespace}"; a CA reference must point at a Secret you can read`;

/** What a denial for a user who may not read must never carry. */
const TELLS =
  /keys?:|password|token|not found|private key|PRIVATE|CN=|Fixture|Expiring|sha256|expires|BEGIN/i;

describe("a user who may not get the Secret learns nothing about it", () => {
  it.each([
    {
      name: "argocd-initial-admin-secret with a key it lacks (no key list)",
      ref: { namespace: "argocd", name: "argocd-initial-admin-secret", key: "x" },
    },
    {
      name: "a kube-system bootstrap token",
      ref: { namespace: "kube-system", name: "bootstrap-token-abcdef", key: "token-id" },
    },
    {
      name: "a Secret that does not exist",
      ref: { namespace: "argocd", name: "no-such-secret", key: "x" },
    },
    {
      name: "istio-system/cacerts key ca-key.pem (no private key verdict)",
      ref: { namespace: "istio-system", name: "cacerts", key: "ca-key.pem" },
    },
    {
      name: "a valid CA about to expire (no CN, fingerprint or expiry warning)",
      ref: { namespace: "platform", name: "expiring-ca", key: "ca.crt" },
    },
  ])("$name: denied 403 with the same words, and the Secret is never read", async ({ ref }) => {
    const { view, reads } = counting(cluster());
    const decision = await decideValidation(request(clusterPlane(ref)), SETTINGS, view, NOW);
    expect(decision).toEqual({
      kind: "deny",
      code: 403,
      reason: "Forbidden",
      message: `ClusterDataPlane.openchoreo.dev "prod" is invalid: ${refusal(ref.namespace)}`,
      warnings: [],
    });
    expect(decision.kind === "deny" && decision.message).not.toMatch(TELLS);
    expect(reads).toEqual([]);
  });

  it("an existing and a missing Secret of one namespace get byte-identical answers", async () => {
    const answer = async (name: string) =>
      decideValidation(
        request(clusterPlane({ namespace: "argocd", name, key: "x" })),
        SETTINGS,
        cluster(),
        NOW,
      );
    expect(await answer("argocd-initial-admin-secret")).toEqual(await answer("does-not-exist"));
  });

  it("a namespaced kind in the user's own namespace without Secret access: no key list", async () => {
    const { view, reads } = counting(cluster());
    const decision = await decideValidation(
      request(dataPlane("payments", { name: "payments-db", key: "ca.crt" })),
      SETTINGS,
      view,
      NOW,
    );
    expect(decision.kind).toBe("deny");
    const message = decision.kind === "deny" ? decision.message : "";
    expect(message).toContain(refusal("payments"));
    expect(message).not.toMatch(TELLS);
    expect(reads).toEqual([]);
  });

  it("the question asked is exactly the request's user (name, uid, groups, extra) and object", async () => {
    const view = cluster();
    await decideValidation(
      request(clusterPlane({ namespace: "argocd", name: "argocd-initial-admin-secret", key: "x" })),
      SETTINGS,
      view,
      NOW,
    );
    expect(view.accessQuestions).toEqual([
      {
        user: ALICE,
        resource: "secrets",
        namespace: "argocd",
        name: "argocd-initial-admin-secret",
      },
    ]);
  });
});

describe("a user who may get the Secret gets the detailed answer", () => {
  it.each([
    {
      name: "a grant on the namespace lists the Secret's keys",
      grant: { user: "alice", resource: "secrets", namespace: "argocd" } as AccessGrant,
      ref: { namespace: "argocd", name: "argocd-initial-admin-secret", key: "x" },
      message: /Secret argocd\/argocd-initial-admin-secret has no key "x" \(keys: password\)/,
    },
    {
      name: "a grant to a group of the user names the private key",
      grant: { group: "tenants", resource: "secrets", namespace: "istio-system" } as AccessGrant,
      ref: { namespace: "istio-system", name: "cacerts", key: "ca-key.pem" },
      message: /private key/,
    },
    {
      name: "a grant on that one name (resourceNames) says the key is missing",
      grant: {
        user: "alice",
        resource: "secrets",
        namespace: "argocd",
        name: "argocd-initial-admin-secret",
      } as AccessGrant,
      ref: { namespace: "argocd", name: "argocd-initial-admin-secret", key: "x" },
      message: /keys: password/,
    },
  ])("$name", async ({ grant, ref, message }) => {
    const decision = await decideValidation(
      request(clusterPlane(ref)),
      SETTINGS,
      cluster(grant),
      NOW,
    );
    expect(decision.kind).toBe("deny");
    expect(decision.kind === "deny" && decision.message).toMatch(message);
  });

  it("a missing Secret is reported missing, once the user may get it", async () => {
    const decision = await decideValidation(
      request(clusterPlane({ namespace: "argocd", name: "does-not-exist", key: "x" })),
      SETTINGS,
      cluster({ user: "alice", resource: "secrets", namespace: "argocd" }),
      NOW,
    );
    expect(decision).toMatchObject({ kind: "allow" });
    expect(decision.warnings.join("\n")).toMatch(/Secret "does-not-exist" not found in "argocd"/);
  });

  it("warnings name the certificate (CN) for a user who may read it", async () => {
    const decision = await decideValidation(
      request(clusterPlane({ namespace: "platform", name: "expiring-ca", key: "ca.crt" })),
      SETTINGS,
      cluster({ user: "alice", resource: "secrets", namespace: "platform" }),
      NOW,
    );
    expect(decision.kind).toBe("allow");
    expect(decision.warnings.join("\n")).toMatch(/Expiring CA/);
  });

  it("a grant in another namespace does not count", async () => {
    const decision = await decideValidation(
      request(clusterPlane({ namespace: "argocd", name: "argocd-initial-admin-secret", key: "x" })),
      SETTINGS,
      cluster({ user: "alice", resource: "secrets", namespace: "platform" }),
      NOW,
    );
    expect(decision.kind === "deny" && decision.message).toContain(refusal("argocd"));
  });
});

describe("when the access question cannot be answered", () => {
  const ref = { namespace: "argocd", name: "argocd-initial-admin-secret", key: "x" };

  it("--unverifiable deny: 500 naming the failure, and the Secret is not read", async () => {
    const { view, reads } = counting(cluster().failAccessReviews("HTTP 503"));
    const decision = await decideValidation(request(clusterPlane(ref)), SETTINGS, view, NOW);
    expect(decision).toMatchObject({ kind: "deny", code: 500, reason: "InternalError" });
    expect(decision.kind === "deny" && decision.message).toContain(
      `${FIELD}: Internal error: could not check that user "alice" may get secrets in namespace "argocd": HTTP 503`,
    );
    expect(reads).toEqual([]);
  });

  it("--unverifiable warn: allowed with the reason, and the Secret is still not read", async () => {
    const { view, reads } = counting(cluster().failAccessReviews("ECONNREFUSED"));
    const decision = await decideValidation(
      request(clusterPlane(ref)),
      { ...SETTINGS, unverifiable: "warn" },
      view,
      NOW,
    );
    expect(decision).toEqual({
      kind: "allow",
      warnings: [
        `${FIELD}: could not check that user "alice" may get secrets in namespace "argocd": ECONNREFUSED; the CA Secret was not read`,
      ],
    });
    expect(reads).toEqual([]);
  });
});

describe("what needs no access question", () => {
  it("authorizeReferences off: no question, the detailed answer (the documented trade-off)", async () => {
    const view = cluster();
    const decision = await decideValidation(
      request(clusterPlane({ namespace: "argocd", name: "argocd-initial-admin-secret", key: "x" })),
      { ...SETTINGS, authorizeReferences: false },
      view,
      NOW,
    );
    expect(decision.kind === "deny" && decision.message).toMatch(/keys: password/);
    expect(view.accessQuestions).toEqual([]);
  });

  it("an inline PEM value reads nothing and asks nothing", async () => {
    const view = cluster();
    const object: KubeObject = {
      apiVersion: "openchoreo.dev/v1alpha1",
      kind: "ClusterDataPlane",
      metadata: { name: "prod" },
      spec: { clusterAgent: { clientCA: { value: pki.root.certificatePem } } },
    };
    const decision = await decideValidation(request(object), SETTINGS, view, NOW);
    expect(decision).toEqual({ kind: "allow", warnings: [] });
    expect(view.accessQuestions).toEqual([]);
  });

  it("a labelled global CA Secret is judged from the request itself: no question", async () => {
    const view = cluster();
    const secret: KubeObject = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: "global-ca",
        namespace: "connectors-system",
        labels: { "connectors.cpaas.io/ca-cert": "true" },
      },
      data: { "ca.crt": b64(pki.root.certificatePem) },
    };
    const decision = await decideValidation(
      { ...request(secret), kind: { group: "", version: "v1", kind: "Secret" } },
      SETTINGS,
      view,
      NOW,
    );
    expect(decision).toEqual({ kind: "allow", warnings: [] });
    expect(view.accessQuestions).toEqual([]);
  });

  it("a cross-namespace reference is denied by the namespace rule before any question", async () => {
    const view = cluster();
    const decision = await decideValidation(
      request({
        ...dataPlane("team-a", { name: "payments-db", key: "ca.crt" }),
        spec: {
          clusterAgent: {
            clientCA: {
              secretKeyRef: { name: "payments-db", key: "ca.crt", namespace: "payments" },
            },
          },
        },
      }),
      SETTINGS,
      view,
      NOW,
    );
    expect(decision.kind === "deny" && decision.message).toMatch(
      /namespace: Forbidden: must be "team-a"/,
    );
    expect(view.accessQuestions).toEqual([]);
  });
});

describe("requests that name no user, and updates", () => {
  it.each([
    { name: "no userInfo at all", userInfo: undefined },
    { name: "an empty user name and no groups", userInfo: { username: "" } },
  ])("$name: denied without a question or a read", async ({ userInfo }) => {
    const { view, reads } = counting(cluster());
    const req = request(
      clusterPlane({ namespace: "argocd", name: "argocd-initial-admin-secret", key: "x" }),
    );
    const decision = await decideValidation(
      userInfo === undefined
        ? { ...req, userInfo: undefined }
        : { ...req, userInfo: userInfo as UserInfo },
      SETTINGS,
      view,
      NOW,
    );
    expect(decision).toMatchObject({ kind: "deny", code: 403 });
    expect(decision.kind === "deny" && decision.message).toContain(
      `${FIELD}: Forbidden: the request names no user; a CA reference must point at a Secret you can read`,
    );
    expect(reads).toEqual([]);
  });

  it("a user name too long to show is cut in the message", async () => {
    const decision = await decideValidation(
      request(clusterPlane({ namespace: "argocd", name: "x", key: "x" }), {
        userInfo: { username: `${"m".repeat(5000)}"` },
      }),
      SETTINGS,
      cluster(),
      NOW,
    );
    expect(decision.kind === "deny" && decision.message.length).toBeLessThan(400);
    expect(decision.kind === "deny" && decision.message).toContain(`"${"m".repeat(100)}..."`);
  });

  it("an UPDATE that keeps the reference is allowed with the refusal as a warning, no details", async () => {
    const object = clusterPlane({
      namespace: "argocd",
      name: "argocd-initial-admin-secret",
      key: "x",
    });
    const decision = await decideValidation(
      request(object, { operation: "UPDATE", oldObject: object }),
      SETTINGS,
      cluster(),
      NOW,
    );
    expect(decision).toEqual({
      kind: "allow",
      warnings: [`${refusal("argocd")} (unchanged by this update)`],
    });
  });
});

describe("--secret-namespaces (the ServiceAccount reads Secrets only there)", () => {
  const settings = { ...SETTINGS, secretNamespaces: ["platform", "argocd"] };

  it("a reference into an unlisted namespace is denied naming the option, before any question", async () => {
    const { view, reads } = counting(cluster());
    const decision = await decideValidation(
      request(clusterPlane({ namespace: "istio-system", name: "cacerts", key: "ca-cert.pem" })),
      settings,
      view,
      NOW,
    );
    expect(decision).toMatchObject({ kind: "deny", code: 403, reason: "Forbidden" });
    expect(decision.kind === "deny" && decision.message).toContain(
      'spec.clusterAgent.clientCA.secretKeyRef.namespace: Forbidden: this webhook reads CA Secrets only in the namespaces of its --secret-namespaces option ("platform", "argocd"), not in "istio-system"',
    );
    expect(reads).toEqual([]);
  });

  it("a namespaced kind's own namespace counts like any other (the field is the name then)", async () => {
    const decision = await decideValidation(
      request({
        apiVersion: "operator.kcp.io/v1alpha1",
        kind: "Shard",
        metadata: { name: "s", namespace: "payments" },
        spec: { clientCABundleRef: { name: "payments-db" } },
      }),
      settings,
      cluster(),
      NOW,
    );
    expect(decision.kind === "deny" && decision.message).toContain(
      'spec.clientCABundleRef.name: Forbidden: this webhook reads CA Secrets only in the namespaces of its --secret-namespaces option ("platform", "argocd"), not in "payments"',
    );
  });

  it("a listed namespace goes on to the access question and the read", async () => {
    const view = cluster({ user: "alice", resource: "secrets", namespace: "platform" });
    const decision = await decideValidation(
      request(clusterPlane({ namespace: "platform", name: "expiring-ca", key: "ca.crt" })),
      settings,
      view,
      NOW,
    );
    expect(decision.kind).toBe("allow");
    expect(view.accessQuestions).toHaveLength(1);
  });
});
