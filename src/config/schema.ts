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

/** What a leaf of the schema carries beside JSON Schema (registered with ajv as keywords). */
interface Meta {
  /** The flag without `--`; absent: the option is a file key only (structured values). */
  flag?: string;
  section: Section;
  /** One line: what it does and the consequence of the default. */
  description: string;
}

/** Keywords of ours in the schema; ajv is told they annotate and validate nothing. */
export const META_KEYWORDS = ["flag", "section", "metavar"] as const;

const string = (meta: Meta, extra: { default?: string; format?: string; metavar?: string } = {}) =>
  Type.String({ ...meta, ...extra });

const path = (meta: Meta) => Type.Optional(Type.String({ ...meta, minLength: 1, metavar: "FILE" }));

const duration = (meta: Meta, dflt: string) =>
  Type.String({ ...meta, format: "duration", default: dflt, metavar: "DURATION" });

const lifetime = (meta: Meta, dflt: string) =>
  Type.String({ ...meta, format: "lifetime", default: dflt, metavar: "DURATION" });

const hostPort = (meta: Meta, dflt: string) =>
  Type.String({ ...meta, format: "hostport", default: dflt, metavar: "HOST:PORT" });

const integer = (meta: Meta, minimum: number, maximum: number, dflt: number) =>
  Type.Integer({ ...meta, minimum, maximum, default: dflt, metavar: "N" });

const name = (meta: Meta, subdomain: boolean, dflt?: string) =>
  Type.String({
    ...meta,
    format: subdomain ? "dns1123-subdomain" : "dns1123-label",
    metavar: "NAME",
    ...(dflt === undefined ? {} : { default: dflt }),
  });

/** Enums are typed `string` too, so that `tlsMinVersion: 1.3` in YAML (a number) is "1.3". */
const oneOf = <const V extends string[]>(meta: Meta, values: readonly [...V], dflt: V[number]) =>
  Type.Enum(values, { ...meta, type: "string", default: dflt, metavar: values.join("|") });

const list = (meta: Meta, itemFormat?: string) =>
  Type.Array(Type.String(itemFormat === undefined ? {} : { format: itemFormat }), {
    ...meta,
    default: [],
    metavar: "A,B,...",
  });

const object = <P extends Record<string, TSchema>>(properties: P, options: object = {}) =>
  Type.Object(properties, { additionalProperties: false, ...options });

const L = SECTIONS.listener;
const C = SECTIONS.certificate;
const T = SECTIONS.limits;
const R = SECTIONS.runtime;
const D = SECTIONS.decisions;
const I = SECTIONS.injection;

/** The serving settings: listeners, TLS, certificate mode, timeouts, limits, logging. */
export const SERVING_PROPERTIES = {
  listen: hostPort(
    {
      flag: "listen",
      section: L,
      description:
        "HTTPS address of the webhook (POST /validate, /mutate); the apiserver calls this",
    },
    "0.0.0.0:9443",
  ),
  tlsCertFile: path({
    flag: "tls-cert-file",
    section: L,
    description: "PEM serving certificate (chain); reloaded within 2s when the file changes",
  }),
  tlsKeyFile: path({
    flag: "tls-key-file",
    section: L,
    description: "PEM private key of the serving certificate; reloaded with it",
  }),
  tlsMinVersion: oneOf(
    {
      flag: "tls-min-version",
      section: L,
      description:
        "lowest TLS version accepted; 1.3 refuses clients (and apiservers) that only speak 1.2",
    },
    ["1.2", "1.3"],
    "1.2",
  ),
  tlsReloadInterval: duration(
    {
      flag: "tls-reload-interval",
      section: L,
      description: "how often the certificate files are checked for a change",
    },
    "500ms",
  ),
  clientCaFile: path({
    flag: "client-ca-file",
    section: L,
    description:
      "mutual TLS: only clients (the apiserver) with a certificate from this CA may connect",
  }),
  clientCn: list({
    flag: "client-cn",
    section: L,
    description:
      "with --client-ca-file: accepted client certificate CNs (empty: any the CA signed)",
  }),
  certificateMode: oneOf(
    {
      flag: "certificate-mode",
      section: C,
      description:
        "files: serve --tls-cert-file/--tls-key-file (e.g. cert-manager); self-managed: keep a CA and certificate in a Secret and our caBundle",
    },
    ["files", "self-managed"],
    "files",
  ),
  namespace: Type.Optional(
    name(
      {
        flag: "namespace",
        section: C,
        description:
          "our namespace (self-managed: holds the certificate Secret, names the Service); set it from the downward API",
      },
      false,
    ),
  ),
  serviceName: name(
    {
      flag: "service-name",
      section: C,
      description:
        "Service in front of the webhook: NAME, NAME.NS, NAME.NS.svc, NAME.NS.svc.cluster.local go into the certificate",
    },
    false,
    "ca-trust-webhook",
  ),
  certificateSecret: name(
    {
      flag: "certificate-secret",
      section: C,
      description:
        "self-managed: Secret in --namespace holding the CA and serving certificate, shared by all replicas",
    },
    true,
    "ca-trust-webhook-certs",
  ),
  webhookConfiguration: name(
    {
      flag: "webhook-configuration",
      section: C,
      description:
        "self-managed: name of our Validating- and MutatingWebhookConfiguration; their caBundle is kept ours",
    },
    true,
    "ca-trust-webhook",
  ),
  certificateDnsNames: list({
    flag: "certificate-dns-names",
    section: C,
    description: "self-managed: extra DNS names for the serving certificate",
  }),
  certificateIpAddresses: list(
    {
      flag: "certificate-ip-addresses",
      section: C,
      description:
        "self-managed: IP addresses for the serving certificate (e.g. 127.0.0.1 for a URL webhook)",
    },
    "ip",
  ),
  caLifetime: lifetime(
    {
      flag: "ca-lifetime",
      section: C,
      description:
        "self-managed: CA validity; a new CA is introduced at 2/3 of it and overlaps the old one",
    },
    "365d",
  ),
  servingCertificateLifetime: lifetime(
    {
      flag: "serving-certificate-lifetime",
      section: C,
      description:
        "self-managed: serving certificate validity; renewed at 2/3 of it, caBundle unchanged",
    },
    "90d",
  ),
  caPublishDelay: duration(
    {
      flag: "ca-publish-delay",
      section: C,
      description:
        "self-managed: after the new CA is in every caBundle, wait this long before serving a certificate it signed",
    },
    "30s",
  ),
  caRetireDelay: duration(
    {
      flag: "ca-retire-delay",
      section: C,
      description:
        "self-managed: after switching to the new CA, keep the old one in the caBundle this long (every replica switches first)",
    },
    "5m",
  ),
  certificateSyncInterval: duration(
    {
      flag: "certificate-sync-interval",
      section: C,
      description:
        "self-managed: how often the Secret and caBundles are read; an overwritten caBundle is fixed within this",
    },
    "2s",
  ),
  requestTimeout: duration(
    {
      flag: "request-timeout",
      section: T,
      description: "a request (headers and body) must arrive within this, or the socket is closed",
    },
    "10s",
  ),
  keepAliveTimeout: duration(
    {
      flag: "keep-alive-timeout",
      section: T,
      description:
        "idle keep-alive lifetime; longer than the apiserver's pooled idle connections (90s)",
    },
    "90s",
  ),
  tlsHandshakeTimeout: duration(
    {
      flag: "tls-handshake-timeout",
      section: T,
      description:
        "a connection that has not completed TLS within this is closed (the apiserver needs milliseconds)",
    },
    "5s",
  ),
  firstRequestTimeout: duration(
    {
      flag: "first-request-timeout",
      section: T,
      description: "a connection that has not sent its first request within this is closed",
    },
    "10s",
  ),
  maxConnections: integer(
    {
      flag: "max-connections",
      section: T,
      description:
        "open webhook connections; at the limit the oldest one that has sent no request is closed, else the new one is refused",
    },
    1,
    100000,
    500,
  ),
  maxJsonValues: integer(
    {
      flag: "max-json-values",
      section: T,
      description:
        "JSON values (objects, arrays, strings, numbers...) in one request; more is refused before decoding, naming the limit",
    },
    1000,
    10000000,
    200000,
  ),
  maxRequestMemoryMib: integer(
    {
      flag: "max-request-memory-mib",
      section: T,
      description:
        "estimated memory (MiB) of the requests being read or decided; beyond it 429, with a quarter kept for bodies up to 64 KiB",
    },
    16,
    65536,
    64,
  ),
  shutdownDelay: duration(
    {
      flag: "shutdown-delay",
      section: T,
      description: "after SIGTERM, keep serving (not ready) this long so endpoints drop us first",
    },
    "0s",
  ),
  shutdownTimeout: duration(
    {
      flag: "shutdown-timeout",
      section: T,
      description:
        "after SIGTERM, in-flight reviews get this long to finish before the process exits",
    },
    "25s",
  ),
  deadlineMargin: duration(
    {
      flag: "deadline-margin",
      section: T,
      description:
        "answer this long before the apiserver's ?timeout= deadline, even if a lookup is pending",
    },
    "1s",
  ),
  healthListen: hostPort(
    {
      flag: "health-listen",
      section: R,
      description: "plain HTTP address for GET /healthz, /readyz and /metrics (never the webhook)",
    },
    "0.0.0.0:8080",
  ),
  kubeconfig: path({
    flag: "kubeconfig",
    section: R,
    description:
      "kubeconfig file; default as kubectl: $KUBECONFIG, in-cluster, then ~/.kube/config",
  }),
  logLevel: oneOf(
    {
      flag: "log-level",
      section: R,
      description: "pino log level; info logs one line per review, never objects or Secret data",
    },
    ["fatal", "error", "warn", "info", "debug", "trace", "silent"],
    "info",
  ),
  logRateLimit: integer(
    {
      flag: "log-rate-limit",
      section: R,
      description:
        "log lines per second per reason (a review decision, a rejection code); the rest are counted in one line; 0: no limit",
    },
    0,
    1000000,
    50,
  ),
  lookupTtl: duration(
    {
      flag: "lookup-ttl",
      section: R,
      description: "how long a fetched Secret is reused; a change shows up after at most this long",
    },
    "5s",
  ),
  accessReviewTtl: duration(
    {
      flag: "access-review-ttl",
      section: R,
      description:
        "how long a SubjectAccessReview answer is reused per user and Secret; a revoked grant still counts this long",
    },
    "10s",
  ),
  testLookupDelay: duration(
    {
      flag: "test-lookup-delay",
      section: R,
      description: "testing only: delay every Kubernetes lookup by this much (fault injection)",
    },
    "0s",
  ),
};

const INJECTION_PROPERTIES = {
  configMap: name(
    {
      flag: "inject-configmap",
      section: I,
      description:
        "CA ConfigMap read in the Pod's namespace (a Pod may name another: ca-trust.dev/configmap)",
    },
    true,
    "ca-trust-bundle",
  ),
  configMapKey: string(
    {
      flag: "inject-configmap-key",
      section: I,
      description: "key of the CA ConfigMap that holds the PEM bundle",
    },
    { default: "ca-bundle.crt", metavar: "KEY" },
  ),
  source: oneOf(
    {
      flag: "inject-source",
      section: I,
      description:
        "where the CA comes from: configmap (the CA ConfigMap in the Pod's namespace, e.g. written by trust-manager) or clustertrustbundle (a projected volume of ClusterTrustBundles; no per-namespace copy)",
    },
    ["configmap", "clustertrustbundle"],
    "configmap",
  ),
  clusterTrustBundle: object(
    {
      name: Type.Optional(
        string(
          {
            flag: "inject-cluster-trust-bundle",
            section: I,
            description:
              "with --inject-source clustertrustbundle: the ClusterTrustBundle projected into Pods, by name (Pods stay pending while it is missing, so they are denied)",
          },
          { metavar: "NAME" },
        ),
      ),
      signerName: Type.Optional(
        string(
          {
            flag: "inject-cluster-trust-bundle-signer",
            section: I,
            description:
              "with --inject-source clustertrustbundle: project every ClusterTrustBundle of this signer (DOMAIN/PATH) instead of one by name",
          },
          { metavar: "SIGNER" },
        ),
      ),
      labelSelector: string(
        {
          flag: "inject-cluster-trust-bundle-selector",
          section: I,
          description:
            "with --inject-cluster-trust-bundle-signer: only the signer's bundles with these labels (kubectl -l syntax); empty selects all of them",
        },
        { default: "", metavar: "SELECTOR" },
      ),
    },
    { default: {} },
  ),
  image: string(
    {
      flag: "inject-image",
      section: I,
      description:
        "image of the install-ca-cert init container; its system bundle is the public roots injected Pods trust; needs sh and /etc/ssl/certs/ca-certificates.crt",
    },
    { default: DEFAULT_INJECTION_SETTINGS.initContainer.image, metavar: "IMAGE" },
  ),
  imagePullPolicy: oneOf(
    {
      flag: "inject-image-pull-policy",
      section: I,
      description: "pull policy of the init container",
    },
    ["IfNotPresent", "Always", "Never"],
    "IfNotPresent",
  ),
  runAsUser: integer(
    {
      flag: "inject-run-as-user",
      section: I,
      description: "UID of the init container (non-root); -1 leaves it to the platform (OpenShift)",
    },
    -1,
    2147483647,
    65534,
  ),
  onFailure: oneOf(
    {
      flag: "inject-on-failure",
      section: I,
      description:
        "missing/invalid CA ConfigMap or a conflicting Pod: deny it, or admit it uninjected with a warning",
    },
    ["deny", "skip-and-warn"],
    "deny",
  ),
  resources: Type.Optional(
    object(
      {
        requests: Type.Optional(Type.Record(Type.String(), Type.String({ metavar: "QUANTITY" }))),
        limits: Type.Optional(Type.Record(Type.String(), Type.String({ metavar: "QUANTITY" }))),
      },
      {
        section: I,
        description:
          "init container resources, e.g. {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 64Mi}}",
      },
    ),
  ),
  env: Type.Optional(
    Type.Array(object({ name: Type.String(), value: Type.String() }), {
      section: I,
      description:
        "env added to every container, default [{name: AWS_CA_BUNDLE, value: /etc/ssl/custom-ca/ca-bundle.crt}]",
    }),
  ),
};

/** The decision settings: what `serve` and the offline commands decide with. */
export const DECISION_PROPERTIES = {
  systemNamespace: name(
    {
      flag: "system-namespace",
      section: D,
      description: "Connectors system namespace: its flag ConfigMap and global CA Secrets are read",
    },
    false,
    "connectors-system",
  ),
  flagConfigMap: name(
    {
      flag: "flag-configmap",
      section: D,
      description:
        "ConfigMap in the system namespace whose enable-custom-ca-certs gates the Connector rule",
    },
    true,
    "connectors-config",
  ),
  missingSecret: oneOf(
    {
      flag: "missing-secret",
      section: D,
      description: "a referenced Secret that does not exist: allow with a warning, or deny",
    },
    ["warn", "deny"],
    "warn",
  ),
  unverifiable: oneOf(
    {
      flag: "unverifiable",
      section: D,
      description: "a Secret the API cannot return (error, timeout): deny, or allow with a warning",
    },
    ["deny", "warn"],
    "deny",
  ),
  allowedSecretNamespaces: list({
    flag: "allowed-secret-namespaces",
    section: D,
    description: "namespaces cluster-scoped planes may reference CA Secrets in; empty allows any",
  }),
  authorizeReferences: Type.Boolean({
    flag: "authorize-references",
    section: D,
    description:
      "read a referenced Secret only if the requesting user may get it (SubjectAccessReview); false tells anyone who may create the object what the Secret holds",
    default: true,
    metavar: "true|false",
  }),
  secretNamespaces: list(
    {
      flag: "secret-namespaces",
      section: D,
      description:
        "namespaces whose Secrets the webhook may read (install Roles there); a reference elsewhere is denied naming this option; empty: any (cluster-wide get)",
    },
    "dns1123-label",
  ),
  expiringWithinDays: integer(
    {
      flag: "expiring-within-days",
      section: D,
      description: "warn about CA certificates that expire within this many days",
    },
    0,
    3650,
    30,
  ),
  /** Validated by src/policy/rules.ts (`parseRules`), which names the path of a mistake. */
  rules: Type.Optional(
    Type.Unknown({
      section: D,
      description: "CA-reference rules for other CRDs, in the built-in rules' format (README)",
    }),
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
