import { describe, expect, it } from "vitest";
import { ValueInterner } from "../../../src/kube/intern.js";

describe("ValueInterner (one copy of a CA bundle shared by many ConfigMaps)", () => {
  it("keeps one entry for equal values read separately, and returns an equal value", () => {
    const interner = new ValueInterner();
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    // Two strings with the same content built apart, as two ConfigMaps decode them.
    const first = JSON.parse(JSON.stringify({ v: pem })).v as string;
    const second = JSON.parse(JSON.stringify({ v: pem })).v as string;
    expect(interner.intern(first)).toBe(pem);
    expect(interner.intern(second)).toBe(pem);
    expect(interner.size).toBe(1);
  });

  it("keeps at most maxValues distinct values, the most recent ones", () => {
    const interner = new ValueInterner({ maxValues: 3 });
    for (let i = 0; i < 10; i++) expect(interner.intern(`bundle ${i}`)).toBe(`bundle ${i}`);
    expect(interner.size).toBe(3);
  });

  it("returns a value larger than its character budget without keeping it", () => {
    const interner = new ValueInterner({ maxChars: 100 });
    const big = "x".repeat(101);
    expect(interner.intern(big)).toBe(big);
    expect(interner.size).toBe(0);
    expect(interner.intern("small")).toBe("small");
    expect(interner.size).toBe(1);
  });
});
