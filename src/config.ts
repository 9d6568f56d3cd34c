/**
 * The configuration of every command: flags, then environment (`CA_TRUST_WEBHOOK_<NAME>`), then
 * an optional YAML file (`--config`), then defaults, validated once against one schema
 * (src/config/schema.ts) into the settings the code runs with (src/config/settings.ts). A bad
 * value throws a ConfigError that names the option; callers print it on one line and exit 2.
 */
import type { Command } from "commander";
import {
  addConfigOptions,
  configFlags,
  helpOf,
  parseArgv,
  quietCommand,
} from "./config/command.js";
import { loadDocument } from "./config/load.js";
import {
  type DecisionSettings,
  decisionSettings,
  type ServeConfig,
  servingSettings,
} from "./config/settings.js";

export { addConfigOptions, helpOf, parseArgv, quietCommand } from "./config/command.js";
export { ConfigError } from "./config/load.js";
export { envName, OPTIONS, type OptionSpec, SECTIONS } from "./config/schema.js";
export type {
  CertificateSettings,
  DecisionSettings,
  SelfManagedSettings,
  ServeConfig,
  ServerLimits,
  ServingSettings,
} from "./config/settings.js";
export {
  type HostPort,
  isDns1123,
  parseDuration,
  parseHostPort,
  parseLifetime,
} from "./config/values.js";

const SERVE_DESCRIPTION = [
  "Serves the validating (POST /validate) and mutating (POST /mutate) admission webhook over",
  "HTTPS, and /healthz, /readyz, /metrics over plain HTTP on the health address.",
  "Each option can also be set as CA_TRUST_WEBHOOK_<NAME> or as <key> in the --config file;",
  "flags win over the environment, which wins over the file.",
].join(" ");

/** `serve`'s command line: every option of the schema. */
export function serveCommand(): Command {
  return addConfigOptions(
    quietCommand("serve")
      .usage("[options]")
      .description(SERVE_DESCRIPTION)
      .optionsGroup("Options:")
      .option("-h, --help", "this text"),
    "serve",
  );
}

/** `serve --help`: the options by section, each with its default, variable and file key. */
export function serveHelp(width?: number): string {
  return helpOf(serveCommand(), "serve", width);
}

/**
 * The configuration of `serve` from argv (without the command word) and an environment.
 * Throws ConfigError for an unknown flag, a bad value or an unreadable/invalid file.
 */
export function loadServeConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ServeConfig {
  const { flags, configFile } = configFlags(parseArgv(serveCommand(), argv), "serve");
  const loaded = loadDocument({ flags, configFile, env, scope: "serve" });
  return Object.freeze({
    decision: decisionSettings(loaded.document, loaded.configFile),
    serving: servingSettings(loaded.document),
    configFile: loaded.configFile,
  });
}

/**
 * The decision settings of an offline command whose argv `command` has parsed (its decision
 * options were added with `addConfigOptions(command, "decision")`): the same file, variables
 * and defaults as `serve`, so the command decides as the webhook would.
 */
export function decisionSettingsOf(command: Command, env: NodeJS.ProcessEnv): DecisionSettings {
  const { flags, configFile } = configFlags(command, "decision");
  const loaded = loadDocument({ flags, configFile, env, scope: "decision" });
  return decisionSettings(loaded.document, loaded.configFile);
}

/** The decision settings with every default (no file, flag or variable). */
export function defaultDecisionSettings(): DecisionSettings {
  return decisionSettings(loadDocument({ flags: {}, env: {}, scope: "decision" }).document);
}
