import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  analyseBundle,
  type BundleAnalysis,
  clearBundleCache,
  FINDING_SEVERITY,
} from "../../../src/pki/bundle.js";
import { NOW, type PkiFixtures, pkiFixtures } from "../../fixtures/pki/certificates.js";

let f: PkiFixtures;
beforeAll(async () => {
  f = await pkiFixtures();
});

/** Cold (memo cleared) and warm analyses agree, and the result is internally consistent. */
function checkInvariants(input: string | Uint8Array): BundleAnalysis {
  clearBundleCache();
  const cold = analyseBundle(input, { now: NOW });
  const warm = analyseBundle(input, { now: NOW });
  expect(warm).toEqual(cold);
  expect(cold.ok).toBe(cold.findings.every((x) => x.severity !== "error"));
  for (const x of cold.findings) {
    expect(x.severity).toBe(FINDING_SEVERITY[x.code]);
    expect(x.message.length).toBeLessThanOrEqual(100);
  }
  if (cold.certificates.length === 0 && cold.findings.length === 0) {
    throw new Error("an input with no certificate must have a finding");
  }
  return cold;
}

/** Fragments that steer random text into the scanner's interesting states. */
const pemFragment = fc.constantFrom(
  "-----BEGIN ",
  "-----END ",
  "-----",
  "CERTIFICATE",
  "PRIVATE KEY",
  "RSA ",
  "\n",
  "\r\n",
  " ",
  "\t",
  ":",
  "=",
  "QUJD",
  "MIIB",
  "\u0000",
  "\uFEFF",
  "é",
);

type Mutation = { kind: "insert" | "delete" | "flip"; at: number; char: string };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom("insert", "delete", "flip"),
  at: fc.nat(),
  char: fc.constantFrom("A", "=", "-", "\n", " ", ":", "\u0000", "!", "B"),
});

function mutate(text: string, mutations: Mutation[]): string {
  let out = text;
  for (const { kind, at, char } of mutations) {
    const i = out.length === 0 ? 0 : at % out.length;
    if (kind === "insert") out = out.slice(0, i) + char + out.slice(i);
    else if (kind === "delete") out = out.slice(0, i) + out.slice(i + 1);
    else out = out.slice(0, i) + char + out.slice(i + 1);
  }
  return out;
}

describe("analyseBundle properties", () => {
  it("never throws and is deterministic on arbitrary strings", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (text) => {
        checkInvariants(text);
      }),
      { numRuns: 300 },
    );
  });

  it("never throws and is deterministic on PEM-like text", () => {
    fc.assert(
      fc.property(fc.array(pemFragment, { maxLength: 60 }), (parts) => {
        checkInvariants(parts.join(""));
      }),
      { numRuns: 300 },
    );
  });

  it("never throws and is deterministic on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (data) => {
        checkInvariants(data);
      }),
      { numRuns: 300 },
    );
  });

  it("never throws and is deterministic on mutations of a valid bundle", () => {
    const bundle = () => f.intermediate.certificatePem + f.root.certificatePem;
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        checkInvariants(mutate(bundle(), mutations));
      }),
      { numRuns: 150 },
    );
  });

  it("never accepts a bundle with a private key block at any line", () => {
    fc.assert(
      fc.property(
        fc.nat(),
        fc.constantFrom<keyof PkiFixtures["keys"]>("pkcs8", "rsa", "ec", "encryptedPkcs8"),
        fc.boolean(),
        (at, key, crlf) => {
          const lines = (f.intermediate.certificatePem + f.root.certificatePem).split("\n");
          const i = at % lines.length;
          let text = [...lines.slice(0, i), f.keys[key], ...lines.slice(i)].join("\n");
          if (crlf) text = text.replaceAll("\n", "\r\n");
          const analysis = checkInvariants(text);
          expect(analysis.ok).toBe(false);
          expect(analysis.findings.map((x) => x.code)).toContain("PEM_PRIVATE_KEY");
        },
      ),
      { numRuns: 100 },
    );
  });
});
