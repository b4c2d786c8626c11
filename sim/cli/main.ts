/**
 * The `memsim` command line. Each subcommand lives in its own file; this one
 * only dispatches.
 */
import { traceCommand } from "../trace/cli.ts";
import { runDemo } from "./run.ts";

function usage(): string {
  return [
    "usage: memsim <command> [options]",
    "",
    "commands:",
    "  run [--seed N] [--ram SIZE]   boot a machine and show the default demonstration",
    "  trace run <files...> [--allocator NAME] [--json]   replay malloc-lab traces (mdriver)",
    "",
  ].join("\n");
}

export function main(argv: string[]): number {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "run":
      return runDemo(rest, process.stdout);
    case "trace":
      return traceCommand(rest, process.stdout, process.stderr);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(usage());
      return 0;
    default:
      process.stderr.write(`memsim: unknown command '${cmd}'\n${usage()}`);
      return 2;
  }
}

process.exitCode = main(process.argv.slice(2));
