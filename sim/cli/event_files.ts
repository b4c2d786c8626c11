/**
 * `--events FILE` and `--ftrace FILE`: every event of every machine a
 * command boots, written as JSON lines and as an ftrace `trace` file. The
 * clock is the machine's logical one, so the same command writes the same
 * bytes. Output is buffered and written in blocks; close() flushes it.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import type { MemsimEvent } from "../../kernel/events_types.ts";
import type { Machine } from "../machine.ts";
import { FTRACE_HEADER, formatEventJson, formatFtraceLine } from "../trace_output.ts";
import { InputError, UsageError } from "./args.ts";

const BLOCK = 1 << 16;

/** One output file, written in blocks. */
class BlockFile {
  private buf = "";
  private readonly fd: number;

  constructor(
    readonly path: string,
    private readonly format: (e: MemsimEvent) => string,
    header: string,
  ) {
    try {
      this.fd = openSync(path, "w");
    } catch (e) {
      throw new InputError(`cannot write ${path}: ${(e as Error).message}`);
    }
    this.buf = header;
  }

  write(e: MemsimEvent): void {
    this.buf += `${this.format(e)}\n`;
    if (this.buf.length >= BLOCK) this.flush();
  }

  flush(): void {
    if (this.buf.length > 0) writeSync(this.fd, this.buf);
    this.buf = "";
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/** The files of `--events FILE` and `--ftrace FILE` (each optional). */
export interface EventPaths {
  readonly events?: string | undefined;
  readonly ftrace?: string | undefined;
}

const EVENT_OPTIONS = ["events", "ftrace"] as const;

/**
 * Takes `--events FILE` and `--ftrace FILE` (or `--events=FILE`) out of the
 * arguments of a command that parses its own (`memsim trace run`). Returns
 * the other arguments, in order, and the paths. Throws UsageError when an
 * option has no FILE.
 */
export function takeEventOptions(argv: readonly string[]): { rest: string[]; paths: EventPaths } {
  const rest: string[] = [];
  const paths: { events?: string; ftrace?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const name = EVENT_OPTIONS.find((o) => a === `--${o}` || a.startsWith(`--${o}=`));
    if (name === undefined) {
      rest.push(a);
      continue;
    }
    const value = a.includes("=") ? a.slice(a.indexOf("=") + 1) : argv[++i];
    if (value === undefined || value === "") throw new UsageError(`--${name} needs a FILE`);
    paths[name] = value;
  }
  return { rest, paths };
}

/** The event files a command line asked for; `watch` attaches them to a machine. */
export class EventFiles {
  private readonly files: BlockFile[] = [];
  private readonly handler = (e: MemsimEvent): void => {
    for (const f of this.files) f.write(e);
  };

  /** Opens the files. Throws InputError when one cannot be written. */
  constructor(paths: EventPaths) {
    if (paths.events !== undefined) this.files.push(new BlockFile(paths.events, formatEventJson, ""));
    if (paths.ftrace !== undefined) this.files.push(new BlockFile(paths.ftrace, formatFtraceLine, FTRACE_HEADER));
  }

  /** True when some file was asked for. */
  get wanted(): boolean {
    return this.files.length > 0;
  }

  /** Streams every event of `m` to the files from now on. */
  watch(m: Machine): void {
    if (this.files.length > 0) m.events.onAll(this.handler);
  }

  /** Flushes and closes every file. */
  close(): void {
    for (const f of this.files) f.close();
  }
}
