/**
 * Where a command's output goes. Commands write to `io.out` (results) and
 * `io.err` (messages, logs, progress); tests hand in string sinks, the real
 * entry point hands in stdout/stderr made safe against a closed pipe.
 */
import type { Readable } from "node:stream";

/** Something text can be written to. */
export interface Writer {
  write(s: string): unknown;
}

/** A command's standard streams. */
export interface Io {
  readonly out: Writer;
  readonly err: Writer;
  /** Input for `memsim shell` (stdin when absent). */
  readonly input?: Readable;
  /** True when stderr is a terminal: progress bars and pretty logs only then. */
  readonly errIsTTY: boolean;
  /** True when the input is a terminal: the shell prompts only then. */
  readonly inputIsTTY: boolean;
}

/** A Writer that keeps everything, for tests and for building a report in memory. */
export class StringSink implements Writer {
  text = "";
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

/** An Io over string sinks, with `input` as the shell's input. */
export function memoryIo(input?: Readable): Io & { out: StringSink; err: StringSink } {
  const io = { out: new StringSink(), err: new StringSink(), errIsTTY: false, inputIsTTY: false };
  return input ? { ...io, input } : io;
}

/**
 * The process's real streams. A reader that goes away (`memsim run | head`)
 * ends the process quietly with status 0 instead of an EPIPE crash.
 */
export function processIo(): Io {
  for (const s of [process.stdout, process.stderr]) {
    s.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") process.exit(0);
      throw e;
    });
  }
  return {
    out: process.stdout,
    err: process.stderr,
    input: process.stdin,
    errIsTTY: process.stderr.isTTY === true,
    inputIsTTY: process.stdin.isTTY === true,
  };
}
