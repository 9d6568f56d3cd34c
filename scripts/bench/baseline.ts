/**
 * The ceiling for this runtime: a bare `node:https` server that reads the body, JSON.parses it
 * and answers a canned allow AdmissionReview (only the uid is echoed, as the apiserver requires).
 * Same TLS, keep-alive and child-process setup as the webhook child (server.ts), no framework,
 * no decision. Protocol: probe.ts.
 */
import { createServer } from "node:https";
import { Probe, send, serveProbe, waitForStart } from "./probe.js";

async function main(): Promise<void> {
  const probe = new Probe();
  const start = await waitForStart();
  const server = createServer(
    { cert: start.tls.cert, key: start.tls.key, minVersion: "TLSv1.2", keepAliveTimeout: 90_000 },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        let uid = "";
        try {
          const review = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
            request?: { uid?: unknown };
          };
          uid = typeof review.request?.uid === "string" ? review.request.uid : "";
        } catch {
          res.writeHead(400, { "content-type": "application/json" }).end('{"code":400}');
          return;
        }
        const body = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":${JSON.stringify(uid)},"allowed":true}}`;
        res
          .writeHead(200, {
            "content-type": "application/json; charset=utf-8",
            "content-length": Buffer.byteLength(body),
          })
          .end(body);
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  serveProbe(
    probe,
    async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    start.profilePath,
  );
  probe.reset();
  send({ type: "listening", port: address.port, rssStartMb: process.memoryUsage.rss() / 1048576 });
}

main().catch((error: unknown) => {
  send({ type: "failed", message: error instanceof Error ? error.message : String(error) });
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 100).unref();
});
