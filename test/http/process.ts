import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { servingPair } from "./helpers.js";

/** The built CLI (`npm run build`), as `package.json` `bin` points at it. */
export const CLI = resolve(import.meta.dirname, "../../dist/src/main.js");

export interface RunningCli {
  child: ChildProcess;
  port: number;
  healthPort: number;
  ca: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Where `serve` finds its pair, and the CA a client verifies it with. */
export interface CertificateFiles {
  certFile: string;
  keyFile: string;
  ca: string;
  dir: string;
}

/** Writes a serving pair for 127.0.0.1 (a fresh one by default) into a temp dir. */
export async function certificateFiles(
  pair?: Awaited<ReturnType<typeof servingPair>>,
): Promise<CertificateFiles> {
  const dir = mkdtempSync(join(tmpdir(), "ctw-cli-"));
  const { ca, leaf } = pair ?? (await servingPair());
  const certFile = join(dir, "tls.crt");
  const keyFile = join(dir, "tls.key");
  writeFileSync(certFile, leaf.certificatePem);
  writeFileSync(keyFile, leaf.privateKeyPem);
  return { certFile, keyFile, ca: ca.certificatePem, dir };
}

/**
 * Starts `ca-trust-webhook serve` on random loopback ports (with `files`, or a fresh pair) and
 * waits for its "serving" line.
 */
export async function startCli(
  extraArgs: string[] = [],
  env: NodeJS.ProcessEnv = {},
  files?: CertificateFiles,
): Promise<RunningCli> {
  files ??= await certificateFiles();
  const child = spawn(
    process.execPath,
    [
      CLI,
      "serve",
      "--listen",
      "127.0.0.1:0",
      "--health-listen",
      "127.0.0.1:0",
      "--tls-cert-file",
      files.certFile,
      "--tls-key-file",
      files.keyFile,
      ...extraArgs,
    ],
    { env: { PATH: process.env.PATH, HOME: files.dir, ...env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const started = Date.now();
  while (!/"msg":"serving"/.test(out)) {
    if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${err}`);
    if (Date.now() - started > 15_000) {
      child.kill("SIGKILL");
      throw new Error(`serve did not start: ${out} ${err}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const line = JSON.parse(out.split("\n").find((l) => l.includes('"msg":"serving"')) ?? "{}");
  const port = Number(String(line.listen).split(":").pop());
  const healthPort = Number(String(line.healthListen).split(":").pop());
  return { child, port, healthPort, ca: files.ca, stdout: () => out, stderr: () => err, exited };
}

/** Runs the CLI to completion (for usage and configuration errors). */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("exit", (code) => done({ code, stdout, stderr }));
  });
}
