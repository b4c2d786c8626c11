/**
 * Linux conformance, round 2 (kernel/LINUX.md, "Round 2"): cases checked
 * against a Linux 6.x kernel, one test each, exact values.
 */
import { describe, expect, it } from "vitest";
import { MADV_FREE, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PROT_NONE, PROT_READ, PROT_WRITE } from "../../sim/index.ts";
import { boot, PAGE } from "./helpers.ts";

const RW = PROT_READ | PROT_WRITE;
const PA = MAP_PRIVATE | MAP_ANONYMOUS;
const BASE = 0x100000000;

/** The block of /proc/PID/smaps for the VMA starting at `start`. */
function smapsOf(p: ReturnType<typeof boot>["p"], start: number): string {
  return (
    p.proc
      .smaps()
      .split(/(?=^[0-9a-f]+-)/m)
      .find((b) => b.startsWith(start.toString(16))) ?? ""
  );
}
const kbField = (block: string, key: string) => Number(new RegExp(`\\n${key}: +(\\d+) kB`).exec(block)?.[1]);

describe("COW isolation after mprotect (LINUX.md: Round 2, 1)", () => {
  it("a page read-only at fork, made writable in the parent, is copied on the parent's first write", () => {
    const { m, p } = boot();
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.write8(BASE, 1);
    expect(p.sys.mprotect(BASE, PAGE, PROT_READ)).toBe(0);
    const c = p.fork();
    if (!c) throw new Error("fork failed");
    expect(p.sys.mprotect(BASE, PAGE, RW)).toBe(0);
    p.mem.write8(BASE, 2);
    expect(c.mem.read8(BASE)).toBe(1);
    expect(p.mem.read8(BASE)).toBe(2);
    m.check();
  });
  it("a page PROT_NONE at fork, made writable in the child, is copied on the child's first write", () => {
    const { m, p } = boot();
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.write8(BASE, 7);
    expect(p.sys.mprotect(BASE, PAGE, PROT_NONE)).toBe(0);
    const c = p.fork();
    if (!c) throw new Error("fork failed");
    expect(c.sys.mprotect(BASE, PAGE, RW)).toBe(0);
    c.mem.write8(BASE, 8);
    expect(p.sys.mprotect(BASE, PAGE, PROT_READ)).toBe(0);
    expect(p.mem.read8(BASE)).toBe(7);
    expect(c.mem.read8(BASE)).toBe(8);
    m.check();
  });
});

const statusKb = (p: ReturnType<typeof boot>["p"], key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(p.proc.status())?.[1]);

describe("fork and shared anonymous memory (LINUX.md: Round 2, 2)", () => {
  it("fork copies no entries of a shared anonymous mapping: the child's Rss for it and RssShmem are 0 until it touches it", () => {
    const { m, p } = boot();
    p.sys.mmap(BASE, 4 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    p.mem.fill(BASE, 3, 4 * PAGE);
    const c = p.fork();
    if (!c) throw new Error("fork failed");
    expect(kbField(smapsOf(c, BASE), "Rss")).toBe(0);
    expect(statusKb(c, "RssShmem")).toBe(0);
    expect(c.mem.read8(BASE + PAGE)).toBe(3);
    expect(kbField(smapsOf(c, BASE), "Rss")).toBe(4);
    expect(statusKb(c, "RssShmem")).toBe(4);
    m.check();
  });
});

describe("clean shared pages (LINUX.md: Round 2, 3)", () => {
  it("a shared anonymous page only read is clean: Private_Clean, Pss_Dirty 0; written, it is Private_Dirty", () => {
    const { p } = boot();
    p.sys.mmap(BASE, 2 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    p.mem.read8(BASE);
    let b = smapsOf(p, BASE);
    expect([kbField(b, "Rss"), kbField(b, "Private_Clean"), kbField(b, "Private_Dirty"), kbField(b, "Pss_Dirty")]).toEqual([4, 4, 0, 0]);
    p.mem.write8(BASE + PAGE, 1);
    b = smapsOf(p, BASE);
    expect([kbField(b, "Rss"), kbField(b, "Private_Clean"), kbField(b, "Private_Dirty"), kbField(b, "Pss_Dirty")]).toEqual([8, 4, 4, 4]);
  });
});

describe("COW pages in smaps after fork (LINUX.md: Round 2, 4)", () => {
  it("a page shared by fork is counted shared in both; MADV_FREE marks it LazyFree where this mapping is clean", () => {
    const { m, p } = boot();
    p.sys.mmap(BASE, 2 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.fill(BASE, 9, 2 * PAGE);
    const c = p.fork();
    if (!c) throw new Error("fork failed");
    for (const q of [p, c]) {
      const b = smapsOf(q, BASE);
      expect([kbField(b, "Rss"), kbField(b, "Pss"), kbField(b, "Shared_Dirty"), kbField(b, "Private_Dirty")]).toEqual([8, 4, 8, 0]);
    }
    expect(c.sys.madvise(BASE, 2 * PAGE, MADV_FREE)).toBe(0);
    let b = smapsOf(c, BASE);
    expect([kbField(b, "Shared_Clean"), kbField(b, "Shared_Dirty"), kbField(b, "LazyFree")]).toEqual([8, 0, 8]);
    expect(kbField(smapsOf(p, BASE), "LazyFree")).toBe(0);
    // The parent's entries are dirty: reclaim keeps the pages for both.
    expect(m.kernel.reclaimLazyFree()).toBe(0);
    expect(c.mem.read8(BASE)).toBe(9);
    p.exit(0);
    // Alone and clean, the child's pages can be marked again and dropped.
    expect(c.sys.madvise(BASE, 2 * PAGE, MADV_FREE)).toBe(0);
    b = smapsOf(c, BASE);
    expect([kbField(b, "Private_Clean"), kbField(b, "LazyFree")]).toEqual([8, 8]);
    expect(m.kernel.reclaimLazyFree()).toBe(2);
    expect(c.mem.read8(BASE)).toBe(0);
    m.check();
  });
  it("a COW page clean in every mapping after MADV_FREE in both is dropped from both on reclaim", () => {
    const { m, p } = boot();
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.write8(BASE, 5);
    const c = p.fork();
    if (!c) throw new Error("fork failed");
    expect(p.sys.madvise(BASE, PAGE, MADV_FREE)).toBe(0);
    expect(c.sys.madvise(BASE, PAGE, MADV_FREE)).toBe(0);
    expect(kbField(smapsOf(p, BASE), "Shared_Clean")).toBe(4);
    expect(m.kernel.reclaimLazyFree()).toBe(1);
    expect(p.mem.read8(BASE)).toBe(0);
    expect(c.mem.read8(BASE)).toBe(0);
    m.check();
  });
});

describe("accessed bits after fork (LINUX.md: Round 2, 5)", () => {
  it("a forked child's entries start old: Referenced 0 until it touches them", () => {
    const { p } = boot();
    p.sys.mmap(BASE, 3 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.fill(BASE, 1, 3 * PAGE);
    const c = p.fork();
    if (!c) throw new Error("fork failed");
    expect(kbField(smapsOf(p, BASE), "Referenced")).toBe(12);
    expect(kbField(smapsOf(c, BASE), "Referenced")).toBe(0);
    c.mem.read8(BASE);
    expect(kbField(smapsOf(c, BASE), "Referenced")).toBe(4);
  });
});
