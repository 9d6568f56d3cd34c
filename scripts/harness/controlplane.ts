/**
 * A real, local Kubernetes control plane for end-to-end tests: etcd + kube-apiserver built
 * from `test/e2e/controlplane` by `scripts/build-controlplane.sh`, and the kubectl built
 * with them (always by absolute path: the `kubectl` on PATH may be Debian's 1.20).
 *
 * The binaries and how they are built: docs/e2e-tools.md; the flags: below, each with its
 * reason. Everything listens on 127.0.0.1 on free ports; state lives in a fresh temp dir; the processes are detached process
 * groups that are always killed (see children.ts). The ServiceAccount admission plugin stays
 * on (as on a real cluster), so test namespaces need a `default` ServiceAccount
 * (namespaces.ts creates one).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { stringify } from "yaml";
import {
  childEnv,
  type LoggedChild,
  logTail,
  makeTempDir,
  removeTempDir,
  spawnLogged,
} from "./children.js";
import { createClusterPki } from "./pki.js";
import { pollUntil } from "./poll.js";
import { freePorts } from "./ports.js";

/** Options of {@link ControlPlane.kubectl}. */
export interface KubectlOptions {
  /** Written to kubectl's stdin (e.g. a manifest for `apply -f -`). */
  input?: string;
  /** Return a non-zero exit instead of throwing. */
  allowFail?: boolean;
  /** Kill kubectl after this long (default 60 s). */
  timeoutMs?: number;
  /**
   * One stream for stdout and stderr, in the order kubectl wrote them (as a terminal shows a
   * `Warning:` line before the `created` line it belongs to); returned as `stdout`, and
   * `stderr` is then empty. For showing output to people; tests keep the two apart.
   */
  combined?: boolean;
}

/** What a kubectl invocation printed and returned. */
export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A raw answer of the kube-apiserver (see {@link ControlPlane.request}). */
export interface ApiResponse {
  status: number;
  /** `Warning` headers (admission warnings arrive here), as sent. */
  warnings: string[];
  body: string;
  /** `body` parsed as JSON, or `undefined` when it is not JSON. */
  json: unknown;
}

/**
 * The serialisable description of a running control plane. Global setup hands it to the
 * test workers (vitest `provide`/`inject`), which rebuild a {@link ControlPlane} from it with
 * {@link connectControlPlane}.
 */
export interface ControlPlaneInfo {
  /** `https://127.0.0.1:PORT`. */
  server: string;
  /** Admin kubeconfig (client cert O=system:masters) for kubectl and our server. */
  kubeconfigPath: string;
  /** The cluster CA (signs the apiserver's serving cert and the admin cert). */
  caPem: string;
  /** Admin client cert and key files (for raw requests). */
  adminCertPath: string;
  adminKeyPath: string;
  /** Directory holding the built etcd, kube-apiserver and kubectl. */
  binDir: string;
  /** The temp dir holding PKI, etcd data, logs and kubectl's discovery cache. */
  dir: string;
  apiServerLogPath: string;
  etcdLogPath: string;
  /** Loopback control channel to the owning process (see remote.ts); absent in the owner. */
  control?: { url: string; token: string };
}

/** A running control plane, as seen by a test. */
export interface ControlPlane extends ControlPlaneInfo {
  /** Runs the built kubectl against this control plane. Throws on a non-zero exit unless `allowFail`. */
  kubectl(args: readonly string[], options?: KubectlOptions): Promise<KubectlResult>;
  /** One authenticated (admin) HTTPS request to the apiserver; never throws on HTTP errors. */
  request(method: string, path: string, body?: unknown): Promise<ApiResponse>;
  /** Stops kube-apiserver (SIGTERM, then SIGKILL); etcd and its data stay. */
  stopApiServer(): Promise<void>;
  /** Starts kube-apiserver again on the same port and etcd data; resolves when ready. */
  startApiServer(): Promise<void>;
  /** The last lines of the apiserver log (for failure messages). */
  apiServerLogTail(lines?: number): string;
  /** Only the serialisable part. */
  info(): ControlPlaneInfo;
}

/** The control plane as seen by the process that started it: it can also be stopped. */
export interface OwnedControlPlane extends ControlPlane {
  /** Stops kube-apiserver and etcd, removes the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** Milliseconds from spawning etcd to `namespace/default` existing. */
  readonly startupMs: number;
}

/** Options of {@link startControlPlane}. */
export interface StartControlPlaneOptions {
  /** Directory with `etcd`, `kube-apiserver`, `kubectl` (the build script's last stdout line). */
  binDir: string;
  /** Progress messages; default silent. */
  log?: (message: string) => void;
  /** Deadline for etcd + apiserver readiness (default 120 s: 2 shared cores are slow). */
  readyTimeoutMs?: number;
  /** Keep the temp dir after stop (for debugging a failed run). Default: env CA_TRUST_E2E_KEEP=1. */
  keepDir?: boolean;
  /** Extra kube-apiserver flags (`--name=value`), appended. */
  extraApiServerFlags?: readonly string[];
}

const SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24";

/**
 * Starts etcd and kube-apiserver, waits for `/readyz` and `namespace/default`, writes an
 * admin kubeconfig. On any failure everything started so far is torn down and the error
 * carries the tail of the apiserver (or etcd) log.
 */
export async function startControlPlane(
  options: StartControlPlaneOptions,
): Promise<OwnedControlPlane> {
  const log = options.log ?? (() => {});
  const keepDir = options.keepDir ?? process.env.CA_TRUST_E2E_KEEP === "1";
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  const t0 = Date.now();
  const dir = makeTempDir("cluster");
  const pkiDir = join(dir, "pki");
  mkdirSync(pkiDir);
  const file = (name: string, content: string, secret = false) => {
    const path = join(pkiDir, name);
    writeFileSync(path, content);
    if (secret) chmodSync(path, 0o600);
    return path;
  };

  const pki = await createClusterPki();
  const caPath = file("ca.crt", pki.ca.certificatePem);
  const servingCertPath = file("apiserver.crt", pki.apiServer.certificatePem);
  const servingKeyPath = file("apiserver.key", pki.apiServer.privateKeyPem, true);
  const adminCertPath = file("admin.crt", pki.admin.certificatePem);
  const adminKeyPath = file("admin.key", pki.admin.privateKeyPem, true);
  const saPublicPath = file("sa.pub", pki.serviceAccount.publicKeyPem);
  const saPrivatePath = file("sa.key", pki.serviceAccount.privateKeyPem, true);

  const [etcdPort, peerPort, apiPort] = await freePorts(3);
  if (etcdPort === undefined || peerPort === undefined || apiPort === undefined) {
    throw new Error("no free ports");
  }
  const server = `https://127.0.0.1:${apiPort}`;
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const etcdLogPath = join(dir, "etcd.log");
  const apiServerLogPath = join(dir, "kube-apiserver.log");
  const kubeconfigPath = join(dir, "kubeconfig");
  writeFileSync(
    kubeconfigPath,
    kubeconfig(server, pki.ca.certificatePem, pki.admin.certificatePem, pki.admin.privateKeyPem),
  );
  chmodSync(kubeconfigPath, 0o600);

  const info: ControlPlaneInfo = {
    server,
    kubeconfigPath,
    caPem: pki.ca.certificatePem,
    adminCertPath,
    adminKeyPath,
    binDir: options.binDir,
    dir,
    apiServerLogPath,
    etcdLogPath,
  };
  const base = controlPlaneClient(info);

  const apiServerArgs = [
    `--etcd-servers=${etcdUrl}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--secure-port=${apiPort}`,
    `--cert-dir=${pkiDir}`,
    `--tls-cert-file=${servingCertPath}`,
    `--tls-private-key-file=${servingKeyPath}`,
    `--client-ca-file=${caPath}`,
    "--authorization-mode=RBAC",
    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
    `--service-account-key-file=${saPublicPath}`,
    `--service-account-signing-key-file=${saPrivatePath}`,
    `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
    "--allow-privileged=true",
    "--profiling=false",
    "--v=1",
    ...(options.extraApiServerFlags ?? []),
  ];

  let etcd: LoggedChild | undefined;
  let apiServer: LoggedChild | undefined;
  let stopped = false;

  const startApiServer = async (): Promise<void> => {
    if (apiServer !== undefined && apiServer.exit() === undefined) return;
    apiServer = spawnLogged({
      name: "kube-apiserver",
      command: join(options.binDir, "kube-apiserver"),
      args: apiServerArgs,
      logPath: apiServerLogPath,
    });
    const current = apiServer;
    await pollUntil(
      async () => {
        if (current.exit() !== undefined) {
          throw new Fatal(`kube-apiserver exited early: ${JSON.stringify(current.exit())}`);
        }
        const response = await base.request("GET", "/readyz");
        return response.status === 200 ? true : undefined;
      },
      {
        what: `kube-apiserver ${server}/readyz`,
        timeoutMs: readyTimeoutMs,
        intervalMs: 250,
        stopOn: (error) => error instanceof Fatal,
      },
    );
  };

  const stopApiServer = async (): Promise<void> => {
    await apiServer?.stop(15_000);
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await apiServer?.stop(15_000);
    await etcd?.stop(5_000);
    if (keepDir) log(`keeping ${dir}`);
    else removeTempDir(dir);
  };

  try {
    etcd = spawnLogged({
      name: "etcd",
      command: join(options.binDir, "etcd"),
      args: [
        "--name=e2e",
        `--data-dir=${join(dir, "etcd")}`,
        "--unsafe-no-fsync",
        "--log-level=warn",
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=e2e=${peerUrl}`,
      ],
      logPath: etcdLogPath,
    });
    const etcdChild = etcd;
    await pollUntil(
      async () => {
        if (etcdChild.exit() !== undefined) {
          throw new Fatal(`etcd exited early: ${JSON.stringify(etcdChild.exit())}`);
        }
        const response = await fetch(`${etcdUrl}/health`);
        const body = (await response.json()) as { health?: string };
        return body.health === "true" ? true : undefined;
      },
      {
        what: `etcd ${etcdUrl}/health`,
        timeoutMs: readyTimeoutMs,
        stopOn: (error) => error instanceof Fatal,
      },
    );
    log(`etcd ready on ${etcdUrl} after ${Date.now() - t0} ms`);
    await startApiServer();
    log(`kube-apiserver ready on ${server} after ${Date.now() - t0} ms`);
    await pollUntil(
      async () => {
        const result = await base.kubectl(["get", "namespace", "default", "-o", "name"], {
          allowFail: true,
        });
        return result.code === 0 ? true : undefined;
      },
      { what: "namespace/default", timeoutMs: readyTimeoutMs },
    );
  } catch (error) {
    const tail = `--- kube-apiserver log (tail) ---\n${logTail(apiServerLogPath)}\n--- etcd log (tail) ---\n${logTail(etcdLogPath, 20)}`;
    await stop().catch(() => {});
    throw new Error(
      `control plane did not start: ${error instanceof Error ? error.message : String(error)}\n${tail}`,
      { cause: error },
    );
  }
  const startupMs = Date.now() - t0;
  log(`control plane ready in ${startupMs} ms (${server}, state in ${dir})`);

  return {
    ...base,
    startupMs,
    stopApiServer,
    startApiServer: async () => {
      try {
        await startApiServer();
      } catch (error) {
        throw new Error(
          `kube-apiserver did not restart: ${error instanceof Error ? error.message : String(error)}\n--- kube-apiserver log (tail) ---\n${logTail(apiServerLogPath)}`,
          { cause: error },
        );
      }
    },
    stop,
  };
}

/** Marks an error that makes further polling pointless (the process died). */
class Fatal extends Error {}

/**
 * Rebuilds a {@link ControlPlane} in a test worker from what global setup provided;
 * `stopApiServer`/`startApiServer` are forwarded to the owning process over `info.control`.
 */
export function connectControlPlane(info: ControlPlaneInfo): ControlPlane {
  const base = controlPlaneClient(info);
  const forward = async (action: "stop-apiserver" | "start-apiserver") => {
    if (info.control === undefined) {
      throw new Error(`${action}: this control plane has no control channel`);
    }
    const response = await fetch(`${info.control.url}/${action}`, {
      method: "POST",
      headers: { authorization: `Bearer ${info.control.token}` },
    });
    if (!response.ok) throw new Error(`${action}: ${response.status} ${await response.text()}`);
  };
  return {
    ...base,
    stopApiServer: () => forward("stop-apiserver"),
    startApiServer: () => forward("start-apiserver"),
  };
}

/** kubectl, raw requests and log access: everything that needs only the serialisable info. */
function controlPlaneClient(
  info: ControlPlaneInfo,
): Omit<ControlPlane, "stopApiServer" | "startApiServer"> {
  const kubectlPath = join(info.binDir, "kubectl");
  const env = childEnv({
    KUBECONFIG: info.kubeconfigPath,
    // Discovery cache per control plane, not in ~/.kube (ports are random: it would only grow).
    KUBECACHEDIR: join(info.dir, "kube-cache"),
  });
  let tls: { ca: string; cert: string; key: string } | undefined;
  const credentials = () => {
    tls ??= {
      ca: info.caPem,
      cert: readFileSync(info.adminCertPath, "utf8"),
      key: readFileSync(info.adminKeyPath, "utf8"),
    };
    return tls;
  };

  const kubectl = (args: readonly string[], options: KubectlOptions = {}) =>
    runKubectl(kubectlPath, args, env, options, info.dir);

  const request = (method: string, path: string, body?: unknown): Promise<ApiResponse> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const url = new URL(path, info.server);
      const req = httpsRequest(
        url,
        {
          method,
          ...credentials(),
          headers: {
            accept: "application/json",
            ...(payload === undefined
              ? {}
              : {
                  "content-type": "application/json",
                  "content-length": Buffer.byteLength(payload),
                }),
          },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
            const warning = res.headers.warning;
            resolve({
              status: res.statusCode ?? 0,
              warnings: warning === undefined ? [] : Array.isArray(warning) ? warning : [warning],
              body: text,
              json,
            });
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timeout`)));
      req.on("error", reject);
      req.end(payload);
    });

  return {
    ...info,
    kubectl,
    request,
    apiServerLogTail: (lines = 40) => logTail(info.apiServerLogPath, lines),
    info: () => ({ ...info }),
  };
}

function runKubectl(
  kubectlPath: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  options: KubectlOptions,
  scratchDir: string,
): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    // Combined output: both descriptors on one file, so the order is kubectl's own (two pipes
    // would be read in whatever order the event loop sees them).
    const combinedPath = options.combined
      ? join(scratchDir, `kubectl-${randomBytes(6).toString("hex")}.out`)
      : undefined;
    const combinedFd = combinedPath === undefined ? undefined : openSync(combinedPath, "w");
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(kubectlPath, [...args], {
        env,
        stdio: ["pipe", combinedFd ?? "pipe", combinedFd ?? "pipe"],
      });
    } finally {
      if (combinedFd !== undefined) closeSync(combinedFd); // kubectl holds its own copy
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr?.on("data", (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    const takeCombined = (): string => {
      if (combinedPath === undefined) return "";
      try {
        return readFileSync(combinedPath, "utf8");
      } finally {
        rmSync(combinedPath, { force: true });
      }
    };
    child.once("error", (error) => {
      clearTimeout(timer);
      takeCombined();
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const result: KubectlResult = {
        code: code ?? (signal === null ? -1 : 128),
        stdout: combinedPath === undefined ? Buffer.concat(out).toString("utf8") : takeCombined(),
        stderr: Buffer.concat(err).toString("utf8"),
      };
      if (result.code !== 0 && options.allowFail !== true) {
        reject(
          new Error(
            `kubectl ${args.join(" ")} exited ${result.code}${signal ? ` (${signal})` : ""}: ${(result.stderr || result.stdout).trim()}`,
          ),
        );
      } else {
        resolve(result);
      }
    });
    child.stdin?.on("error", () => {}); // kubectl may exit before reading all input
    child.stdin?.end(options.input ?? "");
  });
}

/** An admin kubeconfig with embedded credentials. */
function kubeconfig(server: string, caPem: string, certPem: string, keyPem: string): string {
  const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "e2e", cluster: { server, "certificate-authority-data": b64(caPem) } }],
    users: [
      {
        name: "e2e-admin",
        user: { "client-certificate-data": b64(certPem), "client-key-data": b64(keyPem) },
      },
    ],
    contexts: [{ name: "e2e", context: { cluster: "e2e", user: "e2e-admin" } }],
    "current-context": "e2e",
  });
}
