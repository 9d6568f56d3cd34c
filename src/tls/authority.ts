/**
 * Issuing for the self-managed mode: a CA and serving certificates it signs, with pkijs
 * (ECDSA P-256, `src/pki/issue.ts`). No I/O: keys and certificates come back as PEM for the
 * Secret. Validity comes from the caller's clock, so tests run under a fixed one.
 */
import { createPrivateKey, webcrypto } from "node:crypto";
import { type IssuedCertificate, issueCertificate } from "../pki/issue.js";
import {
  backdateMs,
  type KeyedCertificate,
  keyedCertificate,
  type ServingNames,
} from "./certificate-set.js";

export { backdateMs };

/** A new self-signed CA, valid from `now` (backdated) for `lifetimeMs`. */
export async function issueCa(now: Date, lifetimeMs: number): Promise<KeyedCertificate> {
  const issued = await issueCertificate({
    // Unique per generation (like kube's `name@unix-time` self-signed CAs), so logs and
    // `openssl x509 -subject` tell the old and the new CA apart during a rotation.
    commonName: `ca-trust-webhook-ca@${Math.floor(now.getTime() / 1000)}`,
    isCA: true,
    notBefore: new Date(now.getTime() - backdateMs(lifetimeMs)),
    notAfter: new Date(now.getTime() + lifetimeMs),
  });
  return keyedCertificate(issued.certificatePem, issued.privateKeyPem);
}

export type { ServingNames } from "./certificate-set.js";

/**
 * A serving certificate for `names`, signed by `ca`, valid from `now` (backdated) for
 * `lifetimeMs` but never past the CA's own notAfter (a client would reject it then anyway).
 */
export async function issueServing(
  ca: KeyedCertificate,
  names: ServingNames,
  now: Date,
  lifetimeMs: number,
): Promise<KeyedCertificate> {
  const notAfter = Math.min(now.getTime() + lifetimeMs, ca.notAfter.getTime());
  const notBefore = Math.max(now.getTime() - backdateMs(lifetimeMs), ca.notBefore.getTime());
  const issued = await issueCertificate({
    commonName: names.dnsNames[0] ?? names.ipAddresses[0] ?? "ca-trust-webhook",
    dnsNames: [...names.dnsNames],
    ipAddresses: [...names.ipAddresses],
    usage: "server",
    notBefore: new Date(notBefore),
    notAfter: new Date(Math.max(notAfter, notBefore + 1000)),
    issuer: await asIssuer(ca),
  });
  return keyedCertificate(issued.certificatePem, issued.privateKeyPem);
}

/** A stored CA as the signer `issueCertificate` takes (its key imported into WebCrypto). */
async function asIssuer(ca: KeyedCertificate): Promise<IssuedCertificate> {
  const pkcs8 = createPrivateKey(ca.keyPem).export({ type: "pkcs8", format: "der" });
  const spki = ca.x509.publicKey.export({ type: "spki", format: "der" });
  const algorithm = { name: "ECDSA", namedCurve: "P-256" };
  const [privateKey, publicKey] = await Promise.all([
    webcrypto.subtle.importKey("pkcs8", pkcs8, algorithm, true, ["sign"]),
    webcrypto.subtle.importKey("spki", spki, algorithm, true, ["verify"]),
  ]);
  return {
    certificatePem: ca.pem,
    privateKeyPem: ca.keyPem,
    der: new Uint8Array(ca.x509.raw),
    privateKey,
    publicKey,
    commonName: ca.commonName,
  };
}

/** The names a serving certificate for Service `name` in `namespace` must carry, plus extras. */
export function serviceNames(
  name: string,
  namespace: string,
  extraDnsNames: readonly string[] = [],
  extraIpAddresses: readonly string[] = [],
): ServingNames {
  const dnsNames = [
    name,
    `${name}.${namespace}`,
    `${name}.${namespace}.svc`,
    `${name}.${namespace}.svc.cluster.local`,
  ];
  for (const extra of extraDnsNames) {
    const lower = extra.toLowerCase();
    if (!dnsNames.includes(lower)) dnsNames.push(lower);
  }
  return { dnsNames, ipAddresses: [...new Set(extraIpAddresses)] };
}
