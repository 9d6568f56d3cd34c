import { describe, expect, it } from "vitest";
import { UsageError } from "../../../src/cli/io.js";
import {
  decisionConfig,
  featureFlagArgs,
  fileArgs,
  parseCommandArgs,
} from "../../../src/cli/options.js";

const DEFS = {
  filename: { type: "string", short: "f", multiple: true },
  flag: { type: "switch" },
  verbose: { type: "boolean" },
} as const;

describe("parseCommandArgs", () => {
  it.each([
    ["absent", [], undefined],
    ["bare", ["--flag"], true],
    ["=true", ["--flag=true"], true],
    ["=false", ["--flag=false"], false],
    ["negated", ["--no-flag"], false],
  ])("reads a switch that is %s", (_name, argv, value) => {
    expect(parseCommandArgs(argv, DEFS).values.flag).toBe(value);
  });

  it("passes the webhook's decision options through, and keeps its own", () => {
    const parsed = parseCommandArgs(
      ["-f", "a.yaml", "--missing-secret", "deny", "--config=c.yaml", "-f", "b,c"],
      DEFS,
    );

    expect(parsed.passthrough).toEqual(["--config=c.yaml", "--missing-secret=deny"]);
    expect(fileArgs(parsed.values.filename)).toEqual(["a.yaml", "b", "c"]);
  });

  it.each([
    ["an unknown option", ["--listen", "0.0.0.0:1"]],
    ["a positional argument", ["x.yaml"]],
    ["a switch with another value", ["--flag=yes"]],
  ])("refuses %s with a UsageError", (_name, argv) => {
    expect(() => parseCommandArgs(argv, DEFS)).toThrow(UsageError);
  });
});

describe("decisionConfig", () => {
  it("is serve's Config without serving certificates, with the options and environment", () => {
    const config = decisionConfig(["--missing-secret=deny"], {
      CA_TRUST_WEBHOOK_SYSTEM_NAMESPACE: "platform",
    });

    expect(config.missingSecret).toBe("deny");
    expect(config.systemNamespace).toBe("platform");
    expect(config.injection.customCa.configMapName).toBe("ca-trust-bundle");
  });

  it("turns a configuration error into a UsageError naming the option", () => {
    expect(() => decisionConfig(["--expiring-within-days=-3"], {})).toThrow(UsageError);
    expect(() => decisionConfig(["--expiring-within-days=-3"], {})).toThrow(
      "--expiring-within-days",
    );
  });
});

describe("featureFlagArgs", () => {
  it("reads NAME=true|false pairs", () => {
    expect([...featureFlagArgs(["a=true", "b=false"])]).toEqual([
      ["a", true],
      ["b", false],
    ]);
  });

  it("refuses anything else", () => {
    expect(() => featureFlagArgs(["a"])).toThrow(UsageError);
  });
});
