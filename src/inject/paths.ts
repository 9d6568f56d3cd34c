/**
 * Container filesystem paths as they appear in `volumeMounts[].mountPath`: comparison and
 * joining. Pure string work on POSIX paths (Windows Pods are not injected).
 */

/** The combined store's file name: what Debian/Alpine OpenSSL, Go and curl read in `/etc/ssl/certs`. */
export const TRUST_STORE_FILE_NAME = "ca-certificates.crt";

/** The same bytes under the RHEL/Fedora name (`/etc/pki/tls/certs/ca-bundle.crt`). */
export const RHEL_BUNDLE_FILE_NAME = "ca-bundle.crt";

/** Joins a directory and a file name without doubling the slash. */
export function joinPath(directory: string, fileName: string): string {
  return directory.endsWith("/") ? `${directory}${fileName}` : `${directory}/${fileName}`;
}

/**
 * The form in which two mount paths are compared: repeated and trailing slashes removed, so
 * `/etc/ssl/certs/` and `/etc/ssl//certs` both match `/etc/ssl/certs`, as they do for the
 * container runtime.
 */
export function normalizeMountPath(path: string): string {
  const collapsed = path.replace(/\/{2,}/g, "/");
  return collapsed.length > 1 && collapsed.endsWith("/") ? collapsed.slice(0, -1) : collapsed;
}

/**
 * Whether two normalized paths are the same or one contains the other (`/etc/ssl` and
 * `/etc/ssl/certs`; not `/etc/ssl/certs2`); a relative path only overlaps itself. Overlapping mounts are where injection would hide a
 * user's files or need a mount point inside a read-only volume.
 */
export function pathsOverlap(a: string, b: string): boolean {
  if (a === b) return true;
  if (!a.startsWith("/") || !b.startsWith("/")) return false;
  const [shorter, longer] = a.length < b.length ? [a, b] : [b, a];
  if (shorter === "/") return true;
  return longer.startsWith(shorter) && longer.charCodeAt(shorter.length) === 47; // "/"
}
