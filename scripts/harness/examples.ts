/**
 * The manifests in examples/ (examples/README.md): listing, parsing, and what their leading
 * comment says. Shared by the e2e suite and `npm run demo`.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import type { Manifest } from "./manifests.js";
import { EXAMPLES_DIR } from "./paths.js";
import type { VerdictKind } from "./verdicts.js";

/** Every example manifest, relative to examples/ (`connectors/valid-connector.yaml`), sorted. */
export function exampleFiles(family?: string): string[] {
  return readdirSync(EXAMPLES_DIR, { recursive: true, encoding: "utf8" })
    .filter((path) => path.endsWith(".yaml"))
    .filter((path) => family === undefined || path.startsWith(`${family}/`))
    .sort();
}

/** Absolute path of an example given relative to examples/. */
export function examplePath(file: string): string {
  return join(EXAMPLES_DIR, file);
}

/** The objects of an example, in file order (empty documents skipped). */
export function exampleObjects(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(examplePath(file), "utf8"))
    .map((doc) => doc.toJS() as unknown)
    .filter(
      (value): value is Manifest =>
        typeof value === "object" && value !== null && !Array.isArray(value),
    );
}

/**
 * The leading comment of an example, split at its `Verdict:` line: `what` it demonstrates and
 * the `verdict` it claims, each joined into one line.
 */
export function exampleComment(file: string): { what: string; verdict: string } {
  const lines = commentLines(file).filter((line) => !line.startsWith("Config:"));
  const at = lines.findIndex((line) => line.startsWith("Verdict:"));
  const join = (part: string[]) => part.join(" ").replace(/\s+/g, " ").trim();
  return at < 0
    ? { what: join(lines), verdict: "" }
    : {
        what: join(lines.slice(0, at)),
        verdict: join(lines.slice(at)).replace(/^Verdict:\s*/, ""),
      };
}

/** The leading comment lines of an example, without the `#`. */
function commentLines(file: string): string[] {
  const lines: string[] = [];
  for (const line of readFileSync(examplePath(file), "utf8").split("\n")) {
    if (!line.startsWith("#")) break;
    lines.push(line.replace(/^#\s?/, "").trim());
  }
  return lines;
}

/**
 * The server options an example's verdict needs, from its `# Config:` line (e.g.
 * `--trusted-secret-namespaces=openchoreo-planes=openchoreo-control-plane`): flags of `serve`,
 * also accepted by `check`. Empty for the examples that hold with the defaults.
 */
export function exampleConfig(file: string): string[] {
  const line = commentLines(file).find((l) => l.startsWith("Config:"));
  return line === undefined ? [] : line.slice("Config:".length).trim().split(/\s+/);
}

/**
 * The verdict an example's `Verdict:` line claims, as a {@link VerdictKind}: "allowed with a
 * warning" is `warned`, "denied by the kube-apiserver" (before admission) is `refused`, other
 * "denied ..." is `denied`, other "allowed ..." is `allowed`; `undefined` for a file without a
 * verdict (the namespaces) or one in other words.
 */
export function expectedVerdict(file: string): VerdictKind | undefined {
  const verdict = exampleComment(file).verdict.toLowerCase();
  if (verdict.startsWith("denied by the kube-apiserver")) return "refused";
  if (verdict.startsWith("denied")) return "denied";
  if (verdict.startsWith("allowed with a warning")) return "warned";
  if (verdict.startsWith("allowed")) return "allowed";
  return undefined;
}
