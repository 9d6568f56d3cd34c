/**
 * The text forms of option values that JSON Schema has no type for (durations, addresses,
 * Kubernetes names), registered as ajv formats in src/config/load.ts and used again to turn a
 * validated document into settings.
 */
import { isIP } from "node:net";

export interface HostPort {
  readonly host: string;
  readonly port: number;
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
  // A timer longer than 2^31-1 ms fires at once in Node.
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

/** A list from a flag or variable: `a,b` or the JSON form `["a","b"]`. */
export function parseList(text: string): string[] {
  const trimmed = text.trim();
  if (trimmed.startsWith("[")) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (Array.isArray(parsed)) return parsed.map(String);
    } catch {
      // not JSON: the comma form below
    }
  }
  return trimmed
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

/** The formats of the schema: a check, and what a user is told when a value fails it. */
export const FORMATS: Readonly<
  Record<string, { readonly valid: (text: string) => boolean; readonly expected: string }>
> = {
  duration: {
    valid: (t) => parseDuration(t) !== undefined,
    expected: 'expected a duration such as "500ms", "10s" or "2m"',
  },
  lifetime: {
    valid: (t) => parseLifetime(t) !== undefined,
    expected: 'expected a duration such as "40s", "2160h" or "365d"',
  },
  hostport: {
    valid: (t) => parseHostPort(t) !== undefined,
    expected: "expected HOST:PORT with a port from 0 to 65535",
  },
  "dns1123-label": { valid: (t) => isDns1123(t, false), expected: "not a valid Kubernetes name" },
  "dns1123-subdomain": {
    valid: (t) => isDns1123(t, true),
    expected: "not a valid Kubernetes name",
  },
  ip: { valid: (t) => isIP(t) !== 0, expected: "not an IP address" },
  "trusted-namespace": {
    valid: (t) => parseTrustedNamespace(t) !== undefined,
    expected:
      'expected NAMESPACE or RULE=NAMESPACE, e.g. "openchoreo-planes=openchoreo-control-plane"',
  },
};

/** Rule names hold no control characters (the rule schema's rule). */
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/**
 * A `--trusted-secret-namespaces` entry: `NAMESPACE` (every rule) or `RULE=NAMESPACE`. A rule
 * name may hold "=" (a namespace never does), so the namespace is what follows the last one.
 */
export function parseTrustedNamespace(
  text: string,
): { readonly rule: string | undefined; readonly namespace: string } | undefined {
  const at = text.lastIndexOf("=");
  const namespace = text.slice(at + 1);
  const rule = at === -1 ? undefined : text.slice(0, at);
  if (!isDns1123(namespace, false)) return undefined;
  if (rule !== undefined && (rule === "" || rule.length > 253 || hasControl(rule))) {
    return undefined;
  }
  return { rule, namespace };
}
