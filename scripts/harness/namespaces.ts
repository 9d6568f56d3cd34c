/**
 * Per-test namespaces. Without kube-controller-manager nothing creates the `default`
 * ServiceAccount (and the ServiceAccount admission plugin is on, as in a real cluster, so a
 * Pod without it is rejected) and deleted namespaces stay `Terminating`: so every test gets
 * its own uniquely named namespace with a `default` ServiceAccount, and none is ever reused.
 */
import { randomBytes } from "node:crypto";
import { stringify } from "yaml";
import type { ControlPlane } from "./controlplane.js";

/** PodSecurity `restricted`, enforced (https://kubernetes.io/docs/concepts/security/pod-security-admission/). */
export const RESTRICTED: Readonly<Record<string, string>> = {
  "pod-security.kubernetes.io/enforce": "restricted",
  "pod-security.kubernetes.io/enforce-version": "latest",
};

/** The namespace opt-in label for CA injection (README "What it injects"). */
export const INJECT_ENABLED: Readonly<Record<string, string>> = {
  "ca-trust.dev/inject": "enabled",
};

/** Options of {@link createTestNamespace}. */
export interface TestNamespaceOptions {
  /** Start of the name (default `e2e`); a random suffix is appended. */
  prefix?: string;
  labels?: Record<string, string>;
}

/** A fresh, unique name: `<prefix>-<8 random chars>`. */
export function uniqueName(prefix = "e2e"): string {
  const suffix = randomBytes(6)
    .toString("base64url")
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "x");
  return `${prefix.slice(0, 40)}-${suffix.slice(0, 8)}`;
}

/** Creates a uniquely named Namespace with a `default` ServiceAccount; returns its name. */
export async function createTestNamespace(
  cp: ControlPlane,
  options: TestNamespaceOptions = {},
): Promise<string> {
  const name = uniqueName(options.prefix);
  const manifest = [
    {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name, labels: { "e2e.ca-trust.dev/test": "true", ...options.labels } },
    },
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace: name } },
  ]
    .map((doc) => stringify(doc))
    .join("---\n");
  await cp.kubectl(["apply", "-f", "-"], { input: manifest });
  return name;
}
