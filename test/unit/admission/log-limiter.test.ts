import { describe, expect, it } from "vitest";
import { LogLimiter } from "../../../src/admission/log-limiter.js";

/** A limiter on a fixed clock that the test moves; summaries are collected. */
function limiter(perSecond: number) {
  let now = 1_000_000;
  const reports: { reason: string; suppressed: number }[] = [];
  const counted: string[] = [];
  const l = new LogLimiter({
    perSecond,
    now: () => now,
    report: (reason, suppressed) => reports.push({ reason, suppressed }),
    onSuppressed: (reason) => counted.push(reason),
  });
  return { l, reports, counted, advance: (ms: number) => (now += ms) };
}

const allowed = (l: LogLimiter, reason: string, n: number) =>
  Array.from({ length: n }, () => l.allow(reason)).filter(Boolean).length;

describe("LogLimiter", () => {
  it("writes the first N lines of a second per reason and counts the rest", () => {
    const { l, counted } = limiter(3);
    expect(allowed(l, "review denied", 10)).toBe(3);
    expect(counted).toHaveLength(7);
  });

  it("limits each reason on its own", () => {
    const { l } = limiter(2);
    expect(allowed(l, "FST_ERR_CTP_INVALID_JSON_BODY", 5)).toBe(2);
    expect(allowed(l, "review allowed", 5)).toBe(2);
  });

  it("reports how many lines a window left out when the next window starts", () => {
    const { l, reports, advance } = limiter(2);
    allowed(l, "review denied", 137);
    expect(reports).toEqual([]);
    advance(1_000);
    expect(l.allow("review denied")).toBe(true);
    expect(reports).toEqual([{ reason: "review denied", suppressed: 135 }]);
  });

  it("reports a window's suppressed lines on flush even if no line follows", () => {
    const { l, reports } = limiter(1);
    allowed(l, "CTW_ERR_BUSY", 4);
    l.flush();
    l.flush();
    expect(reports).toEqual([{ reason: "CTW_ERR_BUSY", suppressed: 3 }]);
  });

  it("bounds a 15-second flood of 137,000 lines to N per second plus one summary per second", () => {
    const { l, reports, advance } = limiter(50);
    let written = 0;
    for (let i = 0; i < 137_000; i++) {
      if (l.allow("review denied")) written++;
      if (i % 9_133 === 9_132) advance(1_000); // ~9,133 lines a second for 15 s
    }
    l.flush();
    expect(written).toBeLessThanOrEqual(50 * 16);
    expect(written + reports.reduce((s, r) => s + r.suppressed, 0)).toBe(137_000);
    expect(reports.length).toBeLessThanOrEqual(16);
  });

  it("writes everything when the limit is 0", () => {
    const { l, counted } = limiter(0);
    expect(allowed(l, "x", 1_000)).toBe(1_000);
    expect(counted).toEqual([]);
  });
});
