/**
 * Reclaim under memory pressure against a model of every word written: a
 * 4 MiB machine with swap, up to three processes each over a window bigger
 * than RAM; commands fill runs of pages, write and read single pages, fork,
 * exit, mark pages cold or lazily free, lock and unlock runs of pages
 * (mlock/munlock under an RLIMIT_MEMLOCK of LOCK_LIMIT pages: the result,
 * VmLck and the Unevictable count are predicted exactly), and ask for
 * reclaim directly. The
 * windows together exceed RAM many times, so kswapd and direct reclaim run
 * all the time. Every word a process wrote reads back (a MADV_FREE page
 * reads back its word or zero, and once written again its new word);
 * every checker (the LRU and reverse map among them) passes after every command.
 */
import fc from "fast-check";
import { expect } from "vitest";
import {
  EINVAL,
  ENOMEM,
  MADV_COLD,
  MADV_FREE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_NORESERVE,
  MAP_PRIVATE,
  Machine,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from "../../../sim/index.ts";
import type { PropertyModel, StoryStats } from "../../support/budget.ts";

const PAGE = 4096;
const BASE = 0x100000000;
/** Pages per process window: three windows are about 3.5 times the machine's RAM. */
const WINDOW = 1200;
const MAX_PROCS = 3;
/** RLIMIT_MEMLOCK of every process, in pages. */
const LOCK_LIMIT = 96;

/** Per page: the word at its start, or a pair [word, 0] for a MADV_FREE page that may be dropped. 0 / absent = never written. */
type Pages = Map<number, number | readonly [number, number]>;
interface Model {
  procs: Array<Pages | null>;
  /** Per process: the window pages it has locked (mlock is not inherited by fork). */
  locked: Array<Set<number> | null>;
}
interface Real {
  m: Machine;
  procs: Array<Process | null>;
}
type Cmd = fc.Command<Model, Real>;

function pick(model: Model, who: number): number {
  const live = model.procs.flatMap((p, k) => (p ? [k] : []));
  return live[who % live.length] as number;
}

function after(real: Real, stats: { checks: number }): void {
  real.m.check();
  stats.checks++;
}

function verify(real: Real, model: Model, k: number, page: number): void {
  const got = (real.procs[k] as Process).mem.read32(BASE + page * PAGE);
  const want = (model.procs[k] as Pages).get(page) ?? 0;
  if (typeof want === "number") {
    if (got !== want) throw new Error(`process #${k} page ${page}: machine ${got}, model ${want}`);
    return;
  }
  if (got !== want[0] && got !== want[1]) throw new Error(`process #${k} lazily freed page ${page}: machine ${got}, model ${want[0]} or 0`);
  // A dropped page reads zero from now on; a kept one that was only read stays lazily free (only a write
  // makes MADV_FREE's page ordinary again), so a later reclaim may still drop it.
  if (got === 0) (model.procs[k] as Pages).set(page, 0);
}

const stats = { checks: 0 };

class Fill implements Cmd {
  constructor(
    readonly who: number,
    readonly start: number,
    readonly n: number,
    readonly tag: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    const pages = model.procs[k] as Pages;
    const p = real.procs[k] as Process;
    const end = Math.min(WINDOW, this.start + this.n);
    for (let i = this.start; i < end; i++) {
      const v = (this.tag + i) >>> 0 || 1;
      p.mem.write32(BASE + i * PAGE, v);
      pages.set(i, v);
    }
    after(real, stats);
  }
  toString = () => `fill(${this.who}, ${this.start}, ${this.n}, ${this.tag})`;
}

class Read implements Cmd {
  constructor(
    readonly who: number,
    readonly start: number,
    readonly n: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    const end = Math.min(WINDOW, this.start + this.n);
    for (let i = this.start; i < end; i++) verify(real, model, k, i);
    after(real, stats);
  }
  toString = () => `read(${this.who}, ${this.start}, ${this.n})`;
}

class Fork implements Cmd {
  constructor(readonly who: number) {}
  check = (model: Model) => model.procs.some((p) => p === null);
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    const slot = model.procs.indexOf(null);
    const child = (real.procs[k] as Process).fork();
    real.procs[slot] = child;
    model.procs[slot] = new Map(model.procs[k] as Pages);
    model.locked[slot] = new Set();
    after(real, stats);
  }
  toString = () => `fork(${this.who})`;
}

class Exit implements Cmd {
  constructor(readonly who: number) {}
  check = (model: Model) => model.procs.filter((p) => p !== null).length > 1;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    (real.procs[k] as Process).exit(0);
    real.procs[k] = null;
    model.procs[k] = null;
    model.locked[k] = null;
    after(real, stats);
  }
  toString = () => `exit(${this.who})`;
}

class Advise implements Cmd {
  constructor(
    readonly who: number,
    readonly start: number,
    readonly n: number,
    readonly advice: "cold" | "free",
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    const end = Math.min(WINDOW, this.start + this.n);
    const r = (real.procs[k] as Process).sys.madvise(
      BASE + this.start * PAGE,
      (end - this.start) * PAGE,
      this.advice === "cold" ? MADV_COLD : MADV_FREE,
    );
    // A locked VMA refuses both with EINVAL; the VMAs before it took the advice.
    let stop = this.start;
    while (stop < end && !(model.locked[k] as Set<number>).has(stop)) stop++;
    expect(r).toBe(stop < end ? -EINVAL : 0);
    if (this.advice === "free") {
      const pages = model.procs[k] as Pages;
      for (let i = this.start; i < stop; i++) {
        const v = pages.get(i);
        if (typeof v === "number" && v !== 0) pages.set(i, [v, 0]);
      }
    }
    after(real, stats);
  }
  toString = () => `madvise(${this.who}, ${this.start}, ${this.n}, ${this.advice})`;
}

class Lock implements Cmd {
  constructor(
    readonly who: number,
    readonly start: number,
    readonly n: number,
    readonly op: "mlock" | "munlock",
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    const p = real.procs[k] as Process;
    const locked = model.locked[k] as Set<number>;
    const end = Math.min(WINDOW, this.start + this.n);
    const addr = BASE + this.start * PAGE;
    if (this.op === "munlock") {
      expect(p.sys.munlock(addr, (end - this.start) * PAGE)).toBe(0);
      for (let i = this.start; i < end; i++) locked.delete(i);
    } else {
      const union = new Set(locked);
      for (let i = this.start; i < end; i++) union.add(i);
      const want = union.size > LOCK_LIMIT ? -ENOMEM : 0;
      expect(p.sys.mlock(addr, (end - this.start) * PAGE)).toBe(want);
      if (want === 0) model.locked[k] = union;
    }
    const vmLck = Number(/VmLck:\s+(\d+) kB/.exec(p.proc.status())?.[1]);
    expect(vmLck).toBe((model.locked[k] as Set<number>).size * 4);
    // Every locked page is resident (mlock populates) and unevictable; nothing else is.
    const all = model.locked.reduce((n, l) => n + (l?.size ?? 0), 0);
    expect(Number(/Unevictable:\s+(\d+) kB/.exec(real.m.proc.meminfo())?.[1])).toBe(all * 4);
    after(real, stats);
  }
  toString = () => `${this.op}(${this.who}, ${this.start}, ${this.n})`;
}

class Reclaim implements Cmd {
  constructor(readonly n: number) {}
  check = () => true;
  run(_model: Model, real: Real): void {
    real.m.kernel.taskParts.reclaim.tryToFreePages(this.n, 0);
    after(real, stats);
  }
  toString = () => `reclaim(${this.n})`;
}

function commands(): Array<fc.Arbitrary<Cmd>> {
  const who = fc.nat(MAX_PROCS - 1);
  const page = fc.nat(WINDOW - 1);
  const fill = fc.tuple(who, page, fc.integer({ min: 1, max: WINDOW }), fc.nat()).map(([w, s, n, t]) => new Fill(w, s, n, t));
  return [
    fill,
    fill,
    fc.tuple(who, page, fc.integer({ min: 1, max: 200 })).map(([w, s, n]) => new Read(w, s, n)),
    who.map((w) => new Fork(w)),
    who.map((w) => new Exit(w)),
    fc
      .tuple(who, page, fc.integer({ min: 1, max: 100 }), fc.constantFrom("cold" as const, "free" as const))
      .map(([w, s, n, a]) => new Advise(w, s, n, a)),
    fc
      .tuple(who, page, fc.integer({ min: 1, max: 64 }), fc.constantFrom("mlock" as const, "munlock" as const))
      .map(([w, s, n, op]) => new Lock(w, s, n, op)),
    fc.integer({ min: 1, max: 64 }).map((n) => new Reclaim(n)),
  ];
}

function runStory(cmds: Iterable<Cmd>): StoryStats {
  const m = Machine.boot({ ramBytes: 4 << 20, swapBytes: 32 << 20, debugVm: 1 });
  const first = m.spawn("r0");
  first.setrlimit("memlock", LOCK_LIMIT * PAGE);
  expect(first.sys.mmap(BASE, WINDOW * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE)).toBe(BASE);
  const model: Model = { procs: [new Map(), null, null], locked: [new Set(), null, null] };
  const real: Real = { m, procs: [first, null, null] };
  const s: StoryStats = { commands: 0, checks: 0 };
  stats.checks = 0;
  for (const c of cmds) {
    if (!c.check(model)) continue;
    s.commands++;
    c.run(model, real);
  }
  // Every word of every live process, at the end.
  for (let k = 0; k < MAX_PROCS; k++) if (model.procs[k]) for (let i = 0; i < WINDOW; i++) verify(real, model, k, i);
  m.check();
  s.checks = stats.checks + 1;
  return s;
}

/** Reclaim under pressure, word-exact (see the file comment). */
export const RECLAIM_MODEL: PropertyModel<Iterable<Cmd>> = {
  name: "reclaim",
  budget: Number(process.env.RECLAIM_COMMANDS ?? 1_000),
  storyMax: 40,
  arbitrary: (max) => fc.commands(commands(), { maxCommands: max, size: "max" }),
  run: (cmds) => runStory(cmds),
};
