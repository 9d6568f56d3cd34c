import { createHash, X509Certificate } from "node:crypto";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  analyseBundle,
  type BundleAnalysis,
  bundleCacheStats,
  clearBundleCache,
  type FindingCode,
  MAX_BUNDLE_BLOCKS,
  MAX_BUNDLE_BYTES,
} from "../../../src/pki/bundle.js";
import { NOW, type PkiFixtures, pkiFixtures } from "../../fixtures/pki/certificates.js";

let f: PkiFixtures;
beforeAll(async () => {
  f = await pkiFixtures();
});
beforeEach(() => clearBundleCache());

const bytes = (text: string) => new TextEncoder().encode(text);
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const wrap = (type: string, body: string) =>
  `-----BEGIN ${type}-----\n${body}\n-----END ${type}-----\n`;
const b64 = (data: Uint8Array) => Buffer.from(data).toString("base64");

function analyse(input: string | Uint8Array): BundleAnalysis {
  return analyseBundle(input, { now: NOW });
}
function codes(analysis: BundleAnalysis): FindingCode[] {
  return analysis.findings.map((x) => x.code).sort();
}

type Case = [
  name: string,
  build: (f: PkiFixtures) => string | Uint8Array,
  ok: boolean,
  codes: FindingCode[],
];

const cases: Case[] = [
  // Valid.
  ["accepts a single valid CA", (f) => f.root.certificatePem, true, []],
  [
    "accepts a chain of two CAs",
    (f) => f.intermediate.certificatePem + f.root.certificatePem,
    true,
    [],
  ],
  [
    "accepts CRLF line endings",
    (f) => (f.intermediate.certificatePem + f.root.certificatePem).replaceAll("\n", "\r\n"),
    true,
    [],
  ],
  [
    "accepts surrounding whitespace, indentation and blank lines",
    (f) => `\n\n  ${f.root.certificatePem.replaceAll("\n", "  \n\t")}\n\n\t `,
    true,
    [],
  ],
  ["accepts a bundle without a trailing newline", (f) => f.root.certificatePem.trimEnd(), true, []],
  ["accepts PEM given as UTF-8 bytes", (f) => bytes(f.root.certificatePem), true, []],
  ["accepts a leading byte order mark", (f) => `\uFEFF${f.root.certificatePem}`, true, []],
  ["accepts a bundle of 100 CAs", (f) => f.hundredCAs, true, []],
  // Soft findings.
  [
    "warns about text between blocks",
    (f) => `${f.intermediate.certificatePem}# the root\n${f.root.certificatePem}`,
    true,
    ["PEM_TEXT_OUTSIDE_BLOCKS"],
  ],
  [
    "warns once about comments before, between and after blocks",
    (f) => `# a\n${f.intermediate.certificatePem}# b\n${f.root.certificatePem}# c\n`,
    true,
    ["PEM_TEXT_OUTSIDE_BLOCKS"],
  ],
  ["warns about an expired certificate", (f) => f.expired.certificatePem, true, ["CERT_EXPIRED"]],
  [
    "warns about a certificate that is not yet valid",
    (f) => f.notYetValid.certificatePem,
    true,
    ["CERT_NOT_YET_VALID"],
  ],
  [
    "warns about a certificate expiring in 10 days",
    (f) => f.expiringIn10Days.certificatePem,
    true,
    ["CERT_EXPIRES_SOON"],
  ],
  ["warns about a leaf that is not a CA", (f) => f.leaf.certificatePem, true, ["CERT_NOT_CA"]],
  [
    "warns about a duplicate certificate",
    (f) => f.root.certificatePem + f.intermediate.certificatePem + f.root.certificatePem,
    true,
    ["CERT_DUPLICATE"],
  ],
  [
    "reports a duplicated expired certificate once as expired",
    (f) => f.expired.certificatePem + f.expired.certificatePem,
    true,
    ["CERT_DUPLICATE", "CERT_EXPIRED"],
  ],
  // Private keys.
  [
    "rejects a PKCS#8 private key",
    (f) => f.root.certificatePem + f.keys.pkcs8,
    false,
    ["PEM_PRIVATE_KEY"],
  ],
  [
    "rejects an RSA PRIVATE KEY",
    (f) => f.root.certificatePem + f.keys.rsa,
    false,
    ["PEM_PRIVATE_KEY"],
  ],
  [
    "rejects an EC PRIVATE KEY",
    (f) => f.keys.ec + f.root.certificatePem,
    false,
    ["PEM_PRIVATE_KEY"],
  ],
  [
    "rejects an ENCRYPTED PRIVATE KEY",
    (f) => f.root.certificatePem + f.keys.encryptedPkcs8,
    false,
    ["PEM_PRIVATE_KEY"],
  ],
  [
    "rejects a legacy encrypted RSA key with Proc-Type headers",
    (f) => f.root.certificatePem + f.keys.encryptedRsaWithHeaders,
    false,
    ["PEM_PRIVATE_KEY"],
  ],
  [
    "rejects a serving cert and key pasted as a CA bundle",
    (f) => f.leaf.certificatePem + f.leaf.privateKeyPem,
    false,
    ["CERT_NOT_CA", "PEM_PRIVATE_KEY"],
  ],
  [
    "rejects a private key alone",
    (f) => f.keys.pkcs8,
    false,
    ["PEM_NO_CERTIFICATE", "PEM_PRIVATE_KEY"],
  ],
  [
    "rejects a private key whose END line survives a mistyped BEGIN",
    (f) => f.root.certificatePem + f.keys.pkcs8.replace("BEGIN", "BEGN"),
    false,
    ["PEM_PRIVATE_KEY", "PEM_TEXT_OUTSIDE_BLOCKS"],
  ],
  [
    "rejects an unterminated private key",
    (f) => f.root.certificatePem + f.keys.ec.replace(/-----END.*\n$/, ""),
    false,
    ["PEM_PRIVATE_KEY", "PEM_UNTERMINATED_BLOCK"],
  ],
  // Broken blocks.
  [
    "rejects BEGIN without END",
    (f) => f.root.certificatePem + f.intermediate.certificatePem.replace(/-----END.*\n$/, ""),
    false,
    ["PEM_UNTERMINATED_BLOCK"],
  ],
  [
    "rejects a BEGIN inside an open block",
    (f) => f.root.certificatePem.replace(/-----END.*\n$/, "") + f.intermediate.certificatePem,
    false,
    ["PEM_UNTERMINATED_BLOCK"],
  ],
  [
    "rejects an END label that differs from BEGIN",
    (f) => f.root.certificatePem.replace("END CERTIFICATE", "END CERTIFICATES"),
    false,
    ["PEM_UNTERMINATED_BLOCK"],
  ],
  [
    "rejects a BEGIN line without its closing dashes",
    (f) => f.root.certificatePem.replace("BEGIN CERTIFICATE-----", "BEGIN CERTIFICATE"),
    false,
    ["PEM_UNTERMINATED_BLOCK"],
  ],
  [
    "rejects an END line glued to the last base64 line",
    (f) => f.root.certificatePem.replace("\n-----END", "-----END"),
    false,
    ["PEM_UNTERMINATED_BLOCK"],
  ],
  [
    "rejects text before BEGIN on the same line",
    (f) => `# root: ${f.root.certificatePem}`,
    false,
    ["PEM_UNTERMINATED_BLOCK"],
  ],
  [
    "rejects files concatenated without a newline between END and BEGIN",
    (f) => f.intermediate.certificatePem.trimEnd() + f.root.certificatePem,
    false,
    ["PEM_UNTERMINATED_BLOCK", "PEM_UNTERMINATED_BLOCK"],
  ],
  [
    "rejects a body that is not base64",
    (f) => f.root.certificatePem.replace(/\n[A-Za-z0-9+/]{10}/, "\n!!not*b64!"),
    false,
    ["PEM_INVALID_BASE64"],
  ],
  [
    "rejects base64url characters",
    () => wrap("CERTIFICATE", "MIIB-_AA"),
    false,
    ["PEM_INVALID_BASE64"],
  ],
  [
    "rejects a body with missing padding",
    () => wrap("CERTIFICATE", "MIIBAA="),
    false,
    ["PEM_INVALID_BASE64"],
  ],
  [
    "rejects data after padding",
    () => wrap("CERTIFICATE", "MA==MIIB"),
    false,
    ["PEM_INVALID_BASE64"],
  ],
  [
    "rejects valid base64 of truncated DER",
    (f) => wrap("CERTIFICATE", b64(f.root.der.subarray(0, f.root.der.length - 20))),
    false,
    ["PEM_NOT_X509"],
  ],
  [
    "rejects valid base64 of DER with trailing bytes",
    (f) => wrap("CERTIFICATE", b64(concat(f.root.der, Uint8Array.of(0, 0)))),
    false,
    ["PEM_NOT_X509"],
  ],
  [
    "rejects valid base64 that is not ASN.1",
    () => wrap("CERTIFICATE", b64(bytes("hello, this is not a certificate"))),
    false,
    ["PEM_NOT_X509"],
  ],
  [
    "rejects a public key DER labelled CERTIFICATE",
    (f) => f.keys.publicKey.replaceAll("PUBLIC KEY", "CERTIFICATE"),
    false,
    ["PEM_NOT_X509"],
  ],
  [
    "rejects an empty CERTIFICATE block",
    () => "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
    false,
    ["PEM_NOT_X509"],
  ],
  [
    "rejects PEM headers in a certificate block",
    (f) => f.root.certificatePem.replace("-----\n", "-----\nComment: hello\n\n"),
    false,
    ["PEM_HEADERS"],
  ],
  [
    "rejects a PUBLIC KEY block",
    (f) => f.root.certificatePem + f.keys.publicKey,
    false,
    ["PEM_UNEXPECTED_BLOCK"],
  ],
  [
    "rejects an OpenSSL TRUSTED CERTIFICATE block",
    (f) => f.root.certificatePem.replaceAll(" CERTIFICATE", " TRUSTED CERTIFICATE"),
    false,
    ["PEM_NO_CERTIFICATE", "PEM_UNEXPECTED_BLOCK"],
  ],
  [
    "rejects an X509 CRL block",
    (f) => f.root.certificatePem + wrap("X509 CRL", "MAA="),
    false,
    ["PEM_UNEXPECTED_BLOCK"],
  ],
  // Binary and empty.
  ["rejects raw DER bytes", (f) => f.root.der, false, ["PEM_BINARY_DATA", "PEM_NO_CERTIFICATE"]],
  [
    "rejects a NUL byte between blocks",
    (f) =>
      concat(
        bytes(f.intermediate.certificatePem),
        Uint8Array.of(0, 0x0a),
        bytes(f.root.certificatePem),
      ),
    false,
    ["PEM_BINARY_DATA"],
  ],
  [
    "rejects bytes that are not UTF-8 (trust-manager's 0xFF poison comment)",
    (f) => concat(bytes(f.root.certificatePem), Uint8Array.of(0xff, 0xfe, 0x0a)),
    false,
    ["PEM_BINARY_DATA"],
  ],
  [
    "rejects a private key next to binary data, naming both",
    (f) => concat(f.root.der, bytes(`\n${f.keys.pkcs8}`)),
    false,
    ["PEM_BINARY_DATA", "PEM_NO_CERTIFICATE", "PEM_PRIVATE_KEY"],
  ],
  [
    "rejects a control character in a string",
    (f) => `\u0007\n${f.root.certificatePem}`,
    false,
    ["PEM_BINARY_DATA"],
  ],
  ["rejects an empty value", () => "", false, ["PEM_NO_CERTIFICATE"]],
  ["rejects an empty byte array", () => new Uint8Array(0), false, ["PEM_NO_CERTIFICATE"]],
  ["rejects whitespace only", () => " \r\n\t\n", false, ["PEM_NO_CERTIFICATE"]],
  ["rejects plain text", () => "please paste the CA here", false, ["PEM_NO_CERTIFICATE"]],
  // Size caps.
  [
    "rejects a value over the byte cap",
    (f) =>
      f.root.certificatePem.repeat(Math.ceil(MAX_BUNDLE_BYTES / f.root.certificatePem.length) + 1),
    false,
    ["PEM_TOO_LARGE"],
  ],
  [
    "rejects a byte array over the byte cap",
    () => new Uint8Array(MAX_BUNDLE_BYTES + 1).fill(0x41),
    false,
    ["PEM_TOO_LARGE"],
  ],
  [
    "rejects more blocks than the block cap",
    () => "-----BEGIN X-----\n-----END X-----\n".repeat(MAX_BUNDLE_BLOCKS + 1),
    false,
    ["PEM_TOO_LARGE"],
  ],
];

describe("analyseBundle", () => {
  it.each(cases)("%s", (_name, build, ok, expected) => {
    const analysis = analyse(build(f));
    expect(codes(analysis)).toEqual([...expected].sort());
    expect(analysis.ok).toBe(ok);
  });

  it("describes each certificate of a chain", () => {
    const analysis = analyse(
      f.keys.publicKey + f.intermediate.certificatePem + f.leaf.certificatePem,
    );
    expect(analysis.certificates).toEqual([
      {
        index: 1,
        type: "CERTIFICATE",
        subjectCN: "Fixture Intermediate CA",
        fingerprintSha256: new X509Certificate(f.intermediate.der).fingerprint256
          .replaceAll(":", "")
          .toLowerCase(),
        notBefore: new Date("2026-01-01T00:00:00Z"),
        notAfter: new Date("2036-01-01T00:00:00Z"),
        isCA: true,
      },
      expect.objectContaining({ index: 2, subjectCN: "service.example.svc", isCA: false }),
    ]);
    expect(analysis.findings.map((x) => [x.code, x.block])).toEqual([
      ["PEM_UNEXPECTED_BLOCK", 0],
      ["CERT_NOT_CA", 2],
    ]);
  });

  it("lists errors before warnings, each in block order", () => {
    const analysis = analyse(
      `# hi\n${f.expired.certificatePem}${f.keys.pkcs8}${f.leaf.certificatePem}${f.keys.publicKey}`,
    );
    expect(analysis.findings.map((x) => [x.code, x.block])).toEqual([
      ["PEM_PRIVATE_KEY", 1],
      ["PEM_UNEXPECTED_BLOCK", 3],
      ["PEM_TEXT_OUTSIDE_BLOCKS", undefined],
      ["CERT_EXPIRED", 0],
      ["CERT_NOT_CA", 2],
    ]);
  });

  it("keeps messages short, naming the certificate by CN and fingerprint prefix", () => {
    const analysis = analyse(
      f.expired.certificatePem + f.leaf.certificatePem + f.leaf.certificatePem,
    );
    const [fingerprint] = analysis.certificates.map((c) => c.fingerprintSha256);
    const expired = analysis.findings.find((x) => x.code === "CERT_EXPIRED");
    expect(expired?.message).toContain("CN=Expired CA");
    expect(expired?.message).toContain(fingerprint?.slice(0, 12));
    for (const x of analysis.findings) expect(x.message.length).toBeLessThanOrEqual(90);
  });

  it("never puts key material or base64 in messages", () => {
    const keys = Object.values(f.keys).join("");
    const analysis = analyse(
      keys + f.root.certificatePem.replace("BEGIN CERTIFICATE-----", "BEGIN CERTIFICATE"),
    );
    const base64Lines = keys.split("\n").filter((line) => /^[A-Za-z0-9+/=]{16,}$/.test(line));
    expect(base64Lines.length).toBeGreaterThan(10);
    for (const x of analysis.findings) {
      for (const line of base64Lines) expect(x.message).not.toContain(line.slice(0, 16));
    }
  });

  it("does not echo control or bidi characters from a block label", () => {
    const analysis = analyse(
      `${f.root.certificatePem}${wrap("EVIL\u202e LABEL THAT IS FAR TOO LONG TO SHOW", "MAA=")}`,
    );
    const [unexpected] = analysis.findings;
    expect(unexpected?.code).toBe("PEM_UNEXPECTED_BLOCK");
    expect(unexpected?.message).not.toContain("\u202e");
    expect(unexpected?.message).not.toContain("TOO LONG TO SHOW");
  });

  it.each([
    ["expires soon inside a 30-day window", 30, ["CERT_EXPIRES_SOON"]],
    ["is quiet with a 5-day window", 5, []],
  ])("evaluates a certificate expiring in 10 days: %s", (_name, days, expected) => {
    const analysis = analyseBundle(f.expiringIn10Days.certificatePem, {
      now: NOW,
      expiringWithinDays: days,
    });
    expect(codes(analysis)).toEqual(expected);
  });

  it("recomputes time findings on every call from the memoised parse", () => {
    const pem = f.root.certificatePem;
    expect(codes(analyseBundle(pem, { now: NOW }))).toEqual([]);
    expect(codes(analyseBundle(pem, { now: new Date("2035-12-15T00:00:00Z") }))).toEqual([
      "CERT_EXPIRES_SOON",
    ]);
    expect(codes(analyseBundle(pem, { now: new Date("2036-01-01T00:00:01Z") }))).toEqual([
      "CERT_EXPIRED",
    ]);
    expect(codes(analyseBundle(pem, { now: new Date("2025-12-31T23:59:59Z") }))).toEqual([
      "CERT_NOT_YET_VALID",
    ]);
    expect(bundleCacheStats()).toMatchObject({ entries: 1, hits: 3, misses: 1 });
  });

  it("treats notAfter itself as still valid, as RFC 5280 does", () => {
    const at = analyseBundle(f.expired.certificatePem, { now: new Date("2026-01-01T00:00:00Z") });
    expect(codes(at)).toEqual(["CERT_EXPIRES_SOON"]);
  });

  it("returns fresh objects, so a caller cannot corrupt the memo", () => {
    const first = analyse(f.root.certificatePem);
    first.certificates[0]?.notAfter.setTime(0);
    first.findings.push({ code: "PEM_HEADERS", severity: "error", message: "x" });
    const second = analyse(f.root.certificatePem);
    expect(second.certificates[0]?.notAfter.toISOString()).toBe("2036-01-01T00:00:00.000Z");
    expect(second.findings).toEqual([]);
    expect(bundleCacheStats().hits).toBe(1);
  });

  it("keys the memo by content: equal text as string and bytes agree", () => {
    const pem = f.leaf.certificatePem;
    expect(analyse(pem)).toEqual(analyse(bytes(pem)));
    expect(bundleCacheStats()).toMatchObject({ entries: 2, misses: 2 });
  });

  it("takes the caller's digest of bytes as the memo key: the same entry as hashing them", () => {
    const pem = bytes(f.root.certificatePem);
    const sha256 = createHash("sha256").update(pem).digest("hex");
    expect(analyse(pem)).toEqual(analyseBundle(pem, { now: NOW, sha256 }));
    expect(bundleCacheStats()).toMatchObject({ entries: 1, hits: 1, misses: 1 });
  });

  it("bounds the memo", () => {
    for (let i = 0; i < 300; i++) analyse(`${f.root.certificatePem}# ${i}\n`);
    expect(bundleCacheStats().entries).toBe(256);
    clearBundleCache();
    expect(bundleCacheStats()).toEqual({ entries: 0, bytes: 0, hits: 0, misses: 0 });
  });
});

// Speed is measured by `npm run bench` (validation_100_certs), not asserted here. These
// hostile values only have to finish (the test timeout catches a regex blow-up) and fail.
describe("analyseBundle on hostile values", () => {
  it.each([
    ["one huge line", () => "A".repeat(MAX_BUNDLE_BYTES - 10)],
    ["BEGIN markers on one line", () => "-----BEGIN ".repeat(Math.floor(MAX_BUNDLE_BYTES / 11))],
    ["an open block of base64", () => `-----BEGIN CERTIFICATE-----\n${"QUFB\n".repeat(600_000)}`],
    ["END markers", () => "-----END CERTIFICATE-----\n".repeat(100_000)],
    ["header-like lines", () => `-----BEGIN CERTIFICATE-----\n${"a:b\n".repeat(700_000)}`],
    ["dashes and spaces", () => "- ".repeat(MAX_BUNDLE_BYTES / 2 - 8)],
    ["a BEGIN line of dashes", () => `-----BEGIN ${"-".repeat(MAX_BUNDLE_BYTES - 20)}`],
    ["glued END/BEGIN pairs", () => "-----END X----------BEGIN X-----\n".repeat(90_000)],
    ["nested BEGINs", () => "-----BEGIN CERTIFICATE-----\n".repeat(110_000)],
  ])("finishes on a ~3 MiB hostile value, refusing it: %s", (_name, build) => {
    const input = build();
    expect(Buffer.byteLength(input)).toBeLessThanOrEqual(MAX_BUNDLE_BYTES);
    const analysis = analyse(input);
    expect(analysis.ok).toBe(false);
  });
});

describe("the certificate cap (bounded CPU per value)", () => {
  it("analyses twice a full public-roots bundle (300 certificates)", () => {
    const bundle = f.hundredCAs.repeat(3);
    const analysis = analyse(bundle);
    expect(analysis.ok).toBe(true);
    expect(analysis.certificates).toHaveLength(MAX_BUNDLE_BLOCKS);
  });

  it("refuses 4,900 certificates (2.8 MB) by their count, naming the limit", () => {
    const bundle = f.root.certificatePem.repeat(4_900);
    expect(Buffer.byteLength(bundle)).toBeLessThanOrEqual(MAX_BUNDLE_BYTES);
    const analysis = analyse(bundle);
    expect(analysis.findings.map((x) => x.code)).toEqual(["PEM_TOO_LARGE"]);
    expect(analysis.findings[0]?.message).toBe(
      "value has more than 300 PEM blocks; at most 300 are analysed (a full public-roots bundle has about 150)",
    );
    expect(analysis.certificates).toEqual([]);
  });
});
