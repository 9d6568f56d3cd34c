import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fastJsonPatch from "fast-json-patch";
import { describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { type InjectReport, runInject } from "../../../src/cli/inject.js";
import { podTemplateOf } from "../../../src/cli/workloads.js";
import type { KubeObject } from "../../../src/core/types.js";
import { evaluate } from "../../../src/podsecurity/index.js";
import { FakeCluster, run, tempFiles } from "./helpers.js";

const { applyPatch, deepClone } = fastJsonPatch;

const EXAMPLES = fileURLToPath(new URL("../../../examples/", import.meta.url));
const CA_CONFIGMAP = readFileSync(join(EXAMPLES, "injection/ca-configmap.yaml"), "utf8");
const CA_PEM = CA_CONFIGMAP.split("ca-bundle.crt: |\n")[1]?.replace(/^ {4}/gm, "") as string;

const yaml = (...docs: unknown[]) => docs.map((d) => stringify(d)).join("---\n");

/** A Pod spec that passes `restricted`, with optional changes to the pod security context. */
function podSpec(podSecurity: Record<string, unknown> = {}) {
  return {
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 1000,
      seccompProfile: { type: "RuntimeDefault" },
      ...podSecurity,
    },
    containers: [
      {
        name: "app",
        image: "registry.k8s.io/pause:3.10",
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
      },
    ],
  };
}

function deployment(
  name: string,
  podSecurity: Record<string, unknown> = {},
  labels = {},
  spec: Record<string, unknown> = {},
): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: "app-team" },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, ...labels } },
        spec: { ...podSpec(podSecurity), ...spec },
      },
    },
  };
}

const WORKLOADS: [string, KubeObject][] = [
  [
    "Pod",
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p", namespace: "app-team" },
      spec: podSpec(),
    },
  ],
  ["Deployment", deployment("d")],
  ...(["StatefulSet", "DaemonSet", "ReplicaSet"] as const).map((kind): [string, KubeObject] => [
    kind,
    { ...deployment(kind.toLowerCase()), kind },
  ]),
  [
    "Job",
    {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "j", namespace: "app-team" },
      spec: { template: { spec: { ...podSpec(), restartPolicy: "Never" } } },
    },
  ],
  [
    "CronJob (template without metadata)",
    {
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: { name: "c", namespace: "app-team" },
      spec: {
        schedule: "@hourly",
        jobTemplate: { spec: { template: { spec: { ...podSpec(), restartPolicy: "Never" } } } },
      },
    },
  ],
];

const reports = (stdout: string) => JSON.parse(stdout) as InjectReport[];

/** The documents of the YAML on stdout, as plain values. */
const documents = (stdout: string) => parseAllDocuments(stdout).map((d) => d.toJS() as KubeObject);

describe("ca-trust-webhook inject", () => {
  it.each(WORKLOADS)(
    "injects a %s's Pod template, and the result passes restricted",
    async (_kind, workload) => {
      const result = await run(runInject, ["-f", "-"], {
        stdin: `${CA_CONFIGMAP}---\n${yaml(workload)}`,
      });

      expect(result.code).toBe(0);
      const [configMap, injected] = documents(result.stdout);
      expect(configMap?.kind).toBe("ConfigMap");
      const template = podTemplateOf(injected as KubeObject);
      const spec = template?.spec as { initContainers?: { name: string }[] };
      expect(spec.initContainers?.[0]?.name).toBe("install-ca-cert");
      expect(template?.metadata?.annotations).toMatchObject({
        "ca-trust.dev/injected": expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      });
      expect(evaluate(template ?? {}, { level: "restricted", version: "latest" }).allowed).toBe(
        true,
      );
    },
  );

  it.each(WORKLOADS)(
    "writes a %s exactly as the reported operations make it",
    async (_kind, workload) => {
      const stdin = `${CA_CONFIGMAP}---\n${yaml(workload)}`;
      const yamlOut = await run(runInject, ["-f", "-"], { stdin });
      const jsonOut = await run(runInject, ["-f", "-", "-o", "json"], { stdin });

      const [report] = reports(jsonOut.stdout);
      const expected = applyPatch(
        deepClone(workload),
        [...(report?.operations ?? [])],
        true,
        false,
      ).newDocument;
      expect(documents(yamlOut.stdout)[1]).toEqual(expected);
    },
  );

  it("reports a Deployment whose template runs as root as inadmissible, before and after injection", async () => {
    const stdin = `${CA_CONFIGMAP}---\n${yaml(deployment("root", { runAsUser: 0 }))}`;

    const result = await run(runInject, ["-f", "-", "-o", "json"], { stdin });

    expect(result.code).toBe(1);
    const [report] = reports(result.stdout);
    expect(report?.injection).toBe("injected");
    expect(report?.podSecurity.verdict).toBe("fails-already");
    expect(report?.podSecurity.after.violations.map((v) => [v.check, v.subjects])).toEqual([
      ["runAsUser", ["pod"]],
    ]);
    expect(report?.podSecurity.introduced).toEqual([]);
  });

  it("reports the policy version it evaluated, in the JSON report and on stderr", async () => {
    const stdin = `${CA_CONFIGMAP}---\n${yaml(deployment("root", { runAsUser: 0 }))}`;
    const args = ["-f", "-", "--pod-security-version", "v1.33"];

    const jsonOut = await run(runInject, [...args, "-o", "json"], { stdin });
    const textOut = await run(runInject, args, { stdin });

    const [report] = reports(jsonOut.stdout);
    expect([report?.podSecurity.level, report?.podSecurity.version]).toEqual([
      "restricted",
      "v1.33",
    ]);
    expect(textOut.stderr).toContain(
      'violates PodSecurity "restricted:v1.33": runAsUser=0 (pod must not set runAsUser=0)',
    );
  });

  it("names the failing check and container in the report on stderr", async () => {
    const stdin = `${CA_CONFIGMAP}---\n${yaml(deployment("root", { runAsUser: 0 }))}`;

    const result = await run(runInject, ["-f", "-"], { stdin });

    expect(result.stderr).toContain("Deployment app-team/root: CA injected");
    expect(result.stderr).toContain(
      'fails PodSecurity "restricted:latest", as it did before injection',
    );
    expect(result.stderr).toContain("runAsUser=0 (pod must not set runAsUser=0)");
  });

  it.each([
    ["a compliant Deployment", 0, [], deployment("ok")],
    ["an inadmissible Deployment", 1, [], deployment("root", { runAsUser: 0 })],
    [
      "an inadmissible Deployment with --ignore-preexisting",
      0,
      ["--ignore-preexisting"],
      deployment("root", { runAsUser: 0 }),
    ],
    [
      "a Deployment inadmissible only at restricted, checked at baseline",
      0,
      ["--pod-security", "baseline"],
      deployment("root", { runAsUser: 0 }),
    ],
    [
      "root in a user namespace, admissible from v1.35 on (latest)",
      0,
      [],
      deployment("userns", { runAsUser: 0 }, {}, { hostUsers: false }),
    ],
    [
      "root in a user namespace, checked as a v1.33 apiserver does",
      1,
      ["--pod-security-version", "v1.33"],
      deployment("userns", { runAsUser: 0 }, {}, { hostUsers: false }),
    ],
  ] as const)("exits for %s with %i", async (_name, code, args, workload) => {
    const result = await run(runInject, ["-f", "-", ...args], {
      stdin: `${CA_CONFIGMAP}---\n${yaml(workload)}`,
    });

    expect(result.code).toBe(code);
  });

  it.each([
    ["an unknown namespace, assumed opted in (default)", [], [], "injected", 0],
    [
      "an unknown namespace with --assume-opted-in=false",
      ["--assume-opted-in=false"],
      [],
      "not-opted-in",
      0,
    ],
    [
      "an unknown namespace with --no-assume-opted-in",
      ["--no-assume-opted-in"],
      [],
      "not-opted-in",
      0,
    ],
    [
      "a Namespace in the input without the label",
      [],
      [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "app-team" } }],
      "not-opted-in",
      0,
    ],
    [
      "a Namespace in the input with the label",
      ["--assume-opted-in=false"],
      [
        {
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: "app-team", labels: { "ca-trust.dev/inject": "enabled" } },
        },
      ],
      "injected",
      0,
    ],
  ] as const)("decides opt-in for %s", async (_name, args, extra, outcome, code) => {
    const stdin = `${CA_CONFIGMAP}---\n${yaml(...extra, deployment("d"))}`;

    const result = await run(runInject, ["-f", "-", "-o", "json", ...args], { stdin });

    expect(reports(result.stdout).map((r) => r.injection)).toEqual([outcome]);
    expect(result.code).toBe(code);
  });

  it("honours the Pod label that opts out, and leaves that manifest unchanged", async () => {
    const workload = deployment("off", {}, { "ca-trust.dev/inject": "false" });

    const result = await run(runInject, ["-f", "-"], {
      stdin: `${CA_CONFIGMAP}---\n${yaml(workload)}`,
    });

    expect(result.code).toBe(0);
    expect(documents(result.stdout)[1]).toEqual(workload);
    expect(result.stderr).toContain("not injected: opted out");
  });

  it("reports the webhook's denial when there is no CA ConfigMap, and exits 1", async () => {
    const result = await run(runInject, ["-f", "-", "-o", "json"], {
      stdin: yaml(deployment("d")),
    });

    expect(result.code).toBe(1);
    expect(reports(result.stdout)[0]?.injection).toBe("denied");
  });

  it("uses --ca-bundle where the input has no CA ConfigMap", async () => {
    const dir = tempFiles({ "ca.pem": CA_PEM });

    const result = await run(
      runInject,
      ["-f", "-", "--ca-bundle", join(dir, "ca.pem"), "-o", "json"],
      {
        stdin: yaml(deployment("d")),
      },
    );

    expect(result.code).toBe(0);
    expect(reports(result.stdout)[0]?.injection).toBe("injected");
  });

  it("reads the namespace and the CA ConfigMap from the cluster with --cluster", async () => {
    const cluster = new FakeCluster().add(
      {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: "app-team", labels: { "ca-trust.dev/inject": "enabled" } },
      },
      ...documents(CA_CONFIGMAP),
    );

    const result = await run(
      runInject,
      ["-f", "-", "--cluster", "--assume-opted-in=false", "-o", "json"],
      {
        stdin: yaml(deployment("d")),
        cluster,
      },
    );

    expect(reports(result.stdout)[0]?.injection).toBe("injected");
    expect(cluster.calls).toEqual([
      "getNamespace app-team",
      "getConfigMap app-team/ca-trust-bundle",
    ]);
  });

  it("keeps comments and other documents, and prints everything in input order", async () => {
    const dir = tempFiles({
      "app.yaml": `# The web tier\n${yaml(deployment("web"))}---\napiVersion: v1\nkind: Service # untouched\nmetadata:\n  name: web\n`,
      "ca.yaml": CA_CONFIGMAP,
    });

    const result = await run(runInject, ["-f", dir]);

    expect(result.stdout.startsWith("# The web tier\n")).toBe(true);
    expect(result.stdout).toContain("kind: Service # untouched");
    expect(documents(result.stdout).map((d) => d.kind)).toEqual([
      "Deployment",
      "Service",
      "ConfigMap",
    ]);
  });

  it("injects the items of a List", async () => {
    const list = { apiVersion: "v1", kind: "List", items: [deployment("a"), deployment("b")] };

    const result = await run(runInject, ["-f", "-", "-o", "json"], {
      stdin: `${CA_CONFIGMAP}---\n${yaml(list)}`,
    });

    expect(
      reports(result.stdout).map((r) => [r.name, r.injection, r.operations[0]?.path.slice(0, 22)]),
    ).toEqual([
      ["a", "injected", "/items/0/spec/template"],
      ["b", "injected", "/items/1/spec/template"],
    ]);
  });

  it("writes JSON input back as YAML", async () => {
    const dir = tempFiles({ "d.json": JSON.stringify(deployment("j")), "ca.yaml": CA_CONFIGMAP });

    const result = await run(runInject, ["-f", dir]);

    const injected = documents(result.stdout).find((d) => d.kind === "Deployment");
    expect(result.stdout).toContain("\nkind: Deployment\n");
    const template = podTemplateOf(injected as KubeObject);
    expect(template?.spec.initContainers).toHaveLength(1);
  });

  it("prints a unified diff with --diff, only for files that change", async () => {
    const dir = tempFiles({ "app.yaml": yaml(deployment("web")), "ca.yaml": CA_CONFIGMAP });

    const result = await run(runInject, ["-f", dir, "--diff"]);

    const lines = result.stdout.split("\n");
    expect(lines[0]).toBe(`--- a/${join(dir, "app.yaml").replace(/^\//, "")}`);
    expect(lines[1]).toBe(`+++ b/${join(dir, "app.yaml").replace(/^\//, "")}`);
    expect(lines.filter((l) => l.startsWith("---") || l.startsWith("+++"))).toHaveLength(2);
    expect(lines.filter((l) => l.startsWith("-") && !l.startsWith("---"))).toEqual([]);
    expect(lines).toContain("+        - name: install-ca-cert");
    expect(result.code).toBe(0);
  });

  it.each([
    ["no -f", []],
    ["--diff with -o json", ["-f", "-", "--diff", "-o", "json"]],
    ["an unknown PodSecurity level", ["-f", "-", "--pod-security", "privileged"]],
    ["a malformed PodSecurity version", ["-f", "-", "--pod-security-version", "1.33"]],
    ["a bad --assume-opted-in value", ["-f", "-", "--assume-opted-in=maybe"]],
    ["a missing --ca-bundle file", ["-f", "-", "--ca-bundle", "/nonexistent/ca.pem"]],
    ["malformed YAML", ["-f", "-"]],
  ])("exits 2 for %s", async (_name, argv) => {
    const result = await run(runInject, argv, { stdin: "kind: [\n" });

    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
  });
});
