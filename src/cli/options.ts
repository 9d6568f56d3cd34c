/**
 * The command lines of `check`, `inject` and `scan` (commander): each command's own options,
 * plus the decision settings of `serve` (`--config`, `--missing-secret`, `--inject-configmap`,
 * ...) with the same flags, variables, file keys and defaults (src/config/schema.ts), so that a
 * command decides exactly as a webhook started with the same options would.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import {
  addConfigOptions,
  ConfigError,
  type DecisionSettings,
  decisionSettingsOf,
  helpOf,
  parseArgv,
  quietCommand,
} from "../config.js";
import { InputError } from "./input.js";
import { type CliIo, UsageError } from "./io.js";
import { KubeReadError } from "./kube.js";

/** One option of a command: commander's flags (`-f, --filename <PATH>`) and its help. */
export interface OptionDef {
  readonly flags: string;
  readonly help: string;
  /** Repeatable: every value is kept, in order. */
  readonly multiple?: boolean;
  /** A boolean that also takes `=true` / `=false` and `--no-<name>`. */
  readonly switch?: boolean;
}

/** A command: its usage line, what it does, and its own options (by long name). */
export interface CommandSpec {
  readonly name: string;
  readonly usage: string;
  readonly description: string;
  readonly options: Readonly<Record<string, OptionDef>>;
}

export type OptionValue = string | boolean | string[] | undefined;

/** What a command's argv parsed to: its own options by long name, and the decision settings. */
export interface ParsedArgs {
  readonly values: Readonly<Record<string, OptionValue>>;
  readonly settings: DecisionSettings;
}

const OWN_GROUP = "Options:";

function commandOf(spec: CommandSpec): Command {
  const command = quietCommand(spec.name).usage(spec.usage).description(spec.description);
  for (const [name, def] of Object.entries(spec.options)) {
    const option = new Option(def.flags, def.help).helpGroup(OWN_GROUP);
    if (def.multiple) option.argParser((v: string, previous: string[] = []) => [...previous, v]);
    if (def.switch) {
      option.argParser((v: string) => {
        if (v === "true" || v === "false") return v === "true";
        throw new InvalidArgumentError("expected true or false");
      });
      option.preset("true");
      command.addOption(option);
      command.addOption(new Option(`--no-${name}`).hideHelp());
    } else {
      command.addOption(option);
    }
  }
  command.addOption(new Option("-h, --help", "this text").helpGroup(OWN_GROUP));
  return addConfigOptions(command, "decision");
}

/** `<command> --help`: its options, then the decision settings it shares with `serve`. */
export function commandHelp(spec: CommandSpec): string {
  return helpOf(commandOf(spec), "decision");
}

/**
 * Parses argv (without the command word) strictly: unknown options and positional arguments
 * are usage errors, and so is a bad decision setting (from a flag, the environment or the file).
 */
export function parseCommandArgs(
  spec: CommandSpec,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): ParsedArgs {
  try {
    const command = parseArgv(commandOf(spec), argv);
    const parsed = command.opts<Record<string, OptionValue>>();
    const values: Record<string, OptionValue> = {};
    for (const option of command.options) {
      const name = option.long?.replace(/^--/, "");
      if (name !== undefined && name in spec.options) values[name] = parsed[option.attributeName()];
    }
    return { values, settings: decisionSettingsOf(command, env) };
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
}

/** `-f a.yaml -f b,c` → `["a.yaml", "b", "c"]` (kubectl accepts both forms). */
export function fileArgs(value: OptionValue): string[] {
  const list = Array.isArray(value) ? value : typeof value === "string" ? [value] : [];
  return list.flatMap((v) => v.split(",")).filter((v) => v !== "");
}

/** `--feature-flag NAME=true` (repeatable) → a map; a usage error for anything else. */
export function featureFlagArgs(value: OptionValue): Map<string, boolean> {
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
  value: OptionValue,
  formats: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  const format = formats.find((f) => f === value);
  if (format !== undefined) return format;
  throw new UsageError(`-o: expected one of ${formats.join(", ")}, got ${JSON.stringify(value)}`);
}

/** A positive integer option (`--limit`, `--progress-every`). */
export function integerArg(
  name: string,
  value: OptionValue,
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

/** A string option's value (undefined when absent). */
export function stringArg(value: OptionValue): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/**
 * Runs a command body with the conventions of every offline command: `-h`/`--help` prints the
 * help (exit 0); a UsageError (bad flags, unreadable or malformed input, no kubeconfig) or an
 * API failure prints one line and exits 2.
 */
export async function runCommand(
  spec: CommandSpec,
  argv: readonly string[],
  io: CliIo,
  body: (parsed: ParsedArgs) => Promise<number>,
): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout(`${commandHelp(spec)}\n`);
    return 0;
  }
  try {
    return await body(parseCommandArgs(spec, argv, io.env));
  } catch (error) {
    if (error instanceof UsageError || error instanceof KubeReadError) {
      const hint =
        error instanceof InputError || error instanceof KubeReadError
          ? ""
          : `\nRun 'ca-trust-webhook ${spec.name} --help' for usage.`;
      io.stderr(`error: ${error.message}${hint}\n`);
      return 2;
    }
    throw error;
  }
}
