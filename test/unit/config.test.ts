import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  envName,
  loadServeConfig,
  OPTIONS,
  parseDuration,
  parseHostPort,
  SECTIONS,
  serveHelp,
} from "../../src/config.js";

const TLS = ["--tls-cert-file", "/c.pem", "--tls-key-file", "/k.pem"];

function configFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "ctw-config-")), "config.yaml");
  writeFileSync(path, text);
  return path;
}

describe("loadServeConfig", () => {
  it("applies the documented defaults", () => {
    const config = loadServeConfig(TLS, {});
    expect(config.serving).toMatchObject({
      listen: { host: "0.0.0.0", port: 9443 },
      healthListen: { host: "0.0.0.0", port: 8080 },
      tlsMinVersion: "1.2",
      certificate: { mode: "files", certFile: "/c.pem", keyFile: "/k.pem", reloadIntervalMs: 500 },
      keepAliveTimeoutMs: 90_000,
      requestTimeoutMs: 10_000,
    });
    expect(config.decision).toMatchObject({
      systemNamespace: "connectors-system",
      missingSecret: "warn",
      unverifiable: "deny",
      expiringWithinDays: 30,
      rules: [],
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.serving.certificate)).toBe(true);
  });

  it("reads the self-managed certificate settings as their own variant", () => {
    const config = loadServeConfig(
      ["--certificate-mode", "self-managed", "--namespace", "trust", "--ca-lifetime", "30d"],
      {},
    );
    expect(config.serving.certificate).toEqual({
      mode: "self-managed",
      namespace: "trust",
      serviceName: "ca-trust-webhook",
      secretName: "ca-trust-webhook-certs",
      webhookConfigurationName: "ca-trust-webhook",
      extraDnsNames: [],
      extraIpAddresses: [],
      caLifetimeMs: 30 * 86_400_000,
      servingLifetimeMs: 90 * 86_400_000,
      publishDelayMs: 30_000,
      retireDelayMs: 300_000,
      syncIntervalMs: 2_000,
    });
  });

  it("checks Secret access per user by default, reusing answers 10s, in any namespace", () => {
    const config = loadServeConfig(TLS, {});
    expect(config.decision.authorizeReferences).toBe(true);
    expect(config.serving.accessReviewTtlMs).toBe(10_000);
    expect(config.decision.secretNamespaces).toEqual([]);
    const narrowed = loadServeConfig(
      [...TLS, "--secret-namespaces", "platform-cas,shared-cas", "--authorize-references=false"],
      {},
    );
    expect(narrowed.decision.secretNamespaces).toEqual(["platform-cas", "shared-cas"]);
    expect(narrowed.decision.authorizeReferences).toBe(false);
  });

  it("trusts no Secret namespace by default; --trusted-secret-namespaces takes NAMESPACE and RULE=NAMESPACE", () => {
    expect(loadServeConfig(TLS, {}).decision.trustedSecretNamespaces).toEqual([]);
    const config = loadServeConfig(
      [
        ...TLS,
        "--trusted-secret-namespaces",
        "shared-cas,openchoreo-planes=openchoreo-control-plane",
      ],
      {},
    );
    expect(config.decision.trustedSecretNamespaces).toEqual([
      { rule: undefined, namespace: "shared-cas" },
      { rule: "openchoreo-planes", namespace: "openchoreo-control-plane" },
    ]);
    const fromFile = loadServeConfig(
      [...TLS, "--config", configFile("trustedSecretNamespaces: [kcp-operator=kcp-pki]\n")],
      {},
    );
    expect(fromFile.decision.trustedSecretNamespaces).toEqual([
      { rule: "kcp-operator", namespace: "kcp-pki" },
    ]);
  });

  it.each([
    [
      "a rule name that is not a rule, with the nearest one",
      ["--trusted-secret-namespaces", "openchoreo-plane=x"],
      '--trusted-secret-namespaces: "openchoreo-plane=x": no rule named "openchoreo-plane" (did you mean openchoreo-planes?)',
    ],
    [
      "a namespace that is not a Kubernetes name",
      ["--trusted-secret-namespaces", "openchoreo-planes=Not_A_Namespace"],
      "expected NAMESPACE or RULE=NAMESPACE",
    ],
    [
      "a trusted namespace the webhook may not read Secrets in",
      ["--secret-namespaces", "platform-cas", "--trusted-secret-namespaces", "shared-cas"],
      '--trusted-secret-namespaces: "shared-cas" is not in --secret-namespaces',
    ],
  ])("rejects %s", (_name, args, message) => {
    expect(() => loadServeConfig([...TLS, ...args], {})).toThrow(message);
  });

  it("takes flags over environment over file over defaults", () => {
    const file = configFile(
      "listen: 127.0.0.1:1001\nhealthListen: 127.0.0.1:2001\nrequestTimeout: 3s\n",
    );
    const config = loadServeConfig([...TLS, "--config", file, "--listen", "127.0.0.1:1003"], {
      CA_TRUST_WEBHOOK_LISTEN: "127.0.0.1:1002",
      CA_TRUST_WEBHOOK_HEALTH_LISTEN: "127.0.0.1:2002",
    });
    expect(config.serving.listen.port).toBe(1003);
    expect(config.serving.healthListen.port).toBe(2002);
    expect(config.serving.requestTimeoutMs).toBe(3_000);
    expect(config.configFile).toBe(file);
  });

  it("reads typed YAML values, nested keys and lists from the file", () => {
    const file = configFile(
      [
        "tlsMinVersion: 1.3",
        "maxConnections: 20",
        "authorizeReferences: false",
        "secretNamespaces: [platform-cas, shared-cas]",
        "clientCaFile: /ca.pem",
        "clientCn: kube-apiserver",
        "injection:",
        "  runAsUser: -1",
        "  resources: {requests: {cpu: 5m, memory: 8Mi}, limits: {memory: 32}}",
        "  env: [{name: SSL_CERT_FILE, value: /etc/ssl/certs/ca-certificates.crt}]",
      ].join("\n"),
    );
    const { decision, serving } = loadServeConfig([...TLS, "--config", file], {});
    expect(serving.tlsMinVersion).toBe("1.3");
    expect(serving.limits.maxConnections).toBe(20);
    expect(serving.clientCn).toEqual(["kube-apiserver"]);
    expect(decision.authorizeReferences).toBe(false);
    expect(decision.secretNamespaces).toEqual(["platform-cas", "shared-cas"]);
    expect(decision.injection.initContainer.runAsUser).toBeNull();
    expect(decision.injection.initContainer.resources).toEqual({
      requests: { cpu: "5m", memory: "8Mi" },
      limits: { memory: "32" },
    });
    expect(decision.injection.env).toEqual([
      { name: "SSL_CERT_FILE", value: "/etc/ssl/certs/ca-certificates.crt" },
    ]);
  });

  it.each([
    ["an unknown flag", ["--nope", "1"], {}, "unknown option '--nope'"],
    ["a positional argument", ["serve.yaml"], {}, "too many arguments"],
    ["a count out of range", ["--max-connections", "0"], {}, "--max-connections: invalid value 0"],
    [
      "an IP address that is not one",
      ["--certificate-ip-addresses", "127.0.0.1,localhost"],
      {},
      '--certificate-ip-addresses: invalid value "localhost": not an IP address',
    ],
    [
      "client CNs without a client CA",
      ["--client-cn", "kube-apiserver"],
      {},
      "--client-cn: needs --client-ca-file",
    ],
    ["a port out of range", ["--listen", "1.2.3.4:70000"], {}, "--listen"],
    [
      "a bad duration in the environment",
      [],
      { CA_TRUST_WEBHOOK_SHUTDOWN_TIMEOUT: "soon" },
      '--shutdown-timeout: invalid value "soon" (from CA_TRUST_WEBHOOK_SHUTDOWN_TIMEOUT): expected a duration',
    ],
    ["an unknown log level", ["--log-level", "loud"], {}, "--log-level"],
    ["a reload interval too short", ["--tls-reload-interval", "1ms"], {}, "--tls-reload-interval"],
    [
      "a Secret namespace that is not a namespace name",
      ["--secret-namespaces", "platform,Team_A"],
      {},
      '--secret-namespaces: invalid value "Team_A"',
    ],
    [
      "a per-user check neither on nor off",
      [],
      { CA_TRUST_WEBHOOK_AUTHORIZE_REFERENCES: "yes" },
      "--authorize-references",
    ],
  ])("rejects %s with a ConfigError naming the option", (_name, args, env, option) => {
    const run = () => loadServeConfig([...TLS, ...args], env as NodeJS.ProcessEnv);
    expect(run).toThrow(ConfigError);
    if (option) expect(run).toThrow(option);
  });

  it.each([
    ["an unknown key", "listne: 1.2.3.4:5\n", 'unknown key "listne"'],
    ["an unknown nested key", "injection:\n  imagee: x\n", 'unknown key "injection.imagee"'],
    [
      "a bad value",
      "keepAliveTimeout: forever\n",
      '--keep-alive-timeout: invalid value "forever" (from --config',
    ],
    [
      "an env entry with an unknown field",
      "injection:\n  env: [{name: A, valueFrom: x}]\n",
      "injection.env",
    ],
    ["a rule that is not one", "rules: {name: x}\n", "rules"],
    ["a mapping for a list", "secretNamespaces: {a: b}\n", "--secret-namespaces: invalid value"],
    [
      "a structured value of the wrong shape",
      "injection:\n  resources: [1]\n",
      "injection.resources: must be object",
    ],
    ["a list at the top", "- a\n- b\n", "mapping"],
    ["invalid YAML", "listen: [\n", "invalid YAML"],
  ])("rejects a config file with %s", (_name, text, message) => {
    expect(() => loadServeConfig([...TLS, "--config", configFile(text)], {})).toThrow(message);
  });

  it("rejects a missing config file", () => {
    expect(() => loadServeConfig([...TLS, "--config", "/nonexistent.yaml"], {})).toThrow("ENOENT");
  });

  it("requires both TLS files", () => {
    expect(() => loadServeConfig(["--tls-cert-file", "/c.pem"], {})).toThrow("--tls-key-file");
  });

  it.each([
    [["--certificate-mode", "self-managed"], "--namespace: required"],
    [[...TLS, "--certificate-mode", "self-managed", "--namespace", "trust"], "not used with"],
    [
      [
        "--certificate-mode",
        "self-managed",
        "--namespace",
        "trust",
        "--certificate-sync-interval",
        "10ms",
      ],
      "--certificate-sync-interval: must be at least 100ms",
    ],
  ])("checks the options of the self-managed mode: %j", (args, message) => {
    expect(() => loadServeConfig(args, {})).toThrow(message);
  });
});

describe("serveHelp", () => {
  const help = serveHelp(1000);

  it("groups the options by section, decisions last", () => {
    const headings = help.split("\n").filter((line) => /^\S.*:$/.test(line));
    expect(headings).toEqual([
      "Options:",
      ...Object.values(SECTIONS),
      "Keys of the --config file only (structured values):",
    ]);
  });

  it.each(OPTIONS.map((o) => [o.key, o] as const))(
    "shows %s with its flag, default, variable and file key",
    (_key, option) => {
      const line = help.split("\n").find((l) => l.includes(`file key ${option.key}]`));
      expect(line).toBeDefined();
      if (option.flag !== undefined) expect(line).toContain(`--${option.flag} <`);
      if (option.env !== undefined) expect(line).toContain(`env ${option.env};`);
      if (option.default) expect(line).toContain(`[default: ${option.default};`);
    },
  );
});

describe("value parsers", () => {
  it.each([
    ["500ms", 500],
    ["10s", 10_000],
    ["1.5m", 90_000],
    ["2h", 7_200_000],
    ["10", undefined],
    ["-1s", undefined],
    ["1d", undefined],
    ["", undefined],
  ])("parses the duration %j as %j ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ["127.0.0.1:9443", { host: "127.0.0.1", port: 9443 }],
    [":8080", { host: "0.0.0.0", port: 8080 }],
    ["[::1]:443", { host: "::1", port: 443 }],
    ["localhost", undefined],
    ["host:99999", undefined],
    ["a:b:1", undefined],
  ])("parses the address %j", (text, expected) => {
    expect(parseHostPort(text)).toEqual(expected);
  });

  it("names environment variables after the option key", () => {
    expect(envName("tlsCertFile")).toBe("CA_TRUST_WEBHOOK_TLS_CERT_FILE");
  });
});

describe("the injection source options", () => {
  it("defaults to the ConfigMap source (no caSource in the settings)", () => {
    expect(loadServeConfig(TLS, {}).decision.injection.caSource).toBeUndefined();
  });

  it.each([
    [
      "a ClusterTrustBundle by name (flag)",
      ["--inject-source", "clustertrustbundle", "--inject-cluster-trust-bundle", "corp-roots"],
      {},
      { kind: "clustertrustbundle", selection: { name: "corp-roots" } },
    ],
    [
      "a signer's bundles with labels (environment)",
      [],
      {
        CA_TRUST_WEBHOOK_INJECTION_SOURCE: "clustertrustbundle",
        CA_TRUST_WEBHOOK_INJECTION_CLUSTER_TRUST_BUNDLE_SIGNER_NAME: "example.com/corp-roots",
        CA_TRUST_WEBHOOK_INJECTION_CLUSTER_TRUST_BUNDLE_LABEL_SELECTOR:
          "audience=internal,!retired",
      },
      {
        kind: "clustertrustbundle",
        selection: {
          signerName: "example.com/corp-roots",
          labelSelector: {
            matchLabels: { audience: "internal" },
            matchExpressions: [{ key: "retired", operator: "DoesNotExist" }],
          },
        },
      },
    ],
    [
      "a signer's bundles, all of them (file)",
      () => [
        "--config",
        configFile(
          "injection:\n  source: clustertrustbundle\n  clusterTrustBundle:\n    signerName: example.com/corp-roots\n",
        ),
      ],
      {},
      {
        kind: "clustertrustbundle",
        selection: { signerName: "example.com/corp-roots", labelSelector: {} },
      },
    ],
  ] as const)("%s", (_name, args, env, expected) => {
    const argv = typeof args === "function" ? args() : args;
    expect(loadServeConfig([...TLS, ...argv], env).decision.injection.caSource).toEqual(expected);
  });

  it.each([
    [
      ["--inject-source", "clustertrustbundle"],
      "--inject-source clustertrustbundle: needs exactly one of --inject-cluster-trust-bundle NAME or --inject-cluster-trust-bundle-signer SIGNER",
    ],
    [
      [
        "--inject-source=clustertrustbundle",
        "--inject-cluster-trust-bundle=a",
        "--inject-cluster-trust-bundle-signer=example.com/a",
      ],
      "needs exactly one of",
    ],
    [
      ["--inject-cluster-trust-bundle", "corp-roots"],
      "--inject-cluster-trust-bundle: only used with --inject-source clustertrustbundle",
    ],
    [
      ["--inject-source=clustertrustbundle", "--inject-cluster-trust-bundle=Corp_Roots"],
      "--inject-cluster-trust-bundle: invalid value",
    ],
    [
      ["--inject-source=clustertrustbundle", "--inject-cluster-trust-bundle-signer=corp-roots"],
      "--inject-cluster-trust-bundle-signer: invalid value",
    ],
    [
      [
        "--inject-source=clustertrustbundle",
        "--inject-cluster-trust-bundle-signer=example.com/a",
        "--inject-cluster-trust-bundle-selector=a in (b",
      ],
      "--inject-cluster-trust-bundle-selector: invalid value",
    ],
    [
      [
        "--inject-source=clustertrustbundle",
        "--inject-cluster-trust-bundle=a",
        "--inject-cluster-trust-bundle-selector=x=y",
      ],
      "--inject-cluster-trust-bundle-selector: only used with --inject-cluster-trust-bundle-signer",
    ],
  ])("rejects %j", (args, message) => {
    expect(() => loadServeConfig([...TLS, ...args], {})).toThrow(ConfigError);
    expect(() => loadServeConfig([...TLS, ...args], {})).toThrow(message);
  });
});
