/**
 * JSON Pointer (RFC 6901) construction for the paths of our RFC 6902 operations.
 */

/**
 * Escapes one reference token: `~` becomes `~0` and `/` becomes `~1`, in that order, so that
 * `~1` in the input is not mistaken for an escaped slash (RFC 6901 §3). Annotation keys such as
 * `ca-trust.dev/injected` contain a `/` and must be escaped to address one member.
 */
export function escapePointerSegment(segment: string): string {
  // Most segments (field names, container indices) need no escape: no new string for them.
  if (!segment.includes("~") && !segment.includes("/")) return segment;
  return segment.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** Joins reference tokens into a pointer, escaping each one: `pointer("a/b", 0)` is `/a~1b/0`. */
export function pointer(...segments: readonly (string | number)[]): string {
  let path = "";
  for (const segment of segments) {
    path += `/${typeof segment === "number" ? String(segment) : escapePointerSegment(segment)}`;
  }
  return path;
}
