/**
 * X.509 certificate facts the bundle analysis needs. No policy here: this module only says
 * what a DER certificate contains (or that it is not one).
 *
 * Parsing is node:crypto's X509Certificate (OpenSSL), about 0.12 ms of CPU per certificate
 * here, against about 0.6 ms for pkijs + asn1js (docs/reliability.md): a 150-certificate
 * public-roots bundle costs ~18 ms of event loop instead of ~90 ms. Two checks OpenSSL does not
 * make are done on the DER itself, as Go's crypto/x509 (what the apiserver, kcp and
 * trust-manager load bundles with) does them: the bytes must be exactly one DER SEQUENCE (no
 * trailing data, definite minimal lengths), and a basicConstraints extension must decode.
 */
import { createHash, X509Certificate } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";

/** What the analysis reads from one certificate. */
export interface CertificateSummary {
  /** First subject commonName (2.5.4.3), if any. */
  subjectCN: string | undefined;
  /** Lowercase hex SHA-256 of the DER, the identity trust-manager dedupes by. */
  fingerprintSha256: string;
  /** Validity start. */
  notBefore: Date;
  /** Validity end (inclusive, as in RFC 5280 §4.1.2.5). */
  notAfter: Date;
  /** basicConstraints cA is TRUE (RFC 5280 §4.2.1.9). */
  isCA: boolean;
}

/** Lowercase hex SHA-256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Reads a DER certificate. Returns `undefined` when the bytes are not one X.509 certificate:
 * not DER, not the Certificate structure, trailing bytes after it (Go's x509.ParseCertificate
 * rejects "trailing data" too), or a malformed basicConstraints extension (Go rejects that as
 * well, so a consumer would not load the certificate). Never throws.
 */
export function summarizeCertificate(der: Uint8Array): CertificateSummary | undefined {
  try {
    // Also keeps PEM text away from X509Certificate, which would accept it too.
    const outer = readTlv(der, 0, der.byteLength);
    if (outer === undefined || outer.tag !== SEQUENCE || outer.next !== der.byteLength) {
      return undefined;
    }
    const isCA = readIsCA(der, outer);
    if (isCA === undefined) return undefined;
    const certificate = new X509Certificate(der);
    const notBefore = new Date(certificate.validFrom);
    const notAfter = new Date(certificate.validTo);
    if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) return undefined;
    return {
      subjectCN: commonName(certificate.subject),
      fingerprintSha256: sha256Hex(der),
      notBefore,
      notAfter,
      isCA,
    };
  } catch {
    // OpenSSL refuses anything that is not a certificate: exactly "not an X.509 certificate".
    return undefined;
  }
}

const SEQUENCE = 0x30;
const BOOLEAN = 0x01;
const INTEGER = 0x02;
const OCTET_STRING = 0x04;
const OID = 0x06;
/** [3] EXPLICIT, constructed: the extensions of a TBSCertificate. */
const EXTENSIONS = 0xa3;
/** 2.5.29.19, DER-encoded. */
const BASIC_CONSTRAINTS = Uint8Array.of(0x55, 0x1d, 0x13);

interface Tlv {
  tag: number;
  /** Offset of the contents. */
  start: number;
  /** Offset just past the contents. */
  next: number;
}

/**
 * One DER tag-length-value at `at`, within `end`: low tag numbers only, definite lengths in
 * their shortest form (DER, as Go requires). Undefined when malformed.
 */
function readTlv(b: Uint8Array, at: number, end: number): Tlv | undefined {
  if (at + 2 > end) return undefined;
  const tag = b[at] as number;
  if ((tag & 0x1f) === 0x1f) return undefined;
  let length = b[at + 1] as number;
  let start = at + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0 || octets > 4 || start + octets > end) return undefined;
    if (b[start] === 0) return undefined;
    length = 0;
    for (let k = 0; k < octets; k++) length = length * 256 + (b[start + k] as number);
    if (length < 0x80) return undefined;
    start += octets;
  }
  const next = start + length;
  return next > end ? undefined : { tag, start, next };
}

/**
 * Whether the certificate's basicConstraints says cA TRUE: false without the extension,
 * undefined when the extension (or the path to it) is malformed.
 */
function readIsCA(b: Uint8Array, certificate: Tlv): boolean | undefined {
  const tbs = readTlv(b, certificate.start, certificate.next);
  if (tbs === undefined || tbs.tag !== SEQUENCE) return undefined;
  // The extensions are the TBSCertificate's last field, [3]; the fields before it are left to
  // OpenSSL.
  let extensions: Tlv | undefined;
  for (let at = tbs.start; at < tbs.next; ) {
    const field = readTlv(b, at, tbs.next);
    if (field === undefined) return undefined;
    if (field.tag === EXTENSIONS) extensions = field;
    at = field.next;
  }
  if (extensions === undefined) return false;
  const list = readTlv(b, extensions.start, extensions.next);
  if (list === undefined || list.tag !== SEQUENCE || list.next !== extensions.next) {
    return undefined;
  }
  for (let at = list.start; at < list.next; ) {
    const extension = readTlv(b, at, list.next);
    if (extension === undefined || extension.tag !== SEQUENCE) return undefined;
    at = extension.next;
    const id = readTlv(b, extension.start, extension.next);
    if (id === undefined || id.tag !== OID) return undefined;
    if (!equalBytes(b, id, BASIC_CONSTRAINTS)) continue;
    let field = readTlv(b, id.next, extension.next);
    if (field?.tag === BOOLEAN) field = readTlv(b, field.next, extension.next); // critical
    if (field === undefined || field.tag !== OCTET_STRING || field.next !== extension.next) {
      return undefined;
    }
    return readBasicConstraints(b, field);
  }
  return false;
}

/** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL } */
function readBasicConstraints(b: Uint8Array, value: Tlv): boolean | undefined {
  const sequence = readTlv(b, value.start, value.next);
  if (sequence === undefined || sequence.tag !== SEQUENCE || sequence.next !== value.next) {
    return undefined;
  }
  let isCA = false;
  let at = sequence.start;
  let field = at < sequence.next ? readTlv(b, at, sequence.next) : undefined;
  if (field?.tag === BOOLEAN) {
    // DER: TRUE is 0xFF and FALSE 0x00, one byte (Go rejects anything else).
    const byte = b[field.start];
    if (field.next - field.start !== 1 || (byte !== 0x00 && byte !== 0xff)) return undefined;
    isCA = byte === 0xff;
    at = field.next;
    field = at < sequence.next ? readTlv(b, at, sequence.next) : undefined;
  }
  if (field?.tag === INTEGER) {
    if (field.next === field.start) return undefined;
    at = field.next;
  } else if (field !== undefined) {
    return undefined;
  }
  return at === sequence.next ? isCA : undefined;
}

function equalBytes(b: Uint8Array, tlv: Tlv, expected: Uint8Array): boolean {
  if (tlv.next - tlv.start !== expected.length) return false;
  for (let k = 0; k < expected.length; k++) {
    if (b[tlv.start + k] !== expected[k]) return false;
  }
  return true;
}

/**
 * The first CN of OpenSSL's one-attribute-per-line subject (`C=US\nO=Acme\nCN=Root CA`; a
 * multi-valued RDN joins its attributes with ` + `), with RFC 2253 escapes undone.
 */
function commonName(subject: string): string | undefined {
  for (const line of subject.split("\n")) {
    for (const attribute of splitUnescaped(line, " + ")) {
      if (attribute.startsWith("CN=")) return unescapeRfc2253(attribute.slice(3));
    }
  }
  return undefined;
}

function splitUnescaped(text: string, separator: string): string[] {
  const parts: string[] = [];
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text.startsWith(separator, i)) {
      parts.push(text.slice(from, i));
      from = i + separator.length;
      i = from - 1;
    }
  }
  parts.push(text.slice(from));
  return parts;
}

function unescapeRfc2253(value: string): string {
  return value.replace(/\\([0-9A-Fa-f]{2}|.)/g, (_m, escaped: string) =>
    escaped.length === 2 ? String.fromCharCode(Number.parseInt(escaped, 16)) : escaped,
  );
}

const OID_KEY_USAGE = "2.5.29.15";
/** keyCertSign: bit 5 of keyUsage, 0x04 of the BIT STRING's first byte (RFC 5280 §4.2.1.3). */
const KU_KEY_CERT_SIGN = 0x04;

/**
 * Whether a DER certificate's keyUsage extension allows signing certificates (keyCertSign).
 * Only the self-managed adoption check asks this (rarely), so pkijs's speed does not matter.
 * False when the extension is absent or malformed: RFC 5280 §4.2.1.3 requires it in a CA
 * certificate whose key signs certificates, and Go's verifier checks it. Never throws.
 */
export function allowsCertificateSigning(der: Uint8Array): boolean {
  try {
    const asn1 = asn1js.fromBER(der);
    if (asn1.offset === -1) return false;
    const certificate = new pkijs.Certificate({ schema: asn1.result });
    const extension = certificate.extensions?.find((e) => e.extnID === OID_KEY_USAGE);
    const parsed: unknown = extension?.parsedValue;
    if (!(parsed instanceof asn1js.BitString)) return false;
    const bytes = new Uint8Array(parsed.valueBlock.valueHexView);
    return ((bytes[0] ?? 0) & KU_KEY_CERT_SIGN) !== 0;
  } catch {
    return false;
  }
}
