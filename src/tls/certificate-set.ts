/**
 * The certificate set of the self-managed mode and its layout in the shared Secret. Pure: text
 * in, facts out (certificates are parsed with Node's X509Certificate; no I/O).
 *
 * Secret data keys (type kubernetes.io/tls, so `tls.crt`/`tls.key` are where tools look):
 * - `ca.crt`, `ca.key`: the current CA; it signs the serving certificate.
 * - `ca-next.crt`, `ca-next.key`: during a rotation, the next CA. It is in the caBundle before
 *   anything it signs is served (cert-manager#6350 is what happens otherwise).
 * - `ca-previous.crt`: after a rotation, the CA it replaced, kept in the caBundle until every
 *   replica serves the new certificate (no key: it never signs again).
 * - `tls.crt`, `tls.key`: the serving certificate, signed by the current CA.
 * Annotations: when the next CA was confirmed in every caBundle, and when it became current.
 */
import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { ipAddressBytes } from "../pki/issue.js";
import type { SecretContent } from "./stores.js";

/** The Secret's data keys. */
export const SECRET_KEYS = {
  caCert: "ca.crt",
  caKey: "ca.key",
  nextCaCert: "ca-next.crt",
  nextCaKey: "ca-next.key",
  previousCaCert: "ca-previous.crt",
  leafCert: "tls.crt",
  leafKey: "tls.key",
} as const;

/** The Secret's annotations (RFC 3339 times). */
export const SECRET_ANNOTATIONS = {
  /** The caBundle of every webhook held the next CA (read back) at this time. */
  nextPublishedAt: "ca-trust.dev/ca-next-published-at",
  /** The next CA became the current one (and the old one `ca-previous.crt`) at this time. */
  promotedAt: "ca-trust.dev/ca-promoted-at",
} as const;

/** A parsed certificate and the facts the rotation reads from it. */
export interface ParsedCertificate {
  /** The PEM as stored (one CERTIFICATE block). */
  readonly pem: string;
  readonly x509: X509Certificate;
  /** Lowercase hex SHA-256 of the DER: the identity of a certificate in logs and bundles. */
  readonly fingerprint: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly commonName: string;
  /** subjectAltName dNSName entries, lowercase. */
  readonly dnsNames: readonly string[];
  /** subjectAltName iPAddress entries, as {@link normalizeIp} prints them. */
  readonly ipAddresses: readonly string[];
}

/** A certificate with its private key (PEM). */
export interface KeyedCertificate extends ParsedCertificate {
  readonly keyPem: string;
}

/** What the Secret holds, checked. */
export interface CertificateSet {
  readonly current: KeyedCertificate;
  readonly next?: KeyedCertificate;
  readonly previous?: ParsedCertificate;
  /** Absent when missing or unusable (see `leafProblem`): the planner reissues it. */
  readonly leaf?: KeyedCertificate;
  readonly leafProblem?: string;
  readonly nextPublishedAt?: Date;
  readonly promotedAt?: Date;
}

/** {@link readCertificateSet}'s answer: a set, or why the CA itself is unusable. */
export type CertificateSetRead =
  | { readonly ok: true; readonly set: CertificateSet; readonly dropped: readonly string[] }
  | { readonly ok: false; readonly problem: string };

/**
 * Reads the Secret's content. The current CA must parse, be a CA and match its key, else the
 * whole set is unusable (`ok: false`). A broken serving certificate is reported in
 * `leafProblem`; a broken next or previous CA is dropped (named in `dropped`), so a rotation
 * starts over instead of the server refusing to serve.
 */
export function readCertificateSet(content: SecretContent): CertificateSetRead {
  const { data, annotations } = content;
  const current = keyed(data[SECRET_KEYS.caCert], data[SECRET_KEYS.caKey]);
  if (typeof current === "string")
    return { ok: false, problem: `${SECRET_KEYS.caCert}: ${current}` };
  if (!current.x509.ca) return { ok: false, problem: `${SECRET_KEYS.caCert}: not a CA` };
  const dropped: string[] = [];

  let next: KeyedCertificate | undefined;
  if (data[SECRET_KEYS.nextCaCert] !== undefined || data[SECRET_KEYS.nextCaKey] !== undefined) {
    const parsed = keyed(data[SECRET_KEYS.nextCaCert], data[SECRET_KEYS.nextCaKey]);
    if (typeof parsed === "string" || !parsed.x509.ca) dropped.push(SECRET_KEYS.nextCaCert);
    else next = parsed;
  }
  let previous: ParsedCertificate | undefined;
  const previousPem = data[SECRET_KEYS.previousCaCert];
  if (previousPem !== undefined) {
    const parsed = tryParse(previousPem);
    if (parsed === undefined) dropped.push(SECRET_KEYS.previousCaCert);
    else previous = parsed;
  }

  let leaf: KeyedCertificate | undefined;
  let leafProblem: string | undefined;
  const parsedLeaf = keyed(data[SECRET_KEYS.leafCert], data[SECRET_KEYS.leafKey]);
  if (typeof parsedLeaf === "string") {
    leafProblem = `${SECRET_KEYS.leafCert}: ${parsedLeaf}`;
  } else if (!isIssuedBy(parsedLeaf, current)) {
    leafProblem = `${SECRET_KEYS.leafCert}: not signed by ${SECRET_KEYS.caCert}`;
  } else {
    leaf = parsedLeaf;
  }

  const set: CertificateSet = {
    current,
    ...(next === undefined ? {} : { next }),
    ...(previous === undefined ? {} : { previous }),
    ...(leaf === undefined ? {} : { leaf }),
    ...(leafProblem === undefined ? {} : { leafProblem }),
    ...optionalDate("nextPublishedAt", next && annotations[SECRET_ANNOTATIONS.nextPublishedAt]),
    ...optionalDate("promotedAt", previous && annotations[SECRET_ANNOTATIONS.promotedAt]),
  };
  return { ok: true, set, dropped };
}

/** The Secret content that stores `set` (the inverse of {@link readCertificateSet}). */
export function certificateSetContent(set: CertificateSet): SecretContent {
  const data: Record<string, string> = {
    [SECRET_KEYS.caCert]: set.current.pem,
    [SECRET_KEYS.caKey]: set.current.keyPem,
  };
  if (set.leaf !== undefined) {
    data[SECRET_KEYS.leafCert] = set.leaf.pem;
    data[SECRET_KEYS.leafKey] = set.leaf.keyPem;
  }
  if (set.next !== undefined) {
    data[SECRET_KEYS.nextCaCert] = set.next.pem;
    data[SECRET_KEYS.nextCaKey] = set.next.keyPem;
  }
  if (set.previous !== undefined) data[SECRET_KEYS.previousCaCert] = set.previous.pem;
  const annotations: Record<string, string> = {};
  if (set.next !== undefined && set.nextPublishedAt !== undefined) {
    annotations[SECRET_ANNOTATIONS.nextPublishedAt] = set.nextPublishedAt.toISOString();
  }
  if (set.previous !== undefined && set.promotedAt !== undefined) {
    annotations[SECRET_ANNOTATIONS.promotedAt] = set.promotedAt.toISOString();
  }
  return { data, annotations };
}

/**
 * The caBundle the set calls for: the previous CA (until retired), the current CA, the next CA
 * (during a rotation), oldest first. Byte-stable for a given set, so replicas that read the
 * same Secret write the same bundle.
 */
export function caBundleOf(set: CertificateSet): string {
  return [set.previous, set.current, set.next]
    .filter((c): c is ParsedCertificate => c !== undefined)
    .map((c) => ensureNewline(c.pem))
    .join("");
}

/** Fingerprints of the CAs `caBundleOf(set)` holds. */
export function caFingerprintsOf(set: CertificateSet): string[] {
  return [set.previous, set.current, set.next]
    .filter((c): c is ParsedCertificate => c !== undefined)
    .map((c) => c.fingerprint);
}

/**
 * SHA-256 fingerprints of the CERTIFICATE blocks of a PEM bundle. Blocks that do not decode
 * are skipped: this only answers "is CA X in the bundle", the way a TLS client's pool would.
 */
export function bundleFingerprints(bundle: string): Set<string> {
  const fingerprints = new Set<string>();
  const block = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*?)-----END CERTIFICATE-----/g;
  for (const match of bundle.matchAll(block)) {
    const der = Buffer.from((match[1] ?? "").replace(/\s+/g, ""), "base64");
    if (der.length > 0) fingerprints.add(sha256(der));
  }
  return fingerprints;
}

/** Parses one PEM certificate; throws a TypeError when it does not parse. */
export function parseCertificate(pem: string): ParsedCertificate {
  const x509 = new X509Certificate(pem);
  const names = subjectAltNames(x509.subjectAltName);
  return {
    pem,
    x509,
    fingerprint: sha256(x509.raw),
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
    commonName: /(?:^|\n)CN=([^\n]*)/.exec(x509.subject)?.[1] ?? "",
    dnsNames: names.dnsNames,
    ipAddresses: names.ipAddresses,
  };
}

/** A parsed certificate with its key; throws when either does not parse or they differ. */
export function keyedCertificate(pem: string, keyPem: string): KeyedCertificate {
  const result = keyed(pem, keyPem);
  if (typeof result === "string") throw new TypeError(result);
  return result;
}

/** `leaf` carries a signature of `ca`'s key and names it as issuer. */
export function isIssuedBy(leaf: ParsedCertificate, ca: ParsedCertificate): boolean {
  try {
    return leaf.x509.checkIssued(ca.x509) && leaf.x509.verify(ca.x509.publicKey);
  } catch {
    return false;
  }
}

/** An IP address in one canonical text form (lowercase hex bytes), for comparing SANs. */
export function normalizeIp(address: string): string {
  const bytes = ipAddressBytes(address);
  return Buffer.from(bytes).toString("hex");
}

function keyed(pem: string | undefined, keyPem: string | undefined): KeyedCertificate | string {
  if (pem === undefined || pem === "") return "missing";
  if (keyPem === undefined || keyPem === "") return "its key is missing";
  const parsed = tryParse(pem);
  if (parsed === undefined) return "does not parse";
  try {
    if (!parsed.x509.checkPrivateKey(createPrivateKey(keyPem))) return "its key does not match";
  } catch {
    return "its key does not parse";
  }
  return { ...parsed, keyPem };
}

function tryParse(pem: string): ParsedCertificate | undefined {
  try {
    return parseCertificate(pem);
  } catch {
    return undefined;
  }
}

/**
 * Node prints subjectAltName as `DNS:a, IP Address:127.0.0.1, IP Address:0:0:...:1`; names
 * with special characters come quoted, and are kept as printed (they never match ours).
 */
function subjectAltNames(text: string | undefined): {
  dnsNames: string[];
  ipAddresses: string[];
} {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const entry of (text ?? "").split(", ")) {
    if (entry.startsWith("DNS:")) dnsNames.push(entry.slice(4).toLowerCase());
    else if (entry.startsWith("IP Address:")) {
      try {
        ipAddresses.push(normalizeIp(entry.slice(11)));
      } catch {
        // not an address we could have asked for
      }
    }
  }
  return { dnsNames, ipAddresses };
}

function optionalDate<K extends string>(
  key: K,
  text: string | false | undefined,
): Partial<Record<K, Date>> {
  if (typeof text !== "string") return {};
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? {} : ({ [key]: date } as Partial<Record<K, Date>>);
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function ensureNewline(pem: string): string {
  return pem.endsWith("\n") ? pem : `${pem}\n`;
}
