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
    ["PEM text (OpenSSL alone would read it)", (f: PkiFixtures) => bytes(f.root.certificatePem)],
    [
      "a basicConstraints cA TRUE that is not DER (0x01: Go refuses it)",
      (f: PkiFixtures) => patchBasicConstraints(f.root.der, [0x30, 0x03, 0x01, 0x01, 0x01]),
    ],
    [
      "a basicConstraints value that is not a SEQUENCE",
      (f: PkiFixtures) => patchBasicConstraints(f.root.der, [0x31, 0x03, 0x01, 0x01, 0xff]),
    ],
    [
      "a basicConstraints SEQUENCE with trailing junk inside",
      (f: PkiFixtures) => patchBasicConstraints(f.root.der, [0x30, 0x03, 0x01, 0x01, 0xff], true),
    ],
  ])("returns undefined for %s", (_name, build) => {
    expect(summarizeCertificate(build(f))).toBeUndefined();
  });
});

const bytes = (text: string) => new TextEncoder().encode(text);

/**
 * The DER with the value of its basicConstraints extension (`30 03 01 01 ff`: cA TRUE, as the
 * fixtures issue it) replaced by `value` of the same length; with `junk`, the SEQUENCE claims
 * one byte less so that a stray byte follows it inside the OCTET STRING.
 */
function patchBasicConstraints(der: Uint8Array, value: number[], junk = false): Uint8Array {
  const marker = [0x06, 0x03, 0x55, 0x1d, 0x13];
  const text = Buffer.from(der).toString("hex");
  const at = text.indexOf(Buffer.from(marker).toString("hex"));
  if (at < 0) throw new Error("fixture has no basicConstraints");
  const copy = Uint8Array.from(der);
  const ext = at / 2 + marker.length;
  // Skip `critical` (01 01 ff) if present, then the OCTET STRING header (04 05).
  const octets = copy[ext] === 0x01 ? ext + 3 : ext;
  expect([copy[octets], copy[octets + 1], ...copy.subarray(octets + 2, octets + 7)]).toEqual([
    0x04, 0x05, 0x30, 0x03, 0x01, 0x01, 0xff,
  ]);
  copy.set(value, octets + 2);
  if (junk) copy[octets + 3] = 0x02;
  return copy;
}
