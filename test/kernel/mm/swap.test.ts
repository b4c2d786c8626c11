import { describe, expect, it } from "vitest";
import {
  InvariantViolation,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  Machine,
  makeHi,
  makeLo,
  PROT_READ,
  PROT_WRITE,
  ProcessKilled,
  PTE_P,
  swpEntryFlags,
  swpEntryPfn,
  swpOffset,
  swpType,
} from "../../../sim/index.ts";

const PAGE = 4096;
const BASE = 0x100000000;

function swapped(pages: number, swapBytes = 1 << 20) {
  const m = Machine.boot({ ramBytes: 16 << 20, swapBytes, debugVm: 3 });
  const p = m.spawn("t");
  p.sys.mmap(BASE, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
  for (let i = 0; i < pages; i++) p.mem.write32(BASE + i * PAGE, 1000 + i);
  p.sys.madvise(BASE, pages * PAGE, MADV_PAGEOUT);
  return { m, p, swap: m.kernel.taskParts.swap };
}

describe("swap entries in a PTE (x86-64 layout)", () => {
  it("type and offset round-trip through the PFN field and flags word; P is clear and the entry is never zero", () => {
    for (const offset of [0, 1, 7, 8, 4095, 2 ** 32 + 5, 2 ** 43 + 3, 2 ** 50 - 2]) {
      for (const type of [0, 1, 31]) {
        const pfn = swpEntryPfn(type, offset);
        const flags = swpEntryFlags(type, offset);
        expect([swpOffset(pfn, flags), swpType(flags), flags & PTE_P]).toEqual([offset, type, 0]);
        expect(makeLo(pfn, flags) | makeHi(pfn, flags)).not.toBe(0);
      }
    }
  });

  it("offset 0 of type 0 is the inverted offset: all ones in entry bits 9..58", () => {
    const lo = makeLo(swpEntryPfn(0, 0), swpEntryFlags(0, 0));
    const hi = makeHi(swpEntryPfn(0, 0), swpEntryFlags(0, 0));
    expect([lo.toString(16), hi.toString(16)]).toEqual(["fffffe00", "7ffffff"]);
  });

  it("explain and vmprint name the slot of a swapped page", () => {
    const { p } = swapped(2);
    expect(p.mm.pt.explain(BASE + PAGE)).toContain("(swap entry: type 0 offset 1)");
    expect(p.mm.pt.vmprint()).toContain("swap type 0 offset 0");
  });
});

describe("the swap device", () => {
  it("hands out the lowest free slot and reuses a freed one first", () => {
    const { p, swap } = swapped(4);
    expect(swap?.dev.inuse).toBe(4);
    expect(p.sys.munmap(BASE + PAGE, PAGE)).toBe(0);
    p.sys.mmap(BASE + 8 * PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    p.mem.write32(BASE + 8 * PAGE, 5);
    p.sys.madvise(BASE + 8 * PAGE, PAGE, MADV_PAGEOUT);
    expect(p.mm.pt.explain(BASE + 8 * PAGE)).toContain("offset 1)");
  });

  it("makes its storage a 1 MiB chunk at a time, on the first write", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, swapBytes: 1 << 30 });
    expect(m.kernel.taskParts.swap?.dev.storageBytes()).toBe(0);
    const { swap } = swapped(3, 1 << 30);
    expect(swap?.dev.storageBytes()).toBe(1 << 20);
  });

  it("a machine without swap has no device and no swap checker", () => {
    const m = Machine.boot({ ramBytes: 16 << 20 });
    expect(m.kernel.taskParts.swap).toBeNull();
    expect(() => m.check("swap")).toThrow(RangeError);
  });

  it("the swap checker recounts slot references from the page tables: a stray reference is SWAP-1", () => {
    const { m, swap } = swapped(2);
    m.check("swap");
    swap?.dev.dup(0);
    try {
      m.check("swap");
      expect.unreachable("the checker passed");
    } catch (e) {
      expect(e).toBeInstanceOf(InvariantViolation);
      expect((e as InvariantViolation).id).toBe("SWAP-1");
    }
  });
});

describe("swap under failures", () => {
  it("a fork that fails part way gives back every slot reference it took", () => {
    const forks: string[] = [];
    for (let nth = 1; nth <= 8; nth++) {
      const { m, p, swap } = swapped(3);
      // A second VMA far away, so the child needs more page tables.
      p.sys.mmap(BASE + (1 << 30), PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
      p.mem.write32(BASE + (1 << 30), 7);
      p.sys.madvise(BASE + (1 << 30), PAGE, MADV_PAGEOUT);
      m.faults.failPageAlloc({ nth });
      const c = p.fork();
      forks.push(c === null ? "failed" : "ok");
      m.faults.clear();
      m.check();
      if (c !== null) c.exit(0);
      expect([swap?.dev.inuse, swap?.dev.count(0), swap?.dev.count(3)], `nth ${nth}`).toEqual([4, 1, 1]);
      expect(p.mem.read32(BASE + (1 << 30))).toBe(7);
    }
    // The fork allocates 6 frames (the child's root, then the tables of each VMA with pages); the
    // 5th and 6th fail after the first VMA's swap entries were copied; from the 7th on nothing fails.
    expect(forks).toEqual(["failed", "failed", "failed", "failed", "failed", "failed", "ok", "ok"]);
  });

  it("no frame for a swap-in: the process dies (SIGKILL, the OOM report) and its exit frees the slots", () => {
    const { m, p, swap } = swapped(2);
    m.faults.failPageAlloc({ nth: 1 });
    expect(() => p.mem.read32(BASE)).toThrow(ProcessKilled);
    expect(swap?.dev.inuse).toBe(0);
    m.check();
  });
});
