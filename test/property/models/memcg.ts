/**
 * Memory cgroups against a model: up to four processes, each with a window
 * of 16 private pages, move between three groups (6 frames, 12 frames, no
 * limit) and the root, write and read their pages, fork (a child starts in
 * its parent's group) and exit, on a machine with a small swap area. After
 * every command every checker passes, MEMCG's recount included (every
 * charged page counted once in its group, memory.current and
 * memory.swap.current equal to the recount); no group is over its
 * memory.max; every byte a live process wrote reads back. A group OOM may
 * kill a process (pages shared after fork cannot be swapped out) but only
 * one of a limited group, with SIGKILL and the group's kill line. When every
 * process has exited, every group is back at 0.
 */
import fc from "fast-check";
import { expect } from "vitest";
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  Machine,
  type MemCgroup,
  PROT_READ,
  PROT_WRITE,
  type Process,
  ProcessKilled,
} from "../../../sim/index.ts";
import { checkAfterCommand, type PropertyModel, runModel, type StoryStats } from "../../support/budget.ts";

const PAGE = 4096;
const BASE = 0x100000000;
const WINDOW = 16;
const MAX_PROCS = 4;
/** The groups' memory.max in pages (Infinity: "max"); index 3 is the root. */
const LIMITS = [6, 12, Number.POSITIVE_INFINITY];

interface Model {
  /** Per process: its group (0..2, 3 = root) and the byte written at each page (absent: never written); null once it has ended. */
  procs: Array<{ group: number; bytes: Map<number, number> } | null>;
}
interface Real {
  m: Machine;
  groups: MemCgroup[];
  procs: Array<Process | null>;
  stats: StoryStats;
}
type Cmd = fc.Command<Model, Real>;

function live(model: Model): number[] {
  const out: number[] = [];
  model.procs.forEach((p, k) => {
    if (p) out.push(k);
  });
  return out;
}

const pick = (model: Model, who: number): number => live(model)[who % live(model).length] as number;

function groupOf(real: Real, g: number): MemCgroup {
  return g === 3 ? real.m.cgroups.root : (real.groups[g] as MemCgroup);
}

/** After every command: checkers, limits, and the OOM kills the machine made are ones the model allows. */
function after(model: Model, real: Real): void {
  model.procs.forEach((mp, k) => {
    const p = real.procs[k] as Process | null;
    if (mp === null || p === null || p.state === "running") return;
    expect(p.exitSignal, `process #${k} ended without an OOM kill`).toBe(9);
    expect(LIMITS[mp.group], `process #${k} of an unlimited group was OOM-killed`).not.toBe(Number.POSITIVE_INFINITY);
    expect(mp.group).not.toBe(3);
    const line = real.m.kernel.reports.filter((r) => r.kind === "oom_kill").find((r) => r.text.includes(`Killed process ${p.pid} `));
    expect(line?.text).toMatch(/^Memory cgroup out of memory: /);
    model.procs[k] = null;
    real.procs[k] = null;
  });
  // MEMCG, mm and swap after every command (stats.commands counts this one already); every checker every few.
  checkAfterCommand(real.m, real.stats, ["memcg", "mm", "swap"]);
  real.groups.forEach((g, i) => {
    expect(g.current).toBeLessThanOrEqual(LIMITS[i] as number);
  });
}

class Move implements Cmd {
  constructor(
    readonly who: number,
    readonly group: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    (real.procs[k] as Process).cgroup = groupOf(real, this.group);
    (model.procs[k] as { group: number }).group = this.group;
    after(model, real);
  }
  toString = () => `move(${this.who}, ${this.group})`;
}

class Write implements Cmd {
  constructor(
    readonly who: number,
    readonly page: number,
    readonly value: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    try {
      (real.procs[k] as Process).mem.write8(BASE + this.page * PAGE + this.page, this.value);
      model.procs[k]?.bytes.set(this.page, this.value);
    } catch (e) {
      if (!(e instanceof ProcessKilled)) throw e;
    }
    after(model, real);
  }
  toString = () => `write(${this.who}, ${this.page}, ${this.value})`;
}

class Read implements Cmd {
  constructor(
    readonly who: number,
    readonly page: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    try {
      const got = (real.procs[k] as Process).mem.read8(BASE + this.page * PAGE + this.page);
      expect(got, `process #${k} page ${this.page}`).toBe(model.procs[k]?.bytes.get(this.page) ?? 0);
    } catch (e) {
      if (!(e instanceof ProcessKilled)) throw e;
    }
    after(model, real);
  }
  toString = () => `read(${this.who}, ${this.page})`;
}

class Fork implements Cmd {
  constructor(readonly who: number) {}
  check = (m: Readonly<Model>) => live(m as Model).length < MAX_PROCS;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    const parent = real.procs[k] as Process;
    const child = parent.fork();
    if (child === null) throw new Error("fork failed");
    expect(child.cgroup).toBe(parent.cgroup);
    real.procs.push(child);
    const mp = model.procs[k] as { group: number; bytes: Map<number, number> };
    model.procs.push({ group: mp.group, bytes: new Map(mp.bytes) });
    after(model, real);
  }
  toString = () => `fork(${this.who})`;
}

class Exit implements Cmd {
  constructor(readonly who: number) {}
  check = (m: Readonly<Model>) => live(m as Model).length > 1;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    (real.procs[k] as Process).exit(0);
    real.procs[k] = null;
    model.procs[k] = null;
    after(model, real);
  }
  toString = () => `exit(${this.who})`;
}

const who = fc.nat(11);
const page = fc.nat(WINDOW - 1);

function commands(): fc.Arbitrary<Cmd>[] {
  return [
    fc.tuple(who, fc.nat(3)).map(([w, g]) => new Move(w, g)),
    fc.tuple(who, page, fc.integer({ min: 1, max: 255 })).map(([w, p, v]) => new Write(w, p, v)),
    fc.tuple(who, page, fc.integer({ min: 1, max: 255 })).map(([w, p, v]) => new Write(w, p, v)),
    fc.tuple(who, page, fc.integer({ min: 1, max: 255 })).map(([w, p, v]) => new Write(w, p, v)),
    fc.tuple(who, page).map(([w, p]) => new Read(w, p)),
    who.map((w) => new Fork(w)),
    who.map((w) => new Exit(w)),
  ];
}

/** One story: a machine, the three groups and a first process in group 0, then the commands. */
function runStory(cmds: Iterable<Cmd>): StoryStats {
  const stats: StoryStats = { commands: 0, checks: 0 };
  const m = Machine.boot({ ramBytes: 4 << 20, swapBytes: 96 * PAGE, seed: 1 });
  const groups = LIMITS.map((max, i) => m.cgroups.create(`g${i}`, { max: max === Number.POSITIVE_INFINITY ? max : max * PAGE }));
  const first = m.spawn("memcg");
  first.cgroup = groups[0] as MemCgroup;
  expect(first.sys.mmap(BASE, WINDOW * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)).toBe(BASE);
  const model: Model = { procs: [{ group: 0, bytes: new Map() }] };
  const real: Real = { m, groups, procs: [first], stats };
  runModel(model, real, cmds, stats);
  for (const p of real.procs) if (p !== null && p.state === "running") p.exit(0);
  for (const g of groups) expect([g.current, g.swapCurrent]).toEqual([0, 0]);
  m.check();
  stats.checks++;
  return stats;
}

/** The memory cgroup model (budget: MEMCG_COMMANDS, default 2,000 commands per CI run: 10,000 take about 3 minutes; the soak runs more). */
export const MEMCG_MODEL: PropertyModel<Iterable<Cmd>> = {
  name: "memcg",
  budget: Number(process.env.MEMCG_COMMANDS ?? 2_000),
  storyMax: 60,
  arbitrary: (max) => fc.commands(commands(), { maxCommands: max, size: "max" }),
  run: runStory,
};
