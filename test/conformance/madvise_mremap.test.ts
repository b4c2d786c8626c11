import { describe, expect, it } from "vitest";
import {
  EFAULT,
  EINVAL,
  ENOMEM,
  MADV_DOFORK,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MADV_WIPEONFORK,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_READ,
  PROT_WRITE,
  SEGV_MAPERR,
} from "../../sim/index.ts";
import { boot, mapsLines, meminfo, PAGE, segv } from "./helpers.ts";

const RW = PROT_READ | PROT_WRITE;
const PA = MAP_PRIVATE | MAP_ANONYMOUS;
const BASE = 0x100000000;

function smapsOf(p: ReturnType<typeof boot>["p"], start: number): string {
  return (
    p.proc
      .smaps()
      .split(/(?=^[0-9a-f]+-)/m)
      .find((b) => b.startsWith(start.toString(16))) ?? ""
  );
}
const kbField = (block: string, key: string) => Number(new RegExp(`\\n${key}: +(\\d+) kB`).exec(block)?.[1]);

describe("madvise (LINUX.md: madvise)", () => {
  it("unknown advice is EINVAL, checked before anything else", () => {
    const { p } = boot();
    expect(p.sys.madvise(BASE + 1, PAGE, 9999)).toBe(-EINVAL);
    expect(p.sys.madvise(BASE + 1, PAGE, MADV_NORMAL)).toBe(-EINVAL);
  });
  it("len 0 is 0; a wholly unmapped range is ENOMEM", () => {
    const { p } = boot();
    expect(p.sys.madvise(BASE, 0, MADV_DONTNEED)).toBe(0);
    expect(p.sys.madvise(BASE, PAGE, MADV_DONTNEED)).toBe(-ENOMEM);
  });
  it("a partly unmapped range: the advice is applied to the mapped parts and ENOMEM returned", () => {
    const { p } = boot();
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.sys.mmap(BASE + 2 * PAGE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.write8(BASE, 1);
    p.mem.write8(BASE + 2 * PAGE, 2);
    expect(p.sys.madvise(BASE, 3 * PAGE, MADV_DONTNEED)).toBe(-ENOMEM);
    expect(p.mem.read8(BASE)).toBe(0);
    expect(p.mem.read8(BASE + 2 * PAGE)).toBe(0);
  });
  it("MADV_DONTNEED: Rss drops now, the next read is zero; the VMA and Committed_AS stay", () => {
    const { m, p } = boot();
    p.sys.mmap(BASE, 4 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.fill(BASE, 0x5a, 4 * PAGE);
    const c0 = meminfo(m, "Committed_AS");
    expect(kbField(smapsOf(p, BASE), "Rss")).toBe(16);
    expect(p.sys.madvise(BASE, 4 * PAGE, MADV_DONTNEED)).toBe(0);
    expect(kbField(smapsOf(p, BASE), "Rss")).toBe(0);
    expect(p.mem.read8(BASE + 100)).toBe(0);
    expect(meminfo(m, "Committed_AS")).toBe(c0);
    expect(mapsLines(p.proc.maps())).toContain("100000000-100004000 rw-p 00000000 00:00 0");
  });
  it("MADV_FREE: LazyFree in smaps; a page written after the call keeps its data; reclaim gives zeros elsewhere", () => {
    const { m, p } = boot();
    p.sys.mmap(BASE, 4 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.fill(BASE, 0x77, 4 * PAGE);
    expect(p.sys.madvise(BASE, 4 * PAGE, MADV_FREE)).toBe(0);
    expect(kbField(smapsOf(p, BASE), "LazyFree")).toBe(16);
    expect(p.mem.read8(BASE)).toBe(0x77);
    p.mem.write8(BASE + PAGE, 0x11);
    expect(kbField(smapsOf(p, BASE), "LazyFree")).toBe(12);
    expect(m.kernel.reclaimLazyFree()).toBe(3);
    expect(p.mem.read8(BASE + PAGE)).toBe(0x11);
    expect(p.mem.read8(BASE + 2 * PAGE)).toBe(0);
    expect(kbField(smapsOf(p, BASE), "LazyFree")).toBe(0);
  });
  it("MADV_FREE on shared memory is EINVAL", () => {
    const { p } = boot();
    p.sys.mmap(BASE, PAGE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    expect(p.sys.madvise(BASE, PAGE, MADV_FREE)).toBe(-EINVAL);
  });
  it("NORMAL, RANDOM, SEQUENTIAL, WILLNEED, DONTFORK, DOFORK succeed on a valid range", () => {
    const { p } = boot();
    p.sys.mmap(BASE, 2 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    for (const a of [MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTFORK, MADV_DOFORK]) {
      expect(p.sys.madvise(BASE, 2 * PAGE, a)).toBe(0);
    }
    // SEQUENTIAL set sr; WILLNEED, DONTFORK and DOFORK leave it.
    expect(smapsOf(p, BASE)).toMatch(/VmFlags: rd wr mr mw me sr ac \n/);
  });
  it("MADV_RANDOM on half a VMA splits it and shows rr", () => {
    const { p } = boot();
    p.sys.mmap(BASE, 2 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.sys.madvise(BASE + PAGE, PAGE, MADV_RANDOM);
    expect(smapsOf(p, BASE + PAGE)).toMatch(/VmFlags: rd wr mr mw me rr ac \n/);
  });
});

describe("mremap (LINUX.md: mremap)", () => {
  it("unaligned old address, new size 0, unknown flags, FIXED or DONTUNMAP without MAYMOVE: EINVAL", () => {
    const { p } = boot();
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    expect(p.sys.mremap(BASE + 1, PAGE, PAGE, 0)).toBe(-EINVAL);
    expect(p.sys.mremap(BASE, PAGE, 0, 0)).toBe(-EINVAL);
    expect(p.sys.mremap(BASE, PAGE, PAGE, 0x80)).toBe(-EINVAL);
    expect(p.sys.mremap(BASE, PAGE, PAGE, MREMAP_FIXED, BASE + 0x10000)).toBe(-EINVAL);
    expect(p.sys.mremap(BASE, PAGE, PAGE, MREMAP_DONTUNMAP)).toBe(-EINVAL);
  });
  it("old range not mapped, or crossing VMAs: EFAULT", () => {
    const { p } = boot();
    expect(p.sys.mremap(BASE, PAGE, 2 * PAGE, MREMAP_MAYMOVE)).toBe(-EFAULT);
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.sys.mmap(BASE + PAGE, PAGE, PROT_READ, PA | MAP_FIXED, -1, 0);
    expect(p.sys.mremap(BASE, 2 * PAGE, 3 * PAGE, MREMAP_MAYMOVE)).toBe(-EFAULT);
  });
  it("shrinking keeps the address and unmaps the tail", () => {
    const { p } = boot();
    p.sys.mmap(BASE, 4 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    expect(p.sys.mremap(BASE, 4 * PAGE, PAGE, 0)).toBe(BASE);
    expect(segv(() => p.mem.read8(BASE + PAGE)).code).toBe(SEGV_MAPERR);
  });
  it("growing in place when the space after is free, charging the difference", () => {
    const { m, p } = boot();
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.write8(BASE, 9);
    const c0 = meminfo(m, "Committed_AS");
    expect(p.sys.mremap(BASE, PAGE, 3 * PAGE, 0)).toBe(BASE);
    expect(meminfo(m, "Committed_AS")).toBe(c0 + 8);
    expect(p.mem.read8(BASE)).toBe(9);
    expect(p.mem.read8(BASE + 2 * PAGE)).toBe(0);
  });
  it("no room after: ENOMEM without MAYMOVE; with it, a move: data kept, old range unmapped, extension zero", () => {
    const { m, p } = boot();
    p.sys.mmap(BASE, 2 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.sys.mmap(BASE + 2 * PAGE, PAGE, PROT_READ, PA | MAP_FIXED, -1, 0);
    p.mem.fill(BASE, 0x3c, 2 * PAGE);
    expect(p.sys.mremap(BASE, 2 * PAGE, 4 * PAGE, 0)).toBe(-ENOMEM);
    const c0 = meminfo(m, "Committed_AS");
    const free0 = meminfo(m, "MemFree");
    const to = p.sys.mremap(BASE, 2 * PAGE, 4 * PAGE, MREMAP_MAYMOVE);
    expect(to).not.toBe(BASE);
    expect(p.mem.read8(to + 2 * PAGE - 1)).toBe(0x3c);
    expect(p.mem.read8(to + 3 * PAGE)).toBe(0);
    expect(meminfo(m, "Committed_AS")).toBe(c0 + 8);
    expect(free0 - meminfo(m, "MemFree")).toBeLessThan(16);
    expect(segv(() => p.mem.read8(BASE)).code).toBe(SEGV_MAPERR);
  });
  it("MREMAP_FIXED moves to the given address; MREMAP_DONTUNMAP leaves the old VMA empty", () => {
    const { p } = boot();
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.write8(BASE, 4);
    expect(p.sys.mremap(BASE, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, BASE + 0x100000)).toBe(BASE + 0x100000);
    expect(p.mem.read8(BASE + 0x100000)).toBe(4);
    const q = boot().p;
    q.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    q.mem.write8(BASE, 5);
    const to = q.sys.mremap(BASE, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
    expect(q.mem.read8(to)).toBe(5);
    expect(q.mem.read8(BASE)).toBe(0);
  });
});

describe("fork, copy-on-write and WIPEONFORK", () => {
  it("the child sees the parent's data; a write by either copies only that page", () => {
    const { m, p } = boot();
    p.sys.mmap(BASE, 2 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.fill(BASE, 0x42, 2 * PAGE);
    const c = p.fork()!;
    expect(kbField(smapsOf(p, BASE), "Rss")).toBe(8);
    expect(kbField(smapsOf(p, BASE), "Pss")).toBe(4);
    expect(kbField(smapsOf(p, BASE), "Shared_Dirty")).toBe(8);
    expect(c.mem.read8(BASE + PAGE)).toBe(0x42);
    c.mem.write8(BASE, 1);
    expect(p.mem.read8(BASE)).toBe(0x42);
    p.mem.write8(BASE + PAGE, 2);
    expect(c.mem.read8(BASE + PAGE)).toBe(0x42);
    expect(kbField(smapsOf(p, BASE), "Pss")).toBe(8);
    expect(kbField(smapsOf(p, BASE), "Private_Dirty")).toBe(8);
    c.exit(0);
    m.check();
  });
  it("MAP_SHARED anonymous memory stays shared after fork", () => {
    const { p } = boot();
    p.sys.mmap(BASE, PAGE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    const c = p.fork()!;
    c.mem.write32(BASE, 0xfeed);
    expect(p.mem.read32(BASE)).toBe(0xfeed);
  });
  it("MADV_WIPEONFORK: the child sees zeros; MADV_DONTFORK: the child has no mapping", () => {
    const { p } = boot();
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.sys.mmap(BASE + 0x10000, PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.write8(BASE, 7);
    p.mem.write8(BASE + 0x10000, 7);
    expect(p.sys.madvise(BASE, PAGE, MADV_WIPEONFORK)).toBe(0);
    expect(p.sys.madvise(BASE + 0x10000, PAGE, MADV_DONTFORK)).toBe(0);
    const c = p.fork()!;
    expect(c.mem.read8(BASE)).toBe(0);
    expect(segv(() => c.mem.read8(BASE + 0x10000)).code).toBe(SEGV_MAPERR);
    expect(p.mem.read8(BASE)).toBe(7);
  });
  it("after a fork tree exits, MemFree, Slab, PageTables and Committed_AS return to their values", () => {
    const { m, p } = boot();
    const tree = () => {
      const q = m.spawn("q");
      q.sys.mmap(BASE, 16 * PAGE, RW, PA | MAP_FIXED, -1, 0);
      q.mem.fill(BASE, 1, 16 * PAGE);
      const c1 = q.fork()!;
      const c2 = c1.fork()!;
      c2.mem.fill(BASE, 2, 8 * PAGE);
      c1.exit(0);
      q.exit(0);
      c2.exit(0);
      m.kernel.drainPcp();
    };
    tree(); // warm the slab caches, so their kept empty slabs are part of "before"
    const keys = ["MemFree", "Slab", "PageTables", "Committed_AS"];
    const before = keys.map((k) => meminfo(m, k));
    tree();
    expect(keys.map((k) => meminfo(m, k))).toEqual(before);
    expect(p.state).toBe("running");
    m.check();
  });
});

describe("mremap moves whole page tables when 2 MiB aligned", () => {
  it("a populated 8 MiB mapping moves with its data; page tables are moved, not copied", () => {
    const { m, p } = boot({ debugVm: 2 });
    const size = 8 << 20;
    const from = 0x200000000;
    p.sys.mmap(from, size, RW, PA | MAP_FIXED, -1, 0);
    for (let off = 0; off < size; off += PAGE) p.mem.write32(from + off, off);
    const pt0 = meminfo(m, "PageTables");
    const to = p.sys.mremap(from, size, size + 4 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, 0x300000000);
    expect(to).toBe(0x300000000);
    for (let off = 0; off < size; off += 64 * PAGE) expect(p.mem.read32(to + off)).toBe(off);
    expect(p.mem.read32(to + size)).toBe(0);
    // The four level-1 tables moved; only the new upper levels (and one for the tail) were added.
    expect(meminfo(m, "PageTables") - pt0).toBeLessThanOrEqual(4 * 4);
    m.check();
    expect(segv(() => p.mem.read8(from)).code).toBe(SEGV_MAPERR);
  });
});

describe("mremap with wild lengths", () => {
  it("shrinking with an old length that runs past user space is EINVAL, not a crash", () => {
    const { p } = boot();
    const a = p.sys.mmap(0, 135168, RW, PA, -1, 0);
    expect(p.sys.mremap(a, 2 ** 32 + 135168, PAGE, MREMAP_MAYMOVE)).toBe(-EINVAL);
    expect(p.sys.mremap(a, 2 ** 47, PAGE, 0)).toBe(-EINVAL);
    p.mem.write8(a, 1);
  });
});
