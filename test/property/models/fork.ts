/**
 * fork, COW, madvise (MADV_FREE, MADV_DONTNEED), lazy-free reclaim and exit
 * across up to five processes, against a model of which frame each private
 * page names and what it holds. After every command every process reads what
 * the model says in every page; the mm checker runs (every checker each
 * FULL_CHECK_EVERY commands); after all exit, every frame is back.
 */
import fc from "fast-check";
import { expect } from "vitest";
import {
  MADV_DONTNEED,
  MADV_FREE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  type Machine,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from "../../../sim/index.ts";
import { bootMachine, EAGER_FORK } from "../../support/boot.ts";
import { checkAfterCommand, expectSame, type PropertyModel, runModel, type StoryStats } from "../../support/budget.ts";

const PAGE = 4096;
/** Where the private and the shared mapping sit: 4 and 8 GiB, or 1 and 2 GiB under x86-32's 3 GiB TASK_SIZE. */
const BASES = { "x86-64": [0x100000000, 0x200000000], sv39: [0x100000000, 0x200000000], "x86-32": [0x40000000, 0x80000000] } as const;
const PAGES = 8;

/**
 * One private page as the model sees it: the frame it names (to know when it
 * is shared), its byte, and whether this mapping's entry is dirty.
 */
interface PageState {
  frame: number;
  byte: number;
  dirty: boolean;
}
interface Model {
  procs: Array<PageState[] | null>;
  shared: number[];
  nextFrame: number;
  /** Frames MADV_FREE marked (not swap-backed) and not found written by reclaim since. */
  lazy: Set<number>;
  /** Frames dirty as a whole (reclaim found a written mapping of a lazily freed frame). */
  frameDirty: Set<number>;
}
interface Real {
  m: Machine;
  /** The private mapping's first address. */
  priv: number;
  /** The shared mapping's first address. */
  shared: number;
  procs: Array<Process | null>;
  stats: StoryStats;
}

const users = (model: Model, frame: number, page: number) => model.procs.filter((pp) => pp?.[page]?.frame === frame).length;

function live(model: Model, i: number): number {
  const alive = model.procs.map((p, k) => (p ? k : -1)).filter((k) => k >= 0);
  return alive[i % alive.length] as number;
}

function verify(model: Model, real: Real): void {
  checkAfterCommand(real.m, real.stats, ["mm"]);
  model.procs.forEach((pages, k) => {
    if (!pages) return;
    const p = real.procs[k] as Process;
    for (let i = 0; i < PAGES; i++) {
      expectSame(p.mem.read8(real.priv + i * PAGE + 17), (pages[i] as PageState).byte, `proc ${k} private page ${i}`);
      expectSame(p.mem.read8(real.shared + i * PAGE + 9), model.shared[i], `proc ${k} shared page ${i}`);
    }
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
    // An eager copy (uvmcopy) gives the child frames of its own: ordinary pages, never lazily freed.
    model.procs.push(
      (model.procs[k] as PageState[]).map((s) => (EAGER_FORK && s.frame >= 0 ? { ...s, frame: model.nextFrame++ } : { ...s })),
    );
    verify(model, real);
  }
  toString = () => `fork(#${this.who})`;
}

class Write implements fc.Command<Model, Real> {
  constructor(
    readonly who: number,
    readonly page: number,
    readonly byte: number,
    readonly shared: boolean,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = live(model, this.who);
    const p = real.procs[k] as Process;
    if (this.shared) {
      p.mem.fill(real.shared + this.page * PAGE, this.byte, PAGE);
      model.shared[this.page] = this.byte;
    } else {
      p.mem.fill(real.priv + this.page * PAGE, this.byte, PAGE);
      const s = (model.procs[k] as PageState[])[this.page] as PageState;
      // A shared frame is copied for the writer and stays lazily freeable for the others;
      // an exclusive one is written in place and its entry becomes dirty (as in Linux).
      if (users(model, s.frame, this.page) > 1 || s.frame < 0) s.frame = model.nextFrame++;
      s.byte = this.byte;
      s.dirty = true;
    }
    verify(model, real);
  }
  toString = () => `write(#${this.who}, ${this.shared ? "shared" : "private"} ${this.page}, ${this.byte})`;
}

class Advise implements fc.Command<Model, Real> {
  constructor(
    readonly who: number,
    readonly page: number,
    readonly free: boolean,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = live(model, this.who);
    const p = real.procs[k] as Process;
    expect(p.sys.madvise(real.priv + this.page * PAGE, PAGE, this.free ? MADV_FREE : MADV_DONTNEED)).toBe(0);
    const s = (model.procs[k] as PageState[])[this.page] as PageState;
    if (!this.free) {
      s.frame = -1 - this.page;
      s.byte = 0;
      s.dirty = false;
    } else if (s.frame >= 0) {
      // madvise_free_pte_range: a frame dirty as a whole is skipped while shared, else cleaned.
      const skip = model.frameDirty.has(s.frame) && users(model, s.frame, this.page) > 1;
      if (!skip) {
        model.frameDirty.delete(s.frame);
        model.lazy.add(s.frame);
        s.dirty = false;
      }
    }
    verify(model, real);
  }
  toString = () => `madvise(#${this.who}, ${this.page}, ${this.free ? "FREE" : "DONTNEED"})`;
}

class Reclaim implements fc.Command<Model, Real> {
  check = () => true;
  run(model: Model, real: Real): void {
    real.m.kernel.reclaimLazyFree();
    // A lazily freed frame is dropped from every mapping unless one of them wrote it since.
    for (const frame of [...model.lazy]) {
      const maps = model.procs.flatMap((pages) => (pages ?? []).flatMap((s, page) => (s.frame === frame ? [{ s, page }] : [])));
      model.lazy.delete(frame);
      if (maps.some(({ s }) => s.dirty)) model.frameDirty.add(frame);
      else
        for (const { s, page } of maps) {
          s.frame = -1 - page;
          s.byte = 0;
          s.dirty = false;
        }
    }
    verify(model, real);
  }
  toString = () => "reclaim";
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
const commands = [
  who.map((w) => new Fork(w)),
  fc.tuple(who, page, fc.integer({ min: 1, max: 255 }), fc.boolean()).map(([w, p, b, s]) => new Write(w, p, b, s)),
  fc.tuple(who, page, fc.integer({ min: 1, max: 255 })).map(([w, p, b]) => new Write(w, p, b, false)),
  fc.tuple(who, page, fc.boolean()).map(([w, p, f]) => new Advise(w, p, f)),
  fc.constant(new Reclaim()),
  who.map((w) => new Exit(w)),
];

/** fork/write/madvise/reclaim/exit over up to five processes sharing a private and a shared mapping. */
export const FORK_MODEL: PropertyModel<Iterable<fc.Command<Model, Real>>> = {
  name: "fork",
  budget: 10_000,
  storyMax: 200,
  arbitrary: (max) => fc.commands(commands, { maxCommands: max, size: "max" }),
  run: (cmds) => runFork(cmds, "x86-64"),
};

/** The same stories on a machine whose processes have x86-32 two-level page tables of 4-byte entries. */
export const FORK_X86_32_MODEL: PropertyModel<Iterable<fc.Command<Model, Real>>> = {
  ...FORK_MODEL,
  name: "fork-x86-32",
  budget: 500,
  run: (cmds) => runFork(cmds, "x86-32"),
};

/** The same stories on a machine whose processes have RISC-V Sv39 page tables (pgtable_geometry.ts). */
export const FORK_SV39_MODEL: PropertyModel<Iterable<fc.Command<Model, Real>>> = {
  ...FORK_MODEL,
  name: "fork-sv39",
  budget: 1_000,
  run: (cmds) => runFork(cmds, "sv39"),
};

function runFork(cmds: Iterable<fc.Command<Model, Real>>, mmu: "x86-64" | "sv39" | "x86-32"): StoryStats {
  const [PRIV, SHARED] = BASES[mmu];
  const m = bootMachine({ ramBytes: 8 << 20, debugVm: 1, pagePoison: true, mmu });
  m.kernel.dropCaches();
  const free0 = m.proc.meminfo().match(/MemFree:\s+(\d+)/)?.[1];
  const p = m.spawn("root");
  p.sys.mmap(PRIV, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  p.sys.mmap(SHARED, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  const model: Model = {
    procs: [Array.from({ length: PAGES }, (_, i) => ({ frame: -1 - i, byte: 0, dirty: false }))],
    shared: new Array(PAGES).fill(0),
    nextFrame: 1,
    lazy: new Set(),
    frameDirty: new Set(),
  };
  const stats: StoryStats = { commands: 0, checks: 0 };
  runModel(model, { m, priv: PRIV, shared: SHARED, procs: [p], stats }, cmds, stats);
  for (const q of m.processes()) q.exit(0);
  m.kernel.dropCaches();
  m.check();
  stats.checks++;
  expect(m.proc.meminfo().match(/MemFree:\s+(\d+)/)?.[1]).toBe(free0);
  return stats;
}
