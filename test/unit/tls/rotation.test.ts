import { beforeAll, describe, expect, it } from "vitest";
import { issueCa, issueServing, serviceNames } from "../../../src/tls/authority.js";
import {
  type CertificateSet,
  type CertificateSetRead,
  isIssuedBy,
  type KeyedCertificate,
} from "../../../src/tls/certificate-set.js";
import {
  applyRotationStep,
  checkRotationTiming,
  phaseOf,
  planRotation,
  type RotationSettings,
  type RotationStep,
} from "../../../src/tls/rotation.js";

// Fixed clock: every certificate below is issued relative to START.
const START = new Date("2026-03-01T00:00:00Z");
const at = (seconds: number) => new Date(START.getTime() + seconds * 1000);

const NAMES = serviceNames("ca-trust-webhook", "ca-trust", [], ["127.0.0.1"]);
const RENAMED = serviceNames("trust-webhook", "ca-trust", [], ["127.0.0.1"]);

// CA 60 s (backdated 6 s: renewed at 2/3 of 66 s = 38 s after START), serving 20 s
// (backdated 2 s: renewed 12.67 s after START).
const SETTINGS: RotationSettings = {
  caLifetimeMs: 60_000,
  servingLifetimeMs: 20_000,
  publishDelayMs: 3_000,
  retireDelayMs: 6_000,
  names: NAMES,
};

interface Fixtures {
  ca: KeyedCertificate;
  nextCa: KeyedCertificate;
  serving: KeyedCertificate;
  servingLate: KeyedCertificate;
  servingClamped: KeyedCertificate;
  servingOtherNames: KeyedCertificate;
  servingByNext: KeyedCertificate;
}
let f: Fixtures;

beforeAll(async () => {
  const ca = await issueCa(START, 60_000);
  const nextCa = await issueCa(at(38), 60_000);
  f = {
    ca,
    nextCa,
    serving: await issueServing(ca, NAMES, START, 20_000),
    servingLate: await issueServing(ca, NAMES, at(37), 20_000),
    servingClamped: await issueServing(ca, NAMES, at(45), 20_000),
    servingOtherNames: await issueServing(ca, RENAMED, START, 20_000),
    servingByNext: await issueServing(nextCa, NAMES, at(42), 20_000),
  };
});

const ok = (set: CertificateSet): CertificateSetRead => ({ ok: true, set, refused: [] });
const everywhere = (...cas: KeyedCertificate[]) => new Set(cas.map((c) => c.fingerprint));

interface Case {
  state: (f: Fixtures) => CertificateSetRead | undefined;
  now: Date;
  published: (f: Fixtures) => ReadonlySet<string> | undefined;
  settings?: RotationSettings;
  expected: RotationStep["action"];
}

describe("planRotation", () => {
  const cases: [string, Case][] = [
    [
      "creates the set when there is no Secret",
      { state: () => undefined, now: START, published: () => undefined, expected: "create" },
    ],
    [
      "recreates the set when the CA is unusable",
      {
        state: () => ({
          ok: false,
          problem: "ca.crt: does not parse",
          refused: [{ key: "ca.crt", problem: "ca.crt: does not parse" }],
        }),
        now: START,
        published: () => undefined,
        expected: "recreate",
      },
    ],
    [
      "recreates the set when the CA has expired",
      {
        state: (f) => ok({ current: f.ca, leaf: f.serving }),
        now: at(61),
        published: (f) => everywhere(f.ca),
        expected: "recreate",
      },
    ],
    [
      "reissues a missing serving certificate",
      {
        state: (f) => ok({ current: f.ca, leafProblem: "tls.crt: missing" }),
        now: START,
        published: (f) => everywhere(f.ca),
        expected: "reissue-serving",
      },
    ],
    [
      "reissues a serving certificate that lacks a wanted name",
      {
        state: (f) => ok({ current: f.ca, leaf: f.servingOtherNames }),
        now: START,
        published: (f) => everywhere(f.ca),
        expected: "reissue-serving",
      },
    ],
    [
      "leaves a serving certificate alone before 2/3 of its life",
      {
        state: (f) => ok({ current: f.ca, leaf: f.serving }),
        now: at(12),
        published: (f) => everywhere(f.ca),
        expected: "none",
      },
    ],
    [
      "renews the serving certificate after 2/3 of its life",
      {
        state: (f) => ok({ current: f.ca, leaf: f.serving }),
        now: at(13),
        published: (f) => everywhere(f.ca),
        expected: "renew-serving",
      },
    ],
    [
      "does not renew a serving certificate already cut off at the CA's notAfter",
      {
        state: (f) => ok({ current: f.ca, next: f.nextCa, leaf: f.servingClamped }),
        now: at(58),
        published: () => undefined,
        expected: "none",
      },
    ],
    [
      "leaves the CA alone before 2/3 of its life",
      {
        state: (f) => ok({ current: f.ca, leaf: f.servingLate }),
        now: at(37.9),
        published: (f) => everywhere(f.ca),
        expected: "none",
      },
    ],
    [
      "adds the next CA after 2/3 of the CA's life",
      {
        state: (f) => ok({ current: f.ca, leaf: f.servingLate }),
        now: at(38.1),
        published: (f) => everywhere(f.ca),
        expected: "add-next-ca",
      },
    ],
    [
      "waits while the next CA is not confirmed in every caBundle",
      {
        state: (f) => ok({ current: f.ca, next: f.nextCa, leaf: f.servingLate }),
        now: at(45),
        published: (f) => everywhere(f.ca, f.nextCa),
        expected: "none",
      },
    ],
    [
      "waits out the publish delay before promoting",
      {
        state: (f) =>
          ok({ current: f.ca, next: f.nextCa, leaf: f.servingLate, nextPublishedAt: at(40) }),
        now: at(42.9),
        published: (f) => everywhere(f.ca, f.nextCa),
        expected: "none",
      },
    ],
    [
      "promotes the next CA after the publish delay when every caBundle holds it",
      {
        state: (f) =>
          ok({ current: f.ca, next: f.nextCa, leaf: f.servingLate, nextPublishedAt: at(40) }),
        now: at(43),
        published: (f) => everywhere(f.ca, f.nextCa),
        expected: "promote-next-ca",
      },
    ],
    [
      "withdraws the publication when a caBundle lost the next CA",
      {
        state: (f) =>
          ok({ current: f.ca, next: f.nextCa, leaf: f.servingLate, nextPublishedAt: at(40) }),
        now: at(43),
        published: (f) => everywhere(f.ca),
        expected: "unpublish-next-ca",
      },
    ],
    [
      "does not promote while the caBundles cannot be read",
      {
        state: (f) =>
          ok({ current: f.ca, next: f.nextCa, leaf: f.servingLate, nextPublishedAt: at(40) }),
        now: at(45),
        published: () => undefined,
        expected: "none",
      },
    ],
    [
      "keeps the previous CA during the retire delay",
      {
        state: (f) =>
          ok({ current: f.nextCa, previous: f.ca, leaf: f.servingByNext, promotedAt: at(42) }),
        now: at(47.9),
        published: (f) => everywhere(f.ca, f.nextCa),
        expected: "none",
      },
    ],
    [
      "retires the previous CA after the retire delay",
      {
        state: (f) =>
          ok({ current: f.nextCa, previous: f.ca, leaf: f.servingByNext, promotedAt: at(42) }),
        now: at(48),
        published: (f) => everywhere(f.ca, f.nextCa),
        expected: "retire-previous-ca",
      },
    ],
  ];

  it.each(cases)("%s", (_name, c) => {
    const step = planRotation(c.state(f), c.now, c.published(f), c.settings ?? SETTINGS);
    expect(step.action).toBe(c.expected);
  });

  it("reissues a certificate that lacks configured names for exactly the configured names", async () => {
    const set = ok({ current: f.ca, leaf: f.servingOtherNames });
    const step = planRotation(set, START, everywhere(f.ca), SETTINGS);
    expect(step).toEqual({ action: "reissue-serving", reason: "names changed" });
    const reissued = await applyRotationStep(set.ok ? set.set : undefined, step, at(1), SETTINGS);
    expect(reissued.leaf?.dnsNames).toEqual(NAMES.dnsNames);
  });

  it("rewrites the Secret without the entries it refused when nothing else is due", async () => {
    const set: CertificateSet = { current: f.ca, leaf: f.serving };
    const step = planRotation(
      {
        ok: true,
        set,
        refused: [{ key: "ca-next.crt", problem: "ca-next.crt: not a CA" }],
      },
      at(1),
      everywhere(f.ca),
      SETTINGS,
    );
    expect(step).toEqual({ action: "repair", reason: "ca-next.crt" });
    expect(await applyRotationStep(set, step, at(1), SETTINGS)).toBe(set);
  });
});

describe("applyRotationStep", () => {
  it("promotes: the next CA signs a new serving certificate and the old CA becomes previous", async () => {
    const set: CertificateSet = {
      current: f.ca,
      next: f.nextCa,
      leaf: f.servingLate,
      nextPublishedAt: at(40),
    };
    const promoted = await applyRotationStep(set, { action: "promote-next-ca" }, at(43), SETTINGS);
    expect(promoted.current.fingerprint).toBe(f.nextCa.fingerprint);
    expect(promoted.previous?.fingerprint).toBe(f.ca.fingerprint);
    expect(promoted.next).toBeUndefined();
    expect(promoted.nextPublishedAt).toBeUndefined();
    expect(promoted.promotedAt).toEqual(at(43));
    expect(promoted.leaf && isIssuedBy(promoted.leaf, f.nextCa)).toBe(true);
    expect(phaseOf(promoted)).toBe("ca-promoted");
  });

  it.each([
    ["renews", { action: "renew-serving" } as RotationStep],
    ["reissues", { action: "reissue-serving", reason: "x", names: NAMES } as RotationStep],
  ])("%s the serving certificate with the same CA, within the CA's validity", async (_n, step) => {
    const renewed = await applyRotationStep(
      { current: f.ca, leaf: f.servingLate },
      step,
      at(50),
      SETTINGS,
    );
    expect(renewed.current).toBe(f.ca);
    expect(renewed.leaf && isIssuedBy(renewed.leaf, f.ca)).toBe(true);
    expect(renewed.leaf?.notAfter.getTime()).toBeLessThanOrEqual(f.ca.notAfter.getTime());
    expect(renewed.leaf?.dnsNames).toEqual(NAMES.dnsNames);
  });

  it.each([
    ["retire-previous-ca", "stable"],
    ["unpublish-next-ca", "ca-next-added"],
  ] as const)("%s leads to phase %s", async (action, phase) => {
    const base: CertificateSet =
      action === "retire-previous-ca"
        ? { current: f.nextCa, previous: f.ca, leaf: f.servingByNext, promotedAt: at(42) }
        : { current: f.ca, next: f.nextCa, leaf: f.servingLate, nextPublishedAt: at(40) };
    expect(phaseOf(await applyRotationStep(base, { action }, at(50), SETTINGS))).toBe(phase);
  });
});

describe("checkRotationTiming", () => {
  const base = {
    caLifetimeMs: 365 * 86_400_000,
    servingLifetimeMs: 90 * 86_400_000,
    publishDelayMs: 30_000,
    retireDelayMs: 300_000,
    syncIntervalMs: 2_000,
  };
  it.each([
    ["accepts the defaults", base, false],
    [
      "accepts the e2e timings",
      {
        ...base,
        caLifetimeMs: 40_000,
        servingLifetimeMs: 15_000,
        publishDelayMs: 2_000,
        retireDelayMs: 4_000,
        syncIntervalMs: 1_000,
      },
      false,
    ],
    [
      "rejects a serving lifetime longer than the CA's",
      { ...base, servingLifetimeMs: base.caLifetimeMs + 1 },
      true,
    ],
    ["rejects a retire delay shorter than 3 syncs", { ...base, retireDelayMs: 5_000 }, true],
    [
      "rejects a rotation longer than the last third of the CA's life",
      { ...base, caLifetimeMs: 60_000, servingLifetimeMs: 20_000 },
      true,
    ],
  ])("%s", (_name, settings, problem) => {
    expect(checkRotationTiming(settings) !== undefined).toBe(problem);
  });
});
