/**
 * Command-line parsing shared by `check`, `inject` and `scan`, and the Config they decide with.
 * The decision options of `serve` (`--config`, `--missing-secret`, `--inject-configmap`, ...)
 * are accepted by every command and passed to `loadServeConfig` unchanged, so that a command
 * decides exactly as a webhook started with the same options (and the same
 * `CA_TRUST_WEBHOOK_*` environment) would.
 */
import { parseArgs } from "node:util";
import { type Config, ConfigError, loadServeConfig, OPTIONS } from "../config.js";
import { InputError } from "./input.js";
import { type CliIo, UsageError } from "./io.js";
import { KubeReadError } from "./kube.js";

/**
 * The `serve` options that change decisions (not listeners, TLS, timeouts or logging). Their
 * flags, help and defaults come from config.ts's OPTIONS table.
 */
export const DECISION_OPTION_KEYS: readonly string[] = [
  "systemNamespace",
  "flagConfigMap",
  "missingSecret",
  "unverifiable",
  "allowedSecretNamespaces",
  "expiringWithinDays",
  "injection.configMap",
  "injection.configMapKey",
  "injection.source",
  "injection.clusterTrustBundle.name",
  "injection.clusterTrustBundle.signerName",
  "injection.clusterTrustBundle.labelSelector",
  "injection.image",
  "injection.imagePullPolicy",
  "injection.runAsUser",
  "injection.onFailure",
];

const DECISION_FLAGS: readonly string[] = [
  "config",
  ...OPTIONS.filter((o) => DECISION_OPTION_KEYS.includes(o.key)).map((o) => o.flag),
];

/** One option of a command. `switch`: a boolean that also takes `=true` / `=false`. */
export interface OptionDef {
  readonly type: "string" | "boolean" | "switch";
  readonly short?: string;
  readonly multiple?: boolean;
}

/** What a command's options parsed to, plus the decision options to pass through. */
export interface ParsedArgs {
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>;
  /** `--flag=value` of the decision options, for `decisionConfig`. */
  readonly passthrough: readonly string[];
}

/**
 * Parses argv (without the command word) strictly: unknown options and positional arguments
 * are usage errors. `switch` options accept `--x`, `--x=true|false` and `--no-x`.
 */
export function parseCommandArgs(
  argv: readonly string[],
  defs: Readonly<Record<string, OptionDef>>,
): ParsedArgs {
  const switches = Object.entries(defs)
    .filter(([, d]) => d.type === "switch")
    .map(([name]) => name);
  const normalized = argv.map((arg) => {
    for (const name of switches) {
      if (arg === `--${name}`) return `--${name}=true`;
      if (arg === `--no-${name}`) return `--${name}=false`;
    }
    return arg;
  });
  const options: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = {};
  for (const [name, def] of Object.entries(defs)) {
    options[name] = {
      type: def.type === "boolean" ? "boolean" : "string",
      ...(def.short === undefined ? {} : { short: def.short }),
      ...(def.multiple ? { multiple: true } : {}),
    };
  }
  for (const flag of DECISION_FLAGS) options[flag] = { type: "string" };
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: normalized,
      options,
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify.*$/s, ""));
  }
  const own: Record<string, string | boolean | string[] | undefined> = {};
  for (const [name, def] of Object.entries(defs)) {
    const value = values[name];
    if (def.type === "switch" && typeof value === "string") {
      if (value !== "true" && value !== "false") {
        throw new UsageError(`--${name}: expected true or false, got ${JSON.stringify(value)}`);
      }
      own[name] = value === "true";
    } else {
      own[name] = value as string | boolean | string[] | undefined;
    }
  }
  const passthrough: string[] = [];
  for (const flag of DECISION_FLAGS) {
    const value = values[flag];
    if (typeof value === "string") passthrough.push(`--${flag}=${value}`);
  }
  return { values: own, passthrough };
}

/**
 * The Config `serve` would run with, given the passed-through decision options and the
 * environment. `loadServeConfig` insists on serving-certificate paths, which the offline
 * commands never read: placeholders are passed for them.
 */
export function decisionConfig(passthrough: readonly string[], env: NodeJS.ProcessEnv): Config {
  try {
    return loadServeConfig(
      [...passthrough, "--tls-cert-file=unused.crt", "--tls-key-file=unused.key"],
      env,
    );
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
}

/** `-f a.yaml -f b,c` → `["a.yaml", "b", "c"]` (kubectl accepts both forms). */
export function fileArgs(value: string | boolean | string[] | undefined): string[] {
  const list = Array.isArray(value) ? value : typeof value === "string" ? [value] : [];
  return list.flatMap((v) => v.split(",")).filter((v) => v !== "");
}

/** `--feature-flag NAME=true` (repeatable) → a map; a usage error for anything else. */
export function featureFlagArgs(
  value: string | boolean | string[] | undefined,
): Map<string, boolean> {
  const flags = new Map<string, boolean>();
  for (const entry of fileArgs(value)) {
    const match = /^([A-Za-z0-9._-]+)=(true|false)$/.exec(entry);
    if (match === null) {
      throw new UsageError(`--feature-flag: expected NAME=true or NAME=false, got "${entry}"`);
    }
    flags.set(match[1] as string, match[2] === "true");
  }
  return flags;
}

/** `-o`: one of the formats a command supports. */
export function outputArg<T extends string>(
  value: string | boolean | string[] | undefined,
  formats: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (typeof value === "string" && (formats as readonly string[]).includes(value))
    return value as T;
  throw new UsageError(`-o: expected one of ${formats.join(", ")}, got ${JSON.stringify(value)}`);
}

/** A positive integer option (`--limit`, `--progress-every`). */
export function integerArg(
  name: string,
  value: string | boolean | string[] | undefined,
  fallback: number,
  min: number,
): number {
  if (value === undefined) return fallback;
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${name}: expected an integer of at least ${min}`);
  }
  return n;
}

/** Help lines for the decision options, shared by every command's --help. */
export function decisionOptionsHelp(): string[] {
  const lines = [
    `  ${"--config FILE".padEnd(34)} the webhook's config file (rules, injection settings, ...)`,
  ];
  for (const option of OPTIONS) {
    if (!DECISION_OPTION_KEYS.includes(option.key)) continue;
    const dflt = option.default === undefined ? "" : ` [default: ${option.default}]`;
    lines.push(`  ${`--${option.flag} VALUE`.padEnd(34)} ${option.help}${dflt}`);
  }
  return lines;
}

/**
 * Runs a command body with the conventions of every offline command: `-h`/`--help` prints the
 * help (exit 0); a UsageError (bad flags, unreadable or malformed input, no kubeconfig) or an
 * API failure prints one line and exits 2.
 */
export async function runCommand(
  name: string,
  argv: readonly string[],
  io: CliIo,
  help: string,
  body: () => Promise<number>,
): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout(`${help}\n`);
    return 0;
  }
  try {
    return await body();
  } catch (error) {
    if (error instanceof UsageError || error instanceof KubeReadError) {
      const hint =
        error instanceof InputError || error instanceof KubeReadError
          ? ""
          : `\nRun 'ca-trust-webhook ${name} --help' for usage.`;
      io.stderr(`error: ${error.message}${hint}\n`);
      return 2;
    }
    throw error;
  }
}
