/**
 * The shipped Helm chart, rendered by the helm built beside kubectl (scripts/build-controlplane.sh
 * builds it from test/e2e/helm/go.mod), and a kubeconfig that authenticates as a
 * ServiceAccount with a TokenRequest token: together, a test runs the server with exactly the
 * permissions (and under exactly the admission policies) an install gives it.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import type { ControlPlane } from "./controlplane.js";
import { type Manifest, toYaml } from "./manifests.js";
import { REPO_ROOT } from "./paths.js";

/** The chart in this repository. */
export const CHART = join(REPO_ROOT, "deploy", "helm", "ca-trust-webhook");

/** A rendered object. */
export type Rendered = Manifest & { apiVersion: string; kind: string };

/** What a helm run printed and its exit code. */
export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Objects of a multi-document YAML stream (empty documents dropped). */
export function objectsOf(yaml: string): Rendered[] {
  return parseAllDocuments(yaml)
    .map((doc) => doc.toJS() as Rendered | null)
    .filter((o): o is Rendered => o !== null && typeof o === "object");
}

/** Runs the helm built beside kubectl, with its state in a temp dir. */
export function helm(cp: ControlPlane, args: readonly string[]): Promise<HelmResult> {
  const bin = join(cp.binDir, "helm");
  if (!existsSync(bin)) {
    throw new Error(`${bin} is missing: run scripts/build-controlplane.sh (it builds helm too)`);
  }
  const home = mkdtempSync(join(tmpdir(), "ca-trust-e2e-helm-"));
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [...args], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: home,
        HELM_CACHE_HOME: join(home, "cache"),
        HELM_CONFIG_HOME: join(home, "config"),
        HELM_DATA_HOME: join(home, "data"),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.once("error", reject);
    child.once("close", (code) => {
      rmSync(home, { recursive: true, force: true });
      resolve({
        code: code ?? 1,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
  });
}

/**
 * `helm template RELEASE CHART --namespace NS -f values`: the result, or the error helm gave
 * (callers assert on it).
 */
export async function helmTemplate(
  cp: ControlPlane,
  options: { release: string; namespace: string; values: Record<string, unknown> },
): Promise<HelmResult & { objects: Rendered[] }> {
  const dir = mkdtempSync(join(tmpdir(), "ca-trust-e2e-values-"));
  try {
    const file = join(dir, "values.yaml");
    writeFileSync(file, toYaml(options.values));
    const result = await helm(cp, [
      "template",
      options.release,
      CHART,
      "--namespace",
      options.namespace,
      "-f",
      file,
    ]);
    return { ...result, objects: result.code === 0 ? objectsOf(result.stdout) : [] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A kubeconfig file in `dir` that authenticates as ServiceAccount `namespace/name` with a
 * one-hour token from the TokenRequest API (what a Pod's projected token is).
 */
export async function serviceAccountKubeconfig(
  cp: ControlPlane,
  options: { namespace: string; name: string; dir: string },
): Promise<string> {
  const token = (
    await cp.kubectl(["create", "token", options.name, "-n", options.namespace, "--duration=1h"])
  ).stdout.trim();
  const path = join(options.dir, `kubeconfig-${options.namespace}-${options.name}`);
  writeFileSync(
    path,
    toYaml({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: "e2e",
          cluster: {
            server: cp.server,
            "certificate-authority-data": Buffer.from(cp.caPem).toString("base64"),
          },
        },
      ],
      users: [{ name: options.name, user: { token } }],
      contexts: [{ name: "sa", context: { cluster: "e2e", user: options.name } }],
      "current-context": "sa",
    }),
    { mode: 0o600 },
  );
  return path;
}
