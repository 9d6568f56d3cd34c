/**
 * Certificate issuance with pkijs + asn1js over Node's WebCrypto.
 *
 * Used by the server's self-managed certificate mode (an ECDSA P-256 CA and serving
 * certificate), by the e2e harness (kube-apiserver serving, admin client and webhook
 * certificates) and by tests (fixtures under a fixed clock). The output follows the profile
 * that Go's crypto/x509 and OpenSSL accept for serving and client auth
 * (https://www.rfc-editor.org/rfc/rfc5280#section-4.2): subjectKeyIdentifier,
 * authorityKeyIdentifier, a critical keyUsage, extKeyUsage, subjectAltName with IP addresses
 * as 4/16-byte OCTET STRINGs, minimal positive DER serial numbers and RFC 5280 time encodings.
 */
import { createHash, webcrypto } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";

/** The WebCrypto key type (not a global in @types/node 20). */
export type CryptoKey = webcrypto.CryptoKey;

/** Key algorithms this module issues for; ECDSA P-256 is the default (small, fast, universal). */
export type KeyAlgorithm = "ECDSA-P256" | "RSA-2048";

/** What a certificate is for; maps to extKeyUsage (RFC 5280 §4.2.1.12). */
export type CertificateUsage = "ca" | "server" | "client" | "server+client";

/** Options for {@link issueCertificate}. */
export interface IssueOptions {
  /** Subject CN. */
  commonName: string;
  /** Subject O= values, e.g. `system:masters` for a Kubernetes admin client certificate. */
  organization?: string[];
  /** basicConstraints CA:TRUE and keyUsage keyCertSign + cRLSign. */
  isCA?: boolean;
  /**
   * extKeyUsage. Default: `"ca"` if `isCA`, else `"server"`. `"ca"` omits extKeyUsage, so the
   * CA is not limited to a purpose (Go checks EKU along the whole chain).
   */
  usage?: CertificateUsage;
  /** subjectAltName dNSName entries. */
  dnsNames?: string[];
  /** subjectAltName iPAddress entries (IPv4 or IPv6 text form). */
  ipAddresses?: string[];
  /** Start of validity; milliseconds are truncated (RFC 5280 times have whole seconds). */
  notBefore: Date;
  /** End of validity; milliseconds are truncated. */
  notAfter: Date;
  /** The signing CA; absent means self-signed. */
  issuer?: IssuedCertificate;
  /** Default `"ECDSA-P256"`. */
  keyAlgorithm?: KeyAlgorithm;
  /** Big-endian serial number; default 16 random bytes. Normalised to a minimal positive INTEGER. */
  serialNumber?: Uint8Array;
}

/** A certificate with its key pair, in the forms the callers need. */
export interface IssuedCertificate {
  /** `-----BEGIN CERTIFICATE-----` PEM with a trailing newline. */
  certificatePem: string;
  /** PKCS#8 `-----BEGIN PRIVATE KEY-----` PEM with a trailing newline. */
  privateKeyPem: string;
  /** The certificate's DER. */
  der: Uint8Array;
  /** The (extractable) private key; signs certificates issued by this one. */
  privateKey: CryptoKey;
  /** The public key. */
  publicKey: CryptoKey;
  /** Subject CN, as requested. */
  commonName: string;
}

const OID = {
  commonName: "2.5.4.3",
  organization: "2.5.4.10",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

// keyUsage bits (RFC 5280 §4.2.1.3), as they sit in the first byte of the BIT STRING.
const KU_DIGITAL_SIGNATURE = 0x80;
const KU_KEY_ENCIPHERMENT = 0x20;
const KU_KEY_CERT_SIGN = 0x04;
const KU_CRL_SIGN = 0x02;

const ENGINE_NAME = "node-webcrypto";
let engineReady = false;

/**
 * Points pkijs at Node's WebCrypto once. pkijs keeps a process-global engine; setting it
 * explicitly avoids depending on `self.crypto` detection.
 */
export function ensureCryptoEngine(): void {
  if (engineReady) return;
  // Node's webcrypto implements the DOM Crypto interface that pkijs' engine expects; the
  // types differ only because @types/node and lib.dom declare them separately.
  const crypto = webcrypto as unknown as ConstructorParameters<
    typeof pkijs.CryptoEngine
  >[0]["crypto"];
  pkijs.setEngine(ENGINE_NAME, new pkijs.CryptoEngine({ name: ENGINE_NAME, crypto }));
  engineReady = true;
}

/**
 * Encodes DER as PEM (RFC 7468 §2 "strict" form): 64-character base64 lines, LF line endings,
 * a trailing newline.
 */
export function encodePem(type: string, der: Uint8Array): string {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 64) lines.push(base64.slice(i, i + 64));
  return `-----BEGIN ${type}-----\n${lines.join("\n")}\n-----END ${type}-----\n`;
}

/**
 * Parses an IPv4 or IPv6 address into its 4 or 16 network-order bytes, the form subjectAltName
 * iPAddress requires (RFC 5280 §4.2.1.6). Throws on anything else.
 */
export function ipAddressBytes(address: string): Uint8Array {
  if (isIPv4(address)) return Uint8Array.from(address.split(".").map(Number));
  if (!isIPv6(address)) throw new TypeError(`not an IP address: ${address}`);
  let text = address.replace(/%.*$/, ""); // zone index is not part of the address
  const lastColon = text.lastIndexOf(":");
  const last = text.slice(lastColon + 1);
  if (isIPv4(last)) {
    // IPv4-mapped/compatible tail such as ::ffff:192.0.2.1 becomes two 16-bit groups.
    const [a = 0, b = 0, c = 0, d = 0] = last.split(".").map(Number);
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", rest] = text.split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const restGroups = rest === undefined || rest === "" ? [] : rest.split(":");
  const zeros = 8 - headGroups.length - restGroups.length;
  const groups = [
    ...headGroups,
    ...Array<string>(rest === undefined ? 0 : zeros).fill("0"),
    ...restGroups,
  ];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    const value = Number.parseInt(group, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  });
  return bytes;
}

/**
 * Issues a certificate (self-signed when `options.issuer` is absent) with a fresh key pair.
 * The signature is ECDSA-with-SHA256 or sha256WithRSAEncryption, following the issuer's key.
 * Rejects (RangeError/TypeError) an empty or inverted validity window, a zero serial number or
 * an IP address that does not parse.
 */
export async function issueCertificate(options: IssueOptions): Promise<IssuedCertificate> {
  ensureCryptoEngine();
  if (!(options.notAfter.getTime() > options.notBefore.getTime())) {
    throw new RangeError("notAfter must be after notBefore");
  }
  const keyAlgorithm = options.keyAlgorithm ?? "ECDSA-P256";
  const keys = await generateKeyPair(keyAlgorithm);
  const isCA = options.isCA ?? false;
  const usage = options.usage ?? (isCA ? "ca" : "server");

  const certificate = new pkijs.Certificate();
  certificate.version = 2; // v3
  certificate.serialNumber = new asn1js.Integer({
    valueHex: toArrayBuffer(minimalPositiveInteger(options.serialNumber ?? randomSerial())),
  });

  const subject = buildName(options.commonName, options.organization ?? []);
  certificate.subject = subject;
  certificate.notBefore = certificateTime(options.notBefore);
  certificate.notAfter = certificateTime(options.notAfter);
  await certificate.subjectPublicKeyInfo.importKey(keys.publicKey);

  const subjectKeyId = keyIdentifier(certificate.subjectPublicKeyInfo);
  let authorityKeyId = subjectKeyId;
  if (options.issuer === undefined) {
    certificate.issuer = buildName(options.commonName, options.organization ?? []);
  } else {
    const issuerCert = pkijs.Certificate.fromBER(toArrayBuffer(options.issuer.der));
    // Copy the issuer's subject exactly so name chaining compares equal byte for byte.
    certificate.issuer = issuerCert.subject;
    authorityKeyId =
      existingSubjectKeyId(issuerCert) ?? keyIdentifier(issuerCert.subjectPublicKeyInfo);
  }

  certificate.extensions = buildExtensions({
    isCA,
    usage,
    keyAlgorithm,
    dnsNames: options.dnsNames ?? [],
    ipAddresses: options.ipAddresses ?? [],
    subjectKeyId,
    authorityKeyId,
  });

  const signingKey = options.issuer?.privateKey ?? keys.privateKey;
  await certificate.sign(signingKey, "SHA-256");

  const der = new Uint8Array(certificate.toSchema(true).toBER(false));
  const pkcs8 = new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  return {
    certificatePem: encodePem("CERTIFICATE", der),
    privateKeyPem: encodePem("PRIVATE KEY", pkcs8),
    der,
    privateKey: keys.privateKey,
    publicKey: keys.publicKey,
    commonName: options.commonName,
  };
}

async function generateKeyPair(algorithm: KeyAlgorithm): Promise<webcrypto.CryptoKeyPair> {
  if (algorithm === "RSA-2048") {
    return webcrypto.subtle.generateKey(
      {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: "SHA-256",
      },
      true,
      ["sign", "verify"],
    );
  }
  return webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
}

function randomSerial(): Uint8Array {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  // Positive (top bit clear) and non-zero first byte, so the encoding stays 16 bytes, minimal.
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes;
}

/**
 * DER INTEGERs are minimal two's complement; serial numbers must be positive
 * (RFC 5280 §4.1.2.2). Go rejects non-minimal encodings, so strip leading zeros and add one
 * back only when the top bit would make the value negative.
 */
function minimalPositiveInteger(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  if (trimmed.length === 0 || (trimmed.length === 1 && trimmed[0] === 0)) {
    throw new RangeError("serial number must be positive");
  }
  if (((trimmed[0] ?? 0) & 0x80) === 0) return Uint8Array.from(trimmed);
  const padded = new Uint8Array(trimmed.length + 1);
  padded.set(trimmed, 1);
  return padded;
}

/**
 * Builds a Name as a sequence of single-valued RDNs (O= first, then CN=), the shape OpenSSL and
 * Go produce. pkijs' own encoder would put every attribute into one multi-valued RDN.
 */
function buildName(
  commonName: string,
  organization: readonly string[],
): pkijs.RelativeDistinguishedNames {
  const attributes = [
    ...organization.map((o) => [OID.organization, o] as const),
    [OID.commonName, commonName] as const,
  ];
  const sequence = new asn1js.Sequence({
    value: attributes.map(
      ([type, value]) =>
        new asn1js.Set({
          value: [
            new pkijs.AttributeTypeAndValue({
              type,
              value: new asn1js.Utf8String({ value }),
            }).toSchema(),
          ],
        }),
    ),
  });
  // Decoding keeps the exact bytes, which pkijs then re-emits verbatim.
  return pkijs.RelativeDistinguishedNames.fromBER(sequence.toBER(false));
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5); whole seconds only. */
function certificateTime(date: Date): pkijs.Time {
  const value = new Date(Math.floor(date.getTime() / 1000) * 1000);
  const type =
    value.getUTCFullYear() < 2050 ? pkijs.TimeType.UTCTime : pkijs.TimeType.GeneralizedTime;
  return new pkijs.Time({ type, value });
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING contents. */
function keyIdentifier(spki: pkijs.PublicKeyInfo): Uint8Array {
  const key = spki.subjectPublicKey.valueBlock.valueHexView;
  return new Uint8Array(createHash("sha1").update(key).digest());
}

function existingSubjectKeyId(certificate: pkijs.Certificate): Uint8Array | undefined {
  const extension = certificate.extensions?.find((e) => e.extnID === OID.subjectKeyIdentifier);
  const parsed = extension?.parsedValue as unknown;
  return parsed instanceof asn1js.OctetString
    ? new Uint8Array(parsed.valueBlock.valueHexView)
    : undefined;
}

interface ExtensionPlan {
  isCA: boolean;
  usage: CertificateUsage;
  keyAlgorithm: KeyAlgorithm;
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
  subjectKeyId: Uint8Array;
  authorityKeyId: Uint8Array;
}

function buildExtensions(plan: ExtensionPlan): pkijs.Extension[] {
  const extensions: pkijs.Extension[] = [];
  const add = (
    extnID: string,
    critical: boolean,
    value: { toSchema(): asn1js.AsnType } | asn1js.AsnType,
  ) => {
    const schema = "toSchema" in value ? value.toSchema() : value;
    extensions.push(new pkijs.Extension({ extnID, critical, extnValue: schema.toBER(false) }));
  };

  add(OID.basicConstraints, true, new pkijs.BasicConstraints({ cA: plan.isCA }));

  let keyUsage = KU_DIGITAL_SIGNATURE;
  if (plan.isCA) keyUsage |= KU_KEY_CERT_SIGN | KU_CRL_SIGN;
  // RSA key transport (TLS 1.2 RSA key exchange) needs keyEncipherment; ECDSA keys cannot do it.
  if (!plan.isCA && plan.keyAlgorithm === "RSA-2048") keyUsage |= KU_KEY_ENCIPHERMENT;
  add(OID.keyUsage, true, keyUsageBitString(keyUsage));

  const purposes: string[] = [];
  if (plan.usage === "server" || plan.usage === "server+client") purposes.push(OID.serverAuth);
  if (plan.usage === "client" || plan.usage === "server+client") purposes.push(OID.clientAuth);
  if (purposes.length > 0)
    add(OID.extKeyUsage, false, new pkijs.ExtKeyUsage({ keyPurposes: purposes }));

  const altNames: pkijs.GeneralName[] = [
    ...plan.dnsNames.map((value) => new pkijs.GeneralName({ type: 2, value })),
    ...plan.ipAddresses.map(
      (ip) =>
        new pkijs.GeneralName({
          type: 7,
          value: new asn1js.OctetString({ valueHex: toArrayBuffer(ipAddressBytes(ip)) }),
        }),
    ),
  ];
  if (altNames.length > 0) add(OID.subjectAltName, false, new pkijs.AltName({ altNames }));

  add(
    OID.subjectKeyIdentifier,
    false,
    new asn1js.OctetString({ valueHex: toArrayBuffer(plan.subjectKeyId) }),
  );
  add(
    OID.authorityKeyIdentifier,
    false,
    new pkijs.AuthorityKeyIdentifier({
      keyIdentifier: new asn1js.OctetString({ valueHex: toArrayBuffer(plan.authorityKeyId) }),
    }),
  );
  return extensions;
}

/** A one-byte keyUsage BIT STRING with DER's exact count of unused trailing bits. */
function keyUsageBitString(bits: number): asn1js.BitString {
  let unusedBits = 0;
  while (unusedBits < 7 && (bits & (1 << unusedBits)) === 0) unusedBits++;
  return new asn1js.BitString({ valueHex: toArrayBuffer(Uint8Array.of(bits)), unusedBits });
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer;
}
