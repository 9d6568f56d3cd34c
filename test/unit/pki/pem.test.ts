import { describe, expect, it } from "vitest";
import { isStrictBase64, type PemBlock, scanPem } from "../../../src/pki/pem.js";

const A = "-----BEGIN CERTIFICATE-----\nQUJD\nREVG\n-----END CERTIFICATE-----\n";

describe("scanPem", () => {
  it("finds blocks with their type, joined body and offsets", () => {
    const text = `${A}  ${A.replace("CERTIFICATE-----\n", "CERTIFICATE-----\r\n")}`;
    const { blocks, outsideText } = scanPem(text);
    expect(blocks).toEqual<PemBlock[]>([
      {
        index: 0,
        type: "CERTIFICATE",
        body: "QUJDREVG",
        headers: [],
        start: 0,
        end: A.length,
        terminated: true,
      },
      {
        index: 1,
        type: "CERTIFICATE",
        body: "QUJDREVG",
        headers: [],
        start: A.length + 2,
        end: text.length,
        terminated: true,
      },
    ]);
    expect(outsideText).toEqual([]);
  });

  it.each<[string, string, Partial<PemBlock>]>([
    ["a missing END", "-----BEGIN X-----\nQUJD\n", { terminated: false, problem: "missing-end" }],
    [
      "a malformed BEGIN",
      "-----BEGIN X\nQUJD\n-----END X-----\n",
      { terminated: false, problem: "malformed-begin", type: "X" },
    ],
    [
      "a glued END",
      "-----BEGIN X-----\nQUJD-----END X-----\n",
      { terminated: false, problem: "malformed-end" },
    ],
    [
      "a different END label",
      "-----BEGIN X-----\nQUJD\n-----END Y-----\n",
      { terminated: false, problem: "label-mismatch" },
    ],
    [
      "a header line",
      "-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\n\nQUJD\n-----END X-----\n",
      { terminated: true, headers: ["Proc-Type: 4,ENCRYPTED"], body: "QUJD" },
    ],
    [
      "spaces inside body lines",
      "-----BEGIN X-----\nQU JD\tRE\n-----END X-----",
      { terminated: true, body: "QUJDRE" },
    ],
  ])("reports %s", (_name, text, expected) => {
    expect(scanPem(text).blocks[0]).toMatchObject(expected);
  });

  it("reports text before BEGIN on its line as a malformed BEGIN (Go would drop the block)", () => {
    expect(scanPem(`junk ${A}`).blocks[0]).toMatchObject({
      type: "CERTIFICATE",
      problem: "malformed-begin",
    });
  });

  it("reports both blocks of files concatenated without a final newline", () => {
    const { blocks, outsideText } = scanPem(A.trimEnd() + A);
    expect(blocks.map((b) => [b.type, b.problem, b.body])).toEqual([
      ["CERTIFICATE", "malformed-end", "QUJDREVG"],
      ["CERTIFICATE", "malformed-begin", "QUJDREVG"],
    ]);
    expect(outsideText).toEqual([]);
  });

  it("ends an open block at a nested BEGIN and keeps scanning", () => {
    const { blocks } = scanPem(`-----BEGIN X-----\nQUJD\n${A}`);
    expect(blocks.map((b) => [b.type, b.terminated])).toEqual([
      ["X", false],
      ["CERTIFICATE", true],
    ]);
  });

  it("records one entry per gap with text", () => {
    const { blocks, outsideText } = scanPem(`a\nb\n\n${A}c\n${A}${A}${A}\ne`);
    expect(blocks).toHaveLength(4);
    expect(outsideText.map((t) => t.beforeBlock)).toEqual([0, 1, 4]);
  });

  it("flags an END PRIVATE KEY line outside blocks", () => {
    expect(
      scanPem("-----BEGN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY-----\n").strayPrivateKeyEnd,
    ).toBe(true);
    expect(scanPem("-----END CERTIFICATE-----\n").strayPrivateKeyEnd).toBe(false);
  });

  it("stops past the block cap", () => {
    const scan = scanPem(A.repeat(4), 3);
    expect(scan.tooManyBlocks).toBe(true);
    expect(scan.blocks).toHaveLength(3);
    expect(scanPem(A.repeat(3), 3).tooManyBlocks).toBe(false);
  });
});

describe("isStrictBase64", () => {
  it.each([
    ["", true],
    ["QUJD", true],
    ["QUI=", true],
    ["QQ==", true],
    ["Q===", false],
    ["QUJ", false],
    ["QU=D", false],
    ["QU-_", false],
    ["QU J", false],
  ])("%j → %s", (body, expected) => {
    expect(isStrictBase64(body)).toBe(expected);
  });
});
