/**
 * Mutual TLS with a real kube-apiserver: the apiserver is given a client certificate for our
 * webhook through `--admission-control-config-file` (a WebhookAdmissionConfiguration
 * kubeconfig whose user is named after the webhook's host:port), our server requires it
 * (`--client-ca-file`, `--client-cn`). Admissions work; a client without a certificate is
 * refused at the handshake. A control plane of its own: the flag is fixed at apiserver start.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { resolveBinaries } from "../../scripts/harness/binaries.js";
import { type OwnedControlPlane, startControlPlane } from "../../scripts/harness/controlplane.js";
import { restrictedPod, toYaml } from "../../scripts/harness/manifests.js";
import { createTestNamespace, INJECT_ENABLED } from "../../scripts/harness/namespaces.js";
import { freePorts } from "../../scripts/harness/ports.js";
import {
  registerWebhooks,
  startWebhook,
  type WebhookServer,
  waitForWebhookCalled,
} from "../../scripts/harness/webhook.js";
import { issueCertificate } from "../../src/pki/issue.js";

const HOUR = 3_600_000;

describe("mutual TLS between the apiserver and the webhook", () => {
  let cp: OwnedControlPlane;
  let server: WebhookServer;
  let dir: string;
  let namespace: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ca-trust-e2e-mtls-"));
    const validity = {
      notBefore: new Date(Date.now() - HOUR),
      notAfter: new Date(Date.now() + 24 * HOUR),
    };
    const clientCa = await issueCertificate({
      commonName: "webhook client CA",
      isCA: true,
      ...validity,
    });
    const apiserverClient = await issueCertificate({
      commonName: "kube-apiserver",
      usage: "client",
      issuer: clientCa,
      ...validity,
    });
    const [port, healthPort] = await freePorts(2);
    // The apiserver picks the credentials whose user name is the webhook URL's host:port.
    const kubeconfig = join(dir, "webhook-client.kubeconfig");
    writeFileSync(
      kubeconfig,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        users: [
          {
            name: `127.0.0.1:${port}`,
            user: {
              "client-certificate-data": Buffer.from(apiserverClient.certificatePem).toString(
                "base64",
              ),
              "client-key-data": Buffer.from(apiserverClient.privateKeyPem).toString("base64"),
            },
          },
        ],
      }),
    );
    const webhookAdmission = {
      apiVersion: "apiserver.config.k8s.io/v1",
      kind: "WebhookAdmissionConfiguration",
      kubeConfigFile: kubeconfig,
    };
    const admissionConfig = join(dir, "admission.yaml");
    writeFileSync(
      admissionConfig,
      stringify({
        apiVersion: "apiserver.config.k8s.io/v1",
        kind: "AdmissionConfiguration",
        plugins: [
          { name: "ValidatingAdmissionWebhook", configuration: webhookAdmission },
          { name: "MutatingAdmissionWebhook", configuration: webhookAdmission },
        ],
      }),
    );
    const clientCaFile = join(dir, "client-ca.crt");
    writeFileSync(clientCaFile, clientCa.certificatePem);

    cp = await startControlPlane({
      binDir: await resolveBinaries(),
      extraApiServerFlags: [`--admission-control-config-file=${admissionConfig}`],
    });
    namespace = await createTestNamespace(cp, { prefix: "mtls", labels: { ...INJECT_ENABLED } });
    await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "ca-trust-bundle", namespace },
        data: { "ca-bundle.crt": clientCa.certificatePem },
      }),
    });
    server = await startWebhook(cp, {
      ...(port === undefined ? {} : { port }),
      ...(healthPort === undefined ? {} : { healthPort }),
      extraArgs: ["--client-ca-file", clientCaFile, "--client-cn", "kube-apiserver"],
    });
    const registration = await registerWebhooks(cp, {
      url: server.url,
      caBundle: server.caPem,
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
    });
    await waitForWebhookCalled(cp, server, { namespace, via: "mutating", registration });
  }, 300_000);

  afterAll(async () => {
    await server?.stop();
    await cp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("admits and injects a Pod: the apiserver presented its client certificate", async () => {
    const name = "mtls-pod";
    await cp.kubectl(["apply", "-f", "-"], { input: toYaml(restrictedPod(name, namespace)) });
    const pod = JSON.parse(
      (await cp.kubectl(["get", "pod", name, "-n", namespace, "-o", "json"])).stdout,
    );
    expect(pod.spec.initContainers[0].name).toBe("install-ca-cert");
    expect(server.reviews().some((r) => r.name === name && r.decision === "patched")).toBe(true);
  });

  it("refuses a client without a certificate at the TLS handshake", async () => {
    const outcome = await new Promise<string>((resolve) => {
      const req = request(
        {
          host: "127.0.0.1",
          port: server.port,
          path: "/mutate",
          method: "POST",
          ca: server.caPem,
          agent: false,
        },
        (res) => resolve(`HTTP ${res.statusCode}`),
      );
      req.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      req.end("{}");
    });
    expect(outcome).not.toMatch(/^HTTP/);
  });
});
