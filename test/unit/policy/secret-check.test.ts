import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { SecretObject } from "../../../src/core/view.js";
import {
  checkSecretAgainstReference,
  type SecretCheck,
  type SecretKeys,
} from "../../../src/policy/secret-check.js";
import { NOW, type PkiFixtures, pkiFixtures } from "../../fixtures/pki/certificates.js";

let pki: PkiFixtures;
beforeAll(async () => {
  pki = await pkiFixtures();
});

const OPTIONS = { now: NOW, expiringWithinDays: 30 };
const b64 = (text: string) => Buffer.from(text).toString("base64");

function secret(data: Record<string, string>, type?: string): SecretObject {
  return {
    namespace: "acme",
    name: "ca",
    ...(type === undefined ? {} : { type }),
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  };
}

/** The problems as `key type` lines, for comparing a whole verdict at once. */
const problems = (check: SecretCheck) =>
  check.errors.map((e) => `${e.key ?? "(Secret)"} ${e.type}`);

describe("checkSecretAgainstReference", () => {
  it.each<[string, () => SecretObject, SecretKeys, string[]]>([
    [
      "one key holding a CA satisfies a key reference",
      () => secret({ "ca.crt": pki.root.certificatePem }),
      { mode: "key", key: "ca.crt" },
      [],
    ],
    [
      "a missing key is `missing` for that key",
      () => secret({ "tls.crt": pki.root.certificatePem }),
      { mode: "key", key: "ca.crt" },
      ["ca.crt missing"],
    ],
    [
      "a key holding no certificate is `invalid`",
      () => secret({ "ca.crt": "junk" }),
      { mode: "key", key: "ca.crt" },
      ["ca.crt invalid"],
    ],
    [
      "a cert-manager Secret satisfies the eligible keys: tls.key is not part of the bundle",
      () =>
        secret(
          {
            "tls.crt": pki.root.certificatePem,
            "tls.key": pki.root.privateKeyPem,
            "ca.crt": pki.root.certificatePem,
          },
          "kubernetes.io/tls",
        ),
      { mode: "eligible" },
      [],
    ],
    [
      "tls.key of an Opaque Secret is read as any eligible key (and denied)",
      () =>
        secret({ "ca.crt": pki.root.certificatePem, "tls.key": pki.root.privateKeyPem }, "Opaque"),
      { mode: "eligible" },
      ["tls.key invalid"],
    ],
    [
      "tls.key holding a key and a certificate is denied in a TLS Secret",
      () =>
        secret(
          {
            "tls.crt": pki.root.certificatePem,
            "tls.key": pki.root.privateKeyPem + pki.root.certificatePem,
          },
          "kubernetes.io/tls",
        ),
      { mode: "eligible" },
      ["tls.key invalid"],
    ],
    [
      "a private key in ca.crt of a TLS Secret stays denied",
      () =>
        secret(
          {
            "tls.crt": pki.root.certificatePem,
            "tls.key": pki.root.privateKeyPem,
            "ca.crt": pki.keys.pkcs8,
          },
          "kubernetes.io/tls",
        ),
      { mode: "eligible" },
      ["ca.crt invalid"],
    ],
    [
      "a private key under another key of a TLS Secret stays denied",
      () =>
        secret(
          {
            "tls.crt": pki.root.certificatePem,
            "tls.key": pki.root.privateKeyPem,
            "extra.pem": pki.keys.ec,
          },
          "kubernetes.io/tls",
        ),
      { mode: "eligible" },
      ["extra.pem invalid"],
    ],
    [
      "a TLS Secret whose only eligible content is tls.key holds no CA",
      () => secret({ "tls.key": pki.root.privateKeyPem }, "kubernetes.io/tls"),
      { mode: "eligible" },
      ["(Secret) invalid"],
    ],
    [
      "a signing CA and its key satisfy caWithKey",
      () =>
        secret(
          { "tls.crt": pki.root.certificatePem, "tls.key": pki.root.privateKeyPem },
          "kubernetes.io/tls",
        ),
      { mode: "caWithKey", certificate: "tls.crt", privateKey: "tls.key" },
      [],
    ],
    [
      "caWithKey without either key reports both missing",
      () => secret({ "ca.crt": pki.root.certificatePem }),
      { mode: "caWithKey", certificate: "tls.crt", privateKey: "tls.key" },
      ["tls.crt missing", "tls.key missing"],
    ],
    [
      "caWithKey with a leaf certificate is invalid at the certificate",
      () => secret({ "tls.crt": pki.leaf.certificatePem, "tls.key": pki.leaf.privateKeyPem }),
      { mode: "caWithKey", certificate: "tls.crt", privateKey: "tls.key" },
      ["tls.crt invalid"],
    ],
    [
      "caWithKey with another CA's key is invalid at the key",
      () =>
        secret({ "tls.crt": pki.root.certificatePem, "tls.key": pki.intermediate.privateKeyPem }),
      { mode: "caWithKey", certificate: "tls.crt", privateKey: "tls.key" },
      ["tls.key invalid"],
    ],
  ])("%s", (_name, make, keys, expected) => {
    const input = make();
    const before = structuredClone(input);

    const check = checkSecretAgainstReference(input, keys, OPTIONS);

    expect(problems(check)).toEqual(expected);
    expect(input).toEqual(before);
    for (const e of check.errors) expect(e.detail).toMatch(/^Secret acme\/ca /);
  });

  it("never throws, reports only keys of the Secret or the key(s) it reads, and never echoes a value", () => {
    const keyName = fc.constantFrom("ca.crt", "tls.crt", "tls.key", "token", "x.pem");
    const value = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.constantFrom(
        "-----BEGIN CERTIFICATE-----\nMIIB\n",
        "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n",
      ),
    );
    const keys = fc.constantFrom<SecretKeys>(
      { mode: "key", key: "ca.crt" },
      { mode: "eligible" },
      { mode: "caWithKey", certificate: "tls.crt", privateKey: "tls.key" },
    );
    fc.assert(
      fc.property(
        fc.dictionary(keyName, value, { maxKeys: 5 }),
        fc.constantFrom(undefined, "Opaque", "kubernetes.io/tls"),
        keys,
        (data, type, selection) => {
          const check = checkSecretAgainstReference(secret(data, type), selection, OPTIONS);
          const readable = new Set([...Object.keys(data), "ca.crt", "tls.crt", "tls.key"]);
          for (const e of check.errors) {
            if (e.key !== undefined) expect(readable.has(e.key)).toBe(true);
            expect(e.detail).not.toContain("-----");
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
