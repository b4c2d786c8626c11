/**
 * `memsim trace ...`: the malloc-lab driver of sim/trace, which parses its
 * own arguments (`memsim trace --help`). This file adds what every command
 * has: a progress bar on a terminal (one tick per replayed run) and the exit
 * status the driver returns.
 */
import { traceCommand as traceDriver } from "../trace/cli.ts";
import { ReplayHost } from "../trace/spawn.ts";
import type { Command } from "./command.ts";
import { makeProgress } from "./progress.ts";

/** `memsim trace`. */
export const traceCommand: Command = {
  name: "trace",
  summary: "replay malloc-lab traces with an allocator (mdriver's table); 'memsim trace --help'",
  raw: true,
  run(ctx) {
    const host = new ReplayHost();
    const bar = makeProgress(ctx.io, "trace");
    let runs = 0;
    const release: typeof host.release = (p) => {
      host.release(p);
      runs++;
      bar.update(runs, 0, `${runs} runs replayed`);
    };
    const status = traceDriver([...ctx.args.pos], ctx.io.out, ctx.io.err, { spawn: host.spawn, release });
    bar.done();
    return status;
  },
};
