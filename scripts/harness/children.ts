/**
 * Child processes of the e2e harness (etcd, kube-apiserver, our webhook server): each one is
 * spawned `detached`, so it leads its own process group and can be killed as a group without
 * touching vitest, and it writes stdout/stderr straight into a log file (no pipes that could
 * fill up while the test process is busy).
 *
 * Nothing may outlive a test run: every live group and every temp dir is recorded here, and a
 * process `exit` hook plus SIGINT/SIGTERM/SIGHUP handlers kill and remove them even when a
 * test fails or the run is interrupted (vitest answers SIGINT with `process.exit()`, so global
 * teardown does not run then; the `exit` hook does). Only SIGKILL of the test process itself
 * escapes all that: for that case each temp dir records its owner and its children
 * (`.owner`, `.pids`), and {@link reapOrphans} at the start of the next run kills what a dead
 * owner left behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** Every harness temp dir starts with this (in `os.tmpdir()`). */
export const TEMP_PREFIX = "ca-trust-e2e-";

/** Environment for every child: loopback must never go through a proxy. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const noProxy = ["127.0.0.1", "localhost", process.env.NO_PROXY, process.env.no_proxy]
    .filter((v): v is string => typeof v === "string" && v !== "")
    .join(",");
  return { ...process.env, NO_PROXY: noProxy, no_proxy: noProxy, ...extra };
}

/** How a {@link LoggedChild} ended. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A detached child process whose output goes to `logPath`. */
export interface LoggedChild {
  /** Short name used in messages (`etcd`, `kube-apiserver`, `webhook`). */
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<ChildExit>;
  /** `undefined` while running. */
  exit(): ChildExit | undefined;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<ChildExit>;
}

const liveGroups = new Map<number, string>();
const tempDirs = new Set<string>();
let hooksInstalled = false;

/** Sends `signal` to the process group `pgid`; a group that is already gone is not an error. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Records a process group that some other process started (a webhook server spawned by a test
 * worker), so that this process kills it on exit too.
 */
export function trackGroup(pgid: number, name: string): void {
  installExitHooks();
  liveGroups.set(pgid, name);
}

/** Forgets a group recorded with {@link trackGroup} (it was stopped normally). */
export function untrackGroup(pgid: number): void {
  liveGroups.delete(pgid);
}

/** Kills every group still recorded: used by global teardown for groups owned by workers. */
export function killTrackedGroups(): void {
  for (const pgid of liveGroups.keys()) signalGroup(pgid, "SIGKILL");
  liveGroups.clear();
}

/**
 * A fresh temp dir `<tmpdir>/ca-trust-e2e-<name>-XXXXXX`, removed on exit unless removed
 * earlier with {@link removeTempDir}.
 */
export function makeTempDir(name: string): string {
  installExitHooks();
  const dir = mkdtempSync(join(tmpdir(), `${TEMP_PREFIX}${name}-`));
  writeFileSync(join(dir, ".owner"), String(process.pid));
  tempDirs.add(dir);
  return dir;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Kills the process groups and removes the temp dirs of earlier runs whose owner process is
 * gone (it was SIGKILLed). A recorded pid is only killed if its command line still names the
 * dir, so a recycled pid is never hit. Returns the dirs reaped.
 */
export function reapOrphans(): string[] {
  const reaped: string[] = [];
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith(TEMP_PREFIX)) continue;
    const dir = join(tmpdir(), entry);
    const owner = Number(readOrEmpty(join(dir, ".owner")));
    if (!Number.isInteger(owner) || owner <= 0 || isAlive(owner)) continue;
    for (const line of readOrEmpty(join(dir, ".pids")).split("\n")) {
      const pid = Number(line);
      if (!Number.isInteger(pid) || pid <= 1) continue;
      if (readOrEmpty(`/proc/${pid}/cmdline`).includes(dir)) signalGroup(pid, "SIGKILL");
    }
    rmSync(dir, { recursive: true, force: true });
    reaped.push(dir);
  }
  return reaped;
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Removes a temp dir made by {@link makeTempDir}. */
export function removeTempDir(dir: string): void {
  tempDirs.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}

/** Synchronous last resort: SIGTERM, a short pause for logs to flush, SIGKILL, rm -rf. */
function reapEverything(): void {
  const groups = [...liveGroups.keys()];
  for (const pgid of groups) signalGroup(pgid, "SIGTERM");
  if (groups.length > 0) sleepSync(300);
  for (const pgid of groups) signalGroup(pgid, "SIGKILL");
  liveGroups.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** See {@link handleInterrupts}. */
let interruptHandler: ((signal: NodeJS.Signals) => void) | undefined;
let interruptForceAfterMs = 1_000;
let interruptedAt: number | undefined;

/**
 * Lets a long-running owner (`npm run demo`) answer SIGINT/SIGTERM/SIGHUP itself, to stop its
 * children gracefully and say so, instead of the immediate kill below. Only the first signal
 * goes to `handler`. A signal within `forceAfterMs` of it is the same Ctrl-C delivered twice
 * (the terminal signals the whole foreground group and npm forwards it again) and is ignored;
 * a later one (a second Ctrl-C) kills everything at once and exits. The `exit` hook still
 * reaps whatever is left when the process ends, however it ends.
 */
export function handleInterrupts(
  handler: (signal: NodeJS.Signals) => void,
  forceAfterMs = 1_000,
): void {
  installExitHooks();
  interruptHandler = handler;
  interruptForceAfterMs = forceAfterMs;
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", reapEverything);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      if (interruptHandler !== undefined) {
        const now = Date.now();
        if (interruptedAt === undefined) {
          interruptedAt = now;
          interruptHandler(signal);
          return;
        }
        if (now - interruptedAt < interruptForceAfterMs) return;
      }
      reapEverything();
      // Someone else (vitest) may also listen and exit with its own code; if nobody does,
      // behave like the default handler would.
      if (process.listenerCount(signal) <= 1) process.exit(128 + signalNumber(signal));
    });
  }
}

function signalNumber(signal: "SIGINT" | "SIGTERM" | "SIGHUP"): number {
  return { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 }[signal];
}

/** Last `lines` lines of a log file ("" when it does not exist). */
export function logTail(path: string, lines = 40): string {
  if (!existsSync(path)) return "";
  const text = readFileSync(path, "utf8");
  return text
    .split("\n")
    .slice(-lines - 1)
    .join("\n");
}

/** Options for {@link spawnLogged}. */
export interface SpawnLoggedOptions {
  name: string;
  command: string;
  args: readonly string[];
  /**
   * Appended to, so a restarted process keeps the earlier output. Must be inside a dir made by
   * {@link makeTempDir} (the pid is recorded there for {@link reapOrphans}).
   */
  logPath: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Spawns a detached child in its own process group, output appended to `logPath`. */
export function spawnLogged(options: SpawnLoggedOptions): LoggedChild {
  installExitHooks();
  const fd = openSync(options.logPath, "a");
  let child: ChildProcess;
  try {
    child = spawn(options.command, [...options.args], {
      detached: true,
      stdio: ["ignore", fd, fd],
      env: options.env ?? childEnv(),
      cwd: options.cwd,
    });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
  const pid = child.pid;
  if (pid === undefined) {
    throw new Error(`could not spawn ${options.name} (${options.command})`);
  }
  liveGroups.set(pid, options.name);
  appendFileSync(join(dirname(options.logPath), ".pids"), `${pid}\n`);
  let result: ChildExit | undefined;
  const exited = new Promise<ChildExit>((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null) => {
      if (result !== undefined) return;
      result = { code, signal };
      // The leader is gone; anything it left in its group goes too.
      signalGroup(pid, "SIGKILL");
      liveGroups.delete(pid);
      resolve(result);
    };
    child.once("exit", done);
    child.once("error", () => done(null, null));
  });
  // Do not keep the test process alive just because a child runs.
  child.unref();

  const stop = async (graceMs = 10_000): Promise<ChildExit> => {
    if (result !== undefined) return result;
    signalGroup(pid, "SIGTERM");
    const timer = setTimeout(() => signalGroup(pid, "SIGKILL"), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    name: options.name,
    pid,
    logPath: options.logPath,
    exited,
    exit: () => result,
    stop,
  };
}
