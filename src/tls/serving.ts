/**
 * The serving certificate held in memory (the self-managed mode has no files): a pair is
 * checked like a reloaded file pair, and installed into every attached HTTPS server with
 * `server.setSecureContext`: new connections get it, open ones keep theirs, nothing drops.
 */
import type { Server as HttpsServer } from "node:https";
import type { SecureContextOptions } from "node:tls";
import { tlsOptions } from "./options.js";
import { checkServingPair, type ServingCertificate } from "./reloader.js";

/**
 * What `main.ts` needs of a certificate source, whichever the mode: `CertificateReloader`
 * (files) and `SelfManagedCertificates` (Secret) both have this shape.
 */
export interface CertificateSource {
  /** TLS options for the HTTPS server (the current pair and the minimum version). */
  secureContextOptions(): SecureContextOptions;
  /** The pair in use. */
  certificate(): ServingCertificate;
  /** Readiness of the certificate part. */
  health(): { ok: boolean; reason?: string };
  /** Follows changes into `server` (after it listens). */
  attach(server: HttpsServer): void;
  stop(): void;
}

/** TLS settings that stay the same across pairs. */
export interface MemoryCertificateOptions {
  readonly minVersion: "TLSv1.2" | "TLSv1.3";
  /**
   * PEM CA that client certificates must chain to (mutual TLS, `--client-ca-file`): part of
   * the secure context, so every swap must carry it again.
   */
  readonly clientCa?: string;
  /**
   * The clock a pair's validity is checked against; without one, validity is not checked
   * (the self-managed mode passes its own, so tests under a fixed clock stay consistent).
   */
  readonly now?: () => Date;
}

/** A serving pair in memory, swapped into the attached servers on {@link install}. */
export class MemoryCertificate {
  private current: ServingCertificate;
  private servers: HttpsServer[] = [];

  /** Throws (as `checkServingPair`) when `cert` and `key` are not a usable pair. */
  constructor(
    cert: string,
    key: string,
    private readonly tls: MemoryCertificateOptions,
  ) {
    this.current = checkServingPair(cert, key, tls.now?.());
  }

  /** TLS options for the HTTPS server (also re-installed whole on every swap). */
  secureContextOptions(): SecureContextOptions {
    return {
      cert: this.current.cert,
      key: this.current.key,
      ...tlsOptions(this.tls.minVersion, this.tls.clientCa),
    };
  }

  certificate(): ServingCertificate {
    return this.current;
  }

  /**
   * Checks and installs a new pair; returns false (and changes nothing) when it is the pair
   * already in use. Throws when the pair is unusable (mismatched, expired or not yet valid):
   * the last good one stays.
   */
  install(cert: string, key: string): boolean {
    if (cert === this.current.cert && key === this.current.key) return false;
    const next = checkServingPair(cert, key, this.tls.now?.());
    this.current = next;
    const options = this.secureContextOptions();
    for (const server of this.servers) server.setSecureContext(options);
    return true;
  }

  /** Installs the current pair into `server` now (it may have started with an older one). */
  attach(server: HttpsServer): void {
    if (!this.servers.includes(server)) this.servers.push(server);
    server.setSecureContext(this.secureContextOptions());
  }

  detachAll(): void {
    this.servers = [];
  }
}
