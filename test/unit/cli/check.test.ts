import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { runCheck } from "../../../src/cli/check.js";
import type { ObjectVerdict } from "../../../src/cli/output.js";
import { FakeCluster, run, tempFiles } from "./helpers.js";

const EXAMPLES = fileURLToPath(new URL("../../../examples/", import.meta.url));
const example = (path: string) => join(EXAMPLES, path);
/** The public example CA (valid 2026-01-01 to 2036-01-01). */
const CA_PEM = readFileSync(example("injection/ca-configmap.yaml"), "utf8")
  .split("ca-bundle.crt: |\n")[1]
  ?.replace(/^ {4}/gm, "") as string;

const yaml = (...docs: unknown[]) => docs.map((d) => stringify(d)).join("---\n");

const dataPlane = (name: string, namespace: string, clientCA: unknown) => ({
  apiVersion: "openchoreo.dev/v1alpha1",
  kind: "DataPlane",
  metadata: { name, namespace },
  spec: { clusterAgent: { clientCA } },
});
const secret = (name: string, namespace: string, stringData: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name, namespace },
  stringData,
});

const verdicts = (stdout: string) =>
  (JSON.parse(stdout) as ObjectVerdict[]).map((v) => [
    `${v.kind} ${v.namespace ?? ""}/${v.name}`,
    v.decision,
    v.warnings.length,
  ]);

describe("ca-trust-webhook check", () => {
  it("gives every object of examples/ the verdict its comment claims", async () => {
    const result = await run(runCheck, ["-f", EXAMPLES, "-o", "json"]);

    expect(result.code).toBe(1);
    expect(verdicts(result.stdout)).toEqual([
      ["Connector my-namespace/damaged-ca", "denied", 0],
      ["Connector my-namespace/registry-with-cert-manager-ca", "allowed", 0],
      ["Secret connectors-system/truncated-ca", "denied", 0],
      ["Secret my-namespace/my-internal-ca", "allowed", 1],
      ["Secret connectors-system/pasted-bundle", "denied", 0],
      ["Secret connectors-system/my-internal-ca", "allowed", 0],
      ["Connector my-namespace/artifacts", "allowed", 0],
      ["Connector my-namespace/cross-namespace-ca", "denied", 0],
      ["Connector my-namespace/qa-invalid-pem", "denied", 0],
      ["Connector my-namespace/secret-comes-later", "allowed", 1],
      ["Connector my-namespace/my-tool-connector", "allowed", 0],
      ["Pod app-team/s3-client-no-injection", "allowed", 0],
      ["Pod app-team-no-ca/s3-client", "denied", 0],
      ["Pod app-team/s3-client", "allowed", 0],
      ["CacheServer my-kcp/half-rotated", "denied", 0],
      ["Shard my-kcp/shard-2", "denied", 0],
      ["RootShard my-kcp/partners", "allowed", 0],
      ["FrontProxy my-kcp/partners-edge", "allowed", 0],
      ["RootShard my-kcp/own-pki", "allowed", 0],
      ["CacheServer my-kcp/own-pki-cache", "allowed", 0],
      ["FrontProxy my-kcp/my-frontproxy", "allowed", 0],
      ["RootShard my-kcp/root", "allowed", 0],
      ["DataPlane default/edge-inline", "allowed", 0],
      ["DataPlane default/edge-trusted", "denied", 0],
      ["DataPlane default/edge-from-secret", "denied", 0],
      ["ClusterDataPlane /shared", "denied", 0],
      ["WorkflowPlane team-a/ci", "denied", 0],
      ["DataPlane acme/ambiguous", "denied", 0],
      ["ObservabilityPlane team-a/default", "denied", 0],
      ["ClusterDataPlane /local", "allowed", 0],
      ["ClusterWorkflowPlane /local", "allowed", 0],
      ["ClusterObservabilityPlane /local", "allowed", 0],
      ["BuildPlane acme/ci", "allowed", 0],
      ["ObservabilityPlane acme/observer", "allowed", 1],
      ["ClusterDataPlane /default", "allowed", 0],
      ["ClusterWorkflowPlane /default", "allowed", 0],
      ["DataPlane acme/prod-eu", "allowed", 0],
    ]);
    // The two injection ServiceAccounts (the how-to's ConnectorsConfig sets the flags).
    expect(result.stderr).toBe("2 objects of unsupported kinds ignored\n");
  });

  it("prints one kubectl-like line per object, warnings indented, the file of a denial", async () => {
    const result = await run(runCheck, [
      "-f",
      example("openchoreo/invalid-cross-namespace-workflowplane.yaml"),
      "-f",
      example("connectors/missing-secret-connector.yaml"),
      "-f",
      example("connectors/connectors-config.yaml"),
    ]);

    const lines = result.stdout.split("\n");
    expect(lines[0]).toMatch(
      /^WorkflowPlane team-a\/ci denied: spec\.clusterAgent\.clientCA\.secretKeyRef\.namespace: Forbidden: /,
    );
    expect(lines[1]).toBe(
      `  at ${example("openchoreo/invalid-cross-namespace-workflowplane.yaml")}:5`,
    );
    expect(lines[2]).toBe("Connector my-namespace/secret-comes-later allowed with 1 warning");
    expect(lines[3]).toMatch(/^ {2}Warning: spec\.caCertSecretRef\.name: /);
    expect(result.code).toBe(1);
  });

  it.each([
    ["every object allowed", 0, [dataPlane("ok", "acme", { value: CA_PEM })]],
    ["one object denied", 1, [dataPlane("bad", "acme", { value: "not a certificate" })]],
    [
      "a denied object among allowed ones",
      1,
      [dataPlane("ok", "acme", { value: CA_PEM }), dataPlane("bad", "acme", { value: "x" })],
    ],
    [
      "only objects of other kinds",
      0,
      [{ apiVersion: "v1", kind: "Service", metadata: { name: "s" } }],
    ],
  ])("with %s, exits %i", async (_name, code, docs) => {
    const result = await run(runCheck, ["-f", "-"], { stdin: yaml(...docs) });

    expect(result.code).toBe(code);
  });

  it("decides objects read from stdin against the Secrets of the same input", async () => {
    const stdin = yaml(
      secret("agent-ca", "acme", { "ca.crt": CA_PEM }),
      dataPlane("prod", "acme", { secretKeyRef: { name: "agent-ca", key: "ca.crt" } }),
      dataPlane("typo", "acme", { secretKeyRef: { name: "agent-ca", key: "tls.crt" } }),
    );

    const result = await run(runCheck, ["-f", "-", "-o", "json"], { stdin });

    expect(verdicts(result.stdout)).toEqual([
      ["DataPlane acme/prod", "allowed", 0],
      ["DataPlane acme/typo", "denied", 0],
    ]);
    const denied = (JSON.parse(result.stdout) as ObjectVerdict[])[1];
    const line = stdin.split("\n").lastIndexOf("apiVersion: openchoreo.dev/v1alpha1") + 1;
    expect(denied).toMatchObject({ file: "<stdin>", line, apiVersion: "openchoreo.dev/v1alpha1" });
  });

  it("reads Lists and directories, and counts the unsupported kinds it ignores", async () => {
    const dir = tempFiles({
      "list.yaml": stringify({
        apiVersion: "v1",
        kind: "List",
        items: [
          dataPlane("in-list", "acme", { value: CA_PEM }),
          { apiVersion: "v1", kind: "Service", metadata: { name: "svc", namespace: "acme" } },
        ],
      }),
      "more/deploy.yaml": yaml(
        { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d", namespace: "acme" } },
        { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } },
      ),
    });

    const result = await run(runCheck, ["-f", dir, "-o", "json"]);

    expect(verdicts(result.stdout)).toEqual([["DataPlane acme/in-list", "allowed", 0]]);
    expect(result.stderr).toBe("3 objects of unsupported kinds ignored\n");
    expect(result.code).toBe(0);
  });

  it("puts namespaced objects without a namespace in -n, and cluster-scoped ones in none", async () => {
    const stdin = yaml(
      { ...dataPlane("x", "", { value: CA_PEM }), metadata: { name: "x" } },
      {
        apiVersion: "openchoreo.dev/v1alpha1",
        kind: "ClusterDataPlane",
        metadata: { name: "c", namespace: "ignored" },
        spec: { clusterAgent: { clientCA: { value: CA_PEM } } },
      },
    );

    const result = await run(runCheck, ["-f", "-", "-n", "team-b", "-o", "json"], { stdin });

    expect(verdicts(result.stdout)).toEqual([
      ["DataPlane team-b/x", "allowed", 0],
      ["ClusterDataPlane /c", "allowed", 0],
    ]);
  });

  it("enforces the Connector rule only with the feature flag (input, or --feature-flag)", async () => {
    const connector = {
      apiVersion: "connectors.alauda.io/v1alpha1",
      kind: "Connector",
      metadata: { name: "git", namespace: "team-a" },
      spec: { caCertSecretRef: { name: "absent" } },
    };
    const flagOn = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "connectors-config", namespace: "connectors-system" },
      data: { "enable-custom-ca-certs": "true" },
    };
    const args = ["-f", "-", "-o", "json", "--missing-secret", "deny"];

    const off = await run(runCheck, args, { stdin: yaml(connector) });
    const on = await run(runCheck, args, { stdin: yaml(flagOn, connector) });
    const forced = await run(runCheck, [...args, "--feature-flag", "enable-custom-ca-certs=true"], {
      stdin: yaml(connector),
    });

    expect([off.code, on.code, forced.code]).toEqual([0, 1, 1]);
    expect(verdicts(off.stdout)).toEqual([["Connector team-a/git", "allowed", 1]]);
  });

  it("takes the feature flags of a ConnectorsConfig in the input, over any flag ConfigMap", async () => {
    const connector = {
      apiVersion: "connectors.alauda.io/v1alpha1",
      kind: "Connector",
      metadata: { name: "git", namespace: "team-a" },
      spec: { caCertSecretRef: { name: "absent" } },
    };
    const connectorsConfig = (value: unknown) => ({
      apiVersion: "operator.connectors.alauda.io/v1alpha1",
      kind: "ConnectorsConfig",
      metadata: { name: "connectors-config", namespace: "connectors-operator" },
      spec: {
        components: { core: { spec: { featureFlags: { "enable-custom-ca-certs": value } } } },
      },
    });
    const flagConfigMap = (value: string) => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "connectors-config", namespace: "connectors-system" },
      data: { "enable-custom-ca-certs": value },
    });
    const args = ["-f", "-", "-o", "json", "--missing-secret", "deny"];
    const decision = async (...docs: unknown[]) => {
      const result = await run(runCheck, args, { stdin: yaml(...docs, connector) });
      return [result.code, verdicts(result.stdout)[0]?.[1], result.stderr];
    };

    expect(await decision(connectorsConfig("true"))).toEqual([1, "denied", ""]);
    expect(await decision(connectorsConfig(true))).toEqual([1, "denied", ""]);
    expect(await decision(connectorsConfig("false"), flagConfigMap("true"))).toEqual([
      0,
      "allowed",
      "",
    ]);
    expect(await decision(flagConfigMap("true"), connectorsConfig("true"))).toEqual([
      1,
      "denied",
      "",
    ]);
  });

  it("with --cluster, reads the cluster's ConnectorsConfig when its API is served, over the cluster's ConfigMap", async () => {
    const connector = {
      apiVersion: "connectors.alauda.io/v1alpha1",
      kind: "Connector",
      metadata: { name: "git", namespace: "team-a" },
      spec: { caCertSecretRef: { name: "absent" } },
    };
    const served = () =>
      new FakeCluster()
        .serve({
          group: "operator.connectors.alauda.io",
          version: "v1alpha1",
          name: "connectorsconfigs",
          kind: "ConnectorsConfig",
          namespaced: true,
        })
        .add(
          {
            apiVersion: "operator.connectors.alauda.io/v1alpha1",
            kind: "ConnectorsConfig",
            metadata: { name: "connectors-config", namespace: "connectors-operator" },
            spec: {
              components: {
                core: { spec: { featureFlags: { "enable-custom-ca-certs": "true" } } },
              },
            },
          },
          {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "connectors-config", namespace: "connectors-system" },
            data: { "enable-custom-ca-certs": "false" },
          },
        );
    const args = ["-f", "-", "-o", "json", "--missing-secret", "deny", "--cluster"];

    const withConfig = await run(runCheck, args, { stdin: yaml(connector), cluster: served() });
    const forbidden = served();
    forbidden.fail.set("listCustom:connectorsconfigs", 403);
    const unreadable = await run(runCheck, args, { stdin: yaml(connector), cluster: forbidden });

    expect([withConfig.code, verdicts(withConfig.stdout)[0]?.[1]]).toEqual([1, "denied"]);
    // Without the right to list ConnectorsConfigs the ConfigMap answers (flag off): allowed.
    expect([unreadable.code, verdicts(unreadable.stdout)[0]?.[1]]).toEqual([0, "allowed"]);
  });

  it("notes a Pod whose namespace is in neither the input nor the cluster", async () => {
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p", namespace: "elsewhere" },
      spec: { containers: [{ name: "a", image: "x" }] },
    };

    const result = await run(runCheck, ["-f", "-", "-o", "json"], { stdin: yaml(pod) });

    const [verdict] = JSON.parse(result.stdout) as ObjectVerdict[];
    expect(verdict?.decision).toBe("allowed");
    expect(verdict?.warnings).toHaveLength(1);
    expect(verdict?.warnings[0]).toContain('namespace "elsewhere"');
  });

  describe("--cluster", () => {
    const cluster = () =>
      new FakeCluster().add(
        secret("remote-ca", "acme", {}),
        {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "remote-ca", namespace: "acme" },
          data: { "ca.crt": Buffer.from(CA_PEM).toString("base64") },
        },
        {
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: "apps", labels: { "ca-trust.dev/inject": "enabled" } },
        },
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "ca-trust-bundle", namespace: "apps" },
          data: { "ca-bundle.crt": CA_PEM },
        },
      );

    it("reads what the input lacks from the cluster, the input first", async () => {
      const fake = cluster();
      fake.objects.shift(); // only the Secret with data
      const stdin = yaml(
        dataPlane("remote", "acme", { secretKeyRef: { name: "remote-ca", key: "ca.crt" } }),
        secret("local-ca", "acme", { "ca.crt": "not a certificate" }),
        dataPlane("local", "acme", { secretKeyRef: { name: "local-ca", key: "ca.crt" } }),
        {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "p", namespace: "apps" },
          spec: { containers: [{ name: "a", image: "x" }] },
        },
      );

      const result = await run(runCheck, ["-f", "-", "--cluster", "-o", "json"], {
        stdin,
        cluster: fake,
      });

      expect(verdicts(result.stdout)).toEqual([
        ["DataPlane acme/remote", "allowed", 0],
        ["DataPlane acme/local", "denied", 0],
        ["Pod apps/p", "allowed", 0],
      ]);
      expect((JSON.parse(result.stdout) as ObjectVerdict[])[2]?.message).toMatch(/^CA injected: /);
      expect(fake.calls).toContain("getSecret acme/remote-ca");
      expect(fake.calls).not.toContain("getSecret acme/local-ca");
      expect(fake.calls.filter((c) => c.startsWith("list"))).toEqual([]);
    });

    it("exits 2 when a cluster lookup fails, after printing the verdicts", async () => {
      const fake = cluster();
      fake.fail.set("getSecret", 403);
      const stdin = yaml(
        dataPlane("remote", "acme", { secretKeyRef: { name: "remote-ca", key: "ca.crt" } }),
      );

      const result = await run(runCheck, ["-f", "-", "--cluster"], { stdin, cluster: fake });

      expect(result.code).toBe(2);
      expect(result.stdout).toMatch(/^DataPlane acme\/remote denied: /);
      expect(result.stderr).toContain("Secret acme/remote-ca: HTTP 403");
    });

    it("exits 2 without a kubeconfig", async () => {
      const result = await run(runCheck, ["-f", "-", "--cluster"], { stdin: "" });

      expect(result.code).toBe(2);
    });
  });

  it.each([
    ["no -f", []],
    ["a missing file", ["-f", "/nonexistent/manifests.yaml"]],
    ["an unknown option", ["-f", "-", "--frobnicate"]],
    ["a positional argument", ["manifests.yaml"]],
    ["an unknown output format", ["-f", "-", "-o", "wide"]],
    ["a bad decision option", ["-f", "-", "--missing-secret", "maybe"]],
    ["a bad --feature-flag", ["-f", "-", "--feature-flag", "on"]],
  ])("exits 2 for %s", async (_name, argv) => {
    const result = await run(runCheck, argv, { stdin: "" });

    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^error: /);
  });

  it("exits 2 for malformed YAML, naming the file and line", async () => {
    const dir = tempFiles({
      "broken.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: [x\n",
    });

    const result = await run(runCheck, ["-f", dir]);

    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      new RegExp(`^error: ${join(dir, "broken.yaml")}:\\d+:\\d+: invalid YAML: `),
    );
  });

  it("prints its options with --help and exits 0", async () => {
    const result = await run(runCheck, ["--help"]);

    expect(result.code).toBe(0);
    expect(result.stdout).toContain("--missing-secret");
    expect(result.stdout).toContain("--feature-flag");
  });
});
