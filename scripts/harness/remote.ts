/**
 * A loopback control channel from the test workers to the process that owns the control plane
 * (vitest's main process, where global setup runs). vitest's `provide` only flows one way, yet
 * a reliability test must stop and restart kube-apiserver, and the owner must know about every
 * webhook server a worker spawns so that it can kill them if the worker dies. Plain HTTP on
 * 127.0.0.1 with a random bearer token.
 */
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { trackGroup, untrackGroup } from "./children.js";
import type { OwnedControlPlane } from "./controlplane.js";

/** The running channel. */
export interface ControlServer {
  url: string;
  token: string;
  close(): Promise<void>;
}

/** Serves `POST /stop-apiserver`, `/start-apiserver`, `/track?pid=&name=`, `/untrack?pid=`. */
export async function serveControl(cp: OwnedControlPlane): Promise<ControlServer> {
  const token = randomBytes(16).toString("hex");
  // Start/stop requests are serialised: two overlapping restarts would race on the port.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const run = queue.then(task, task);
    queue = run.catch(() => {});
    return run;
  };
  const server: Server = createServer((req, res) => {
    const reply = (status: number, text: string) => {
      res.writeHead(status, { "content-type": "text/plain" });
      res.end(text);
    };
    if (req.headers.authorization !== `Bearer ${token}`) return reply(401, "unauthorized");
    if (req.method !== "POST") return reply(405, "POST only");
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const pid = Number(url.searchParams.get("pid"));
    switch (url.pathname) {
      case "/stop-apiserver":
      case "/start-apiserver": {
        const action =
          url.pathname === "/stop-apiserver" ? () => cp.stopApiServer() : () => cp.startApiServer();
        serial(action).then(
          () => reply(200, "ok"),
          (error: unknown) => reply(500, error instanceof Error ? error.message : String(error)),
        );
        return;
      }
      case "/track":
        if (!Number.isInteger(pid) || pid <= 1) return reply(400, "pid");
        trackGroup(pid, url.searchParams.get("name") ?? "worker child");
        return reply(200, "ok");
      case "/untrack":
        untrackGroup(pid);
        return reply(200, "ok");
      default:
        return reply(404, "not found");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  server.unref();
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * Tells the owning process about a process group spawned in a worker (or that it has ended).
 * A no-op without a channel; a failure is ignored because the worker's own exit hook still
 * kills the group.
 */
export async function reportGroup(
  control: { url: string; token: string } | undefined,
  action: "track" | "untrack",
  pid: number,
  name: string,
): Promise<void> {
  if (control === undefined) return;
  const query = new URLSearchParams({ pid: String(pid), name });
  await fetch(`${control.url}/${action}?${query}`, {
    method: "POST",
    headers: { authorization: `Bearer ${control.token}` },
  }).catch(() => {});
}
