import { describe, expect, it } from "vitest";
import {
  EAGAIN,
  EINVAL,
  ENOMEM,
  EPERM,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_LOCKED,
  MAP_NORESERVE,
  MAP_PRIVATE,
  MCL_CURRENT,
  MCL_FUTURE,
  MCL_ONFAULT,
  MLOCK_ONFAULT,
  PROT_READ,
  PROT_WRITE,
} from "../../sim/index.ts";
import { boot, mapsLines, meminfo, PAGE } from "./helpers.ts";

const RW = PROT_READ | PROT_WRITE;
const PA = MAP_PRIVATE | MAP_ANONYMOUS;
const BASE = 0x100000000;

type Booted = ReturnType<typeof boot>;

function status(p: Booted["p"], key: string): number {
  return Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(p.proc.status())?.[1]);
}

/** Each VMA's smaps value of `key` in kB, in address order. */
function smapsAll(p: Booted["p"], key: string): number[] {
  return [...p.proc.smaps().matchAll(new RegExp(`\\n${key}:\\s+(\\d+) kB`, "g"))].map((m) => Number(m[1]));
}

/** The VmFlags line of the VMA at `va`. */
function vmFlags(p: Booted["p"], va: number): string {
  const text = p.proc.smaps();
  const at = text.indexOf(`${va.toString(16)}-`);
  return /VmFlags: (.*)/.exec(text.slice(at))?.[1]?.trim() ?? "";
}

/** A process with `pages` private read-write pages at BASE, untouched. */
function mapped(pages: number, opts = {}) {
  const b = boot(opts);
  expect(b.p.sys.mmap(BASE, pages * PAGE, RW, PA | MAP_FIXED, -1, 0)).toBe(BASE);
  return b;
}

describe("mlock family: errno (LINUX.md: mlock)", () => {
  it("EINVAL for mlock2 flags other than MLOCK_ONFAULT, and mlockall of 0, MCL_ONFAULT alone or an unknown bit", () => {
    const { p } = mapped(2);
    expect(p.sys.mlock2(BASE, PAGE, 2)).toBe(-EINVAL);
    expect(p.sys.mlockall(0)).toBe(-EINVAL);
    expect(p.sys.mlockall(MCL_ONFAULT)).toBe(-EINVAL);
    expect(p.sys.mlockall(MCL_CURRENT | 8)).toBe(-EINVAL);
    expect(p.sys.mlock(BASE, -1)).toBe(-EINVAL);
    // An empty range is 0, mapped or not.
    expect(p.sys.mlock(BASE - 2 * PAGE, 0)).toBe(0);
    expect(p.sys.munlock(BASE - 2 * PAGE, 0)).toBe(0);
  });

  it("ENOMEM for an unmapped start and for a hole; the VMA before the hole stays locked", () => {
    const { p } = mapped(2);
    expect(p.sys.mlock(BASE - 2 * PAGE, PAGE)).toBe(-ENOMEM);
    expect(p.sys.munlock(BASE - 2 * PAGE, PAGE)).toBe(-ENOMEM);
    expect(p.sys.mlock(BASE, 4 * PAGE)).toBe(-ENOMEM);
    expect(status(p, "VmLck")).toBe(8);
    expect(p.sys.munlock(BASE, 4 * PAGE)).toBe(-ENOMEM);
    expect(status(p, "VmLck")).toBe(0);
  });

  it("EPERM with RLIMIT_MEMLOCK 0; ENOMEM past the limit, where pages locked already count once", () => {
    const { p } = mapped(8);
    p.setrlimit("memlock", 0);
    expect(p.sys.mlock(BASE, PAGE)).toBe(-EPERM);
    expect(p.sys.mlockall(MCL_FUTURE)).toBe(-EPERM);
    p.setrlimit("memlock", 4 * PAGE);
    expect(p.sys.mlock(BASE, 5 * PAGE)).toBe(-ENOMEM);
    expect(p.sys.mlock(BASE, 4 * PAGE)).toBe(0);
    // The same four again, plus none new: within the limit.
    expect(p.sys.mlock(BASE, 4 * PAGE)).toBe(0);
    expect(p.sys.mlock(BASE + 4 * PAGE, PAGE)).toBe(-ENOMEM);
    expect(status(p, "VmLck")).toBe(16);
    // MAP_LOCKED past the limit is EAGAIN (mlock_future_ok); mlockall(MCL_CURRENT) past it ENOMEM.
    expect(p.sys.mmap(0, PAGE, RW, PA | MAP_LOCKED, -1, 0)).toBe(-EAGAIN);
    expect(p.sys.mlockall(MCL_CURRENT)).toBe(-ENOMEM);
  });
});

describe("mlock family: VMAs, counters and lists (LINUX.md: mlock)", () => {
  it("mlock of the middle page splits the VMA (lo in VmFlags, Locked in smaps); munlock merges it back", () => {
    const { p } = mapped(3);
    expect(p.sys.mlock(BASE + PAGE + 100, 10)).toBe(0);
    const lines = mapsLines(p.proc.maps()).filter((l) => l.startsWith("1000"));
    expect(lines).toEqual([
      "100000000-100001000 rw-p 00000000 00:00 0",
      "100001000-100002000 rw-p 00000000 00:00 0",
      "100002000-100003000 rw-p 00000000 00:00 0",
    ]);
    expect(vmFlags(p, BASE + PAGE)).toBe("rd wr mr mw me lo ac");
    expect(smapsAll(p, "Locked").slice(0, 3)).toEqual([0, 4, 0]);
    expect(status(p, "VmLck")).toBe(4);
    expect(p.sys.munlock(BASE, 3 * PAGE)).toBe(0);
    expect(mapsLines(p.proc.maps()).filter((l) => l.startsWith("1000"))).toEqual(["100000000-100003000 rw-p 00000000 00:00 0"]);
    expect(status(p, "VmLck")).toBe(0);
  });

  it("mlock populates: Unevictable and Mlocked count the pages; munlock returns them to the evictable lists", () => {
    const { m, p } = mapped(4);
    const before = meminfo(m, "Inactive(anon)");
    expect(p.sys.mlock(BASE, 4 * PAGE)).toBe(0);
    expect([meminfo(m, "Unevictable"), meminfo(m, "Mlocked"), status(p, "VmLck"), status(p, "RssAnon")]).toEqual([16, 16, 16, 16]);
    expect(p.sys.munlock(BASE, 4 * PAGE)).toBe(0);
    expect([meminfo(m, "Unevictable"), meminfo(m, "Mlocked"), status(p, "VmLck")]).toEqual([0, 0, 0]);
    expect(meminfo(m, "Inactive(anon)")).toBe(before + 16);
  });

  it("mlock2(MLOCK_ONFAULT) populates nothing; each page is locked as it faults in", () => {
    const { m, p } = mapped(4);
    expect(p.sys.mlock2(BASE, 4 * PAGE, MLOCK_ONFAULT)).toBe(0);
    expect([status(p, "VmLck"), status(p, "RssAnon"), meminfo(m, "Mlocked")]).toEqual([16, 0, 0]);
    p.mem.write32(BASE + PAGE, 7);
    expect([status(p, "RssAnon"), meminfo(m, "Mlocked")]).toEqual([4, 4]);
  });

  it("mlockall(MCL_CURRENT | MCL_FUTURE) locks every VMA and each new mapping (populated); munlockall undoes both", () => {
    const { m, p } = mapped(2);
    expect(p.sys.mlockall(MCL_CURRENT | MCL_FUTURE)).toBe(0);
    expect(vmFlags(p, BASE)).toContain(" lo ");
    // The two pages and the 132 kB stack, every page populated and locked.
    expect([meminfo(m, "Mlocked"), status(p, "VmLck")]).toEqual([140, 140]);
    const at = p.sys.mmap(0, 3 * PAGE, RW, PA, -1, 0);
    expect(vmFlags(p, at)).toContain(" lo ");
    expect(smapsAll(p, "Rss")[mapsLines(p.proc.maps()).findIndex((l) => l.startsWith(at.toString(16)))]).toBe(12);
    expect(p.sys.munlockall()).toBe(0);
    expect([status(p, "VmLck"), meminfo(m, "Mlocked"), meminfo(m, "Unevictable")]).toEqual([0, 0, 0]);
    const later = p.sys.mmap(0, PAGE, RW, PA, -1, 0);
    expect(vmFlags(p, later)).not.toContain("lo");
  });

  it("mlockall(MCL_FUTURE | MCL_ONFAULT): a new mapping is locked but not populated", () => {
    const { m, p } = mapped(1);
    expect(p.sys.mlockall(MCL_FUTURE | MCL_ONFAULT)).toBe(0);
    expect(status(p, "VmLck")).toBe(0);
    const at = p.sys.mmap(0, 2 * PAGE, RW, PA, -1, 0);
    expect(vmFlags(p, at)).toBe("rd wr mr mw me lo ac");
    expect([status(p, "VmLck"), meminfo(m, "Mlocked")]).toEqual([8, 0]);
    p.mem.write32(at, 1);
    expect(meminfo(m, "Mlocked")).toBe(4);
  });

  it("munmap of the last locked mapping makes a page a fork child still maps evictable again", () => {
    const { m, p } = mapped(2);
    expect(p.sys.mlock(BASE, 2 * PAGE)).toBe(0);
    const child = p.fork();
    if (child === null) throw new Error("fork failed");
    expect(meminfo(m, "Mlocked")).toBe(8);
    expect(p.sys.munmap(BASE, 2 * PAGE)).toBe(0);
    expect([meminfo(m, "Mlocked"), meminfo(m, "Unevictable")]).toEqual([0, 0]);
    expect(child.mem.read32(BASE)).toBe(0);
    m.check();
  });

  it("mlock of a page shared with a fork child copies it (a write fault); the child's page stays evictable", () => {
    const { m, p } = mapped(1);
    p.mem.write32(BASE, 41);
    const child = p.fork();
    if (child === null) throw new Error("fork failed");
    expect(p.sys.mlock(BASE, PAGE)).toBe(0);
    expect([meminfo(m, "Mlocked"), meminfo(m, "Unevictable")]).toEqual([4, 4]);
    expect(child.mem.read32(BASE)).toBe(41);
    m.check();
  });

  it("under memory pressure locked pages are never swapped; after munlock they are", () => {
    const { m, p } = mapped(64, { ramBytes: 4 << 20, swapBytes: 16 << 20, debugVm: 0 });
    for (let i = 0; i < 64; i++) p.mem.write32(BASE + i * PAGE, 500 + i);
    expect(p.sys.mlock(BASE, 64 * PAGE)).toBe(0);
    const big = p.sys.mmap(0, 1200 * PAGE, RW, PA, -1, 0);
    for (let i = 0; i < 1200; i++) p.mem.write32(big + i * PAGE, i);
    expect(smapsAll(p, "Swap")[0]).toBe(0);
    expect(smapsAll(p, "Rss")[0]).toBe(256);
    expect(p.sys.munlock(BASE, 64 * PAGE)).toBe(0);
    for (let round = 0; round < 2; round++) for (let i = 0; i < 1200; i++) p.mem.write32(big + i * PAGE, i + round);
    expect(smapsAll(p, "Swap")[0]).toBe(256);
    for (let i = 0; i < 64; i++) expect(p.mem.read32(BASE + i * PAGE)).toBe(500 + i);
    m.check();
  });
});

describe("mlock of a page the swap cache holds (LINUX.md: mlock)", () => {
  // Linux: a page is mlocked when at least one VM_LOCKED VMA maps it, however the mapping came
  // (mlock_vma_folio when a mapping is added). A swap-in that finds the page in the swap cache
  // maps a page already on the LRU lists; it must still leave them for the unevictable list.
  it("mlock of pages whose swap slots a fork shared, read back from the swap cache, makes them unevictable", () => {
    const { m, p } = mapped(4, { swapBytes: 1 << 20 });
    for (let i = 0; i < 4; i++) p.mem.write32(BASE + i * PAGE, 70 + i);
    expect(p.sys.madvise(BASE, 4 * PAGE, MADV_PAGEOUT)).toBe(0);
    const child = p.fork();
    if (child === null) throw new Error("fork failed");
    // The parent's writes swap each page in (a major fault) and copy it: the slot is the child's
    // too. The swap cache keeps the read-in page, on the LRU lists, for the child's entry.
    for (let i = 0; i < 4; i++) p.mem.write32(BASE + i * PAGE, 80 + i);
    expect([meminfo(m, "SwapCached"), meminfo(m, "Unevictable")]).toEqual([16, 0]);
    // The child's populate maps those 4 cached pages (a minor fault each, the slot then only the
    // child's, so the page is reused): 4 pages * 4 kB = 16 kB locked, none of them the parent's.
    expect(child.sys.mlock(BASE, 4 * PAGE)).toBe(0);
    expect([meminfo(m, "Mlocked"), meminfo(m, "Unevictable"), meminfo(m, "SwapCached")]).toEqual([16, 16, 0]);
    for (let i = 0; i < 4; i++) expect([child.mem.read32(BASE + i * PAGE), p.mem.read32(BASE + i * PAGE)]).toEqual([70 + i, 80 + i]);
    expect(child.sys.munlock(BASE, 4 * PAGE)).toBe(0);
    expect([meminfo(m, "Mlocked"), meminfo(m, "Unevictable")]).toEqual([0, 0]);
    m.check();
  });

  it("the reclaim property's counterexample: fill, fork, fill, fork, fill, then mlock of 16 pages the second child shares", () => {
    // Same machine and window as test/property/models/reclaim.ts: 4 MiB of RAM, a 1200-page window
    // (more than RAM), so filling it swaps. r0 writes 10 pages, forks c1, writes all 1200 (its own
    // copies; many go to swap), forks c2 (who shares r0's swap entries), writes pages 0..9 again:
    // r0 swaps each in and copies it, leaving the read-in page in the swap cache for c2's entry.
    const W = 1200;
    const { m, p } = boot({ ramBytes: 4 << 20, swapBytes: 32 << 20, debugVm: 1 });
    p.setrlimit("memlock", 96 * PAGE);
    expect(p.sys.mmap(BASE, W * PAGE, RW, PA | MAP_FIXED | MAP_NORESERVE, -1, 0)).toBe(BASE);
    const fill = (n: number, tag: number) => {
      for (let i = 0; i < n; i++) p.mem.write32(BASE + i * PAGE, tag + i);
    };
    fill(10, 1);
    const c1 = p.fork();
    fill(W, 2);
    const c2 = p.fork();
    fill(10, 3);
    if (c1 === null || c2 === null) throw new Error("fork failed");
    // c2 locks pages 0..15: 10 come from the swap cache, 6 are read from their slots;
    // every one is mlocked: 16 pages * 4 kB = 64 kB (the model's count; 24 kB before the fix).
    expect(c2.sys.mlock(BASE, 16 * PAGE)).toBe(0);
    expect([status(c2, "VmLck"), meminfo(m, "Mlocked"), meminfo(m, "Unevictable")]).toEqual([64, 64, 64]);
    for (let i = 0; i < 16; i++) expect(c2.mem.read32(BASE + i * PAGE)).toBe(2 + i);
    for (let i = 0; i < 10; i++) expect([p.mem.read32(BASE + i * PAGE), c1.mem.read32(BASE + i * PAGE)]).toEqual([3 + i, 1 + i]);
    m.check();
  });
});
