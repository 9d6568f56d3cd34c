/**
 * The node:crypto certificate reader against the pkijs one it replaced (x509-reference.ts):
 * the same summary for every certificate both read, whatever its subject, dates and CA flag,
 * and on corrupted DER never a different answer where both accept it. Where they disagree on
 * corrupted DER (one accepts, the other not), Go's crypto/x509, which the apiserver and the
 * controllers load bundles with, sides with the new reader in 838 of 846 cases
 * (docs/reliability.md).
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { issueCertificate } from "../../../src/pki/issue.js";
import { summarizeCertificate } from "../../../src/pki/x509.js";
import { type PkiFixtures, pkiFixtures } from "../../fixtures/pki/certificates.js";
import { summarizeWithPkijs } from "./x509-reference.js";

let f: PkiFixtures;
beforeAll(async () => {
  f = await pkiFixtures();
});

describe("summarizeCertificate agrees with the pkijs reader", () => {
  it("on certificates with any subject CN, validity and CA flag", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 40, unit: "grapheme" }),
        fc.boolean(),
        fc.date({
          min: new Date("1970-01-01T00:00:00Z"),
          max: new Date("2090-01-01T00:00:00Z"),
          noInvalidDate: true,
        }),
        fc.integer({ min: 1, max: 40 * 365 }),
        async (commonName, isCA, notBefore, days) => {
          const start = new Date(Math.floor(notBefore.getTime() / 1000) * 1000);
          const cert = await issueCertificate({
            commonName,
            isCA,
            notBefore: start,
            notAfter: new Date(start.getTime() + days * 86_400_000),
          });
          const summary = summarizeCertificate(cert.der);
          expect(summary).toBeDefined();
          expect(summary).toEqual(summarizeWithPkijs(cert.der));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("wherever both read a corrupted certificate, they read the same", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("root", "intermediate", "leaf", "expired" as const),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 3,
        }),
        (which, flips) => {
          const der = Uint8Array.from(f[which].der);
          for (const [at, byte] of flips) der[at % der.length] = byte;
          const summary = summarizeCertificate(der);
          const reference = summarizeWithPkijs(der);
          if (summary !== undefined && reference !== undefined) {
            // The CN is only shown in messages. A corrupted string tag (UTF8String 0x0c turned
            // into 7, 8, 9, 11 or 13) leaves pkijs without a CN while OpenSSL still prints the
            // bytes; every other fact must be the same.
            const { subjectCN, ...facts } = summary;
            const { subjectCN: referenceCN, ...referenceFacts } = reference;
            expect(facts).toEqual(referenceFacts);
            if (referenceCN !== undefined) expect(subjectCN).toBe(referenceCN);
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
