/**
 * The certificate reader the webhook used before it moved to node:crypto (pkijs + asn1js),
 * kept as the reference its replacement is compared against (x509.property.test.ts). It is
 * five times slower (docs/reliability.md), which is the only reason it was replaced.
 */
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { type CertificateSummary, sha256Hex } from "../../../src/pki/x509.js";

const OID_COMMON_NAME = "2.5.4.3";
const OID_BASIC_CONSTRAINTS = "2.5.29.19";

export function summarizeWithPkijs(der: Uint8Array): CertificateSummary | undefined {
  try {
    const asn1 = asn1js.fromBER(der);
    if (asn1.offset === -1 || asn1.offset !== der.byteLength) return undefined;
    if (!(asn1.result instanceof asn1js.Sequence)) return undefined;
    const certificate = new pkijs.Certificate({ schema: asn1.result });
    const extension = certificate.extensions?.find((e) => e.extnID === OID_BASIC_CONSTRAINTS);
    let isCA = false;
    if (extension !== undefined) {
      const parsed: unknown = extension.parsedValue;
      if (!(parsed instanceof pkijs.BasicConstraints)) return undefined;
      if ((parsed as { parsingError?: string }).parsingError !== undefined) return undefined;
      isCA = parsed.cA === true;
    }
    const notBefore = certificate.notBefore.value;
    const notAfter = certificate.notAfter.value;
    if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) return undefined;
    let subjectCN: string | undefined;
    for (const attribute of certificate.subject.typesAndValues) {
      if (attribute.type !== OID_COMMON_NAME) continue;
      const value: unknown = attribute.value?.valueBlock?.value;
      subjectCN = typeof value === "string" ? value : undefined;
      break;
    }
    return { subjectCN, fingerprintSha256: sha256Hex(der), notBefore, notAfter, isCA };
  } catch {
    return undefined;
  }
}
