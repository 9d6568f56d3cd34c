/**
 * Policy versions as the namespace labels write them (`latest`, `v1.<minor>`), mapped to the
 * minor version whose checks run. Like the apiserver, a version newer than the newest one
 * known here is evaluated as that newest one.
 */
import { NEWEST_MINOR } from "./registry.js";
import type { PodSecurityVersion } from "./types.js";

/** pod-security-admission's pattern (`api.ParseVersion`), with a bound on the digits. */
const VERSION = /^v1\.(0|[1-9][0-9]{0,17})$/;

/** The newest version implemented, e.g. `v1.37`: what `latest` evaluates as. */
export const NEWEST_VERSION: PodSecurityVersion = `v1.${NEWEST_MINOR}`;

/** The version if `text` is one (`latest` or `v1.<minor>`), else undefined. */
export function parsePodSecurityVersion(text: string): PodSecurityVersion | undefined {
  return text === "latest" || VERSION.test(text) ? (text as PodSecurityVersion) : undefined;
}

/**
 * The minor version whose checks run for `version`; throws on a malformed version. Clamped to
 * the newest known (the same checks run), which also bounds the registry's cache by the number
 * of known versions whatever versions are asked for.
 */
export function effectiveMinor(version: PodSecurityVersion): number {
  if (version === "latest") return NEWEST_MINOR;
  const match = VERSION.exec(version);
  if (match === null) {
    throw new TypeError(
      `PodSecurity version must be "latest" or "v1.<minor>", got ${JSON.stringify(version)}`,
    );
  }
  return Math.min(Number(match[1]), NEWEST_MINOR);
}
