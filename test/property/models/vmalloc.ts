import fc from "fast-check";
import { expect } from "vitest";
import { Machine, VMALLOC_START } from "../../../sim/index.ts";
import { freeFrames } from "../../kernel/mm/helpers.ts";
import { checkAfterCommand, type PropertyModel, runModel, type StoryStats } from "../../support/budget.ts";

/*
 * Random vmalloc / vzalloc / vfree / bad vfree / vmap / vunmap sequences
 * against a reference list of areas. The reference places each new area by
 * a plain first-fit scan from VMALLOC_START (area = pages + one guard page);
 * the kernel's O(log n) index must pick the same address. After every step:
 * each page holds the tag last written to it, VmallocUsed matches, the
 * vmalloc and page-table checkers pass (every checker each FULL_CHECK_EVERY
 * commands, test/support/budget.ts). At the end every frame is back except the range's page tables.
 */

const PAGE = 4096;

interface Area {
  addr: number;
  pages: number;
  /** Frames of a vmap area (owned by the test); empty for vmalloc. */
  frames: number[];
  tags: number[];
}

interface Model {
  areas: Area[];
}

interface Real {
  m: Machine;
  stats: StoryStats;
}

/** First fit from VMALLOC_START for `pages` + guard. */
function expectedAddr(model: Model, pages: number): number {
  const sorted = [...model.areas].sort((a, b) => a.addr - b.addr);
  let at = VMALLOC_START;
  for (const a of sorted) {
    if (a.addr - at >= (pages + 1) * PAGE) return at;
    at = a.addr + (a.pages + 1) * PAGE;
  }
  return at;
}

function verify(model: Model, real: Real): void {
  const k = real.m.kernel;
  checkAfterCommand(real.m, real.stats, ["vmalloc", "pgtable"]);
  let used = 0;
  for (const a of model.areas) {
    if (a.frames.length === 0) used += a.pages;
    // One expect per page would cost more than the commands: compare, then expect the first mismatch.
    const bad = a.tags.findIndex((tag, i) => k.mem.read32(a.addr + i * PAGE + 12) !== tag);
    if (bad >= 0) expect(k.mem.read32(a.addr + bad * PAGE + 12), `page ${bad} of 0x${a.addr.toString(16)}`).toBe(a.tags[bad]);
  }
  expect((real.m.stats().vmalloc as { pages: number }).pages).toBe(used);
}

class Alloc implements fc.Command<Model, Real> {
  constructor(
    readonly bytes: number,
    readonly zero: boolean,
    readonly tag: number,
  ) {}
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    const k = real.m.kernel;
    const pages = Math.ceil(this.bytes / PAGE);
    const addr = this.zero ? k.vzalloc(this.bytes) : k.vmalloc(this.bytes);
    expect(addr).toBe(expectedAddr(model, pages));
    const tags: number[] = [];
    for (let i = 0; i < pages; i++) {
      if (this.zero) expect(k.mem.read32(addr + i * PAGE + 12)).toBe(0);
      k.mem.write32(addr + i * PAGE + 12, this.tag + i);
      tags.push(this.tag + i);
    }
    model.areas.push({ addr, pages, frames: [], tags });
    verify(model, real);
  }
  toString(): string {
    return `${this.zero ? "vzalloc" : "vmalloc"}(${this.bytes})`;
  }
}

class Vmap implements fc.Command<Model, Real> {
  constructor(readonly pages: number) {}
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    const k = real.m.kernel;
    const frames: number[] = [];
    for (let i = 0; i < this.pages; i++) frames.push(k.allocPages(0)!);
    const addr = k.vmap(frames, this.pages);
    expect(addr).toBe(expectedAddr(model, this.pages));
    const tags = frames.map((pfn) => k.phys.read32(pfn * PAGE + 12));
    model.areas.push({ addr, pages: this.pages, frames, tags });
    verify(model, real);
  }
  toString(): string {
    return `vmap(${this.pages})`;
  }
}

class Free implements fc.Command<Model, Real> {
  constructor(
    readonly index: number,
    readonly useVunmap: boolean,
  ) {}
  check(m: Readonly<Model>): boolean {
    return m.areas.length > 0;
  }
  run(model: Model, real: Real): void {
    const k = real.m.kernel;
    const i = this.index % model.areas.length;
    const a = model.areas[i] as Area;
    // vunmap only vmap areas (on a vmalloc area it would leak the pages, as on Linux).
    if (this.useVunmap && a.frames.length > 0) k.vunmap(a.addr);
    else k.vfree(a.addr);
    for (const pfn of a.frames) k.freePages(pfn, 0);
    model.areas.splice(i, 1);
    verify(model, real);
  }
  toString(): string {
    return `free(${this.index}, ${this.useVunmap ? "vunmap" : "vfree"})`;
  }
}

class BadFree implements fc.Command<Model, Real> {
  constructor(readonly offset: number) {}
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    const k = real.m.kernel;
    const addr = VMALLOC_START + this.offset * PAGE;
    if (model.areas.some((a) => a.addr === addr)) return;
    const before = k.reports.length;
    k.vfree(addr);
    expect(k.reports.length).toBe(before + 1);
    expect(k.reports.at(-1)?.kind).toBe("vmalloc_bad_free");
    verify(model, real);
  }
  toString(): string {
    return `badFree(${this.offset})`;
  }
}

const commands = [
  fc
    .tuple(fc.integer({ min: 1, max: 9 * PAGE }), fc.boolean(), fc.integer({ min: 1, max: 2 ** 30 }))
    .map(([b, z, t]) => new Alloc(b, z, t)),
  fc.integer({ min: 1, max: 5 }).map((n) => new Vmap(n)),
  fc.tuple(fc.nat(), fc.boolean()).map(([i, v]) => new Free(i, v)),
  fc.tuple(fc.nat(), fc.boolean()).map(([i, v]) => new Free(i, v)),
  fc.integer({ min: 0, max: 60 }).map((o) => new BadFree(o)),
];

/** vmalloc/vzalloc/vmap/vfree/vunmap and bad vfrees against first-fit placement; the vmalloc and page-table checkers after every command, every checker each FULL_CHECK_EVERY. */
export const VMALLOC_MODEL: PropertyModel<Iterable<fc.Command<Model, Real>>> = {
  name: "vmalloc",
  budget: 10_000,
  storyMax: 200,
  arbitrary: (max) => fc.commands(commands, { maxCommands: max, size: "max" }),
  run(cmds) {
    const m = Machine.boot({ ramBytes: 8 << 20 });
    const free0 = freeFrames(m);
    const model: Model = { areas: [] };
    const stats: StoryStats = { commands: 0, checks: 0 };
    runModel(model, { m, stats }, cmds, stats);
    for (const a of model.areas) {
      m.kernel.vfree(a.addr);
      for (const pfn of a.frames) m.kernel.freePages(pfn, 0);
    }
    m.kernel.dropCaches();
    m.check();
    stats.checks++;
    expect(freeFrames(m)).toBe(free0 - m.kernel.paging.nrTablePages);
    return stats;
  },
};
