/**
 * The configuration, defined once: a JSON Schema (TypeBox) of the `--config` file, whose leaves
 * also carry what the command line needs (flag, help section, metavar). Everything else is
 * derived from it: the flags and their help (src/config/command.ts), the environment names
 * (`CA_TRUST_WEBHOOK_<KEY>`), the defaults (ajv fills them), the validation (ajv, once), and
 * the TypeScript type of a validated document (`Static<typeof CONFIG_SCHEMA>`).
 *
 * Values are what a user writes: durations as text ("10s"), addresses as "HOST:PORT", lists
 * as lists (a flag or variable gives "a,b"). src/config/settings.ts turns a validated document
 * into the settings the server and the offline commands run with.
 */
import { type Static, type TSchema, Type } from "typebox";
import { DEFAULT_INJECTION_SETTINGS } from "../inject/settings.js";

/** The help sections of `serve --help`, in order; the last two are the decision settings. */
export const SECTIONS = {
  listener: "Webhook listener and TLS:",
  certificate: "Serving certificate:",
  limits: "Timeouts and limits:",
  runtime: "Health, logging and the Kubernetes API:",
  decisions: "Decisions (also check, inject, scan):",
  injection: "Pod injection (also check, inject, scan):",
} as const;

export type Section = (typeof SECTIONS)[keyof typeof SECTIONS];

/** Keywords of ours in the schema; ajv is told they annotate and validate nothing. */
export const META_KEYWORDS = ["flag", "section", "metavar"] as const;

const L = SECTIONS.listener;
const C = SECTIONS.certificate;
const T = SECTIONS.limits;
const R = SECTIONS.runtime;
const D = SECTIONS.decisions;
const I = SECTIONS.injection;

/**
 * What a leaf carries beside JSON Schema: its flag (without `--`; none for file-only keys), its
 * help section, and its one-line help (what it does and the consequence of the default).
 */
const meta = (flag: string | undefined, section: Section, description: string) => ({
  ...(flag === undefined ? {} : { flag }),
  section,
  description,
});

const text = (flag: string, s: Section, dflt: string | undefined, metavar: string, help: string) =>
  Type.String({
    ...meta(flag, s, help),
    metavar,
    ...(dflt === undefined ? {} : { default: dflt }),
  });

const path = (flag: string, s: Section, help: string) =>
  Type.Optional(Type.String({ ...meta(flag, s, help), minLength: 1, metavar: "FILE" }));

const formatted =
  (format: string, metavar: string) => (flag: string, s: Section, dflt: string, help: string) =>
    Type.String({ ...meta(flag, s, help), format, default: dflt, metavar });

/** Milliseconds to hours ("500ms", "10s", "2m"); a timer, so at most 2^31-1 ms. */
const duration = formatted("duration", "DURATION");
/** A certificate lifetime: may be days ("365d"), compared with the clock only. */
const lifetime = formatted("lifetime", "DURATION");
const hostPort = formatted("hostport", "HOST:PORT");

const integer = (
  flag: string,
  s: Section,
  [minimum, maximum]: [number, number],
  dflt: number,
  help: string,
) => Type.Integer({ ...meta(flag, s, help), minimum, maximum, default: dflt, metavar: "N" });

/** A Kubernetes name: a DNS-1123 label (namespaces, Services) or subdomain (other objects). */
const name = (
  flag: string,
  s: Section,
  kind: "label" | "subdomain",
  dflt: string | undefined,
  help: string,
) =>
  Type.String({
    ...meta(flag, s, help),
    format: `dns1123-${kind}`,
    metavar: "NAME",
    ...(dflt === undefined ? {} : { default: dflt }),
  });

/** Enums are typed `string` too, so that `tlsMinVersion: 1.3` in YAML (a number) is "1.3". */
const oneOf = <const V extends string[]>(
  flag: string,
  s: Section,
  values: readonly [...V],
  dflt: V[number],
  help: string,
) =>
  Type.Enum(values, {
    ...meta(flag, s, help),
    type: "string",
    default: dflt,
    metavar: values.join("|"),
  });

/** A list: "a,b" from a flag, a variable or the file, or a YAML list in the file. */
const list = (flag: string, s: Section, help: string, itemFormat?: string) =>
  Type.Array(Type.String(itemFormat === undefined ? {} : { format: itemFormat }), {
    ...meta(flag, s, help),
    default: [],
    metavar: "A,B,...",
  });

const object = <P extends Record<string, TSchema>>(properties: P, options: object = {}) =>
  Type.Object(properties, { additionalProperties: false, ...options });

/** The serving settings: listeners, TLS, certificate mode, timeouts, limits, logging. */
// biome-ignore format: one option per line, read as a table
export const SERVING_PROPERTIES = {
  listen: hostPort("listen", L, "0.0.0.0:9443", "HTTPS address of the webhook (POST /validate, /mutate); the apiserver calls this"),
  tlsCertFile: path("tls-cert-file", L, "PEM serving certificate (chain); reloaded within 2s when the file changes"),
  tlsKeyFile: path("tls-key-file", L, "PEM private key of the serving certificate; reloaded with it"),
  tlsMinVersion: oneOf("tls-min-version", L, ["1.2", "1.3"], "1.2", "lowest TLS version accepted; 1.3 refuses clients (and apiservers) that only speak 1.2"),
  tlsReloadInterval: duration("tls-reload-interval", L, "500ms", "how often the certificate files are checked for a change"),
  clientCaFile: path("client-ca-file", L, "mutual TLS: only clients (the apiserver) with a certificate from this CA may connect"),
  clientCn: list("client-cn", L, "with --client-ca-file: accepted client certificate CNs (empty: any the CA signed)"),
  certificateMode: oneOf("certificate-mode", C, ["files", "self-managed"], "files", "files: serve --tls-cert-file/--tls-key-file (e.g. cert-manager); self-managed: keep a CA and certificate in a Secret and our caBundle"),
  namespace: Type.Optional(name("namespace", C, "label", undefined, "our namespace (self-managed: holds the certificate Secret, names the Service); set it from the downward API")),
  serviceName: name("service-name", C, "label", "ca-trust-webhook", "Service in front of the webhook: NAME, NAME.NS, NAME.NS.svc, NAME.NS.svc.cluster.local go into the certificate"),
  certificateSecret: name("certificate-secret", C, "subdomain", "ca-trust-webhook-certs", "self-managed: Secret in --namespace holding the CA and serving certificate, shared by all replicas"),
  webhookConfiguration: name("webhook-configuration", C, "subdomain", "ca-trust-webhook", "self-managed: name of our Validating- and MutatingWebhookConfiguration; their caBundle is kept ours"),
  certificateDnsNames: list("certificate-dns-names", C, "self-managed: extra DNS names for the serving certificate"),
  certificateIpAddresses: list("certificate-ip-addresses", C, "self-managed: IP addresses for the serving certificate (e.g. 127.0.0.1 for a URL webhook)", "ip"),
  caLifetime: lifetime("ca-lifetime", C, "365d", "self-managed: CA validity; a new CA is introduced at 2/3 of it and overlaps the old one"),
  servingCertificateLifetime: lifetime("serving-certificate-lifetime", C, "90d", "self-managed: serving certificate validity; renewed at 2/3 of it, caBundle unchanged"),
  caPublishDelay: duration("ca-publish-delay", C, "30s", "self-managed: after the new CA is in every caBundle, wait this long before serving a certificate it signed"),
  caRetireDelay: duration("ca-retire-delay", C, "5m", "self-managed: after switching to the new CA, keep the old one in the caBundle this long (every replica switches first)"),
  certificateSyncInterval: duration("certificate-sync-interval", C, "2s", "self-managed: how often the Secret and caBundles are read; an overwritten caBundle is fixed within this"),
  requestTimeout: duration("request-timeout", T, "10s", "a request (headers and body) must arrive within this, or the socket is closed"),
  keepAliveTimeout: duration("keep-alive-timeout", T, "90s", "idle keep-alive lifetime; longer than the apiserver's pooled idle connections (90s)"),
  tlsHandshakeTimeout: duration("tls-handshake-timeout", T, "5s", "a connection that has not completed TLS within this is closed (the apiserver needs milliseconds)"),
  firstRequestTimeout: duration("first-request-timeout", T, "10s", "a connection that has not sent its first request within this is closed"),
  maxConnections: integer("max-connections", T, [1, 100000], 500, "open webhook connections; at the limit the oldest one that has sent no request (one still without TLS first) is closed, else the new one is refused"),
  maxJsonValues: integer("max-json-values", T, [1000, 10000000], 200000, "JSON values (objects, arrays, strings, numbers...) in one request; more is refused before decoding, naming the limit"),
  maxRequestMemoryMib: integer("max-request-memory-mib", T, [16, 65536], 64, "estimated memory (MiB) of the requests being read or decided; beyond it 429, with a quarter kept for bodies up to 64 KiB"),
  shutdownDelay: duration("shutdown-delay", T, "0s", "after SIGTERM, keep serving (not ready) this long so endpoints drop us first"),
  shutdownTimeout: duration("shutdown-timeout", T, "25s", "after SIGTERM, in-flight reviews get this long to finish before the process exits"),
  deadlineMargin: duration("deadline-margin", T, "1s", "answer this long before the apiserver's ?timeout= deadline, even if a lookup is pending"),
  healthListen: hostPort("health-listen", R, "0.0.0.0:8080", "plain HTTP address for GET /healthz, /readyz and /metrics (never the webhook)"),
  kubeconfig: path("kubeconfig", R, "kubeconfig file; default as kubectl: $KUBECONFIG, in-cluster, then ~/.kube/config"),
  logLevel: oneOf("log-level", R, ["fatal", "error", "warn", "info", "debug", "trace", "silent"], "info", "pino log level; info logs one line per review, never objects or Secret data"),
  logRateLimit: integer("log-rate-limit", R, [0, 1000000], 50, "log lines per second per reason (a review decision, a rejection code); the rest are counted in one line; 0: no limit"),
  lookupTtl: duration("lookup-ttl", R, "5s", "how long an unwatched ConfigMap (a Pod's ca-trust.dev/configmap) or trust-manager answer is reused; Secrets are read afresh for every review"),
  accessReviewTtl: duration("access-review-ttl", R, "10s", "how long a SubjectAccessReview answer is reused per user and Secret; a revoked grant still counts this long"),
  testLookupDelay: duration("test-lookup-delay", R, "0s", "testing only: delay every Kubernetes lookup by this much (fault injection)"),
};

// biome-ignore format: one option per line, read as a table
const INJECTION_PROPERTIES = {
  configMap: name("inject-configmap", I, "subdomain", "ca-trust-bundle", "CA ConfigMap read in the Pod's namespace (a Pod may name another: ca-trust.dev/configmap)"),
  configMapKey: text("inject-configmap-key", I, "ca-bundle.crt", "KEY", "key of the CA ConfigMap that holds the PEM bundle"),
  source: oneOf("inject-source", I, ["configmap", "clustertrustbundle"], "configmap", "where the CA comes from: configmap (the CA ConfigMap in the Pod's namespace, e.g. written by trust-manager) or clustertrustbundle (a projected volume of ClusterTrustBundles; no per-namespace copy)"),
  clusterTrustBundle: object(
    {
      name: Type.Optional(text("inject-cluster-trust-bundle", I, undefined, "NAME", "with --inject-source clustertrustbundle: the ClusterTrustBundle projected into Pods, by name (Pods stay pending while it is missing, so they are denied)")),
      signerName: Type.Optional(text("inject-cluster-trust-bundle-signer", I, undefined, "SIGNER", "with --inject-source clustertrustbundle: project every ClusterTrustBundle of this signer (DOMAIN/PATH) instead of one by name")),
      labelSelector: text("inject-cluster-trust-bundle-selector", I, "", "SELECTOR", "with --inject-cluster-trust-bundle-signer: only the signer's bundles with these labels (kubectl -l syntax); empty selects all of them"),
    },
    { default: {} },
  ),
  image: text("inject-image", I, DEFAULT_INJECTION_SETTINGS.initContainer.image, "IMAGE", "image of the install-ca-cert init container; its system bundle is the public roots injected Pods trust; needs sh and /etc/ssl/certs/ca-certificates.crt"),
  imagePullPolicy: oneOf("inject-image-pull-policy", I, ["IfNotPresent", "Always", "Never"], "IfNotPresent", "pull policy of the init container"),
  runAsUser: integer("inject-run-as-user", I, [-1, 2147483647], 65534, "UID of the init container (non-root); -1 leaves it to the platform (OpenShift)"),
  onFailure: oneOf("inject-on-failure", I, ["deny", "skip-and-warn"], "deny", "missing/invalid CA ConfigMap or a conflicting Pod: deny it, or admit it uninjected with a warning"),
  resources: Type.Optional(
    object(
      {
        requests: Type.Optional(Type.Record(Type.String(), Type.String())),
        limits: Type.Optional(Type.Record(Type.String(), Type.String())),
      },
      meta(undefined, I, "init container resources, e.g. {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 64Mi}}"),
    ),
  ),
  env: Type.Optional(
    Type.Array(
      object({ name: Type.String(), value: Type.String() }),
      meta(undefined, I, "env added to every container, default [{name: AWS_CA_BUNDLE, value: /etc/ssl/custom-ca/ca-bundle.crt}]"),
    ),
  ),
};

/** The decision settings: what `serve` and the offline commands decide with. */
// biome-ignore format: one option per line, read as a table
export const DECISION_PROPERTIES = {
  systemNamespace: name("system-namespace", D, "label", "connectors-system", "Connectors system namespace: its flag ConfigMap and global CA Secrets are read"),
  flagConfigMap: name("flag-configmap", D, "subdomain", "connectors-config", "ConfigMap in the system namespace whose enable-custom-ca-certs gates the Connector rule"),
  missingSecret: oneOf("missing-secret", D, ["warn", "deny"], "warn", "a referenced Secret that does not exist: allow with a warning, or deny"),
  unverifiable: oneOf("unverifiable", D, ["deny", "warn"], "deny", "a Secret the API cannot return (error, timeout): deny, or allow with a warning"),
  allowedSecretNamespaces: list("allowed-secret-namespaces", D, "namespaces cluster-scoped planes may reference CA Secrets in (and the trusted ones); empty allows any"),
  trustedSecretNamespaces: list("trusted-secret-namespaces", D, "namespaces whose CA Secrets objects of any namespace (and cluster-scoped ones) may reference: NAMESPACE for every rule, RULE=NAMESPACE for one; empty: a cross-namespace reference is denied", "trusted-namespace"),
  authorizeReferences: Type.Boolean({
    ...meta(
      "authorize-references",
      D,
      "read a referenced Secret only if the requesting user may get it (SubjectAccessReview); false tells anyone who may create the object what the Secret holds",
    ),
    default: true,
    metavar: "true|false",
  }),
  secretNamespaces: list("secret-namespaces", D, "namespaces whose Secrets the webhook may read (install Roles there); a reference elsewhere is denied naming this option; empty: any (cluster-wide get)", "dns1123-label"),
  expiringWithinDays: integer("expiring-within-days", D, [0, 3650], 30, "warn about CA certificates that expire within this many days"),
  /** Validated by src/policy/rules.ts (`parseRules`), which names the path of a mistake. */
  rules: Type.Optional(
    Type.Unknown(
      meta(
        undefined,
        D,
        "CA-reference rules for other CRDs, in the built-in rules' format (README)",
      ),
    ),
  ),
  injection: object(INJECTION_PROPERTIES, { default: {} }),
};

/** The `--config` file: every key, nested as in the file. */
export const CONFIG_SCHEMA = object({ ...SERVING_PROPERTIES, ...DECISION_PROPERTIES });

/** A validated configuration document (defaults filled in). */
export type ConfigDocument = Static<typeof CONFIG_SCHEMA>;

/** One option as the command line and the docs see it (a leaf of the schema). */
export interface OptionSpec {
  /** The file key; dots are nesting levels (`injection.image`). */
  readonly key: string;
  /** Without `--`; undefined for file-only (structured) keys. */
  readonly flag: string | undefined;
  readonly env: string | undefined;
  readonly section: Section;
  readonly help: string;
  /** As `--help` and the README print it; undefined when there is none. */
  readonly default: string | undefined;
  readonly metavar: string;
  /** A list: "a,b" from a flag or the environment is split. */
  readonly list: boolean;
  /** One of the decision settings (also read by check, inject and scan). */
  readonly decision: boolean;
}

/** `tlsCertFile` → `CA_TRUST_WEBHOOK_TLS_CERT_FILE`; `injection.image` → `..._INJECTION_IMAGE`. */
export function envName(key: string): string {
  return `CA_TRUST_WEBHOOK_${key
    .replace(/\./g, "_")
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toUpperCase()}`;
}

interface LeafSchema {
  type?: string;
  flag?: string;
  section?: Section;
  description?: string;
  default?: unknown;
  metavar?: string;
  properties?: Record<string, LeafSchema>;
}

/** Every option, in `--help` order (by section, then as defined). */
export const OPTIONS: readonly OptionSpec[] = (() => {
  const decisionKeys = new Set(Object.keys(DECISION_PROPERTIES));
  const out: OptionSpec[] = [];
  const walk = (properties: Record<string, LeafSchema>, prefix: string) => {
    for (const [k, schema] of Object.entries(properties)) {
      const key = `${prefix}${k}`;
      // An object without a section of its own is a level of nesting, not an option.
      if (schema.properties !== undefined && schema.section === undefined) {
        walk(schema.properties, `${key}.`);
        continue;
      }
      if (schema.section === undefined || schema.description === undefined) {
        throw new Error(`internal: option ${key} has no section or help`);
      }
      const dflt = schema.default;
      out.push({
        key,
        flag: schema.flag,
        env: schema.flag === undefined ? undefined : envName(key),
        section: schema.section,
        help: schema.description,
        default:
          dflt === undefined || (Array.isArray(dflt) && dflt.length === 0)
            ? Array.isArray(dflt)
              ? ""
              : undefined
            : String(dflt),
        metavar: schema.metavar ?? (schema.flag === undefined ? "(YAML)" : "VALUE"),
        list: schema.type === "array" && schema.flag !== undefined,
        decision: decisionKeys.has(key.split(".")[0] as string),
      });
    }
  };
  walk(CONFIG_SCHEMA.properties as unknown as Record<string, LeafSchema>, "");
  const order = Object.values(SECTIONS) as Section[];
  return out.sort((a, b) => order.indexOf(a.section) - order.indexOf(b.section));
})();
