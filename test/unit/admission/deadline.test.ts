import { describe, expect, it } from "vitest";
import { deadlineOf } from "../../../src/admission/routes.js";

describe("deadlineOf (the apiserver's ?timeout=)", () => {
  const offset = (timeout: string | undefined) => {
    const started = performance.now();
    const deadline = deadlineOf(timeout, started);
    return deadline === undefined ? undefined : Math.round((deadline - Date.now()) / 10) * 10;
  };

  it.each([
    ["10s", 10_000],
    ["1.5s", 1_500],
    ["250ms", 250],
    ["2m", 120_000],
    ["10", undefined],
    ["-1s", undefined],
    ["10s ", undefined],
    [undefined, undefined],
  ])("reads %s as %s ms from now", (timeout, expected) => {
    expect(offset(timeout)).toBe(expected);
    // Read again: the same answer (nothing is kept between reads that could change it).
    expect(offset(timeout)).toBe(expected);
  });

  it("still reads a valid value after a client sent many different ones", () => {
    for (let i = 0; i < 100; i++) expect(offset(`${i}x`)).toBeUndefined();
    for (let i = 1; i < 40; i++) expect(offset(`${i}s`)).toBe(i * 1000);
  });
});
