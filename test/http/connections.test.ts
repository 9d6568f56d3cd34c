/**
 * Connection limits on a real HTTPS listener: sockets that never speak TLS, or never send a
 * request, are closed; at --max-connections an idle socket makes room for a new one (one that
 * never finished TLS before one that did), and a connection is refused only when every open one
 * has sent a request.
 */
import { Agent } from "node:https";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ServerLimits } from "../../src/server.js";
import { postHttps } from "./client.js";
import { review, servingPair, testServer } from "./helpers.js";

let pair: Awaited<ReturnType<typeof servingPair>>;
let server: ReturnType<typeof testServer> | undefined;
const sockets: Socket[] = [];
const agents: Agent[] = [];

beforeAll(async () => {
  pair = await servingPair();
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const a of agents.splice(0)) a.destroy();
  await server?.app.close();
  server = undefined;
});

async function listen(limits: Partial<ServerLimits>): Promise<number> {
  server = testServer({}, { cert: pair.leaf.certificatePem, key: pair.leaf.privateKeyPem }, limits);
  await server.app.listen({ host: "127.0.0.1", port: 0 });
  return (server.app.server.address() as { port: number }).port;
}

/** A TCP connection that never says anything; resolves once connected. */
async function idleTcp(port: number): Promise<Socket> {
  const socket = netConnect(port, "127.0.0.1");
  socket.on("error", () => {});
  sockets.push(socket);
  await new Promise((resolve) => socket.once("connect", resolve));
  return socket;
}

/**
 * A TLS connection that finishes its handshake and then sends nothing. TLS 1.2, because there
 * the server has seen the whole handshake when the client's `secureConnect` fires (with TLS 1.3
 * the client's Finished may still be on its way, and the server would count the connection as
 * not past its handshake yet).
 */
async function idleTls(port: number): Promise<Socket> {
  const socket = tlsConnect({
    port,
    host: "127.0.0.1",
    ca: pair.ca.certificatePem,
    maxVersion: "TLSv1.2",
  });
  socket.on("error", () => {});
  sockets.push(socket);
  await new Promise((resolve) => socket.once("secureConnect", resolve));
  return socket;
}

const closed = (socket: Socket) =>
  new Promise<void>((resolve) => {
    if (socket.destroyed || socket.readyState === "closed") resolve();
    else socket.once("close", () => resolve());
  });

async function metric(name: string, labels = ""): Promise<number> {
  const text = (await server?.metrics.registry.getSingleMetricAsString(name)) ?? "";
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

async function until(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(await condition()).toBe(true);
}

const post = (port: number, agent?: Agent, uid = "c-1") =>
  postHttps(port, "/validate", JSON.stringify(review({ uid })), {
    ca: pair.ca.certificatePem,
    ...(agent ? { agent } : {}),
  });

function keepAlive(): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: pair.ca.certificatePem });
  agents.push(agent);
  return agent;
}

describe("idle connections", () => {
  it("closes a connection that never starts TLS at --tls-handshake-timeout", async () => {
    const port = await listen({ tlsHandshakeTimeoutMs: 200, firstRequestTimeoutMs: 600_000 });
    await closed(await idleTcp(port));
  });

  it("closes a TLS connection that sends no request at --first-request-timeout", async () => {
    const port = await listen({ tlsHandshakeTimeoutMs: 600_000, firstRequestTimeoutMs: 200 });
    await closed(await idleTls(port));
    expect(await metric("ca_trust_webhook_connections_closed_total", '{reason="idle"}')).toBe(1);
  });

  it("leaves a keep-alive connection that has sent a request to --keep-alive-timeout", async () => {
    const port = await listen({ firstRequestTimeoutMs: 100 });
    const agent = keepAlive();
    expect((await post(port, agent)).status).toBe(200);
    // Well past the first-request timeout, the same socket still serves.
    await new Promise((r) => setTimeout(r, 600));
    const again = await post(port, agent, "c-2");
    expect(again.status).toBe(200);
    expect(again.reusedSocket).toBe(true);
  });
});

describe("--max-connections", () => {
  it("closes the oldest connection that has sent no request to let a new one in", async () => {
    const port = await listen({ maxConnections: 5, firstRequestTimeoutMs: 600_000 });
    const idle = [];
    for (let i = 0; i < 5; i++) idle.push(await idleTcp(port));
    await until(async () => (await metric("ca_trust_webhook_open_connections")) === 5);
    expect((await post(port)).status).toBe(200);
    await closed(idle[0] as Socket);
    expect(idle.slice(1).every((s) => !s.destroyed)).toBe(true);
    expect(await metric("ca_trust_webhook_connections_closed_total", '{reason="evicted"}')).toBe(1);
  });

  it("makes room from the sockets that never finished TLS before a connection that did (a client's pooled one)", async () => {
    const port = await listen({ maxConnections: 3, firstRequestTimeoutMs: 600_000 });
    // The oldest: past its handshake, no request yet (what Go's transport keeps in its pool
    // after dialing for a burst that another connection served).
    const pooled = await idleTls(port);
    const idle = [await idleTcp(port), await idleTcp(port)];
    await until(async () => (await metric("ca_trust_webhook_open_connections")) === 3);
    expect((await post(port)).status).toBe(200);
    await closed(idle[0] as Socket);
    expect(pooled.destroyed).toBe(false);
    expect(idle[1]?.destroyed).toBe(false);
    expect(await metric("ca_trust_webhook_connections_closed_total", '{reason="evicted"}')).toBe(1);
  });

  it("makes room from the connections past their handshake, oldest first, when no other is left", async () => {
    const port = await listen({ maxConnections: 2, firstRequestTimeoutMs: 600_000 });
    const pooled = [await idleTls(port), await idleTls(port)];
    expect((await post(port)).status).toBe(200);
    await closed(pooled[0] as Socket);
    expect(pooled[1]?.destroyed).toBe(false);
    expect(await metric("ca_trust_webhook_connections_closed_total", '{reason="evicted"}')).toBe(1);
  });

  it("refuses a new connection only when every open one has sent a request", async () => {
    const port = await listen({ maxConnections: 2, firstRequestTimeoutMs: 600_000 });
    const [a, b] = [keepAlive(), keepAlive()];
    expect((await post(port, a, "a")).status).toBe(200);
    expect((await post(port, b, "b")).status).toBe(200);
    await closed(await idleTcp(port));
    expect(await metric("ca_trust_webhook_connections_closed_total", '{reason="limit"}')).toBe(1);
    // The connections that were there keep serving.
    expect((await post(port, a, "a2")).reusedSocket).toBe(true);
  });
});
