/**
 * Reading manifests the way `kubectl apply -f` does: files, directories (recursively, `*.yaml`,
 * `*.yml`, `*.json`), `-` for stdin; multi-document YAML; `List` kinds (`kubectl get -o yaml`)
 * unpacked into their items. Every object keeps the file and line it came from, and its place
 * in the parsed document, so `inject` can write changes back into the YAML (comments kept).
 * A malformed document is an InputError naming the file, line and column (exit 2).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { type Document, isMap, isSeq, LineCounter, type Node, parseAllDocuments } from "yaml";
import type { KubeObject } from "../core/types.js";
import { UsageError } from "./io.js";

/** A file (or stdin) and its parsed YAML documents. */
export interface Source {
  /** The path as given (joined for directory entries), or `<stdin>`. */
  readonly name: string;
  readonly documents: readonly Document.Parsed[];
  /** Offsets to lines, for the line of each object. */
  readonly lines: LineCounter;
}

/** One Kubernetes object of the input and where it is. */
export interface Manifest {
  readonly object: KubeObject;
  readonly source: Source;
  /** Index of its document in `source.documents`. */
  readonly document: number;
  /** Path inside the document: `[]` for a top-level object, `["items", 3]` inside a List. */
  readonly path: readonly (string | number)[];
  /** 1-based line of the object's first key. */
  readonly line: number;
}

/** An input that cannot be read or parsed (exit 2); the message names the file and line. */
export class InputError extends UsageError {}

/** Extensions read from directories (a file named explicitly is read whatever its name). */
const MANIFEST_EXTENSIONS = new Set([".yaml", ".yml", ".json"]);

/** Most YAML aliases expanded per document: a "billion laughs" document stops here. */
const MAX_ALIAS_COUNT = 1000;

/**
 * Reads every path (`-` is stdin, read at most once) into sources, in the order given;
 * directory entries sorted by name, so output order is stable.
 */
export async function readSources(
  paths: readonly string[],
  readStdin: () => Promise<string>,
): Promise<Source[]> {
  const sources: Source[] = [];
  let stdinRead = false;
  for (const path of paths) {
    if (path === "-") {
      if (stdinRead) throw new InputError("-f -: stdin can be read only once");
      stdinRead = true;
      sources.push(parseSource("<stdin>", await readStdin()));
      continue;
    }
    for (const file of expand(path)) sources.push(parseSource(file, readText(file)));
  }
  return sources;
}

/** Parses one file's text; throws an InputError at the first malformed document. */
export function parseSource(name: string, text: string): Source {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: true });
  const documents = Array.isArray(parsed) ? parsed : [];
  for (const document of documents) {
    const error = document.errors[0];
    if (error !== undefined) {
      const at = error.linePos?.[0] ?? lineCounter.linePos(error.pos[0]);
      const reason = error.message.split(/ at line \d+, column \d+/)[0]?.trim();
      throw new InputError(`${name}:${at.line}:${at.col}: invalid YAML: ${reason}`);
    }
  }
  return { name, documents, lines: lineCounter };
}

/**
 * The Kubernetes objects of the sources, in order: empty documents skipped, `List` kinds
 * replaced by their items. A document that is not an object with `apiVersion` and `kind` is an
 * InputError, as kubectl refuses it.
 */
export function manifestsOf(sources: readonly Source[]): Manifest[] {
  const manifests: Manifest[] = [];
  for (const source of sources) {
    source.documents.forEach((document, index) => {
      const node = document.contents;
      if (node === null) return;
      let value: unknown;
      try {
        value = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
      } catch (error) {
        const line = lineOf(node, source.lines);
        throw new InputError(`${source.name}:${line}: invalid YAML: ${(error as Error).message}`);
      }
      if (value === null || value === undefined) return;
      collect(source, index, [], node, value, source.lines, manifests);
    });
  }
  return manifests;
}

function collect(
  source: Source,
  document: number,
  path: readonly (string | number)[],
  node: Node | null,
  value: unknown,
  lines: LineCounter,
  out: Manifest[],
): void {
  const line = lineOf(node, lines);
  const where = `${source.name}:${line}`;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new InputError(`${where}: not a Kubernetes object (expected a mapping)`);
  }
  const object = value as KubeObject;
  const missing = ["apiVersion", "kind"].filter(
    (field) => typeof object[field] !== "string" || object[field] === "",
  );
  if (missing.length > 0) {
    throw new InputError(`${where}: not a Kubernetes object: ${missing.join(" and ")} not set`);
  }
  if (isList(object)) {
    const items = isMap(node) ? node.get("items", true) : undefined;
    const list = Array.isArray(object.items) ? (object.items as unknown[]) : [];
    list.forEach((item, i) => {
      const itemNode = isSeq(items) ? ((items.items[i] as Node | undefined) ?? null) : null;
      collect(source, document, [...path, "items", i], itemNode, item, lines, out);
    });
    return;
  }
  out.push({ object, source, document, path, line });
}

/** `v1` `List` and any `*List` with an `items` array (`kubectl get -o yaml` writes these). */
function isList(object: KubeObject): boolean {
  return typeof object.kind === "string" && object.kind.endsWith("List") && "items" in object;
}

function lineOf(node: Node | null, lines: LineCounter): number {
  const offset = node?.range?.[0];
  return offset === undefined ? 1 : lines.linePos(offset).line;
}

/** A path as files: itself, or a directory's manifest files (recursively, sorted). */
function expand(path: string): string[] {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(
      code === "ENOENT" ? `the path "${path}" does not exist` : `${path}: ${code ?? "unreadable"}`,
    );
  }
  if (!stat.isDirectory()) return [path];
  const files: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 64) throw new InputError(`${dir}: directories nested too deeply`);
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    for (const entry of entries) {
      const full = join(dir, entry.name);
      // Symlinks to directories are not followed (they could loop); to files, they are.
      if (entry.isDirectory()) walk(full, depth + 1);
      else if (MANIFEST_EXTENSIONS.has(extname(entry.name).toLowerCase())) {
        if (entry.isFile() || (entry.isSymbolicLink() && isFile(full))) files.push(full);
      }
    }
  };
  walk(path, 0);
  return files;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(
      code === "ENOENT" ? `the path "${file}" does not exist` : `${file}: ${code ?? "unreadable"}`,
    );
  }
}
