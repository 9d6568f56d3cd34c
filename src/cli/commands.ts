/**
 * The commands besides `serve` and the top-level usage: each runs with argv (after the command
 * word) and the process as a CliIo, and resolves to its exit code.
 */
import { runCheck } from "./check.js";
import { runInject } from "./inject.js";
import type { CliIo } from "./io.js";
import { manifestsCommand } from "./manifests.js";
import { runScan } from "./scan.js";

export const USAGE = `Usage: ca-trust-webhook <command> [options]

Commands:
  serve      run the admission webhook (default)
  manifests  print the webhook configurations and the ValidatingAdmissionPolicy (YAML)
  check      decide manifests offline as the webhook would (-f PATH...)
  inject     print manifests as the webhook would inject them, with a PodSecurity verdict
  scan       find objects and Pods in the cluster that the webhook would not admit today

Run 'ca-trust-webhook <command> --help' for a command's options.`;

type Run = (argv: readonly string[], io: CliIo) => Promise<number>;

const COMMANDS: ReadonlyMap<string, Run> = new Map<string, Run>([
  ["check", runCheck],
  ["inject", runInject],
  ["scan", runScan],
  [
    "manifests",
    async (argv, io) => {
      const result = manifestsCommand(argv, io.env);
      io.stdout(result.stdout);
      io.stderr(result.stderr);
      return result.code;
    },
  ],
]);

/** The command of that name (not `serve`), if there is one. */
export function offlineCommand(name: string): Run | undefined {
  return COMMANDS.get(name);
}
