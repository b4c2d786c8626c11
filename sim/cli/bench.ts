/**
 * `memsim bench [pattern]`: the benchmarks of sim/bench (as `make bench`),
 * with a progress bar on a terminal and --json for the figures.
 */

import { formatResults } from "../bench/harness.ts";
import { benchMain } from "../bench/main.ts";
import { UsageError } from "./args.ts";
import type { Command } from "./command.ts";
import { makeProgress } from "./progress.ts";

function patternArg(text: string | undefined): RegExp | undefined {
  if (text === undefined) return undefined;
  try {
    return new RegExp(text);
  } catch {
    throw new UsageError(`bad pattern '${text}': not a regular expression`);
  }
}

/** `memsim bench`. */
export const benchCommand: Command = {
  name: "bench",
  summary: "run the benchmarks (each case as a ratio to a baseline timed in the same process)",
  refusesEvents:
    "recording events inside the timed loops would distort the timings bench reports (trace the same work with run, script or report; 'memsim bench events' measures what listening costs)",
  positionals: [
    {
      name: "pattern",
      help: "a regular expression: only cases whose name matches (several words are one pattern joined by spaces)",
      optional: true,
      rest: true,
    },
  ],
  run(ctx) {
    const filter = patternArg(ctx.args.pos.length === 0 ? undefined : ctx.args.pos.join(" "));
    const bar = makeProgress(ctx.io, "bench");
    const results = benchMain(filter, (done, total, name) => bar.update(done, total, name));
    bar.done();
    const shown = results.filter((r) => r.name !== "sink");
    ctx.io.out.write(ctx.json ? `${JSON.stringify(shown, null, 2)}\n` : formatResults(shown));
    return 0;
  },
};
