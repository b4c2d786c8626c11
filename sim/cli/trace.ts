/**
 * `memsim trace ...`: the malloc-lab driver of sim/trace, which parses its
 * own arguments (`memsim trace --help`). This file adds what every command
 * has: a progress bar on a terminal (one tick per replayed run), the exit
 * status the driver returns, and for `trace run` the `--events FILE` /
 * `--ftrace FILE` of the replay machine (every run on it: the checked runs
 * and the timed ones).
 */
import { traceCommand as traceDriver } from "../trace/cli.ts";
import { ReplayHost } from "../trace/spawn.ts";
import type { Command } from "./command.ts";
import { EventFiles, takeEventOptions } from "./event_files.ts";
import { makeProgress } from "./progress.ts";

/** `memsim trace`. */
export const traceCommand: Command = {
  name: "trace",
  summary: "replay malloc-lab traces with an allocator (mdriver's table); 'memsim trace --help'",
  raw: true,
  run(ctx) {
    const argv = [...ctx.args.pos];
    const { rest, paths } = argv[0] === "run" ? takeEventOptions(argv) : { rest: argv, paths: {} };
    const files = new EventFiles(paths);
    try {
      const host = new ReplayHost();
      files.watch(host.machine);
      const bar = makeProgress(ctx.io, "trace");
      let runs = 0;
      const release: typeof host.release = (p) => {
        host.release(p);
        runs++;
        bar.update(runs, 0, `${runs} runs replayed`);
      };
      const status = traceDriver(rest, ctx.io.out, ctx.io.err, { spawn: host.spawn, release });
      bar.done();
      return status;
    } finally {
      files.close();
    }
  },
};
