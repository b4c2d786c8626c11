/**
 * COW isolation across fork and mprotect: random fork / mprotect / write /
 * exit sequences over several processes. A private page that was read-only
 * or PROT_NONE at fork and is made writable later must still be copied on
 * its first write, so no process ever reads another's private write.
 */
import fc from "fast-check";
import { expect } from "vitest";
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, Machine, PROT_NONE, PROT_READ, PROT_WRITE, type Process } from "../../../sim/index.ts";
import { checkAfterCommand, expectSame, type PropertyModel, runModel, type StoryStats } from "../../support/budget.ts";

const PAGE = 4096;
const BASE = 0x100000000;
const PAGES = 3;
const PROTS = [PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE] as const;

interface PageState {
  byte: number;
  prot: number;
}
interface Model {
  procs: Array<PageState[] | null>;
  /** Every write stores a byte no page has held before, so a leaked write always shows. */
  nextByte: number;
}
interface Real {
  m: Machine;
  procs: Array<Process | null>;
  stats: StoryStats;
}

function live(model: Model, i: number): number {
  const alive = model.procs.map((p, k) => (p ? k : -1)).filter((k) => k >= 0);
  return alive[i % alive.length] as number;
}

/** Every process reads its own bytes in every readable page; the mm checker passes (every checker each FULL_CHECK_EVERY commands). */
function verify(model: Model, real: Real): void {
  checkAfterCommand(real.m, real.stats, ["mm"]);
  model.procs.forEach((pages, k) => {
    if (!pages) return;
    const p = real.procs[k] as Process;
    pages.forEach((s, i) => {
      if (s.prot !== PROT_NONE) expectSame(p.mem.read8(BASE + i * PAGE + 33), s.byte, `proc ${k} page ${i}`);
    });
  });
}

class Fork implements fc.Command<Model, Real> {
  constructor(readonly who: number) {}
  check = (m: Readonly<Model>) => m.procs.filter(Boolean).length < 5;
  run(model: Model, real: Real): void {
    const k = live(model, this.who);
    const child = (real.procs[k] as Process).fork();
    expect(child).not.toBeNull();
    real.procs.push(child);
    model.procs.push((model.procs[k] as PageState[]).map((s) => ({ ...s })));
    verify(model, real);
  }
  toString = () => `fork(#${this.who})`;
}

class Mprotect implements fc.Command<Model, Real> {
  constructor(
    readonly who: number,
    readonly page: number,
    readonly pages: number,
    readonly prot: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = live(model, this.who);
    const n = Math.min(this.pages, PAGES - this.page);
    expect((real.procs[k] as Process).sys.mprotect(BASE + this.page * PAGE, n * PAGE, this.prot)).toBe(0);
    for (let i = this.page; i < this.page + n; i++) ((model.procs[k] as PageState[])[i] as PageState).prot = this.prot;
    verify(model, real);
  }
  toString = () => `mprotect(#${this.who}, ${this.page}+${this.pages}, ${this.prot})`;
}

class Write implements fc.Command<Model, Real> {
  constructor(
    readonly who: number,
    readonly page: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = live(model, this.who);
    const s = (model.procs[k] as PageState[])[this.page] as PageState;
    if (s.prot !== (PROT_READ | PROT_WRITE)) return;
    const byte = model.nextByte++;
    (real.procs[k] as Process).mem.write8(BASE + this.page * PAGE + 33, byte);
    s.byte = byte;
    verify(model, real);
  }
  toString = () => `write(#${this.who}, ${this.page})`;
}

class Exit implements fc.Command<Model, Real> {
  constructor(readonly who: number) {}
  check = (m: Readonly<Model>) => m.procs.filter(Boolean).length > 1;
  run(model: Model, real: Real): void {
    const k = live(model, this.who);
    (real.procs[k] as Process).exit(0);
    real.procs[k] = null;
    model.procs[k] = null;
    verify(model, real);
  }
  toString = () => `exit(#${this.who})`;
}

const who = fc.nat(20);
const page = fc.integer({ min: 0, max: PAGES - 1 });
const mprotect = fc
  .tuple(who, page, fc.integer({ min: 1, max: 2 }), fc.constantFrom(...PROTS))
  .map(([w, p, n, prot]) => new Mprotect(w, p, n, prot));
const write = fc.tuple(who, page).map(([w, p]) => new Write(w, p));
const commands = [who.map((w) => new Fork(w)), mprotect, mprotect, write, write, write, who.map((w) => new Exit(w))];

type Story = [number[], Iterable<fc.Command<Model, Real>>];

/** fork/mprotect/write/exit over up to five processes whose pages start with random protections (stories of 200 commands at most: every write stores a new byte). */
export const COW_MPROTECT_MODEL: PropertyModel<Story> = {
  name: "cow-mprotect",
  budget: 10_000,
  storyMax: 100,
  arbitrary: (max) =>
    fc.tuple(
      fc.array(fc.constantFrom(...PROTS), { minLength: PAGES, maxLength: PAGES }),
      fc.commands(commands, { maxCommands: Math.min(max, 200), size: "max" }),
    ),
  run([prots, cmds]) {
    const m = Machine.boot({ ramBytes: 8 << 20, debugVm: 1 });
    const p = m.spawn("root");
    p.sys.mmap(BASE, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    // Every page starts with a frame of its own and a random protection:
    // the interesting case is a written page read-only or PROT_NONE at fork.
    for (let i = 0; i < PAGES; i++) {
      p.mem.write8(BASE + i * PAGE + 33, i + 1);
      p.sys.mprotect(BASE + i * PAGE, PAGE, prots[i] as number);
    }
    const model: Model = { procs: [prots.map((prot, i) => ({ byte: i + 1, prot }))], nextByte: PAGES + 1 };
    const stats: StoryStats = { commands: 0, checks: 0 };
    runModel(model, { m, procs: [p], stats }, cmds, stats);
    for (const q of m.processes()) q.exit(0);
    m.check();
    stats.checks++;
    return stats;
  },
};
