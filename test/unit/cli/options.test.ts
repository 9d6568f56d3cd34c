import { describe, expect, it } from "vitest";
import { UsageError } from "../../../src/cli/io.js";
import {
  type CommandSpec,
  commandHelp,
  featureFlagArgs,
  fileArgs,
  parseCommandArgs,
} from "../../../src/cli/options.js";

const SPEC: CommandSpec = {
  name: "test",
  usage: "[options]",
  description: "a command for the tests",
  options: {
    filename: { flags: "-f, --filename <PATH>", help: "input", multiple: true },
    flag: { flags: "--flag [true|false]", help: "a switch", switch: true },
    verbose: { flags: "--verbose", help: "more" },
  },
};

describe("parseCommandArgs", () => {
  it.each([
    ["absent", [], undefined],
    ["bare", ["--flag"], true],
    ["=true", ["--flag=true"], true],
    ["=false", ["--flag=false"], false],
    ["negated", ["--no-flag"], false],
  ])("reads a switch that is %s", (_name, argv, value) => {
    expect(parseCommandArgs(SPEC, argv, {}).values.flag).toBe(value);
  });

  it("reads its own options and the webhook's decision settings", () => {
    const parsed = parseCommandArgs(
      SPEC,
      ["-f", "a.yaml", "--missing-secret", "deny", "-f", "b,c", "--verbose"],
      { CA_TRUST_WEBHOOK_SYSTEM_NAMESPACE: "platform" },
    );

    expect(fileArgs(parsed.values.filename)).toEqual(["a.yaml", "b", "c"]);
    expect(parsed.values.verbose).toBe(true);
    expect(parsed.settings.missingSecret).toBe("deny");
    expect(parsed.settings.systemNamespace).toBe("platform");
    expect(parsed.settings.injection.customCa.configMapName).toBe("ca-trust-bundle");
  });

  it("needs no serving certificate and ignores serve's own variables", () => {
    const parsed = parseCommandArgs(SPEC, [], {
      CA_TRUST_WEBHOOK_LISTEN: "not an address",
      CA_TRUST_WEBHOOK_CERTIFICATE_MODE: "self-managed",
    });

    expect(parsed.settings.unverifiable).toBe("deny");
  });

  it.each([
    ["an unknown option", ["--listen", "0.0.0.0:1"], "unknown option '--listen'"],
    ["a positional argument", ["x.yaml"], "too many arguments"],
    ["a switch with another value", ["--flag=yes"], "expected true or false"],
    ["a bad decision setting", ["--expiring-within-days=-3"], "--expiring-within-days"],
  ])("refuses %s with a UsageError naming it", (_name, argv, message) => {
    expect(() => parseCommandArgs(SPEC, argv, {})).toThrow(UsageError);
    expect(() => parseCommandArgs(SPEC, argv, {})).toThrow(message);
  });
});

describe("commandHelp", () => {
  it("lists the command's options, then the decision settings shared with serve", () => {
    const help = commandHelp(SPEC);

    expect(help).toMatch(/^Usage: ca-trust-webhook test \[options\]/);
    expect(help.indexOf("--filename")).toBeLessThan(help.indexOf("Decisions (also check"));
    expect(help).toContain("--missing-secret <warn|deny>");
    expect(help).not.toContain("--listen");
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
