/**
 * A validated configuration document as the two kinds of settings the code runs with:
 *
 * - **DecisionSettings**: what the pure deciders need (rules, namespaces, what a missing or
 *   unreadable Secret means, injection). `serve` and the offline commands (`check`, `inject`,
 *   `scan`, `manifests`) read the same ones, so they decide alike.
 * - **ServingSettings**: what only `serve` needs (listeners, TLS and the certificate mode,
 *   timeouts, limits, logging, the cluster view's caches).
 *
 * The checks that involve more than one option (a certificate mode and its files, the memory
 * budget against the largest request) are here; each throws a ConfigError naming the options.
 */
import { BODY_LIMIT, decodeEstimate, SMALL_RESERVE_FRACTION } from "../admission/budget.js";
import { parseSelector } from "../core/selector.js";
import {
  type CaSource,
  DEFAULT_INJECTION_SETTINGS,
  type InjectionSettings,
  isClusterTrustBundleName,
  isSignerName,
  validateInjectionSettings,
} from "../inject/settings.js";
import type { TrustedNamespace } from "../policy/engine.js";
import { BUILTIN_RULES, parseRules, type Rule, RuleError } from "../policy/rules.js";
import { closest } from "../policy/schema-errors.js";
import type { SelfManagedSettings as CertificateSourceSettings } from "../tls/bootstrap.js";
import { ConfigError } from "./load.js";
import type { ConfigDocument } from "./schema.js";
import {
  type HostPort,
  parseDuration,
  parseHostPort,
  parseLifetime,
  parseTrustedNamespace,
} from "./values.js";

export interface DecisionSettings {
  /** User rules from the config file, added to the built-in ones. */
  readonly rules: readonly Rule[];
  readonly systemNamespace: string;
  readonly flagConfigMap: string;
  readonly missingSecret: "warn" | "deny";
  readonly unverifiable: "deny" | "warn";
  readonly allowedSecretNamespaces: readonly string[];
  /** `--trusted-secret-namespaces`: namespaces whose Secrets any namespace may reference. */
  readonly trustedSecretNamespaces: readonly TrustedNamespace[];
  readonly authorizeReferences: boolean;
  readonly secretNamespaces: readonly string[];
  readonly expiringWithinDays: number;
  /** Pod injection: what is added, and what happens when it cannot be done. */
  readonly injection: InjectionSettings;
  readonly injectionOnFailure: "deny" | "skip-and-warn";
}

/** The serving certificate: files someone else renews, or our own CA and Secret. */
export type CertificateSettings =
  | {
      readonly mode: "files";
      readonly certFile: string;
      readonly keyFile: string;
      readonly reloadIntervalMs: number;
    }
  | ({ readonly mode: "self-managed" } & SelfManagedSettings);

/**
 * The self-managed certificate's settings: what the certificate source (tls/bootstrap.ts)
 * declares it needs, less what the app adds (TLS version, client CA, logger, metrics).
 */
export type SelfManagedSettings = Omit<
  CertificateSourceSettings,
  "minVersion" | "clientCa" | "logger" | "metrics"
>;

/** What one request and all requests together may cost (docs/reliability.md). */
export interface ServerLimits {
  /** JSON values in one body; more is refused before decoding. */
  readonly maxJsonValues: number;
  /** Estimated bytes of the requests being read or decided (src/admission/budget.ts). */
  readonly maxRequestMemoryBytes: number;
  /** Open webhook connections. */
  readonly maxConnections: number;
  /** A connection must complete TLS within this. */
  readonly tlsHandshakeTimeoutMs: number;
  /** A connection must send its first request within this. */
  readonly firstRequestTimeoutMs: number;
  /** Log lines per second per reason (0: no limit). */
  readonly logRateLimit: number;
}

export interface ServingSettings {
  readonly listen: HostPort;
  readonly healthListen: HostPort;
  readonly tlsMinVersion: "1.2" | "1.3";
  readonly certificate: CertificateSettings;
  /** Mutual TLS: the CA file client certificates must chain to, and the accepted CNs. */
  readonly clientCaFile: string | undefined;
  readonly clientCn: readonly string[];
  readonly kubeconfig: string | undefined;
  readonly logLevel: ConfigDocument["logLevel"];
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly limits: ServerLimits;
  readonly shutdownDelayMs: number;
  readonly shutdownTimeoutMs: number;
  readonly deadlineMarginMs: number;
  readonly testLookupDelayMs: number;
  readonly lookupTtlMs: number;
  readonly accessReviewTtlMs: number;
}

/** Everything `serve` runs with. */
export interface ServeConfig {
  readonly decision: DecisionSettings;
  readonly serving: ServingSettings;
  /** The `--config` file it came from, if any (for the start-up log line). */
  readonly configFile: string | undefined;
}

export function decisionSettings(doc: ConfigDocument, configFile?: string): DecisionSettings {
  let rules: Rule[];
  try {
    rules = parseRules(doc.rules);
  } catch (error) {
    if (error instanceof RuleError)
      throw new ConfigError(`--config ${configFile}: ${error.message}`);
    throw error;
  }
  const injection = injectionSettings(doc.injection);
  const problems = validateInjectionSettings(injection);
  if (problems.length > 0) throw new ConfigError(`injection: ${problems[0]}`);
  const trustedSecretNamespaces = trustedNamespaces(doc, rules);
  return deepFreeze({
    rules,
    systemNamespace: doc.systemNamespace,
    flagConfigMap: doc.flagConfigMap,
    missingSecret: doc.missingSecret,
    unverifiable: doc.unverifiable,
    allowedSecretNamespaces: doc.allowedSecretNamespaces,
    trustedSecretNamespaces,
    authorizeReferences: doc.authorizeReferences,
    secretNamespaces: doc.secretNamespaces,
    expiringWithinDays: doc.expiringWithinDays,
    injection,
    injectionOnFailure: doc.injection.onFailure,
  });
}

export function servingSettings(doc: ConfigDocument): ServingSettings {
  if (doc.clientCn.length > 0 && doc.clientCaFile === undefined) {
    throw new ConfigError(
      "--client-cn: needs --client-ca-file (client certificates are only asked for then)",
    );
  }
  const limits: ServerLimits = {
    maxJsonValues: doc.maxJsonValues,
    maxRequestMemoryBytes: doc.maxRequestMemoryMib * 1024 * 1024,
    maxConnections: doc.maxConnections,
    tlsHandshakeTimeoutMs: ms(doc.tlsHandshakeTimeout),
    firstRequestTimeoutMs: ms(doc.firstRequestTimeout),
    logRateLimit: doc.logRateLimit,
  };
  const fits = requestMemoryFits(doc.maxJsonValues, doc.maxRequestMemoryMib);
  if (fits !== undefined) throw new ConfigError(fits);
  return deepFreeze({
    listen: address(doc.listen),
    healthListen: address(doc.healthListen),
    tlsMinVersion: doc.tlsMinVersion,
    certificate: certificateSettings(doc),
    clientCaFile: doc.clientCaFile,
    clientCn: doc.clientCn,
    kubeconfig: doc.kubeconfig,
    logLevel: doc.logLevel,
    requestTimeoutMs: ms(doc.requestTimeout),
    keepAliveTimeoutMs: ms(doc.keepAliveTimeout),
    limits,
    shutdownDelayMs: ms(doc.shutdownDelay),
    shutdownTimeoutMs: ms(doc.shutdownTimeout),
    deadlineMarginMs: ms(doc.deadlineMargin),
    testLookupDelayMs: ms(doc.testLookupDelay),
    lookupTtlMs: ms(doc.lookupTtl),
    accessReviewTtlMs: ms(doc.accessReviewTtl),
  });
}

/**
 * `--trusted-secret-namespaces`, parsed: each `RULE=` must name a reference rule (built-in or
 * the config file's), and each namespace must be one the webhook may read Secrets in
 * (`--secret-namespaces`, when set), or trusting it would change nothing but the message.
 */
function trustedNamespaces(doc: ConfigDocument, rules: readonly Rule[]): TrustedNamespace[] {
  const names = [...BUILTIN_RULES, ...rules]
    .filter((r) => r.type === "reference")
    .map((r) => r.name);
  const out: TrustedNamespace[] = [];
  for (const entry of doc.trustedSecretNamespaces) {
    const parsed = parseTrustedNamespace(entry);
    if (parsed === undefined)
      throw new Error(`internal: ${JSON.stringify(entry)} passed the schema`);
    if (parsed.rule !== undefined && !names.includes(parsed.rule)) {
      const near = closest(parsed.rule, names);
      throw new ConfigError(
        `--trusted-secret-namespaces: ${JSON.stringify(entry)}: no rule named ${JSON.stringify(parsed.rule)}${near === undefined ? "" : ` (did you mean ${near}?)`}; the rules are ${names.join(", ")}`,
      );
    }
    if (doc.secretNamespaces.length > 0 && !doc.secretNamespaces.includes(parsed.namespace)) {
      throw new ConfigError(
        `--trusted-secret-namespaces: ${JSON.stringify(parsed.namespace)} is not in --secret-namespaces, so the webhook could not read CA Secrets there; add it to both`,
      );
    }
    out.push({ rule: parsed.rule, namespace: parsed.namespace });
  }
  return out;
}

/** Checks the certificate options of either mode (their rotation timing: src/app.ts). */
function certificateSettings(doc: ConfigDocument): CertificateSettings {
  if (doc.certificateMode === "files") {
    if (doc.tlsCertFile === undefined || doc.tlsKeyFile === undefined) {
      throw new ConfigError(
        "--tls-cert-file and --tls-key-file: both are required (the webhook serves HTTPS only)",
      );
    }
    const reloadIntervalMs = ms(doc.tlsReloadInterval);
    if (reloadIntervalMs < 50) {
      throw new ConfigError("--tls-reload-interval: must be at least 50ms");
    }
    return { mode: "files", certFile: doc.tlsCertFile, keyFile: doc.tlsKeyFile, reloadIntervalMs };
  }
  if (doc.tlsCertFile !== undefined || doc.tlsKeyFile !== undefined) {
    throw new ConfigError(
      "--tls-cert-file/--tls-key-file: not used with --certificate-mode self-managed (the certificate lives in the Secret)",
    );
  }
  if (doc.namespace === undefined) {
    throw new ConfigError(
      "--namespace: required with --certificate-mode self-managed (set CA_TRUST_WEBHOOK_NAMESPACE from the downward API)",
    );
  }
  const syncIntervalMs = ms(doc.certificateSyncInterval);
  if (syncIntervalMs < 100) {
    throw new ConfigError("--certificate-sync-interval: must be at least 100ms");
  }
  return {
    mode: "self-managed",
    namespace: doc.namespace,
    serviceName: doc.serviceName,
    secretName: doc.certificateSecret,
    webhookConfigurationName: doc.webhookConfiguration,
    extraDnsNames: doc.certificateDnsNames,
    extraIpAddresses: doc.certificateIpAddresses,
    caLifetimeMs: lifetimeMs(doc.caLifetime),
    servingLifetimeMs: lifetimeMs(doc.servingCertificateLifetime),
    publishDelayMs: ms(doc.caPublishDelay),
    retireDelayMs: ms(doc.caRetireDelay),
    syncIntervalMs,
  };
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

/** The injection settings: the defaults of src/inject/settings.ts with the configured values. */
function injectionSettings(doc: ConfigDocument["injection"]): InjectionSettings {
  const d = DEFAULT_INJECTION_SETTINGS;
  const caSource = caSourceOf(doc);
  return {
    ...d,
    ...(caSource.kind === "configmap" ? {} : { caSource }),
    customCa: { ...d.customCa, configMapName: doc.configMap, configMapKey: doc.configMapKey },
    initContainer: {
      ...d.initContainer,
      image: doc.image,
      imagePullPolicy: doc.imagePullPolicy,
      runAsUser: doc.runAsUser === -1 ? null : doc.runAsUser,
      resources: doc.resources ?? d.initContainer.resources,
    },
    env: doc.env ?? d.env,
  };
}

/**
 * `--inject-source` and its ClusterTrustBundle selection: by name, or by signer (and labels);
 * exactly one of them with `clustertrustbundle`, neither with `configmap` (a selection that
 * would silently do nothing is a mistake worth stopping for).
 */
function caSourceOf(doc: ConfigDocument["injection"]): CaSource {
  const { name, signerName, labelSelector: selector } = doc.clusterTrustBundle;
  if (doc.source === "configmap") {
    if (name !== undefined || signerName !== undefined) {
      throw new ConfigError(
        `--${name !== undefined ? "inject-cluster-trust-bundle" : "inject-cluster-trust-bundle-signer"}: only used with --inject-source clustertrustbundle`,
      );
    }
    return { kind: "configmap" };
  }
  if (name !== undefined && signerName === undefined) {
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
  if (signerName === undefined || name !== undefined) {
    throw new ConfigError(
      "--inject-source clustertrustbundle: needs exactly one of --inject-cluster-trust-bundle NAME or --inject-cluster-trust-bundle-signer SIGNER",
    );
  }
  if (!isSignerName(signerName)) {
    throw new ConfigError(
      `--inject-cluster-trust-bundle-signer: invalid value ${JSON.stringify(signerName)}: expected a signer name such as example.com/corp-roots`,
    );
  }
  try {
    return {
      kind: "clustertrustbundle",
      selection: { signerName, labelSelector: parseSelector(selector) },
    };
  } catch (error) {
    throw new ConfigError(
      `--inject-cluster-trust-bundle-selector: invalid value ${JSON.stringify(selector)}: ${(error as Error).message}`,
    );
  }
}

/** A duration the schema has validated. */
function ms(text: string): number {
  return validated(parseDuration(text), text);
}

function lifetimeMs(text: string): number {
  return validated(parseLifetime(text), text);
}

function address(text: string): HostPort {
  return validated(parseHostPort(text), text);
}

function validated<T>(value: T | undefined, text: string): T {
  if (value === undefined) throw new Error(`internal: ${JSON.stringify(text)} passed the schema`);
  return value;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
