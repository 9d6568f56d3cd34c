import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { type IssuedCertificate, issueCertificate } from "../../../src/pki/issue.js";
import {
  checkPrivateKeyFor,
  type KeyProblemCode,
  MAX_KEY_BYTES,
} from "../../../src/pki/keypair.js";
import { NOW, type PkiFixtures, pkiFixtures } from "../../fixtures/pki/certificates.js";

let pki: PkiFixtures;
let rsaCa: IssuedCertificate;
beforeAll(async () => {
  pki = await pkiFixtures();
  rsaCa = await issueCertificate({
    commonName: "RSA Signing CA",
    isCA: true,
    keyAlgorithm: "RSA-2048",
    notBefore: new Date(NOW.getTime() - 86_400_000),
    notAfter: new Date(NOW.getTime() + 86_400_000),
  });
});

const der = (c: IssuedCertificate) => c.der;
/** The same key in the formats a user may store: PKCS#8 (as issued), SEC1 / PKCS#1. */
function reexport(pem: string, type: "sec1" | "pkcs1"): string {
  return createPrivateKey(pem).export({ type, format: "pem" }).toString();
}

describe("checkPrivateKeyFor", () => {
  it.each<[string, () => [Uint8Array, string], true | KeyProblemCode]>([
    ["an EC CA's own PKCS#8 key matches", () => [der(pki.root), pki.root.privateKeyPem], true],
    [
      "the same key as SEC1 (EC PRIVATE KEY) matches",
      () => [der(pki.root), reexport(pki.root.privateKeyPem, "sec1")],
      true,
    ],
    ["an RSA CA's own key matches", () => [der(rsaCa), rsaCa.privateKeyPem], true],
    [
      "the same RSA key as PKCS#1 (RSA PRIVATE KEY) matches",
      () => [der(rsaCa), reexport(rsaCa.privateKeyPem, "pkcs1")],
      true,
    ],
    [
      "another CA's key does not match",
      () => [der(pki.root), pki.intermediate.privateKeyPem],
      "KEY_MISMATCH",
    ],
    [
      "a key of another algorithm does not match",
      () => [der(pki.root), rsaCa.privateKeyPem],
      "KEY_MISMATCH",
    ],
    [
      "an encrypted PKCS#8 key is refused",
      () => [der(pki.root), pki.keys.encryptedPkcs8],
      "KEY_ENCRYPTED",
    ],
    [
      "an encrypted PKCS#1 key (Proc-Type header) is refused",
      () => [der(pki.root), pki.keys.encryptedRsaWithHeaders],
      "KEY_ENCRYPTED",
    ],
    [
      "a certificate instead of a key is refused",
      () => [der(pki.root), pki.root.certificatePem],
      "KEY_NOT_ONE_PRIVATE_KEY",
    ],
    [
      "a public key is refused",
      () => [der(pki.root), pki.keys.publicKey],
      "KEY_NOT_ONE_PRIVATE_KEY",
    ],
    [
      "the key followed by its certificate is refused",
      () => [der(pki.root), pki.root.privateKeyPem + pki.root.certificatePem],
      "KEY_NOT_ONE_PRIVATE_KEY",
    ],
    ["an empty value is refused", () => [der(pki.root), ""], "KEY_NOT_ONE_PRIVATE_KEY"],
    [
      "a key without END is refused",
      () => [der(pki.root), pki.root.privateKeyPem.replace(/-----END[^\n]*\n?$/, "")],
      "KEY_INVALID",
    ],
    [
      "a damaged key body is refused",
      () => [der(pki.root), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"],
      "KEY_INVALID",
    ],
    [
      "a value over 64 KiB is refused before parsing",
      () => [der(pki.root), pki.root.privateKeyPem + " ".repeat(MAX_KEY_BYTES)],
      "KEY_TOO_LARGE",
    ],
  ])("%s", (_name, input, expected) => {
    const [certificate, key] = input();
    const check = checkPrivateKeyFor(certificate, key);
    if (expected === true) expect(check).toEqual({ ok: true });
    else expect(check).toMatchObject({ ok: false, code: expected });
    // Never key material in a message.
    if (!check.ok) expect(check.message).not.toMatch(/MII|-----/);
  });

  it("reads a key given as bytes like one given as text", () => {
    expect(checkPrivateKeyFor(der(pki.root), Buffer.from(pki.root.privateKeyPem))).toEqual({
      ok: true,
    });
  });

  it("never throws and never accepts what is not the certificate's key, for any text", () => {
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" })
      .privateKey.export({ type: "pkcs8", format: "pem" })
      .toString();
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), fc.boolean(), (junk, prefix) => {
        const value = prefix ? `${junk}${other}` : `${other}${junk}`;
        const check = checkPrivateKeyFor(der(pki.root), value);
        expect(check.ok).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});
