/**
 * Transparent huge pages against a model: several processes over a window of
 * three 2 MiB-aligned huge pages with THP "always"; commands write and read
 * pages, map, unmap, mprotect, MADV_DONTNEED and mremap ranges of any size
 * (so huge pages are split at every kind of edge, and moved whole when the
 * move keeps their alignment), fork, exit and run khugepaged (which
 * collapses what was split back). The model keeps one 32-bit value per page
 * (written at the page's first word) and its protection: every value reads
 * back, every checker (thp, mm, page tables, TLB) passes after every
 * command, and when every process has exited every frame is free again.
 */
import fc from "fast-check";
import { expect } from "vitest";
import {
  ENOMEM,
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  Machine,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from "../../../sim/index.ts";
import { checkAfterCommand, type PropertyModel, type StoryStats } from "../../support/budget.ts";

const PAGE = 4096;
const HPAGES = 512;
/** 2 MiB aligned. */
const BASE = 0x200000000;
const WINDOW = 3 * HPAGES;
const MAX_PROCS = 3;
const OWN = ["thp", "mm", "pgtable", "tlb"] as const;

/** Per process: window page -> its value and whether it is writable; absent = unmapped. */
interface MPage {
  v: number;
  rw: boolean;
}
type Pages = Map<number, MPage>;
interface Model {
  procs: Array<Pages | null>;
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

function after(model: Model, real: Real): void {
  model.stats.commands++;
  checkAfterCommand(real.m, model.stats, OWN);
}

function verify(real: Real, model: Model, k: number, from: number, to: number): void {
  const pages = model.procs[k] as Pages;
  const mem = (real.procs[k] as Process).mem;
  for (let i = from; i < to; i++) {
    const pg = pages.get(i);
    if (pg === undefined) continue;
    const got = mem.read32(BASE + i * PAGE);
    if (got !== pg.v) throw new Error(`process #${k} page ${i}: machine ${got}, model ${pg.v}`);
  }
}

/** [s, e) clipped to the window. */
function clip(s: number, n: number): [number, number] {
  return [s, Math.min(WINDOW, s + n)];
}

/** The end of the run of mapped pages from `s` (at most `e`); `s` when `s` is unmapped. */
function mappedRun(pages: Pages, s: number, e: number): number {
  let i = s;
  while (i < e && pages.has(i)) i++;
  return i;
}

class Touch implements Cmd {
  constructor(
    readonly who: number,
    readonly start: number,
    readonly n: number,
    readonly v: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    const pages = model.procs[k] as Pages;
    const mem = (real.procs[k] as Process).mem;
    const [s, e] = clip(this.start, this.n);
    for (let i = s; i < e; i++) {
      const pg = pages.get(i);
      if (pg === undefined || !pg.rw) continue;
      pg.v = (this.v + i) >>> 0;
      mem.write32(BASE + i * PAGE, pg.v);
    }
    after(model, real);
  }
  toString = () => `touch(${this.who}, ${this.start}, ${this.n}, ${this.v})`;
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
    const [s, e] = clip(this.start, this.n);
    verify(real, model, k, s, e);
    after(model, real);
  }
  toString = () => `read(${this.who}, ${this.start}, ${this.n})`;
}

class Mmap implements Cmd {
  constructor(
    readonly who: number,
    readonly start: number,
    readonly n: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    const [s, e] = clip(this.start, this.n);
    const r = (real.procs[k] as Process).sys.mmap(
      BASE + s * PAGE,
      (e - s) * PAGE,
      PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
    );
    expect(r).toBe(BASE + s * PAGE);
    for (let i = s; i < e; i++) (model.procs[k] as Pages).set(i, { v: 0, rw: true });
    after(model, real);
  }
  toString = () => `mmap(${this.who}, ${this.start}, ${this.n})`;
}

class Munmap implements Cmd {
  constructor(
    readonly who: number,
    readonly start: number,
    readonly n: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    const [s, e] = clip(this.start, this.n);
    expect((real.procs[k] as Process).sys.munmap(BASE + s * PAGE, (e - s) * PAGE)).toBe(0);
    for (let i = s; i < e; i++) (model.procs[k] as Pages).delete(i);
    after(model, real);
  }
  toString = () => `munmap(${this.who}, ${this.start}, ${this.n})`;
}

/** mprotect of the mapped run from `start` (nothing when `start` is unmapped). */
class Mprotect implements Cmd {
  constructor(
    readonly who: number,
    readonly start: number,
    readonly n: number,
    readonly rw: boolean,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    const pages = model.procs[k] as Pages;
    const [s, e0] = clip(this.start, this.n);
    const e = mappedRun(pages, s, e0);
    if (e > s) {
      const prot = this.rw ? PROT_READ | PROT_WRITE : PROT_READ;
      expect((real.procs[k] as Process).sys.mprotect(BASE + s * PAGE, (e - s) * PAGE, prot)).toBe(0);
      for (let i = s; i < e; i++) (pages.get(i) as MPage).rw = this.rw;
    }
    after(model, real);
  }
  toString = () => `mprotect(${this.who}, ${this.start}, ${this.n}, ${this.rw ? "rw" : "r"})`;
}

class DontNeed implements Cmd {
  constructor(
    readonly who: number,
    readonly start: number,
    readonly n: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    const pages = model.procs[k] as Pages;
    const [s, e] = clip(this.start, this.n);
    const want = mappedRun(pages, s, e) === e ? 0 : -ENOMEM;
    expect((real.procs[k] as Process).sys.madvise(BASE + s * PAGE, (e - s) * PAGE, MADV_DONTNEED)).toBe(want);
    for (let i = s; i < e; i++) {
      const pg = pages.get(i);
      if (pg) pg.v = 0;
    }
    after(model, real);
  }
  toString = () => `dontneed(${this.who}, ${this.start}, ${this.n})`;
}

/**
 * mremap (MAYMOVE | FIXED) of the part of the VMA holding `start` that lies
 * in [start, start + n), to `to` (a multiple of 512 pages away when `keep`,
 * so huge pages can move whole), when the two ranges do not overlap.
 */
class Mremap implements Cmd {
  constructor(
    readonly who: number,
    readonly start: number,
    readonly n: number,
    readonly to: number,
    readonly keep: boolean,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    const pages = model.procs[k] as Pages;
    const p = real.procs[k] as Process;
    const vma = vmaOf(p, BASE + this.start * PAGE);
    if (vma !== null) {
      const s = this.start;
      const e = Math.min(s + this.n, (vma[1] - BASE) / PAGE, WINDOW);
      const len = e - s;
      const to = this.keep ? (this.to - (this.to % HPAGES) + (s % HPAGES)) % WINDOW : this.to;
      if (to + len <= WINDOW && (to + len <= s || to >= e)) {
        expect(p.sys.mremap(BASE + s * PAGE, len * PAGE, len * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, BASE + to * PAGE)).toBe(
          BASE + to * PAGE,
        );
        const moved: MPage[] = [];
        for (let i = s; i < e; i++) {
          moved.push(pages.get(i) as MPage);
          pages.delete(i);
        }
        for (let i = 0; i < len; i++) pages.set(to + i, moved[i] as MPage);
      }
    }
    after(model, real);
  }
  toString = () => `mremap(${this.who}, ${this.start}, ${this.n}, ${this.to}, ${this.keep})`;
}

/** [start, end) of the VMA holding `va`, from /proc/PID/maps; null when none. */
function vmaOf(p: Process, va: number): [number, number] | null {
  for (const line of p.proc.maps().split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (m === null) continue;
    const a = Number.parseInt(m[1] as string, 16);
    const b = Number.parseInt(m[2] as string, 16);
    if (va >= a && va < b) return [a, b];
  }
  return null;
}

class Fork implements Cmd {
  constructor(readonly who: number) {}
  check = (m: Readonly<Model>) => live(m as Model).length < MAX_PROCS;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    const child = (real.procs[k] as Process).fork();
    if (child === null) throw new Error("fork failed");
    real.procs.push(child);
    const copy: Pages = new Map();
    for (const [i, pg] of model.procs[k] as Pages) copy.set(i, { ...pg });
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
    real.procs[k] = null;
    model.procs[k] = null;
    after(model, real);
  }
  toString = () => `exit(${this.who})`;
}

class Khugepaged implements Cmd {
  check = () => true;
  run(model: Model, real: Real): void {
    real.m.kernel.khugepaged();
    after(model, real);
  }
  toString = () => "khugepaged()";
}

const who = fc.nat(11);
const start = fc.nat(WINDOW - 1);
/** Ranges of a few pages, or of about a huge page. */
const count = fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 500, max: 520 }));

function commands(): fc.Arbitrary<Cmd>[] {
  return [
    fc.tuple(who, start, count, fc.nat()).map(([w, s, n, v]) => new Touch(w, s, n, v)),
    fc.tuple(who, start, count, fc.nat()).map(([w, s, n, v]) => new Touch(w, s, n, v)),
    fc.tuple(who, start, count).map(([w, s, n]) => new Read(w, s, n)),
    fc.tuple(who, start, count).map(([w, s, n]) => new Mmap(w, s, n)),
    fc.tuple(who, start, count).map(([w, s, n]) => new Munmap(w, s, n)),
    fc.tuple(who, start, count, fc.boolean()).map(([w, s, n, rw]) => new Mprotect(w, s, n, rw)),
    fc.tuple(who, start, count).map(([w, s, n]) => new DontNeed(w, s, n)),
    fc.tuple(who, start, count, start, fc.boolean()).map(([w, s, n, t, keep]) => new Mremap(w, s, n, t, keep)),
    who.map((w) => new Fork(w)),
    who.map((w) => new Exit(w)),
    fc.constant(new Khugepaged()),
  ];
}

function freeKb(m: Machine): number {
  return Number(/\nMemFree: +(\d+) kB/.exec(m.proc.meminfo())?.[1]);
}

/** One story; throws at the first disagreement with the model. */
function runStory(cmds: Iterable<Cmd>): StoryStats {
  const m = Machine.boot({ ramBytes: 48 << 20, debugVm: 1 });
  m.kernel.thp.enabled = "always";
  m.kernel.dropCaches();
  const free0 = freeKb(m);
  const p = m.spawn("thp");
  expect(p.sys.mmap(BASE, WINDOW * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
  const first: Pages = new Map();
  for (let i = 0; i < WINDOW; i++) first.set(i, { v: 0, rw: true });
  const model: Model = { procs: [first], stats: { commands: 0, checks: 0 } };
  const real: Real = { m, procs: [p] };
  fc.modelRun(() => ({ model, real }), cmds);
  for (const k of live(model)) verify(real, model, k, 0, WINDOW);
  m.check();
  for (const proc of m.processes()) proc.exit(0);
  m.kernel.dropCaches();
  m.check();
  expect(freeKb(m)).toBe(free0);
  expect(m.kernel.thp.stats.nrAnonThps).toBe(0);
  return { commands: model.stats.commands + 1, checks: model.stats.checks + 2 };
}

/** The THP model; its vitest property runs THP_COMMANDS (default 500) commands per CI run. */
export const THP_MODEL: PropertyModel<Iterable<Cmd>> = {
  name: "thp",
  budget: Number(process.env.THP_COMMANDS ?? 500),
  storyMax: 40,
  arbitrary: (max) => fc.commands(commands(), { maxCommands: max, size: "max" }),
  run: (cmds) => runStory(cmds),
};
