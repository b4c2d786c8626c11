/**
 * Swap against a byte-exact model: several processes over one window of
 * private anonymous pages; commands write and read pages, fork, exit, map,
 * unmap, move pages with mremap, drop them with MADV_DONTNEED and page them
 * out with MADV_PAGEOUT (to a small swap area that fills up, with slot
 * allocation failing now and then). Every byte a process wrote it reads
 * back; every checker (swap map recount, swap cache, RSS and swap-entry
 * counters) passes after every command; when every process has exited,
 * every slot and every frame is free again.
 */
import fc from "fast-check";
import { expect } from "vitest";
import {
  ENOMEM,
  MADV_DONTNEED,
  MADV_PAGEOUT,
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
import type { PropertyModel, StoryStats } from "../../support/budget.ts";

const PAGE = 4096;
const BASE = 0x100000000;
const WINDOW = 16;
const MAX_PROCS = 4;
/** 24 slots for up to 4 x 16 pages: the area fills up and pageout must leave pages in RAM. */
const SWAP_BYTES = 24 * PAGE;

/** Per process: window page -> its bytes (null: mapped, never written), absent = unmapped. Arrays are never changed in place. */
type Pages = Map<number, Uint8Array | null>;
interface Model {
  procs: Array<Pages | null>;
  commands: number;
  /** The window page the last page command used: half the page commands return to it, so one page builds up a history. */
  hot: number;
}
interface Real {
  m: Machine;
  procs: Array<Process | null>;
}
type Cmd = fc.Command<Model, Real>;

const ZERO = new Uint8Array(PAGE);

function live(model: Model): number[] {
  const out: number[] = [];
  model.procs.forEach((p, k) => {
    if (p) out.push(k);
  });
  return out;
}

function pickProc(model: Model, who: number): number {
  const l = live(model);
  return l[who % l.length] as number;
}

function mappedPages(pages: Pages): number[] {
  return [...pages.keys()].sort((a, b) => a - b);
}

/** The page `sel` picks among the mapped ones: the hot page for an even `sel` (when mapped), else by index. */
function pickPage(model: Model, pages: Pages, sel: number): number {
  const mapped = mappedPages(pages);
  if (mapped.length === 0) return -1;
  const page = sel % 2 === 0 && pages.has(model.hot) ? model.hot : (mapped[Math.floor(sel / 2) % mapped.length] as number);
  model.hot = page;
  return page;
}

function kb(m: Machine, field: string): number {
  return Number(new RegExp(`\\n${field}: +(\\d+) kB`).exec(m.proc.meminfo())?.[1]);
}

function verifyPage(real: Real, model: Model, k: number, page: number): void {
  const got = (real.procs[k] as Process).mem.read(BASE + page * PAGE, PAGE);
  const want = (model.procs[k] as Pages).get(page) ?? ZERO;
  if (Buffer.compare(got, want) !== 0) {
    let i = 0;
    while (got[i] === want[i]) i++;
    throw new Error(`process #${k} page ${page} byte ${i}: machine 0x${got[i]?.toString(16)}, model 0x${want[i]?.toString(16)}`);
  }
}

function after(model: Model, real: Real): void {
  model.commands++;
  real.m.check();
}

/** The expected madvise result over window pages [start, start + n): -ENOMEM when any is unmapped. */
function madviseRet(pages: Pages, start: number, n: number): number {
  for (let i = start; i < start + n; i++) if (!pages.has(i)) return -ENOMEM;
  return 0;
}

class Mmap implements Cmd {
  constructor(
    readonly who: number,
    readonly start: number,
    readonly n: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pickProc(model, this.who);
    const n = Math.min(this.n, WINDOW - this.start);
    const r = (real.procs[k] as Process).sys.mmap(
      BASE + this.start * PAGE,
      n * PAGE,
      PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
    );
    expect(r).toBe(BASE + this.start * PAGE);
    for (let i = this.start; i < this.start + n; i++) (model.procs[k] as Pages).set(i, null);
    after(model, real);
  }
  toString = () => `mmap(${this.who}, ${this.start}, ${this.n})`;
}

class Write implements Cmd {
  constructor(
    readonly who: number,
    readonly sel: number,
    readonly off: number,
    readonly bytes: number[],
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pickProc(model, this.who);
    const pages = model.procs[k] as Pages;
    const page = pickPage(model, pages, this.sel);
    if (page >= 0) {
      const next = (pages.get(page) ?? ZERO).slice();
      const off = Math.min(this.off, PAGE - this.bytes.length);
      next.set(this.bytes, off);
      (real.procs[k] as Process).mem.write(BASE + page * PAGE + off, Uint8Array.from(this.bytes));
      pages.set(page, next);
    }
    after(model, real);
  }
  toString = () => `write(${this.who}, ${this.sel}, ${this.off}, [${this.bytes.length}])`;
}

class Read implements Cmd {
  constructor(
    readonly who: number,
    readonly sel: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pickProc(model, this.who);
    const page = pickPage(model, model.procs[k] as Pages, this.sel);
    if (page >= 0) verifyPage(real, model, k, page);
    after(model, real);
  }
  toString = () => `read(${this.who}, ${this.sel})`;
}

class Pageout implements Cmd {
  constructor(
    readonly who: number,
    readonly start: number,
    readonly n: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pickProc(model, this.who);
    // An odd start pages out the hot page alone.
    const s = this.start % 2 === 1 ? model.hot : this.start;
    const n = this.start % 2 === 1 ? 1 : Math.min(this.n, WINDOW - s);
    const r = (real.procs[k] as Process).sys.madvise(BASE + s * PAGE, n * PAGE, MADV_PAGEOUT);
    expect(r).toBe(madviseRet(model.procs[k] as Pages, s, n));
    after(model, real);
  }
  toString = () => `pageout(${this.who}, ${this.start}, ${this.n})`;
}

class DontNeed implements Cmd {
  constructor(
    readonly who: number,
    readonly start: number,
    readonly n: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pickProc(model, this.who);
    const pages = model.procs[k] as Pages;
    const n = Math.min(this.n, WINDOW - this.start);
    const r = (real.procs[k] as Process).sys.madvise(BASE + this.start * PAGE, n * PAGE, MADV_DONTNEED);
    expect(r).toBe(madviseRet(pages, this.start, n));
    for (let i = this.start; i < this.start + n; i++) if (pages.has(i)) pages.set(i, null);
    after(model, real);
  }
  toString = () => `dontneed(${this.who}, ${this.start}, ${this.n})`;
}

class Munmap implements Cmd {
  constructor(
    readonly who: number,
    readonly start: number,
    readonly n: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pickProc(model, this.who);
    const n = Math.min(this.n, WINDOW - this.start);
    expect((real.procs[k] as Process).sys.munmap(BASE + this.start * PAGE, n * PAGE)).toBe(0);
    for (let i = this.start; i < this.start + n; i++) (model.procs[k] as Pages).delete(i);
    after(model, real);
  }
  toString = () => `munmap(${this.who}, ${this.start}, ${this.n})`;
}

/** mremap of one page to another page of the window (MREMAP_MAYMOVE | MREMAP_FIXED). */
class Mremap implements Cmd {
  constructor(
    readonly who: number,
    readonly sel: number,
    readonly to: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pickProc(model, this.who);
    const pages = model.procs[k] as Pages;
    const from = pickPage(model, pages, this.sel);
    if (from >= 0) {
      if (from !== this.to) {
        const r = (real.procs[k] as Process).sys.mremap(
          BASE + from * PAGE,
          PAGE,
          PAGE,
          MREMAP_MAYMOVE | MREMAP_FIXED,
          BASE + this.to * PAGE,
        );
        expect(r).toBe(BASE + this.to * PAGE);
        pages.set(this.to, pages.get(from) ?? null);
        pages.delete(from);
      }
    }
    after(model, real);
  }
  toString = () => `mremap(${this.who}, ${this.sel}, ${this.to})`;
}

class Fork implements Cmd {
  constructor(readonly who: number) {}
  check = (m: Readonly<Model>) => live(m as Model).length < MAX_PROCS;
  run(model: Model, real: Real): void {
    const k = pickProc(model, this.who);
    const child = (real.procs[k] as Process).fork();
    if (child === null) throw new Error("fork failed");
    real.procs.push(child);
    model.procs.push(new Map(model.procs[k] as Pages));
    after(model, real);
  }
  toString = () => `fork(${this.who})`;
}

class Exit implements Cmd {
  constructor(readonly who: number) {}
  check = (m: Readonly<Model>) => live(m as Model).length > 1;
  run(model: Model, real: Real): void {
    const k = pickProc(model, this.who);
    (real.procs[k] as Process).exit(0);
    real.procs[k] = null;
    model.procs[k] = null;
    after(model, real);
  }
  toString = () => `exit(${this.who})`;
}

const who = fc.nat(11);
const start = fc.nat(WINDOW - 1);
const count = fc.integer({ min: 1, max: WINDOW });

function commands(): fc.Arbitrary<Cmd>[] {
  return [
    fc.tuple(who, start, count).map(([w, s, n]) => new Mmap(w, s, n)),
    fc
      .tuple(who, fc.nat(63), fc.nat(PAGE - 1), fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 1, maxLength: 16 }))
      .map(([w, s, o, b]) => new Write(w, s, o, b)),
    fc
      .tuple(who, fc.nat(63), fc.nat(PAGE - 1), fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 1, maxLength: 16 }))
      .map(([w, s, o, b]) => new Write(w, s, o, b)),
    fc.tuple(who, fc.nat(63)).map(([w, s]) => new Read(w, s)),
    fc.tuple(who, fc.nat(63)).map(([w, s]) => new Read(w, s)),
    fc.tuple(who, start, count).map(([w, s, n]) => new Pageout(w, s, n)),
    fc.tuple(who, start, count).map(([w, s, n]) => new Pageout(w, s, n)),
    fc.tuple(who, start, count).map(([w, s, n]) => new Pageout(w, s, n)),
    fc.tuple(who, start, fc.integer({ min: 1, max: 3 })).map(([w, s, n]) => new DontNeed(w, s, n)),
    fc.tuple(who, start, fc.integer({ min: 1, max: 3 })).map(([w, s, n]) => new Munmap(w, s, n)),
    fc.tuple(who, fc.nat(63), start).map(([w, s, t]) => new Mremap(w, s, t)),
    who.map((w) => new Fork(w)),
    who.map((w) => new Exit(w)),
  ];
}

/** One story on a machine booted with `seed`; throws at the first disagreement. */
function runStory(cmds: Iterable<Cmd>, seed: number): StoryStats {
  const m = Machine.boot({ ramBytes: 8 << 20, swapBytes: SWAP_BYTES, debugVm: 1, seed });
  m.faults.failSwapAlloc({ probability: 0.05 });
  m.kernel.dropCaches();
  const free0 = kb(m, "MemFree");
  const p = m.spawn("swap");
  expect(p.sys.mmap(BASE, WINDOW * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
  // Every page starts written (its number in each byte), so there is something to swap from the first command.
  const first: Pages = new Map();
  for (let i = 0; i < WINDOW; i++) {
    const bytes = new Uint8Array(PAGE).fill(i + 1);
    p.mem.write(BASE + i * PAGE, bytes);
    first.set(i, bytes);
  }
  const model: Model = { procs: [first], commands: 0, hot: 0 };
  const real: Real = { m, procs: [p] };
  fc.modelRun(() => ({ model, real }), cmds);
  for (const k of live(model)) for (const page of mappedPages(model.procs[k] as Pages)) verifyPage(real, model, k, page);
  m.check();
  for (const proc of m.processes()) proc.exit(0);
  m.kernel.dropCaches();
  m.check();
  expect([kb(m, "SwapFree"), kb(m, "SwapCached")]).toEqual([kb(m, "SwapTotal"), 0]);
  expect(m.proc.swaps().split("\n")[1]?.split("\t")[3]).toBe("0");
  expect(kb(m, "MemFree")).toBe(free0);
  return { commands: model.commands + 1, checks: model.commands + 2 };
}

/**
 * The swap model: a story is a machine seed (it drives the injected slot
 * allocation failures) and up to `maxCommands` commands. Its vitest property
 * runs 10,000 commands per CI run (SWAP_COMMANDS or FC_COMMANDS to change it);
 * the address-space model carries swap at the full budget too.
 */
export const SWAP_MODEL: PropertyModel<[number, Iterable<Cmd>]> = {
  name: "swap",
  budget: Number(process.env.SWAP_COMMANDS ?? 10_000),
  storyMax: 120,
  arbitrary: (max) => fc.tuple(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.commands(commands(), { maxCommands: max, size: "max" })),
  run: ([seed, cmds]) => runStory(cmds, seed),
};
