/**
 * The rotation plan of the self-managed certificate mode: given what the Secret holds, the
 * time, and which CAs every caBundle already holds, the one next change to make. Pure (the
 * step is applied by {@link applyRotationStep}, which only issues certificates).
 *
 * The order of a CA rotation, and why (each step answers an incident of another project):
 * 1. `add-next-ca` at 2/3 of the CA's life: the next CA goes into the Secret, and every
 *    replica writes caBundle = current + next. Nothing it signs is served yet.
 * 2. Once a replica has read back the bundle with the next CA in every webhook, it stamps
 *    `ca-next-published-at` (bootstrap.ts). A bundle that later loses the next CA clears the
 *    stamp (`unpublish-next-ca`), so the wait below restarts.
 * 3. `promote-next-ca` after `publishDelay` (apiservers apply configuration changes
 *    asynchronously): the next CA becomes current and signs a new serving certificate; the
 *    old CA stays in the bundle as `ca-previous.crt`. The bundle's CA set does not change.
 * 4. `retire-previous-ca` after `retireDelay` (every replica re-reads the Secret far more
 *    often): only then does the old CA leave the bundle (Kyverno appends and drops later;
 *    cert-manager replacing in one step is cert-manager#6350).
 * Serving certificates renew at 2/3 of their life, signed by the current CA, bundle untouched.
 */
import { backdateMs, issueCa, issueServing, type ServingNames } from "./authority.js";
import {
  type CertificateSet,
  type CertificateSetRead,
  normalizeIp,
  type ParsedCertificate,
} from "./certificate-set.js";

/** Lifetimes and delays of the rotation, in milliseconds, and the wanted serving names. */
export interface RotationSettings {
  readonly caLifetimeMs: number;
  readonly servingLifetimeMs: number;
  /** From "every caBundle holds the next CA" to serving a certificate it signed. */
  readonly publishDelayMs: number;
  /** From serving the new CA's certificate to dropping the old CA from the caBundle. */
  readonly retireDelayMs: number;
  readonly names: ServingNames;
}

/** One change to the certificate set. */
export type RotationStep =
  | { readonly action: "create" }
  | { readonly action: "recreate"; readonly reason: string }
  | { readonly action: "reissue-serving"; readonly reason: string }
  | { readonly action: "repair"; readonly reason: string }
  | { readonly action: "retire-previous-ca" }
  | { readonly action: "unpublish-next-ca" }
  | { readonly action: "promote-next-ca" }
  | { readonly action: "add-next-ca" }
  | { readonly action: "renew-serving" }
  | { readonly action: "none" };

/** The named stage a certificate set is in (logged on every change). */
export type RotationPhase = "stable" | "ca-next-added" | "ca-next-published" | "ca-promoted";

/** Which stage of a CA rotation `set` is in. */
export function phaseOf(set: CertificateSet): RotationPhase {
  if (set.next !== undefined)
    return set.nextPublishedAt === undefined ? "ca-next-added" : "ca-next-published";
  if (set.previous !== undefined) return "ca-promoted";
  return "stable";
}

/** 2/3 through the certificate's validity, when it is renewed (cert-manager's rule). */
export function renewalTime(certificate: ParsedCertificate): Date {
  const start = certificate.notBefore.getTime();
  const span = certificate.notAfter.getTime() - start;
  return new Date(start + Math.floor((span * 2) / 3));
}

/** The serving certificate names every wanted DNS name and IP address. */
export function coversNames(certificate: ParsedCertificate, names: ServingNames): boolean {
  const dns = new Set(certificate.dnsNames);
  const ips = new Set(certificate.ipAddresses);
  return (
    names.dnsNames.every((n) => dns.has(n.toLowerCase())) &&
    names.ipAddresses.every((ip) => ips.has(normalizeIpSafe(ip)))
  );
}

/**
 * The next step for the Secret's content (`undefined`: there is no Secret) at `now`.
 * `published` holds the fingerprints of the CAs present in every webhook's caBundle (of every
 * configuration that exists), or is `undefined` when that is unknown: steps that depend on it
 * then wait.
 */
export function planRotation(
  read: CertificateSetRead | undefined,
  now: Date,
  published: ReadonlySet<string> | undefined,
  settings: RotationSettings,
): RotationStep {
  if (read === undefined) return { action: "create" };
  if (!read.ok) return { action: "recreate", reason: read.problem };
  const set = read.set;
  const t = now.getTime();
  if (t >= set.current.notAfter.getTime()) return { action: "recreate", reason: "CA expired" };

  const leaf = set.leaf;
  if (leaf === undefined) {
    return { action: "reissue-serving", reason: set.leafProblem ?? "missing" };
  }
  if (t >= leaf.notAfter.getTime()) return { action: "reissue-serving", reason: "expired" };
  // Exactly the configured names: a certificate with names beyond them was refused when read
  // (readCertificateSet), one that lacks some is reissued here (a changed configuration).
  if (!coversNames(leaf, settings.names)) {
    return { action: "reissue-serving", reason: "names changed" };
  }
  // Entries that were not adopted (a planted next or previous CA) leave the Secret now.
  if (read.refused.length > 0) {
    return { action: "repair", reason: read.refused.map((r) => r.key).join(", ") };
  }

  if (set.previous !== undefined) {
    const promotedAt = set.promotedAt?.getTime() ?? Number.NEGATIVE_INFINITY;
    if (t >= promotedAt + settings.retireDelayMs) return { action: "retire-previous-ca" };
  }
  if (set.next !== undefined) {
    const nextIsLive = published?.has(set.next.fingerprint);
    if (set.nextPublishedAt !== undefined) {
      if (nextIsLive === false) return { action: "unpublish-next-ca" };
      if (
        nextIsLive === true &&
        set.previous === undefined &&
        t >= set.nextPublishedAt.getTime() + settings.publishDelayMs
      ) {
        return { action: "promote-next-ca" };
      }
    }
  } else if (set.previous === undefined && t >= renewalTime(set.current).getTime()) {
    return { action: "add-next-ca" };
  }

  // A certificate already cut off at the CA's notAfter would only be reissued identically.
  if (
    t >= renewalTime(leaf).getTime() &&
    leaf.notAfter.getTime() < set.current.notAfter.getTime()
  ) {
    return { action: "renew-serving" };
  }
  return { action: "none" };
}

/**
 * Checks the lifetimes and delays fit together; returns the problem or undefined. A rotation
 * (publish delay, then retire delay, each plus a sync) must finish within the last third of the
 * CA's life, and a replica must re-read the Secret several times within the retire delay.
 */
export function checkRotationTiming(settings: {
  caLifetimeMs: number;
  servingLifetimeMs: number;
  publishDelayMs: number;
  retireDelayMs: number;
  syncIntervalMs: number;
}): string | undefined {
  const { caLifetimeMs, servingLifetimeMs, publishDelayMs, retireDelayMs, syncIntervalMs } =
    settings;
  if (servingLifetimeMs > caLifetimeMs) {
    return "the serving certificate lifetime must not exceed the CA lifetime";
  }
  if (retireDelayMs < 3 * syncIntervalMs) {
    return "the CA retire delay must be at least 3 sync intervals (every replica must see the switch)";
  }
  const rotation = publishDelayMs + retireDelayMs + 4 * syncIntervalMs;
  const window = (caLifetimeMs + backdateMs(caLifetimeMs)) / 3;
  if (rotation >= window) {
    return `a CA rotation (publish delay + retire delay + 4 sync intervals = ${rotation} ms) must fit in the last third of the CA lifetime (${Math.floor(window)} ms)`;
  }
  return undefined;
}

/** Applies `step` to `set` (issuing what it needs); `set` is undefined only for `create`. */
export async function applyRotationStep(
  set: CertificateSet | undefined,
  step: RotationStep,
  now: Date,
  settings: RotationSettings,
): Promise<CertificateSet> {
  if (step.action === "create" || step.action === "recreate") {
    const current = await issueCa(now, settings.caLifetimeMs);
    const leaf = await issueServing(current, settings.names, now, settings.servingLifetimeMs);
    return { current, leaf };
  }
  if (set === undefined) throw new TypeError(`${step.action} needs a certificate set`);
  switch (step.action) {
    case "reissue-serving":
    case "renew-serving": {
      const leaf = await issueServing(set.current, settings.names, now, settings.servingLifetimeMs);
      const { leafProblem: _dropped, ...rest } = set;
      return { ...rest, leaf };
    }
    case "repair":
      // The set as read holds only what was adopted; writing it drops the rest.
      return set;
    case "retire-previous-ca": {
      const { previous: _previous, promotedAt: _promotedAt, ...rest } = set;
      return rest;
    }
    case "unpublish-next-ca": {
      const { nextPublishedAt: _published, ...rest } = set;
      return rest;
    }
    case "add-next-ca":
      return { ...set, next: await issueCa(now, settings.caLifetimeMs) };
    case "promote-next-ca": {
      if (set.next === undefined) throw new TypeError("no next CA to promote");
      const leaf = await issueServing(set.next, settings.names, now, settings.servingLifetimeMs);
      return { current: set.next, previous: set.current, leaf, promotedAt: now };
    }
    case "none":
      return set;
  }
}

function normalizeIpSafe(address: string): string {
  try {
    return normalizeIp(address);
  } catch {
    return address;
  }
}
