/**
 * Throwaway PKI for one e2e control plane and for each webhook server, issued with the
 * project's own `issueCertificate` (so the harness also exercises it against Go's crypto/x509
 * in kube-apiserver, etcd's client and kubectl).
 */
import { generateKeyPairSync } from "node:crypto";
import { type IssuedCertificate, issueCertificate } from "../../src/pki/issue.js";

/** What a kube-apiserver needs, as PEM. */
export interface ClusterPki {
  /** The cluster CA: signs the apiserver serving cert and the admin client cert. */
  ca: IssuedCertificate;
  /** Serving cert, SAN IP:127.0.0.1, DNS:localhost (+ the in-cluster names). */
  apiServer: IssuedCertificate;
  /** Client cert CN=e2e-admin, O=system:masters. */
  admin: IssuedCertificate;
  /** ServiceAccount token signing key pair (PKCS#8 / SPKI PEM). */
  serviceAccount: { privateKeyPem: string; publicKeyPem: string };
}

/** A validity window around `now` that no clock skew on the machine can fall outside. */
function validity(now: Date, days: number): { notBefore: Date; notAfter: Date } {
  return {
    notBefore: new Date(now.getTime() - 60 * 60 * 1000),
    notAfter: new Date(now.getTime() + days * 24 * 60 * 60 * 1000),
  };
}

/**
 * A self-signed CA certificate as PEM, valid from an hour ago for a year: what the tests and the
 * demo put into CA Secrets, ConfigMaps and bundles.
 */
export async function caCertificatePem(commonName: string, now = new Date()): Promise<string> {
  return (await issueCertificate({ commonName, isCA: true, ...validity(now, 365) })).certificatePem;
}

/** Issues the cluster CA, apiserver serving cert, admin client cert and SA key pair. */
export async function createClusterPki(now = new Date()): Promise<ClusterPki> {
  const ca = await issueCertificate({
    commonName: "ca-trust-webhook e2e cluster CA",
    isCA: true,
    usage: "ca",
    ...validity(now, 7),
  });
  const apiServer = await issueCertificate({
    commonName: "kube-apiserver",
    usage: "server",
    dnsNames: [
      "localhost",
      "kubernetes",
      "kubernetes.default",
      "kubernetes.default.svc",
      "kubernetes.default.svc.cluster.local",
    ],
    // 10.0.0.1 is the `kubernetes` Service's ClusterIP in --service-cluster-ip-range 10.0.0.0/24.
    ipAddresses: ["127.0.0.1", "10.0.0.1"],
    issuer: ca,
    ...validity(now, 7),
  });
  const admin = await issueCertificate({
    commonName: "e2e-admin",
    organization: ["system:masters"],
    usage: "client",
    issuer: ca,
    ...validity(now, 7),
  });
  const keys = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return {
    ca,
    apiServer,
    admin,
    serviceAccount: {
      privateKeyPem: keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      publicKeyPem: keys.publicKey.export({ type: "spki", format: "pem" }).toString(),
    },
  };
}

/** A webhook serving cert for IP:127.0.0.1 / DNS:localhost and the CA that signed it. */
export interface WebhookPki {
  /** Goes into `clientConfig.caBundle`. */
  ca: IssuedCertificate;
  serving: IssuedCertificate;
}

/**
 * A fresh CA and serving cert per webhook server, separate from the cluster CA, as in a real
 * deployment (the apiserver trusts the webhook only through `caBundle`).
 */
export async function createWebhookPki(now = new Date()): Promise<WebhookPki> {
  const ca = await issueCertificate({
    commonName: "ca-trust-webhook e2e webhook CA",
    isCA: true,
    usage: "ca",
    ...validity(now, 1),
  });
  const serving = await issueCertificate({
    commonName: "ca-trust-webhook",
    usage: "server",
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    issuer: ca,
    ...validity(now, 1),
  });
  return { ca, serving };
}
