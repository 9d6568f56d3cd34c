/**
 * The certificate set of the self-managed mode and its layout in the shared Secret. Pure: text
 * in, facts out (certificates are parsed with Node's X509Certificate; no I/O).
 *
 * Secret data keys (type Opaque; `tls.crt`/`tls.key` are where tools look):
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
import { allowsCertificateSigning } from "../pki/x509.js";
import type { SecretContent } from "./stores.js";

/** Names a serving certificate is issued for. */
export interface ServingNames {
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

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
  /** Other subjectAltName entries (URI, email, ...), as printed: never ones we issue. */
  readonly otherNames: readonly string[];
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

/** An entry of the Secret that was found but not adopted, and why (never key material). */
export interface Refusal {
  /** The data key (`ca.crt`, `tls.crt`, ...). */
  readonly key: string;
  readonly problem: string;
}

/** {@link readCertificateSet}'s answer: a set, or why the CA itself is unusable. */
export type CertificateSetRead =
  | {
      readonly ok: true;
      readonly set: CertificateSet;
      /** Entries found but not adopted; the set is written back without them. */
      readonly refused: readonly Refusal[];
    }
  | { readonly ok: false; readonly problem: string; readonly refused: readonly Refusal[] };

/**
 * What a set this server would have issued looks like under its settings: whatever differs was
 * not issued by it (or by a replica with other settings) and is not adopted. See
 * {@link readCertificateSet}.
 */
export interface Expectations {
  readonly now: Date;
  readonly caLifetimeMs: number;
  readonly servingLifetimeMs: number;
  /** The serving certificate's subjectAltNames, exactly. */
  readonly names: ServingNames;
}

/**
 * How far notBefore may lie in the future: clocks of replicas on different nodes differ by
 * seconds, and every certificate we issue is backdated anyway.
 */
export const CLOCK_SKEW_MS = 5 * 60_000;
/** Issuance truncates both validity ends to whole seconds (RFC 5280 time encoding). */
const ENCODING_SLACK_MS = 2_000;

/**
 * How far notBefore is set back when issuing, so a peer whose clock is slightly behind ours
 * (another node, the apiserver) already accepts a certificate issued "now": a tenth of the
 * lifetime, at most one hour (short e2e lifetimes keep most of their span).
 */
export function backdateMs(lifetimeMs: number): number {
  return Math.min(3_600_000, Math.floor(lifetimeMs / 10));
}

/**
 * Reads the Secret's content and adopts only what this server could have written under
 * `expect`: whoever can write Secrets in our namespace could otherwise plant a CA of theirs
 * (kept in every caBundle) and a serving certificate for names of their choice.
 *
 * - The current CA must parse, match its key, be a CA (basicConstraints CA:TRUE, keyUsage
 *   keyCertSign), be valid now (notBefore at most {@link CLOCK_SKEW_MS} ahead) and not be
 *   valid for longer than `caLifetimeMs` (plus our backdating): else the whole set is unusable
 *   (`ok: false`) and is replaced. An expired CA is left to the planner (it recreates).
 * - The serving certificate must match its key, be signed by the current CA (signature
 *   verified), name no subjectAltName beyond `names`, and not be valid for longer than
 *   `servingLifetimeMs` nor start in the future; else `leafProblem` says why and the planner
 *   reissues it. Missing names (a changed configuration) and expiry are left to the planner.
 * - A next or previous CA is held to the current CA's rules (the previous one has no key);
 *   else it is dropped (a rotation starts over) and named in `refused`.
 * Every refusal other than a missing serving certificate is in `refused`, for the security log.
 */
export function readCertificateSet(
  content: SecretContent,
  expect: Expectations,
): CertificateSetRead {
  const { data, annotations } = content;
  const refused: Refusal[] = [];
  const current = keyed(data[SECRET_KEYS.caCert], data[SECRET_KEYS.caKey]);
  const currentProblem =
    typeof current === "string" ? current : caProblem(current, expect, { expiredOk: true });
  if (typeof current === "string" || currentProblem !== undefined) {
    const problem = `${SECRET_KEYS.caCert}: ${currentProblem}`;
    return { ok: false, problem, refused: [{ key: SECRET_KEYS.caCert, problem }] };
  }

  let next: KeyedCertificate | undefined;
  if (data[SECRET_KEYS.nextCaCert] !== undefined || data[SECRET_KEYS.nextCaKey] !== undefined) {
    const parsed = keyed(data[SECRET_KEYS.nextCaCert], data[SECRET_KEYS.nextCaKey]);
    const problem = typeof parsed === "string" ? parsed : caProblem(parsed, expect);
    if (typeof parsed === "string" || problem !== undefined) {
      refused.push({
        key: SECRET_KEYS.nextCaCert,
        problem: `${SECRET_KEYS.nextCaCert}: ${problem}`,
      });
    } else next = parsed;
  }
  let previous: ParsedCertificate | undefined;
  const previousPem = data[SECRET_KEYS.previousCaCert];
  if (previousPem !== undefined) {
    const parsed = tryParse(previousPem);
    // Expired is fine: it is on its way out, and a client ignores it.
    const problem =
      parsed === undefined ? "does not parse" : caProblem(parsed, expect, { expiredOk: true });
    if (parsed === undefined || problem !== undefined) {
      refused.push({
        key: SECRET_KEYS.previousCaCert,
        problem: `${SECRET_KEYS.previousCaCert}: ${problem}`,
      });
    } else previous = parsed;
  }

  let leaf: KeyedCertificate | undefined;
  let leafProblem: string | undefined;
  const parsedLeaf = keyed(data[SECRET_KEYS.leafCert], data[SECRET_KEYS.leafKey]);
  if (typeof parsedLeaf === "string") {
    leafProblem = `${SECRET_KEYS.leafCert}: ${parsedLeaf}`;
    // A set is never written without its serving certificate; an empty one is a mistake
    // (or a hand-made Secret), not an attack, but it is still not adopted.
    if (parsedLeaf !== "missing") refused.push({ key: SECRET_KEYS.leafCert, problem: leafProblem });
  } else {
    const problem = !isIssuedBy(parsedLeaf, current)
      ? `not signed by ${SECRET_KEYS.caCert}`
      : servingProblem(parsedLeaf, expect);
    if (problem === undefined) leaf = parsedLeaf;
    else {
      leafProblem = `${SECRET_KEYS.leafCert}: ${problem}`;
      refused.push({ key: SECRET_KEYS.leafCert, problem: leafProblem });
    }
  }

  const set: CertificateSet = {
    current,
    ...(next === undefined ? {} : { next }),
    ...(previous === undefined ? {} : { previous }),
    ...(leaf === undefined ? {} : { leaf }),
    ...(leafProblem === undefined ? {} : { leafProblem }),
    ...optionalDate(
      "nextPublishedAt",
      next && annotations[SECRET_ANNOTATIONS.nextPublishedAt],
      expect.now,
    ),
    ...optionalDate(
      "promotedAt",
      previous && annotations[SECRET_ANNOTATIONS.promotedAt],
      expect.now,
    ),
  };
  return { ok: true, set, refused };
}

/** Why `ca` is not a CA this server would have made under `expect`, if it is not. */
function caProblem(
  ca: ParsedCertificate,
  expect: Expectations,
  options: { expiredOk?: boolean } = {},
): string | undefined {
  // OpenSSL's X509_check_ca (behind `ca`) also refuses a keyUsage without keyCertSign; an
  // absent keyUsage it accepts, we do not (RFC 5280 §4.2.1.3; we always issue one).
  if (!ca.x509.ca) return "not a CA (basicConstraints CA:TRUE and keyUsage keyCertSign)";
  if (!allowsCertificateSigning(new Uint8Array(ca.x509.raw))) {
    return "its keyUsage does not allow signing certificates (keyCertSign)";
  }
  return validityProblem(ca, expect.caLifetimeMs, expect.now, options.expiredOk ?? false, "CA");
}

/** Why a serving certificate signed by the current CA is not one we would have issued. */
function servingProblem(leaf: ParsedCertificate, expect: Expectations): string | undefined {
  const wantedDns = new Set(expect.names.dnsNames.map((n) => n.toLowerCase()));
  const wantedIps = new Set(expect.names.ipAddresses.map(normalizeIpOrSelf));
  const extra = [
    ...leaf.otherNames,
    ...leaf.dnsNames.filter((n) => !wantedDns.has(n)).map((n) => `DNS:${n}`),
    ...leaf.ipAddresses.filter((ip) => !wantedIps.has(ip)).map((ip) => `IP:${ipText(ip)}`),
  ];
  if (extra.length > 0) {
    const shown = extra.slice(0, 3).join(", ");
    return `names ${shown}${extra.length > 3 ? ` (+${extra.length - 3})` : ""} that are not ours`;
  }
  // Expired: the planner reissues it like any renewal.
  return validityProblem(leaf, expect.servingLifetimeMs, expect.now, true, "serving certificate");
}

/** Validity longer than we issue, or starting in the future (beyond clock skew). */
function validityProblem(
  certificate: ParsedCertificate,
  lifetimeMs: number,
  now: Date,
  expiredOk: boolean,
  what: string,
): string | undefined {
  const span = certificate.notAfter.getTime() - certificate.notBefore.getTime();
  const longest = lifetimeMs + backdateMs(lifetimeMs) + ENCODING_SLACK_MS;
  if (span > longest) {
    return `valid for ${days(span)} (${certificate.notBefore.toISOString()} to ${certificate.notAfter.toISOString()}), longer than the configured ${what} lifetime of ${days(lifetimeMs)}`;
  }
  if (certificate.notBefore.getTime() > now.getTime() + CLOCK_SKEW_MS) {
    return `not valid before ${certificate.notBefore.toISOString()}`;
  }
  if (!expiredOk && certificate.notAfter.getTime() <= now.getTime()) {
    return `expired at ${certificate.notAfter.toISOString()}`;
  }
  return undefined;
}

function days(ms: number): string {
  const d = ms / 86_400_000;
  return d >= 1 ? `${Math.round(d * 10) / 10}d` : `${Math.round(ms / 1000)}s`;
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
    otherNames: names.otherNames,
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
  otherNames: string[];
} {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  const otherNames: string[] = [];
  if (text === undefined || text === "") return { dnsNames, ipAddresses, otherNames };
  for (const entry of text.split(", ")) {
    if (entry.startsWith("DNS:")) dnsNames.push(entry.slice(4).toLowerCase());
    else if (entry.startsWith("IP Address:")) {
      try {
        ipAddresses.push(normalizeIp(entry.slice(11)));
      } catch {
        otherNames.push(entry); // not an address we could have asked for
      }
    } else otherNames.push(entry.slice(0, 80));
  }
  return { dnsNames, ipAddresses, otherNames };
}

function normalizeIpOrSelf(address: string): string {
  try {
    return normalizeIp(address);
  } catch {
    return address;
  }
}

/** The text form of 4 or 16 address bytes (hex, as normalizeIp produces). */
export function ipText(hex: string): string {
  const bytes = Buffer.from(hex, "hex");
  if (bytes.length === 4) return [...bytes].join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push(((bytes[i] ?? 0) * 256 + (bytes[i + 1] ?? 0)).toString(16));
  return groups.join(":");
}

/** An annotation's time; one in the future (beyond clock skew) counts as absent. */
function optionalDate<K extends string>(
  key: K,
  text: string | false | undefined,
  now: Date,
): Partial<Record<K, Date>> {
  if (typeof text !== "string") return {};
  const date = new Date(text);
  if (Number.isNaN(date.getTime()) || date.getTime() > now.getTime() + CLOCK_SKEW_MS) return {};
  return { [key]: date } as Partial<Record<K, Date>>;
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function ensureNewline(pem: string): string {
  return pem.endsWith("\n") ? pem : `${pem}\n`;
}
