import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeepAliveAgents, keepAliveClient } from "../../../src/kube/client.js";
import { issueCertificate } from "../../../src/pki/issue.js";

let server: Server;
let caPem: string;
let connections = 0;
let gets = 0;

beforeAll(async () => {
  const now = Date.now();
  const serving = await issueCertificate({
    commonName: "fake-apiserver",
    ipAddresses: ["127.0.0.1"],
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 3_600_000),
  });
  caPem = serving.certificatePem;
  server = createServer(
    { cert: serving.certificatePem, key: serving.privateKeyPem },
    (req, res) => {
      gets++;
      const name = req.url?.split("/").pop()?.split("?")[0] ?? "";
      res.setHeader("content-type", "application/json");
      res.end(
        JSON.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name, namespace: "a" } }),
      );
    },
  );
  server.on("secureConnection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function kubeConfig(ca: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: "fake",
        server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
        caData: Buffer.from(ca).toString("base64"),
      },
    ],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "c", cluster: "fake", user: "u" }],
    currentContext: "c",
  });
  return kc;
}

describe("keepAliveClient", () => {
  it("sends 20 successive GETs over one TLS connection (client-node alone opens one per GET)", async () => {
    const agents = new KeepAliveAgents();
    const core = keepAliveClient(kubeConfig(caPem), CoreV1Api, agents);
    const before = { connections, gets };

    for (let i = 0; i < 20; i++) {
      const secret = await core.readNamespacedSecret({ namespace: "a", name: `s${i}` });
      expect(secret.metadata?.name).toBe(`s${i}`);
    }
    agents.destroy();

    expect(gets - before.gets).toBe(20);
    expect(connections - before.connections).toBe(1);
  });

  it("without it, the same 20 GETs open 20 connections (why it exists)", async () => {
    const core = kubeConfig(caPem).makeApiClient(CoreV1Api);
    const before = connections;

    for (let i = 0; i < 20; i++) await core.readNamespacedSecret({ namespace: "a", name: "s" });

    expect(connections - before).toBe(20);
  });
});

describe("KeepAliveAgents", () => {
  it("keeps one agent while the TLS options are equal, and makes a new one when they change", () => {
    const agents = new KeepAliveAgents();
    const first = agents.for({ ca: Buffer.from("ca-1"), cert: "c", rejectUnauthorized: true });
    const same = agents.for({ ca: Buffer.from("ca-1"), cert: "c", rejectUnauthorized: true });
    const rotated = agents.for({ ca: Buffer.from("ca-2"), cert: "c", rejectUnauthorized: true });
    agents.destroy();

    expect(same).toBe(first);
    expect(rotated).not.toBe(first);
    expect(first.options.keepAlive).toBe(true);
  });
});
