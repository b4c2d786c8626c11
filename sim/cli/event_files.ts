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
import { InputError } from "./args.ts";

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

/** The event files a command line asked for; `watch` attaches them to a machine. */
export class EventFiles {
  private readonly files: BlockFile[] = [];
  private readonly handler = (e: MemsimEvent): void => {
    for (const f of this.files) f.write(e);
  };

  /** Opens the files. Throws InputError when one cannot be written. */
  constructor(paths: { events?: string | undefined; ftrace?: string | undefined }) {
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
