/**
 * `memsim ostep SIMULATOR [its flags]`: OSTEP's homework simulators
 * (sim/ostep/), with the original's flags, defaults and output. The
 * simulator parses its own arguments as optparse does: a bad one is
 * optparse's message and status 2.
 */
import { MALLOC_OPTIONS, mallocSim } from "../ostep/malloc_sim.ts";
import { type OstepArgs, type OstepOption, ostepHelp, parseOstep } from "../ostep/options.ts";
import { PAGING_LINEAR_OPTIONS, pagingLinearTranslate } from "../ostep/paging_linear.ts";
import { PAGING_MULTILEVEL_OPTIONS, pagingMultilevelTranslate } from "../ostep/paging_multilevel.ts";
import { PAGING_POLICY_OPTIONS, pagingPolicy } from "../ostep/paging_policy.ts";
import type { Command, CommandCtx } from "./command.ts";

interface Simulator {
  readonly options: readonly OstepOption[];
  run(o: OstepArgs): { out: string; status: number; err?: string };
}

/** The simulators by the original script's name (without .py). */
const SIMULATORS: Record<string, Simulator> = {
  malloc: { options: MALLOC_OPTIONS, run: mallocSim },
  "paging-linear-translate": { options: PAGING_LINEAR_OPTIONS, run: pagingLinearTranslate },
  "paging-multilevel-translate": { options: PAGING_MULTILEVEL_OPTIONS, run: pagingMultilevelTranslate },
  "paging-policy": { options: PAGING_POLICY_OPTIONS, run: pagingPolicy },
};

/** `memsim ostep`. */
export const ostepCommand: Command = {
  name: "ostep",
  summary: `OSTEP's homework simulators with their flags and -c answers: ${Object.keys(SIMULATORS).join(", ")}`,
  raw: true,
  run(ctx) {
    const [name, ...argv] = ctx.args.pos;
    const sim = name === undefined ? undefined : SIMULATORS[name];
    if (sim === undefined) {
      const known = Object.keys(SIMULATORS).join(", ");
      const msg = name === undefined || name === "--help" || name === "-h" ? "" : `memsim ostep: unknown simulator '${name}'\n`;
      (msg ? ctx.io.err : ctx.io.out).write(`${msg}usage: memsim ostep SIMULATOR [flags] (simulators: ${known})\n`);
      return msg ? 2 : 0;
    }
    return runSimulator(ctx, name!, sim, argv, `memsim ostep ${name}`);
  },
};

/** `memsim paging-policy`: the same as `memsim ostep paging-policy`, the one simulator whose answers come from a memsim machine. */
export const pagingPolicyCommand: Command = {
  name: "paging-policy",
  summary: "OSTEP's paging-policy.py (FIFO, LRU, OPT, UNOPT, RAND, CLOCK), its answers replayed on a machine in a memory cgroup",
  raw: true,
  run(ctx) {
    const sim = SIMULATORS["paging-policy"]!;
    return runSimulator(ctx, "paging-policy", sim, ctx.args.pos, "memsim paging-policy");
  },
};

/** Parses `argv` as the original's optparse would and runs `sim`; `who` names it in messages. */
function runSimulator(ctx: CommandCtx, name: string, sim: Simulator, argv: readonly string[], who: string): number {
  const help =
    who === `memsim ${name}`
      ? ostepHelp(name, sim.options).replace(/^Usage: memsim ostep \S+/, `usage: ${who}`)
      : ostepHelp(name, sim.options);
  if (argv.includes("-h") || argv.includes("--help")) {
    ctx.io.out.write(help);
    return 0;
  }
  const o = parseOstep(sim.options, argv);
  if (typeof o === "string") {
    ctx.io.err.write(`${help}\n${who}: error: ${o}\n`);
    return 2;
  }
  const r = sim.run(o);
  ctx.io.out.write(r.out);
  if (r.err) ctx.io.err.write(`${who}: ${r.err}`);
  return r.status;
}
