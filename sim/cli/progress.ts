/**
 * A progress bar on stderr, drawn only when stderr is a terminal, so piped
 * or captured output never contains one.
 */
import type { Io } from "./io.ts";

/** A bar that is redrawn in place; `done()` erases it. */
export interface Progress {
  update(done: number, total: number, label: string): void;
  done(): void;
}

const WIDTH = 30;

/** A bar over io.err when it is a terminal; otherwise one that draws nothing. */
export function makeProgress(io: Io, title: string): Progress {
  if (!io.errIsTTY) return { update() {}, done() {} };
  let drawn = false;
  return {
    update(done, total, label) {
      if (total <= 0) {
        // Unknown total: a spinner and the label.
        io.err.write(`\r\x1b[2K${title} ${"|/-\\"[done % 4]} ${label}`.slice(0, 200));
        drawn = true;
        return;
      }
      const filled = Math.round((done / total) * WIDTH);
      const bar = `${"#".repeat(filled)}${"-".repeat(WIDTH - filled)}`;
      io.err.write(`\r\x1b[2K${title} [${bar}] ${done}/${total} ${label}`.slice(0, 200));
      drawn = true;
    },
    done() {
      if (drawn) io.err.write("\r\x1b[2K");
    },
  };
}
