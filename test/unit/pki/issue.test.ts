import { execFileSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSecureContext } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  encodePem,
  type IssuedCertificate,
  ipAddressBytes,
  issueCertificate,
} from "../../../src/pki/issue.js";

// Fixed clock: validity is relative to it, and openssl verifies "-attime" it.
const NOW = new Date("2026-06-01T00:00:00Z");
const NOT_BEFORE = new Date("2026-01-01T00:00:00.789Z");
const NOT_AFTER = new Date("2027-01-01T00:00:00Z");

let ca: IssuedCertificate;
let serving: IssuedCertificate;
let rsaClient: IssuedCertificate;
let workdir: string;

beforeAll(async () => {
  ca = await issueCertificate({
    commonName: "Test Root CA",
    isCA: true,
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
  });
  serving = await issueCertificate({
    commonName: "webhook.ca-trust.svc",
    dnsNames: ["webhook.ca-trust.svc", "localhost"],
    ipAddresses: ["127.0.0.1", "::1", "10.96.0.1"],
    usage: "server+client",
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    issuer: ca,
  });
  rsaClient = await issueCertificate({
    commonName: "kubernetes-admin",
    organization: ["system:masters"],
    usage: "client",
    keyAlgorithm: "RSA-2048",
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    issuer: ca,
  });
  workdir = mkdtempSync(join(tmpdir(), "pki-issue-"));
});

afterAll(() => {
  if (workdir) rmSync(workdir, { recursive: true, force: true });
});

function x509(cert: IssuedCertificate): X509Certificate {
  return new X509Certificate(cert.certificatePem);
}

function opensslText(cert: IssuedCertificate): string {
  const file = join(workdir, `${cert.commonName}.txt.pem`);
  writeFileSync(file, cert.certificatePem);
  return execFileSync("/usr/bin/openssl", ["x509", "-in", file, "-noout", "-text"], {
    encoding: "utf8",
  });
}

describe("issueCertificate", () => {
  it("produces a self-signed CA that Node parses as a CA and that verifies itself", () => {
    const root = x509(ca);
    expect(root.ca).toBe(true);
    expect(root.subject).toBe("CN=Test Root CA");
    expect(root.checkIssued(root)).toBe(true);
    expect(root.verify(root.publicKey)).toBe(true);
    expect(root.checkPrivateKey(createPrivateKey(ca.privateKeyPem))).toBe(true);
    expect(Buffer.from(root.raw).equals(Buffer.from(ca.der))).toBe(true);
  });

  it("truncates validity to whole seconds", () => {
    expect(new Date(x509(ca).validFrom).toISOString()).toBe("2026-01-01T00:00:00.000Z");
    expect(new Date(x509(ca).validTo).toISOString()).toBe(NOT_AFTER.toISOString());
  });

  it.each([
    ["an ECDSA serving certificate", () => serving],
    ["an RSA client certificate", () => rsaClient],
  ])("issues %s that chains to the CA and matches its key", (_name, get) => {
    const leaf = x509(get());
    const root = x509(ca);
    expect(leaf.ca).toBe(false);
    expect(leaf.checkIssued(root)).toBe(true);
    expect(leaf.verify(root.publicKey)).toBe(true);
    expect(leaf.verify(leaf.publicKey)).toBe(false);
    expect(leaf.checkPrivateKey(createPrivateKey(get().privateKeyPem))).toBe(true);
  });

  it("puts the requested DNS names and IP addresses in subjectAltName", () => {
    expect(x509(serving).subjectAltName).toBe(
      "DNS:webhook.ca-trust.svc, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:10.96.0.1",
    );
    expect(x509(rsaClient).subjectAltName).toBeUndefined();
  });

  it("sets O= and the RSA key usages for a kube admin client certificate", () => {
    expect(x509(rsaClient).subject).toBe("O=system:masters\nCN=kubernetes-admin");
    expect(x509(rsaClient).keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]);
    const text = opensslText(rsaClient);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(text).toMatch(/Public Key Algorithm: rsaEncryption/);
    // The signature follows the issuer's key, here the ECDSA root.
    expect(text).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);
  });

  it("signs with sha256WithRSAEncryption when the issuer has an RSA key", async () => {
    const rsaRoot = await issueCertificate({
      commonName: "RSA Root",
      isCA: true,
      keyAlgorithm: "RSA-2048",
      notBefore: NOT_BEFORE,
      notAfter: NOT_AFTER,
    });
    const leaf = await issueCertificate({
      commonName: "leaf",
      notBefore: NOT_BEFORE,
      notAfter: NOT_AFTER,
      issuer: rsaRoot,
    });
    expect(opensslText(leaf)).toMatch(/Signature Algorithm: sha256WithRSAEncryption/);
    expect(x509(leaf).verify(x509(rsaRoot).publicKey)).toBe(true);
    expect(x509(rsaRoot).verify(x509(rsaRoot).publicKey)).toBe(true);
  });

  it("sets the CA and serving extensions Go's crypto/x509 expects", () => {
    const caText = opensslText(ca);
    expect(caText).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(caText).toMatch(/Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    expect(caText).not.toMatch(/Extended Key Usage/);
    const servingText = opensslText(serving);
    expect(servingText).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(servingText).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    expect(servingText).toMatch(
      /Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/,
    );
    expect(servingText).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);
    const caKeyId = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(caText)?.[1];
    expect(caKeyId).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
    expect(servingText).toContain(`Authority Key Identifier: \n                ${caKeyId}`);
  });

  it("is accepted by `openssl verify` and by tls.createSecureContext", () => {
    const caFile = join(workdir, "ca.pem");
    const leafFile = join(workdir, "leaf.pem");
    const clientFile = join(workdir, "client.pem");
    writeFileSync(caFile, ca.certificatePem);
    writeFileSync(leafFile, serving.certificatePem);
    writeFileSync(clientFile, rsaClient.certificatePem);
    const attime = String(Math.floor(NOW.getTime() / 1000));
    const out = execFileSync(
      "/usr/bin/openssl",
      ["verify", "-attime", attime, "-x509_strict", "-CAfile", caFile, leafFile, clientFile],
      { encoding: "utf8" },
    );
    expect(out).toBe(`${leafFile}: OK\n${clientFile}: OK\n`);
    expect(() =>
      createSecureContext({
        cert: serving.certificatePem,
        key: serving.privateKeyPem,
        ca: ca.certificatePem,
      }),
    ).not.toThrow();
  });

  it.each([
    ["a given serial is kept", Uint8Array.of(0x01, 0x02), "0102"],
    ["leading zero bytes are stripped", Uint8Array.of(0, 0, 0x7f), "7F"],
    ["a high-bit serial stays positive", Uint8Array.of(0x80, 0x01), "8001"],
  ])("encodes serial numbers minimally: %s", async (_name, serialNumber, expected) => {
    const cert = await issueCertificate({
      commonName: "serial",
      notBefore: NOT_BEFORE,
      notAfter: NOT_AFTER,
      serialNumber,
      issuer: ca,
    });
    expect(x509(cert).serialNumber).toBe(expected);
  });

  it("uses GeneralizedTime from 2050 on (RFC 5280)", async () => {
    const cert = await issueCertificate({
      commonName: "long",
      notBefore: NOT_BEFORE,
      notAfter: new Date("2060-01-02T03:04:05Z"),
      issuer: ca,
    });
    expect(new Date(x509(cert).validTo).toISOString()).toBe("2060-01-02T03:04:05.000Z");
  });

  it.each([
    ["an inverted validity window", { notBefore: NOT_AFTER, notAfter: NOT_BEFORE }, RangeError],
    ["a zero serial number", { serialNumber: Uint8Array.of(0, 0) }, RangeError],
    ["an IP address that does not parse", { ipAddresses: ["10.0.0.300"] }, TypeError],
  ])("rejects %s", async (_name, override, error) => {
    const options = { commonName: "bad", notBefore: NOT_BEFORE, notAfter: NOT_AFTER, ...override };
    await expect(issueCertificate(options)).rejects.toThrow(error);
  });

  it("draws a random positive 16-byte serial by default", () => {
    expect(x509(ca).serialNumber).toMatch(/^[4-7][0-9A-F]{31}$/);
    expect(x509(ca).serialNumber).not.toBe(x509(serving).serialNumber);
  });
});

describe("ipAddressBytes", () => {
  it.each([
    ["127.0.0.1", "7f000001"],
    ["::1", "00000000000000000000000000000001"],
    ["::", "00000000000000000000000000000000"],
    ["fe80::1:2", "fe800000000000000000000000010002"],
    ["2001:db8::", "20010db8000000000000000000000000"],
    ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
    ["::ffff:10.0.0.1", "00000000000000000000ffff0a000001"],
  ])("encodes %s", (address, hex) => {
    expect(Buffer.from(ipAddressBytes(address)).toString("hex")).toBe(hex);
  });

  it.each([["example.com"], ["1.2.3"], [""]])("rejects %j", (address) => {
    expect(() => ipAddressBytes(address)).toThrow(TypeError);
  });
});

describe("encodePem", () => {
  it("wraps base64 at 64 characters with LF line endings", () => {
    const pem = encodePem("CERTIFICATE", new Uint8Array(100).fill(0xff));
    expect(pem.split("\n").map((line) => line.length)).toEqual([27, 64, 64, 8, 25, 0]);
    expect(pem.startsWith("-----BEGIN CERTIFICATE-----\n")).toBe(true);
    expect(pem.endsWith("\n-----END CERTIFICATE-----\n")).toBe(true);
  });
});
