/**
 * The buddy allocator against a reference model (the live blocks): random
 * alloc/free of mixed orders and GFP flags, with per-CPU lists on or off.
 * After every command: no overlap, free + per-CPU + held pages = managed;
 * the buddy checker every FULL_EVERY commands and at the end. Each page of a block carries the block's tag at both
 * edges (not in every byte: an order-10 block is 4 MiB), checked when freed;
 * __GFP_ZERO blocks read zero there first.
 */
import fc from "fast-check";
import { expect } from "vitest";
import { __GFP_NOWARN, __GFP_ZERO, GFP_ATOMIC, GFP_DMA, GFP_KERNEL, Machine } from "../../../sim/index.ts";
import { type PropertyModel, runModel, type StoryStats } from "../../support/budget.ts";

/** The reference model: the live blocks, each [pfn, order, fill byte]. */
interface Model {
  live: Array<[number, number, number]>;
}

interface Real {
  m: Machine;
  managed: number;
  stats: StoryStats;
}

const GFPS = [GFP_KERNEL, GFP_ATOMIC, GFP_DMA, GFP_KERNEL | __GFP_ZERO];

function pagesHeld(model: Model): number {
  return model.live.reduce((n, [, o]) => n + (1 << o), 0);
}

function freeAndPcp(m: Machine): number {
  return m.kernel.buddy.nrFreePages() + m.kernel.buddy.nrPcpPages();
}

/** The edges of each page of a block (EDGE bytes at its start and end) carry the block's tag. */
const EDGE = 16;

function writeEdges(real: Real, pfn: number, order: number, tag: number): void {
  const mem = real.m.kernel.mem;
  for (let i = 0; i < 1 << order; i++) {
    const kva = real.m.kernel.pfnToKva(pfn + i);
    mem.fill(kva, tag, EDGE);
    mem.fill(kva + 4096 - EDGE, tag, EDGE);
  }
}

/** The first page of the block whose edges do not all hold `tag`, or -1. */
function edgesHold(real: Real, pfn: number, order: number, tag: number): number {
  const mem = real.m.kernel.mem;
  for (let i = 0; i < 1 << order; i++) {
    const kva = real.m.kernel.pfnToKva(pfn + i);
    for (const at of [kva, kva + 4096 - EDGE]) if (!mem.read(at, EDGE).every((b) => b === tag)) return i;
  }
  return -1;
}

/**
 * Commands between two runs of the buddy checker (a full recount of the free
 * lists and struct pages, ~0.7 ms on this machine): 10,000 commands with a
 * recount after each would take the suite's time, so the cheap checks (no
 * overlap, the page count) run after every command and the recount every
 * FULL_EVERY commands and at the end of every story.
 */
const FULL_EVERY = 5;

function verify(model: Model, real: Real): void {
  expect(freeAndPcp(real.m) + pagesHeld(model)).toBe(real.managed);
  if (real.stats.commands % FULL_EVERY !== 0) return;
  real.m.check("buddy");
  real.stats.checks++;
}

class Alloc implements fc.Command<Model, Real> {
  constructor(
    readonly order: number,
    readonly gfpIndex: number,
    readonly tag: number,
  ) {}
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    const gfp = (GFPS[this.gfpIndex] as number) | __GFP_NOWARN;
    const pfn = real.m.kernel.allocPages(this.order, gfp);
    if (pfn === null) return;
    expect(pfn % (1 << this.order)).toBe(0);
    if (gfp & GFP_DMA) expect(pfn + (1 << this.order)).toBeLessThanOrEqual(4096);
    for (const [p, o] of model.live) {
      const overlap = pfn < p + (1 << o) && p < pfn + (1 << this.order);
      expect(overlap, `block ${pfn}/${this.order} overlaps live ${p}/${o}`).toBe(false);
    }
    if (gfp & __GFP_ZERO) expect(edgesHold(real, pfn, this.order, 0), "__GFP_ZERO block not zero").toBe(-1);
    writeEdges(real, pfn, this.order, this.tag);
    model.live.push([pfn, this.order, this.tag]);
    verify(model, real);
  }
  toString(): string {
    return `alloc(${this.order}, ${this.gfpIndex})`;
  }
}

class Free implements fc.Command<Model, Real> {
  constructor(readonly index: number) {}
  check(model: Readonly<Model>): boolean {
    return model.live.length > 0;
  }
  run(model: Model, real: Real): void {
    const i = this.index % model.live.length;
    const [pfn, order, tag] = model.live[i] as [number, number, number];
    expect(edgesHold(real, pfn, order, tag), `block ${pfn}/${order} lost its tag`).toBe(-1);
    real.m.kernel.freePages(pfn, order);
    model.live.splice(i, 1);
    verify(model, real);
  }
  toString(): string {
    return `free(#${this.index})`;
  }
}

class Drain implements fc.Command<Model, Real> {
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    real.m.kernel.drainPcp();
    verify(model, real);
  }
  toString(): string {
    return "drain";
  }
}

const commands = [
  fc
    .tuple(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 255 }))
    .map(([o, g, t]) => new Alloc(o, g, t)),
  fc
    .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 255 }))
    .map(([o, g, t]) => new Alloc(o, g, t)),
  fc.nat().map((i) => new Free(i)),
  fc.nat().map((i) => new Free(i)),
  fc.constant(new Drain()),
];

type Story = [Iterable<fc.Command<Model, Real>>, number];

/** Alloc/free of mixed orders and GFP flags, per-CPU lists on or off; buddy checker after every command. */
export const PAGE_ALLOC_MODEL: PropertyModel<Story> = {
  name: "page-alloc",
  budget: 10_000,
  storyMax: 200,
  arbitrary: (max) => fc.tuple(fc.commands(commands, { maxCommands: max, size: "max" }), fc.constantFrom(-1, 0)),
  run([cmds, pcpBatch]) {
    const m = Machine.boot({ ramBytes: 24 << 20, pcpBatch });
    const managed = m.kernel.buddy.nrManagedPages();
    const boot = m.proc.buddyinfo();
    const model: Model = { live: [] };
    const stats: StoryStats = { commands: 0, checks: 0 };
    runModel(model, { m, managed, stats }, cmds, stats);
    for (const [pfn, order] of model.live) m.kernel.freePages(pfn, order);
    m.kernel.drainPcp();
    expect(m.proc.buddyinfo()).toBe(boot);
    m.check();
    stats.checks++;
    return stats;
  },
};
