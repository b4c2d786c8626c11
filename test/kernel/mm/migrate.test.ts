import { describe, expect, it } from "vitest";
import { MIGRATE_BUSY, MIGRATE_NOT_MOVABLE } from "../../../kernel/mm/migrate.ts";
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, Machine, PROT_READ, PROT_WRITE, type Process } from "../../../sim/index.ts";
import { vmstat } from "../../support/vmstat.ts";

const PAGE = 4096;
const BASE = 0x100000000;

function boot() {
  const m = Machine.boot({ ramBytes: 8 << 20, swapBytes: 4 << 20, debugVm: 3 });
  const p = m.spawn("t");
  return { m, p, migrate: m.kernel.taskParts.migrate };
}

function mapAnon(p: Process, pages: number, flags = MAP_PRIVATE): void {
  expect(p.sys.mmap(BASE, pages * PAGE, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
}

function pfnAt(p: Process, va: number): number {
  return p.mm.pt.ptePfn(p.mm.pt.lookup(va));
}

describe("page migration", () => {
  it("moves a private page: same bytes at the same address, a new frame, the old one freed", () => {
    const { m, p, migrate } = boot();
    mapAnon(p, 1);
    p.mem.write32(BASE + 8, 0xdeadbeef);
    const old = pfnAt(p, BASE);
    const to = migrate.migratePage(old, -1);
    expect(to).toBeGreaterThanOrEqual(0);
    expect(to).not.toBe(old);
    expect(pfnAt(p, BASE)).toBe(to);
    expect(p.mem.read32(BASE + 8)).toBe(0xdeadbeef);
    // The old frame went back to the allocator: its record holds no PG_alloc (bit 3).
    expect(m.kernel.memmap.flags(old) & 8).toBe(0);
    expect([vmstat(m, "pgmigrate_success"), vmstat(m, "pgmigrate_fail")]).toEqual([1, 0]);
    m.check();
  });

  it("rewrites the entries of parent and child after fork, and a later write still copies on write", () => {
    const { m, p, migrate } = boot();
    mapAnon(p, 2);
    p.mem.write32(BASE, 11);
    p.mem.write32(BASE + PAGE, 22);
    const c = p.fork();
    if (c === null) throw new Error("fork failed");
    const old = pfnAt(p, BASE);
    expect(pfnAt(c, BASE)).toBe(old);
    const to = migrate.migratePage(old, -1);
    expect([pfnAt(p, BASE), pfnAt(c, BASE)]).toEqual([to, to]);
    // Mapped twice: refcount and mapcount 2 moved with it.
    expect([m.kernel.memmap.refcount(to), m.kernel.memmap.mapcount(to)]).toEqual([2, 2]);
    c.mem.write32(BASE, 33);
    expect([p.mem.read32(BASE), c.mem.read32(BASE)]).toEqual([11, 33]);
    m.check();
  });

  it("refuses a page someone else holds, a page-table page and a free frame, counting pgmigrate_fail", () => {
    const { m, p, migrate } = boot();
    mapAnon(p, 1);
    p.mem.write32(BASE, 1);
    const pfn = pfnAt(p, BASE);
    m.kernel.pages.getPage(pfn);
    expect(migrate.migratePage(pfn, -1)).toBe(MIGRATE_BUSY);
    m.kernel.pages.putPage(pfn);
    const table = p.mm.pt.lookup(BASE) >>> 12;
    expect(migrate.migratePage(table, -1)).toBe(MIGRATE_NOT_MOVABLE);
    expect(vmstat(m, "pgmigrate_fail")).toBe(2);
    expect(pfnAt(p, BASE)).toBe(pfn);
    m.check();
  });

  it("moves a shared anonymous (shmem) page mapped by parent and child: both entries and the object's slot name the new frame", () => {
    const { m, p, migrate } = boot();
    mapAnon(p, 2, MAP_SHARED);
    p.mem.write32(BASE + PAGE, 5);
    const c = p.fork();
    if (c === null) throw new Error("fork failed");
    const old = pfnAt(p, BASE + PAGE);
    expect(c.mem.read32(BASE + PAGE)).toBe(5);
    expect(pfnAt(c, BASE + PAGE)).toBe(old);
    const shmem = m.kernel.taskParts.shmem;
    const [id] = shmem.ids() as [number];
    expect(shmem.findPage(id, 1)).toBe(old);
    const to = migrate.migratePage(old, -1);
    expect(to).toBeGreaterThanOrEqual(0);
    expect([pfnAt(p, BASE + PAGE), pfnAt(c, BASE + PAGE), shmem.findPage(id, 1)]).toEqual([to, to, to]);
    // The object's reference and one per mapping: 3 and 2.
    expect([m.kernel.memmap.refcount(to), m.kernel.memmap.mapcount(to)]).toEqual([3, 2]);
    // Still shared: the child's write after the move is the parent's read.
    c.mem.write32(BASE + PAGE, 6);
    expect(p.mem.read32(BASE + PAGE)).toBe(6);
    expect(shmem.nrPages).toBe(1);
    m.check();
    c.exit(0);
    p.exit(0);
    m.check();
  });
});
