import { X509Certificate } from "node:crypto";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import type { Server as HttpsServer } from "node:https";
import { Agent } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/observability/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import type { IssuedCertificate } from "../../src/pki/issue.js";
import { buildServer } from "../../src/server.js";
import { CertificateReloader } from "../../src/tls/reloader.js";
import { postHttps } from "./client.js";
import { allowAll, review, servingPair } from "./helpers.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** Writes a file the way a kubelet updates a mounted Secret: a new file, then an atomic rename. */
function writeAtomically(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

async function startServer(dir: string, leaf: IssuedCertificate) {
  const certFile = join(dir, "tls.crt");
  const keyFile = join(dir, "tls.key");
  writeAtomically(certFile, leaf.certificatePem);
  writeAtomically(keyFile, leaf.privateKeyPem);
  const logLines: string[] = [];
  const logger = createLogger("info", { write: (line: string) => logLines.push(line) });
  const metrics = createMetrics({ processMetrics: false });
  const reloader = new CertificateReloader({
    certFile,
    keyFile,
    intervalMs: 100,
    minVersion: "TLSv1.2",
    logger,
    metrics,
  });
  const app = buildServer(
    { https: reloader.secureContextOptions(), requestTimeoutMs: 5_000, keepAliveTimeoutMs: 90_000 },
    { logger, metrics, validate: allowAll, mutate: allowAll },
  );
  await app.listen({ host: "127.0.0.1", port: 0 });
  reloader.attach(app.server as unknown as HttpsServer);
  cleanups.push(async () => {
    reloader.stop();
    await app.close();
  });
  const port = (app.server.address() as { port: number }).port;
  return { certFile, keyFile, port, logLines, reloader };
}

const fingerprintOf = (leaf: IssuedCertificate) =>
  new X509Certificate(leaf.certificatePem).fingerprint256;

/** The certificate a brand-new connection is given. */
async function presentedToNewConnection(port: number, ca: string): Promise<string> {
  const res = await postHttps(port, "/validate", JSON.stringify(review()), { ca });
  return res.peerFingerprint;
}

async function waitFor(predicate: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await predicate()) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

describe("certificate hot reload", () => {
  it("rotates five times under continuous keep-alive traffic with zero failed requests", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ctw-reload-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const first = await servingPair("serving-0");
    const ca = first.ca.certificatePem;
    const server = await startServer(dir, first.leaf);

    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const agent = new Agent({ keepAlive: true, maxSockets: 4, ca });
    cleanups.push(() => agent.destroy());
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const uid = `w${w}-${i}`;
        try {
          const res = await postHttps(server.port, "/mutate", JSON.stringify(review({ uid })), {
            agent,
            ca,
          });
          if (res.status === 200 && JSON.parse(res.body).response.uid === uid) ok++;
          else failures.push(`${uid}: ${res.status}`);
        } catch (error) {
          failures.push(`${uid}: ${(error as Error).message}`);
        }
      }
    };
    const workers = [0, 1, 2, 3].map(worker);

    const switchTimes: number[] = [];
    for (let round = 1; round <= 5; round++) {
      const { leaf } = await servingPair(`serving-${round}`, first.ca);
      writeAtomically(server.certFile, leaf.certificatePem);
      writeAtomically(server.keyFile, leaf.privateKeyPem);
      const expected = fingerprintOf(leaf);
      switchTimes.push(
        await waitFor(
          async () => (await presentedToNewConnection(server.port, ca)) === expected,
          2_000,
        ),
      );
    }
    stop = true;
    await Promise.all(workers);

    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(50);
    expect(Math.max(...switchTimes)).toBeLessThan(2_000);
    expect(server.logLines.filter((l) => l.includes("serving certificate reloaded"))).toHaveLength(
      5,
    );
  });

  it("keeps the last good certificate while the pair is half-written, and logs why", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ctw-reload-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const first = await servingPair("serving-a");
    const ca = first.ca.certificatePem;
    const server = await startServer(dir, first.leaf);
    const next = await servingPair("serving-b", first.ca);

    // Only the certificate is new: it does not match the old key.
    writeAtomically(server.certFile, next.leaf.certificatePem);
    await server.reloader.check();
    expect(await presentedToNewConnection(server.port, ca)).toBe(fingerprintOf(first.leaf));
    // A truncated key file.
    writeAtomically(server.keyFile, next.leaf.privateKeyPem.slice(0, 60));
    await server.reloader.check();
    expect(await presentedToNewConnection(server.port, ca)).toBe(fingerprintOf(first.leaf));
    const warnings = server.logLines.filter((l) => l.includes("keeping the last good certificate"));
    expect(warnings.length).toBe(2);
    expect(warnings.join("")).not.toContain("BEGIN");

    // The pair completes: the server switches.
    writeAtomically(server.keyFile, next.leaf.privateKeyPem);
    await server.reloader.check();
    expect(await presentedToNewConnection(server.port, ca)).toBe(fingerprintOf(next.leaf));
  });

  it("keeps serving when the files disappear, and picks them up again", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ctw-reload-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const first = await servingPair("serving-x");
    const ca = first.ca.certificatePem;
    const server = await startServer(dir, first.leaf);
    rmSync(server.certFile);
    await server.reloader.check();
    expect(await presentedToNewConnection(server.port, ca)).toBe(fingerprintOf(first.leaf));
    const next = await servingPair("serving-y", first.ca);
    writeAtomically(server.certFile, next.leaf.certificatePem);
    writeAtomically(server.keyFile, next.leaf.privateKeyPem);
    await server.reloader.check();
    expect(await presentedToNewConnection(server.port, ca)).toBe(fingerprintOf(next.leaf));
  });
});
