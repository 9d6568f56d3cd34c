/**
 * The built CLI (`dist/src/main.js`) as a child process, for the e2e tests of `check`,
 * `inject` and `scan`: its exit code and output. No `CA_TRUST_WEBHOOK_*` variable or
 * `KUBECONFIG` of the developer's shell leaks in, so a test decides exactly what it passes.
 */
import { spawn } from "node:child_process";
import { childEnv } from "./children.js";
import { SERVER_ENTRY } from "./webhook.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `ca-trust-webhook ARGS` with `input` on stdin; killed after 120 s. */
export function runCli(args: readonly string[], input = ""): Promise<CliResult> {
  const env = childEnv();
  for (const key of Object.keys(env)) if (key.startsWith("CA_TRUST_WEBHOOK_")) delete env[key];
  delete env.KUBECONFIG;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER_ENTRY, ...args], {
      env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(input);
  });
}
