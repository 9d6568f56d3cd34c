import { X509Certificate } from "node:crypto";
import { Agent } from "node:https";
import { connect as netConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postHttps } from "./client.js";
import { review, servingPair, testServer } from "./helpers.js";

let server: ReturnType<typeof testServer>;
let port: number;
let ca: string;
let fingerprint: string;

beforeAll(async () => {
  const pair = await servingPair();
  ca = pair.ca.certificatePem;
  fingerprint = new X509Certificate(pair.leaf.certificatePem).fingerprint256;
  server = testServer({}, { cert: pair.leaf.certificatePem, key: pair.leaf.privateKeyPem });
  await server.app.listen({ host: "127.0.0.1", port: 0 });
  port = (server.app.server.address() as { port: number }).port;
});
afterAll(async () => {
  await server.app.close();
});

describe("a real HTTPS listener", () => {
  it.each(["CREATE", "UPDATE", "DELETE", "CONNECT"])(
    "answers a %s review with the same uid over TLS",
    async (operation) => {
      const uid = `tls-${operation}`;
      const res = await postHttps(port, "/validate", JSON.stringify(review({ uid, operation })), {
        ca,
      });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body).response).toEqual({ uid, allowed: true });
      expect(res.peerFingerprint).toBe(fingerprint);
    },
  );

  it.each([
    [
      "an oversized body",
      "x".repeat(5 * 1024 * 1024),
      "application/json",
      413,
      "FST_ERR_CTP_BODY_TOO_LARGE",
    ],
    [
      "a wrong content type",
      JSON.stringify(review()),
      "text/plain",
      415,
      "FST_ERR_CTP_INVALID_MEDIA_TYPE",
    ],
    [
      "deep nesting",
      `${"[".repeat(50_000)}${"]".repeat(50_000)}`,
      "application/json",
      400,
      "CTW_ERR_JSON_TOO_DEEP",
    ],
    [
      "a missing uid",
      JSON.stringify(review({ uid: undefined })),
      "application/json",
      400,
      "CTW_ERR_BAD_REVIEW",
    ],
  ])("refuses %s on the socket", async (_name, body, contentType, status, code) => {
    const res = await postHttps(port, "/validate", body, { ca, contentType });
    expect(res.status).toBe(status);
    expect(JSON.parse(res.body).code).toBe(code);
  });

  it("still answers over a keep-alive connection after hostile requests", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca });
    try {
      await postHttps(port, "/validate", "not json", { agent, ca });
      await postHttps(port, "/validate", "{}", { agent, ca });
      const res = await postHttps(port, "/mutate", JSON.stringify(review({ uid: "ka" })), {
        agent,
        ca,
      });
      expect(res.status).toBe(200);
      expect(res.reusedSocket).toBe(true);
      expect(JSON.parse(res.body).response.uid).toBe("ka");
    } finally {
      agent.destroy();
    }
  });

  it("refuses TLS 1.1", async () => {
    const outcome = await new Promise<string>((resolve) => {
      const socket = tlsConnect({
        host: "127.0.0.1",
        port,
        ca,
        maxVersion: "TLSv1.1",
        minVersion: "TLSv1",
      });
      socket.on("secureConnect", () => {
        socket.destroy();
        resolve("connected");
      });
      socket.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    expect(outcome).not.toBe("connected");
  });

  it("does not speak plain HTTP on the webhook port", async () => {
    const reply = await new Promise<string>((resolve) => {
      const socket = netConnect({ host: "127.0.0.1", port }, () => {
        socket.write("POST /validate HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}");
      });
      let data = "";
      socket.on("data", (d) => {
        data += d.toString("latin1");
      });
      socket.on("close", () => resolve(data));
      socket.on("error", () => resolve(data));
    });
    expect(reply).not.toMatch(/^HTTP\/1\.1 200/);
  });

  it("closes a connection whose body never arrives (slowloris) within the request timeout", async () => {
    const started = Date.now();
    const closed = await new Promise<boolean>((resolve) => {
      const socket = tlsConnect({ host: "127.0.0.1", port, ca }, () => {
        socket.write(
          "POST /validate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{",
        );
      });
      socket.on("data", () => undefined);
      socket.on("close", () => resolve(true));
      socket.on("error", () => undefined);
      setTimeout(() => resolve(false), 8_000).unref();
    });
    expect(closed).toBe(true);
    expect(Date.now() - started).toBeLessThan(8_000);
  });
});
