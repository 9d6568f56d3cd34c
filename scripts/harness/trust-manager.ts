/**
 * The real trust-manager controller (cert-manager project) as a process against a local
 * kube-apiserver: built from the Go module proxy by `scripts/build-trust-manager.sh` (its own
 * tools module, test/e2e/trust-manager; cached outside the repo; `build-controlplane.sh` links
 * it next to kubectl), its CRDs from the same module.
 *
 * Flags, read from its source (cmd/trust-manager/app/options/options.go, v0.25.0):
 * `--kubeconfig`, `--trust-namespace` (default cert-manager), `--leader-elect=false` (one
 * instance, no Lease), the webhook on `--webhook-host 127.0.0.1 --webhook-port` with a
 * certificate issued here in `--webhook-certificate-dir` (tls.crt/tls.key; its webhook is only
 * served, never registered with the apiserver: the Bundle objects the tests write are valid),
 * `--readiness-probe-port` and `--metrics-port` (trust-manager has no host flag for these two:
 * they listen on all interfaces, on free ports), `--log-format json`.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { issueCertificate } from "../../src/pki/issue.js";
import {
  childEnv,
  type LoggedChild,
  logTail,
  makeTempDir,
  removeTempDir,
  spawnLogged,
} from "./children.js";
import type { ControlPlane } from "./controlplane.js";
import { REPO_ROOT } from "./paths.js";
import { pollUntil } from "./poll.js";
import { freePorts } from "./ports.js";

/** The trust-manager binary and the directory of its CRDs. */
export interface TrustManagerBuild {
  binary: string;
  crdDir: string;
}

/**
 * trust-manager next to the control plane binaries (linked there by build-controlplane.sh), or
 * else built (cached) by scripts/build-trust-manager.sh, whose progress streams to stderr.
 */
export async function resolveTrustManager(binDir: string): Promise<TrustManagerBuild> {
  const linked = {
    binary: join(binDir, "trust-manager"),
    crdDir: join(binDir, "trust-manager-crds"),
  };
  if (existsSync(linked.binary) && existsSync(linked.crdDir)) return linked;
  const script = join(REPO_ROOT, "scripts", "build-trust-manager.sh");
  const dir = await new Promise<string>((resolve, reject) => {
    const child = spawn("bash", [script], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "inherit"] });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
    child.once("error", reject);
    child.once("close", (code) => {
      const out = Buffer.concat(chunks).toString("utf8").trim().split("\n").pop()?.trim() ?? "";
      if (code !== 0 || out === "") reject(new Error(`${script} exited ${code} (needs Go)`));
      else resolve(out);
    });
  });
  return { binary: join(dir, "trust-manager"), crdDir: join(dir, "crds") };
}

/** Installs trust-manager's CRDs (Bundle, ClusterBundle) and waits until they are Established. */
export async function installTrustManagerCrds(
  cp: ControlPlane,
  build: TrustManagerBuild,
): Promise<string[]> {
  const files = readdirSync(build.crdDir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((f) => ["-f", join(build.crdDir, f)]);
  const applied = await cp.kubectl(
    ["apply", "--server-side", "--field-manager=e2e-trust-manager", ...files, "-o", "name"],
    { timeoutMs: 120_000 },
  );
  const names = applied.stdout.split("\n").filter((line) => line.trim() !== "");
  await cp.kubectl(["wait", "--for=condition=Established", "--timeout=60s", ...names]);
  return names;
}

/** A running trust-manager. */
export interface TrustManager {
  readonly child: LoggedChild;
  readonly trustNamespace: string;
  logs(lines?: number): string;
  stop(): Promise<void>;
}

/**
 * Starts trust-manager against `cp` (its CRDs must be installed and `trustNamespace` must
 * exist); resolves when its readiness probe answers 200 (caches synced, webhook serving).
 */
export async function startTrustManager(
  cp: ControlPlane,
  build: TrustManagerBuild,
  options: { trustNamespace: string; readyTimeoutMs?: number },
): Promise<TrustManager> {
  const dir = makeTempDir("trust-manager");
  const hour = 3_600_000;
  const validity = {
    notBefore: new Date(Date.now() - hour),
    notAfter: new Date(Date.now() + 24 * hour),
  };
  const ca = await issueCertificate({
    commonName: "trust-manager e2e webhook CA",
    isCA: true,
    ...validity,
  });
  const serving = await issueCertificate({
    commonName: "trust-manager",
    usage: "server",
    ipAddresses: ["127.0.0.1"],
    dnsNames: ["localhost"],
    issuer: ca,
    ...validity,
  });
  const certDir = join(dir, "tls");
  mkdirSync(certDir, { mode: 0o700 });
  writeFileSync(join(certDir, "tls.crt"), serving.certificatePem);
  writeFileSync(join(certDir, "tls.key"), serving.privateKeyPem, { mode: 0o600 });
  const [webhookPort, readyPort, metricsPort] = await freePorts(3);
  const logPath = join(dir, "trust-manager.log");
  const child = spawnLogged({
    name: "trust-manager",
    command: build.binary,
    args: [
      `--kubeconfig=${cp.kubeconfigPath}`,
      `--trust-namespace=${options.trustNamespace}`,
      "--leader-elect=false",
      "--webhook-host=127.0.0.1",
      `--webhook-port=${webhookPort}`,
      `--webhook-certificate-dir=${certDir}`,
      `--readiness-probe-port=${readyPort}`,
      `--metrics-port=${metricsPort}`,
      "--log-format=json",
      "--log-level=2",
    ],
    logPath,
    env: childEnv(),
  });
  const stop = async () => {
    await child.stop(10_000);
    removeTempDir(dir);
  };
  try {
    await pollUntil(
      async () => {
        if (child.exit() !== undefined) {
          throw new Exited(`trust-manager exited: ${JSON.stringify(child.exit())}`);
        }
        const response = await fetch(`http://127.0.0.1:${readyPort}/readyz`);
        return response.status === 200 ? true : undefined;
      },
      {
        what: `trust-manager readiness on :${readyPort}`,
        timeoutMs: options.readyTimeoutMs ?? 60_000,
        stopOn: (error) => error instanceof Exited,
      },
    );
  } catch (error) {
    const tail = logTail(logPath, 30);
    await stop();
    throw new Error(
      `${error instanceof Error ? error.message : String(error)}\n--- trust-manager log (tail) ---\n${tail}`,
      { cause: error },
    );
  }
  return {
    child,
    trustNamespace: options.trustNamespace,
    logs: (lines = 40) => logTail(logPath, lines),
    stop,
  };
}

class Exited extends Error {}
