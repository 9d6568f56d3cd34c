/**
 * Does this Secret's data satisfy the reference that names it? The one answer to that question,
 * as a pure function of the Secret, the key(s) the rule reads and the clock: the validation
 * engine asks it for the Secret an object references at admission, and a guard on Secret
 * writes can ask it for each object that references the Secret being changed.
 *
 * Problems are reported per Secret key (or for the Secret as a whole) with the reason, so the
 * caller places them at its own field path: the engine at the object's reference
 * (`spec.caCertSecretRef.name`), a Secret guard at `data[ca.crt]`.
 */
import type { SecretObject } from "../core/view.js";
import { analyseBundle, type BundleAnalysis, MAX_BUNDLE_BLOCKS } from "../pki/bundle.js";
import { checkPrivateKeyFor } from "../pki/keypair.js";
import { scanPem } from "../pki/pem.js";

/** The key(s) of a Secret a reference reads, once resolved from the rule and the object. */
export type SecretKeys =
  /** One key: named by the object (`secretKeyRef.key`), its default, or fixed by the rule. */
  | { readonly mode: "key"; readonly key: string }
  /** Connectors' rule: every key ending `.crt`/`.pem` or holding a PEM header. */
  | { readonly mode: "eligible" }
  /** A signing CA (first certificate of `certificate`) and its private key (`privateKey`). */
  | { readonly mode: "caWithKey"; readonly certificate: string; readonly privateKey: string };

export interface SecretCheckOptions {
  /** The clock of the certificate validity findings. */
  readonly now: Date;
  /** CERT_EXPIRES_SOON window in days. */
  readonly expiringWithinDays: number;
}

/** One reason the Secret does not satisfy the reference. */
export interface SecretProblem {
  /** The Secret key it is about; undefined: the Secret as a whole (no eligible key, too large). */
  readonly key: string | undefined;
  /** `missing`: the key the reference reads does not exist; `invalid`: its content is wrong. */
  readonly type: "missing" | "invalid";
  /** The reason, naming the Secret and the key: `Secret a/b key "ca.crt": PEM block 1: ...`. */
  readonly detail: string;
  /** The reason alone: `PEM block 1: BEGIN without END`, `no key "ca.crt" (keys: tls.crt)`. */
  readonly reason: string;
}

/** The verdict on the Secret: no `errors` means it satisfies the reference. */
export interface SecretCheck {
  readonly errors: readonly SecretProblem[];
  /** Soft findings (expiry, not a CA, duplicates...), each naming the Secret and key. */
  readonly warnings: readonly string[];
}

/** `kubernetes.io/tls`: the Secret type whose `tls.key` holds the private key. */
const TLS_SECRET_TYPE = "kubernetes.io/tls";
const TLS_PRIVATE_KEY = "tls.key";

/**
 * Most keys of a Secret read in eligible mode (every key is decoded and looked at). Real CA
 * Secrets have a handful; a Secret of 70,000 tiny keys would otherwise cost half a second of
 * CPU in one review.
 */
export const MAX_SECRET_KEYS = 1024;

/**
 * Checks a Secret's data against the key(s) a reference reads:
 * - `key`: the key must exist and hold a valid CA bundle;
 * - `eligible`: every eligible key must hold a valid bundle, and together at least one
 *   certificate; `tls.key` of a `kubernetes.io/tls` Secret holding only a private key is not
 *   part of the bundle (cert-manager's Secrets: `tls.crt`, `tls.key`, `ca.crt`);
 * - `caWithKey`: the first certificate of `certificate` must be a CA, and `privateKey` its key.
 * Pure: no I/O, bounded work (at most {@link MAX_SECRET_KEYS} keys and
 * {@link MAX_BUNDLE_BLOCKS} PEM blocks are looked at).
 */
export function checkSecretAgainstReference(
  secret: SecretObject,
  keys: SecretKeys,
  options: SecretCheckOptions,
): SecretCheck {
  const out: Collected = { errors: [], warnings: [] };
  const data = secret.data ?? {};
  const where = `Secret ${secret.namespace}/${secret.name}`;
  switch (keys.mode) {
    case "key": {
      const value = keyValue(data, keys.key);
      if (value === undefined) out.errors.push(missing(where, keys.key, data));
      else collect(analyseBundle(value, options), keys.key, `${where} key "${keys.key}":`, out);
      break;
    }
    case "caWithKey":
      checkCaWithKey(data, keys, where, options, out);
      break;
    default:
      checkEligible(secret, where, options, out);
  }
  return out;
}

interface Collected {
  errors: SecretProblem[];
  warnings: string[];
}

/** The decoded value of `key`, or undefined when the Secret has no such key. */
function keyValue(data: Readonly<Record<string, string>>, key: string): Buffer | undefined {
  if (!Object.hasOwn(data, key)) return undefined;
  const encoded = data[key];
  return Buffer.from(typeof encoded === "string" ? encoded : "", "base64");
}

function missing(
  where: string,
  key: string,
  data: Readonly<Record<string, string>>,
): SecretProblem {
  const present = Object.keys(data).sort();
  const keys =
    present.length > 0
      ? ` (keys: ${present.slice(0, 8).join(", ")}${present.length > 8 ? ", ..." : ""})`
      : " (no data)";
  return {
    key,
    type: "missing",
    detail: `${where} has no key "${key}"${keys}`,
    reason: `no key "${key}"${keys}`,
  };
}

/** Errors of one value become one problem of its key; warnings are prefixed with where. */
function collect(analysis: BundleAnalysis, key: string, where: string, out: Collected): void {
  const hard = analysis.findings.filter((f) => f.severity === "error");
  if (hard.length > 0) {
    const reason = hard.map((f) => f.message).join("; ");
    out.errors.push({ key, type: "invalid", detail: `${where} ${reason}`, reason });
  }
  for (const f of analysis.findings) {
    if (f.severity === "warning") out.warnings.push(`${where} ${f.message}`);
  }
}

function checkCaWithKey(
  data: Readonly<Record<string, string>>,
  keys: { readonly certificate: string; readonly privateKey: string },
  where: string,
  options: SecretCheckOptions,
  out: Collected,
): void {
  const certificate = keyValue(data, keys.certificate);
  const privateKey = keyValue(data, keys.privateKey);
  if (certificate === undefined) out.errors.push(missing(where, keys.certificate, data));
  if (privateKey === undefined) out.errors.push(missing(where, keys.privateKey, data));
  if (certificate === undefined) return;
  const at = `${where} key "${keys.certificate}":`;
  const analysis = analyseBundle(certificate, options);
  const first = analysis.certificates[0];
  // The first certificate signs: not being a CA is an error here, not a finding.
  const findings =
    first !== undefined && !first.isCA
      ? analysis.findings.filter((f) => !(f.code === "CERT_NOT_CA" && f.block === first.index))
      : analysis.findings;
  collect({ ...analysis, findings }, keys.certificate, at, out);
  if (first === undefined || analysis.findings.some((f) => f.severity === "error")) return;
  if (!first.isCA) {
    const reason = `certificate ${first.index + 1} (sha256 ${first.fingerprintSha256.slice(0, 12)}) is not a CA (no CA:TRUE); it must be the signing CA`;
    out.errors.push({ key: keys.certificate, type: "invalid", detail: `${at} ${reason}`, reason });
    return;
  }
  if (privateKey === undefined) return;
  const der = certificateDer(certificate, first.index);
  const check = der === undefined ? undefined : checkPrivateKeyFor(der, privateKey);
  if (check !== undefined && !check.ok) {
    const reason = `${check.message} in "${keys.certificate}"`;
    out.errors.push({
      key: keys.privateKey,
      type: "invalid",
      detail: `${where} key "${keys.privateKey}": ${reason}`,
      reason,
    });
  }
}

/** The DER of PEM block `index` of a value the analysis parsed as a certificate. */
function certificateDer(value: Buffer, index: number): Buffer | undefined {
  const block = scanPem(value.toString("utf8"), index + 1).blocks[index];
  return block === undefined ? undefined : Buffer.from(block.body, "base64");
}

function checkEligible(
  secret: SecretObject,
  where: string,
  options: SecretCheckOptions,
  out: Collected,
): void {
  const data = secret.data ?? {};
  const allKeys = Object.keys(data);
  if (allKeys.length > MAX_SECRET_KEYS) {
    const reason = `${allKeys.length.toLocaleString("en-US")} keys; a CA Secret read key by key may have at most ${MAX_SECRET_KEYS.toLocaleString("en-US")}`;
    out.errors.push({ key: undefined, type: "invalid", detail: `${where} has ${reason}`, reason });
    return;
  }
  // Each value is bounded by the analysis (MAX_BUNDLE_BLOCKS), but a Secret of many values is
  // not: the PEM blocks of all its eligible keys are counted first, and over the same bound
  // nothing is parsed (one review must not hold the event loop for long).
  const eligible: [string, Buffer][] = [];
  let blocks = 0;
  for (const k of allKeys.sort()) {
    const bytes = keyValue(data, k) as Buffer;
    if (!isEligible(k, bytes)) continue;
    if (secret.type === TLS_SECRET_TYPE && k === TLS_PRIVATE_KEY && holdsOnlyPrivateKeys(bytes)) {
      continue;
    }
    eligible.push([k, bytes]);
    blocks += countPemBlocks(bytes);
  }
  if (blocks > MAX_BUNDLE_BLOCKS) {
    const reason = `${blocks.toLocaleString("en-US")} PEM blocks across ${eligible.length.toLocaleString("en-US")} keys; at most ${MAX_BUNDLE_BLOCKS} are analysed per Secret`;
    out.errors.push({ key: undefined, type: "invalid", detail: `${where} has ${reason}`, reason });
    return;
  }
  let certificates = 0;
  for (const [k, bytes] of eligible) {
    const analysis = analyseBundle(bytes, options);
    certificates += analysis.certificates.length;
    collect(analysis, k, `${where} key "${k}":`, out);
  }
  if (eligible.length === 0 || (certificates === 0 && out.errors.length === 0)) {
    const reason =
      "no CA certificate (keys ending .crt or .pem, or values holding a PEM header, are read)";
    out.errors.push({
      key: undefined,
      type: "invalid",
      detail: `${where} holds ${reason}`,
      reason,
    });
  }
}

/** Connectors' rule: a key ending `.crt` / `.pem`, or a value that contains a PEM header. */
export function isEligible(key: string, value: Uint8Array): boolean {
  if (key.endsWith(".crt") || key.endsWith(".pem")) return true;
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).includes("-----BEGIN ");
}

/**
 * The value holds PEM private key blocks and nothing else that could be trust (no other block,
 * no certificate): a TLS Secret's `tls.key`. A key pasted next to certificates is not this.
 */
function holdsOnlyPrivateKeys(value: Buffer): boolean {
  const { blocks, tooManyBlocks } = scanPem(value.toString("latin1"), 4);
  return !tooManyBlocks && blocks.length > 0 && blocks.every((b) => b.type.endsWith("PRIVATE KEY"));
}

/** PEM BEGIN lines in a value (an upper bound of its blocks), without parsing it. */
function countPemBlocks(bytes: Buffer): number {
  let count = 0;
  for (
    let at = bytes.indexOf("-----BEGIN ");
    at !== -1;
    at = bytes.indexOf("-----BEGIN ", at + 11)
  ) {
    count++;
    if (count > MAX_BUNDLE_BLOCKS) break;
  }
  return count;
}
