import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { issueCertificate } from "../../../src/pki/issue.js";
import { issueCa, issueServing, serviceNames } from "../../../src/tls/authority.js";
import {
  bundleFingerprints,
  type CertificateSet,
  caBundleOf,
  certificateSetContent,
  type Expectations,
  type KeyedCertificate,
  keyedCertificate,
  readCertificateSet,
  SECRET_ANNOTATIONS,
  SECRET_KEYS,
} from "../../../src/tls/certificate-set.js";

// Fixed clock for certificate dates.
const START = new Date("2026-03-01T00:00:00Z");
const DAY = 86_400_000;
const HOUR = 3_600_000;
const NAMES = serviceNames(
  "ca-trust-webhook",
  "ca-trust",
  ["webhook.example.com"],
  ["127.0.0.1", "::1"],
);
/** What the replica reading the Secret would have issued: CA 1 day, serving 1 hour. */
const EXPECT: Expectations = {
  now: new Date(START.getTime() + 60_000),
  caLifetimeMs: DAY,
  servingLifetimeMs: HOUR,
  names: NAMES,
};

let ca: KeyedCertificate;
let other: KeyedCertificate;
let next: KeyedCertificate;
let serving: KeyedCertificate;
let servingByOther: KeyedCertificate;
/** Certificates no replica with EXPECT's settings issues. */
let planted: Record<string, KeyedCertificate>;

/** A self-signed certificate with the given validity, as a keyed certificate. */
async function selfSigned(options: { isCA: boolean; from: number; to: number }) {
  const issued = await issueCertificate({
    commonName: "planted",
    isCA: options.isCA,
    notBefore: new Date(options.from),
    notAfter: new Date(options.to),
  });
  return keyedCertificate(issued.certificatePem, issued.privateKeyPem);
}

beforeAll(async () => {
  ca = await issueCa(START, DAY);
  other = await issueCa(START, DAY);
  next = await issueCa(START, DAY);
  serving = await issueServing(ca, NAMES, START, HOUR);
  servingByOther = await issueServing(other, NAMES, START, HOUR);
  const t = START.getTime();
  // CA:TRUE certificates whose keyUsage does not allow certificate signing, or that have none
  // (OpenSSL makes them; our issuer always sets keyCertSign).
  const dir = mkdtempSync(join(tmpdir(), "ctw-ku-"));
  const openssl = (keyUsage: string[]) => {
    execFileSync("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-subj",
      "/CN=no-keycertsign",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      ...keyUsage,
      "-days",
      "1",
      "-keyout",
      join(dir, "k"),
      "-out",
      join(dir, "c"),
    ]);
    return keyedCertificate(
      readFileSync(join(dir, "c"), "utf8"),
      readFileSync(join(dir, "k"), "utf8"),
    );
  };
  try {
    planted = {
      noKeyCertSign: openssl(["-addext", "keyUsage=critical,digitalSignature"]),
      noKeyUsage: openssl([]),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  planted.century = await selfSigned({ isCA: true, from: t - HOUR, to: Date.parse("2126-01-01") });
  planted.future = await selfSigned({ isCA: true, from: t + 2 * DAY, to: t + 2.5 * DAY });
  planted.extraName = await issueServing(
    ca,
    { dnsNames: [...NAMES.dnsNames, "attacker.example"], ipAddresses: NAMES.ipAddresses },
    START,
    HOUR,
  );
  planted.extraIp = await issueServing(
    ca,
    { dnsNames: NAMES.dnsNames, ipAddresses: [...NAMES.ipAddresses, "10.0.0.1"] },
    START,
    HOUR,
  );
  planted.fewerNames = await issueServing(
    ca,
    { dnsNames: NAMES.dnsNames.slice(0, 2), ipAddresses: [] },
    START,
    HOUR,
  );
  // Issued for 10 days: cut off at the CA's end, still a day instead of the hour configured.
  planted.longServing = await issueServing(ca, NAMES, START, 10 * DAY);
  planted.expiredServing = await issueServing(ca, NAMES, new Date(t - 2 * HOUR), HOUR);
});

describe("readCertificateSet", () => {
  it("round-trips a set in rotation through the Secret's content", () => {
    const set: CertificateSet = {
      current: ca,
      next,
      previous: other,
      leaf: serving,
      nextPublishedAt: new Date("2026-03-01T00:00:40Z"),
      promotedAt: new Date("2026-03-01T00:00:30Z"),
    };
    const content = certificateSetContent(set);
    expect(Object.keys(content.data).sort()).toEqual(Object.values(SECRET_KEYS).sort());
    expect(content.annotations).toEqual({
      [SECRET_ANNOTATIONS.nextPublishedAt]: "2026-03-01T00:00:40.000Z",
      [SECRET_ANNOTATIONS.promotedAt]: "2026-03-01T00:00:30.000Z",
    });
    const read = readCertificateSet(content, EXPECT);
    expect(read.ok && read.set.current.fingerprint).toBe(ca.fingerprint);
    expect(read.ok && read.set.next?.fingerprint).toBe(next.fingerprint);
    expect(read.ok && read.set.previous?.fingerprint).toBe(other.fingerprint);
    expect(read.ok && read.set.leaf?.fingerprint).toBe(serving.fingerprint);
    expect(read.ok && read.set.nextPublishedAt).toEqual(set.nextPublishedAt);
    expect(read.refused).toEqual([]);
  });

  it("reads the serving names as issued (DNS lowercase, IPs normalised)", () => {
    expect(serving.dnsNames).toEqual(NAMES.dnsNames);
    expect(serving.ipAddresses).toEqual(["7f000001", "00000000000000000000000000000001"]);
  });

  it("ignores a publication or promotion time in the future (it would hold a rotation back)", () => {
    const content = certificateSetContent({
      current: ca,
      next,
      previous: other,
      leaf: serving,
      nextPublishedAt: new Date("2026-03-05T00:00:00Z"),
      promotedAt: new Date("2026-03-05T00:00:00Z"),
    });
    const read = readCertificateSet(content, EXPECT);
    expect(read.ok && read.set.nextPublishedAt).toBeUndefined();
    expect(read.ok && read.set.promotedAt).toBeUndefined();
  });

  const base = () => certificateSetContent({ current: ca, leaf: serving }).data;
  const withLeaf = (leaf: () => KeyedCertificate) => () => ({
    ...base(),
    "tls.crt": leaf().pem,
    "tls.key": leaf().keyPem,
  });
  const withCa = (cert: () => KeyedCertificate) => () => ({
    ...base(),
    "ca.crt": cert().pem,
    "ca.key": cert().keyPem,
  });
  it.each<
    [
      string,
      () => Record<string, string>,
      {
        ok: boolean;
        problem?: RegExp;
        leafKept?: boolean;
        leafProblem?: RegExp;
        refused: string[];
      },
    ]
  >([
    ["a complete set", base, { ok: true, leafKept: true, refused: [] }],
    ["no CA", () => ({ ...base(), "ca.crt": "" }), { ok: false, refused: ["ca.crt"] }],
    [
      "a CA whose key belongs to another CA",
      () => ({ ...base(), "ca.key": other.keyPem }),
      { ok: false, problem: /its key does not match/, refused: ["ca.crt"] },
    ],
    [
      "a serving certificate that is not a CA in ca.crt",
      () => ({ ...base(), "ca.crt": serving.pem, "ca.key": serving.keyPem }),
      { ok: false, problem: /not a CA/, refused: ["ca.crt"] },
    ],
    [
      "a CA:TRUE certificate whose keyUsage lacks keyCertSign",
      withCa(() => planted.noKeyCertSign as KeyedCertificate),
      { ok: false, problem: /not a CA/, refused: ["ca.crt"] },
    ],
    [
      "a CA:TRUE certificate without keyUsage",
      withCa(() => planted.noKeyUsage as KeyedCertificate),
      { ok: false, problem: /keyUsage does not allow signing certificates/, refused: ["ca.crt"] },
    ],
    [
      "a planted CA valid until 2126",
      withCa(() => planted.century as KeyedCertificate),
      {
        ok: false,
        problem: /valid for 36\d{3}(\.\d)?d \(.*\), longer than the configured CA lifetime of 1d$/,
        refused: ["ca.crt"],
      },
    ],
    [
      "a CA not valid before the day after tomorrow",
      withCa(() => planted.future as KeyedCertificate),
      { ok: false, problem: /not valid before 2026-03-03T00:00:00/, refused: ["ca.crt"] },
    ],
    [
      "a missing serving certificate (reissued, not a refusal)",
      () => ({ ...base(), "tls.crt": "" }),
      { ok: true, leafProblem: /^tls\.crt: missing$/, refused: [] },
    ],
    [
      "a serving certificate signed by another CA",
      () => ({ ...base(), "tls.crt": servingByOther.pem, "tls.key": servingByOther.keyPem }),
      { ok: true, leafProblem: /^tls\.crt: not signed by ca\.crt$/, refused: ["tls.crt"] },
    ],
    [
      "a serving key that does not match",
      () => ({ ...base(), "tls.key": servingByOther.keyPem }),
      { ok: true, leafProblem: /^tls\.crt: its key does not match$/, refused: ["tls.crt"] },
    ],
    [
      "a serving certificate with an extra DNS name",
      withLeaf(() => planted.extraName as KeyedCertificate),
      {
        ok: true,
        leafProblem: /names DNS:attacker\.example that are not ours/,
        refused: ["tls.crt"],
      },
    ],
    [
      "a serving certificate with an extra IP address",
      withLeaf(() => planted.extraIp as KeyedCertificate),
      { ok: true, leafProblem: /names IP:10\.0\.0\.1 that are not ours/, refused: ["tls.crt"] },
    ],
    [
      "a serving certificate that lacks configured names (kept: the planner reissues it)",
      withLeaf(() => planted.fewerNames as KeyedCertificate),
      { ok: true, leafKept: true, refused: [] },
    ],
    [
      "a serving certificate issued for 10 days (cut at the CA's end: 1 day; 1 hour configured)",
      withLeaf(() => planted.longServing as KeyedCertificate),
      {
        ok: true,
        leafProblem:
          /valid for 1(\.\d)?d \(.*\), longer than the configured serving certificate lifetime of 3600s$/,
        refused: ["tls.crt"],
      },
    ],
    [
      "an expired serving certificate (kept: the planner reissues it)",
      withLeaf(() => planted.expiredServing as KeyedCertificate),
      { ok: true, leafKept: true, refused: [] },
    ],
    [
      "a broken next CA",
      () => ({ ...base(), "ca-next.crt": "garbage", "ca-next.key": next.keyPem }),
      { ok: true, leafKept: true, refused: ["ca-next.crt"] },
    ],
    [
      "a planted next CA valid until 2126",
      () => ({
        ...base(),
        "ca-next.crt": (planted.century as KeyedCertificate).pem,
        "ca-next.key": (planted.century as KeyedCertificate).keyPem,
      }),
      { ok: true, leafKept: true, refused: ["ca-next.crt"] },
    ],
    [
      "a broken previous CA",
      () => ({ ...base(), "ca-previous.crt": "garbage" }),
      { ok: true, leafKept: true, refused: ["ca-previous.crt"] },
    ],
    [
      "a previous 'CA' that is a serving certificate",
      () => ({ ...base(), "ca-previous.crt": serving.pem }),
      { ok: true, leafKept: true, refused: ["ca-previous.crt"] },
    ],
  ])("reads %s", (_name, data, expected) => {
    const read = readCertificateSet({ data: data(), annotations: {} }, EXPECT);
    expect(read.ok).toBe(expected.ok);
    expect(read.refused.map((r) => r.key)).toEqual(expected.refused);
    // The reasons never carry key material.
    expect(JSON.stringify(read.refused)).not.toContain("PRIVATE");
    if (!read.ok) {
      if (expected.problem) expect(read.problem).toMatch(expected.problem);
      return;
    }
    expect(read.set.leaf !== undefined).toBe(expected.leafKept ?? false);
    if (expected.leafProblem) expect(read.set.leafProblem).toMatch(expected.leafProblem);
    else expect(read.set.leafProblem).toBeUndefined();
    expect(read.set.next !== undefined).toBe(false);
    expect(read.set.previous !== undefined).toBe(false);
  });
});

describe("caBundleOf", () => {
  it.each<[string, () => CertificateSet, () => KeyedCertificate[]]>([
    ["a stable set holds the current CA", () => ({ current: ca }), () => [ca]],
    ["a rotating set holds current then next", () => ({ current: ca, next }), () => [ca, next]],
    [
      "a promoted set holds previous then current",
      () => ({ current: next, previous: ca }),
      () => [ca, next],
    ],
  ])("%s", (_name, set, cas) => {
    const bundle = caBundleOf(set());
    expect(bundle).toBe(
      cas()
        .map((c) => c.pem)
        .join(""),
    );
    expect([...bundleFingerprints(bundle)]).toEqual(cas().map((c) => c.fingerprint));
  });

  it("finds certificates in a bundle with CRLF line ends and text around them", () => {
    const bundle = `# ours\r\n${ca.pem.replace(/\n/g, "\r\n")}junk\n${next.pem}`;
    expect([...bundleFingerprints(bundle)]).toEqual([ca.fingerprint, next.fingerprint]);
  });
});
