import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { connect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issueCa, issueServing, serviceNames } from "../../../src/tls/authority.js";
import type { KeyedCertificate } from "../../../src/tls/certificate-set.js";
import { MemoryCertificate } from "../../../src/tls/serving.js";

// Fixed dates relative to the real clock: the TLS client checks validity against it.
const NOW = new Date();
const NAMES = serviceNames("ca-trust-webhook", "ca-trust", [], ["127.0.0.1"]);

let ca: KeyedCertificate;
let first: KeyedCertificate;
let second: KeyedCertificate;
let server: Server;
let port: number;
let serving: MemoryCertificate;

beforeAll(async () => {
  ca = await issueCa(NOW, 3_600_000);
  first = await issueServing(ca, NAMES, NOW, 600_000);
  second = await issueServing(ca, NAMES, NOW, 600_000);
  serving = new MemoryCertificate(first.pem, first.keyPem, { minVersion: "TLSv1.2" });
  server = createServer(serving.secureContextOptions(), (_req, res) => res.end("ok"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
  serving.attach(server);
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

/** The fingerprint of the certificate a fresh TLS connection is served, verified against `ca`. */
function served(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ca: ca.pem }, () => {
      const fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? "";
      socket.end();
      resolve(fingerprint.replaceAll(":", "").toLowerCase());
    });
    socket.once("error", reject);
  });
}

describe("MemoryCertificate", () => {
  it.each([
    ["serves the pair it was built with", () => first, false],
    ["serves a new pair to new connections once installed", () => second, true],
    ["ignores the pair already in use", () => second, false],
  ])("%s", async (_name, pick, changes) => {
    const pair = pick();
    expect(serving.install(pair.pem, pair.keyPem)).toBe(changes);
    expect(await served()).toBe(pair.fingerprint);
  });

  it("keeps the last good pair when the new one does not match its key", async () => {
    expect(() => serving.install(first.pem, second.keyPem)).toThrow();
    expect(await served()).toBe(second.fingerprint);
  });
});
