/**
 * The `memsim` dispatcher: finds the subcommand, parses its arguments, opens
 * the logs, runs it, and turns errors into a message and an exit status:
 *   0 success
 *   1 bad input found while running (missing file, a script line that failed)
 *   2 bad command line (unknown command or option, bad size, bad number)
 *   3 the emulated kernel panicked or an invariant checker failed
 * Adding a command: write a file exporting a {@link Command}, list it below.
 */
import { InvariantViolation, KernelPanic } from "../../kernel/panic.ts";
import { ConfigError } from "../config.ts";
import { type LogLevel, makeLogger, prettyDestination } from "../log.ts";
import type { Machine } from "../machine.ts";
import { formatHelp, InputError, Parsed, parseArgs, UsageError } from "./args.ts";
import { benchCommand } from "./bench.ts";
import { COMMON_OPTIONS, type Command } from "./command.ts";
import { EventFiles } from "./event_files.ts";
import { fragCommand } from "./frag.ts";
import type { Io } from "./io.ts";
import { gradeCommand, labCommand } from "./lab.ts";
import { scriptCommand, shellCommand } from "./lang/commands.ts";
import { ostepCommand, pagingPolicyCommand } from "./ostep.ts";
import { quizCommand } from "./quiz/quiz.ts";
import { reportCommand, serveCommand } from "./report/report.ts";
import { runCommand } from "./run.ts";
import { traceCommand } from "./trace.ts";

/** Every subcommand, in the order `memsim --help` lists them. */
export const COMMANDS: readonly Command[] = [
  runCommand,
  shellCommand,
  scriptCommand,
  quizCommand,
  reportCommand,
  serveCommand,
  benchCommand,
  traceCommand,
  fragCommand,
  labCommand,
  gradeCommand,
  ostepCommand,
  pagingPolicyCommand,
];

/** `memsim --help`. */
export function usage(): string {
  const lines = ["usage: memsim <command> [options] [arguments]", "", "commands:"];
  for (const c of COMMANDS) lines.push(`  ${c.name.padEnd(10)} ${c.summary}`);
  lines.push("", "Every command takes --help, --seed N, --json, --log-level LEVEL, --events FILE and --ftrace FILE");
  lines.push("(the events of every machine it boots; bench refuses the last two, they would distort its timings).");
  lines.push("Exit status: 0 ok, 1 bad input, 2 bad command line, 3 kernel panic or broken invariant.", "");
  return lines.join("\n");
}

/** Help of one command. A command that refuses --events/--ftrace says why instead of listing them. */
export function commandHelp(c: Command): string {
  const common = c.refusesEvents === undefined ? COMMON_OPTIONS : COMMON_OPTIONS.filter((o) => o.name !== "events" && o.name !== "ftrace");
  const options = [...(c.options ?? []), ...common];
  const refusal = c.refusesEvents === undefined ? undefined : `--events and --ftrace are not taken: ${c.refusesEvents}.`;
  const description = [c.description, refusal].filter((d) => d !== undefined).join("\n\n");
  return formatHelp(`memsim ${c.name}`, c.summary, description === "" ? undefined : description, options, c.positionals ?? []);
}

/** Runs `memsim ARGV...`; returns the exit status. Never throws for bad input. */
export async function cli(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    const target = name === "help" && rest[0] ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    if (target?.raw) return cli([target.name, "--help"], io);
    io.out.write(target ? commandHelp(target) : usage());
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    io.err.write(`memsim: unknown command '${name}' (try 'memsim --help')\n`);
    return 2;
  }
  try {
    return await runParsed(cmd, rest, io);
  } catch (e) {
    return reportError(cmd, e, io);
  }
}

async function runParsed(cmd: Command, rest: readonly string[], io: Io): Promise<number> {
  if (!cmd.raw && (rest.includes("--help") || rest.includes("-h"))) {
    io.out.write(commandHelp(cmd));
    return 0;
  }
  const args = parseArgs(cmd.raw ? [] : rest, [...(cmd.options ?? []), ...COMMON_OPTIONS], cmd.raw ? [] : (cmd.positionals ?? []));
  const raw = cmd.raw ? new Parsed(new Map(), rest) : args;
  if (cmd.refusesEvents !== undefined && (args.str("events") !== undefined || args.str("ftrace") !== undefined)) {
    throw new UsageError(`--events and --ftrace are not taken here: ${cmd.refusesEvents}`);
  }
  const level = (args.str("log-level") ?? "silent") as LogLevel;
  const dest = io.errIsTTY ? prettyDestination(io.err) : io.err;
  const files = new EventFiles({ events: args.str("events"), ftrace: args.str("ftrace") });
  const watch = (m: Machine): void => files.watch(m);
  try {
    return await cmd.run({ io, args: raw, seed: args.int("seed", 1), json: args.flag("json"), log: makeLogger(level, dest), watch });
  } finally {
    files.close();
  }
}

function reportError(cmd: Command, e: unknown, io: Io): number {
  const who = `memsim ${cmd.name}`;
  if (e instanceof UsageError || e instanceof ConfigError) {
    io.err.write(`${who}: ${e.message}\nTry '${who} --help' for more information.\n`);
    return 2;
  }
  if (e instanceof InputError) {
    io.err.write(`${who}: ${e.message}\n`);
    return 1;
  }
  if (e instanceof KernelPanic || e instanceof InvariantViolation) {
    io.err.write(`${who}: ${e instanceof KernelPanic ? "kernel panic" : "invariant violated"}: ${e.message}\n`);
    return 3;
  }
  throw e;
}
