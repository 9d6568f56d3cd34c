/**
 * A signing CA's private key against its certificate: kcp-operator's `certificates.caSecretRef`
 * names a Secret whose `tls.key` must be the private key of the CA certificate in `tls.crt`
 * (cert-manager's CA issuer signs with it). The key is parsed by node:crypto (OpenSSL) and
 * compared with the certificate's public key (`X509Certificate.checkPrivateKey`). Messages never
 * contain key material.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { scanPem } from "./pem.js";

/** Why a private key does not do: stable codes, asserted by tests. */
export type KeyProblemCode =
  /** No PEM block, or more than one, or a block that is not a private key. */
  | "KEY_NOT_ONE_PRIVATE_KEY"
  /** An encrypted key (PKCS#8 `ENCRYPTED PRIVATE KEY`, or RFC 1421 `Proc-Type: 4,ENCRYPTED`). */
  | "KEY_ENCRYPTED"
  /** The block does not parse as a private key. */
  | "KEY_INVALID"
  /** A valid key, but not the certificate's. */
  | "KEY_MISMATCH"
  /** Over {@link MAX_KEY_BYTES}. */
  | "KEY_TOO_LARGE";

export type KeyCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: KeyProblemCode; readonly message: string };

/** A 16384-bit RSA key is about 12 KiB of PEM; nothing larger is parsed. */
export const MAX_KEY_BYTES = 64 * 1024;

/**
 * Whether `keyValue` (a Secret value: PEM text) holds exactly one unencrypted private key that
 * belongs to the certificate `certificateDer`. Never throws.
 */
export function checkPrivateKeyFor(
  certificateDer: Uint8Array,
  keyValue: string | Uint8Array,
): KeyCheck {
  const size = typeof keyValue === "string" ? Buffer.byteLength(keyValue) : keyValue.byteLength;
  if (size > MAX_KEY_BYTES) {
    return problem("KEY_TOO_LARGE", `value is over ${MAX_KEY_BYTES / 1024} KiB; not a private key`);
  }
  const text = typeof keyValue === "string" ? keyValue : Buffer.from(keyValue).toString("latin1");
  const { blocks } = scanPem(text, 2);
  const [block] = blocks;
  if (blocks.length !== 1 || block === undefined) {
    return problem(
      "KEY_NOT_ONE_PRIVATE_KEY",
      blocks.length === 0
        ? "holds no PEM private key"
        : "holds more than one PEM block; only the CA's private key belongs here",
    );
  }
  const label = block.type.slice(0, 24);
  if (!block.type.endsWith("PRIVATE KEY")) {
    return problem("KEY_NOT_ONE_PRIVATE_KEY", `PEM block 1 (${label}) is not a private key`);
  }
  if (!block.terminated) {
    return problem("KEY_INVALID", "PEM block 1: BEGIN without END");
  }
  if (
    block.type === "ENCRYPTED PRIVATE KEY" ||
    block.headers.some((h) => /^Proc-Type:.*ENCRYPTED/i.test(h))
  ) {
    return problem(
      "KEY_ENCRYPTED",
      `PEM block 1 (${label}) is encrypted; the signer needs the key unencrypted`,
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text.slice(block.start, block.end), format: "pem" });
  } catch {
    return problem("KEY_INVALID", `PEM block 1 (${label}) is not a valid private key`);
  }
  try {
    if (new X509Certificate(certificateDer).checkPrivateKey(key)) return { ok: true };
  } catch {
    // A key of another algorithm than the certificate's: not its key either.
  }
  return problem(
    "KEY_MISMATCH",
    `PEM block 1 (${label}) is not the private key of the CA certificate`,
  );
}

function problem(code: KeyProblemCode, message: string): KeyCheck {
  return { ok: false, code, message };
}
