/**
 * hugetlb against a model: processes over a window of four 2 MiB slots at a
 * fixed address map (MAP_FIXED | MAP_HUGETLB, private or shared), unmap, write and read huge
 * pages, fork, exit, and the pool is resized. The model keeps which pool
 * page each slot of each process maps (or none yet), each page's value and
 * its mappers, and which slots still hold a reservation; from that it
 * predicts every mmap's ENOMEM, every fault's SIGBUS (the process dies),
 * every COW copy, and HugePages_Total/Free/Rsvd after every command. The
 * hugetlb, mm, page-table and THP checkers pass after every command; at the
 * end every pool page is free and unreserved.
 */
import fc from "fast-check";
import { expect } from "vitest";
import {
  BusError,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from "../../../sim/index.ts";
import { checkAfterCommand, type PropertyModel, type StoryStats } from "../../support/budget.ts";

const HPAGE = 2 << 20;
const BASE = 0x200000000;
const SLOTS = 4;
const MAX_PROCS = 3;
const OWN = ["hugetlb", "mm", "pgtable", "thp"] as const;
const HUGE = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_FIXED;

/** One mapped slot: the model page it maps (-1: none yet) and whether it holds a reservation. */
interface MSlot {
  page: number;
  owner: boolean;
  /** MAP_SHARED: populated at mmap, never copied. */
  shared: boolean;
}
type Slots = Map<number, MSlot>;
interface Model {
  procs: Array<Slots | null>;
  /** Model page -> [value, mappers]. */
  pages: Map<number, [number, number]>;
  nextPage: number;
  total: number;
  stats: StoryStats;
}
interface Real {
  m: Machine;
  procs: Array<Process | null>;
}
type Cmd = fc.Command<Model, Real>;

function live(model: Model): number[] {
  const out: number[] = [];
  model.procs.forEach((p, k) => {
    if (p) out.push(k);
  });
  return out;
}

function pick(model: Model, who: number): number {
  const l = live(model);
  return l[who % l.length] as number;
}

function rsvd(model: Model): number {
  let n = 0;
  for (const p of model.procs) if (p) for (const s of p.values()) if (s.owner && s.page < 0) n++;
  return n;
}

function free(model: Model): number {
  return model.total - model.pages.size;
}

function after(model: Model, real: Real): void {
  model.stats.commands++;
  const text = real.m.proc.meminfo();
  const got = ["HugePages_Total", "HugePages_Free", "HugePages_Rsvd"].map((k) => Number(new RegExp(`\n${k}: +(\\d+)`).exec(text)?.[1]));
  expect(got).toEqual([model.total, free(model), rsvd(model)]);
  checkAfterCommand(real.m, model.stats, OWN);
}

/** The slot's mapping goes: its page loses a mapper. */
function drop(model: Model, s: MSlot): void {
  if (s.page < 0) return;
  const pg = model.pages.get(s.page) as [number, number];
  if (--pg[1] === 0) model.pages.delete(s.page);
}

function newPage(model: Model, value: number): number {
  const id = model.nextPage++;
  model.pages.set(id, [value, 1]);
  return id;
}

function kill(model: Model, real: Real, k: number): void {
  for (const s of (model.procs[k] as Slots).values()) drop(model, s);
  model.procs[k] = null;
  real.procs[k] = null;
}

class Mmap implements Cmd {
  constructor(
    readonly who: number,
    readonly s: number,
    readonly n: number,
    readonly shared: boolean,
  ) {}
  check = (m: Readonly<Model>) => live(m as Model).length > 0;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    const n = Math.min(this.n, SLOTS - this.s);
    const flags = this.shared ? (HUGE & ~MAP_PRIVATE) | MAP_SHARED : HUGE;
    const r = (real.procs[k] as Process).sys.mmap(BASE + this.s * HPAGE, n * HPAGE, PROT_READ | PROT_WRITE, flags);
    // The reservation is made before MAP_FIXED unmaps what was there.
    if (free(model) - rsvd(model) < n) expect(r).toBeLessThan(0);
    else {
      expect(r).toBe(BASE + this.s * HPAGE);
      const slots = model.procs[k] as Slots;
      for (let i = this.s; i < this.s + n; i++) {
        const old = slots.get(i);
        if (old) drop(model, old);
        slots.set(i, { page: -1, owner: true, shared: this.shared });
      }
      // A shared mapping is populated at once, from its reservations.
      if (this.shared) for (let i = this.s; i < this.s + n; i++) (slots.get(i) as MSlot).page = newPage(model, 0);
    }
    after(model, real);
  }
  toString = () => `mmap(${this.who}, ${this.s}, ${this.n}, ${this.shared ? "shared" : "private"})`;
}

class Munmap implements Cmd {
  constructor(
    readonly who: number,
    readonly s: number,
    readonly n: number,
  ) {}
  check = (m: Readonly<Model>) => live(m as Model).length > 0;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    const n = Math.min(this.n, SLOTS - this.s);
    expect((real.procs[k] as Process).sys.munmap(BASE + this.s * HPAGE, n * HPAGE)).toBe(0);
    const slots = model.procs[k] as Slots;
    for (let i = this.s; i < this.s + n; i++) {
      const old = slots.get(i);
      if (old) drop(model, old);
      slots.delete(i);
    }
    after(model, real);
  }
  toString = () => `munmap(${this.who}, ${this.s}, ${this.n})`;
}

/** A write (`v` >= 0) or read of the slot's first word; SIGBUS kills the process when the pool has no page for it. */
class Access implements Cmd {
  constructor(
    readonly who: number,
    readonly s: number,
    readonly v: number,
  ) {}
  check = (m: Readonly<Model>) => live(m as Model).length > 0;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    const slot = (model.procs[k] as Slots).get(this.s);
    const p = real.procs[k] as Process;
    const va = BASE + this.s * HPAGE;
    if (slot === undefined) {
      after(model, real);
      return;
    }
    const write = this.v >= 0;
    const spare = free(model) - rsvd(model) > 0;
    const pg = slot.page < 0 ? undefined : (model.pages.get(slot.page) as [number, number]);
    const cow = write && pg !== undefined && pg[1] > 1 && !slot.shared;
    const needs = pg === undefined ? !slot.owner : cow;
    if (needs && !spare) {
      expect(() => (write ? p.mem.write32(va, this.v) : p.mem.read32(va))).toThrow(BusError);
      kill(model, real, k);
      after(model, real);
      return;
    }
    if (pg === undefined) {
      slot.page = newPage(model, 0);
      slot.owner = false;
    } else if (cow && pg !== undefined) {
      pg[1]--;
      slot.page = newPage(model, pg[0]);
    }
    const mine = model.pages.get(slot.page) as [number, number];
    if (write) {
      p.mem.write32(va, this.v);
      mine[0] = this.v;
    } else expect(p.mem.read32(va)).toBe(mine[0]);
    after(model, real);
  }
  toString = () => `access(${this.who}, ${this.s}, ${this.v})`;
}

class Fork implements Cmd {
  constructor(readonly who: number) {}
  check = (m: Readonly<Model>) => live(m as Model).length > 0 && live(m as Model).length < MAX_PROCS;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    const child = (real.procs[k] as Process).fork();
    if (child === null) throw new Error("fork failed");
    real.procs.push(child);
    const copy: Slots = new Map();
    for (const [i, s] of model.procs[k] as Slots) {
      if (s.page >= 0) (model.pages.get(s.page) as [number, number])[1]++;
      copy.set(i, { page: s.page, owner: false, shared: s.shared });
    }
    model.procs.push(copy);
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
    kill(model, real, k);
    after(model, real);
  }
  toString = () => `exit(${this.who})`;
}

/** vm.nr_hugepages = n: growth takes what the buddy gives; a shrink frees only free unreserved pages. */
class Resize implements Cmd {
  constructor(readonly n: number) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const got = real.m.kernel.setNrHugepages(this.n);
    if (this.n >= model.total) expect(got).toBeLessThanOrEqual(this.n);
    else expect(got).toBe(Math.max(this.n, model.total - (free(model) - rsvd(model))));
    model.total = got;
    after(model, real);
  }
  toString = () => `resize(${this.n})`;
}

const who = fc.nat(11);
const slot = fc.nat(SLOTS - 1);
const count = fc.integer({ min: 1, max: SLOTS });

function commands(): fc.Arbitrary<Cmd>[] {
  return [
    fc.tuple(who, slot, count, fc.boolean()).map(([w, s, n, sh]) => new Mmap(w, s, n, sh)),
    fc.tuple(who, slot, count).map(([w, s, n]) => new Munmap(w, s, n)),
    fc.tuple(who, slot, fc.nat()).map(([w, s, v]) => new Access(w, s, v)),
    fc.tuple(who, slot, fc.nat()).map(([w, s, v]) => new Access(w, s, v)),
    fc.tuple(who, slot).map(([w, s]) => new Access(w, s, -1)),
    who.map((w) => new Fork(w)),
    who.map((w) => new Exit(w)),
    fc.integer({ min: 0, max: 8 }).map((n) => new Resize(n)),
  ];
}

/** One story; throws at the first disagreement with the model. */
function runStory(cmds: Iterable<Cmd>): StoryStats {
  const m = Machine.boot({ ramBytes: 48 << 20, debugVm: 1, hugePages: 5 });
  const p = m.spawn("hugetlb");
  const model: Model = { procs: [new Map()], pages: new Map(), nextPage: 0, total: 5, stats: { commands: 0, checks: 0 } };
  const real: Real = { m, procs: [p] };
  fc.modelRun(() => ({ model, real }), cmds);
  m.check();
  for (const proc of m.processes()) proc.exit(0);
  m.check();
  const pool = m.kernel.hugetlb;
  expect([pool.total - pool.free, pool.rsvd]).toEqual([0, 0]);
  return { commands: model.stats.commands + 1, checks: model.stats.checks + 2 };
}

/** The hugetlb model; its vitest property runs HUGETLB_COMMANDS (default 300) commands per CI run. */
export const HUGETLB_MODEL: PropertyModel<Iterable<Cmd>> = {
  name: "hugetlb",
  budget: Number(process.env.HUGETLB_COMMANDS ?? 300),
  storyMax: 40,
  arbitrary: (max) => fc.commands(commands(), { maxCommands: max, size: "max" }),
  run: (cmds) => runStory(cmds),
};
