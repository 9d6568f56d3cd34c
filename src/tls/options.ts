/**
 * TLS settings shared by every certificate source (files and self-managed): the protocol
 * floor, the TLS 1.2 cipher suites and, for mutual TLS, the client CA. They are part of the
 * secure context, so every certificate swap installs them again.
 */
import type { SecureContextOptions } from "node:tls";

/**
 * The TLS 1.2 cipher suites we accept: Mozilla's "intermediate" profile
 * (https://wiki.mozilla.org/Security/Server_Side_TLS) without its finite-field DHE suites, i.e.
 * ECDHE key exchange (forward secrecy) with an AEAD cipher (AES-GCM, ChaCha20-Poly1305), for
 * ECDSA and RSA certificates. Node's default list also offers static-RSA key exchange (no
 * forward secrecy), CBC suites (SHA-1 MACs, padding oracles) and, through `HIGH`, CCM8 and
 * ARIA; none of those is needed by any client that calls a webhook (the apiserver is Go, whose
 * TLS 1.2 defaults are these suites). TLS 1.3 is not restricted here: naming no TLS 1.3 suite
 * leaves OpenSSL's TLS 1.3 defaults (AES-GCM and ChaCha20-Poly1305, all ECDHE/AEAD) in place.
 */
export const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/** The TLS settings every certificate source installs with each pair (see TLS12_CIPHERS). */
export function tlsOptions(
  minVersion: "TLSv1.2" | "TLSv1.3",
  clientCa: string | undefined,
): SecureContextOptions {
  return {
    minVersion,
    ciphers: TLS12_CIPHERS,
    ...(clientCa === undefined ? {} : { ca: clientCa }),
  };
}
