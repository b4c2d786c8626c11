import { describe, expect, it } from "vitest";
import { MIGRATE_BUSY } from "../../../kernel/mm/migrate.ts";
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  O_CREAT,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from "../../../sim/index.ts";
import { vmstat } from "../../support/vmstat.ts";

const PAGE = 4096;
const FILE_AT = 0x200000000;
/** struct page bits and words the stories read (memmap.ts). */
const PG_ALLOC = 1 << 3;
const PG_DIRTY = 1 << 13;
const PG_FILE = 1 << 15;
const SP_MAPPING = 7;
/** PTE bits (pgtable_types.ts): present, dirty. */
const PTE_D = 0x40;

function boot() {
  const m = Machine.boot({ ramBytes: 8 << 20, debugVm: 3 });
  const vfs = m.kernel.tasks.vfs;
  if (vfs === null || vfs === undefined) throw new Error("no file layer");
  return { m, vfs, migrate: m.kernel.taskParts.migrate };
}

/** `pages` pages whose page i is filled with byte 0x40 + i. */
function pattern(pages: number): Uint8Array {
  const b = new Uint8Array(pages * PAGE);
  for (let i = 0; i < pages; i++) b.fill(0x40 + i, i * PAGE, (i + 1) * PAGE);
  return b;
}

function pfnAt(p: Process, va: number): number {
  return p.mm.pt.ptePfn(p.mm.pt.lookup(va));
}

/** Maps the whole of /f shared at FILE_AT in `p`; returns the descriptor. */
function mapShared(p: Process, pages: number): number {
  const fd = p.sys.open("/f", O_RDWR);
  expect(p.sys.mmap(FILE_AT, pages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(FILE_AT);
  return fd;
}

describe("page migration of page-cache pages", () => {
  it("moves a dirty shared file page mapped by two processes: data, cache index, both entries, dirty bit; fsync writes the new frame", () => {
    const { m, vfs, migrate } = boot();
    m.fs.writeFile("/f", pattern(2));
    const p = m.spawn("p");
    const q = m.spawn("q");
    const fd = mapShared(p, 2);
    mapShared(q, 2);
    p.mem.write32(FILE_AT + PAGE + 8, 0x11223344);
    expect(q.mem.read32(FILE_AT + PAGE + 8)).toBe(0x11223344);
    const old = pfnAt(p, FILE_AT + PAGE);
    expect(pfnAt(q, FILE_AT + PAGE)).toBe(old);
    const ino = m.kernel.memmap.userWord(old, SP_MAPPING);
    expect(vfs.cache.find(ino, 1)).toBe(old);
    const dirty0 = vmstat(m, "nr_dirty");
    const to = migrate.migratePage(old, -1);
    expect(to).toBeGreaterThanOrEqual(0);
    expect(to).not.toBe(old);
    // Both entries and the cache's index name the new frame; the old frame went back to the allocator.
    expect([pfnAt(p, FILE_AT + PAGE), pfnAt(q, FILE_AT + PAGE), vfs.cache.find(ino, 1)]).toEqual([to, to, to]);
    expect(m.kernel.memmap.flags(old) & PG_ALLOC).toBe(0);
    // The cache's reference and one per mapping: 3 and 2. The writer's entry is still dirty; the page is a file page.
    expect([m.kernel.memmap.refcount(to), m.kernel.memmap.mapcount(to)]).toEqual([3, 2]);
    expect(p.mm.pt.pteFlags(p.mm.pt.lookup(FILE_AT + PAGE)) & PTE_D).toBe(PTE_D);
    expect(m.kernel.memmap.flags(to) & PG_FILE).toBe(PG_FILE);
    expect(vmstat(m, "nr_dirty")).toBe(dirty0);
    expect([q.mem.read32(FILE_AT + PAGE + 8), q.mem.read8(FILE_AT + PAGE + 100)]).toEqual([0x11223344, 0x41]);
    expect([vmstat(m, "pgmigrate_success"), vmstat(m, "pgmigrate_fail")]).toEqual([1, 0]);
    m.check();
    // fsync harvests the dirty entry and writes the new frame to the page's block: the disk holds the written word.
    expect(p.sys.fsync(fd)).toBe(0);
    const blk = vfs.fs.bmap(ino, 1, "lookup");
    const disk = new Uint8Array(PAGE);
    vfs.dev.readBlock(blk, disk, 0);
    expect([...disk.subarray(8, 12)]).toEqual([0x44, 0x33, 0x22, 0x11]);
    expect([disk[0], disk[PAGE - 1]]).toEqual([0x41, 0x41]);
    m.check();
  });

  it("moves an unmapped dirty page written by write(): PG_dirty moves with it and the later writeback is of its bytes", () => {
    const { m, vfs, migrate } = boot();
    const p = m.spawn("p");
    const buf = p.sys.mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    p.mem.write(buf, pattern(1));
    const fd = p.sys.open("/d", O_CREAT | O_RDWR, 0o644);
    expect(p.sys.write(fd, buf, PAGE)).toBe(PAGE);
    const [[ino, indexes]] = vfs.cache.inodeIndexes() as [[number, number[]]];
    expect(indexes).toEqual([0]);
    const old = vfs.cache.find(ino, 0);
    expect(m.kernel.memmap.flags(old) & PG_DIRTY).toBe(PG_DIRTY);
    const to = migrate.migratePage(old, -1);
    expect(vfs.cache.find(ino, 0)).toBe(to);
    // Only the cache holds it: refcount 1, no mapping; still dirty, still counted once in nr_dirty.
    expect([m.kernel.memmap.refcount(to), m.kernel.memmap.mapcount(to)]).toEqual([1, 0]);
    expect(m.kernel.memmap.flags(to) & PG_DIRTY).toBe(PG_DIRTY);
    expect(vmstat(m, "nr_dirty")).toBe(1);
    m.check();
    expect(p.sys.fsync(fd)).toBe(0);
    expect(vmstat(m, "nr_dirty")).toBe(0);
    const disk = new Uint8Array(PAGE);
    vfs.dev.readBlock(vfs.fs.bmap(ino, 0, "lookup"), disk, 0);
    expect(disk).toEqual(pattern(1));
    m.check();
  });

  it("refuses a cache page someone is copying (an extra reference, as a locked page in MIGRATE_ASYNC)", () => {
    const { m, vfs, migrate } = boot();
    m.fs.writeFile("/f", pattern(1));
    const [[ino]] = vfs.cache.inodeIndexes() as [[number, number[]]];
    const pfn = vfs.cache.find(ino, 0);
    vfs.cache.hold(pfn);
    expect(migrate.migratePage(pfn, -1)).toBe(MIGRATE_BUSY);
    vfs.cache.put(pfn);
    expect(vfs.cache.find(ino, 0)).toBe(pfn);
    expect(vmstat(m, "pgmigrate_fail")).toBe(1);
    m.check();
  });

  it("compact_memory moves clean unmapped cache pages too, and the file reads back", () => {
    const { m, vfs } = boot();
    m.fs.writeFile("/f", pattern(3));
    const [[ino]] = vfs.cache.inodeIndexes() as [[number, number[]]];
    // The file's pages sit in the bottom page block (0x31..0x33, after the boot allocations).
    expect([0, 1, 2].map((i) => vfs.cache.find(ino, i))).toEqual([0x31, 0x32, 0x33]);
    m.kernel.compactMemory();
    // The free scanner isolates the top page block [0x600, 0x800) in ascending order onto a stack; each migration
    // pops the top, so pages 0, 1, 2 land on 0x7ff, 0x7fe, 0x7fd. They were the only movable pages.
    expect([0, 1, 2].map((i) => vfs.cache.find(ino, i))).toEqual([0x7ff, 0x7fe, 0x7fd]);
    expect([vmstat(m, "pgmigrate_success"), vmstat(m, "pgmigrate_fail")]).toEqual([3, 0]);
    expect(m.fs.readFile("/f")).toEqual(pattern(3));
    m.check();
  });
});
