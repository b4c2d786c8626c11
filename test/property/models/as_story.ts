/**
 * One story of the multi-process address-space model: boot a machine, spawn
 * a process, run the commands against machine and model, then let every
 * process exit and check that every frame, every commit charge and every
 * shared page is back. Shared by the vitest property test and the soak
 * runner (test/soak/soak.ts).
 */
import fc from "fast-check";
import { Machine } from "../../../sim/index.ts";
import type { PropertyModel } from "../../support/budget.ts";
import { addressSpaceCommands } from "./as_commands.ts";
import { checkIsolation } from "./as_isolation.ts";
import { fail, type Model, newModel, type Real, START_BRK, verifyAll } from "./as_model.ts";

export interface StoryOptions {
  /** RAM of each story's machine. */
  ramBytes: number;
  /** Swap of each story's machine (MADV_PAGEOUT swaps pages out; enough that it never fills). */
  swapBytes?: number;
  /** Every page of every process is compared this often (in commands), and at the end. */
  fullEvery: number;
}

export const DEFAULT_STORY: StoryOptions = { ramBytes: 8 << 20, swapBytes: 4 << 20, fullEvery: 25 };

function meminfoKb(m: Machine, field: string): number {
  const hit = m.proc.meminfo().match(new RegExp(`\\n${field}: +(\\d+) kB`));
  return hit ? Number(hit[1]) : Number.NaN;
}

/** Runs one story; throws at the first disagreement. Returns the model (its stats count the work). */
export function runStory(cmds: Iterable<fc.Command<Model, Real>>, opts: StoryOptions = DEFAULT_STORY): Model {
  const m = Machine.boot({ ramBytes: opts.ramBytes, swapBytes: opts.swapBytes ?? 0, debugVm: 1 });
  m.kernel.dropCaches();
  const free0 = meminfoKb(m, "MemFree");
  const model = newModel();
  const real: Real = { m, procs: [m.spawn("model")], sinceFull: 0, fullEvery: opts.fullEvery };
  model.procs.push({ pages: new Map(), brk: START_BRK });
  fc.modelRun(() => ({ model, real }), cmds);
  verifyAll(model, real);
  checkIsolation(model, real);
  for (const p of m.processes()) p.exit(0);
  m.kernel.dropCaches();
  m.check();
  model.stats.checks++;
  for (const field of ["Committed_AS", "AnonPages", "Shmem", "PageTables"]) {
    const kb = meminfoKb(m, field);
    if (kb !== 0) fail(`after every process exited, ${field} is ${kb} kB`);
  }
  if (meminfoKb(m, "SwapFree") !== meminfoKb(m, "SwapTotal"))
    fail(`after every process exited, SwapFree is ${meminfoKb(m, "SwapFree")} kB`);
  const free = meminfoKb(m, "MemFree");
  if (free !== free0) fail(`after every process exited, MemFree is ${free} kB, ${free0} kB at boot`);
  return model;
}

/** The fast-check arbitrary of one story of up to `maxCommands` commands. */
export function storyArbitrary(maxCommands: number): fc.Arbitrary<Iterable<fc.Command<Model, Real>>> {
  return fc.commands(addressSpaceCommands(), { maxCommands, size: "max" });
}

/** The multi-process model as the budgeted test and the soak drive it (AS_COMMANDS overrides its budget). */
export const ADDRESS_SPACE_MODEL: PropertyModel<Iterable<fc.Command<Model, Real>>> = {
  name: "address-spaces",
  budget: Number(process.env.AS_COMMANDS ?? 10_000),
  storyMax: 300,
  arbitrary: storyArbitrary,
  run: (cmds) => {
    const s = runStory(cmds).stats;
    return { commands: s.commands, checks: s.checks };
  },
};
