import { describe, expect, it } from "vitest";
import {
  MADV_COLD,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  O_CREAT,
  O_RDONLY,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from "../../../sim/index.ts";
import { vmstat } from "../../support/vmstat.ts";

const PAGE = 4096;
const BASE = 0x100000000;
const FILE_AT = 0x200000000;

function boot() {
  const m = Machine.boot({ ramBytes: 4 << 20, swapBytes: 4 << 20, debugVm: 3 });
  const p = m.spawn("t");
  return { m, p, reclaim: m.kernel.taskParts.reclaim, vfs: m.kernel.tasks.vfs! };
}

function meminfo(m: Machine, name: string): number {
  const line = m.proc
    .meminfo()
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  return Number(line?.split(/\s+/)[1]);
}

/** `pages` pages whose page i is filled with byte 0x40 + i. */
function pattern(pages: number): Uint8Array {
  const b = new Uint8Array(pages * PAGE);
  for (let i = 0; i < pages; i++) b.fill(0x40 + i, i * PAGE, (i + 1) * PAGE);
  return b;
}

/** Three anonymous pages written at BASE. */
function anonPages(p: Process): void {
  expect(p.sys.mmap(BASE, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
  for (let i = 0; i < 3; i++) p.mem.write32(BASE + i * PAGE, 100 + i);
}

function swappedOut(p: Process, at: number, pages: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < pages; i++) if (p.mm.pt.explain(at + i * PAGE).includes("swap entry")) out.push(i);
  return out;
}

describe("page-cache pages on the file LRU lists", () => {
  it("a file page read twice is on the active file list; the others stay inactive", () => {
    const { m, p } = boot();
    m.fs.writeFile("/f", pattern(4));
    m.fs.remount();
    const buf = p.sys.mmap(0, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    const fd = p.sys.open("/f", O_RDONLY);
    expect(p.sys.read(fd, buf, 4 * PAGE)).toBe(4 * PAGE);
    expect([meminfo(m, "Active(file)"), meminfo(m, "Inactive(file)")]).toEqual([0, 16]);
    expect(p.sys.pread(fd, buf, 10, 0)).toBe(10);
    expect([meminfo(m, "Active(file)"), meminfo(m, "Inactive(file)")]).toEqual([4, 12]);
    expect([vmstat(m, "nr_active_file"), vmstat(m, "nr_inactive_file")]).toEqual([1, 3]);
    m.check();
  });

  it("reclaim takes clean inactive file pages before any anonymous page, with no write", () => {
    const { m, p, reclaim, vfs } = boot();
    m.fs.writeFile("/f", pattern(4));
    m.fs.remount();
    anonPages(p);
    const buf = p.sys.mmap(0, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    const fd = p.sys.open("/f", O_RDONLY);
    expect(p.sys.read(fd, buf, 4 * PAGE)).toBe(4 * PAGE);
    expect(p.sys.pread(fd, buf, 10, 0)).toBe(10);
    const writes0 = vfs.dev.writes;
    expect(reclaim.tryToFreePages(2, 0)).toBe(2);
    // Pages 1 and 2 were the oldest inactive ones; page 0 is active, page 3 newer.
    expect([meminfo(m, "Cached"), meminfo(m, "Active(file)"), meminfo(m, "Inactive(file)")]).toEqual([8, 4, 4]);
    expect([vmstat(m, "pgscan_file"), vmstat(m, "pgsteal_file"), vmstat(m, "pgsteal_direct")]).toEqual([2, 2, 2]);
    expect([vmstat(m, "pswpout"), vmstat(m, "nr_vmscan_write"), vfs.dev.writes - writes0]).toEqual([0, 0, 0]);
    expect(swappedOut(p, BASE, 3)).toEqual([]);
    const reads0 = vfs.dev.reads;
    expect(m.fs.readFile("/f")).toEqual(pattern(4));
    expect(vfs.dev.reads - reads0).toBe(2);
    m.check();
  });

  it("anonymous pages go to swap only for what the file lists cannot give", () => {
    const { m, p, reclaim } = boot();
    m.fs.writeFile("/f", pattern(2));
    m.fs.remount();
    anonPages(p);
    expect(m.fs.readFile("/f")).toEqual(pattern(2));
    expect(reclaim.tryToFreePages(3, 0)).toBe(3);
    expect([meminfo(m, "Cached"), vmstat(m, "pgsteal_file"), vmstat(m, "pswpout")]).toEqual([0, 2, 1]);
    expect(swappedOut(p, BASE, 3)).toEqual([0]);
    m.check();
  });

  it("a page read again after reclaim evicted it is a refault; a short refault distance starts it on the active list", () => {
    const { m, p, reclaim, vfs } = boot();
    m.fs.writeFile("/f", pattern(4));
    m.fs.remount();
    const buf = p.sys.mmap(0, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    const fd = p.sys.open("/f", O_RDONLY);
    expect(p.sys.read(fd, buf, 4 * PAGE)).toBe(4 * PAGE);
    // Page 0 promoted (age 1); reclaim evicts pages 1 (shadow age 1, age 2) and 2 (shadow age 2, age 3).
    expect(p.sys.pread(fd, buf, 10, 0)).toBe(10);
    expect(reclaim.tryToFreePages(2, 0)).toBe(2);
    expect(vfs.cache.nrShadows()).toBe(2);
    // Page 2: distance 3 - 2 = 1, within the one active page: activated (age 4).
    expect(p.sys.pread(fd, buf, 10, 2 * PAGE)).toBe(10);
    // Page 1: distance 4 - 1 = 3, past the two active pages: a plain inactive page.
    expect(p.sys.pread(fd, buf, 10, PAGE)).toBe(10);
    const ws = ["workingset_refault_file", "workingset_activate_file", "workingset_restore_file"].map((k) => vmstat(m, k));
    expect(ws).toEqual([2, 1, 0]);
    expect([meminfo(m, "Active(file)"), meminfo(m, "Inactive(file)"), vfs.cache.nrShadows()]).toEqual([8, 8, 0]);
    m.check();
  });

  it("a refaulted page that had been active before its eviction is restored to the workingset", () => {
    const { m, p, reclaim } = boot();
    m.fs.writeFile("/f", pattern(3));
    m.fs.remount();
    const buf = p.sys.mmap(0, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    const fd = p.sys.open("/f", O_RDONLY);
    expect(p.sys.read(fd, buf, 3 * PAGE)).toBe(3 * PAGE);
    // Pages 0 and 1 promoted (age 2). Reclaim first deactivates page 0 (the active tail: PG_workingset),
    // evicts page 2 (shadow age 2, age 3), then page 0 (shadow age 3 with the workingset bit, age 4).
    expect(p.sys.pread(fd, buf, 10, 0)).toBe(10);
    expect(p.sys.pread(fd, buf, 10, PAGE)).toBe(10);
    expect(reclaim.tryToFreePages(2, 0)).toBe(2);
    // Page 0: distance 4 - 3 = 1 within the active page 1: activated and restored (age 5).
    expect(p.sys.pread(fd, buf, 10, 0)).toBe(10);
    // Page 2: distance 5 - 2 = 3 past the two active pages.
    expect(p.sys.pread(fd, buf, 10, 2 * PAGE)).toBe(10);
    const ws = ["workingset_refault_file", "workingset_activate_file", "workingset_restore_file"].map((k) => vmstat(m, k));
    expect(ws).toEqual([2, 1, 1]);
    expect([meminfo(m, "Active(file)"), meminfo(m, "Inactive(file)")]).toEqual([8, 4]);
    m.check();
  });

  it("drop_caches and truncate leave no shadow: reading the page again is no refault", () => {
    const { m, p, reclaim, vfs } = boot();
    m.fs.writeFile("/f", pattern(2));
    m.fs.remount();
    const buf = p.sys.mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    const fd = p.sys.open("/f", O_RDWR);
    expect(p.sys.read(fd, buf, 2 * PAGE)).toBe(2 * PAGE);
    m.dropCaches();
    expect(p.sys.pread(fd, buf, 2 * PAGE, 0)).toBe(2 * PAGE);
    expect(reclaim.tryToFreePages(2, 0)).toBe(2);
    expect(vfs.cache.nrShadows()).toBe(2);
    // Truncating to one page forgets page 1's shadow; page 0's refault still counts.
    expect(p.sys.ftruncate(fd, PAGE)).toBe(0);
    expect(vfs.cache.nrShadows()).toBe(1);
    expect(p.sys.pread(fd, buf, 2 * PAGE, 0)).toBe(PAGE);
    expect(vmstat(m, "workingset_refault_file")).toBe(1);
    m.check();
  });

  it("a dirty file page is written back before reclaim frees it, and its bytes are read back", () => {
    const { m, p, reclaim } = boot();
    const buf = p.sys.mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    p.mem.write(buf, pattern(2));
    const fd = p.sys.open("/d", O_CREAT | O_RDWR, 0o644);
    expect(p.sys.write(fd, buf, 2 * PAGE)).toBe(2 * PAGE);
    expect(meminfo(m, "Dirty")).toBe(8);
    const out0 = vmstat(m, "pgpgout");
    expect(reclaim.tryToFreePages(2, 0)).toBe(2);
    expect([meminfo(m, "Dirty"), meminfo(m, "Cached"), vmstat(m, "nr_vmscan_write"), vmstat(m, "pgpgout") - out0]).toEqual([0, 0, 2, 8]);
    expect(m.fs.readFile("/d")).toEqual(pattern(2));
    m.check();
  });

  it("a mapped file page is unmapped from every mapping, and its next access is a major fault that reads it again", () => {
    const { m, p, reclaim } = boot();
    m.fs.writeFile("/f", pattern(1));
    m.fs.remount();
    const fd = p.sys.open("/f", O_RDWR);
    expect(p.sys.mmap(FILE_AT, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(FILE_AT);
    const q = p.fork() as Process;
    expect(p.mem.read(FILE_AT, 4)).toEqual(new Uint8Array([0x40, 0x40, 0x40, 0x40]));
    expect(q.mem.read(FILE_AT, 1)[0]).toBe(0x40);
    q.mem.write(FILE_AT + 8, new Uint8Array([7]));
    expect(meminfo(m, "Mapped")).toBe(4);
    const maj0 = vmstat(m, "pgmajfault");
    const in0 = vmstat(m, "pgpgin");
    // Young in two entries: promoted first; then deactivated (bits cleared), found old and reclaimed.
    expect(reclaim.tryToFreePages(1, 0)).toBe(1);
    expect([meminfo(m, "Mapped"), meminfo(m, "Cached"), vmstat(m, "pgscan_file"), vmstat(m, "nr_vmscan_write")]).toEqual([0, 0, 2, 1]);
    expect(p.mm.pt.explain(FILE_AT)).toContain("=> not mapped");
    expect(q.mm.pt.explain(FILE_AT)).toContain("=> not mapped");
    const b = q.mem.read(FILE_AT, 9);
    expect([b[0], b[8]]).toEqual([0x40, 7]);
    expect([vmstat(m, "pgmajfault") - maj0, vmstat(m, "pgpgin") - in0]).toEqual([1, 4]);
    expect(p.mem.read(FILE_AT + 8, 1)[0]).toBe(7);
    expect(vmstat(m, "pgmajfault") - maj0).toBe(1);
    m.check();
  });

  it("under memory pressure kswapd takes the page cache and no anonymous page goes to swap", () => {
    const { m, p } = boot();
    m.fs.writeFile("/big", new Uint8Array(512 * PAGE).fill(9));
    m.fs.remount();
    expect(m.fs.readFile("/big").length).toBe(512 * PAGE);
    expect(meminfo(m, "Cached")).toBe(2048);
    const pages = 600;
    expect(p.sys.mmap(BASE, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
    for (let i = 0; i < pages; i++) p.mem.write32(BASE + i * PAGE, 1000 + i);
    // 13 wakeups each take the cache down to the high watermark: 208 clean pages, each scanned once, none written.
    expect([vmstat(m, "kswapd_wakeups"), vmstat(m, "pgsteal_kswapd"), vmstat(m, "pgsteal_direct")]).toEqual([13, 208, 0]);
    expect([vmstat(m, "pgscan_file"), vmstat(m, "pgsteal_file"), vmstat(m, "nr_vmscan_write")]).toEqual([208, 208, 0]);
    expect(meminfo(m, "Cached")).toBe((512 - 208) * 4);
    expect(vmstat(m, "pswpout")).toBe(0);
    expect(swappedOut(p, BASE, pages)).toEqual([]);
    for (let i = 0; i < pages; i++) expect(p.mem.read32(BASE + i * PAGE)).toBe(1000 + i);
    m.check();
  });

  it("a read whose copy faults keeps the cache page it copies from, though the fault's kswapd finds it at the inactive tail", () => {
    const { m, p, reclaim } = boot();
    m.fs.writeFile("/f", pattern(1));
    m.fs.remount();
    const low = reclaim.watermarks().low;
    const pages = 1000;
    expect(p.sys.mmap(BASE, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
    let i = 0;
    // Free pages down to the low watermark plus the one the read's page cache takes.
    while (reclaim.nrFree() !== low + 1 && i < pages) p.mem.write32(BASE + i++ * PAGE, i);
    expect(reclaim.nrFree()).toBe(low + 1);
    const buf = BASE + i * PAGE;
    const fd = p.sys.open("/f", O_RDONLY);
    const wakeups = vmstat(m, "kswapd_wakeups");
    expect(p.sys.read(fd, buf, PAGE)).toBe(PAGE);
    expect(vmstat(m, "kswapd_wakeups")).toBe(wakeups + 1);
    expect(p.mem.read(buf, PAGE)).toEqual(pattern(1));
    expect(meminfo(m, "Cached")).toBe(4);
    m.check();
  });

  it("MADV_COLD on a file mapping moves its active page back to the inactive file list", () => {
    const { m, p } = boot();
    m.fs.writeFile("/f", pattern(1));
    m.fs.remount();
    const fd = p.sys.open("/f", O_RDONLY);
    expect(p.sys.mmap(FILE_AT, PAGE, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(FILE_AT);
    expect(p.mem.read(FILE_AT, 1)[0]).toBe(0x40);
    const buf = p.sys.mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    expect(p.sys.pread(fd, buf, 1, 0)).toBe(1);
    expect([meminfo(m, "Active(file)"), meminfo(m, "Inactive(file)")]).toEqual([4, 0]);
    expect(p.sys.madvise(FILE_AT, PAGE, MADV_COLD)).toBe(0);
    expect([meminfo(m, "Active(file)"), meminfo(m, "Inactive(file)")]).toEqual([0, 4]);
    m.check();
  });

  it("drop_caches still frees the clean unmapped pages and takes them off the file lists", () => {
    const { m } = boot();
    m.fs.writeFile("/f", pattern(3));
    m.fs.sync();
    expect(m.fs.readFile("/f")).toEqual(pattern(3));
    expect(m.dropCaches()).toBe(3);
    expect([vmstat(m, "nr_active_file"), vmstat(m, "nr_inactive_file")]).toEqual([0, 0]);
    m.check();
  });
});
