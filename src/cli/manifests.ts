import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { type Config, ConfigError, isDns1123, loadServeConfig } from "../config.js";
import {
  CERTIFICATE_SECRET,
  DEFAULT_MANIFEST_OPTIONS,
  DEFAULT_NAMESPACE,
  type ManifestOptions,
  renderHelmValues,
  renderManifestsYaml,
  WEBHOOK_NAME,
} from "../manifests.js";
import { analyseBundle } from "../pki/bundle.js";

/**
 * `ca-trust-webhook manifests`: the command line around the registration derived in
 * src/manifests.ts.
 */

/** `ca-trust-webhook manifests --help`. */
export const MANIFESTS_USAGE = `Usage: ca-trust-webhook manifests [options]

Prints the ValidatingWebhookConfiguration, the MutatingWebhookConfiguration and the
ValidatingAdmissionPolicy (+ binding) derived from the rule table (built-in rules and the
rules of --config) as multi-document YAML; with --only self-managed, the policy that lets our
ServiceAccount change only the caBundle of its webhook configurations and create only its
certificate Secret (install it with the self-managed certificate mode).

Options:
  --config FILE            the server's config file (its rules and allowedSecretNamespaces)
  --namespace NS           our namespace (excluded from the webhooks) [default: ${DEFAULT_NAMESPACE}]
  --service NAME           the Service the apiserver calls [default: ${WEBHOOK_NAME}]
  --port N                 its port [default: 443]
  --url URL                call https://host:port[/prefix] instead of a Service
  --ca-bundle-file FILE    PEM CA of the serving certificate (omit for cert-manager's cainjector)
  --failure-policy P       Fail or Ignore [default: Fail]
  --only WHAT              webhooks, vap, all, or self-managed (the policy that limits our
                           ServiceAccount to the caBundle and its one Secret) [default: all]
  --service-account NAME   self-managed: our ServiceAccount, in --namespace [default: ${WEBHOOK_NAME}]
  --certificate-secret NAME  self-managed: the Secret it may create [default: ${CERTIFICATE_SECRET}]
  --webhook-configuration NAME  self-managed: our webhook configurations [default: ${WEBHOOK_NAME}]
  --helm-values            print a values file for the Helm chart instead: the rules of --config
                           and the registration derived from them (helm install -f FILE)
  -h, --help               this text`;

/** What the command prints and its exit code (0 ok, 2 usage or I/O error). */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `ca-trust-webhook manifests`: parses argv (without the command word) and renders. */
export function manifestsCommand(argv: readonly string[], env: NodeJS.ProcessEnv): CommandResult {
  const fail = (message: string): CommandResult => ({
    code: 2,
    stdout: "",
    stderr: `ca-trust-webhook manifests: ${message}\n`,
  });
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        config: { type: "string" },
        namespace: { type: "string" },
        service: { type: "string" },
        port: { type: "string" },
        url: { type: "string" },
        "ca-bundle-file": { type: "string" },
        "failure-policy": { type: "string" },
        only: { type: "string" },
        "service-account": { type: "string" },
        "certificate-secret": { type: "string" },
        "webhook-configuration": { type: "string" },
        "helm-values": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return fail((error as Error).message.replace(/\. To specify.*$/s, ""));
  }
  if (values.help === true) return { code: 0, stdout: `${MANIFESTS_USAGE}\n`, stderr: "" };
  const text = (name: string): string | undefined =>
    typeof values[name] === "string" ? (values[name] as string) : undefined;

  const options: {
    -readonly [K in keyof ManifestOptions]: ManifestOptions[K];
  } = { ...DEFAULT_MANIFEST_OPTIONS };
  const namespace = text("namespace");
  if (namespace !== undefined) {
    if (!isDns1123(namespace, false))
      return fail(`--namespace: "${namespace}" is not a namespace name`);
    options.namespace = namespace;
  }
  const service = text("service");
  if (service !== undefined) {
    if (!isDns1123(service, false)) return fail(`--service: "${service}" is not a Service name`);
    options.service = service;
  }
  const port = text("port");
  if (port !== undefined) {
    const n = /^\d{1,5}$/.test(port) ? Number(port) : 0;
    if (n < 1 || n > 65535) return fail(`--port: "${port}" is not a port from 1 to 65535`);
    options.port = n;
  }
  const url = text("url");
  if (url !== undefined) {
    const problem = urlProblem(url);
    if (problem !== undefined) return fail(`--url: ${problem}`);
    options.url = url;
  }
  const policy = text("failure-policy");
  if (policy !== undefined) {
    if (policy !== "Fail" && policy !== "Ignore")
      return fail("--failure-policy: must be Fail or Ignore");
    options.failurePolicy = policy;
  }
  const only = text("only");
  if (only !== undefined) {
    if (only !== "webhooks" && only !== "vap" && only !== "all" && only !== "self-managed")
      return fail("--only: must be webhooks, vap, all or self-managed");
    options.only = only;
  }
  for (const [flag, key, subdomain] of [
    ["service-account", "serviceAccount", true],
    ["certificate-secret", "certificateSecret", true],
    ["webhook-configuration", "webhookConfiguration", true],
  ] as const) {
    const value = text(flag);
    if (value === undefined) continue;
    if (!isDns1123(value, subdomain)) return fail(`--${flag}: "${value}" is not an object name`);
    options[key] = value;
  }
  const caFile = text("ca-bundle-file");
  if (caFile !== undefined) {
    let pem: string;
    try {
      pem = readFileSync(caFile, "utf8");
    } catch (error) {
      return fail(
        `--ca-bundle-file ${caFile}: ${(error as NodeJS.ErrnoException).code ?? "unreadable"}`,
      );
    }
    const analysis = analyseBundle(pem, { now: new Date(), expiringWithinDays: 0 });
    const errors = analysis.findings.filter((f) => f.severity === "error");
    if (analysis.certificates.length === 0 || errors.length > 0) {
      return fail(
        `--ca-bundle-file ${caFile}: ${errors[0]?.message ?? "holds no PEM certificate"}`,
      );
    }
    options.caBundle = pem;
  }

  let config: Config;
  try {
    // The rules and allowedSecretNamespaces come exactly as `serve` reads them (flags, env,
    // file). The TLS files are required by `serve` but not read here: placeholders satisfy it.
    config = loadServeConfig(
      [
        ...(text("config") === undefined ? [] : ["--config", text("config") as string]),
        "--tls-cert-file",
        "unused",
        "--tls-key-file",
        "unused",
      ],
      env,
    );
  } catch (error) {
    if (error instanceof ConfigError) return fail(error.message);
    throw error;
  }
  if (values["helm-values"] === true) {
    return { code: 0, stdout: renderHelmValues(config), stderr: "" };
  }
  return { code: 0, stdout: renderManifestsYaml(config, options), stderr: "" };
}

/** Why the apiserver would refuse a webhook URL (admissionregistration validation), if it would. */
function urlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `"${text}" is not a URL`;
  }
  if (url.protocol !== "https:") return "the apiserver calls webhooks over https only";
  if (url.username !== "" || url.password !== "") return "must not carry user info";
  if (url.search !== "" || text.includes("?")) return "must not have a query";
  if (url.hash !== "" || text.includes("#")) return "must not have a fragment";
  return undefined;
}
