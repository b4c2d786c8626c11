import fc from "fast-check";
import { expect } from "vitest";
import { __GFP_ZERO, GFP_HIGHUSER, Machine, type MmuMemory, type PageTable, PTE_RW } from "../../../sim/index.ts";
import { freeFrames, freeingSink, USER_RO, USER_RW } from "../../kernel/mm/helpers.ts";
import { checkAfterCommand, type PropertyModel, runModel, type StoryStats } from "../../support/budget.ts";

/*
 * Random map / unmap / mprotect / touch / free-tables sequences on a user
 * page table against a reference map of page -> { frame, writable, tag }.
 * After every step: every modelled page translates to its frame with its
 * permission, a sample of unmodelled pages do not translate, the data read
 * through the MMU is the data last written, the page-table and TLB checkers
 * pass (every checker each FULL_CHECK_EVERY commands). At most MAX_MAPPED
 * pages are mapped at once. At the end
 * everything is torn down and every frame is back.
 */

/** Four regions of 1024 pages, each crossing a table boundary of a different level. */
const REGIONS: readonly number[] = [0x100000, 0x3fe00000, 0x7fffffc00000 - 0x400000 + 0x200000, 0x8000000000 - 0x200000];
const REGION_PAGES = 1024;

function vaOf(region: number, page: number): number {
  return (REGIONS[region] as number) + page * 4096;
}

interface Page {
  pfn: number;
  writable: boolean;
  tag: number;
}

interface Model {
  pages: Map<number, Page>;
}

interface Real {
  m: Machine;
  pt: PageTable;
  mem: MmuMemory;
  free0: number;
  stats: StoryStats;
}

/** Pages mapped at most at once (a map that would pass it is skipped): the machine has 4096 frames. */
const MAX_MAPPED = 1024;

function verify(model: Model, real: Real): void {
  // Checkers first: reading every page would refill (and hide) a stale TLB entry.
  checkAfterCommand(real.m, real.stats, ["pgtable", "tlb"]);
  for (const [va, p] of model.pages) {
    // Plain compares first: four expects per page would cost more than the command.
    const ptep = real.pt.lookup(va);
    const ok = ptep > 0 && real.pt.ptePfn(ptep) === p.pfn && ((real.pt.pteFlags(ptep) & PTE_RW) !== 0) === p.writable;
    if (ok && real.mem.read32(va + 8) === p.tag) continue;
    expect(ptep, `lookup ${va.toString(16)}`).toBeGreaterThan(0);
    expect(real.pt.ptePfn(ptep)).toBe(p.pfn);
    expect((real.pt.pteFlags(ptep) & PTE_RW) !== 0).toBe(p.writable);
    expect(real.mem.read32(va + 8)).toBe(p.tag);
  }
  for (let r = 0; r < REGIONS.length; r++) {
    for (const page of [0, 511, 512, 1023]) {
      const va = vaOf(r, page);
      if (model.pages.has(va)) continue;
      const ptep = real.pt.lookup(va);
      if (ptep >= 0 && !real.pt.pteNone(ptep)) expect.fail(`${va.toString(16)} should be unmapped`);
    }
  }
}

class MapCmd implements fc.Command<Model, Real> {
  constructor(
    readonly region: number,
    readonly page: number,
    readonly n: number,
    readonly writable: boolean,
    readonly failNth: number,
  ) {}
  check(m: Readonly<Model>): boolean {
    if (this.page + this.n > REGION_PAGES || m.pages.size + this.n > MAX_MAPPED) return false;
    for (let i = 0; i < this.n; i++) if (m.pages.has(vaOf(this.region, this.page + i))) return false;
    return true;
  }
  run(model: Model, real: Real): void {
    const k = real.m.kernel;
    const pfns: number[] = [];
    for (let i = 0; i < this.n; i++) pfns.push(k.allocPages(0, GFP_HIGHUSER | __GFP_ZERO)!);
    if (this.failNth > 0) real.m.faults.failPageAlloc({ nth: this.failNth });
    const va = vaOf(this.region, this.page);
    const res = real.pt.mapPages(va, pfns, this.n, this.writable ? USER_RW : USER_RO);
    real.m.faults.clear();
    if (res === "nomem") {
      for (const pfn of pfns) k.freePages(pfn, 0);
    } else {
      pfns.forEach((pfn, i) => {
        k.memmap.setMapcount(pfn, 1);
        model.pages.set(va + i * 4096, { pfn, writable: this.writable, tag: 0 });
      });
    }
    verify(model, real);
  }
  toString(): string {
    return `map(${this.region}, ${this.page}, ${this.n}, ${this.writable ? "rw" : "ro"}, fail ${this.failNth})`;
  }
}

class UnmapCmd implements fc.Command<Model, Real> {
  constructor(
    readonly region: number,
    readonly page: number,
    readonly n: number,
  ) {}
  check(): boolean {
    return this.page + this.n <= REGION_PAGES;
  }
  run(model: Model, real: Real): void {
    const va = vaOf(this.region, this.page);
    const sink = freeingSink(real.m);
    const cleared = real.pt.unmapRange(va, va + this.n * 4096, sink);
    real.pt.flushTlb();
    const expected = [...model.pages.keys()].filter((a) => a >= va && a < va + this.n * 4096).sort((a, b) => a - b);
    expect(cleared).toBe(expected.length);
    expect(sink.zapped).toEqual(expected);
    for (const a of expected) model.pages.delete(a);
    verify(model, real);
  }
  toString(): string {
    return `unmap(${this.region}, ${this.page}, ${this.n})`;
  }
}

class ProtectCmd implements fc.Command<Model, Real> {
  constructor(
    readonly region: number,
    readonly page: number,
    readonly n: number,
    readonly writable: boolean,
  ) {}
  check(): boolean {
    return this.page + this.n <= REGION_PAGES;
  }
  run(model: Model, real: Real): void {
    const va = vaOf(this.region, this.page);
    const end = va + this.n * 4096;
    const set = this.writable ? PTE_RW : 0;
    const changed = real.pt.changeProtection(va, end, set, PTE_RW - set);
    real.pt.flushTlb();
    let expected = 0;
    for (const [a, p] of model.pages) {
      if (a < va || a >= end || p.writable === this.writable) continue;
      p.writable = this.writable;
      expected++;
    }
    expect(changed).toBe(expected);
    verify(model, real);
  }
  toString(): string {
    return `protect(${this.region}, ${this.page}, ${this.n}, ${this.writable ? "rw" : "ro"})`;
  }
}

class TouchCmd implements fc.Command<Model, Real> {
  constructor(
    readonly index: number,
    readonly tag: number,
  ) {}
  check(m: Readonly<Model>): boolean {
    return m.pages.size > 0;
  }
  run(model: Model, real: Real): void {
    const entries = [...model.pages.entries()];
    const [va, p] = entries[this.index % entries.length] as [number, Page];
    if (p.writable) {
      real.mem.write32(va + 8, this.tag);
      p.tag = this.tag;
    } else {
      expect(() => real.mem.write32(va + 8, this.tag)).toThrow("#PF: error_code(0x0007) - permissions violation");
    }
    verify(model, real);
  }
  toString(): string {
    return `touch(${this.index}, ${this.tag})`;
  }
}

class FreeTablesCmd implements fc.Command<Model, Real> {
  constructor(readonly region: number) {}
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    const va = vaOf(this.region, 0);
    const before = real.pt.nrTables;
    const freed = real.pt.freeEmptyTables(va, va + REGION_PAGES * 4096);
    expect(real.pt.nrTables).toBe(before - freed);
    verify(model, real);
  }
  toString(): string {
    return `freeTables(${this.region})`;
  }
}

const region = fc.integer({ min: 0, max: REGIONS.length - 1 });
/** A page range inside one region, [first, first + n): mostly short, so the pages in play fit the TLB; sometimes long. */
const span = fc
  .tuple(
    fc.integer({ min: 0, max: REGION_PAGES - 1 }),
    fc.oneof({ arbitrary: fc.integer({ min: 1, max: 24 }), weight: 5 }, fc.integer({ min: 1, max: REGION_PAGES })),
  )
  .map(([a, n]) => [Math.min(a, REGION_PAGES - n), n] as const);
const failNth = fc.oneof({ arbitrary: fc.constant(0), weight: 4 }, { arbitrary: fc.integer({ min: 1, max: 4 }), weight: 1 });
const commands = [
  fc.tuple(region, span, fc.boolean(), failNth).map(([r, [p, n], w, f]) => new MapCmd(r, p, n, w, f)),
  fc.tuple(region, span).map(([r, [p, n]]) => new UnmapCmd(r, p, n)),
  fc.tuple(region, span, fc.boolean()).map(([r, [p, n], w]) => new ProtectCmd(r, p, n, w)),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 0xffffffff })).map(([i, t]) => new TouchCmd(i, t)),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 0xffffffff })).map(([i, t]) => new TouchCmd(i, t)),
  region.map((r) => new FreeTablesCmd(r)),
];

/** map/unmap/protect/touch/free-tables on one user page table against a reference map. */
export const PGTABLE_MODEL: PropertyModel<Iterable<fc.Command<Model, Real>>> = {
  name: "pgtable",
  budget: 10_000,
  storyMax: 200,
  arbitrary: (max) => fc.commands(commands, { maxCommands: max, size: "max" }),
  run(cmds) {
    const m = Machine.boot({ ramBytes: 16 << 20, tlb: { entries: 256, ways: 4 } });
    const free0 = freeFrames(m);
    const pt = m.kernel.paging.pgdAlloc()!;
    pt.faultHandler = () => false;
    const stats: StoryStats = { commands: 0, checks: 0 };
    const real: Real = { m, pt, mem: m.kernel.mmu.view(pt, "user"), free0, stats };
    const model: Model = { pages: new Map() };
    runModel(model, real, cmds, stats);
    pt.unmapRange(0, 2 ** 47, freeingSink(m));
    pt.flushTlb();
    pt.freeEmptyTables(0, 2 ** 47);
    expect(pt.nrTables).toBe(1);
    m.kernel.paging.pgdFree(pt);
    m.check();
    stats.checks++;
    expect(freeFrames(m)).toBe(free0);
    return stats;
  },
};
