import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { OPTIONS, SECTIONS } from "../../src/config.js";
import { postHttps } from "./client.js";
import { review } from "./helpers.js";
import { certificateFiles, type RunningCli, runCli, startCli } from "./process.js";

const running: RunningCli[] = [];
afterEach(() => {
  for (const cli of running.splice(0)) if (cli.child.exitCode === null) cli.child.kill("SIGKILL");
});

const getText = async (port: number, path: string) => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, text: await res.text() };
};

describe("ca-trust-webhook serve (the built CLI)", () => {
  it("lists every option with its default in --help, by section", async () => {
    const { code, stdout } = await runCli(["serve", "--help"]);
    expect(code).toBe(0);
    for (const option of OPTIONS) {
      expect(stdout).toContain(
        option.flag === undefined ? `(file) ${option.key}` : `--${option.flag} <`,
      );
      if (option.default) expect(stdout).toContain(`[default: ${option.default};`);
    }
    for (const section of Object.values(SECTIONS)) expect(stdout).toContain(`\n${section}\n`);
  });

  it.each([
    ["a listen address without a port", ["--listen", "localhost"], "--listen"],
    ["an unknown TLS version", ["--tls-min-version", "1.1"], "--tls-min-version"],
    ["a duration without a unit", ["--request-timeout", "10"], "--request-timeout"],
    ["an unknown flag", ["--listne", "x"], "listne"],
    ["a missing key file", ["--tls-key-file", "/nonexistent/key.pem"], "--tls-key-file"],
  ])("stops with exit 2 and one line naming the option for %s", async (_name, args, option) => {
    const files = await certificateFiles();
    const { code, stderr } = await runCli([
      "serve",
      "--tls-cert-file",
      files.certFile,
      "--tls-key-file",
      files.keyFile,
      ...args,
    ]);
    expect(code).toBe(2);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain(option);
  });

  it("stops with exit 2 for a bad value in the --config file, naming the key", async () => {
    const files = await certificateFiles();
    const config = join(files.dir, "config.yaml");
    writeFileSync(config, "keepAliveTimeout: forever\n");
    const { code, stderr } = await runCli([
      "serve",
      "--tls-cert-file",
      files.certFile,
      "--tls-key-file",
      files.keyFile,
      "--config",
      config,
    ]);
    expect(code).toBe(2);
    expect(stderr).toContain("--keep-alive-timeout");
  });

  it("reads options from the environment", async () => {
    const files = await certificateFiles();
    const { code, stderr } = await runCli(
      ["serve", "--tls-cert-file", files.certFile, "--tls-key-file", files.keyFile],
      {
        CA_TRUST_WEBHOOK_TLS_MIN_VERSION: "1.1",
      },
    );
    expect(code).toBe(2);
    expect(stderr).toContain("--tls-min-version");
  });

  it("lets a flag win over the environment", async () => {
    const cli = await startCli(["--tls-min-version", "1.3"], {
      CA_TRUST_WEBHOOK_TLS_MIN_VERSION: "1.1",
    });
    running.push(cli);
    expect(cli.stdout()).toContain('"tlsMinVersion":"1.3"');
  });

  it("starts without a kubeconfig, answers, and /metrics shows the counters moving", async () => {
    const cli = await startCli();
    running.push(cli);
    expect((await getText(cli.healthPort, "/healthz")).status).toBe(200);
    // Validation needs the cluster's Secrets: without a kubeconfig the server says why it is not ready.
    const ready = await getText(cli.healthPort, "/readyz");
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.text).checks).toEqual([
      { name: "certificate", ok: true },
      { name: "shutdown", ok: true },
      {
        name: "cluster",
        ok: false,
        reason: expect.stringContaining("no Kubernetes API configured"),
      },
    ]);
    const count = async () => {
      const m =
        /ca_trust_webhook_admission_requests_total\{webhook="validate",operation="CREATE",decision="allowed"\} (\d+)/.exec(
          (await getText(cli.healthPort, "/metrics")).text,
        );
      return m ? Number(m[1]) : 0;
    };
    const before = await count();
    const res = await postHttps(cli.port, "/validate", JSON.stringify(review({ uid: "m1" })), {
      ca: cli.ca,
    });
    expect(res.status).toBe(200);
    expect(await count()).toBe(before + 1);
    const metrics = (await getText(cli.healthPort, "/metrics")).text;
    expect(metrics).toMatch(
      /ca_trust_webhook_admission_duration_seconds_bucket\{le="0\.001",webhook="validate"\}/,
    );
    expect(metrics).toMatch(/ca_trust_webhook_serving_certificate_not_after_seconds \d+/);
    // One JSON log line per review, with identifiers only.
    const line = cli
      .stdout()
      .split("\n")
      .find((l) => l.includes('"uid":"m1"'));
    expect(JSON.parse(line ?? "{}")).toMatchObject({
      msg: "review",
      kind: "Pod",
      namespace: "team-a",
      operation: "CREATE",
      decision: "allowed",
    });
  });

  it("finishes 50 slow in-flight requests after SIGTERM, then exits 0", async () => {
    const cli = await startCli();
    running.push(cli);
    const bodies = Array.from({ length: 50 }, (_, i) =>
      JSON.stringify(review({ uid: `slow-${i}` })),
    );
    // Each request sends its headers and half its body, then waits: it is in flight.
    const sockets = await Promise.all(
      bodies.map(
        (body) =>
          new Promise<ReturnType<typeof connect>>((resolve, reject) => {
            const socket = connect({ host: "127.0.0.1", port: cli.port, ca: cli.ca }, () => {
              socket.write(
                `POST /validate HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 100)}`,
              );
              resolve(socket);
            });
            socket.on("error", reject);
          }),
      ),
    );
    const answers = sockets.map(
      (socket) =>
        new Promise<string>((resolve) => {
          let data = "";
          socket.on("data", (d: Buffer) => {
            data += d.toString();
          });
          socket.on("close", () => resolve(data));
          socket.on("error", () => resolve(data));
        }),
    );
    await new Promise((r) => setTimeout(r, 200));
    cli.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    // New connections are no longer accepted while the in-flight ones are finishing.
    const refused = await new Promise<boolean>((resolve) => {
      const s = connect({ host: "127.0.0.1", port: cli.port, ca: cli.ca }, () => {
        s.destroy();
        resolve(false);
      });
      s.on("error", () => resolve(true));
    });
    expect(refused).toBe(true);
    sockets.forEach((socket, i) => {
      socket.end((bodies[i] ?? "").slice(100));
    });
    const texts = await Promise.all(answers);
    texts.forEach((text, i) => {
      expect(text).toMatch(/^HTTP\/1\.1 200 /);
      expect(text).toContain(`"uid":"slow-${i}"`);
    });
    expect(await cli.exited).toBe(0);
  });
});
