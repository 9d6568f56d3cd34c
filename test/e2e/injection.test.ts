/**
 * Pod injection through the real kube-apiserver: our mutating webhook's JSON patch is applied
 * by the apiserver, PodSecurity `restricted` then validates the result, a second mutating
 * webhook that adds a container after ours triggers our reinvocation, and the stored Pods show
 * exactly what was injected. Without our registration no Pod would carry the init container.
 */
import { createServer, type Server } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { restrictedPod, toYaml } from "../../scripts/harness/manifests.js";
import {
  createTestNamespace,
  INJECT_ENABLED,
  RESTRICTED,
  uniqueName,
} from "../../scripts/harness/namespaces.js";
import { caCertificatePem } from "../../scripts/harness/pki.js";
import {
  registerWebhooks,
  startWebhook,
  type WebhookRegistration,
  type WebhookServer,
  waitForWebhookCalled,
} from "../../scripts/harness/webhook.js";
import { issueCertificate } from "../../src/pki/issue.js";
import { useControlPlane } from "./harness/context.js";

const cp = useControlPlane();

const CA_PEM = await caCertificatePem("e2e Private Root CA");

interface StoredPod {
  metadata: { annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: {
    initContainers?: Container[];
    containers: Container[];
    volumes?: { name: string; emptyDir?: unknown; configMap?: { name: string } }[];
  };
}
interface Container {
  name: string;
  env?: { name: string; value?: string }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext?: Record<string, unknown>;
}

async function getPod(namespace: string, name: string): Promise<StoredPod> {
  const res = await cp.kubectl(["get", "pod", name, "-n", namespace, "-o", "json"]);
  return JSON.parse(res.stdout) as StoredPod;
}

function caConfigMap(namespace: string) {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "ca-trust-bundle", namespace },
    data: { "ca-bundle.crt": CA_PEM },
  };
}

/** Every non-init container and every init container but ours mounts both paths, once. */
function expectInjected(pod: StoredPod, containerNames: string[]): void {
  const init = pod.spec.initContainers ?? [];
  expect(init[0]?.name).toBe("install-ca-cert");
  expect(init.filter((c) => c.name === "install-ca-cert")).toHaveLength(1);
  expect(init[0]?.securityContext).toMatchObject({
    runAsNonRoot: true,
    runAsUser: 65534,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  });
  for (const name of containerNames) {
    const c = [...pod.spec.containers, ...init].find((x) => x.name === name);
    expect(c, name).toBeDefined();
    const mounts = c?.volumeMounts ?? [];
    expect(mounts.filter((m) => m.mountPath === "/etc/ssl/certs")).toEqual([
      { name: "ca-trust-certs", mountPath: "/etc/ssl/certs", readOnly: true },
    ]);
    expect(mounts.filter((m) => m.mountPath === "/etc/ssl/custom-ca")).toHaveLength(1);
    expect((c?.env ?? []).filter((e) => e.name === "AWS_CA_BUNDLE")).toEqual([
      { name: "AWS_CA_BUNDLE", value: "/etc/ssl/custom-ca/ca-bundle.crt" },
    ]);
  }
  const volumes = pod.spec.volumes ?? [];
  expect(volumes.filter((v) => v.name === "ca-trust-certs")).toHaveLength(1);
  expect(volumes.filter((v) => v.name === "ca-trust-custom-ca")).toHaveLength(1);
  expect(pod.metadata.annotations?.["ca-trust.dev/injected"]).toMatch(/^sha256:[0-9a-f]{64}$/);
}

describe("Pod injection", () => {
  let server: WebhookServer;
  let registration: WebhookRegistration;
  let injected: string;
  let noConfigMap: string;

  beforeAll(async () => {
    injected = await createTestNamespace(cp, {
      prefix: "inject",
      labels: { ...INJECT_ENABLED, ...RESTRICTED },
    });
    noConfigMap = await createTestNamespace(cp, {
      prefix: "inject-nocm",
      labels: { ...INJECT_ENABLED },
    });
    await cp.kubectl(["apply", "-f", "-"], { input: toYaml(caConfigMap(injected)) });
    server = await startWebhook(cp);
    registration = await registerWebhooks(cp, {
      url: server.url,
      caBundle: server.caPem,
      validating: false,
      namespaceSelector: {
        matchExpressions: [
          { key: "kubernetes.io/metadata.name", operator: "In", values: [injected, noConfigMap] },
        ],
      },
    });
    await waitForWebhookCalled(cp, server, { namespace: injected, via: "mutating", registration });
  });

  afterAll(async () => {
    await registration?.unregister();
    await server?.stop();
  });

  it("injects a restricted Pod, and PodSecurity restricted admits the result", async () => {
    const name = uniqueName("pod");
    const res = await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml(restrictedPod(name, injected)),
    });
    expect(res.code).toBe(0);
    const pod = await getPod(injected, name);
    expectInjected(pod, ["app"]);
  });

  it("stores an opted-out Pod unchanged", async () => {
    const name = uniqueName("optout");
    const manifest = restrictedPod(name, injected, { "ca-trust.dev/inject": "false" });
    await cp.kubectl(["apply", "-f", "-"], { input: toYaml(manifest) });
    const pod = await getPod(injected, name);
    expect(pod.spec.initContainers ?? []).toEqual([]);
    expect(pod.metadata.annotations?.["ca-trust.dev/injected"]).toBeUndefined();
    expect(pod.spec.containers[0]?.env ?? []).toEqual([]);
    // The review reached us and was allowed untouched.
    const review = server.reviews().find((r) => r.name === name);
    expect(review?.decision).toBe("allowed");
  });

  it("rejects a Pod in a namespace without the CA ConfigMap, with our message", async () => {
    const name = uniqueName("nocm");
    const res = await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml(restrictedPod(name, noConfigMap)),
      allowFail: true,
    });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("denied the request");
    expect(res.stderr).toContain(`ConfigMap ${noConfigMap}/ca-trust-bundle does not exist`);
  });

  describe("with a second mutating webhook that adds a container after ours", () => {
    let sidecar: Server;
    let sidecarConfig: string;

    beforeAll(async () => {
      const now = Date.now();
      const ca = await issueCertificate({
        commonName: "sidecar CA",
        isCA: true,
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + 86_400_000),
      });
      const leaf = await issueCertificate({
        commonName: "sidecar",
        ipAddresses: ["127.0.0.1"],
        issuer: ca,
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + 86_400_000),
      });
      // A peer webhook (like a service mesh injector): adds a restricted `sidecar` container.
      sidecar = createServer({ cert: leaf.certificatePem, key: leaf.privateKeyPem }, (req, res) => {
        let body = "";
        req.on("data", (d: Buffer) => {
          body += d.toString();
        });
        req.on("end", () => {
          const review = JSON.parse(body);
          const pod = review.request.object;
          const has = (pod.spec.containers ?? []).some(
            (c: { name: string }) => c.name === "sidecar",
          );
          const ops = has
            ? []
            : [
                {
                  op: "add",
                  path: "/spec/containers/-",
                  value: {
                    name: "sidecar",
                    image: "registry.k8s.io/pause:3.10",
                    securityContext: {
                      allowPrivilegeEscalation: false,
                      capabilities: { drop: ["ALL"] },
                    },
                  },
                },
              ];
          const response = {
            uid: review.request.uid,
            allowed: true,
            ...(ops.length
              ? {
                  patchType: "JSONPatch",
                  patch: Buffer.from(JSON.stringify(ops)).toString("base64"),
                }
              : {}),
          };
          res.setHeader("content-type", "application/json");
          res.end(
            JSON.stringify({
              apiVersion: "admission.k8s.io/v1",
              kind: "AdmissionReview",
              response,
            }),
          );
        });
      });
      await new Promise<void>((r) => sidecar.listen(0, "127.0.0.1", () => r()));
      const port = (sidecar.address() as { port: number }).port;
      // Webhooks run in order of configuration name: "zz-" sorts after ours ("ca-trust-e2e-").
      sidecarConfig = uniqueName("zz-sidecar-adder");
      await cp.kubectl(["apply", "-f", "-"], {
        input: toYaml({
          apiVersion: "admissionregistration.k8s.io/v1",
          kind: "MutatingWebhookConfiguration",
          metadata: { name: sidecarConfig },
          webhooks: [
            {
              name: "sidecar.e2e.ca-trust.dev",
              clientConfig: {
                url: `https://127.0.0.1:${port}/mutate`,
                caBundle: Buffer.from(ca.certificatePem).toString("base64"),
              },
              rules: [
                {
                  apiGroups: [""],
                  apiVersions: ["v1"],
                  resources: ["pods"],
                  operations: ["CREATE"],
                  scope: "Namespaced",
                },
              ],
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": injected } },
              objectSelector: { matchLabels: { "e2e.ca-trust.dev/sidecar": "true" } },
              sideEffects: "None",
              admissionReviewVersions: ["v1"],
              failurePolicy: "Fail",
              reinvocationPolicy: "Never",
              timeoutSeconds: 5,
            },
          ],
        }),
      });
    });

    afterAll(async () => {
      await cp.kubectl(
        ["delete", "mutatingwebhookconfiguration", sidecarConfig, "--ignore-not-found"],
        { allowFail: true },
      );
      sidecar?.close();
    });

    it("is reinvoked and injects the added container too, duplicating nothing", async () => {
      const name = uniqueName("sidecar");
      // Registration propagates asynchronously: retry until the peer's container shows up.
      let pod: StoredPod | undefined;
      for (let attempt = 0; attempt < 40; attempt++) {
        const podName = `${name}-${attempt}`;
        await cp.kubectl(["apply", "-f", "-"], {
          input: toYaml(restrictedPod(podName, injected, { "e2e.ca-trust.dev/sidecar": "true" })),
        });
        const stored = await getPod(injected, podName);
        if (stored.spec.containers.some((c) => c.name === "sidecar")) {
          pod = stored;
          break;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(pod, "the peer webhook was never called").toBeDefined();
      expectInjected(pod as StoredPod, ["app", "sidecar"]);
      expect((pod as StoredPod).spec.containers.map((c) => c.name)).toEqual(["app", "sidecar"]);
    });
  });
});
