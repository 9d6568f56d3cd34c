/**
 * The shell script of the `install-ca-cert` init container and the environment it reads.
 *
 * Model: Scality mountpoint-s3-csi-driver `pkg/podmounter/mppod/creator.go`: check that the
 * image has the system bundle, then
 * write system bundle + newline + custom CA into an `emptyDir` that every other container
 * mounts over `/etc/ssl/certs`. Differences, and why:
 * - every path comes from an environment variable the container spec sets explicitly, so the
 *   exact same text runs in a unit test against temporary files, and paths stay configuration;
 * - the result is written to a temporary file and renamed, so a reader (or a restarted init
 *   container) never sees a partial store;
 * - the same bytes are also written as `ca-bundle.crt`: RHEL-style images make `/etc/ssl/certs`
 *   a symlink to `/etc/pki/tls/certs`, where their OpenSSL reads `ca-bundle.crt`;
 * - errors carry a stable code (`CA_TRUST_ERR_*`) so tests and users can grep for them, and the
 *   container uses `terminationMessagePolicy: FallbackToLogsOnError`, so the message shows in
 *   `kubectl describe pod`.
 */

import { joinPath, RHEL_BUNDLE_FILE_NAME, TRUST_STORE_FILE_NAME } from "./paths.js";
import type { EnvVar, InjectionSettings } from "./settings.js";

/** Names of the environment variables the script reads; the init container sets all three. */
export const SCRIPT_ENV = {
  /** The image's own system bundle, read before anything is mounted over it. */
  systemBundle: "CA_TRUST_SYSTEM_BUNDLE",
  /** The custom CA file, from the ConfigMap volume. */
  customCa: "CA_TRUST_CUSTOM_CA",
  /** The directory where the `emptyDir` is mounted in the init container. */
  outputDir: "CA_TRUST_OUTPUT_DIR",
} as const;

/** Error code written to stderr when the init image has no system bundle. */
export const ERR_NO_SYSTEM_BUNDLE = "CA_TRUST_ERR_NO_SYSTEM_BUNDLE";

/** Error code written to stderr when the custom CA file is missing (wrong ConfigMap key). */
export const ERR_NO_CUSTOM_CA = "CA_TRUST_ERR_NO_CUSTOM_CA";

/**
 * The init container's script: POSIX `sh` (BusyBox ash in Alpine, dash in Debian), run as
 * `sh -c SCRIPT`. `set -eu` stops at the first failed command or unset variable; `${VAR:?}`
 * names a missing variable; `umask 022` keeps the store readable by containers running as
 * other users; `printf` rather than `echo` because `echo` interprets backslashes in dash.
 */
export const INSTALL_CA_CERT_SCRIPT = `set -eu
umask 022
system_bundle="\${${SCRIPT_ENV.systemBundle}:?is not set}"
custom_ca="\${${SCRIPT_ENV.customCa}:?is not set}"
output_dir="\${${SCRIPT_ENV.outputDir}:?is not set}"
if [ ! -f "$system_bundle" ]; then
  printf 'ca-trust: ${ERR_NO_SYSTEM_BUNDLE}: %s not found; use an init image that includes the ca-certificates package\\n' "$system_bundle" >&2
  exit 1
fi
if [ ! -f "$custom_ca" ]; then
  printf 'ca-trust: ${ERR_NO_CUSTOM_CA}: %s not found; check the CA ConfigMap and its key\\n' "$custom_ca" >&2
  exit 1
fi
store_tmp="$output_dir/.${TRUST_STORE_FILE_NAME}.tmp"
bundle_tmp="$output_dir/.${RHEL_BUNDLE_FILE_NAME}.tmp"
{ cat "$system_bundle"; printf '\\n'; cat "$custom_ca"; } > "$store_tmp"
cp "$store_tmp" "$bundle_tmp"
mv -f "$bundle_tmp" "$output_dir/${RHEL_BUNDLE_FILE_NAME}"
mv -f "$store_tmp" "$output_dir/${TRUST_STORE_FILE_NAME}"
`;

/** The custom CA file as every container sees it: the ConfigMap volume's mount path + file name. */
export function customCaFilePath(settings: InjectionSettings): string {
  return joinPath(settings.customCa.mountPath, settings.customCa.fileName);
}

/** The combined store as the application containers see it (`/etc/ssl/certs/ca-certificates.crt`). */
export function trustStoreFilePath(settings: InjectionSettings): string {
  return joinPath(settings.trustStore.mountPath, TRUST_STORE_FILE_NAME);
}

/** The environment of the init container: the three paths the script reads, in a fixed order. */
export function installScriptEnv(settings: InjectionSettings): EnvVar[] {
  return [
    { name: SCRIPT_ENV.systemBundle, value: settings.initContainer.systemBundlePath },
    { name: SCRIPT_ENV.customCa, value: customCaFilePath(settings) },
    { name: SCRIPT_ENV.outputDir, value: settings.initContainer.outputPath },
  ];
}
