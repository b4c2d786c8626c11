import { describe, expect, it } from "vitest";
import {
  GFP_ATOMIC,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from "../../../sim/index.ts";
import { vmstat } from "../../support/vmstat.ts";

const MiB = 1 << 20;
const PAGE = 4096;
const ANON_AT = 0x100000000;
const FILE_AT = 0x200000000;
const BUF_AT = 0x300000000;
/** Node 1's first frame: node 0 holds 20 MiB = 5120 frames (DMA 0..4095, Normal 4096..5119). */
const NODE1 = 5120;
/** struct page's mapping word (memmap.ts): a page-cache page's inode. */
const SP_MAPPING = 7;
/** Pages of the file, and how many the story reads (see `story`). */
const FILE_PAGES = 500;
const READ = 384;

/** A fast node 0 (CPU 0, 20 MiB) and a slow memory-only node 1 (4 MiB), with swap: memory_tiers.test.ts's machine. */
function boot(tiering: boolean): Machine {
  const nodes = [
    { cpus: [0], memBytes: 20 * MiB },
    { cpus: [], memBytes: 4 * MiB },
  ];
  return Machine.boot({ numa: { nodes, tiering }, swapBytes: 16 * MiB, debugVm: 1 });
}

/** The counters the stories compare, in this order. */
const COUNTERS = [
  "pgdemote_kswapd",
  "pgdemote_direct",
  "pgmigrate_success",
  "pgscan_file",
  "pgsteal_file",
  "nr_vmscan_write",
  "kswapd_wakeups",
  "pswpout",
];
function counters(m: Machine): number[] {
  return COUNTERS.map((n) => vmstat(m, n));
}

/** The frame mapped at `va`, or -1 when no entry is present there. */
function pfnAt(p: Process, va: number): number {
  const e = p.mm.pt.lookup(va);
  return e < 0 || p.mm.pt.pteFlags(e) === 0 ? -1 : p.mm.pt.ptePfn(e);
}

/**
 * /f (500 pages, page i starting with the word i) is written, synced and
 * dropped from the cache, so every page the mapping touches is read from
 * disk into a new cache page. A process writes 600 anonymous pages (node 0's
 * Normal zone: 1022 free after spawn, - 600 - 4 page-table pages = 418),
 * maps /f shared at FILE_AT (a new PUD entry: a PMD and a PTE table, 416
 * left) and reads page i, writing 0x1000 + i as its second word: the 384th
 * page leaves 416 - 384 = 32 free, the zone's low watermark, and that fault
 * wakes node 0's kswapd (tiering on) to reclaim 38 - 32 = 6 pages.
 *
 * Node 0's file reclaim then: the first pass finds the 384 inactive pages
 * young and referenced (added referenced, then read): all activated. The
 * second pass deactivates the 192 oldest (inactive 0 < active 384, until
 * 192 = 192) and walks them from the oldest: pages 0..5 are unused since
 * the first pass cleared their accessed bits, and go. Scanned 384 + 6 = 390.
 */
function story(m: Machine): Process {
  const pattern = new Uint8Array(FILE_PAGES * PAGE);
  const view = new DataView(pattern.buffer);
  for (let i = 0; i < FILE_PAGES; i++) view.setUint32(i * PAGE, i, true);
  m.fs.writeFile("/f", pattern);
  m.fs.sync();
  expect(m.dropCaches()).toBe(FILE_PAGES);
  const p = m.spawn("t");
  expect(p.sys.mmap(ANON_AT, 600 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(ANON_AT);
  for (let i = 0; i < 600; i++) p.mem.write32(ANON_AT + i * PAGE, i);
  expect(m.kernel.buddy.zones[1]?.freePages).toBe(418);
  const fd = p.sys.open("/f", O_RDWR);
  expect(p.sys.mmap(FILE_AT, FILE_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(FILE_AT);
  for (let i = 0; i < READ; i++) {
    expect(p.mem.read32(FILE_AT + i * PAGE)).toBe(i);
    p.mem.write32(FILE_AT + i * PAGE + 4, 0x1000 + i);
  }
  return p;
}

/** Pages 0..READ-1 whose two words through the mapping, and through pread(), are not i and 0x1000 + i. */
function wrongValues(p: Process): number {
  expect(p.sys.mmap(BUF_AT, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BUF_AT);
  const fd = p.sys.open("/f", O_RDWR);
  let bad = 0;
  for (let i = 0; i < READ; i++) {
    if (p.mem.read32(FILE_AT + i * PAGE) !== i || p.mem.read32(FILE_AT + i * PAGE + 4) !== 0x1000 + i) bad++;
    expect(p.sys.pread(fd, BUF_AT, 8, i * PAGE)).toBe(8);
    if (p.mem.read32(BUF_AT) !== i || p.mem.read32(BUF_AT + 4) !== 0x1000 + i) bad++;
  }
  return bad;
}

describe("memory tiering: page-cache pages are demoted too", () => {
  it("node 0's kswapd moves the 6 oldest mapped file pages to node 1: still mapped, dirty, in the cache's index", () => {
    const m = boot(true);
    const p = story(m);
    // pgdemote_kswapd, pgdemote_direct, pgmigrate_success, pgscan_file, pgsteal_file, nr_vmscan_write, kswapd_wakeups, pswpout
    expect(counters(m)).toEqual([6, 0, 6, 390, 6, 0, 1, 0]);
    expect(m.kernel.buddy.zones[1]?.freePages).toBe(38);
    const cache = m.kernel.tasks.vfs?.cache;
    for (let i = 0; i < READ; i++) {
      const pfn = pfnAt(p, FILE_AT + i * PAGE);
      // Pages 0..5 on node 1, the others where the faults put them (node 0's Normal zone).
      expect(pfn >= NODE1).toBe(i < 6);
      expect(cache?.find(m.kernel.memmap.userWord(pfn, SP_MAPPING), i)).toBe(pfn);
    }
    m.check();
    expect(wrongValues(p)).toBe(0);
    // The reads found every page in the cache: no page came back from disk, none moved.
    expect(counters(m)).toEqual([6, 0, 6, 390, 6, 0, 1, 0]);
    m.check();
  });

  it("node 1 at its min watermark: node 0's kswapd writes the 6 dirty pages back and drops them instead", () => {
    const m = boot(true);
    // Atomic allocations may go below low: take node 1's frames until 26 (its min) are left; demotion asks no further.
    while ((m.kernel.buddy.zones[2]?.freePages ?? 0) > 26) expect(m.kernel.pages.allocPagesNode(0, GFP_ATOMIC, 1, 2)).toBeGreaterThan(0);
    const p = story(m);
    // The same 6 victims, each unmapped, written back (dirty through its entry) and freed.
    expect(counters(m)).toEqual([0, 0, 0, 390, 6, 6, 1, 0]);
    for (let i = 0; i < READ; i++) expect(pfnAt(p, FILE_AT + i * PAGE) < 0).toBe(i < 6);
    m.check();
    // Their next reads fault them back from the disk, which holds the written words.
    expect(wrongValues(p)).toBe(0);
    m.check();
  });

  it("with tiering off the same run reclaims nothing: the machine as a whole is far above its watermarks", () => {
    const m = boot(false);
    const p = story(m);
    expect(counters(m)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(m.kernel.buddy.zones[1]?.freePages).toBe(32);
    for (let i = 0; i < READ; i++) expect(pfnAt(p, FILE_AT + i * PAGE)).toBeLessThan(NODE1);
    expect(wrongValues(p)).toBe(0);
    m.check();
  });
});
