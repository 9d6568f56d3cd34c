/**
 * The TLS the webhook port speaks, seen from outside with OpenSSL's own client (Debian's
 * `openssl s_client`), against the real `serve` process:
 * - TLS 1.2 negotiates only ECDHE key exchange with an AEAD cipher (Mozilla "intermediate"):
 *   every TLS 1.2 suite this OpenSSL knows is offered one at a time, with an ECDSA and with
 *   an RSA certificate (static-RSA key exchange needs an RSA certificate), and the accepted set
 *   is recorded; TLS 1.3 keeps OpenSSL's defaults; TLS 1.0 and 1.1 are refused.
 * - A pair that is expired or not yet valid is never loaded: at start-up `serve` exits 2 naming
 *   the reason, and while running the last good pair keeps being served (logged, counted).
 * - A key file others can read is reported.
 */
import { execFile, spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { chmodSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import type { Server as HttpsServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/observability/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import {
  type IssuedCertificate,
  issueCertificate,
  type KeyAlgorithm,
} from "../../src/pki/issue.js";
import { buildServer } from "../../src/server.js";
import { TLS12_CIPHERS } from "../../src/tls/options.js";
import { CertificateReloader, fileExposure } from "../../src/tls/reloader.js";
import { allowAll } from "./helpers.js";
import { certificateFiles, type RunningCli, runCli, startCli } from "./process.js";

const run = promisify(execFile);
const HOUR = 3_600_000;

/** A CA and a 127.0.0.1 serving certificate with `algorithm` keys, valid over [from, to]. */
async function pair(
  algorithm: KeyAlgorithm,
  from: number,
  to: number,
  ca?: IssuedCertificate,
): Promise<{ ca: IssuedCertificate; leaf: IssuedCertificate }> {
  const root =
    ca ??
    (await issueCertificate({
      commonName: "tls test CA",
      isCA: true,
      keyAlgorithm: algorithm,
      notBefore: new Date(Date.now() - 10 * HOUR),
      notAfter: new Date(Date.now() + 10 * HOUR),
    }));
  const leaf = await issueCertificate({
    commonName: "webhook",
    usage: "server",
    keyAlgorithm: algorithm,
    ipAddresses: ["127.0.0.1"],
    notBefore: new Date(from),
    notAfter: new Date(to),
    issuer: root,
  });
  return { ca: root, leaf };
}

/** OpenSSL's name, key exchange, authentication and encryption of every suite it knows. */
interface Suite {
  name: string;
  protocol: string;
  kx: string;
  enc: string;
}

/** Every suite `openssl ciphers` can offer in a TLS 1.2 handshake (security level 0: all of them). */
async function tls12Suites(): Promise<Suite[]> {
  const { stdout } = await run("openssl", [
    "ciphers",
    "-v",
    "-tls1_2",
    "ALL:COMPLEMENTOFALL:@SECLEVEL=0",
  ]);
  return stdout
    .trim()
    .split("\n")
    .map((line) => {
      const [name = "", protocol = "", kx = "", , enc = ""] = line.trim().split(/\s+/);
      return { name, protocol, kx: kx.replace("Kx=", ""), enc: enc.replace("Enc=", "") };
    })
    .filter((s) => s.protocol !== "TLSv1.3");
}

/**
 * One `openssl s_client` handshake offering only `cipher` (TLS 1.2) or `suite` (TLS 1.3);
 * the negotiated suite, or undefined when the server refused.
 */
async function handshake(
  port: number,
  options: { tls: "1.0" | "1.1" | "1.2" | "1.3"; cipher?: string; suite?: string },
): Promise<string | undefined> {
  const args = ["s_client", "-connect", `127.0.0.1:${port}`, "-brief", "-no_ticket"];
  args.push(`-tls${options.tls.replace(".", "_")}`);
  if (options.cipher !== undefined) args.push("-cipher", `${options.cipher}:@SECLEVEL=0`);
  if (options.suite !== undefined) args.push("-ciphersuites", options.suite);
  if (options.tls === "1.0" || options.tls === "1.1") args.push("-cipher", "ALL:@SECLEVEL=0");
  // stdin closed at once: s_client ends the connection after the handshake.
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn("openssl", args, { stdio: ["pipe", "pipe", "pipe"], timeout: 10_000 });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => chunks.push(c));
    child.stderr.on("data", (c: Buffer) => chunks.push(c));
    child.once("error", reject);
    child.once("close", () => resolve(Buffer.concat(chunks).toString("utf8")));
    child.stdin.end();
  });
  // -brief prints "Ciphersuite: NAME" once the handshake completed; nothing of it otherwise.
  return /Ciphersuite: (\S+)/.exec(output)?.[1];
}

/** Runs `work` over `items`, `width` at a time (the suites are many; each is a process). */
async function inBatches<T, R>(items: T[], width: number, work: (t: T) => Promise<R>) {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width) {
    out.push(...(await Promise.all(items.slice(i, i + width).map(work))));
  }
  return out;
}

const AEAD = /^(AESGCM|CHACHA20\/POLY1305)/;

describe("openssl s_client against `serve`", () => {
  const servers: RunningCli[] = [];
  const ports: Partial<Record<KeyAlgorithm, number>> = {};
  let suites: Suite[];

  beforeAll(async () => {
    suites = await tls12Suites();
    for (const algorithm of ["ECDSA-P256", "RSA-2048"] as const) {
      const files = await certificateFiles(
        await pair(algorithm, Date.now() - HOUR, Date.now() + HOUR),
      );
      const cli = await startCli([], {}, files);
      servers.push(cli);
      ports[algorithm] = cli.port;
    }
  });
  afterAll(async () => {
    for (const cli of servers) {
      cli.child.kill("SIGTERM");
      await cli.exited;
    }
  });

  it("this OpenSSL offers the weak suites the server must refuse (the test can fail)", () => {
    const names = suites.map((s) => s.name);
    expect(suites.length).toBeGreaterThan(50);
    // Static RSA, CBC, CCM8 and ARIA: what Node's default list accepted before.
    expect(names).toEqual(
      expect.arrayContaining([
        "AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-SHA",
        "ECDHE-ECDSA-AES128-CCM8",
        "ECDHE-ECDSA-ARIA128-GCM-SHA256",
      ]),
    );
  });

  it.each([
    {
      algorithm: "ECDSA-P256" as const,
      expected: [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
      ],
    },
    {
      algorithm: "RSA-2048" as const,
      expected: [
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-RSA-CHACHA20-POLY1305",
      ],
    },
  ])(
    "TLS 1.2 with an $algorithm certificate accepts only ECDHE with AEAD, of every suite offered one at a time",
    async ({ algorithm, expected }) => {
      const port = ports[algorithm] as number;
      const results = await inBatches(suites, 8, async (suite) => ({
        suite,
        negotiated: await handshake(port, { tls: "1.2", cipher: suite.name }),
      }));
      const accepted = results.filter((r) => r.negotiated !== undefined);
      process.stdout.write(
        `[tls] ${algorithm}: ${results.length} TLS 1.2 suites offered one at a time, accepted ${accepted.length}: ${accepted.map((r) => r.suite.name).join(", ")}\n`,
      );
      expect(accepted.map((r) => r.negotiated).sort()).toEqual([...expected].sort());
      for (const { suite } of accepted) {
        expect(suite.kx).toBe("ECDH");
        expect(suite.enc).toMatch(AEAD);
      }
      // Every accepted suite is in the configured list, and the list has nothing else.
      expect(TLS12_CIPHERS.split(":")).toEqual(expect.arrayContaining(expected));
    },
    120_000,
  );

  it.each([
    ["TLS_AES_128_GCM_SHA256", true],
    ["TLS_AES_256_GCM_SHA384", true],
    ["TLS_CHACHA20_POLY1305_SHA256", true],
    ["TLS_AES_128_CCM_SHA256", false],
    ["TLS_AES_128_CCM_8_SHA256", false],
  ])("TLS 1.3 keeps OpenSSL's defaults: %s accepted=%s", async (suite, accepted) => {
    const negotiated = await handshake(ports["ECDSA-P256"] as number, { tls: "1.3", suite });
    expect(negotiated).toBe(accepted ? suite : undefined);
  });

  it.each(["1.0", "1.1"] as const)("TLS %s is refused", async (tls) => {
    expect(await handshake(ports["ECDSA-P256"] as number, { tls })).toBeUndefined();
  });
});

describe("a pair that is not valid now", () => {
  it.each([
    {
      what: "expired",
      from: Date.parse("2020-01-01T00:00:00Z"),
      to: Date.parse("2020-03-01T00:00:00Z"),
      message: /the certificate expired at 2020-03-01T00:00:00\.000Z/,
    },
    {
      what: "not yet valid",
      from: Date.now() + 24 * HOUR,
      to: Date.now() + 48 * HOUR,
      message: /the certificate is not valid before /,
    },
  ])(
    "$what: `serve` refuses to start with it, exit 2 naming the reason",
    async ({ from, to, message }) => {
      const files = await certificateFiles(await pair("ECDSA-P256", from, to));
      try {
        const result = await runCli([
          "serve",
          "--listen",
          "127.0.0.1:0",
          "--health-listen",
          "127.0.0.1:0",
          "--tls-cert-file",
          files.certFile,
          "--tls-key-file",
          files.keyFile,
        ]);
        expect(result.code).toBe(2);
        expect(result.stderr).toMatch(/^ca-trust-webhook: --tls-cert-file\/--tls-key-file: /);
        expect(result.stderr).toMatch(message);
        expect(result.stderr).not.toContain("BEGIN");
      } finally {
        rmSync(files.dir, { recursive: true, force: true });
      }
    },
  );

  it("written over a good pair while running: the good pair stays served, logged and counted; a valid one is loaded", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ctw-tls-"));
    const certFile = join(dir, "tls.crt");
    const keyFile = join(dir, "tls.key");
    const write = (leaf: IssuedCertificate) => {
      for (const [file, text] of [
        [certFile, leaf.certificatePem],
        [keyFile, leaf.privateKeyPem],
      ] as const) {
        writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
        renameSync(`${file}.tmp`, file);
      }
    };
    const good = await pair("ECDSA-P256", Date.now() - HOUR, Date.now() + HOUR);
    write(good.leaf);
    const lines: string[] = [];
    const logger = createLogger("info", { write: (line: string) => lines.push(line) });
    const metrics = createMetrics({ processMetrics: false });
    const reloader = new CertificateReloader({
      certFile,
      keyFile,
      intervalMs: 60_000, // checked by hand below
      minVersion: "TLSv1.2",
      logger,
      metrics,
    });
    const app = buildServer(
      {
        https: reloader.secureContextOptions(),
        requestTimeoutMs: 5_000,
        keepAliveTimeoutMs: 5_000,
      },
      { logger, metrics, validate: allowAll, mutate: allowAll },
    );
    try {
      await app.listen({ host: "127.0.0.1", port: 0 });
      reloader.attach(app.server as unknown as HttpsServer);
      const port = (app.server.address() as { port: number }).port;
      const served = () =>
        new Promise<string>((resolve, reject) => {
          const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
            resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? "");
            socket.end();
          });
          socket.once("error", reject);
        });
      const fingerprint = (leaf: IssuedCertificate) =>
        new X509Certificate(leaf.certificatePem).fingerprint256;
      const rejected = async () =>
        (await metrics.certificateReloads.get()).values.find((v) => v.labels.result === "rejected")
          ?.value ?? 0;

      const expired = await pair(
        "ECDSA-P256",
        Date.parse("2020-01-01T00:00:00Z"),
        Date.parse("2020-03-01T00:00:00Z"),
        good.ca,
      );
      write(expired.leaf);
      await reloader.check();
      expect(await served()).toBe(fingerprint(good.leaf));
      expect(await rejected()).toBe(1);
      expect(lines.join("")).toContain("the certificate expired at 2020-03-01T00:00:00.000Z");

      const early = await pair("ECDSA-P256", Date.now() + HOUR, Date.now() + 2 * HOUR, good.ca);
      write(early.leaf);
      await reloader.check();
      await reloader.check(); // the same rejected pair is counted and logged once
      expect(await served()).toBe(fingerprint(good.leaf));
      expect(await rejected()).toBe(2);
      expect(lines.join("")).not.toContain("BEGIN");
      expect(reloader.health()).toEqual({ ok: true });

      const next = await pair("ECDSA-P256", Date.now() - HOUR, Date.now() + HOUR, good.ca);
      write(next.leaf);
      await reloader.check();
      expect(await served()).toBe(fingerprint(next.leaf));
    } finally {
      reloader.stop();
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("who else may read the key", () => {
  const OURS = [65532];
  it.each([
    { mode: "0600", gid: 0, kind: "key" as const, expected: "" },
    { mode: "0400", gid: 0, kind: "key" as const, expected: "" },
    // Kubernetes: a Secret volume with defaultMode 0440, group-owned by the Pod's fsGroup.
    { mode: "0440", gid: 65532, kind: "key" as const, expected: "" },
    { mode: "0440", gid: 100, kind: "key" as const, expected: "mode 0440: readable by group 100" },
    {
      mode: "0644",
      gid: 65532,
      kind: "key" as const,
      expected: "mode 0644: readable by every user",
    },
    {
      mode: "0666",
      gid: 65532,
      kind: "key" as const,
      expected: "mode 0666: readable and writable by every user",
    },
    {
      mode: "0777",
      gid: 7,
      kind: "key" as const,
      expected: "mode 0777: readable and writable by every user, readable by group 7",
    },
    { mode: "0644", gid: 0, kind: "certificate" as const, expected: "" },
    {
      mode: "0646",
      gid: 0,
      kind: "certificate" as const,
      expected: "mode 0646: writable by every user",
    },
    {
      mode: "0664",
      gid: 100,
      kind: "certificate" as const,
      expected: "mode 0664: writable by group 100",
    },
  ])('a $kind file of mode $mode, group $gid: "$expected"', ({ mode, gid, kind, expected }) => {
    const bits = 0o100000 | Number.parseInt(mode, 8); // a regular file
    expect(fileExposure({ mode: bits, gid }, OURS, kind)).toBe(expected);
  });

  it("a world-readable key file is reported once, by path and mode, and still served", async () => {
    const files = await certificateFiles();
    chmodSync(files.keyFile, 0o644);
    const lines: string[] = [];
    const reloader = new CertificateReloader({
      certFile: files.certFile,
      keyFile: files.keyFile,
      intervalMs: 60_000,
      minVersion: "TLSv1.2",
      logger: createLogger("info", { write: (line: string) => lines.push(line) }),
      metrics: createMetrics({ processMetrics: false }),
    });
    try {
      await reloader.check();
      await reloader.check();
      const warnings = lines.filter((l) => l.includes('"event":"file-exposed"'));
      expect(warnings).toHaveLength(1);
      expect(JSON.parse(warnings[0] as string)).toMatchObject({
        level: "warn",
        file: files.keyFile,
        exposure: "mode 0644: readable by every user",
      });
      chmodSync(files.keyFile, 0o600);
      await reloader.check();
      expect(lines.filter((l) => l.includes('"event":"file-exposed"'))).toHaveLength(1);
    } finally {
      reloader.stop();
      rmSync(files.dir, { recursive: true, force: true });
    }
  });
});
