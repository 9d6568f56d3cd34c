/**
 * Summarises a V8 `.cpuprofile` (written by `node --cpu-prof`): the top frames by self time,
 * and self time grouped by where the code lives (our src/ modules, each npm package, Node's
 * internals, GC). Self time comes from the sample timeline (`samples` + `timeDeltas`), not from
 * `hitCount` times an assumed interval.
 *
 *   node dist/scripts/bench/cpuprofile.js FILE|DIR [TOP]
 */
import { readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The newest .cpuprofile in `path` (a directory), or `path` itself. */
export function profileFile(path: string): string {
  if (!statSync(path).isDirectory()) return path;
  const files = readdirSync(path)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => join(path, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  const newest = files[0];
  if (newest === undefined) throw new Error(`no .cpuprofile in ${path}`);
  return newest;
}

/** A text summary of the profile at `path` (file or directory): top frames and groups. */
export function summarizeProfile(path: string, top = 25): string {
  const file = profileFile(path);
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; attribute it to the sample's node.
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const frames = new Map<string, { us: number; name: string; where: string }>();
  const groups = new Map<string, number>();
  let busyUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (node === undefined) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const where = url === "" ? "" : `${shortUrl(url)}:${lineNumber + 1}`;
    const key = `${functionName}@${where}`;
    const frame = frames.get(key) ?? { us: 0, name: functionName || "(anonymous)", where };
    frame.us += us;
    frames.set(key, frame);
    const group = groupOf(functionName, url);
    groups.set(group, (groups.get(group) ?? 0) + us);
  }
  const pct = (us: number) => `${((us / busyUs) * 100).toFixed(1).padStart(5)}%`;
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(6)} ms`;
  const lines = [
    `CPU profile ${file}`,
    `busy ${(busyUs / 1000).toFixed(0)} ms, idle ${(idleUs / 1000).toFixed(0)} ms over ${((profile.endTime - profile.startTime) / 1000).toFixed(0)} ms; percentages are of busy time`,
    "",
    `top ${top} frames by self time:`,
  ];
  for (const f of [...frames.values()].sort((a, b) => b.us - a.us).slice(0, top)) {
    lines.push(`  ${pct(f.us)} ${ms(f.us)}  ${f.name}  ${f.where}`);
  }
  lines.push("", "self time by location (>= 0.5%):");
  let rest = 0;
  for (const [group, us] of [...groups.entries()].sort((a, b) => b[1] - a[1])) {
    if (us / busyUs >= 0.005) lines.push(`  ${pct(us)} ${ms(us)}  ${group}`);
    else rest += us;
  }
  if (rest > 0) lines.push(`  ${pct(rest)} ${ms(rest)}  (everything else)`);
  return lines.join("\n");
}

/** Path from the repo or the package, without the file:// prefix and directories above. */
function shortUrl(url: string): string {
  const path = url.replace(/^file:\/\//, "");
  const nm = path.lastIndexOf("/node_modules/");
  if (nm >= 0) return path.slice(nm + "/node_modules/".length);
  const dist = path.lastIndexOf("/dist/");
  if (dist >= 0) return path.slice(dist + "/dist/".length);
  return path;
}

/** Where a frame's code lives: a src/ directory, an npm package, Node internals, or V8. */
function groupOf(functionName: string, url: string): string {
  if (url === "") {
    if (functionName.startsWith("(")) return functionName; // (garbage collector), (program)
    return "(native: V8 builtins, JSON, crypto, TLS, syscalls)";
  }
  if (url.startsWith("node:")) return `node:${url.slice(5).split("/")[0]}`;
  const path = url.replace(/^file:\/\//, "");
  const nm = path.lastIndexOf("/node_modules/");
  if (nm >= 0) {
    const rest = path.slice(nm + "/node_modules/".length).split("/");
    const name = rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0];
    return `npm ${name}`;
  }
  const src = path.lastIndexOf("/src/");
  if (src >= 0) {
    const rest = path.slice(src + "/src/".length).split("/");
    return rest.length > 1 ? `src/${rest[0]}/` : `src/${rest[0]}`;
  }
  const scripts = path.lastIndexOf("/scripts/");
  if (scripts >= 0) return "scripts/ (bench harness)";
  return path;
}

if (
  process.argv[1] !== undefined &&
  fileURLToPath(import.meta.url) === realpathSync(process.argv[1])
) {
  const [path, top] = process.argv.slice(2);
  if (path === undefined) {
    process.stderr.write("usage: node dist/scripts/bench/cpuprofile.js FILE|DIR [TOP]\n");
    process.exitCode = 2;
  } else {
    process.stdout.write(`${summarizeProfile(path, top === undefined ? 25 : Number(top))}\n`);
  }
}
