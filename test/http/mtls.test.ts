import { request } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/observability/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { type IssuedCertificate, issueCertificate } from "../../src/pki/issue.js";
import { buildServer } from "../../src/server.js";
import { allowAll, review, servingPair } from "./helpers.js";

const hour = 3_600_000;
const validity = () => ({
  notBefore: new Date(Date.now() - hour),
  notAfter: new Date(Date.now() + hour),
});

let app: ReturnType<typeof buildServer>;
let port: number;
let serverCa: string;
let clientCa: IssuedCertificate;
let otherCa: IssuedCertificate;

beforeAll(async () => {
  const pair = await servingPair();
  serverCa = pair.ca.certificatePem;
  clientCa = await issueCertificate({
    commonName: "apiserver client CA",
    isCA: true,
    ...validity(),
  });
  otherCa = await issueCertificate({ commonName: "someone else's CA", isCA: true, ...validity() });
  app = buildServer(
    {
      https: {
        cert: pair.leaf.certificatePem,
        key: pair.leaf.privateKeyPem,
        ca: clientCa.certificatePem,
      },
      clientAuth: { commonNames: ["kube-apiserver"] },
      requestTimeoutMs: 5_000,
      keepAliveTimeoutMs: 90_000,
    },
    {
      logger: silentLogger(),
      metrics: createMetrics({ processMetrics: false }),
      validate: allowAll,
      mutate: allowAll,
    },
  );
  await app.listen({ host: "127.0.0.1", port: 0 });
  port = (app.server.address() as { port: number }).port;
});
afterAll(async () => {
  await app.close();
});

async function client(commonName: string, issuer: IssuedCertificate) {
  return issueCertificate({ commonName, usage: "client", issuer, ...validity() });
}

function post(
  identity?: IssuedCertificate,
): Promise<{ status: number; code?: string } | { error: string }> {
  return new Promise((resolve) => {
    const body = JSON.stringify(review({ uid: "mtls" }));
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: "/validate",
        method: "POST",
        agent: false,
        ca: serverCa,
        ...(identity ? { cert: identity.certificatePem, key: identity.privateKeyPem } : {}),
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        let text = "";
        res.on("data", (d: Buffer) => {
          text += d.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, code: JSON.parse(text).code }));
      },
    );
    req.on("error", (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end(body);
  });
}

describe("mutual TLS", () => {
  it("answers the apiserver's client certificate", async () => {
    expect(await post(await client("kube-apiserver", clientCa))).toEqual({
      status: 200,
      code: undefined,
    });
  });

  it("refuses a client without a certificate at the handshake", async () => {
    expect(await post()).toHaveProperty("error");
  });

  it("refuses a certificate from another CA at the handshake", async () => {
    expect(await post(await client("kube-apiserver", otherCa))).toHaveProperty("error");
  });

  it("answers 403 to a certificate from the CA with a CN not in --client-cn", async () => {
    expect(await post(await client("intruder", clientCa))).toEqual({
      status: 403,
      code: "CTW_ERR_CLIENT_NOT_ALLOWED",
    });
  });
});
