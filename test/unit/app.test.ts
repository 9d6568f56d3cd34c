import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type App, createApp } from "../../src/app.js";
import { ConfigError, loadServeConfig } from "../../src/config.js";
import { silentLogger } from "../../src/observability/logger.js";
import { postHttps } from "../http/client.js";
import { review, servingPair } from "../http/helpers.js";

const apps: App[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.stop("test");
});

/** A serving pair on disk, and the CA a client trusts it with. */
async function files(): Promise<{ dir: string; cert: string; key: string; ca: string }> {
  const dir = mkdtempSync(join(tmpdir(), "ctw-app-"));
  const { ca, leaf } = await servingPair();
  writeFileSync(join(dir, "tls.crt"), leaf.certificatePem);
  writeFileSync(join(dir, "tls.key"), leaf.privateKeyPem);
  return { dir, cert: join(dir, "tls.crt"), key: join(dir, "tls.key"), ca: ca.certificatePem };
}

/** A kubeconfig whose API server is a closed loopback port. */
function kubeconfigNowhere(dir: string): void {
  const path = join(dir, "kubeconfig");
  writeFileSync(
    path,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]",
      "users: [{name: u, user: {token: t}}]",
      "contexts: [{name: x, context: {cluster: c, user: u}}]",
      "current-context: x",
    ].join("\n"),
  );
}

async function start(args: string[], prepare: (dir: string) => void = () => {}) {
  const f = await files();
  prepare(f.dir);
  const config = loadServeConfig(
    [
      "--listen=127.0.0.1:0",
      "--health-listen=127.0.0.1:0",
      `--tls-cert-file=${f.cert}`,
      `--tls-key-file=${f.key}`,
      ...args.map((a) => a.replace("$DIR", f.dir)),
    ],
    {},
  );
  const app = await createApp(config, { env: { HOME: f.dir }, logger: silentLogger() });
  apps.push(app);
  await app.start();
  const port = (address: string) => Number(address.slice(address.lastIndexOf(":") + 1));
  const { webhook, health } = app.addresses();
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${port(health)}${path}`);
    return { status: res.status, text: await res.text() };
  };
  return { app, ca: f.ca, webhookPort: port(webhook), get, dir: f.dir };
}

describe("createApp (files mode, in-process)", () => {
  it("serves reviews and health without a Kubernetes API, not ready, saying why", async () => {
    const { webhookPort, ca, get } = await start([]);

    expect(await get("/healthz")).toEqual({ status: 200, text: "ok" });
    const ready = await get("/readyz");
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.text).checks).toEqual([
      { name: "certificate", ok: true },
      { name: "shutdown", ok: true },
      { name: "cluster", ok: false, reason: expect.stringContaining("no Kubernetes API") },
    ]);
    const answer = await postHttps(webhookPort, "/validate", JSON.stringify(review()), { ca });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).response).toMatchObject({
      uid: "705ab4f5-6393-11e8-b7cc-42010a800002",
      allowed: true,
    });
    expect((await get("/metrics")).text).toMatch(
      /ca_trust_webhook_admission_requests_total\{webhook="validate",operation="CREATE",decision="allowed"\} 1/,
    );
  });

  it("with a kubeconfig pointing nowhere: not ready, naming the caches and the error", async () => {
    const { get } = await start(["--kubeconfig=$DIR/kubeconfig"], kubeconfigNowhere);

    expect((await get("/healthz")).status).toBe(200);
    await vi.waitFor(
      async () => {
        const cluster = JSON.parse((await get("/readyz")).text).checks.find(
          (c: { name: string }) => c.name === "cluster",
        );
        expect(cluster.ok).toBe(false);
        expect(cluster.reason).toMatch(/^caches not synced: flag-configmap \(ECONNREFUSED\)/);
        expect(cluster.reason).toContain("namespaces (ECONNREFUSED)");
      },
      { timeout: 10_000, interval: 100 },
    );
  });

  it("stops: not ready at once, then closes both listeners", async () => {
    const { app, get } = await start(["--shutdown-delay=200ms"]);

    const stopped = app.stop("SIGTERM");
    const ready = JSON.parse((await get("/readyz")).text);
    expect(ready.checks).toContainEqual({ name: "shutdown", ok: false, reason: "shutting down" });
    expect(await stopped).toBe(true);
    await expect(get("/healthz")).rejects.toThrow();
  });
});

describe("createApp refuses what the configuration points at but cannot be used", () => {
  it.each([
    [
      "unusable certificate files",
      ["--tls-cert-file=/nonexistent.crt"],
      "--tls-cert-file/--tls-key-file: cannot use",
    ],
    [
      "an unreadable client CA",
      ["--client-ca-file=/nonexistent-ca.pem"],
      "--client-ca-file: cannot read",
    ],
    ["an unreadable kubeconfig", ["--kubeconfig=/nonexistent-kubeconfig"], "--kubeconfig"],
  ])("%s", async (_name, args, message) => {
    const f = await files();
    const config = loadServeConfig(
      [`--tls-cert-file=${f.cert}`, `--tls-key-file=${f.key}`, ...args],
      {},
    );
    const created = createApp(config, { env: { HOME: f.dir }, logger: silentLogger() });
    await expect(created).rejects.toThrow(ConfigError);
    await expect(created).rejects.toThrow(message);
  });

  it.each([
    ["without an API", [], "--certificate-mode self-managed: no Kubernetes API configured"],
    [
      "with a rotation that cannot fit in the CA lifetime",
      ["--ca-lifetime=60s", "--serving-certificate-lifetime=30s", "--ca-retire-delay=50s"],
      "--ca-lifetime/--ca-publish-delay/--ca-retire-delay:",
    ],
  ])("self-managed certificates %s", async (_name, args, message) => {
    const dir = mkdtempSync(join(tmpdir(), "ctw-app-"));
    const config = loadServeConfig(
      ["--certificate-mode=self-managed", "--namespace=trust", ...args],
      {},
    );
    const created = createApp(config, { env: { HOME: dir }, logger: silentLogger() });
    await expect(created).rejects.toThrow(ConfigError);
    await expect(created).rejects.toThrow(message);
  });
});
