import { X509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { summarizeCertificate } from "../../../src/pki/x509.js";
import { type PkiFixtures, pkiFixtures } from "../../fixtures/pki/certificates.js";

let f: PkiFixtures;
beforeAll(async () => {
  f = await pkiFixtures();
});

describe("summarizeCertificate", () => {
  it.each([
    ["a CA", (f: PkiFixtures) => f.intermediate, "Fixture Intermediate CA", true],
    ["a leaf", (f: PkiFixtures) => f.leaf, "service.example.svc", false],
  ])("reads %s", (_name, pick, cn, isCA) => {
    const cert = pick(f);
    const node = new X509Certificate(cert.der);
    expect(summarizeCertificate(cert.der)).toEqual({
      subjectCN: cn,
      fingerprintSha256: node.fingerprint256.replaceAll(":", "").toLowerCase(),
      notBefore: new Date(node.validFrom),
      notAfter: new Date(node.validTo),
      isCA,
    });
  });

  it.each([
    ["empty bytes", () => new Uint8Array(0)],
    ["a lone SEQUENCE", () => Uint8Array.of(0x30, 0x00)],
    ["truncated DER", (f: PkiFixtures) => f.root.der.subarray(0, 100)],
    ["DER with trailing bytes", (f: PkiFixtures) => Uint8Array.from([...f.root.der, 0])],
    ["random text", () => new TextEncoder().encode("not a certificate")],
  ])("returns undefined for %s", (_name, build) => {
    expect(summarizeCertificate(build(f))).toBeUndefined();
  });
});
