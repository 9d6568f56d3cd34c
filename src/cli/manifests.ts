import { readFileSync } from "node:fs";
import { type Command, InvalidArgumentError, Option } from "commander";
import {
  ConfigError,
  type DecisionSettings,
  decisionSettingsOf,
  isDns1123,
  parseArgv,
  quietCommand,
} from "../config.js";
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
 * `ca-trust-webhook manifests`: the command line (commander) around the registration derived
 * in src/manifests.ts. The rules and allowedSecretNamespaces come from the same `--config`
 * file and variables as `serve` reads them.
 */

const DESCRIPTION = [
  "Prints the ValidatingWebhookConfiguration, the MutatingWebhookConfiguration, the",
  "ValidatingAdmissionPolicy (+ binding) and the ClusterRole (+ binding) that lets the server",
  "list and watch the rule table's kinds, derived from the rule table (built-in rules and the",
  "rules of --config) as multi-document YAML; with --only self-managed, the policy that lets our",
  "ServiceAccount change only the caBundle of its webhook configurations and create only its",
  "certificate Secret (install it with the self-managed certificate mode).",
].join(" ");

/** A Kubernetes name option (label: namespaces, Services; subdomain: other objects). */
function name(what: string, subdomain: boolean) {
  return (value: string): string => {
    if (!isDns1123(value, subdomain)) {
      throw new InvalidArgumentError(`"${value}" is not ${what}`);
    }
    return value;
  };
}

function port(value: string): number {
  const n = /^\d{1,5}$/.test(value) ? Number(value) : 0;
  if (n < 1 || n > 65535)
    throw new InvalidArgumentError(`"${value}" is not a port from 1 to 65535`);
  return n;
}

function url(value: string): string {
  const problem = urlProblem(value);
  if (problem !== undefined) throw new InvalidArgumentError(problem);
  return value;
}

function manifestsCommandLine(): Command {
  const option = (flags: string, help: string) => new Option(flags, help).helpGroup("Options:");
  return quietCommand("manifests")
    .description(DESCRIPTION)
    .addOption(
      option("--config <FILE>", "the server's config file (its rules and allowedSecretNamespaces)"),
    )
    .addOption(
      option("--namespace <NS>", "our namespace (excluded from the webhooks)")
        .default(DEFAULT_NAMESPACE)
        .argParser(name("a namespace name", false)),
    )
    .addOption(
      option("--service <NAME>", "the Service the apiserver calls")
        .default(WEBHOOK_NAME)
        .argParser(name("a Service name", false)),
    )
    .addOption(option("--port <N>", "its port").default(443).argParser(port))
    .addOption(
      option("--url <URL>", "call https://host:port[/prefix] instead of a Service").argParser(url),
    )
    .addOption(
      option(
        "--ca-bundle-file <FILE>",
        "PEM CA of the serving certificate (omit for cert-manager's cainjector)",
      ),
    )
    .addOption(
      option("--failure-policy <P>", "Fail or Ignore").default("Fail").choices(["Fail", "Ignore"]),
    )
    .addOption(
      option(
        "--only <WHAT>",
        "webhooks, vap, rbac (list/watch of the rule table's kinds), all, or self-managed (the policy that limits our ServiceAccount to the caBundle and its one Secret)",
      )
        .default("all")
        .choices(["webhooks", "vap", "rbac", "all", "self-managed"]),
    )
    .addOption(
      option("--service-account <NAME>", "self-managed: our ServiceAccount, in --namespace")
        .default(WEBHOOK_NAME)
        .argParser(name("an object name", true)),
    )
    .addOption(
      option("--certificate-secret <NAME>", "self-managed: the Secret it may create")
        .default(CERTIFICATE_SECRET)
        .argParser(name("an object name", true)),
    )
    .addOption(
      option("--webhook-configuration <NAME>", "self-managed: our webhook configurations")
        .default(WEBHOOK_NAME)
        .argParser(name("an object name", true)),
    )
    .addOption(
      option(
        "--helm-values",
        "print a values file for the Helm chart instead: the rules of --config and the registration derived from them (helm install -f FILE)",
      ),
    )
    .addOption(option("-h, --help", "this text"));
}

/** `ca-trust-webhook manifests --help`. */
export const MANIFESTS_USAGE = manifestsCommandLine()
  .helpInformation()
  .replace(/^Usage: manifests/, "Usage: ca-trust-webhook manifests")
  .trimEnd();

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
  if (argv.includes("--help") || argv.includes("-h")) {
    return { code: 0, stdout: `${MANIFESTS_USAGE}\n`, stderr: "" };
  }
  let settings: DecisionSettings;
  let options: ManifestOptions;
  let helmValues = false;
  try {
    const command = parseArgv(manifestsCommandLine(), argv);
    const v = command.opts<{
      namespace: string;
      service: string;
      port: number;
      url?: string;
      caBundleFile?: string;
      failurePolicy: ManifestOptions["failurePolicy"];
      only: ManifestOptions["only"];
      serviceAccount: string;
      certificateSecret: string;
      webhookConfiguration: string;
      helmValues?: boolean;
    }>();
    helmValues = v.helmValues === true;
    options = {
      ...DEFAULT_MANIFEST_OPTIONS,
      namespace: v.namespace,
      service: v.service,
      port: v.port,
      ...(v.url === undefined ? {} : { url: v.url }),
      ...(v.caBundleFile === undefined ? {} : { caBundle: readCaBundle(v.caBundleFile) }),
      failurePolicy: v.failurePolicy,
      only: v.only,
      serviceAccount: v.serviceAccount,
      certificateSecret: v.certificateSecret,
      webhookConfiguration: v.webhookConfiguration,
    };
    // The rules and allowedSecretNamespaces exactly as `serve` reads them (file, environment).
    settings = decisionSettingsOf(command, env);
  } catch (error) {
    if (error instanceof ConfigError) return fail(error.message);
    throw error;
  }
  if (helmValues) return { code: 0, stdout: renderHelmValues(settings), stderr: "" };
  return { code: 0, stdout: renderManifestsYaml(settings, options), stderr: "" };
}

/** The PEM of `--ca-bundle-file`, which must hold a certificate and nothing wrong. */
function readCaBundle(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(
      `--ca-bundle-file ${file}: ${(error as NodeJS.ErrnoException).code ?? "unreadable"}`,
    );
  }
  const analysis = analyseBundle(pem, { now: new Date(), expiringWithinDays: 0 });
  const errors = analysis.findings.filter((f) => f.severity === "error");
  if (analysis.certificates.length === 0 || errors.length > 0) {
    throw new ConfigError(
      `--ca-bundle-file ${file}: ${errors[0]?.message ?? "holds no PEM certificate"}`,
    );
  }
  return pem;
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
