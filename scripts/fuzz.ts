/**
 * Network fuzzer: sends mutated AdmissionReviews to a running server over real HTTPS
 * keep-alive connections (loopback only), bounded in count and time, and checks that it never
 * answers 5xx, never drops a connection, never crashes, and that its RSS does not grow.
 *
 *   node dist/scripts/fuzz.js [--count 100000] [--seed 1] [--concurrency 8] [--json FILE]
 *                             [--hostile-rate 0.01] [--node-flags "--max-old-space-size=160"]
 *
 * Mutations are seeded (the same seed sends the same requests): JSON-level (a field removed,
 * replaced by a value of another type, deeply nested, huge, an operation or kind changed) and
 * byte-level (truncated, a byte flipped, garbage inserted), plus content-type variations.
 * Hostile shapes (scripts/fuzz/hostile.ts; `--hostile-rate`, default 1 %): a million-element
 * Pod or DataPlane, 3.6 MiB of nesting, 200,000 keys, a 3 MiB string, 4,900 inline
 * certificates, a Secret with 70,000 keys, 12,000 containers, a huge object being deleted; and
 * (3 %) reviews with `__proto__` / `constructor.prototype` keys at a random place. The answer to
 * each hostile request is tallied per shape.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  connectorReview,
  POD_NAMESPACE,
  pathologicalPodReview,
  podReview,
} from "./bench/fixtures.js";
import {
  type HostileRequest,
  hostileShapes,
  LARGE_SHAPES,
  largeRequest,
  pollutedReview,
} from "./fuzz/hostile.js";

/** A small seeded PRNG (mulberry32): reproducible request streams. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const ODD_VALUES: Json[] = [
  null,
  true,
  0,
  -1,
  1e308,
  "",
  "x".repeat(10_000),
  "\u0000\ud800",
  [],
  {},
  [[[[[[]]]]]],
  { __proto: { polluted: true } },
  "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
];

function paths(
  node: Json,
  prefix: (string | number)[] = [],
  out: (string | number)[][] = [],
  depth = 0,
): (string | number)[][] {
  if (depth > 12 || out.length > 2000) return out;
  if (Array.isArray(node))
    node.forEach((v, i) => {
      out.push([...prefix, i]);
      paths(v, [...prefix, i], out, depth + 1);
    });
  else if (node !== null && typeof node === "object")
    for (const [k, v] of Object.entries(node)) {
      out.push([...prefix, k]);
      paths(v, [...prefix, k], out, depth + 1);
    }
  return out;
}

function mutateJson(doc: Json, rnd: () => number): Json {
  const all = paths(doc);
  const path = all[Math.floor(rnd() * all.length)] ?? [];
  const parentPath = path.slice(0, -1);
  const key = path[path.length - 1];
  let parent: Json = doc;
  for (const p of parentPath) parent = (parent as Record<string, Json>)[p as string] ?? null;
  if (parent === null || typeof parent !== "object" || key === undefined) return doc;
  const target = parent as Record<string | number, Json>;
  const choice = Math.floor(rnd() * 6);
  if (choice === 0) {
    if (Array.isArray(target)) target.splice(key as number, 1);
    else delete target[key];
  } else if (choice === 1) {
    target[key] = ODD_VALUES[Math.floor(rnd() * ODD_VALUES.length)] ?? null;
  } else if (choice === 2) {
    let nested: Json = target[key] ?? null;
    for (let i = 0; i < 1 + Math.floor(rnd() * 150); i++) nested = [nested];
    target[key] = nested;
  } else if (choice === 3) {
    target[key] =
      ["CREATE", "UPDATE", "DELETE", "CONNECT", "PATCH", "create"][Math.floor(rnd() * 6)] ?? null;
  } else if (choice === 4) {
    target[key] =
      ["Pod", "Secret", "Connector", "DataPlane", "ClusterDataPlane", "Shard"][
        Math.floor(rnd() * 6)
      ] ?? null;
  } else {
    const copy = JSON.parse(JSON.stringify(target[key] ?? null)) as Json;
    target[`${String(key)}-dup`] = copy;
  }
  return doc;
}

function mutateBytes(text: string, rnd: () => number): Buffer {
  const bytes = Buffer.from(text);
  const choice = Math.floor(rnd() * 3);
  if (choice === 0) return bytes.subarray(0, Math.floor(rnd() * bytes.length));
  if (choice === 1) {
    const copy = Buffer.from(bytes);
    for (let i = 0; i < 1 + Math.floor(rnd() * 8); i++) {
      const at = Math.floor(rnd() * copy.length);
      copy[at] = Math.floor(rnd() * 256);
    }
    return copy;
  }
  const at = Math.floor(rnd() * bytes.length);
  const garbage = Buffer.from(
    Array.from({ length: 1 + Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256)),
  );
  return Buffer.concat([bytes.subarray(0, at), garbage, bytes.subarray(at)]);
}

const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
  "",
  "application/yaml",
];

interface Outcome {
  status: number;
  error?: string;
  /** With `keepBody`: "allowed", "denied <code>" (AdmissionReview) or the error code. */
  answer?: string;
}

/** What an answer says, in a word: how hostile requests were refused. */
function summarizeAnswer(status: number, body: string): string {
  try {
    const parsed = JSON.parse(body) as {
      response?: { allowed: boolean; status?: { code: number } };
      code?: string;
    };
    if (status === 200 && parsed.response) {
      return parsed.response.allowed ? "allowed" : `denied ${parsed.response.status?.code}`;
    }
    return `${status} ${parsed.code ?? ""}`.trim();
  } catch {
    return `${status} (not JSON)`;
  }
}

function send(
  port: number,
  agent: Agent,
  body: Buffer,
  contentType: string,
  path: string,
  keepBody = false,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        agent,
        rejectUnauthorized: false,
        headers: {
          ...(contentType ? { "content-type": contentType } : {}),
          "content-length": body.length,
        },
        timeout: 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => {
          if (keepBody) chunks.push(c);
        });
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          resolve({
            status,
            ...(keepBody
              ? { answer: summarizeAnswer(status, Buffer.concat(chunks).toString("utf8")) }
              : {}),
          });
        });
        res.on("error", (e) => resolve({ status: 0, error: e.message }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e: NodeJS.ErrnoException) =>
      resolve({ status: 0, error: e.code ?? e.message }),
    );
    req.end(body);
  });
}

/** The kernel's high-water mark of the process's RSS (VmHWM). */
function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round((kb / 1024) * 10) / 10;
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round((kb / 1024) * 10) / 10;
}

async function startServer(nodeFlags: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    [...nodeFlags, join(import.meta.dirname, "fuzz", "server.js")],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.on("exit", (code) => reject(new Error(`fuzz server exited ${code}`)));
  });
  return { child, port };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      count: { type: "string", default: "100000" },
      seed: { type: "string", default: "1" },
      concurrency: { type: "string", default: "8" },
      "max-seconds": { type: "string", default: "900" },
      json: { type: "string" },
      "hostile-rate": { type: "string", default: "0.01" },
      // The Deployment's heap limit by default, so memory is measured as it ships.
      "node-flags": { type: "string", default: "--max-old-space-size=160" },
    },
  });
  const count = Number(values.count);
  const rnd = prng(Number(values.seed));
  const deadline = Date.now() + Number(values["max-seconds"]) * 1000;
  const seeds = [podReview(), connectorReview(), pathologicalPodReview(2, 100)];
  const parsedSeeds = seeds.map((s) => JSON.parse(s) as Json);
  const hostileRate = Number(values["hostile-rate"]);
  const shapes = await hostileShapes(POD_NAMESPACE);
  const hostileAnswers = new Map<string, Map<string, number>>();
  const nodeFlags = (values["node-flags"] ?? "").split(" ").filter((f) => f !== "");
  const { child, port } = await startServer(nodeFlags);
  const agent = new Agent({
    keepAlive: true,
    maxSockets: Number(values.concurrency),
    rejectUnauthorized: false,
  });
  const statuses = new Map<number, number>();
  const failures: string[] = [];
  const window = Math.min(10_000, Math.max(1, Math.floor(count / 10)));
  let rssFirst = 0;
  let sent = 0;
  const started = Date.now();
  // RSS is a sawtooth (collections, allocator arenas after megabyte bodies): a sample taken at
  // one moment lands anywhere on it, ±30 MiB. What a leak raises is the floor, the RSS right
  // after collections, so the lowest of samples every 100 ms is kept per window of requests.
  const floors: number[] = [];
  const sampler = setInterval(() => {
    const at = Math.min(Math.floor(sent / window), 9);
    const rss = rssMiB(child.pid as number);
    floors[at] = Math.min(floors[at] ?? Number.POSITIVE_INFINITY, rss);
  }, 100);

  const next = (): { body: Buffer; contentType: string; path: string; shape?: string } => {
    const i = Math.floor(rnd() * seeds.length);
    const kind = rnd();
    if (kind < hostileRate) {
      const [which, path] = LARGE_SHAPES[Math.floor(rnd() * LARGE_SHAPES.length)] ?? [
        "tolerations",
        "/mutate",
      ];
      const request: HostileRequest = largeRequest(shapes, which, path, `hostile-${sent}`);
      return { body: request.body, contentType: "application/json", path, shape: which };
    }
    if (kind < hostileRate + 0.03) {
      const body = pollutedReview(parsedSeeds[i] ?? {}, rnd);
      return {
        body,
        contentType: "application/json",
        path: rnd() < 0.5 ? "/validate" : "/mutate",
        shape: "prototype keys",
      };
    }
    const path = rnd() < 0.5 ? "/validate" : "/mutate";
    const contentType =
      rnd() < 0.9
        ? "application/json"
        : (CONTENT_TYPES[Math.floor(rnd() * CONTENT_TYPES.length)] ?? "");
    if (kind < 0.1) return { body: Buffer.from(seeds[i] ?? "{}"), contentType, path };
    if (kind < 0.75) {
      const doc = JSON.parse(JSON.stringify(parsedSeeds[i])) as Json;
      let mutated = doc;
      for (let m = 0; m < 1 + Math.floor(rnd() * 3); m++) mutated = mutateJson(mutated, rnd);
      return { body: Buffer.from(JSON.stringify(mutated)), contentType, path };
    }
    return { body: mutateBytes(seeds[i] ?? "{}", rnd), contentType, path };
  };

  const worker = async (): Promise<void> => {
    while (sent < count && Date.now() < deadline) {
      const { body, contentType, path, shape } = next();
      sent++;
      if (sent === window) rssFirst = rssMiB(child.pid as number);
      const outcome = await send(port, agent, body, contentType, path, shape !== undefined);
      statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1);
      if (shape !== undefined) {
        const answers = hostileAnswers.get(shape) ?? new Map<string, number>();
        const answer = outcome.answer ?? `${outcome.status} ${outcome.error ?? ""}`;
        answers.set(answer, (answers.get(answer) ?? 0) + 1);
        hostileAnswers.set(shape, answers);
      }
      if (outcome.status === 0 || outcome.status >= 500)
        failures.push(`${outcome.status} ${outcome.error ?? ""}`);
    }
  };
  await Promise.all(Array.from({ length: Number(values.concurrency) }, worker));
  clearInterval(sampler);
  const rssLast = rssMiB(child.pid as number);
  // The first window warms up (code compiled, caches and pools filled): growth is counted
  // from the second.
  const floorsKnown = floors.filter((f) => f !== undefined && Number.isFinite(f));
  const floorGrowth =
    floorsKnown.length >= 3 ? (floorsKnown.at(-1) as number) - (floorsKnown[1] as number) : 0;
  // Still alive and correct after all of it.
  const final = await send(port, agent, Buffer.from(podReview()), "application/json", "/mutate");
  const alive = child.exitCode === null && final.status === 200;
  agent.destroy();
  child.kill("SIGTERM");
  const result = {
    requests: sent,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    statuses: Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])),
    failures: failures.length,
    firstFailures: failures.slice(0, 5),
    rss_mb_after_first_window: rssFirst,
    rss_mb_at_end: rssLast,
    rss_growth_sampled_mb: Math.round((rssLast - rssFirst) * 10) / 10,
    rss_floor_mb_by_window: floorsKnown.map((f) => Math.round(f * 10) / 10),
    rss_growth_mb: Math.round(floorGrowth * 10) / 10,
    rss_mb_peak: peakRssMiB(child.pid as number),
    hostile: Object.fromEntries(
      [...hostileAnswers].map(([shape, answers]) => [shape, Object.fromEntries(answers)]),
    ),
    window,
    alive,
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 2));
  return failures.length === 0 && alive ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`fuzz: ${(error as Error).stack}\n`);
    process.exit(2);
  },
);
