import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync, type Stats, statSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import type { Server as HttpsServer } from "node:https";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { tlsOptions } from "./options.js";

/** A serving certificate and key that were checked to belong together. */
export interface ServingCertificate {
  readonly cert: string;
  readonly key: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SHA-256 of the leaf's DER, hex: logged on reload (never the PEM). */
  readonly fingerprint: string;
}

/**
 * Checks that `cert` (a PEM chain, leaf first) and `key` form a usable pair: both parse, the
 * key matches the leaf, Node's TLS accepts them and, when `now` is given, the leaf is valid at
 * `now` (an expired or not-yet-valid pair would fail every handshake with a verifying client,
 * so it must never replace one that works). Throws an Error saying what is wrong.
 */
export function checkServingPair(cert: string, key: string, now?: Date): ServingCertificate {
  if (!cert.includes("-----BEGIN CERTIFICATE-----")) throw new Error("no certificate in the file");
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key))
    throw new Error("no private key in the file");
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch {
    throw new Error("the certificate does not parse (half-written?)");
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new Error("the private key does not parse (half-written?)");
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new Error("the private key does not match the certificate");
  }
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (now !== undefined && now.getTime() > notAfter.getTime()) {
    throw new Error(`the certificate expired at ${notAfter.toISOString()}`);
  }
  if (now !== undefined && now.getTime() < notBefore.getTime()) {
    throw new Error(
      `the certificate is not valid before ${notBefore.toISOString()} (it is ${now.toISOString()})`,
    );
  }
  createSecureContext({ cert, key });
  return {
    cert,
    key,
    notBefore,
    notAfter,
    fingerprint: createHash("sha256").update(leaf.raw).digest("hex"),
  };
}

/**
 * Who besides us can read or write a key (or certificate) file, from its mode and group; `""`
 * when nobody. A group the process belongs to counts as us: on Kubernetes the Secret volume is
 * group-owned by the Pod's `fsGroup` (mode 0440), which is how a non-root server reads it.
 */
export function fileExposure(
  info: Pick<Stats, "mode" | "gid">,
  ourGroups: readonly number[],
  kind: "key" | "certificate",
): string {
  const mode = info.mode & 0o777;
  const problems: string[] = [];
  // A certificate is public: only who may replace it matters.
  const read = kind === "key" ? 0o4 : 0;
  if (mode & (read | 0o2)) {
    problems.push(
      `${mode & read ? "readable" : ""}${mode & read && mode & 0o2 ? " and " : ""}${mode & 0o2 ? "writable" : ""} by every user`,
    );
  }
  const groupBits = (mode >> 3) & (read | 0o2);
  if (groupBits !== 0 && !ourGroups.includes(info.gid)) {
    problems.push(`${groupBits & read ? "readable" : "writable"} by group ${info.gid}`);
  }
  return problems.length === 0
    ? ""
    : `mode ${mode.toString(8).padStart(4, "0")}: ${problems.join(", ")}`;
}

/** The process's groups (primary and supplementary); empty where POSIX ids do not exist. */
function processGroups(): number[] {
  const groups = new Set<number>();
  if (typeof process.getgid === "function") groups.add(process.getgid());
  if (typeof process.getegid === "function") groups.add(process.getegid());
  if (typeof process.getgroups === "function") for (const g of process.getgroups()) groups.add(g);
  return [...groups];
}

export interface ReloaderOptions {
  certFile: string;
  keyFile: string;
  intervalMs: number;
  minVersion: "TLSv1.2" | "TLSv1.3";
  /** PEM CA that client certificates must chain to (mutual TLS); kept across reloads. */
  clientCa?: string;
  logger: Logger;
  metrics: Metrics;
  now?: () => Date;
}

/**
 * Serves the certificate files and follows them: every `intervalMs` it re-reads both files
 * (a mounted Secret changes by an atomic symlink swap, which file watchers miss) and, when the
 * bytes changed and form a valid pair, installs them with `server.setSecureContext`: new
 * connections get the new certificate, open ones keep theirs, nothing is dropped. A pair that
 * is half-written or mismatched keeps the last good one and logs why, once per content.
 */
export class CertificateReloader {
  private current: ServingCertificate;
  private lastSeen: string;
  private timer: NodeJS.Timeout | undefined;
  private servers: HttpsServer[] = [];
  private checking = false;

  /**
   * Reads and checks the files once; throws (with the reason) when they are not a usable pair
   * valid now: at start-up there is no last good pair to keep, and serving an expired one
   * would only fail every handshake, so `serve` exits 2 saying why instead.
   */
  constructor(private readonly options: ReloaderOptions) {
    const cert = readFileSync(options.certFile, "utf8");
    const key = readFileSync(options.keyFile, "utf8");
    this.current = checkServingPair(cert, key, this.now());
    this.lastSeen = digest(cert, key);
    this.record();
    this.warnExposed({
      key: statSync(options.keyFile),
      certificate: statSync(options.certFile),
    });
  }

  /** TLS options for the HTTPS server (the current pair, protocol floor, cipher suites). */
  secureContextOptions(): SecureContextOptions {
    return {
      cert: this.current.cert,
      key: this.current.key,
      ...tlsOptions(this.options.minVersion, this.options.clientCa),
    };
  }

  certificate(): ServingCertificate {
    return this.current;
  }

  /** Readiness: the certificate in use is within its validity period. */
  health(): { ok: boolean; reason?: string } {
    const now = this.now();
    if (now < this.current.notBefore)
      return { ok: false, reason: "serving certificate not yet valid" };
    if (now > this.current.notAfter) return { ok: false, reason: "serving certificate expired" };
    return { ok: true };
  }

  /** Starts following the files and swapping the context of `server`. */
  attach(server: HttpsServer): void {
    this.servers.push(server);
    if (this.timer === undefined) {
      this.timer = setInterval(() => void this.check(), this.options.intervalMs);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.servers = [];
  }

  /** One check of the files; exported for tests that do not want to wait for the timer. */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      let cert: string;
      let key: string;
      try {
        [cert, key] = await Promise.all([
          readFile(this.options.certFile, "utf8"),
          readFile(this.options.keyFile, "utf8"),
        ]);
      } catch (error) {
        this.reject(
          `cannot read: ${(error as NodeJS.ErrnoException).code ?? "error"}`,
          "unreadable",
        );
        return;
      }
      await this.checkExposure();
      const seen = digest(cert, key);
      if (seen === this.lastSeen) return;
      let next: ServingCertificate;
      try {
        // A pair that is not valid yet is tried again at every check (the digest of a
        // rejected pair is not remembered as seen), so it is loaded once its time comes.
        next = checkServingPair(cert, key, this.now());
      } catch (error) {
        this.reject((error as Error).message, seen);
        return;
      }
      this.lastSeen = seen;
      const previous = this.current.fingerprint;
      this.current = next;
      for (const server of this.servers) server.setSecureContext(this.secureContextOptions());
      this.record();
      this.options.metrics.certificateReloads.inc({ result: "loaded" });
      this.options.logger.info(
        {
          previous: previous.slice(0, 16),
          fingerprint: next.fingerprint.slice(0, 16),
          notAfter: next.notAfter,
        },
        "serving certificate reloaded",
      );
    } finally {
      this.checking = false;
    }
  }

  private rejectedLogged: string | undefined;
  /** The exposure last warned about, per file, so a lasting one is logged once. */
  private exposureLogged = new Map<string, string>();

  private now(): Date {
    return (this.options.now ?? (() => new Date()))();
  }

  private async checkExposure(): Promise<void> {
    try {
      const [key, certificate] = await Promise.all([
        stat(this.options.keyFile),
        stat(this.options.certFile),
      ]);
      this.warnExposed({ key, certificate });
    } catch {
      // Unreadable files are reported by the read itself.
    }
  }

  /**
   * Warns (once per state) when someone else may read our key or replace our pair: whoever
   * can is our identity to the apiserver. Not fatal: the files are mounted by the platform,
   * and refusing them would take the webhook down (the warning says what to fix).
   */
  private warnExposed(stats: { key: Stats; certificate: Stats }): void {
    const groups = processGroups();
    for (const kind of ["key", "certificate"] as const) {
      const file = kind === "key" ? this.options.keyFile : this.options.certFile;
      const exposure = fileExposure(stats[kind], groups, kind);
      if (this.exposureLogged.get(file) === exposure) continue;
      this.exposureLogged.set(file, exposure);
      if (exposure === "") continue;
      this.options.logger.warn(
        { event: "file-exposed", file, exposure },
        kind === "key"
          ? "the serving key file is readable or writable by others: whoever reads it can impersonate this webhook (chmod 0400/0440, or a Secret volume with defaultMode 0440 and fsGroup)"
          : "the serving certificate file is writable by others: whoever can also replace the key controls this webhook's identity",
      );
    }
  }

  private reject(reason: string, seen: string): void {
    if (this.rejectedLogged === seen) return;
    this.rejectedLogged = seen;
    this.options.metrics.certificateReloads.inc({ result: "rejected" });
    this.options.logger.warn(
      { certFile: this.options.certFile, keyFile: this.options.keyFile, reason },
      "serving certificate files changed but are not usable; keeping the last good certificate",
    );
  }

  private record(): void {
    this.options.metrics.certificateNotAfter.set(
      Math.floor(this.current.notAfter.getTime() / 1000),
    );
  }
}

function digest(cert: string, key: string): string {
  return createHash("sha256").update(cert).update("\0").update(key).digest("hex");
}
