import { describe, expect, it } from "vitest";
import { MIGRATE_HUGE_SKIPPED, MIGRATE_HUGE_SPLIT } from "../../../kernel/mm/migrate_huge.ts";
import {
  __GFP_COMP,
  __GFP_NOWARN,
  GFP_HIGHUSER_MOVABLE,
  GFP_NOWAIT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  Machine,
  PROT_READ,
  PROT_WRITE,
  type Process,
  parseMeminfo,
} from "../../../sim/index.ts";

const PAGE = 4096;
const HPAGE = 2 << 20;
const BASE = 0x200000000;
const RW = PROT_READ | PROT_WRITE;
/** An order-9 compound block, as compaction's target is. */
const GFP_TARGET = GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOWARN;

function vmstat(m: Machine, key: string): number {
  const line = m.proc
    .vmstat()
    .split("\n")
    .find((l) => l.startsWith(`${key} `));
  if (line === undefined) throw new Error(`no vmstat line ${key}`);
  return Number(line.split(" ")[1]);
}

function pfnAt(p: Process, va: number): number {
  return p.mm.pt.ptePfn(p.mm.pt.lookup(va));
}

/** 32 MiB, THP "always": `t` maps 2 MiB at BASE (one THP) and writes each 4 KiB page's number + 1 at its start. */
function thpMachine() {
  const m = Machine.boot({ ramBytes: 32 << 20, debugVm: 3 });
  m.kernel.thp.enabled = "always";
  const p = m.spawn("t");
  expect(p.sys.mmap(BASE, HPAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
  for (let i = 0; i < 512; i++) p.mem.write32(BASE + i * PAGE, i + 1);
  return { m, p, huge: m.kernel.taskParts.migrate.huge, migrate: m.kernel.taskParts.migrate };
}

function readsBack(p: Process): number {
  let same = 0;
  for (let i = 0; i < 512; i++) if (p.mem.read32(BASE + i * PAGE) === i + 1) same++;
  return same;
}

describe("THP migration", () => {
  it("moves a THP shared by parent and child whole: both leaves name the new head, every byte reads back", () => {
    const { m, p, huge } = thpMachine();
    const head = pfnAt(p, BASE);
    expect(huge.isThp(head)).toBe(true);
    const c = p.fork() as Process;
    const to = m.kernel.allocPages(9, GFP_TARGET) as number;
    expect(huge.migrateThp(head, to)).toBe(to);
    expect([pfnAt(p, BASE), pfnAt(c, BASE)]).toEqual([to, to]);
    // Two leaves map it: refcount and every frame's mapcount are 2 on the new block; the old one is free.
    expect([m.kernel.memmap.refcount(to), m.kernel.memmap.mapcount(to + 511)]).toEqual([2, 2]);
    expect(m.kernel.memmap.flags(head) & 8 /* PG_alloc */).toBe(0);
    expect([readsBack(p), readsBack(c)]).toEqual([512, 512]);
    // thp_migration_success counts the THP, pgmigrate_success its 512 base pages (as Linux counts them).
    expect([vmstat(m, "thp_migration_success"), vmstat(m, "pgmigrate_success"), vmstat(m, "thp_migration_split")]).toEqual([1, 512, 0]);
    // The child's write still breaks COW (the huge page is split, the written 4 KiB copied): the parent keeps its bytes.
    c.mem.write32(BASE + 3 * PAGE, 99);
    expect([p.mem.read32(BASE + 3 * PAGE), c.mem.read32(BASE + 3 * PAGE)]).toEqual([4, 99]);
    m.check();
  });

  it("splits a THP that has no target; its 512 pages join the LRU and then move one by one", () => {
    const { m, p, huge, migrate } = thpMachine();
    const head = pfnAt(p, BASE);
    expect(huge.migrateThp(head, -1)).toBe(MIGRATE_HUGE_SPLIT);
    expect([vmstat(m, "thp_migration_split"), vmstat(m, "thp_migration_success"), vmstat(m, "thp_split_page")]).toEqual([1, 0, 1]);
    // Now a 4 KiB table maps the same frames in order, each an order-0 page migration can move.
    expect(pfnAt(p, BASE + 7 * PAGE)).toBe(head + 7);
    expect(migrate.movable(head + 7)).toBe(true);
    const to = migrate.migratePage(head + 7, -1);
    expect(pfnAt(p, BASE + 7 * PAGE)).toBe(to);
    expect(readsBack(p)).toBe(512);
    m.check();
  });

  it("refuses a THP someone else holds (thp_migration_fail, 512 base pages failed)", () => {
    const { m, p, huge } = thpMachine();
    const head = pfnAt(p, BASE);
    m.kernel.memmap.setRefcount(head, 2); // a get_page as a GUP pin would take
    expect(huge.migrateThp(head, -1)).toBeLessThan(0);
    m.kernel.memmap.setRefcount(head, 1);
    expect([vmstat(m, "thp_migration_fail"), vmstat(m, "pgmigrate_fail"), vmstat(m, "thp_migration_split")]).toEqual([1, 512, 0]);
    expect(pfnAt(p, BASE)).toBe(head);
    m.check();
  });
});

describe("hugetlb migration", () => {
  function hugetlbMachine() {
    const m = Machine.boot({ ramBytes: 32 << 20, debugVm: 3, hugePages: 2 });
    const p = m.spawn("t");
    expect(p.sys.mmap(BASE, HPAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_HUGETLB)).toBe(BASE);
    for (let i = 0; i < 512; i++) p.mem.write32(BASE + i * PAGE, i + 1);
    return { m, p, huge: m.kernel.taskParts.migrate.huge };
  }
  const pool = (m: Machine) => {
    const mi = parseMeminfo(m.proc.meminfo());
    return [mi.HugePages_Total, mi.HugePages_Free];
  };

  it("moves a pool page in use to a fresh block: the mapping follows, the pool keeps its size", () => {
    const { m, p, huge } = hugetlbMachine();
    const head = pfnAt(p, BASE);
    expect(huge.isHugetlb(head)).toBe(true);
    const to = m.kernel.allocPages(9, GFP_TARGET) as number;
    expect(huge.migrateHugetlb(head, to)).toBe(to);
    expect(pfnAt(p, BASE)).toBe(to);
    expect([huge.isHugetlb(to), huge.isHugetlb(head)]).toEqual([true, false]);
    expect(readsBack(p)).toBe(512);
    expect(pool(m)).toEqual([2, 1]);
    expect(vmstat(m, "pgmigrate_success")).toBe(512);
    // Unmapping gives the new page back to the pool (not to the buddy).
    p.sys.munmap(BASE, HPAGE);
    expect(pool(m)).toEqual([2, 2]);
    m.check();
  });

  it("replaces a free pool page, and skips one when there is no target", () => {
    const { m, p, huge } = hugetlbMachine();
    const used = pfnAt(p, BASE);
    let free = -1;
    for (let pfn = 0; pfn < m.kernel.memmap.nrPages; pfn += 512) if (pfn !== used && huge.isHugetlb(pfn)) free = pfn;
    expect(huge.migrateHugetlb(used, -1)).toBe(MIGRATE_HUGE_SKIPPED);
    const to = m.kernel.allocPages(9, GFP_TARGET) as number;
    expect(huge.migrateHugetlb(free, to)).toBe(to);
    expect([huge.isHugetlb(to), huge.isHugetlb(free)]).toEqual([true, false]);
    expect(pool(m)).toEqual([2, 1]);
    // The replaced page is the one the next fault takes.
    expect(p.sys.mmap(BASE + HPAGE, HPAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_HUGETLB)).toBe(BASE + HPAGE);
    p.mem.write32(BASE + HPAGE, 5);
    expect(pfnAt(p, BASE + HPAGE)).toBe(to);
    expect(readsBack(p)).toBe(512);
    m.check();
  });
});

describe("compaction of 2 MiB pages", () => {
  /** 32 MiB, THP "always": three THPs at BASE (each 4 KiB page holding its number + 1); `unmapFirst` frees the first. */
  function threeThps(opts: { unmapFirst: boolean }) {
    const m = Machine.boot({ ramBytes: 32 << 20, debugVm: 1 });
    m.kernel.thp.enabled = "always";
    const p = m.spawn("t");
    expect(p.sys.mmap(BASE, 3 * HPAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
    for (let i = 0; i < 3 * 512; i++) p.mem.write32(BASE + i * PAGE, i + 1);
    // The Normal zone is 0x1000..0x2000; the kernel's early allocations sit in its top blocks, so the THPs land here.
    expect([0, 1, 2].map((i) => pfnAt(p, BASE + i * HPAGE))).toEqual([0x1800, 0x1a00, 0x1400]);
    if (opts.unmapFirst) expect(p.sys.munmap(BASE, HPAGE)).toBe(0);
    return { m, p };
  }
  const counters = (m: Machine) =>
    ["thp_migration_success", "thp_migration_split", "thp_migration_fail", "pgmigrate_success", "compact_isolated"].map((k) =>
      vmstat(m, k),
    );
  const readsAll = (p: Process, from: number) => {
    for (let i = from; i < 3 * 512; i++) if (p.mem.read32(BASE + i * PAGE) !== i + 1) return false;
    return true;
  };

  it("moves a THP whole to a free order-9 block above it, and the scanners stop there", () => {
    const { m, p } = threeThps({ unmapFirst: true });
    m.kernel.compactMemory();
    // The migrate scanner meets 0x1400 first; the free scanner's highest free order-9 block is 0x1800 (freed above).
    // The free scanner continues below 0x1800, so the scanners meet at 0x1600: 0x1a00 is left alone.
    expect([pfnAt(p, BASE + HPAGE), pfnAt(p, BASE + 2 * HPAGE)]).toEqual([0x1a00, 0x1800]);
    expect([m.kernel.memmap.order(0x1800), m.kernel.memmap.order(0x1a00)]).toEqual([9, 9]);
    // One THP isolated and moved: 512 base pages migrated; compact_isolated counts the source (1) and the target's
    // 512 frames, as the free scanner counts the frames it isolates.
    expect(counters(m)).toEqual([1, 0, 0, 512, 513]);
    expect(readsAll(p, 512)).toBe(true);
    m.check();
  });

  it("direct compaction for an order-9 request leaves THPs alone (moving or splitting one cannot help it)", () => {
    const { m, p } = threeThps({ unmapFirst: false });
    // Every free block of order 9 or more taken (GFP_NOWAIT: no compaction on the way).
    const taken: number[] = [];
    for (let b = m.kernel.allocPages(9, GFP_NOWAIT | __GFP_NOWARN); b !== null; b = m.kernel.allocPages(9, GFP_NOWAIT | __GFP_NOWARN))
      taken.push(b);
    expect(taken.length).toBeGreaterThan(0);
    m.kernel.compaction.direct(9);
    expect([0, 1, 2].map((i) => pfnAt(p, BASE + i * HPAGE))).toEqual([0x1800, 0x1a00, 0x1400]);
    expect(["thp_migration_success", "thp_migration_split", "thp_split_page"].map((k) => vmstat(m, k))).toEqual([0, 0, 0]);
    expect(readsAll(p, 0)).toBe(true);
    m.check();
  });

  it("splits a THP that finds no free order-9 block above it; its 4 KiB pages stay when no free frame is above them", () => {
    const { m, p } = threeThps({ unmapFirst: false });
    // A fourth THP takes the last free order-9 block of the zone.
    expect(p.sys.mmap(BASE + 3 * HPAGE, HPAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE + 3 * HPAGE);
    p.mem.write32(BASE + 3 * HPAGE, 1);
    expect(pfnAt(p, BASE + 3 * HPAGE)).toBe(0x1600);
    // The Normal zone's only free Movable block is the order-10 one at 0x1000, below every THP.
    m.kernel.compactMemory();
    // 0x1400 is met first: no target, so split (thp_migration_split); its pages find no free frame above them and
    // the scanners meet. Nothing migrated, one THP isolated.
    expect(counters(m)).toEqual([0, 1, 0, 0, 1]);
    expect([pfnAt(p, BASE + 2 * HPAGE + 5 * PAGE), m.kernel.memmap.order(0x1400), vmstat(m, "thp_split_page")]).toEqual([0x1405, 0, 1]);
    expect(readsAll(p, 0)).toBe(true);
    m.check();
  });
});
