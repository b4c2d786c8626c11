/**
 * The memory syscalls against a reference model of one process's address
 * space: a window of pages (protection, private or shared, byte) and the
 * heap. After every command every page of the window agrees with
 * /proc/PID/maps, probes in forked children fault exactly where the model
 * says (SEGV_MAPERR or SEGV_ACCERR), the mm checker runs (every checker each
 * FULL_CHECK_EVERY commands); at exit no commit charge or page is left.
 */
import fc from "fast-check";
import { expect } from "vitest";
import {
  ENOMEM,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  type Machine,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  type Process,
  SEGV_ACCERR,
  SEGV_MAPERR,
  SegmentationFault,
} from "../../../sim/index.ts";
import { bootMachine } from "../../support/boot.ts";
import { checkAfterCommand, expectSame, type PropertyModel, runModel, type StoryStats } from "../../support/budget.ts";

const PAGE = 4096;
const BASE = 0x100000000;
const WINDOW = 48;
const START_BRK = 0x555555559000;
const PROTS = [PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE];

/** The reference model: each page of the window, and the heap. */
interface PageModel {
  prot: number;
  shared: boolean;
  byte: number;
}
interface Model {
  pages: Array<PageModel | null>;
  heap: number[];
}
interface Real {
  m: Machine;
  p: Process;
  stats: StoryStats;
}

function permsOf(pm: PageModel): string {
  const r = pm.prot & PROT_READ ? "r" : "-";
  const w = pm.prot & PROT_WRITE ? "w" : "-";
  return `${r}${w}-${pm.shared ? "s" : "p"}`;
}

/** Every page of the window agrees with /proc/PID/maps; the checkers pass. */
function compare(model: Model, real: Real): void {
  checkAfterCommand(real.m, real.stats, ["mm"]);
  const ranges = real.p.proc
    .maps()
    .trimEnd()
    .split("\n")
    .map((l) => {
      const [range, perms] = l.split(" ") as [string, string];
      const [s, e] = range.split("-").map((h) => Number.parseInt(h, 16)) as [number, number];
      return { s, e, perms };
    });
  for (let i = 0; i < WINDOW; i++) {
    const va = BASE + i * PAGE;
    const r = ranges.find((x) => x.s <= va && va < x.e);
    const pm = model.pages[i] ?? null;
    expectSame(r?.perms ?? null, pm === null ? null : permsOf(pm), `page ${i}`);
  }
}

class Mmap implements fc.Command<Model, Real> {
  constructor(
    readonly at: number,
    readonly n: number,
    readonly prot: number,
    readonly shared: boolean,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const n = Math.min(this.n, WINDOW - this.at);
    const flags = (this.shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_FIXED;
    expect(real.p.sys.mmap(BASE + this.at * PAGE, n * PAGE, this.prot, flags, -1, 0)).toBe(BASE + this.at * PAGE);
    for (let i = this.at; i < this.at + n; i++) model.pages[i] = { prot: this.prot, shared: this.shared, byte: 0 };
    compare(model, real);
  }
  toString = () => `mmap(${this.at}, ${this.n}, ${this.prot}, ${this.shared ? "shared" : "private"})`;
}

class Munmap implements fc.Command<Model, Real> {
  constructor(
    readonly at: number,
    readonly n: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const n = Math.min(this.n, WINDOW - this.at);
    expect(real.p.sys.munmap(BASE + this.at * PAGE, n * PAGE)).toBe(0);
    for (let i = this.at; i < this.at + n; i++) model.pages[i] = null;
    compare(model, real);
  }
  toString = () => `munmap(${this.at}, ${this.n})`;
}

class Mprotect implements fc.Command<Model, Real> {
  constructor(
    readonly at: number,
    readonly n: number,
    readonly prot: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const n = Math.min(this.n, WINDOW - this.at);
    let want = 0;
    for (let i = this.at; i < this.at + n; i++) {
      const pm = model.pages[i];
      if (!pm) {
        want = -ENOMEM;
        break;
      }
      pm.prot = this.prot;
    }
    expect(real.p.sys.mprotect(BASE + this.at * PAGE, n * PAGE, this.prot)).toBe(want);
    compare(model, real);
  }
  toString = () => `mprotect(${this.at}, ${this.n}, ${this.prot})`;
}

class Write implements fc.Command<Model, Real> {
  constructor(
    readonly at: number,
    readonly byte: number,
  ) {}
  check = (m: Readonly<Model>) => ((m.pages[this.at]?.prot ?? 0) & PROT_WRITE) !== 0;
  run(model: Model, real: Real): void {
    real.p.mem.fill(BASE + this.at * PAGE, this.byte, PAGE);
    (model.pages[this.at] as PageModel).byte = this.byte;
    compare(model, real);
  }
  toString = () => `write(${this.at}, ${this.byte})`;
}

/** An access of any kind, made by a forked child so that a SIGSEGV kills only the child. */
class Probe implements fc.Command<Model, Real> {
  constructor(
    readonly at: number,
    readonly write: boolean,
    readonly offset: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const child = real.p.fork();
    expect(child).not.toBeNull();
    const c = child as Process;
    const va = BASE + this.at * PAGE + this.offset;
    const pm = model.pages[this.at] ?? null;
    const allowed = pm !== null && (this.write ? (pm.prot & PROT_WRITE) !== 0 : pm.prot !== PROT_NONE);
    let fault: SegmentationFault | null = null;
    let value = -1;
    try {
      // A write stores the byte the page already holds, so the model stays page-granular.
      if (this.write) c.mem.write8(va, pm?.byte ?? 0xee);
      else value = c.mem.read8(va);
    } catch (e) {
      if (!(e instanceof SegmentationFault)) throw e;
      fault = e;
    }
    if (allowed) {
      expect(fault).toBeNull();
      if (!this.write) expect(value).toBe((pm as PageModel).byte);
      c.exit(0);
    } else {
      expect(fault?.code).toBe(pm === null ? SEGV_MAPERR : SEGV_ACCERR);
      expect(fault?.addr).toBe(va);
      expect(c.state).toBe("killed");
    }
    compare(model, real);
  }
  toString = () => `probe(${this.at}+${this.offset}, ${this.write ? "write" : "read"})`;
}

class Brk implements fc.Command<Model, Real> {
  constructor(readonly pages: number) {}
  check = () => true;
  run(model: Model, real: Real): void {
    expect(real.p.sys.brk(START_BRK + this.pages * PAGE)).toBe(START_BRK + this.pages * PAGE);
    model.heap.length = Math.min(model.heap.length, this.pages);
    while (model.heap.length < this.pages) model.heap.push(0);
    for (let i = 0; i < model.heap.length; i++) expectSame(real.p.mem.read8(START_BRK + i * PAGE + 5), model.heap[i], `heap page ${i}`);
    if (model.heap.length > 0) {
      const i = model.heap.length - 1;
      real.p.mem.write8(START_BRK + i * PAGE + 5, (i * 7 + 1) & 255);
      model.heap[i] = (i * 7 + 1) & 255;
    }
    compare(model, real);
  }
  toString = () => `brk(+${this.pages} pages)`;
}

const at = fc.integer({ min: 0, max: WINDOW - 1 });
const n = fc.integer({ min: 1, max: 8 });
const commands = [
  fc.tuple(at, n, fc.constantFrom(...PROTS), fc.boolean()).map(([a, b, c, d]) => new Mmap(a, b, c, d)),
  fc.tuple(at, n).map(([a, b]) => new Munmap(a, b)),
  fc.tuple(at, n, fc.constantFrom(...PROTS)).map(([a, b, c]) => new Mprotect(a, b, c)),
  fc.tuple(at, fc.integer({ min: 1, max: 255 })).map(([a, b]) => new Write(a, b)),
  fc.tuple(at, fc.boolean(), fc.integer({ min: 0, max: PAGE - 1 })).map(([a, b, c]) => new Probe(a, b, c)),
  fc.integer({ min: 0, max: 6 }).map((p) => new Brk(p)),
];

/** mmap/munmap/mprotect/brk/writes and probes (in forked children) in one process's window. */
export const SYSCALLS_MODEL: PropertyModel<Iterable<fc.Command<Model, Real>>> = {
  name: "syscalls",
  budget: 10_000,
  storyMax: 200,
  arbitrary: (max) => fc.commands(commands, { maxCommands: max, size: "max" }),
  run(cmds) {
    const m = bootMachine({ ramBytes: 8 << 20, debugVm: 1, pagePoison: true });
    m.kernel.drainPcp();
    const p = m.spawn("model");
    const model: Model = { pages: new Array(WINDOW).fill(null), heap: [] };
    const stats: StoryStats = { commands: 0, checks: 0 };
    runModel(model, { m, p, stats }, cmds, stats);
    p.exit(0);
    for (const q of m.processes()) q.exit(0);
    m.check();
    stats.checks++;
    expect(m.proc.meminfo()).toMatch(/\nCommitted_AS: +0 kB\n/);
    expect(m.proc.meminfo()).toMatch(/\nAnonPages: +0 kB\n/);
    return stats;
  },
};
