/**
 * The configuration on the command line (commander): one flag per option of the schema, in
 * help groups by section, with its default, environment name and file key in `--help`. Parsing
 * yields the flag values by file key; src/config/load.ts merges them with the file and the
 * environment.
 */
import { Command, CommanderError, Option } from "commander";
import { ConfigError } from "./load.js";
import { OPTIONS, type OptionSpec } from "./schema.js";

/** The options a command takes: all of them (`serve`) or the decision settings only. */
export type Scope = "serve" | "decision";

const CONFIG_FLAG = "config";

/** The option specs of a scope (file-only keys included). */
export function optionsOf(scope: Scope): OptionSpec[] {
  return OPTIONS.filter((o) => scope === "serve" || o.decision);
}

/**
 * A commander command that reports instead of exiting: errors throw (a ConfigError with
 * commander's message), `--help` is left to the caller.
 */
export function quietCommand(name: string): Command {
  return new Command(name)
    .exitOverride()
    .helpOption(false)
    .allowExcessArguments(false)
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} });
}

/** Adds `--config` and the scope's options (with their help) to a command. */
export function addConfigOptions(command: Command, scope: Scope): Command {
  const specs = optionsOf(scope);
  command.addOption(
    new Option(
      `--${CONFIG_FLAG} <FILE>`,
      "YAML file with any of the file keys below [env CA_TRUST_WEBHOOK_CONFIG]",
    ).helpGroup("Options:"),
  );
  for (const spec of specs) {
    if (spec.flag === undefined) continue;
    command.addOption(
      new Option(`--${spec.flag} <${spec.metavar}>`, describe(spec)).helpGroup(spec.section),
    );
  }
  return command;
}

/**
 * `--help` of a command with configuration options: commander's text (options by section),
 * then the keys only the `--config` file can set (structured values have no flag).
 */
export function helpOf(command: Command, scope: Scope, width?: number): string {
  if (width !== undefined) command.configureHelp({ helpWidth: width });
  const fileOnly = optionsOf(scope).filter((s) => s.flag === undefined);
  const pad = Math.max(...fileOnly.map((s) => s.key.length)) + 7;
  return [
    command
      .helpInformation()
      .replace(/^Usage: /, "Usage: ca-trust-webhook ")
      .trimEnd(),
    "",
    "Keys of the --config file only (structured values):",
    ...fileOnly.map((s) => `  ${`(file) ${s.key}`.padEnd(pad)}  ${describe(s)}`),
  ].join("\n");
}

/** `help [default: D; env NAME; file key K]`, one line. */
function describe(spec: OptionSpec): string {
  const facts = [
    ...(spec.default === undefined || spec.default === "" ? [] : [`default: ${spec.default}`]),
    ...(spec.env === undefined ? [] : [`env ${spec.env}`]),
    `file key ${spec.key}`,
  ];
  return `${spec.help} [${facts.join("; ")}]`;
}

/**
 * Parses argv (without the command word) strictly: an unknown option or a positional argument
 * is a ConfigError. Returns the parsed command for its own options.
 */
export function parseArgv(command: Command, argv: readonly string[]): Command {
  try {
    command.parse([...argv], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      throw new ConfigError(error.message.replace(/^error: /, "").replace(/\s*\n\s*/g, " "));
    }
    throw error;
  }
  return command;
}

/** The configuration flags given on the command line, by file key, and `--config`. */
export function configFlags(
  command: Command,
  scope: Scope,
): { flags: Record<string, string>; configFile: string | undefined } {
  const values = command.opts<Record<string, unknown>>();
  const flags: Record<string, string> = {};
  for (const spec of optionsOf(scope)) {
    if (spec.flag === undefined) continue;
    const value = values[attributeName(spec.flag)];
    if (typeof value === "string") flags[spec.key] = value;
  }
  const configFile = values[CONFIG_FLAG];
  return { flags, configFile: typeof configFile === "string" ? configFile : undefined };
}

/** commander's property name for a flag: `tls-cert-file` → `tlsCertFile`. */
function attributeName(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
