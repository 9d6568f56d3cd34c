/**
 * Runs the init container's exact script with the machine's `sh` (dash here, BusyBox ash in
 * Alpine: the script is POSIX) against temporary files standing in for the image's system
 * bundle and the ConfigMap volume.
 */

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RHEL_BUNDLE_FILE_NAME, TRUST_STORE_FILE_NAME } from "../../../src/inject/paths.js";
import { planPodPatch } from "../../../src/inject/pod.js";
import {
  ERR_NO_CUSTOM_CA,
  ERR_NO_SYSTEM_BUNDLE,
  INSTALL_CA_CERT_SCRIPT,
  SCRIPT_ENV,
} from "../../../src/inject/script.js";
import { DEFAULT_INJECTION_SETTINGS } from "../../../src/inject/settings.js";

const SYSTEM_BUNDLE = "-----BEGIN CERTIFICATE-----\nU1lTVEVN\n-----END CERTIFICATE-----\n";
const CUSTOM_CA = "-----BEGIN CERTIFICATE-----\nQ1VTVE9N\n-----END CERTIFICATE-----\n";

interface Run {
  status: number;
  stderr: string;
}

let root: string;
let paths: { systemBundle: string; customCa: string; outputDir: string };

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "install-ca-cert-"));
  paths = {
    systemBundle: join(root, "image", "ca-certificates.crt"),
    customCa: join(root, "custom-ca", "ca-bundle.crt"),
    outputDir: join(root, "out"),
  };
  mkdirSync(join(root, "image"));
  mkdirSync(join(root, "custom-ca"));
  mkdirSync(paths.outputDir);
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

/** The script with only PATH and the variables the init container sets (unless `omit`ted). */
function runScript(omit?: keyof typeof SCRIPT_ENV): Run {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
  for (const key of Object.keys(SCRIPT_ENV) as (keyof typeof SCRIPT_ENV)[]) {
    if (key !== omit) env[SCRIPT_ENV[key]] = paths[key];
  }
  try {
    execFileSync("sh", ["-c", INSTALL_CA_CERT_SCRIPT], { env, stdio: ["ignore", "pipe", "pipe"] });
    return { status: 0, stderr: "" };
  } catch (error) {
    const failure = error as { status: number | null; stderr: Buffer };
    return { status: failure.status ?? -1, stderr: failure.stderr.toString() };
  }
}

const output = (name: string) => readFileSync(join(paths.outputDir, name));

describe("INSTALL_CA_CERT_SCRIPT", () => {
  it("writes system bundle, a newline and the custom CA, and the same bytes as ca-bundle.crt", () => {
    writeFileSync(paths.systemBundle, SYSTEM_BUNDLE);
    writeFileSync(paths.customCa, CUSTOM_CA);
    expect(runScript()).toEqual({ status: 0, stderr: "" });
    const expected = Buffer.from(`${SYSTEM_BUNDLE}\n${CUSTOM_CA}`);
    expect(output(TRUST_STORE_FILE_NAME).equals(expected)).toBe(true);
    expect(output(RHEL_BUNDLE_FILE_NAME).equals(expected)).toBe(true);
    expect(readdirSync(paths.outputDir).sort()).toEqual(
      [RHEL_BUNDLE_FILE_NAME, TRUST_STORE_FILE_NAME].sort(),
    );
  });

  it("keeps bytes exactly, even without a final newline in either file", () => {
    writeFileSync(paths.systemBundle, SYSTEM_BUNDLE.trimEnd());
    writeFileSync(paths.customCa, `${CUSTOM_CA.trimEnd()}\r\n`);
    expect(runScript().status).toBe(0);
    const expected = Buffer.from(`${SYSTEM_BUNDLE.trimEnd()}\n${CUSTOM_CA.trimEnd()}\r\n`);
    expect(output(TRUST_STORE_FILE_NAME).equals(expected)).toBe(true);
  });

  it("replaces the output when the init container runs again, never appending twice", () => {
    writeFileSync(paths.systemBundle, SYSTEM_BUNDLE);
    writeFileSync(paths.customCa, CUSTOM_CA);
    expect(runScript().status).toBe(0);
    expect(runScript().status).toBe(0);
    expect(output(TRUST_STORE_FILE_NAME).toString()).toBe(`${SYSTEM_BUNDLE}\n${CUSTOM_CA}`);
  });

  it("fails with its code on stderr when the image has no system bundle", () => {
    writeFileSync(paths.customCa, CUSTOM_CA);
    const run = runScript();
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(ERR_NO_SYSTEM_BUNDLE);
    expect(readdirSync(paths.outputDir)).toEqual([]);
  });

  it("fails with its code on stderr when the custom CA file is missing", () => {
    writeFileSync(paths.systemBundle, SYSTEM_BUNDLE);
    const run = runScript();
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(ERR_NO_CUSTOM_CA);
  });

  it.each(Object.keys(SCRIPT_ENV) as (keyof typeof SCRIPT_ENV)[])(
    "fails naming the variable when %s is not set",
    (key) => {
      writeFileSync(paths.systemBundle, SYSTEM_BUNDLE);
      writeFileSync(paths.customCa, CUSTOM_CA);
      const run = runScript(key);
      expect(run.status).not.toBe(0);
      expect(run.stderr).toContain(SCRIPT_ENV[key]);
    },
  );

  it("is what the planned init container runs, with every variable it reads set", () => {
    const plan = planPodPatch(
      { metadata: {}, spec: { containers: [{ name: "app" }] } },
      DEFAULT_INJECTION_SETTINGS,
      { configMapName: "ca-trust-bundle", sha256: "ab".repeat(32) },
    );
    const operation = plan.operations.find((op) => op.path === "/spec/initContainers");
    const container = ((operation?.value ?? []) as unknown[])[0] as
      | { command: string[]; env: { name: string }[] }
      | undefined;
    expect(container?.command).toEqual(["sh", "-c", INSTALL_CA_CERT_SCRIPT]);
    const read = [...INSTALL_CA_CERT_SCRIPT.matchAll(/\$\{(CA_TRUST_[A-Z_]+):\?/g)].map(
      (m) => m[1],
    );
    expect(container?.env.map((variable) => variable.name)).toEqual(read);
  });
});
