/**
 * The Secret guard's decision (policy/guard.ts) against an index filled the way the server
 * fills it: objects reduced to their references by `referencesOf` (the engine's own
 * resolution) and kept in a ReferenceIndex. Fixed clock; real certificates.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { AdmissionRequest, KubeObject, Operation } from "../../../src/core/types.js";
import { MemoryClusterView } from "../../../src/kube/memory.js";
import { ReferenceIndex } from "../../../src/kube/reference-index.js";
import type { PolicySettings } from "../../../src/policy/engine.js";
import { decideGuard, type GuardSettings } from "../../../src/policy/guard.js";
import { referencesOf } from "../../../src/policy/references.js";
import { BUILTIN_RULES } from "../../../src/policy/rules.js";
import { NOW, type PkiFixtures, pkiFixtures } from "../../fixtures/pki/certificates.js";

let pki: PkiFixtures;
beforeAll(async () => {
  pki = await pkiFixtures();
});

const POLICY: PolicySettings = {
  rules: BUILTIN_RULES,
  systemNamespace: "connectors-system",
  missingSecret: "warn",
  allowedSecretNamespaces: [],
  unverifiable: "deny",
  authorizeReferences: true,
  secretNamespaces: [],
  trustedSecretNamespaces: [],
  expiringWithinDays: 30,
};

const GUARD: GuardSettings = {
  policy: { expiringWithinDays: 30 },
  caConfigMap: { name: "ca-trust-bundle", key: "ca-bundle.crt", onFailure: "deny" },
};

const b64 = (text: string) => Buffer.from(text).toString("base64");

const dataPlane = (name: string, secretKeyRef: Record<string, string>, namespace = "acme") => ({
  apiVersion: "openchoreo.dev/v1alpha1",
  kind: "DataPlane",
  metadata: { name, namespace },
  spec: { clusterAgent: { clientCA: { secretKeyRef } } },
});
const connector = (name: string, secret: string) => ({
  apiVersion: "connectors.alauda.io/v1alpha1",
  kind: "Connector",
  metadata: { name, namespace: "acme" },
  spec: { caCertSecretRef: { name: secret } },
});
const rootShard = (name: string, secret: string) => ({
  apiVersion: "operator.kcp.io/v1alpha1",
  kind: "RootShard",
  metadata: { name, namespace: "acme" },
  spec: { caBundleSecretRef: { name: secret } },
});

/** An index holding `objects`, as the watches fill it. */
function indexOf(objects: KubeObject[]): ReferenceIndex {
  const index = new ReferenceIndex();
  for (const object of objects) {
    const [group, version] = (object.apiVersion as string).split("/") as [string, string];
    const gvk = { group, version, kind: object.kind as string };
    const namespace = object.metadata?.namespace ?? "";
    const name = object.metadata?.name ?? "";
    index.set(
      `${group}/${gvk.kind} ${namespace}/${name}`,
      { group, kind: gvk.kind, namespace, name },
      referencesOf(object, gvk, POLICY),
    );
  }
  return index;
}

const INDEX = () =>
  indexOf([
    dataPlane("dp1", { name: "agent-ca", key: "ca.crt" }),
    connector("git", "connector-ca"),
    rootShard("root", "kcp-ca"),
    // Cross-namespace: the engine denies it, so it references nothing here.
    dataPlane("elsewhere", { name: "agent-ca", key: "ca.crt", namespace: "other" }, "team"),
  ]);

function view(flag = true): MemoryClusterView {
  return new MemoryClusterView()
    .addConfigMap({
      namespace: "connectors-system",
      name: "connectors-config",
      data: { "enable-custom-ca-certs": flag ? "true" : "false" },
    })
    .addNamespace("acme", { "ca-trust.dev/inject": "enabled" })
    .addNamespace("plain", {});
}

let seq = 0;
function secretWrite(
  operation: Operation,
  name: string,
  before: Record<string, string> | undefined,
  after: Record<string, string> | undefined,
  extra: Partial<AdmissionRequest> = {},
): AdmissionRequest {
  const object = (data: Record<string, string> | undefined): KubeObject | null =>
    data === undefined
      ? null
      : { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: "acme" }, data };
  return {
    uid: `u-${++seq}`,
    kind: { group: "", version: "v1", kind: "Secret" },
    resource: { group: "", version: "v1", resource: "secrets" },
    namespace: "acme",
    name,
    operation,
    object: object(after),
    oldObject: object(before),
    userInfo: { username: "alice" },
    ...extra,
  };
}

function configMapWrite(
  operation: Operation,
  namespace: string,
  name: string,
  before: Record<string, string> | undefined,
  after: Record<string, string> | undefined,
): AdmissionRequest {
  const object = (data: Record<string, string> | undefined): KubeObject | null =>
    data === undefined
      ? null
      : { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace }, data };
  return {
    uid: `u-${++seq}`,
    kind: { group: "", version: "v1", kind: "ConfigMap" },
    resource: { group: "", version: "v1", resource: "configmaps" },
    namespace,
    name,
    operation,
    object: object(after),
    oldObject: object(before),
  };
}

const good = () => b64(pki.root.certificatePem);
const truncated = () => b64(pki.root.certificatePem.slice(0, 300));

describe("Secret UPDATE", () => {
  it.each<{
    name: string;
    secret: string;
    before: () => Record<string, string>;
    after: () => Record<string, string>;
    verdict: string;
    message?: RegExp[];
    warnings?: RegExp[];
  }>([
    {
      name: "an unreferenced Secret is allowed from memory",
      secret: "unrelated",
      before: () => ({ "ca.crt": good() }),
      after: () => ({ "ca.crt": truncated() }),
      verdict: "unreferenced",
    },
    {
      name: "a truncated certificate in the referenced key is denied, naming the DataPlane and its field",
      secret: "agent-ca",
      before: () => ({ "ca.crt": good() }),
      after: () => ({ "ca.crt": truncated() }),
      verdict: "denied",
      message: [
        /^Secret "agent-ca" is invalid: data\[ca\.crt\]: Invalid value: /,
        /BEGIN without END|not valid/,
        /it is the CA of DataPlane dp1 \(spec\.clusterAgent\.clientCA\.secretKeyRef\)$/,
      ],
    },
    {
      name: "removing the referenced key is denied",
      secret: "agent-ca",
      before: () => ({ "ca.crt": good(), other: b64("x") }),
      after: () => ({ other: b64("x") }),
      verdict: "denied",
      message: [/has no key "ca\.crt"/, /DataPlane dp1/],
    },
    {
      name: "a private key pasted into the referenced key is denied",
      secret: "agent-ca",
      before: () => ({ "ca.crt": good() }),
      after: () => ({ "ca.crt": b64(pki.root.certificatePem + pki.keys.pkcs8) }),
      verdict: "denied",
      message: [/PRIVATE KEY/, /DataPlane dp1/],
    },
    {
      name: "text without any certificate is denied",
      secret: "agent-ca",
      before: () => ({ "ca.crt": good() }),
      after: () => ({ "ca.crt": b64("renew me later") }),
      verdict: "denied",
      message: [/data\[ca\.crt\]/, /DataPlane dp1/],
    },
    {
      name: "a good renewal is allowed without a word",
      secret: "agent-ca",
      before: () => ({ "ca.crt": b64(pki.intermediate.certificatePem) }),
      after: () => ({ "ca.crt": good() }),
      verdict: "allowed",
    },
    {
      name: "an update that leaves the referenced key unchanged is allowed, whatever else it holds",
      secret: "agent-ca",
      before: () => ({ "ca.crt": good(), notes: b64("a") }),
      after: () => ({ "ca.crt": good(), notes: b64("-----BEGIN garbage") }),
      verdict: "allowed",
    },
    {
      name: "an expiring certificate is allowed with the warning objects get",
      secret: "agent-ca",
      before: () => ({ "ca.crt": good() }),
      after: () => ({ "ca.crt": b64(pki.expiringIn10Days.certificatePem) }),
      verdict: "warned",
      warnings: [/Secret acme\/agent-ca key "ca\.crt": .*expires/],
    },
    {
      name: "a leaf (not a CA) is allowed with a warning",
      secret: "agent-ca",
      before: () => ({ "ca.crt": good() }),
      after: () => ({ "ca.crt": b64(pki.leaf.certificatePem) }),
      verdict: "warned",
      warnings: [/not a CA/i],
    },
    {
      name: "a key that was already broken does not block an update that leaves it broken",
      secret: "agent-ca",
      before: () => ({ "ca.crt": b64("old junk") }),
      after: () => ({ "ca.crt": truncated() }),
      verdict: "warned",
      warnings: [/data\[ca\.crt\].*\(already failing before this update\)/],
    },
    {
      name: "kcp: a broken tls.crt is denied, naming the RootShard",
      secret: "kcp-ca",
      before: () => ({ "tls.crt": good() }),
      after: () => ({ "tls.crt": truncated() }),
      verdict: "denied",
      message: [/data\[tls\.crt\]/, /RootShard root \(spec\.caBundleSecretRef\)/],
    },
    {
      name: "Connector (eligible keys): a new .pem key that does not parse is denied",
      secret: "connector-ca",
      before: () => ({ "ca.crt": good() }),
      after: () => ({ "ca.crt": good(), "extra.pem": b64("garbage") }),
      verdict: "denied",
      message: [/data\[extra\.pem\]/, /Connector git \(spec\.caCertSecretRef\)/],
    },
    {
      name: "Connector (eligible keys): a token added beside the CA is allowed",
      secret: "connector-ca",
      before: () => ({ "ca.crt": good() }),
      after: () => ({ "ca.crt": good(), token: b64("abc") }),
      verdict: "allowed",
    },
  ])("$name", ({ secret, before, after, verdict, message, warnings }) => {
    const outcome = decideGuard(
      secretWrite("UPDATE", secret, before(), after()),
      GUARD,
      INDEX(),
      view(),
      NOW,
    );
    expect(outcome.verdict).toBe(verdict);
    if (verdict === "denied") {
      expect(outcome.decision).toMatchObject({ kind: "deny", code: 422, reason: "Invalid" });
      const text = outcome.decision.kind === "deny" ? outcome.decision.message : "";
      for (const m of message ?? []) expect(text).toMatch(m);
    } else {
      expect(outcome.decision.kind).toBe("allow");
    }
    for (const w of warnings ?? []) {
      expect(outcome.decision.warnings.some((x) => w.test(x))).toBe(true);
    }
    if (verdict === "allowed" || verdict === "unreferenced") {
      expect(outcome.decision.warnings).toEqual([]);
    }
  });

  it("a Connector's Secret is not guarded while the Connectors feature flag is off", () => {
    const outcome = decideGuard(
      secretWrite("UPDATE", "connector-ca", { "ca.crt": good() }, { "ca.crt": truncated() }),
      GUARD,
      INDEX(),
      view(false),
      NOW,
    );
    expect(outcome.verdict).toBe("unreferenced");
  });

  it("a cross-namespace reference the engine denies protects nothing", () => {
    const index = indexOf([
      dataPlane("elsewhere", { name: "agent-ca", key: "ca.crt", namespace: "other" }, "team"),
    ]);
    expect(index.referrers("other", "agent-ca")).toEqual([]);
    expect(index.referrers("team", "agent-ca")).toEqual([]);
  });

  it("a cross-namespace reference into a trusted namespace protects that Secret", () => {
    const plane = dataPlane(
      "trusting",
      { name: "agent-ca", key: "ca.crt", namespace: "openchoreo-control-plane" },
      "default",
    );
    const gvk = { group: "openchoreo.dev", version: "v1alpha1", kind: "DataPlane" };
    const trusted = {
      ...POLICY,
      trustedSecretNamespaces: [{ rule: undefined, namespace: "openchoreo-control-plane" }],
    };
    expect(referencesOf(plane, gvk, POLICY)).toEqual([]);
    expect(referencesOf(plane, gvk, trusted)).toMatchObject([
      {
        namespace: "openchoreo-control-plane",
        name: "agent-ca",
        key: "ca.crt",
        path: "spec.clusterAgent.clientCA.secretKeyRef",
      },
    ]);
  });

  it("names at most 5 referencing objects, then counts the rest", () => {
    const index = indexOf(
      Array.from({ length: 8 }, (_, i) => dataPlane(`dp${i}`, { name: "shared", key: "ca.crt" })),
    );
    const outcome = decideGuard(
      secretWrite("UPDATE", "shared", { "ca.crt": good() }, { "ca.crt": truncated() }),
      GUARD,
      index,
      view(),
      NOW,
    );
    const text = outcome.decision.kind === "deny" ? outcome.decision.message : "";
    expect(text).toMatch(
      /it is the CA of DataPlane dp0 \(.*\), DataPlane dp1 \(.*\), DataPlane dp2 \(.*\), DataPlane dp3 \(.*\), DataPlane dp4 \(.*\) and 3 more$/,
    );
  });

  it("only the references whose key the update breaks are named", () => {
    const index = indexOf([
      dataPlane("reads-ca", { name: "two-keys", key: "ca.crt" }),
      dataPlane("reads-other", { name: "two-keys", key: "other.crt" }),
    ]);
    const outcome = decideGuard(
      secretWrite(
        "UPDATE",
        "two-keys",
        { "ca.crt": good(), "other.crt": good() },
        { "ca.crt": truncated(), "other.crt": good() },
      ),
      GUARD,
      index,
      view(),
      NOW,
    );
    const text = outcome.decision.kind === "deny" ? outcome.decision.message : "";
    expect(text).toContain("DataPlane reads-ca");
    expect(text).not.toContain("reads-other");
  });

  it("removing a finalizer from a Secret being deleted is allowed", () => {
    const request = secretWrite("UPDATE", "agent-ca", { "ca.crt": good() }, { "ca.crt": "" });
    (request.object as KubeObject).metadata = {
      name: "agent-ca",
      namespace: "acme",
      deletionTimestamp: "2026-06-01T00:00:00Z",
    };
    expect(decideGuard(request, GUARD, INDEX(), view(), NOW).decision.kind).toBe("allow");
  });

  it("CREATE and subresources are not the guard's", () => {
    for (const request of [
      secretWrite("CREATE", "agent-ca", undefined, { "ca.crt": truncated() }),
      secretWrite(
        "UPDATE",
        "agent-ca",
        { "ca.crt": good() },
        { "ca.crt": truncated() },
        {
          subResource: "status",
        },
      ),
    ]) {
      expect(decideGuard(request, GUARD, INDEX(), view(), NOW).verdict).toBe("unreferenced");
    }
  });
});

describe("Secret DELETE", () => {
  it("of a referenced Secret is allowed with a warning naming each object that loses its CA", () => {
    const outcome = decideGuard(
      secretWrite("DELETE", "agent-ca", { "ca.crt": good() }, undefined),
      GUARD,
      INDEX(),
      view(),
      NOW,
    );
    expect(outcome).toEqual({
      verdict: "warned",
      decision: {
        kind: "allow",
        warnings: ["DataPlane dp1 (spec.clusterAgent.clientCA.secretKeyRef) loses its CA"],
      },
    });
  });

  it("of a Secret referenced by many objects names 5 and counts the rest", () => {
    const index = indexOf(
      Array.from({ length: 7 }, (_, i) => dataPlane(`dp${i}`, { name: "shared", key: "ca.crt" })),
    );
    const outcome = decideGuard(
      secretWrite("DELETE", "shared", { "ca.crt": good() }, undefined),
      GUARD,
      index,
      view(),
      NOW,
    );
    expect(outcome.decision.warnings).toHaveLength(6);
    expect(outcome.decision.warnings[5]).toBe("2 more objects lose their CA with Secret shared");
  });

  it("of an unreferenced Secret is allowed untouched", () => {
    const outcome = decideGuard(
      secretWrite("DELETE", "unrelated", { "ca.crt": good() }, undefined),
      GUARD,
      INDEX(),
      view(),
      NOW,
    );
    expect(outcome.verdict).toBe("unreferenced");
  });
});

describe("the injection CA ConfigMap", () => {
  const bundle = () => pki.root.certificatePem;
  it.each<{
    name: string;
    request: () => AdmissionRequest;
    settings?: GuardSettings;
    verdict: string;
    text?: RegExp;
  }>([
    {
      name: "an UPDATE that breaks its key in an opted-in namespace is denied, saying what it does to Pods",
      request: () =>
        configMapWrite(
          "UPDATE",
          "acme",
          "ca-trust-bundle",
          { "ca-bundle.crt": bundle() },
          { "ca-bundle.crt": bundle().slice(0, 200) },
        ),
      verdict: "denied",
      text: /^ConfigMap "ca-trust-bundle" is invalid: data\[ca-bundle\.crt\]: Invalid value: not a valid CA bundle: .*; it is the injected CA of namespace "acme": new Pods there that opt in to CA injection would be denied$/,
    },
    {
      name: "an UPDATE that removes its key is denied",
      request: () =>
        configMapWrite(
          "UPDATE",
          "acme",
          "ca-trust-bundle",
          { "ca-bundle.crt": bundle() },
          { other: "x" },
        ),
      verdict: "denied",
      text: /data\[ca-bundle\.crt\]: Required value: the CA bundle key "ca-bundle\.crt" is gone/,
    },
    {
      name: "with skip-and-warn, the denial says new Pods would start without the CA",
      request: () =>
        configMapWrite(
          "UPDATE",
          "acme",
          "ca-trust-bundle",
          { "ca-bundle.crt": bundle() },
          { "ca-bundle.crt": "junk" },
        ),
      settings: {
        ...GUARD,
        caConfigMap: { name: "ca-trust-bundle", key: "ca-bundle.crt", onFailure: "skip-and-warn" },
      },
      verdict: "denied",
      text: /would start without the private CA$/,
    },
    {
      name: "a DELETE is allowed with a warning",
      request: () =>
        configMapWrite(
          "DELETE",
          "acme",
          "ca-trust-bundle",
          { "ca-bundle.crt": bundle() },
          undefined,
        ),
      verdict: "warned",
      text: /^new opted-in Pods in "acme" would be denied until ConfigMap ca-trust-bundle exists again$/,
    },
    {
      name: "a good new bundle is allowed",
      request: () =>
        configMapWrite(
          "UPDATE",
          "acme",
          "ca-trust-bundle",
          { "ca-bundle.crt": bundle() },
          { "ca-bundle.crt": `${bundle()}${pki.intermediate.certificatePem}` },
        ),
      verdict: "allowed",
    },
    {
      name: "in a namespace that is not opted in, it is not guarded",
      request: () =>
        configMapWrite(
          "UPDATE",
          "plain",
          "ca-trust-bundle",
          { "ca-bundle.crt": bundle() },
          { "ca-bundle.crt": "junk" },
        ),
      verdict: "unreferenced",
    },
    {
      name: "another ConfigMap is not guarded",
      request: () =>
        configMapWrite("UPDATE", "acme", "settings", { "ca-bundle.crt": bundle() }, { a: "b" }),
      verdict: "unreferenced",
    },
    {
      name: "with ClusterTrustBundles as the source, no ConfigMap is guarded",
      request: () =>
        configMapWrite(
          "UPDATE",
          "acme",
          "ca-trust-bundle",
          { "ca-bundle.crt": bundle() },
          { "ca-bundle.crt": "junk" },
        ),
      settings: { ...GUARD, caConfigMap: undefined },
      verdict: "unreferenced",
    },
  ])("$name", ({ request, settings, verdict, text }) => {
    const outcome = decideGuard(request(), settings ?? GUARD, INDEX(), view(), NOW);
    expect(outcome.verdict).toBe(verdict);
    if (text !== undefined) {
      const said =
        outcome.decision.kind === "deny"
          ? outcome.decision.message
          : outcome.decision.warnings.join("\n");
      expect(said).toMatch(text);
    }
  });
});
