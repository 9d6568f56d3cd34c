import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { Server as HttpsServer } from "node:https";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";

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
 * key matches the leaf, and Node's TLS accepts them. Throws an Error saying what is wrong.
 */
export function checkServingPair(cert: string, key: string): ServingCertificate {
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
  createSecureContext({ cert, key });
  return {
    cert,
    key,
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    fingerprint: createHash("sha256").update(leaf.raw).digest("hex"),
  };
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

  constructor(private readonly options: ReloaderOptions) {
    const cert = readFileSync(options.certFile, "utf8");
    const key = readFileSync(options.keyFile, "utf8");
    this.current = checkServingPair(cert, key);
    this.lastSeen = digest(cert, key);
    this.record();
  }

  /** TLS options for the HTTPS server (the current pair and the minimum version). */
  secureContextOptions(): SecureContextOptions {
    return {
      cert: this.current.cert,
      key: this.current.key,
      minVersion: this.options.minVersion,
      ...(this.options.clientCa === undefined ? {} : { ca: this.options.clientCa }),
    };
  }

  certificate(): ServingCertificate {
    return this.current;
  }

  /** Readiness: the certificate in use is within its validity period. */
  health(): { ok: boolean; reason?: string } {
    const now = (this.options.now ?? (() => new Date()))();
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
      const seen = digest(cert, key);
      if (seen === this.lastSeen) return;
      let next: ServingCertificate;
      try {
        next = checkServingPair(cert, key);
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
