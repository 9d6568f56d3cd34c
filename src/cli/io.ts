/**
 * What the offline commands (`check`, `inject`, `scan`) touch outside themselves: output
 * streams, stdin, the environment, the clock and the Kubernetes API. Passed in as one object so
 * that unit tests run the commands in-process against strings and a fake API, and `main.ts`
 * wires the real process to them in one line.
 */
import { loadKubeConfig } from "../kube/cluster.js";
import { clientReader, type KubeReader } from "./kube.js";

/** Where to find the cluster, as kubectl's `--kubeconfig` and `--context`. */
export interface ClusterTarget {
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
}

/** A connection to the cluster: the reader and the namespace of the kubeconfig's context. */
export interface ClusterConnection {
  readonly reader: KubeReader;
  /** The current context's namespace, used for objects without one (as kubectl does). */
  readonly namespace: string | undefined;
}

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** All of stdin as UTF-8 (read once, for `-f -`). */
  readonly readStdin: () => Promise<string>;
  readonly env: NodeJS.ProcessEnv;
  /** "Now" for certificate validity windows. */
  readonly clock: () => Date;
  /** Connects to the cluster; throws a UsageError when no kubeconfig can be found. */
  readonly connect: (target: ClusterTarget) => ClusterConnection;
}

/** A mistake in how the command was called (or an unreadable input): exit code 2. */
export class UsageError extends Error {}

/** The real process: stdout/stderr, stdin, the environment, the wall clock, client-node. */
export function processIo(env: NodeJS.ProcessEnv): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    },
    env,
    clock: () => new Date(),
    connect: (target) => connectKube(target, env),
  };
}

/** Loads the kubeconfig as kubectl does and selects `--context`; a UsageError if impossible. */
export function connectKube(target: ClusterTarget, env: NodeJS.ProcessEnv): ClusterConnection {
  let kc: ReturnType<typeof loadKubeConfig>;
  try {
    kc = loadKubeConfig(target.kubeconfig, env);
  } catch (error) {
    throw new UsageError(`--kubeconfig: ${(error as Error).message.split("\n")[0]}`);
  }
  if (kc === undefined) {
    throw new UsageError(
      "no Kubernetes API configured (--kubeconfig, KUBECONFIG, in-cluster or ~/.kube/config)",
    );
  }
  if (target.context !== undefined) {
    if (kc.getContextObject(target.context) === null) {
      throw new UsageError(`--context: no context "${target.context}" in the kubeconfig`);
    }
    kc.setCurrentContext(target.context);
  }
  const namespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
  return { reader: clientReader(kc), namespace: namespace || undefined };
}
