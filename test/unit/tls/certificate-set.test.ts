import { beforeAll, describe, expect, it } from "vitest";
import { issueCa, issueServing, serviceNames } from "../../../src/tls/authority.js";
import {
  bundleFingerprints,
  type CertificateSet,
  caBundleOf,
  certificateSetContent,
  type KeyedCertificate,
  readCertificateSet,
  SECRET_ANNOTATIONS,
  SECRET_KEYS,
} from "../../../src/tls/certificate-set.js";

// Fixed clock for certificate dates.
const START = new Date("2026-03-01T00:00:00Z");
const NAMES = serviceNames(
  "ca-trust-webhook",
  "ca-trust",
  ["webhook.example.com"],
  ["127.0.0.1", "::1"],
);

let ca: KeyedCertificate;
let other: KeyedCertificate;
let next: KeyedCertificate;
let serving: KeyedCertificate;
let servingByOther: KeyedCertificate;

beforeAll(async () => {
  ca = await issueCa(START, 86_400_000);
  other = await issueCa(START, 86_400_000);
  next = await issueCa(START, 86_400_000);
  serving = await issueServing(ca, NAMES, START, 3_600_000);
  servingByOther = await issueServing(other, NAMES, START, 3_600_000);
});

describe("readCertificateSet", () => {
  it("round-trips a set in rotation through the Secret's content", () => {
    const set: CertificateSet = {
      current: ca,
      next,
      previous: other,
      leaf: serving,
      nextPublishedAt: new Date("2026-03-01T01:00:00Z"),
      promotedAt: new Date("2026-03-01T00:30:00Z"),
    };
    const content = certificateSetContent(set);
    expect(Object.keys(content.data).sort()).toEqual(Object.values(SECRET_KEYS).sort());
    expect(content.annotations).toEqual({
      [SECRET_ANNOTATIONS.nextPublishedAt]: "2026-03-01T01:00:00.000Z",
      [SECRET_ANNOTATIONS.promotedAt]: "2026-03-01T00:30:00.000Z",
    });
    const read = readCertificateSet(content);
    expect(read.ok && read.set.current.fingerprint).toBe(ca.fingerprint);
    expect(read.ok && read.set.next?.fingerprint).toBe(next.fingerprint);
    expect(read.ok && read.set.previous?.fingerprint).toBe(other.fingerprint);
    expect(read.ok && read.set.leaf?.fingerprint).toBe(serving.fingerprint);
    expect(read.ok && read.set.nextPublishedAt).toEqual(set.nextPublishedAt);
    expect(read.ok && read.dropped).toEqual([]);
  });

  it("reads the serving names as issued (DNS lowercase, IPs normalised)", () => {
    expect(serving.dnsNames).toEqual(NAMES.dnsNames);
    expect(serving.ipAddresses).toEqual(["7f000001", "00000000000000000000000000000001"]);
  });

  const base = () => certificateSetContent({ current: ca, leaf: serving }).data;
  it.each<
    [
      string,
      () => Record<string, string>,
      { ok: boolean; leafProblem?: string; dropped?: string[] },
    ]
  >([
    ["a complete set", base, { ok: true, dropped: [] }],
    ["no CA", () => ({ ...base(), "ca.crt": "" }), { ok: false }],
    [
      "a CA whose key belongs to another CA",
      () => ({ ...base(), "ca.key": other.keyPem }),
      { ok: false },
    ],
    [
      "a serving certificate that is not a CA in ca.crt",
      () => ({ ...base(), "ca.crt": serving.pem, "ca.key": serving.keyPem }),
      { ok: false },
    ],
    [
      "a missing serving certificate",
      () => ({ ...base(), "tls.crt": "" }),
      { ok: true, leafProblem: "tls.crt: missing" },
    ],
    [
      "a serving certificate signed by another CA",
      () => ({ ...base(), "tls.crt": servingByOther.pem, "tls.key": servingByOther.keyPem }),
      { ok: true, leafProblem: "tls.crt: not signed by ca.crt" },
    ],
    [
      "a serving key that does not match",
      () => ({ ...base(), "tls.key": servingByOther.keyPem }),
      { ok: true, leafProblem: "tls.crt: its key does not match" },
    ],
    [
      "a broken next CA (dropped)",
      () => ({ ...base(), "ca-next.crt": "garbage", "ca-next.key": next.keyPem }),
      { ok: true, dropped: ["ca-next.crt"] },
    ],
    [
      "a broken previous CA (dropped)",
      () => ({ ...base(), "ca-previous.crt": "garbage" }),
      { ok: true, dropped: ["ca-previous.crt"] },
    ],
  ])("reads %s", (_name, data, expected) => {
    const read = readCertificateSet({ data: data(), annotations: {} });
    expect(read.ok).toBe(expected.ok);
    if (read.ok) {
      expect(read.set.leafProblem).toBe(expected.leafProblem);
      expect(read.dropped).toEqual(expected.dropped ?? []);
    }
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
