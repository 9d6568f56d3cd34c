#!/usr/bin/env node
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type App, createApp } from "./app.js";
import { offlineCommand, USAGE } from "./cli/commands.js";
import { processIo } from "./cli/io.js";
import { ConfigError, loadServeConfig, serveHelp } from "./config.js";

/**
 * The CLI: `ca-trust-webhook [serve] [options]`; `serve` is built by src/app.ts, the other
 * commands live in src/cli/. The only module with side effects at import (as the entry point).
 * Exit codes: 0 ok, 1 a runtime failure, 2 usage or configuration errors.
 */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "help" || first === "--help" || first === "-h") return print(`${USAGE}\n`, 0);
  const command = first === undefined || first.startsWith("-") ? "serve" : first;
  const args = command === first ? rest : argv;
  const offline = offlineCommand(command);
  if (offline !== undefined) return offline(args, processIo(env));
  if (command !== "serve") {
    process.stderr.write(`ca-trust-webhook: unknown command "${command}"\n${USAGE}\n`);
    return 2;
  }
  if (args.includes("--help") || args.includes("-h")) return print(`${serveHelp()}\n`, 0);
  let app: App;
  try {
    app = await createApp(loadServeConfig(args, env), { env });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`ca-trust-webhook: ${error.message}\n`);
    return 2;
  }
  try {
    await app.start();
  } catch (error) {
    app.logger.fatal({ err: { message: (error as Error).message } }, "cannot listen");
    return 1;
  }
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => void app.stop(signal).then((done) => resolve(done ? 0 : 1));
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}

function print(text: string, code: number): number {
  process.stdout.write(text);
  return code;
}

if (
  process.argv[1] !== undefined &&
  fileURLToPath(import.meta.url) === realpathSync(process.argv[1])
) {
  main(process.argv.slice(2), process.env).then(
    (code) => {
      process.exitCode = code;
      // Let pino flush, then leave even if a handle lingers.
      setTimeout(() => process.exit(code), 50).unref();
    },
    (error: unknown) => {
      process.stderr.write(`ca-trust-webhook: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
