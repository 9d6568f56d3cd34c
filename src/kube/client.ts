/**
 * API clients that reuse their connections. client-node 1.4 builds a new `https.Agent` for
 * every request (`KubeConfig.applySecurityAuthentication`), so each GET pays a TCP connection
 * and a TLS handshake, and the sockets linger until they time out
 * (kubernetes-client/javascript#2893). Reading a Secret for every review made that the cost of
 * validation: about 57 ms per GET at 10 in flight on a local apiserver (docs/performance.md).
 * `keepAliveClient` adds a middleware that swaps that agent for a keep-alive one with the same
 * TLS options, kept while those options stay the same (a rotated client certificate, or a CA
 * file that changed on disk, gets a new agent).
 */
import { Agent, type AgentOptions } from "node:https";
import {
  type Configuration,
  createConfiguration,
  type KubeConfig,
  type RequestContext,
  type ResponseContext,
  ServerConfiguration,
} from "@kubernetes/client-node";

/** The agent options that make two agents interchangeable (the credentials and the peer). */
const IDENTITY_OPTIONS = [
  "ca",
  "cert",
  "key",
  "pfx",
  "passphrase",
  "servername",
  "rejectUnauthorized",
] as const;

/** Open connections to the apiserver per client: reviews in flight beyond it queue. */
const MAX_SOCKETS = 32;
/** An agent replaced (new credentials) is destroyed after this, once its requests are done. */
const RETIRE_AFTER_MS = 60_000;

/** One keep-alive agent, replaced when the TLS options client-node computes change. */
export class KeepAliveAgents {
  private current: { agent: Agent; options: AgentOptions } | undefined;

  /** The keep-alive agent for these options (the same one while they do not change). */
  for(options: AgentOptions): Agent {
    const current = this.current;
    if (current !== undefined && sameIdentity(current.options, options)) return current.agent;
    const agent = new Agent({ ...options, keepAlive: true, maxSockets: MAX_SOCKETS });
    if (current !== undefined) {
      // Requests still using the old agent finish; its idle sockets go with it later.
      setTimeout(() => current.agent.destroy(), RETIRE_AFTER_MS).unref();
    }
    this.current = { agent, options };
    return agent;
  }

  /** Closes the sockets (the view stops). */
  destroy(): void {
    this.current?.agent.destroy();
    this.current = undefined;
  }
}

function sameIdentity(a: AgentOptions, b: AgentOptions): boolean {
  return IDENTITY_OPTIONS.every((key) => sameValue(a[key], b[key]));
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => sameValue(item, b[i]));
  }
  return false;
}

/**
 * `kc.makeApiClient(type)`, with the connections kept alive through `agents`. A proxy agent
 * (a cluster with `proxy-url`) is left as client-node made it.
 */
export function keepAliveClient<T>(
  kc: KubeConfig,
  type: new (configuration: Configuration) => T,
  agents: KeepAliveAgents,
): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("No active cluster!");
  return new type(
    createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kc },
      promiseMiddleware: [
        {
          // Runs after client-node has applied the kubeconfig's credentials to the request.
          pre: async (context: RequestContext) => {
            const agent = context.getAgent();
            if (agent?.constructor === Agent)
              context.setAgent(agents.for((agent as Agent).options));
            return context;
          },
          post: async (response: ResponseContext) => response,
        },
      ],
    }),
  );
}
