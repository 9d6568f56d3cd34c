/**
 * What Pod injection adds, as configuration: every name, path, image, user, resource and env
 * var has a default here and can be configured (docs/architecture.md "Injection").
 * src/config/settings.ts builds an `InjectionSettings` from the configuration (starting from
 * `DEFAULT_INJECTION_SETTINGS`) and rejects it at startup when `validateInjectionSettings`
 * reports a problem.
 */

import type { ClusterTrustBundleSelection } from "../core/view.js";
import { isDns1123Label, isDns1123Subdomain, isEnvVarName } from "./names.js";
import { joinPath, normalizeMountPath, pathsOverlap, TRUST_STORE_FILE_NAME } from "./paths.js";

/** Label on a Namespace (`enabled`) or a Pod (`"true"` / `"false"`) that opts in or out. */
export const INJECT_LABEL = "ca-trust.dev/inject";

/** The values of `INJECT_LABEL` that mean something; any other value is ignored. */
export const INJECT_LABEL_VALUES = {
  /** On a Namespace: inject into its Pods unless a Pod opts out. */
  namespaceEnabled: "enabled",
  /** On a Pod: inject even if the Namespace is not labelled. */
  podOptIn: "true",
  /** On a Pod: never inject, whatever the Namespace says. */
  podOptOut: "false",
} as const;

/** Pod annotation naming another CA ConfigMap in the Pod's namespace. */
export const CONFIGMAP_ANNOTATION = "ca-trust.dev/configmap";

/** Pod annotation listing trust profiles (`node,python,curl,openssl`) whose env vars to add. */
export const TRUST_ENV_ANNOTATION = "ca-trust.dev/trust-env";

/** Pod annotation we set to `sha256:<hex of the CA bundle>`: which bundle was injected. */
export const INJECTED_ANNOTATION = "ca-trust.dev/injected";

/** A literal environment variable (`valueFrom` is never injected). */
export interface EnvVar {
  readonly name: string;
  readonly value: string;
}

/** Compute resources in Kubernetes quantity syntax (`10m`, `16Mi`). */
export interface ResourceRequirements {
  readonly requests?: Readonly<Record<string, string>>;
  readonly limits?: Readonly<Record<string, string>>;
}

/** The `emptyDir` that holds the combined store and is mounted over the system store path. */
export interface TrustStoreSettings {
  readonly volumeName: string;
  /** Room for the system bundle (~200 KB) plus the custom CAs. */
  readonly sizeLimit: string;
  /** Where application containers see the combined store (read-only). */
  readonly mountPath: string;
}

/** The CA ConfigMap volume, mounted as a directory so that CA updates reach running Pods. */
export interface CustomCaSettings {
  readonly volumeName: string;
  /** Where every container, the init container included, sees the custom CA (read-only). */
  readonly mountPath: string;
  /** The ConfigMap used when the Pod has no `ca-trust.dev/configmap` annotation. */
  readonly configMapName: string;
  /** The only ConfigMap key projected into the volume (`items`). */
  readonly configMapKey: string;
  /** The file name the key is projected to; kept apart from the key so env paths stay fixed. */
  readonly fileName: string;
}

/** The `install-ca-cert` init container. */
export interface InitContainerSettings {
  readonly name: string;
  /** Any image with `sh`, `cat`, `cp`, `mv` and the system bundle at `systemBundlePath`. */
  readonly image: string;
  readonly imagePullPolicy: "Always" | "IfNotPresent" | "Never";
  /** A non-root UID; `null` leaves it to the platform (OpenShift assigns one per namespace). */
  readonly runAsUser: number | null;
  readonly resources: ResourceRequirements;
  /** The image's own system bundle, read before anything is mounted over it. */
  readonly systemBundlePath: string;
  /**
   * Where the `emptyDir` is mounted in the init container. Not the store's mount path: the
   * script must still read the image's own bundle there.
   */
  readonly outputPath: string;
}

/**
 * Where the custom CA comes from. `configmap`: the ConfigMap of `customCa` in the Pod's
 * namespace (written by hand, or by trust-manager for every selected namespace).
 * `clustertrustbundle`: cluster-scoped ClusterTrustBundles, mounted through a `projected`
 * volume that kubelet fills; no per-namespace copy.
 */
export type CaSource =
  | { readonly kind: "configmap" }
  | { readonly kind: "clustertrustbundle"; readonly selection: ClusterTrustBundleSelection };

/** Everything Pod injection adds. Deeply read-only; the defaults are frozen. */
export interface InjectionSettings {
  /** Absent: `{kind: "configmap"}`. */
  readonly caSource?: CaSource;
  readonly trustStore: TrustStoreSettings;
  readonly customCa: CustomCaSettings;
  readonly initContainer: InitContainerSettings;
  /** Env added to every container and init container unless the container sets the name. */
  readonly env: readonly EnvVar[];
  /** Env added only when the Pod lists the profile in `ca-trust.dev/trust-env`. */
  readonly trustProfiles: Readonly<Record<string, readonly EnvVar[]>>;
}

const TRUST_STORE_MOUNT_PATH = "/etc/ssl/certs";
const CUSTOM_CA_MOUNT_PATH = "/etc/ssl/custom-ca";
const CUSTOM_CA_FILE_NAME = "ca-bundle.crt";
/** Appended to by runtimes that add to their own roots. */
const CUSTOM_CA_FILE = joinPath(CUSTOM_CA_MOUNT_PATH, CUSTOM_CA_FILE_NAME);
/** Used by runtimes whose variable replaces their default store: it must hold the public roots too. */
const TRUST_STORE_FILE = joinPath(TRUST_STORE_MOUNT_PATH, TRUST_STORE_FILE_NAME);

/**
 * The trust profiles a Pod can ask for with `ca-trust.dev/trust-env`. Which file each variable
 * points at depends on whether the runtime *adds* the file to its roots or *replaces* them:
 *
 * - `node`: `NODE_EXTRA_CA_CERTS` = the custom CA file. Node.js verifies against the Mozilla
 *   roots compiled into the binary, not `/etc/ssl/certs`, so the store mount alone does not
 *   help it; this variable *appends* the file's certificates to the built-in roots, read once
 *   at process start (https://nodejs.org/api/cli.html#node_extra_ca_certsfile).
 * - `python`: `REQUESTS_CA_BUNDLE` = the combined store. `requests` verifies against certifi's
 *   bundle, ignoring the system store; the variable *replaces* that bundle, so it must also
 *   hold the public roots (https://requests.readthedocs.io/en/latest/user/advanced/#ssl-cert-verification).
 *   Python's `ssl` module itself uses OpenSSL's defaults: see `openssl`.
 * - `curl`: `CURL_CA_BUNDLE` = the combined store. The curl tool's compiled-in bundle path
 *   differs per distribution (`/etc/pki/tls/certs/ca-bundle.crt`, `/etc/ssl/certs/...`); the
 *   variable *replaces* it (https://curl.se/docs/sslcerts.html).
 * - `openssl`: `SSL_CERT_FILE` = the combined store. OpenSSL's default verify file
 *   (`OPENSSLDIR/cert.pem`) is *replaced* by it; Go's crypto/x509 on Linux, Python's `ssl`,
 *   Ruby and most OpenSSL-linked tools read it too. It matters for images whose `OPENSSLDIR`
 *   is not `/etc/ssl` (static builds, RHEL's `/etc/pki/tls`).
 *
 * Variables a container already sets are never overridden.
 */
export const DEFAULT_TRUST_PROFILES: Readonly<Record<string, readonly EnvVar[]>> = {
  node: [{ name: "NODE_EXTRA_CA_CERTS", value: CUSTOM_CA_FILE }],
  python: [{ name: "REQUESTS_CA_BUNDLE", value: TRUST_STORE_FILE }],
  curl: [{ name: "CURL_CA_BUNDLE", value: TRUST_STORE_FILE }],
  openssl: [{ name: "SSL_CERT_FILE", value: TRUST_STORE_FILE }],
};

/**
 * The defaults. Names and sizes follow the `install-ca-cert` init container of Scality's
 * mountpoint-s3-csi-driver (`pkg/podmounter/mppod/creator.go`) with our own volume names, `readOnlyRootFilesystem` added and UID 65534
 * (`nobody`): the init container only reads the image and writes the `emptyDir`, and passes
 * PodSecurity `restricted`.
 *
 * `AWS_CA_BUNDLE` points at the custom CA only (not the combined store), as in the Scality
 * model: the AWS CLI (botocore) and the SDKs that read it use it *instead of* their default
 * roots, which is what a private S3-compatible endpoint needs; a workload that also calls
 * public AWS endpoints should set its own value (kept) or use the combined store.
 */
export const DEFAULT_INJECTION_SETTINGS: InjectionSettings = deepFreeze({
  trustStore: {
    volumeName: "ca-trust-certs",
    sizeLimit: "2Mi",
    mountPath: TRUST_STORE_MOUNT_PATH,
  },
  customCa: {
    volumeName: "ca-trust-custom-ca",
    mountPath: CUSTOM_CA_MOUNT_PATH,
    configMapName: "ca-trust-bundle",
    configMapKey: "ca-bundle.crt",
    fileName: CUSTOM_CA_FILE_NAME,
  },
  initContainer: {
    name: "install-ca-cert",
    // The public roots every injected container trusts are this image's system bundle
    // (Alpine's ca-certificates package, Mozilla's list): a supported Alpine branch (3.24,
    // security fixes until 2028-05-01), pinned by digest so no tag move or registry changes
    // what Pods trust (it was 3.24.2). Re-pinned by scripts/pin-base-images.sh; choosing
    // another image: docs/images.md.
    image: "alpine:3.24@sha256:294b683cb724975bec92580e1e685676bd4b50bda910ddb8c51d4cabeaec77e6",
    imagePullPolicy: "IfNotPresent",
    runAsUser: 65534,
    resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "64Mi" } },
    systemBundlePath: "/etc/ssl/certs/ca-certificates.crt",
    outputPath: "/var/run/ca-trust/certs",
  },
  env: [{ name: "AWS_CA_BUNDLE", value: CUSTOM_CA_FILE }],
  trustProfiles: DEFAULT_TRUST_PROFILES,
} satisfies InjectionSettings);

const QUANTITY =
  /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$/;
const CONFIGMAP_KEY = /^[-._a-zA-Z0-9]+$/;
const PROFILE_NAME = /^[a-z0-9][a-z0-9-]*$/;
const PULL_POLICIES: readonly string[] = ["Always", "IfNotPresent", "Never"];

/**
 * Problems that would make injection produce an invalid or self-contradicting Pod, one
 * `field: reason` string each (empty when the settings are usable). Checked once at startup,
 * so a bad configuration fails the webhook's own Pod rather than every user's Pod.
 */
export function validateInjectionSettings(settings: InjectionSettings): string[] {
  const problems: string[] = [];
  const { trustStore, customCa, initContainer } = settings;
  const check = (ok: boolean, field: string, reason: string): void => {
    if (!ok) problems.push(`${field}: ${reason}`);
  };

  check(isDns1123Label(trustStore.volumeName), "trustStore.volumeName", "must be a DNS-1123 label");
  check(isDns1123Label(customCa.volumeName), "customCa.volumeName", "must be a DNS-1123 label");
  check(
    trustStore.volumeName !== customCa.volumeName,
    "customCa.volumeName",
    "must differ from trustStore.volumeName",
  );
  check(isDns1123Label(initContainer.name), "initContainer.name", "must be a DNS-1123 label");
  check(QUANTITY.test(trustStore.sizeLimit), "trustStore.sizeLimit", "must be a quantity");
  check(
    isDns1123Subdomain(customCa.configMapName),
    "customCa.configMapName",
    "must be a DNS-1123 subdomain",
  );
  check(
    CONFIGMAP_KEY.test(customCa.configMapKey) && customCa.configMapKey.length <= 253,
    "customCa.configMapKey",
    "must be a valid ConfigMap key",
  );
  check(
    CONFIGMAP_KEY.test(customCa.fileName) && !customCa.fileName.startsWith(".."),
    "customCa.fileName",
    "must be a plain file name",
  );

  const paths: [string, string][] = [
    ["trustStore.mountPath", trustStore.mountPath],
    ["customCa.mountPath", customCa.mountPath],
    ["initContainer.outputPath", initContainer.outputPath],
    ["initContainer.systemBundlePath", initContainer.systemBundlePath],
  ];
  for (const [field, path] of paths) {
    check(isCleanAbsolutePath(path), field, "must be an absolute path without '.', '..' or '//'");
  }
  check(
    !pathsOverlap(trustStore.mountPath, customCa.mountPath),
    "customCa.mountPath",
    "must not contain or be inside trustStore.mountPath",
  );
  check(
    !pathsOverlap(initContainer.outputPath, customCa.mountPath),
    "initContainer.outputPath",
    "must not contain or be inside customCa.mountPath",
  );
  check(
    !pathsOverlap(initContainer.systemBundlePath, initContainer.outputPath) &&
      !pathsOverlap(initContainer.systemBundlePath, customCa.mountPath),
    "initContainer.systemBundlePath",
    "must not be hidden by the init container's mounts",
  );

  check(initContainer.image.trim() !== "", "initContainer.image", "must not be empty");
  check(
    PULL_POLICIES.includes(initContainer.imagePullPolicy),
    "initContainer.imagePullPolicy",
    "must be Always, IfNotPresent or Never",
  );
  check(
    initContainer.runAsUser === null ||
      (Number.isInteger(initContainer.runAsUser) &&
        initContainer.runAsUser > 0 &&
        initContainer.runAsUser <= 2147483647),
    "initContainer.runAsUser",
    "must be null or a non-root UID (1 to 2147483647)",
  );
  for (const kind of ["requests", "limits"] as const) {
    for (const [resource, quantity] of Object.entries(initContainer.resources[kind] ?? {})) {
      check(
        QUANTITY.test(quantity),
        `initContainer.resources.${kind}.${resource}`,
        "must be a quantity",
      );
    }
  }

  checkEnv(settings.env, "env", problems);
  for (const [profile, env] of Object.entries(settings.trustProfiles)) {
    check(PROFILE_NAME.test(profile), `trustProfiles.${profile}`, "name must be lower-case");
    checkEnv(env, `trustProfiles.${profile}`, problems);
  }
  if (settings.caSource?.kind === "clustertrustbundle") {
    const selection = settings.caSource.selection;
    if ("name" in selection) {
      check(
        isClusterTrustBundleName(selection.name),
        "caSource.selection.name",
        "must be a ClusterTrustBundle name",
      );
    } else {
      check(
        isSignerName(selection.signerName),
        "caSource.selection.signerName",
        "must be a signer name (DOMAIN/PATH)",
      );
    }
  }
  return problems;
}

/**
 * ClusterTrustBundle names: a DNS subdomain, or for a signer's bundle `DOMAIN:PATH:SUFFIX`
 * (the apiserver checks the prefix against `spec.signerName`; colons are allowed for that).
 */
export function isClusterTrustBundleName(name: string): boolean {
  return name.length <= 253 && name.split(":").every((part) => isDns1123Subdomain(part));
}

/**
 * `DOMAIN/PATH`, as certificates.k8s.io validates signer names (`example.com/corp-roots`): a
 * DNS subdomain, then one path segment (no `/` or `%`, not `.` or `..`).
 */
export function isSignerName(name: string): boolean {
  const slash = name.indexOf("/");
  if (slash <= 0 || name.length > 571) return false;
  const path = name.slice(slash + 1);
  return (
    isDns1123Subdomain(name.slice(0, slash)) &&
    /^[^/%\s]{1,316}$/.test(path) &&
    path !== "." &&
    path !== ".."
  );
}

function checkEnv(env: readonly EnvVar[], field: string, problems: string[]): void {
  const seen = new Set<string>();
  env.forEach((variable, index) => {
    if (!isEnvVarName(variable.name)) {
      problems.push(`${field}[${index}].name: must be a C identifier`);
    } else if (seen.has(variable.name)) {
      problems.push(`${field}[${index}].name: duplicate ${variable.name}`);
    }
    seen.add(variable.name);
  });
}

function isCleanAbsolutePath(path: string): boolean {
  if (!path.startsWith("/") || path === "/" || path !== normalizeMountPath(path)) return false;
  return path
    .slice(1)
    .split("/")
    .every((segment) => segment !== "." && segment !== "..");
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const member of Object.values(value)) deepFreeze(member);
    Object.freeze(value);
  }
  return value;
}
