/**
 * examples/ against the real kube-apiserver and the mirrored CRDs, without our webhook: every
 * example must be a valid object as far as the API is concerned (schemas, PodSecurity
 * `restricted` for the Pods), so that what a reader sees in `kubectl apply` is the webhook's
 * verdict and not a typo. The one example the API itself refuses is checked for that reason.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { removeHarnessWebhooks } from "../../scripts/harness/webhook.js";
import { useControlPlane } from "./harness/context.js";

const cp = useControlPlane();
const EXAMPLES = fileURLToPath(new URL("../../examples/", import.meta.url));

/** Every example manifest, relative to examples/. */
function exampleFiles(): string[] {
  return readdirSync(EXAMPLES, { recursive: true, encoding: "utf8" })
    .filter((path) => path.endsWith(".yaml"))
    .sort();
}

/** Refused by the apiserver before admission, with the reason the README gives. */
const REFUSED_BY_API: Record<string, string> = {
  "connectors/invalid-cross-namespace-connector.yaml":
    'unknown field "spec.caCertSecretRef.namespace"',
};

/** Namespaces the examples need; applied for real (dry-run needs existing namespaces). */
const NAMESPACE_FILES = ["namespaces.yaml", "injection/namespace.yaml"];

describe("examples/ without the webhook", () => {
  beforeAll(async () => {
    await removeHarnessWebhooks(cp);
    for (const file of NAMESPACE_FILES) {
      await cp.kubectl(["apply", "-f", join(EXAMPLES, file)]);
    }
  });

  it("has an example for each family", () => {
    const families = new Set(
      exampleFiles()
        .filter((path) => path.includes("/"))
        .map((path) => path.split("/")[0]),
    );

    expect([...families].sort()).toEqual(["connectors", "injection", "kcp", "openchoreo"]);
  });

  it.each(exampleFiles().filter((path) => REFUSED_BY_API[path] === undefined))(
    "%s is accepted by the API (server-side dry run, strict field validation)",
    async (path) => {
      const result = await cp.kubectl(
        ["apply", "--dry-run=server", "--validate=strict", "-f", join(EXAMPLES, path)],
        { allowFail: true },
      );

      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
    },
  );

  it.each(Object.entries(REFUSED_BY_API))(
    "%s is refused by the API before admission",
    async (path, reason) => {
      const result = await cp.kubectl(
        ["apply", "--dry-run=server", "--validate=strict", "-f", join(EXAMPLES, path)],
        { allowFail: true },
      );

      expect(result.code).toBe(1);
      expect(result.stderr).toContain(reason);
    },
  );
});
