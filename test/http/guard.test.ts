/**
 * POST /guard through buildServer().inject(): the Secret guard's route with the real deciders
 * (buildDecisions over an in-memory view and a reference index), its answers and the labels
 * it reports for the guarded-writes metric.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { defaultDecisionSettings } from "../../src/config.js";
import { buildDecisions, policySettings } from "../../src/decisions.js";
import { MemoryClusterView } from "../../src/kube/memory.js";
import { ReferenceIndex } from "../../src/kube/reference-index.js";
import { silentLogger } from "../../src/observability/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { referencesOf } from "../../src/policy/references.js";
import { buildServer } from "../../src/server.js";
import { NOW, type PkiFixtures, pkiFixtures } from "../fixtures/pki/certificates.js";
import { review } from "./helpers.js";

let pki: PkiFixtures;
beforeAll(async () => {
  pki = await pkiFixtures();
});

const b64 = (text: string) => Buffer.from(text).toString("base64");

function guardServer() {
  const settings = defaultDecisionSettings();
  const index = new ReferenceIndex();
  const gvk = { group: "openchoreo.dev", version: "v1alpha1", kind: "DataPlane" };
  index.set(
    "dataplanes.openchoreo.dev acme/prod-eu",
    { group: gvk.group, kind: gvk.kind, namespace: "acme", name: "prod-eu" },
    referencesOf(
      {
        apiVersion: "openchoreo.dev/v1alpha1",
        kind: "DataPlane",
        metadata: { name: "prod-eu", namespace: "acme" },
        spec: { clusterAgent: { clientCA: { secretKeyRef: { name: "agent-ca", key: "ca.crt" } } } },
      },
      gvk,
      policySettings(settings),
    ),
  );
  const reported: string[] = [];
  const metrics = createMetrics({ processMetrics: false });
  const app = buildServer(
    { requestTimeoutMs: 2_000, keepAliveTimeoutMs: 90_000 },
    {
      logger: silentLogger(),
      metrics,
      ...buildDecisions(settings, new MemoryClusterView(), {
        clock: () => NOW,
        references: index,
        onGuarded: (resource, operation, verdict) =>
          reported.push(`${resource} ${operation} ${verdict}`),
      }),
    },
  );
  return { app, reported, metrics };
}

const secretUpdate = (name: string, before: string, after: string, extra = {}) =>
  review({
    kind: { group: "", version: "v1", kind: "Secret" },
    resource: { group: "", version: "v1", resource: "secrets" },
    namespace: "acme",
    name,
    operation: "UPDATE",
    object: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name, namespace: "acme" },
      data: { "ca.crt": b64(after) },
    },
    oldObject: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name, namespace: "acme" },
      data: { "ca.crt": b64(before) },
    },
    ...extra,
  });

describe("POST /guard", () => {
  it("denies an update that breaks a referenced key, naming the object, and reports the verdict", async () => {
    const { app, reported, metrics } = guardServer();
    const res = await app.inject({
      method: "POST",
      url: "/guard?timeout=2s",
      payload: secretUpdate("agent-ca", pki.root.certificatePem, "junk"),
    });
    expect(res.statusCode).toBe(200);
    const response = res.json().response;
    expect(response.allowed).toBe(false);
    expect(response.status.code).toBe(422);
    expect(response.status.message).toMatch(
      /^Secret "agent-ca" is invalid: data\[ca\.crt\]: .*; it is the CA of DataPlane prod-eu \(spec\.clusterAgent\.clientCA\.secretKeyRef\)$/,
    );
    expect(reported).toEqual(["secrets UPDATE denied"]);
    expect(
      (await metrics.requests.get()).values.find((v) => v.labels.webhook === "guard")?.labels,
    ).toMatchObject({ webhook: "guard", operation: "UPDATE", decision: "denied" });
    await app.close();
  });

  it("allows an unreferenced Secret untouched", async () => {
    const { app, reported } = guardServer();
    const res = await app.inject({
      method: "POST",
      url: "/guard",
      payload: secretUpdate("other", pki.root.certificatePem, "junk"),
    });
    expect(res.json().response).toEqual({
      uid: "705ab4f5-6393-11e8-b7cc-42010a800002",
      allowed: true,
    });
    expect(reported).toEqual(["secrets UPDATE unreferenced"]);
    await app.close();
  });

  it("reports a forged review of another kind under the fixed label `other`", async () => {
    const { app, reported } = guardServer();
    const res = await app.inject({
      method: "POST",
      url: "/guard",
      payload: review({
        kind: { group: "evil.example", version: "v1", kind: "Anything" },
        resource: { group: "evil.example", version: "v1", resource: "x".repeat(200) },
        operation: "DELETE",
        object: null,
      }),
    });
    expect(res.json().response.allowed).toBe(true);
    expect(reported).toEqual(["other DELETE unreferenced"]);
    await app.close();
  });
});
