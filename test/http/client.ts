import { type Agent, request } from "node:https";
import type { TLSSocket } from "node:tls";

export interface Answer {
  status: number;
  body: string;
  /** SHA-256 fingerprint of the certificate the server presented on this connection. */
  peerFingerprint: string;
  reusedSocket: boolean;
}

/** POSTs a body over HTTPS to 127.0.0.1 with the given agent, trusting `ca`. */
export function postHttps(
  port: number,
  path: string,
  body: string | Buffer,
  options: { agent?: Agent; ca: string; contentType?: string; timeoutMs?: number },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        agent: options.agent ?? false,
        ca: options.agent ? undefined : options.ca,
        headers: {
          "content-type": options.contentType ?? "application/json",
          "content-length": Buffer.byteLength(body),
        },
        timeout: options.timeoutMs ?? 10_000,
      },
      (res) => {
        const peerFingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256 ?? "";
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
            peerFingerprint,
            reusedSocket: req.reusedSocket,
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("client timeout")));
    req.on("error", reject);
    req.end(body);
  });
}
