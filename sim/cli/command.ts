/**
 * What a `memsim` subcommand is: its declaration (options, positionals, help)
 * and its run function. Every command also gets the common options below.
 */
import type { KLogger } from "../../kernel/printk.ts";
import { LOG_LEVELS } from "../log.ts";
import type { Machine } from "../machine.ts";
import type { OptSpec, Parsed, PosSpec } from "./args.ts";
import type { Io } from "./io.ts";

/** Options every command accepts. */
export const COMMON_OPTIONS: readonly OptSpec[] = [
  { name: "seed", kind: "int", arg: "N", help: "seed of every random choice (default 1)", max: 2 ** 32 - 1 },
  { name: "json", kind: "flag", help: "machine-readable output" },
  { name: "log-level", kind: "string", arg: "LEVEL", help: `open the logs on stderr: ${LOG_LEVELS.join(", ")}`, choices: LOG_LEVELS },
  { name: "events", kind: "string", arg: "FILE", help: "write every event to FILE as JSON lines" },
  { name: "ftrace", kind: "string", arg: "FILE", help: "write every event to FILE in ftrace text format" },
  { name: "help", short: "h", kind: "flag", help: "show this help" },
];

/** What a command's run function is handed. */
export interface CommandCtx {
  readonly io: Io;
  readonly args: Parsed;
  /** --seed, default 1. */
  readonly seed: number;
  /** --json. */
  readonly json: boolean;
  /** The logger machines are booted with (silent unless --log-level). */
  readonly log: KLogger;
  /** Hands a machine the command booted to --events / --ftrace (does nothing without them). */
  readonly watch: (m: Machine) => void;
}

/** One subcommand. */
export interface Command {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** More help, printed under the usage line. */
  readonly description?: string;
  readonly options?: readonly OptSpec[];
  readonly positionals?: readonly PosSpec[];
  /** Hands every argument to `run` unparsed (for commands with subcommands of their own). */
  readonly raw?: boolean;
  /**
   * Why the command refuses `--events` and `--ftrace` (a usage error naming
   * this reason, before any file is opened); absent when it takes them.
   */
  readonly refusesEvents?: string;
  /** Returns the exit status. Throws UsageError / InputError for bad input. */
  run(ctx: CommandCtx): number | Promise<number>;
}
