/**
 * One configuration document from its four sources, validated once: defaults (the schema's) ←
 * the `--config` YAML file ← the environment (`CA_TRUST_WEBHOOK_<KEY>`) ← flags. This is the
 * only module that reads `process.env`-style variables for settings (the Kubernetes client
 * reads `KUBECONFIG` itself, as kubectl does). A bad value is a ConfigError that names the
 * option (and where the value came from, when not from a flag).
 */
import { readFileSync } from "node:fs";
import { Ajv, type ErrorObject } from "ajv";
import { parse as parseYaml } from "yaml";
import {
  CONFIG_SCHEMA,
  type ConfigDocument,
  META_KEYWORDS,
  OPTIONS,
  type OptionSpec,
} from "./schema.js";
import { FORMATS, parseList } from "./values.js";

export class ConfigError extends Error {
  readonly code = "CTW_ERR_CONFIG";
}

/** Where the values of one run come from. */
export interface ConfigSources {
  /** Flag values by file key (as the command line parsed them). */
  readonly flags: Readonly<Record<string, string>>;
  /** `--config`, if given on the command line. */
  readonly configFile?: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  /** Which options the environment may set: all (`serve`) or the decision settings. */
  readonly scope: "serve" | "decision";
}

/** A validated document and the file it came from. */
export interface LoadedConfig {
  readonly document: ConfigDocument;
  readonly configFile: string | undefined;
}

const ajv = new Ajv({
  // Flags and variables are text: "500" is read as the integer 500, "true" as true.
  coerceTypes: true,
  useDefaults: true,
  verbose: true,
  allErrors: false,
});
ajv.addVocabulary([...META_KEYWORDS]);
for (const [format, { valid }] of Object.entries(FORMATS)) ajv.addFormat(format, valid);
const validate = ajv.compile<ConfigDocument>(CONFIG_SCHEMA);

const BY_KEY = new Map(OPTIONS.map((o) => [o.key, o]));

/** Merges the sources, fills the defaults and validates; throws ConfigError. */
export function loadDocument(sources: ConfigSources): LoadedConfig {
  const configFile = sources.configFile ?? sources.env.CA_TRUST_WEBHOOK_CONFIG;
  const document: Record<string, unknown> =
    configFile === undefined ? {} : readConfigFile(configFile);
  const from = new Map<string, string>();
  if (configFile !== undefined) for (const o of OPTIONS) from.set(o.key, `--config ${configFile}`);
  for (const option of OPTIONS) {
    if (option.env === undefined || (sources.scope === "decision" && !option.decision)) continue;
    const text = sources.env[option.env];
    if (text === undefined) continue;
    setAt(document, option, text);
    from.set(option.key, option.env);
  }
  for (const [key, text] of Object.entries(sources.flags)) {
    const option = BY_KEY.get(key);
    if (option === undefined) throw new Error(`internal: no option ${key}`);
    setAt(document, option, text);
    from.delete(key);
  }
  // A list may be written "a,b" in the file too.
  for (const option of OPTIONS) {
    if (!option.list) continue;
    const parts = option.key.split(".");
    const parent = valueAt(document, parts.slice(0, -1));
    const leaf = parts[parts.length - 1] as string;
    if (isRecord(parent) && typeof parent[leaf] === "string")
      parent[leaf] = parseList(parent[leaf]);
  }
  if (!validate(document)) {
    throw new ConfigError(explain(validate.errors?.[0], document, from, configFile));
  }
  return { document, configFile };
}

/** Sets an option's value at its (dotted) key. */
function setAt(document: Record<string, unknown>, option: OptionSpec, text: string): void {
  const parts = option.key.split(".");
  let node = document;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (!isRecord(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1] as string] = text;
}

/** Reads the YAML file (a mapping of option keys; unknown keys are refused by the schema). */
function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(
      `--config ${path}: ${(error as NodeJS.ErrnoException).code ?? "unreadable"}`,
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError(
      `--config ${path}: invalid YAML: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError(`--config ${path}: must be a YAML mapping of option keys`);
  }
  return doc as Record<string, unknown>;
}

/** One line for the first schema violation, naming the option and the value's source. */
function explain(
  error: ErrorObject | undefined,
  document: Record<string, unknown>,
  from: ReadonlyMap<string, string>,
  configFile: string | undefined,
): string {
  if (error === undefined) return "invalid configuration";
  const segments = error.instancePath.split("/").slice(1).map(unescapePointer);
  if (error.keyword === "additionalProperties") {
    const key = [...segments, String(error.params.additionalProperty)].join(".");
    return `--config ${configFile}: unknown key "${key}"`;
  }
  // The option is the longest key that prefixes the path (a list item, a structured value).
  let option: OptionSpec | undefined;
  for (let n = segments.length; n > 0 && option === undefined; n--) {
    option = BY_KEY.get(segments.slice(0, n).join("."));
  }
  if (option === undefined || option.flag === undefined) {
    const where = segments.join(".");
    return `--config ${configFile}: ${where}: ${error.message ?? "invalid"}`;
  }
  const source = from.get(option.key);
  const value = error.data ?? valueAt(document, segments);
  return `--${option.flag}: invalid value ${JSON.stringify(value)}${source === undefined ? "" : ` (from ${source})`}: ${expected(error)}`;
}

function expected(error: ErrorObject): string {
  const schema = error.parentSchema as { minimum?: number; maximum?: number } | undefined;
  switch (error.keyword) {
    case "format":
      return FORMATS[String(error.params.format)]?.expected ?? `not a ${error.params.format}`;
    case "enum":
      return `expected one of ${(error.params.allowedValues as unknown[]).join(", ")}`;
    case "minimum":
    case "maximum":
      return `expected an integer from ${schema?.minimum} to ${schema?.maximum}`;
    case "minLength":
      return "must not be empty";
    case "type":
      switch (error.params.type) {
        case "integer":
          return `expected an integer from ${schema?.minimum} to ${schema?.maximum}`;
        case "boolean":
          return "expected true or false";
        case "array":
          return "expected a list";
        case "object":
          return "expected a mapping";
        default:
          return `expected a ${error.params.type}`;
      }
    default:
      return error.message ?? "invalid";
  }
}

function valueAt(document: Record<string, unknown>, segments: readonly string[]): unknown {
  let node: unknown = document;
  for (const s of segments) node = (node as Record<string, unknown> | undefined)?.[s];
  return node;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function unescapePointer(segment: string): string {
  return segment.replace(/~1/g, "/").replace(/~0/g, "~");
}
