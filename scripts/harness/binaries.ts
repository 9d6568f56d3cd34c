/**
 * The control plane binaries (etcd, kube-apiserver, kubectl), built from the Go module proxy
 * by `scripts/build-controlplane.sh` into a cache outside the repo. Used by the e2e global
 * setup and by `npm run demo`, so it imports nothing from vitest.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./paths.js";

/** The binaries a control plane needs, all in one directory. */
export const CONTROL_PLANE_BINARIES = ["etcd", "kube-apiserver", "kubectl"] as const;

/**
 * The directory holding etcd, kube-apiserver and kubectl: `CA_TRUST_WEBHOOK_K8S_BIN` if set,
 * else what `scripts/build-controlplane.sh` prints on its last stdout line (cached; a cold
 * build takes many minutes and streams its progress to this process's stderr).
 */
export async function resolveBinaries(): Promise<string> {
  const fromEnv = process.env.CA_TRUST_WEBHOOK_K8S_BIN;
  if (fromEnv !== undefined && fromEnv !== "") {
    for (const name of CONTROL_PLANE_BINARIES) {
      if (!existsSync(join(fromEnv, name))) {
        throw new Error(`CA_TRUST_WEBHOOK_K8S_BIN=${fromEnv} has no ${name}`);
      }
    }
    return fromEnv;
  }
  const script = join(REPO_ROOT, "scripts", "build-controlplane.sh");
  return new Promise((resolve, reject) => {
    // stderr (progress of a cold build) streams straight to the terminal.
    const child = spawn("bash", [script], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "inherit"] });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
    child.once("error", reject);
    child.once("close", (code) => {
      const lines = Buffer.concat(chunks).toString("utf8").trim().split("\n");
      const dir = lines[lines.length - 1]?.trim() ?? "";
      if (code !== 0 || dir === "") {
        reject(new Error(`${script} exited ${code}; it builds the control plane (needs Go)`));
      } else {
        resolve(dir);
      }
    });
  });
}
