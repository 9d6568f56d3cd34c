/**
 * A misspelt key in a rule of the --config file stops every command that reads rules, with
 * exit 2 and one line naming the path and the key that was meant (the built CLI, as a user
 * runs it: `npm run build` first).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { certificateFiles, runCli } from "./process.js";

const MESSAGE = "rules[0].references[0].namespaceFeild: unknown key (did you mean namespaceField?)";

/** The rule of the issue: `namespaceFeild` made a cross-namespace reference pass. */
const TYPO = {
  rules: [
    {
      name: "widgets",
      apiGroups: ["example.com"],
      kinds: { Widget: "widgets" },
      references: [
        {
          refs: ["spec.caRef"],
          namespaceFeild: "namespace",
          keys: { mode: "fixed", key: "ca.crt" },
        },
      ],
    },
  ],
};

const WIDGET = {
  apiVersion: "example.com/v1",
  kind: "Widget",
  metadata: { name: "w", namespace: "team-a" },
  spec: { caRef: { name: "ca", namespace: "platform" } },
};

describe("a misspelt key in a rule (the built CLI)", () => {
  it.each([
    { command: "serve", args: (tls: string[]) => ["serve", ...tls] },
    { command: "check", args: (_: string[], object: string) => ["check", "-f", object] },
    { command: "manifests", args: () => ["manifests"] },
    { command: "manifests --helm-values", args: () => ["manifests", "--helm-values"] },
  ])("$command: exit 2, the path and the suggestion on one line", async ({ args }) => {
    const files = await certificateFiles();
    const config = join(files.dir, "config.yaml");
    const object = join(files.dir, "widget.yaml");
    writeFileSync(config, stringify(TYPO));
    writeFileSync(object, stringify(WIDGET));
    const tls = ["--tls-cert-file", files.certFile, "--tls-key-file", files.keyFile];
    const { code, stdout, stderr } = await runCli([...args(tls, object), "--config", config]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    // The error is one line (the offline commands add a line pointing at --help).
    expect(stderr.split("\n")[0]).toContain(MESSAGE);
  });

  it("with the key spelt right, check denies the cross-namespace reference it let through", async () => {
    const files = await certificateFiles();
    const config = join(files.dir, "config.yaml");
    const object = join(files.dir, "widget.yaml");
    const fixed = JSON.parse(
      JSON.stringify(TYPO).replace("namespaceFeild", "namespaceField"),
    ) as unknown;
    writeFileSync(config, stringify(fixed));
    writeFileSync(object, stringify(WIDGET));
    const { code, stdout } = await runCli(["check", "-f", object, "--config", config]);
    expect(code).toBe(1);
    expect(stdout).toContain("Widget team-a/w denied: spec.caRef.namespace: Forbidden");
  });
});
