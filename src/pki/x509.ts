/**
 * X.509 certificate facts the bundle analysis needs, read with pkijs + asn1js. No policy here:
 * this module only says what a DER certificate contains (or that it is not one).
 */
import { createHash } from "node:crypto";
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

const OID_COMMON_NAME = "2.5.4.3";
const OID_BASIC_CONSTRAINTS = "2.5.29.19";
const OID_KEY_USAGE = "2.5.29.15";
/** keyCertSign: bit 5 of keyUsage, 0x04 of the BIT STRING's first byte (RFC 5280 §4.2.1.3). */
const KU_KEY_CERT_SIGN = 0x04;

/** Lowercase hex SHA-256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Reads a DER certificate. Returns `undefined` when the bytes are not one X.509 certificate:
 * not ASN.1, not the Certificate structure, trailing bytes after it (Go's x509.ParseCertificate
 * rejects "trailing data" too), or a malformed basicConstraints extension (Go rejects that as
 * well, so a consumer would not load the certificate). Never throws.
 */
export function summarizeCertificate(der: Uint8Array): CertificateSummary | undefined {
  try {
    const asn1 = asn1js.fromBER(der);
    if (asn1.offset === -1 || asn1.offset !== der.byteLength) return undefined;
    if (!(asn1.result instanceof asn1js.Sequence)) return undefined;
    const certificate = new pkijs.Certificate({ schema: asn1.result });
    const isCA = readIsCA(certificate);
    if (isCA === undefined) return undefined;
    const notBefore = certificate.notBefore.value;
    const notAfter = certificate.notAfter.value;
    if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) return undefined;
    return {
      subjectCN: readCommonName(certificate),
      fingerprintSha256: sha256Hex(der),
      notBefore,
      notAfter,
      isCA,
    };
  } catch {
    // pkijs throws on any schema mismatch; that is exactly "not an X.509 certificate".
    return undefined;
  }
}

function readCommonName(certificate: pkijs.Certificate): string | undefined {
  for (const attribute of certificate.subject.typesAndValues) {
    if (attribute.type !== OID_COMMON_NAME) continue;
    const value: unknown = attribute.value?.valueBlock?.value;
    return typeof value === "string" ? value : undefined;
  }
  return undefined;
}

/** `undefined` means the extension is present but malformed. */
function readIsCA(certificate: pkijs.Certificate): boolean | undefined {
  const extension = certificate.extensions?.find((e) => e.extnID === OID_BASIC_CONSTRAINTS);
  if (extension === undefined) return false;
  const parsed: unknown = extension.parsedValue;
  if (!(parsed instanceof pkijs.BasicConstraints)) return undefined;
  // pkijs swallows extension decoding errors and flags them here instead.
  if ((parsed as { parsingError?: string }).parsingError !== undefined) return undefined;
  return parsed.cA === true;
}

/**
 * Whether a DER certificate's keyUsage extension allows signing certificates (keyCertSign).
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
