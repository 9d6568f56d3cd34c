/**
 * CA bundle analysis: trust-manager's strictness (pkg/util/cert_pool.go: only CERTIFICATE
 * blocks, no PEM headers, a private key anywhere rejects the bundle, duplicates by SHA-256 of
 * the DER) with one diagnostic per problem, naming the block and certificate, so a user can fix
 * the value from the `kubectl apply` output alone (docs/architecture.md "PEM analysis").
 *
 * Cost model: parsing certificates (node:crypto, x509.ts) is the expensive part and depends only on the
 * bytes, so it is memoised by SHA-256 of the input in a bounded LRU. What depends on the clock
 * (expiry findings) is recomputed on every call from the memoised dates, which is a few
 * comparisons per certificate.
 */

import { isUtf8 } from "node:buffer";
import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";
import { isStrictBase64, type PemBlock, scanPem } from "./pem.js";
import { summarizeCertificate } from "./x509.js";

/** `error` findings deny; `warning` findings allow with a warning. */
export type FindingSeverity = "error" | "warning";

/** What is wrong (or worth knowing) about a bundle; stable codes, asserted by tests. */
export type FindingCode =
  // Hard errors (deny).
  /** No CERTIFICATE block at all (includes an empty value). */
  | "PEM_NO_CERTIFICATE"
  /** A CERTIFICATE block whose body is not strict base64. */
  | "PEM_INVALID_BASE64"
  /** Base64 decodes, but the DER is not exactly one X.509 certificate. */
  | "PEM_NOT_X509"
  /** BEGIN without a matching, well-formed END line (also: malformed BEGIN, END label differs). */
  | "PEM_UNTERMINATED_BLOCK"
  /** Raw DER or other binary (invalid UTF-8, NUL or other control bytes) in the value. */
  | "PEM_BINARY_DATA"
  /** Any `... PRIVATE KEY` block (PKCS#8, RSA, EC, ENCRYPTED, OPENSSH...). */
  | "PEM_PRIVATE_KEY"
  /** A block whose label is not CERTIFICATE (PUBLIC KEY, X509 CRL, TRUSTED CERTIFICATE...). */
  | "PEM_UNEXPECTED_BLOCK"
  /**
   * A CERTIFICATE block with RFC 1421 headers. RFC 7468 §2 does not allow them, Go's
   * x509.CertPool.AppendCertsFromPEM silently skips such blocks, and trust-manager rejects
   * them because headers can carry (accidental) private information.
   */
  | "PEM_HEADERS"
  /** Over {@link MAX_BUNDLE_BYTES} or {@link MAX_BUNDLE_BLOCKS}: not analysed (bounded work). */
  | "PEM_TOO_LARGE"
  // Soft findings (warn).
  /** now > notAfter. */
  | "CERT_EXPIRED"
  /** now < notBefore. */
  | "CERT_NOT_YET_VALID"
  /** notAfter is within `expiringWithinDays` of now. */
  | "CERT_EXPIRES_SOON"
  /** basicConstraints CA:TRUE is missing: a leaf in a CA bundle. */
  | "CERT_NOT_CA"
  /** Same DER (SHA-256) as an earlier block. */
  | "CERT_DUPLICATE"
  /** Non-whitespace text before, between or after the blocks. */
  | "PEM_TEXT_OUTSIDE_BLOCKS";

/** Severity of each code, in one table. */
export const FINDING_SEVERITY: Readonly<Record<FindingCode, FindingSeverity>> = Object.freeze({
  PEM_NO_CERTIFICATE: "error",
  PEM_INVALID_BASE64: "error",
  PEM_NOT_X509: "error",
  PEM_UNTERMINATED_BLOCK: "error",
  PEM_BINARY_DATA: "error",
  PEM_PRIVATE_KEY: "error",
  PEM_UNEXPECTED_BLOCK: "error",
  PEM_HEADERS: "error",
  PEM_TOO_LARGE: "error",
  CERT_EXPIRED: "warning",
  CERT_NOT_YET_VALID: "warning",
  CERT_EXPIRES_SOON: "warning",
  CERT_NOT_CA: "warning",
  CERT_DUPLICATE: "warning",
  PEM_TEXT_OUTSIDE_BLOCKS: "warning",
});

/** One diagnostic. */
export interface Finding {
  code: FindingCode;
  severity: FindingSeverity;
  /**
   * Short, human, ≤ ~90 characters; names the block (numbered from 1) and, for certificates,
   * the CN and the first 12 hex characters of the SHA-256 fingerprint. Never key material or
   * base64. Not stable: match on `code`.
   */
  message: string;
  /** 0-based index of the PEM block concerned; absent for findings about the whole value. */
  block?: number;
}

/** One certificate that parsed. */
export interface CertificateInfo {
  /** 0-based index of its PEM block among all blocks of the value. */
  index: number;
  /** The PEM label; always `CERTIFICATE`. */
  type: string;
  subjectCN: string | undefined;
  /** Lowercase hex SHA-256 of the DER. */
  fingerprintSha256: string;
  notBefore: Date;
  notAfter: Date;
  isCA: boolean;
}

/** The result of {@link analyseBundle}. */
export interface BundleAnalysis {
  /** Every CERTIFICATE block that parsed, duplicates included, in block order. */
  certificates: CertificateInfo[];
  /** Errors first (value-level, then by block), then warnings (value-level, then by block). */
  findings: Finding[];
  /** No error-severity finding. */
  ok: boolean;
}

/** Inputs to the time-dependent part of the analysis. */
export interface AnalyseOptions {
  /** The clock; tests pass a fixed instant. */
  now: Date;
  /** Window for CERT_EXPIRES_SOON; default {@link DEFAULT_EXPIRING_WITHIN_DAYS}. */
  expiringWithinDays?: number;
  /**
   * Hex SHA-256 of a bytes `input`, when the caller already has it (injection records it in
   * the Pod): the memo is keyed by it, so the bytes are not hashed a second time.
   */
  sha256?: string;
}

/** Default CERT_EXPIRES_SOON window: a CA that expires within 30 days is worth a warning. */
export const DEFAULT_EXPIRING_WITHIN_DAYS = 30;
/** Largest value analysed: 3 MiB, comfortably above the 1 MiB limit on a Secret or ConfigMap. */
export const MAX_BUNDLE_BYTES = 3 * 1024 * 1024;
/**
 * Most PEM blocks analysed. Parsing is synchronous, about 0.17 ms of CPU per certificate here
 * (docs/reliability.md), so this bounds what one value can hold the event loop for to ~50 ms,
 * while admitting twice a full public-roots bundle (Mozilla's has about 150 certificates). A
 * 2.8 MB value of 4,900 certificates is refused after reading 300 blocks.
 */
export const MAX_BUNDLE_BLOCKS = 300;

const DAY_MS = 86_400_000;
const CN_MAX_CHARS = 20;
const LABEL_MAX_CHARS = 24;

/** Time-independent facts about a certificate, kept in the memo. */
interface ParsedCertificate {
  readonly info: Readonly<Omit<CertificateInfo, "notBefore" | "notAfter">>;
  readonly notBefore: number;
  readonly notAfter: number;
  /** `certificate 2 (CN=..., sha256 ...)`, for messages. */
  readonly name: string;
  /** Duplicates get no validity or CA findings: the first copy already has them. */
  readonly duplicate: boolean;
  /** CERT_DUPLICATE / CERT_NOT_CA for this block. */
  readonly warnings: readonly Finding[];
}

/** The memoised, time-independent analysis of one input. */
interface ParsedBundle {
  readonly certificates: readonly ParsedCertificate[];
  readonly errors: readonly Finding[];
  /** Warnings about the whole value (text outside blocks). */
  readonly valueWarnings: readonly Finding[];
}

// 256 inputs, and about 16 MiB of parsed results: enough for every CA Secret and ConfigMap a
// webhook replica sees in a busy cluster, bounded however many distinct inputs arrive.
const memo = new LRUCache<string, ParsedBundle>({
  max: 256,
  maxSize: 16 * 1024 * 1024,
  sizeCalculation: (parsed) => Math.max(1, estimateBytes(parsed)),
});
const memoCounts = { hits: 0, misses: 0 };

/** Empties the parse memo and resets its counters (tests; never needed in production). */
export function clearBundleCache(): void {
  memo.clear();
  memoCounts.hits = 0;
  memoCounts.misses = 0;
}

/** Memo counters: entries, estimated bytes, hits, misses. */
export function bundleCacheStats(): {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
} {
  return { entries: memo.size, bytes: memo.calculatedSize, ...memoCounts };
}

/**
 * Analyses a CA bundle value (a ConfigMap/Secret value or an inline PEM string; a Uint8Array is
 * taken as raw Secret bytes). Synchronous, never throws, linear in the input size.
 */
export function analyseBundle(input: string | Uint8Array, options: AnalyseOptions): BundleAnalysis {
  try {
    if (exceedsByteCap(input)) {
      return result(
        [],
        [finding("PEM_TOO_LARGE", `value is over the ${MAX_BUNDLE_BYTES / 1048576} MiB limit`)],
      );
    }
    const key = memoKey(input, options.sha256);
    let parsed = memo.get(key);
    if (parsed === undefined) {
      memoCounts.misses++;
      parsed = parseBundle(input);
      memo.set(key, parsed);
    } else {
      memoCounts.hits++;
    }
    return evaluate(parsed, options);
  } catch {
    // Defensive: nothing above is expected to throw. Fail closed rather than crash a request.
    return result([], [finding("PEM_NOT_X509", "value could not be analysed")]);
  }
}

function exceedsByteCap(input: string | Uint8Array): boolean {
  if (typeof input !== "string") return input.byteLength > MAX_BUNDLE_BYTES;
  // Every UTF-16 unit is at least one UTF-8 byte and at most three.
  if (input.length > MAX_BUNDLE_BYTES) return true;
  if (input.length * 3 <= MAX_BUNDLE_BYTES) return false;
  return Buffer.byteLength(input, "utf8") > MAX_BUNDLE_BYTES;
}

/**
 * A type tag and the hex SHA-256 of the input (the tag keeps a string and bytes with the same
 * UTF-8 apart: they are analysed differently). A string is hashed as UTF-8, which maps a lone
 * surrogate to U+FFFD; the analysis treats both alike (non-space, non-control, not base64), so
 * two strings that share a key share an analysis.
 */
function memoKey(input: string | Uint8Array, sha256: string | undefined): string {
  if (typeof input === "string")
    return `s${createHash("sha256").update(input, "utf8").digest("hex")}`;
  return `b${sha256 ?? createHash("sha256").update(input).digest("hex")}`;
}

function estimateBytes(parsed: ParsedBundle): number {
  const findings = parsed.errors.length + parsed.valueWarnings.length;
  return 256 + parsed.certificates.length * 512 + findings * 192;
}

/** The time-independent part: text, blocks, base64, DER, duplicates, CA flag. */
function parseBundle(input: string | Uint8Array): ParsedBundle {
  const errors: Finding[] = [];
  const valueWarnings: Finding[] = [];
  const { text, binary } = decodeText(input);
  if (binary) {
    errors.push(finding("PEM_BINARY_DATA", "value holds binary data (raw DER?), not PEM text"));
  }

  const scan = scanPem(text, MAX_BUNDLE_BLOCKS);
  if (scan.tooManyBlocks) {
    return freezeParsed({
      certificates: [],
      errors: [
        finding(
          "PEM_TOO_LARGE",
          `value has more than ${MAX_BUNDLE_BLOCKS} PEM blocks; at most ${MAX_BUNDLE_BLOCKS} are analysed (a full public-roots bundle has about 150)`,
        ),
      ],
      valueWarnings: [],
    });
  }

  const certificates: ParsedCertificate[] = [];
  const firstByFingerprint = new Map<string, number>();
  let certificateBlocks = 0;
  for (const block of scan.blocks) {
    if (block.type === "CERTIFICATE") certificateBlocks++;
    const certificate = parseBlock(block, errors, firstByFingerprint);
    if (certificate !== undefined) certificates.push(certificate);
  }

  if (scan.strayPrivateKeyEnd) {
    errors.push(
      finding("PEM_PRIVATE_KEY", "an END PRIVATE KEY line outside any PEM block (a damaged key?)"),
    );
  }
  if (certificateBlocks === 0) {
    const empty = !binary && text.trim().length === 0;
    errors.push(
      finding("PEM_NO_CERTIFICATE", empty ? "value is empty" : "value holds no PEM certificate"),
    );
  }
  // Binary data already explains the junk; text alone (no block) is PEM_NO_CERTIFICATE.
  const firstGap = scan.outsideText[0];
  if (!binary && scan.blocks.length > 0 && firstGap !== undefined) {
    const where =
      firstGap.beforeBlock === 0
        ? "before PEM block 1"
        : firstGap.beforeBlock === scan.blocks.length
          ? `after PEM block ${firstGap.beforeBlock}`
          : `between PEM blocks ${firstGap.beforeBlock} and ${firstGap.beforeBlock + 1}`;
    const more = scan.outsideText.length - 1;
    const suffix = more > 0 ? ` and in ${more} more place${more === 1 ? "" : "s"}` : "";
    valueWarnings.push(
      finding("PEM_TEXT_OUTSIDE_BLOCKS", `text outside PEM blocks ${where}${suffix}`),
    );
  }
  return freezeParsed({ certificates, errors, valueWarnings });
}

/** Checks one block; pushes its errors and returns the certificate if it parsed. */
function parseBlock(
  block: PemBlock,
  errors: Finding[],
  firstByFingerprint: Map<string, number>,
): ParsedCertificate | undefined {
  const n = block.index + 1;
  const at = block.index;
  const label = clip(block.type, LABEL_MAX_CHARS);
  if (block.type.toUpperCase().includes("PRIVATE KEY")) {
    // A key must never be distributed as trust, whatever else is wrong with the block.
    errors.push(
      finding("PEM_PRIVATE_KEY", `PEM block ${n} (${label}): a private key; remove it`, at),
    );
    if (!block.terminated) errors.push(unterminated(block));
    return undefined;
  }
  if (!block.terminated) {
    errors.push(unterminated(block));
    return undefined;
  }
  if (block.type !== "CERTIFICATE") {
    errors.push(
      finding(
        "PEM_UNEXPECTED_BLOCK",
        `PEM block ${n} (${label}): not a certificate; only CERTIFICATE blocks are allowed`,
        at,
      ),
    );
    return undefined;
  }
  if (block.headers.length > 0) {
    errors.push(
      finding(
        "PEM_HEADERS",
        `PEM block ${n} (${label}): has PEM headers (RFC 7468 allows none)`,
        at,
      ),
    );
    return undefined;
  }
  if (!isStrictBase64(block.body)) {
    errors.push(finding("PEM_INVALID_BASE64", `PEM block ${n} (${label}): not valid base64`, at));
    return undefined;
  }
  const der = Buffer.from(block.body, "base64");
  const summary = der.byteLength > 0 ? summarizeCertificate(der) : undefined;
  if (summary === undefined) {
    errors.push(
      finding("PEM_NOT_X509", `PEM block ${n} (${label}): not a valid X.509 certificate`, at),
    );
    return undefined;
  }

  const cn = summary.subjectCN === undefined ? undefined : clip(summary.subjectCN, CN_MAX_CHARS);
  const fingerprint = summary.fingerprintSha256;
  const name = `certificate ${n} (${cn === undefined ? "" : `CN=${cn}, `}sha256 ${fingerprint.slice(0, 12)})`;
  const warnings: Finding[] = [];
  const first = firstByFingerprint.get(fingerprint);
  if (first === undefined) firstByFingerprint.set(fingerprint, block.index);
  else warnings.push(finding("CERT_DUPLICATE", `${name} duplicates PEM block ${first + 1}`, at));
  const duplicate = first !== undefined;
  if (!summary.isCA && !duplicate) {
    warnings.push(finding("CERT_NOT_CA", `${name} is not a CA (no CA:TRUE)`, at));
  }
  return Object.freeze({
    info: Object.freeze({
      index: block.index,
      type: block.type,
      subjectCN: summary.subjectCN,
      fingerprintSha256: fingerprint,
      isCA: summary.isCA,
    }),
    notBefore: summary.notBefore.getTime(),
    notAfter: summary.notAfter.getTime(),
    name,
    duplicate,
    warnings: Object.freeze(warnings),
  });
}

function unterminated(block: PemBlock): Finding {
  const n = block.index + 1;
  const why =
    block.problem === "malformed-begin"
      ? "malformed BEGIN line"
      : block.problem === "malformed-end"
        ? "malformed END line"
        : block.problem === "label-mismatch"
          ? "END label differs from BEGIN"
          : "BEGIN without END";
  return finding("PEM_UNTERMINATED_BLOCK", `PEM block ${n}: ${why}`, block.index);
}

/** The time-dependent part, on every call: validity window and the expiry horizon. */
function evaluate(parsed: ParsedBundle, options: AnalyseOptions): BundleAnalysis {
  const now = options.now.getTime();
  const days = options.expiringWithinDays ?? DEFAULT_EXPIRING_WITHIN_DAYS;
  const horizon = now + days * DAY_MS;
  const certificates: CertificateInfo[] = [];
  const findings: Finding[] = [...parsed.errors, ...parsed.valueWarnings];
  for (const certificate of parsed.certificates) {
    certificates.push({
      ...certificate.info,
      notBefore: new Date(certificate.notBefore),
      notAfter: new Date(certificate.notAfter),
    });
    findings.push(...certificate.warnings);
    if (certificate.duplicate) continue;
    const at = certificate.info.index;
    if (now < certificate.notBefore) {
      const message = `${certificate.name} is not valid before ${day(certificate.notBefore)}`;
      findings.push(finding("CERT_NOT_YET_VALID", message, at));
    } else if (now > certificate.notAfter) {
      const message = `${certificate.name} expired on ${day(certificate.notAfter)}`;
      findings.push(finding("CERT_EXPIRED", message, at));
    } else if (certificate.notAfter <= horizon) {
      const message = `${certificate.name} expires on ${day(certificate.notAfter)}`;
      findings.push(finding("CERT_EXPIRES_SOON", message, at));
    }
  }
  return result(certificates, findings);
}

function result(certificates: CertificateInfo[], findings: Finding[]): BundleAnalysis {
  return { certificates, findings, ok: findings.every((f) => f.severity !== "error") };
}

function finding(code: FindingCode, message: string, block?: number): Finding {
  const severity = FINDING_SEVERITY[code];
  return Object.freeze(
    block === undefined ? { code, severity, message } : { code, severity, message, block },
  );
}

function freezeParsed(parsed: ParsedBundle): ParsedBundle {
  Object.freeze(parsed.certificates);
  Object.freeze(parsed.errors);
  Object.freeze(parsed.valueWarnings);
  return Object.freeze(parsed);
}

/**
 * Text to scan, and whether the value is binary: bytes that are not UTF-8, or any C0 control
 * other than whitespace, or DEL (raw DER is full of them). Binary bytes are read as Latin-1 so
 * blocks around them (a private key, say) are still found.
 */
function decodeText(input: string | Uint8Array): { text: string; binary: boolean } {
  let text: string;
  let binary = false;
  if (typeof input === "string") {
    text = input;
  } else {
    const bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    binary = !isUtf8(bytes);
    text = bytes.toString(binary ? "latin1" : "utf8");
  }
  if (!binary) binary = hasControlCharacters(text);
  return { text, binary };
}

function hasControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 ? c < 0x09 || c > 0x0d : c === 0x7f) return true;
  }
  return false;
}

/** User-controlled text in a message: no control or bidi characters, bounded length. */
function clip(value: string, max: number): string {
  let out = "";
  let count = 0;
  for (const ch of value) {
    if (count === max) return `${out}…`;
    const c = ch.codePointAt(0) ?? 0;
    const unsafe =
      c < 0x20 ||
      (c >= 0x7f && c <= 0x9f) ||
      (c >= 0x202a && c <= 0x202e) ||
      (c >= 0x2066 && c <= 0x2069);
    out += unsafe ? "?" : ch;
    count++;
  }
  return out;
}

/** `YYYY-MM-DD` (UTC). */
function day(epochMs: number): string {
  const date = new Date(epochMs);
  return Number.isNaN(date.getTime()) ? "an invalid date" : date.toISOString().slice(0, 10);
}
