import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { BODY_LIMIT, decodeEstimate, SMALL_RESERVE_FRACTION } from "./admission/budget.js";
import { parseSelector } from "./core/selector.js";
import {
  type CaSource,
  DEFAULT_INJECTION_SETTINGS,
  type EnvVar,
  type InjectionSettings,
  isClusterTrustBundleName,
  isSignerName,
  type ResourceRequirements,
  validateInjectionSettings,
} from "./inject/settings.js";
import { parseRules, type Rule, RuleError } from "./policy/rules.js";
import { checkRotationTiming } from "./tls/rotation.js";

/**
 * Configuration: flags, then environment (`CA_TRUST_WEBHOOK_<NAME>`), then an optional YAML
 * file (`--config`), then defaults, into one frozen, validated `Config`. This is the only
 * module that reads `process.env` for settings (the Kubernetes client reads `KUBECONFIG`
 * itself, as kubectl does). A bad value throws a `ConfigError` that names the option; `main.ts`
 * prints it on one line and exits 2.
 */

export class ConfigError extends Error {
  readonly code = "CTW_ERR_CONFIG";
}

/** How an option's text becomes a value; each kind validates and explains what is wrong. */
type Kind =
  | { type: "string" }
  | { type: "path" }
  | { type: "hostport" }
  | { type: "duration" }
  | { type: "integer"; min: number; max: number }
  | { type: "boolean" }
  | { type: "enum"; values: readonly string[] }
  | { type: "list" }
  | { type: "dns1123"; subdomain: boolean }
  /** A certificate lifetime: a duration that may be days or years long (never a timer). */
  | { type: "lifetime" }
  /** Structured YAML (file only), validated by `parse`. */
  | { type: "structured"; parse: (value: unknown) => unknown };

interface OptionSpec {
  /** Key in Config and in the YAML file (dots are nesting levels in the file). */
  key: string;
  flag: string;
  kind: Kind;
  default: string | undefined;
  /** One line: what it does and the consequence of the default. */
  help: string;
  /** Only in the YAML file (structured values such as custom rules). */
  fileOnly?: boolean;
}

const DURATION = { type: "duration" } as const;

/** Every option of `serve`, in the order `--help` prints them. */
export const OPTIONS: readonly OptionSpec[] = [
  {
    key: "listen",
    flag: "listen",
    kind: { type: "hostport" },
    default: "0.0.0.0:9443",
    help: "HTTPS address of the webhook (POST /validate, /mutate); the apiserver calls this",
  },
  {
    key: "tlsCertFile",
    flag: "tls-cert-file",
    kind: { type: "path" },
    default: undefined,
    help: "PEM serving certificate (chain); reloaded within 2s when the file changes",
  },
  {
    key: "tlsKeyFile",
    flag: "tls-key-file",
    kind: { type: "path" },
    default: undefined,
    help: "PEM private key of the serving certificate; reloaded with it",
  },
  {
    key: "tlsMinVersion",
    flag: "tls-min-version",
    kind: { type: "enum", values: ["1.2", "1.3"] },
    default: "1.2",
    help: "lowest TLS version accepted; 1.3 refuses clients (and apiservers) that only speak 1.2",
  },
  {
    key: "tlsReloadInterval",
    flag: "tls-reload-interval",
    kind: DURATION,
    default: "500ms",
    help: "how often the certificate files are checked for a change",
  },
  {
    key: "certificateMode",
    flag: "certificate-mode",
    kind: { type: "enum", values: ["files", "self-managed"] },
    default: "files",
    help: "files: serve --tls-cert-file/--tls-key-file (e.g. cert-manager); self-managed: keep a CA and certificate in a Secret and our caBundle",
  },
  {
    key: "namespace",
    flag: "namespace",
    kind: { type: "dns1123", subdomain: false },
    default: undefined,
    help: "our namespace (self-managed: holds the certificate Secret, names the Service); set it from the downward API",
  },
  {
    key: "serviceName",
    flag: "service-name",
    kind: { type: "dns1123", subdomain: false },
    default: "ca-trust-webhook",
    help: "Service in front of the webhook: NAME, NAME.NS, NAME.NS.svc, NAME.NS.svc.cluster.local go into the certificate",
  },
  {
    key: "certificateSecret",
    flag: "certificate-secret",
    kind: { type: "dns1123", subdomain: true },
    default: "ca-trust-webhook-certs",
    help: "self-managed: Secret in --namespace holding the CA and serving certificate, shared by all replicas",
  },
  {
    key: "webhookConfiguration",
    flag: "webhook-configuration",
    kind: { type: "dns1123", subdomain: true },
    default: "ca-trust-webhook",
    help: "self-managed: name of our Validating- and MutatingWebhookConfiguration; their caBundle is kept ours",
  },
  {
    key: "certificateDnsNames",
    flag: "certificate-dns-names",
    kind: { type: "list" },
    default: "",
    help: "self-managed: extra DNS names for the serving certificate",
  },
  {
    key: "certificateIpAddresses",
    flag: "certificate-ip-addresses",
    kind: { type: "list" },
    default: "",
    help: "self-managed: IP addresses for the serving certificate (e.g. 127.0.0.1 for a URL webhook)",
  },
  {
    key: "caLifetime",
    flag: "ca-lifetime",
    kind: { type: "lifetime" },
    default: "365d",
    help: "self-managed: CA validity; a new CA is introduced at 2/3 of it and overlaps the old one",
  },
  {
    key: "servingCertificateLifetime",
    flag: "serving-certificate-lifetime",
    kind: { type: "lifetime" },
    default: "90d",
    help: "self-managed: serving certificate validity; renewed at 2/3 of it, caBundle unchanged",
  },
  {
    key: "caPublishDelay",
    flag: "ca-publish-delay",
    kind: DURATION,
    default: "30s",
    help: "self-managed: after the new CA is in every caBundle, wait this long before serving a certificate it signed",
  },
  {
    key: "caRetireDelay",
    flag: "ca-retire-delay",
    kind: DURATION,
    default: "5m",
    help: "self-managed: after switching to the new CA, keep the old one in the caBundle this long (every replica switches first)",
  },
  {
    key: "certificateSyncInterval",
    flag: "certificate-sync-interval",
    kind: DURATION,
    default: "2s",
    help: "self-managed: how often the Secret and caBundles are read; an overwritten caBundle is fixed within this",
  },
  {
    key: "clientCaFile",
    flag: "client-ca-file",
    kind: { type: "path" },
    default: undefined,
    help: "mutual TLS: only clients (the apiserver) with a certificate from this CA may connect",
  },
  {
    key: "clientCn",
    flag: "client-cn",
    kind: { type: "list" },
    default: "",
    help: "with --client-ca-file: accepted client certificate CNs (empty: any the CA signed)",
  },
  {
    key: "healthListen",
    flag: "health-listen",
    kind: { type: "hostport" },
    default: "0.0.0.0:8080",
    help: "plain HTTP address for GET /healthz, /readyz and /metrics (never the webhook)",
  },
  {
    key: "kubeconfig",
    flag: "kubeconfig",
    kind: { type: "path" },
    default: undefined,
    help: "kubeconfig file; default as kubectl: $KUBECONFIG, in-cluster, then ~/.kube/config",
  },
  {
    key: "logLevel",
    flag: "log-level",
    kind: { type: "enum", values: ["fatal", "error", "warn", "info", "debug", "trace", "silent"] },
    default: "info",
    help: "pino log level; info logs one line per review, never objects or Secret data",
  },
  {
    key: "requestTimeout",
    flag: "request-timeout",
    kind: DURATION,
    default: "10s",
    help: "a request (headers and body) must arrive within this, or the socket is closed",
  },
  {
    key: "keepAliveTimeout",
    flag: "keep-alive-timeout",
    kind: DURATION,
    default: "90s",
    help: "idle keep-alive lifetime; longer than the apiserver's pooled idle connections (90s)",
  },
  {
    key: "tlsHandshakeTimeout",
    flag: "tls-handshake-timeout",
    kind: DURATION,
    default: "5s",
    help: "a connection that has not completed TLS within this is closed (the apiserver needs milliseconds)",
  },
  {
    key: "firstRequestTimeout",
    flag: "first-request-timeout",
    kind: DURATION,
    default: "10s",
    help: "a connection that has not sent its first request within this is closed",
  },
  {
    key: "maxConnections",
    flag: "max-connections",
    kind: { type: "integer", min: 1, max: 100000 },
    default: "500",
    help: "open webhook connections; at the limit the oldest one that has sent no request is closed, else the new one is refused",
  },
  {
    key: "maxJsonValues",
    flag: "max-json-values",
    kind: { type: "integer", min: 1000, max: 10000000 },
    default: "200000",
    help: "JSON values (objects, arrays, strings, numbers...) in one request; more is refused before decoding, naming the limit",
  },
  {
    key: "maxRequestMemoryMib",
    flag: "max-request-memory-mib",
    kind: { type: "integer", min: 16, max: 65536 },
    default: "64",
    help: "estimated memory (MiB) of the requests being read or decided; beyond it 429, with a quarter kept for bodies up to 64 KiB",
  },
  {
    key: "logRateLimit",
    flag: "log-rate-limit",
    kind: { type: "integer", min: 0, max: 1000000 },
    default: "50",
    help: "log lines per second per reason (a review decision, a rejection code); the rest are counted in one line; 0: no limit",
  },
  {
    key: "shutdownDelay",
    flag: "shutdown-delay",
    kind: DURATION,
    default: "0s",
    help: "after SIGTERM, keep serving (not ready) this long so endpoints drop us first",
  },
  {
    key: "shutdownTimeout",
    flag: "shutdown-timeout",
    kind: DURATION,
    default: "25s",
    help: "after SIGTERM, in-flight reviews get this long to finish before the process exits",
  },
  {
    key: "deadlineMargin",
    flag: "deadline-margin",
    kind: DURATION,
    default: "1s",
    help: "answer this long before the apiserver's ?timeout= deadline, even if a lookup is pending",
  },
  {
    key: "testLookupDelay",
    flag: "test-lookup-delay",
    kind: DURATION,
    default: "0s",
    help: "testing only: delay every Kubernetes lookup by this much (fault injection)",
  },
  {
    key: "systemNamespace",
    flag: "system-namespace",
    kind: { type: "dns1123", subdomain: false },
    default: "connectors-system",
    help: "Connectors system namespace: its flag ConfigMap and global CA Secrets are read",
  },
  {
    key: "flagConfigMap",
    flag: "flag-configmap",
    kind: { type: "dns1123", subdomain: true },
    default: "connectors-config",
    help: "ConfigMap in the system namespace whose enable-custom-ca-certs gates the Connector rule",
  },
  {
    key: "missingSecret",
    flag: "missing-secret",
    kind: { type: "enum", values: ["warn", "deny"] },
    default: "warn",
    help: "a referenced Secret that does not exist: allow with a warning, or deny",
  },
  {
    key: "unverifiable",
    flag: "unverifiable",
    kind: { type: "enum", values: ["deny", "warn"] },
    default: "deny",
    help: "a Secret the API cannot return (error, timeout): deny, or allow with a warning",
  },
  {
    key: "allowedSecretNamespaces",
    flag: "allowed-secret-namespaces",
    kind: { type: "list" },
    default: "",
    help: "namespaces cluster-scoped planes may reference CA Secrets in; empty allows any",
  },
  {
    key: "authorizeReferences",
    flag: "authorize-references",
    kind: { type: "boolean" },
    default: "true",
    help: "read a referenced Secret only if the requesting user may get it (SubjectAccessReview); false tells anyone who may create the object what the Secret holds",
  },
  {
    key: "accessReviewTtl",
    flag: "access-review-ttl",
    kind: DURATION,
    default: "10s",
    help: "how long a SubjectAccessReview answer is reused per user and Secret; a revoked grant still counts this long",
  },
  {
    key: "secretNamespaces",
    flag: "secret-namespaces",
    kind: { type: "list" },
    default: "",
    help: "namespaces whose Secrets the webhook may read (install Roles there); a reference elsewhere is denied naming this option; empty: any (cluster-wide get)",
  },
  {
    key: "expiringWithinDays",
    flag: "expiring-within-days",
    kind: { type: "integer", min: 0, max: 3650 },
    default: "30",
    help: "warn about CA certificates that expire within this many days",
  },
  {
    key: "lookupTtl",
    flag: "lookup-ttl",
    kind: DURATION,
    default: "5s",
    help: "how long a fetched Secret is reused; a change shows up after at most this long",
  },
  {
    key: "injection.configMap",
    flag: "inject-configmap",
    kind: { type: "dns1123", subdomain: true },
    default: "ca-trust-bundle",
    help: "CA ConfigMap read in the Pod's namespace (a Pod may name another: ca-trust.dev/configmap)",
  },
  {
    key: "injection.configMapKey",
    flag: "inject-configmap-key",
    kind: { type: "string" },
    default: "ca-bundle.crt",
    help: "key of the CA ConfigMap that holds the PEM bundle",
  },
  {
    key: "injection.source",
    flag: "inject-source",
    kind: { type: "enum", values: ["configmap", "clustertrustbundle"] },
    default: "configmap",
    help: "where the CA comes from: configmap (the CA ConfigMap in the Pod's namespace, e.g. written by trust-manager) or clustertrustbundle (a projected volume of ClusterTrustBundles; no per-namespace copy)",
  },
  {
    key: "injection.clusterTrustBundle.name",
    flag: "inject-cluster-trust-bundle",
    kind: { type: "string" },
    default: undefined,
    help: "with --inject-source clustertrustbundle: the ClusterTrustBundle projected into Pods, by name (Pods stay pending while it is missing, so they are denied)",
  },
  {
    key: "injection.clusterTrustBundle.signerName",
    flag: "inject-cluster-trust-bundle-signer",
    kind: { type: "string" },
    default: undefined,
    help: "with --inject-source clustertrustbundle: project every ClusterTrustBundle of this signer (DOMAIN/PATH) instead of one by name",
  },
  {
    key: "injection.clusterTrustBundle.labelSelector",
    flag: "inject-cluster-trust-bundle-selector",
    kind: { type: "string" },
    default: "",
    help: "with --inject-cluster-trust-bundle-signer: only the signer's bundles with these labels (kubectl -l syntax); empty selects all of them",
  },
  {
    key: "injection.image",
    flag: "inject-image",
    kind: { type: "string" },
    default: DEFAULT_INJECTION_SETTINGS.initContainer.image,
    help: "image of the install-ca-cert init container; its system bundle is the public roots injected Pods trust; needs sh and /etc/ssl/certs/ca-certificates.crt",
  },
  {
    key: "injection.imagePullPolicy",
    flag: "inject-image-pull-policy",
    kind: { type: "enum", values: ["IfNotPresent", "Always", "Never"] },
    default: "IfNotPresent",
    help: "pull policy of the init container",
  },
  {
    key: "injection.runAsUser",
    flag: "inject-run-as-user",
    kind: { type: "integer", min: -1, max: 2147483647 },
    default: "65534",
    help: "UID of the init container (non-root); -1 leaves it to the platform (OpenShift)",
  },
  {
    key: "injection.onFailure",
    flag: "inject-on-failure",
    kind: { type: "enum", values: ["deny", "skip-and-warn"] },
    default: "deny",
    help: "missing/invalid CA ConfigMap or a conflicting Pod: deny it, or admit it uninjected with a warning",
  },
  {
    key: "injection.resources",
    flag: "inject-resources",
    kind: { type: "structured", parse: parseResources },
    default: undefined,
    fileOnly: true,
    help: "init container resources, e.g. {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 64Mi}}",
  },
  {
    key: "injection.env",
    flag: "inject-env",
    kind: { type: "structured", parse: parseEnv },
    default: undefined,
    fileOnly: true,
    help: "env added to every container, default [{name: AWS_CA_BUNDLE, value: /etc/ssl/custom-ca/ca-bundle.crt}]",
  },
  {
    key: "rules",
    flag: "rules",
    kind: { type: "structured", parse: parseRules },
    default: undefined,
    fileOnly: true,
    help: "CA-reference rules for other CRDs, in the built-in rules' format (README)",
  },
];

/** The validated configuration of `serve`; see OPTIONS for what each field means. */
export interface Config {
  readonly listen: HostPort;
  readonly tlsCertFile: string | undefined;
  readonly tlsKeyFile: string | undefined;
  readonly tlsMinVersion: "1.2" | "1.3";
  readonly tlsReloadIntervalMs: number;
  readonly certificateMode: "files" | "self-managed";
  /** Set when certificateMode is self-managed. */
  readonly selfManaged: SelfManagedConfig | undefined;
  readonly clientCaFile: string | undefined;
  readonly clientCn: readonly string[];
  readonly healthListen: HostPort;
  readonly kubeconfig: string | undefined;
  readonly logLevel: string;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly tlsHandshakeTimeoutMs: number;
  readonly firstRequestTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxJsonValues: number;
  readonly maxRequestMemoryMib: number;
  readonly logRateLimit: number;
  readonly shutdownDelayMs: number;
  readonly shutdownTimeoutMs: number;
  readonly deadlineMarginMs: number;
  readonly testLookupDelayMs: number;
  readonly systemNamespace: string;
  readonly flagConfigMap: string;
  readonly missingSecret: "warn" | "deny";
  readonly unverifiable: "deny" | "warn";
  readonly allowedSecretNamespaces: readonly string[];
  readonly authorizeReferences: boolean;
  readonly accessReviewTtlMs: number;
  readonly secretNamespaces: readonly string[];
  readonly expiringWithinDays: number;
  readonly lookupTtlMs: number;
  /** Pod injection: what is added, and what happens when it cannot be done. */
  readonly injection: InjectionSettings;
  readonly injectionOnFailure: "deny" | "skip-and-warn";
  /** User rules from the config file, added to the built-in ones. */
  readonly rules: readonly Rule[];
  /** The `--config` file it came from, if any (for the start-up log line). */
  readonly configFile: string | undefined;
}

/** The self-managed certificate mode's settings (see OPTIONS). */
export interface SelfManagedConfig {
  readonly namespace: string;
  readonly serviceName: string;
  readonly secretName: string;
  readonly webhookConfigurationName: string;
  readonly extraDnsNames: readonly string[];
  readonly extraIpAddresses: readonly string[];
  readonly caLifetimeMs: number;
  readonly servingLifetimeMs: number;
  readonly publishDelayMs: number;
  readonly retireDelayMs: number;
  readonly syncIntervalMs: number;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

type Raw = Record<string, string | undefined>;

/**
 * Builds the Config of `serve` from argv (without the command word) and an environment.
 * Throws ConfigError for an unknown flag, a bad value or an unreadable/invalid file.
 */
export function loadServeConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config {
  const flags = parseFlags(argv);
  const configFile = flags.config ?? env.CA_TRUST_WEBHOOK_CONFIG;
  const file = configFile === undefined ? {} : readConfigFile(configFile);
  const raw: Raw = {};
  for (const option of OPTIONS) {
    raw[option.key] =
      (option.fileOnly ? undefined : flags[option.key]) ??
      (option.fileOnly ? undefined : env[envName(option.key)]) ??
      file[option.key] ??
      option.default;
  }
  const value = <T>(key: string): T => convert(specOf(key), raw[key]) as T;
  const config: Config = {
    listen: value("listen"),
    tlsCertFile: value("tlsCertFile"),
    tlsKeyFile: value("tlsKeyFile"),
    tlsMinVersion: value("tlsMinVersion"),
    tlsReloadIntervalMs: value("tlsReloadInterval"),
    certificateMode: value("certificateMode"),
    selfManaged: undefined,
    clientCaFile: value("clientCaFile"),
    clientCn: value("clientCn"),
    healthListen: value("healthListen"),
    kubeconfig: value("kubeconfig"),
    logLevel: value("logLevel"),
    requestTimeoutMs: value("requestTimeout"),
    keepAliveTimeoutMs: value("keepAliveTimeout"),
    tlsHandshakeTimeoutMs: value("tlsHandshakeTimeout"),
    firstRequestTimeoutMs: value("firstRequestTimeout"),
    maxConnections: value("maxConnections"),
    maxJsonValues: value("maxJsonValues"),
    maxRequestMemoryMib: value("maxRequestMemoryMib"),
    logRateLimit: value("logRateLimit"),
    shutdownDelayMs: value("shutdownDelay"),
    shutdownTimeoutMs: value("shutdownTimeout"),
    deadlineMarginMs: value("deadlineMargin"),
    testLookupDelayMs: value("testLookupDelay"),
    systemNamespace: value("systemNamespace"),
    flagConfigMap: value("flagConfigMap"),
    missingSecret: value("missingSecret"),
    unverifiable: value("unverifiable"),
    allowedSecretNamespaces: value("allowedSecretNamespaces"),
    authorizeReferences: value("authorizeReferences"),
    accessReviewTtlMs: value("accessReviewTtl"),
    secretNamespaces: value("secretNamespaces"),
    expiringWithinDays: value("expiringWithinDays"),
    lookupTtlMs: value("lookupTtl"),
    rules: value<Rule[] | undefined>("rules") ?? [],
    injection: injectionSettings(value),
    injectionOnFailure: value("injection.onFailure"),
    configFile,
  };
  const problems = validateInjectionSettings(config.injection);
  if (problems.length > 0) throw new ConfigError(`injection: ${problems[0]}`);
  const selfManaged = selfManagedConfig(config, value);
  if (config.clientCn.length > 0 && config.clientCaFile === undefined) {
    throw new ConfigError(
      "--client-cn: needs --client-ca-file (client certificates are only asked for then)",
    );
  }
  const badNamespace = config.secretNamespaces.find((n) => !isDns1123(n, false));
  if (badNamespace !== undefined) {
    throw new ConfigError(
      `--secret-namespaces: invalid value ${JSON.stringify(badNamespace)}: not a valid namespace name`,
    );
  }
  if (config.tlsReloadIntervalMs < 50) {
    throw new ConfigError("--tls-reload-interval: must be at least 50ms");
  }
  const fits = requestMemoryFits(config.maxJsonValues, config.maxRequestMemoryMib);
  if (fits !== undefined) throw new ConfigError(fits);
  return Object.freeze({ ...config, selfManaged });
}

/**
 * The largest request the other limits accept (a 4 MiB body with --max-json-values values, as
 * estimated in src/admission/budget.ts) must fit in the part of --max-request-memory-mib that
 * large bodies may use (three quarters), or it could never be decided.
 */
function requestMemoryFits(maxJsonValues: number, maxRequestMemoryMib: number): string | undefined {
  const largest = decodeEstimate(BODY_LIMIT, maxJsonValues);
  const share = 1 - SMALL_RESERVE_FRACTION;
  if (largest <= maxRequestMemoryMib * 1024 * 1024 * share) return undefined;
  const needed = Math.ceil(largest / share / 1024 / 1024);
  return `--max-request-memory-mib: ${maxRequestMemoryMib} is too small for --max-json-values ${maxJsonValues}: the largest accepted request needs ${needed}`;
}

/** Checks the certificate options of either mode; the self-managed settings, if that mode. */
function selfManagedConfig(
  config: Config,
  value: <T>(key: string) => T,
): SelfManagedConfig | undefined {
  if (config.certificateMode === "files") {
    if (config.tlsCertFile === undefined || config.tlsKeyFile === undefined) {
      throw new ConfigError(
        "--tls-cert-file and --tls-key-file: both are required (the webhook serves HTTPS only)",
      );
    }
    return undefined;
  }
  if (config.tlsCertFile !== undefined || config.tlsKeyFile !== undefined) {
    throw new ConfigError(
      "--tls-cert-file/--tls-key-file: not used with --certificate-mode self-managed (the certificate lives in the Secret)",
    );
  }
  const namespace = value<string | undefined>("namespace");
  if (namespace === undefined) {
    throw new ConfigError(
      "--namespace: required with --certificate-mode self-managed (set CA_TRUST_WEBHOOK_NAMESPACE from the downward API)",
    );
  }
  const extraIpAddresses = value<string[]>("certificateIpAddresses");
  const badIp = extraIpAddresses.find((ip) => isIP(ip) === 0);
  if (badIp !== undefined) {
    throw new ConfigError(
      `--certificate-ip-addresses: invalid value ${JSON.stringify(badIp)}: not an IP address`,
    );
  }
  const selfManaged: SelfManagedConfig = {
    namespace,
    serviceName: value("serviceName"),
    secretName: value("certificateSecret"),
    webhookConfigurationName: value("webhookConfiguration"),
    extraDnsNames: value("certificateDnsNames"),
    extraIpAddresses,
    caLifetimeMs: value("caLifetime"),
    servingLifetimeMs: value("servingCertificateLifetime"),
    publishDelayMs: value("caPublishDelay"),
    retireDelayMs: value("caRetireDelay"),
    syncIntervalMs: value("certificateSyncInterval"),
  };
  const problem = checkRotationTiming(selfManaged);
  if (problem !== undefined) {
    throw new ConfigError(`--ca-lifetime/--ca-publish-delay/--ca-retire-delay: ${problem}`);
  }
  if (selfManaged.syncIntervalMs < 100) {
    throw new ConfigError("--certificate-sync-interval: must be at least 100ms");
  }
  return selfManaged;
}

/** The injection settings: DESIGN.md's defaults with the configured values over them. */
function injectionSettings(value: <T>(key: string) => T): InjectionSettings {
  const d = DEFAULT_INJECTION_SETTINGS;
  const runAsUser = value<number>("injection.runAsUser");
  const caSource = caSourceOf(value);
  return {
    ...d,
    ...(caSource.kind === "configmap" ? {} : { caSource }),
    customCa: {
      ...d.customCa,
      configMapName: value("injection.configMap"),
      configMapKey: value("injection.configMapKey"),
    },
    initContainer: {
      ...d.initContainer,
      image: value("injection.image"),
      imagePullPolicy: value("injection.imagePullPolicy"),
      runAsUser: runAsUser === -1 ? null : runAsUser,
      resources:
        value<ResourceRequirements | undefined>("injection.resources") ?? d.initContainer.resources,
    },
    env: value<EnvVar[] | undefined>("injection.env") ?? d.env,
  };
}

/**
 * `--inject-source` and its ClusterTrustBundle selection: by name, or by signer (and labels);
 * exactly one of them with `clustertrustbundle`, neither with `configmap` (a selection that
 * would silently do nothing is a mistake worth stopping for).
 */
function caSourceOf(value: <T>(key: string) => T): CaSource {
  const source = value<"configmap" | "clustertrustbundle">("injection.source");
  const name = value<string | undefined>("injection.clusterTrustBundle.name");
  const signerName = value<string | undefined>("injection.clusterTrustBundle.signerName");
  const selector = value<string>("injection.clusterTrustBundle.labelSelector");
  if (source === "configmap") {
    if (name !== undefined || signerName !== undefined) {
      throw new ConfigError(
        `--${name !== undefined ? "inject-cluster-trust-bundle" : "inject-cluster-trust-bundle-signer"}: only used with --inject-source clustertrustbundle`,
      );
    }
    return { kind: "configmap" };
  }
  if ((name === undefined) === (signerName === undefined)) {
    throw new ConfigError(
      "--inject-source clustertrustbundle: needs exactly one of --inject-cluster-trust-bundle NAME or --inject-cluster-trust-bundle-signer SIGNER",
    );
  }
  if (name !== undefined) {
    if (!isClusterTrustBundleName(name)) {
      throw new ConfigError(
        `--inject-cluster-trust-bundle: invalid value ${JSON.stringify(name)}: not a ClusterTrustBundle name`,
      );
    }
    if (selector.trim() !== "") {
      throw new ConfigError(
        "--inject-cluster-trust-bundle-selector: only used with --inject-cluster-trust-bundle-signer",
      );
    }
    return { kind: "clustertrustbundle", selection: { name } };
  }
  const signer = signerName as string;
  if (!isSignerName(signer)) {
    throw new ConfigError(
      `--inject-cluster-trust-bundle-signer: invalid value ${JSON.stringify(signer)}: expected a signer name such as example.com/corp-roots`,
    );
  }
  let labelSelector: ReturnType<typeof parseSelector>;
  try {
    labelSelector = parseSelector(selector);
  } catch (error) {
    throw new ConfigError(
      `--inject-cluster-trust-bundle-selector: invalid value ${JSON.stringify(selector)}: ${(error as Error).message}`,
    );
  }
  return { kind: "clustertrustbundle", selection: { signerName: signer, labelSelector } };
}

function parseResources(input: unknown): ResourceRequirements {
  const bad = () =>
    new Error("must be {requests: {cpu, memory}, limits: {memory}} with string quantities");
  if (input === null || typeof input !== "object" || Array.isArray(input)) throw bad();
  const out: { requests?: Record<string, string>; limits?: Record<string, string> } = {};
  for (const [k, v] of Object.entries(input)) {
    if ((k !== "requests" && k !== "limits") || v === null || typeof v !== "object") throw bad();
    const entries = Object.entries(v as Record<string, unknown>);
    if (!entries.every(([, q]) => typeof q === "string" || typeof q === "number")) throw bad();
    out[k] = Object.fromEntries(entries.map(([r, q]) => [r, String(q)]));
  }
  return out;
}

function parseEnv(input: unknown): EnvVar[] {
  if (!Array.isArray(input)) throw new Error("must be a list of {name, value}");
  return input.map((e, i) => {
    if (
      e === null ||
      typeof e !== "object" ||
      typeof e.name !== "string" ||
      typeof e.value !== "string"
    ) {
      throw new Error(`[${i}] must be {name: string, value: string}`);
    }
    return { name: e.name, value: e.value };
  });
}

/** `--help` for `serve`: every option with its default and consequence. */
export function serveHelp(): string {
  const lines = [
    "Usage: ca-trust-webhook serve [options]",
    "",
    "Serves the validating (POST /validate) and mutating (POST /mutate) admission webhook over",
    "HTTPS, and /healthz, /readyz, /metrics over plain HTTP on the health address.",
    "Each option can also be set as CA_TRUST_WEBHOOK_<NAME> or as <key> in the --config file;",
    "flags win over the environment, which wins over the file.",
    "",
    "Options:",
    `  --config FILE${" ".repeat(22)}YAML file with any of the keys below (camelCase)`,
  ];
  for (const option of OPTIONS) {
    const name = option.fileOnly
      ? `(file) ${option.key}`
      : `--${option.flag} ${metavar(option.kind)}`;
    const dflt = option.default === undefined ? "" : ` [default: ${option.default}]`;
    lines.push(`  ${name.padEnd(34)} ${option.help}${dflt}`);
    lines.push(
      `  ${"".padEnd(34)} ${option.fileOnly ? "" : `env ${envName(option.key)}, `}file key ${option.key}`,
    );
  }
  lines.push(`  ${"-h, --help".padEnd(34)} this text`);
  return lines.join("\n");
}

function metavar(kind: Kind): string {
  switch (kind.type) {
    case "hostport":
      return "HOST:PORT";
    case "duration":
      return "DURATION";
    case "path":
      return "FILE";
    case "enum":
      return kind.values.join("|");
    case "boolean":
      return "true|false";
    case "integer":
      return "N";
    case "dns1123":
      return "NAME";
    case "lifetime":
      return "DURATION";
    case "list":
      return "A,B,...";
    case "structured":
      return "(YAML)";
    default:
      return "VALUE";
  }
}

/** `tlsCertFile` → `CA_TRUST_WEBHOOK_TLS_CERT_FILE`. */
export function envName(key: string): string {
  return `CA_TRUST_WEBHOOK_${key
    .replace(/\./g, "_")
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toUpperCase()}`;
}

function specOf(key: string): OptionSpec {
  const spec = OPTIONS.find((o) => o.key === key);
  if (spec === undefined) throw new Error(`internal: no option ${key}`);
  return spec;
}

function parseFlags(argv: readonly string[]): Raw & { config?: string } {
  const options: Record<string, { type: "string" | "boolean" }> = { config: { type: "string" } };
  for (const option of OPTIONS) {
    if (!option.fileOnly) options[option.flag] = { type: "string" };
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new ConfigError((error as Error).message.replace(/\. To specify.*$/s, ""));
  }
  const raw: Raw & { config?: string } = {};
  if (typeof values.config === "string") raw.config = values.config;
  for (const option of OPTIONS) {
    const v = values[option.flag];
    if (typeof v === "string") raw[option.key] = v;
  }
  return raw;
}

/** Reads the YAML file into option keys (nested maps become dotted keys). */
function readConfigFile(path: string): Raw {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(
      `--config ${path}: ${(error as NodeJS.ErrnoException).code ?? "unreadable"}`,
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError(
      `--config ${path}: invalid YAML: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError(`--config ${path}: must be a YAML mapping of option keys`);
  }
  const known = new Set(OPTIONS.map((o) => o.key));
  const structured = new Set(OPTIONS.filter((o) => o.kind.type === "structured").map((o) => o.key));
  const raw: Raw = {};
  const walk = (prefix: string, node: Record<string, unknown>): void => {
    for (const [k, v] of Object.entries(node)) {
      const key = prefix === "" ? k : `${prefix}.${k}`;
      if (
        known.has(key) &&
        !(typeof v === "object" && v !== null && !Array.isArray(v) && !structured.has(key))
      ) {
        raw[key] = typeof v === "string" ? v : JSON.stringify(v);
      } else if (v !== null && typeof v === "object" && !Array.isArray(v)) {
        walk(key, v as Record<string, unknown>);
      } else {
        throw new ConfigError(`--config ${path}: unknown key "${key}"`);
      }
    }
  };
  walk("", doc as Record<string, unknown>);
  return raw;
}

function convert(spec: OptionSpec, text: string | undefined): unknown {
  if (text === undefined) return undefined;
  const bad = (why: string): never => {
    throw new ConfigError(`--${spec.flag}: invalid value ${JSON.stringify(text)}: ${why}`);
  };
  const kind = spec.kind;
  switch (kind.type) {
    case "string":
      return text;
    case "path":
      return text === "" ? bad("must not be empty") : text;
    case "hostport":
      return parseHostPort(text) ?? bad("expected HOST:PORT with a port from 0 to 65535");
    case "duration":
      return parseDuration(text) ?? bad('expected a duration such as "500ms", "10s" or "2m"');
    case "integer": {
      const n = /^-?\d+$/.test(text) ? Number(text) : Number.NaN;
      return Number.isSafeInteger(n) && n >= kind.min && n <= kind.max
        ? n
        : bad(`expected an integer from ${kind.min} to ${kind.max}`);
    }
    case "boolean":
      return text === "true" ? true : text === "false" ? false : bad("expected true or false");
    case "enum":
      return kind.values.includes(text) ? text : bad(`expected one of ${kind.values.join(", ")}`);
    case "list":
      return parseList(text);
    case "dns1123":
      return isDns1123(text, kind.subdomain) ? text : bad("not a valid Kubernetes name");
    case "lifetime":
      return parseLifetime(text) ?? bad('expected a duration such as "40s", "2160h" or "365d"');
    case "structured":
      try {
        return kind.parse(JSON.parse(text));
      } catch (error) {
        if (error instanceof RuleError) throw new ConfigError(`--config: ${error.message}`);
        throw new ConfigError(`--config ${spec.key}: ${(error as Error).message.split("\n")[0]}`);
      }
  }
}

/** Parses `HOST:PORT`, `[v6]:PORT` or `:PORT` (all interfaces). */
export function parseHostPort(text: string): HostPort | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  const host = m[1] ?? (m[2] === "" ? "0.0.0.0" : m[2]);
  return host === undefined ? undefined : { host, port };
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go-style duration with one unit ("500ms", "10s", "1.5m", "2h") into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (m === null) return undefined;
  const ms = Number(m[1]) * (UNIT_MS[m[2] as string] ?? 0);
  return Number.isFinite(ms) && ms <= 2_147_483_647 ? Math.round(ms) : undefined;
}

/**
 * A certificate lifetime: like parseDuration, plus days ("365d"), from 1 s up to 100 years
 * (lifetimes are compared with the clock, never passed to setTimeout).
 */
export function parseLifetime(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (m === null) return undefined;
  const unit = m[2] === "d" ? 86_400_000 : (UNIT_MS[m[2] as string] ?? 0);
  const ms = Math.round(Number(m[1]) * unit);
  return Number.isFinite(ms) && ms >= 1000 && ms <= 100 * 365 * 86_400_000 ? ms : undefined;
}

function parseList(text: string): string[] {
  const trimmed = text.trim();
  if (trimmed.startsWith("[")) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (Array.isArray(parsed)) return parsed.map(String);
    } catch {
      // fall through to the comma form
    }
  }
  return trimmed === ""
    ? []
    : trimmed
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
}

/** RFC 1123 label (63) or subdomain (253), as Kubernetes validates names. */
export function isDns1123(text: string, subdomain: boolean): boolean {
  const label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  if (!subdomain) return text.length <= 63 && label.test(text);
  return (
    text.length <= 253 && text.split(".").every((part) => part.length <= 63 && label.test(part))
  );
}
