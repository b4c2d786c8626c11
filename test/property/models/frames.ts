/**
 * The lab frame allocators against reference models that predict every
 * answer exactly: xv6's list is a stack (the last frame freed comes back
 * first); Pintos's bitmap gives the lowest free run aligned to its size.
 * The allocator's checker runs after every command; on a whole machine the
 * kernel's checkers (frames recount included) run after every command too.
 * Each kind is drawn per story, so the budget covers both.
 */
import fc from "fast-check";
import { expect } from "vitest";
import { MemMap } from "../../../kernel/mm/memmap.ts";
import { flatNuma, NumaTopology } from "../../../kernel/mm/numa.ts";
import { PhysMem } from "../../../kernel/mm/physmem.ts";
import { __GFP_NOWARN, bitmapFrames, type FrameAllocator, type FramesLayer, Machine, xv6Frames } from "../../../sim/index.ts";
import { type PropertyModel, runModel, type StoryStats } from "../../support/budget.ts";

const FIRST = 10;
const NR_PAGES = 256;

interface Model {
  /** xv6: the free stack, top last. bitmap: 1 = in use, per pfn. */
  stack: number[];
  used: Uint8Array;
  live: Array<[number, number]>;
}

interface Real {
  a: FrameAllocator;
  kind: "xv6" | "bitmap";
  stats: StoryStats;
}

/** The bitmap model's answer: the lowest aligned run of 2^order free frames, or -1. */
function lowestRun(used: Uint8Array, order: number): number {
  const n = 1 << order;
  for (let pfn = 0; pfn + n <= used.length; pfn += n) {
    let k = 0;
    while (k < n && used[pfn + k] === 0) k++;
    if (k === n) return pfn;
  }
  return -1;
}

class Alloc implements fc.Command<Model, Real> {
  constructor(readonly order: number) {}
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    const got = real.a.allocPages(this.order, 0);
    let want: number;
    if (real.kind === "xv6") want = this.order === 0 && model.stack.length > 0 ? (model.stack.pop() as number) : -1;
    else {
      want = this.order > real.a.maxOrder ? -1 : lowestRun(model.used, this.order);
      if (want >= 0) model.used.fill(1, want, want + (1 << this.order));
    }
    expect(got).toBe(want);
    if (got >= 0) model.live.push([got, this.order]);
    real.a.check();
    real.stats.checks++;
    expect(real.a.nrFreePages()).toBe(real.a.nrManagedPages() - model.live.reduce((s, [, o]) => s + (1 << o), 0));
  }
  toString(): string {
    return `alloc(${this.order})`;
  }
}

class Free implements fc.Command<Model, Real> {
  constructor(readonly index: number) {}
  check(model: Readonly<Model>): boolean {
    return model.live.length > 0;
  }
  run(model: Model, real: Real): void {
    const [pfn, order] = model.live.splice(this.index % model.live.length, 1)[0] as [number, number];
    real.a.freePages(pfn, order);
    if (real.kind === "xv6") model.stack.push(pfn);
    else model.used.fill(0, pfn, pfn + (1 << order));
    real.a.check();
    real.stats.checks++;
    expect(real.a.nrFreePages()).toBe(real.a.nrManagedPages() - model.live.reduce((s, [, o]) => s + (1 << o), 0));
  }
  toString(): string {
    return `free(#${this.index})`;
  }
}

const commands = [
  fc.integer({ min: 0, max: 7 }).map((o) => new Alloc(o)),
  fc.constant(new Alloc(0)),
  fc.nat().map((i) => new Free(i)),
  fc.nat().map((i) => new Free(i)),
];

function isolated(kind: Real["kind"]): { model: Model; real: Real } {
  const reserved: number[] = [];
  const ram = new PhysMem(NR_PAGES * 4096);
  const boot = {
    ram,
    ranges: [{ start: FIRST, end: NR_PAGES }],
    maxOrder: 6,
    memmap: new MemMap(ram.buffer, 1, NR_PAGES),
    options: { debugVm: 1, pagePoison: false, pcpBatch: 0 },
    reserve: (pfn: number, count: number) => {
      for (let p = pfn; p < pfn + count; p++) reserved.push(p);
    },
    nrCpus: 1,
    numa: new NumaTopology(flatNuma(ram.nrPages * 4096, 1), 1),
    thisCpu: () => 0,
    acquire: () => {},
  };
  const a = kind === "xv6" ? xv6Frames(boot) : bitmapFrames(boot);
  const used = new Uint8Array(NR_PAGES).fill(1, 0, FIRST);
  for (const p of reserved) used[p] = 1;
  const stack: number[] = [];
  for (let p = FIRST; p < NR_PAGES; p++) stack.push(p);
  return { model: { stack, used, live: [] }, real: { a, kind, stats: { commands: 0, checks: 0 } } };
}

const KINDS = ["xv6", "bitmap"] as const;

/** xv6's list and Pintos's bitmap, alone, against models that predict every answer. */
export const FRAMES_MODEL: PropertyModel<[Real["kind"], Iterable<fc.Command<Model, Real>>]> = {
  name: "frames",
  budget: 10_000,
  storyMax: 200,
  arbitrary: (max) => fc.tuple(fc.constantFrom(...KINDS), fc.commands(commands, { maxCommands: max, size: "max" })),
  run([kind, cmds]) {
    const s = isolated(kind);
    runModel(s.model, s.real, cmds, s.real.stats);
    return s.real.stats;
  },
};

type Step = [alloc: boolean, order: number, index: number];

/** The same allocators behind a machine: random alloc/free with every kernel checker after each step. */
export const FRAMES_MACHINE_MODEL: PropertyModel<[Real["kind"], Step[]]> = {
  name: "frames-machine",
  budget: 10_000,
  storyMax: 100,
  arbitrary: (max) =>
    fc.tuple(
      fc.constantFrom(...KINDS),
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 4 }), fc.nat()), { maxLength: max, size: "max" }),
    ),
  run([kind, steps]) {
    const layer: FramesLayer = kind === "xv6" ? xv6Frames : bitmapFrames;
    const m = Machine.boot({ ramBytes: 4 << 20, layers: { frames: layer } });
    const live: Array<[number, number]> = [];
    for (const [alloc, order, i] of steps) {
      if (alloc || live.length === 0) {
        const pfn = m.kernel.allocPages(order, __GFP_NOWARN);
        if (pfn !== null) live.push([pfn, order]);
      } else {
        const [pfn, o] = live.splice(i % live.length, 1)[0] as [number, number];
        m.kernel.freePages(pfn, o);
      }
      m.check();
    }
    for (const [pfn, o] of live) m.kernel.freePages(pfn, o);
    m.check();
    return { commands: steps.length, checks: steps.length + 1 };
  },
};
