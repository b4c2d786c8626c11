/**
 * One benchmark case in a Node process of its own: `child.ts NAME` times the
 * case named NAME (and its baseline, in this same process) and prints its
 * BenchResult as JSON on stdout. sim/bench/main.ts starts one per case.
 */
import { BASELINES } from "./cases/baselines.ts";
import { timeBaseline, timeCase } from "./harness.ts";
import { BENCH_CASES, sinks } from "./main.ts";

const name = process.argv[2] ?? "";
const results =
  name === "baselines"
    ? BASELINES.map(timeBaseline)
    : BENCH_CASES.filter((c) => c.name === name && c.aggregate === undefined).map((c) => timeCase(c, BASELINES));
if (results.length === 0) {
  process.stderr.write(`bench child: no case named '${name}'\n`);
  process.exit(2);
}
// Keeps the loops' work observable so the JIT cannot drop it.
if (sinks() === 0.5) process.stderr.write("sink\n");
process.stdout.write(`${JSON.stringify(results)}\n`);
