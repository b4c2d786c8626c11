import { describe, expect, it } from "vitest";
import { __GFP_NOFAIL, GFP_KERNEL, Machine } from "../../../sim/index.ts";

describe("fail_page_alloc", () => {
  it("{ nth: 3 } fails exactly the third allocation from now, silently, then turns off", () => {
    const m = Machine.boot({ ramBytes: 16 << 20 });
    m.faults.failPageAlloc({ nth: 3 });
    const got = [0, 1, 2, 3, 4].map(() => m.kernel.allocPages(0));
    expect(got.map((p) => p === null)).toEqual([false, false, true, false, false]);
    expect(m.faults.injected.pageAlloc).toBe(1);
    expect(m.kernel.reports).toEqual([]);
    m.check();
  });

  it("{ nth: 2, times: 3 } fails the 2nd, 3rd and 4th", () => {
    const m = Machine.boot({ ramBytes: 16 << 20 });
    m.faults.failPageAlloc({ nth: 2, times: 3 });
    const got = [0, 1, 2, 3, 4, 5].map(() => m.kernel.allocPages(1) === null);
    expect(got).toEqual([false, true, true, true, false, false]);
  });

  it("minOrder spares smaller allocations, and __GFP_NOFAIL is never failed", () => {
    const m = Machine.boot({ ramBytes: 16 << 20 });
    m.faults.failPageAlloc({ nth: 1, minOrder: 2 });
    expect(m.kernel.allocPages(0)).not.toBeNull();
    expect(m.kernel.allocPages(2, GFP_KERNEL | __GFP_NOFAIL)).not.toBeNull();
    expect(m.kernel.allocPages(2)).toBeNull();
  });

  it("{ probability } is driven by the seed: the same seed fails the same calls", () => {
    const pattern = (seed: number) => {
      const m = Machine.boot({ ramBytes: 16 << 20, seed });
      m.faults.failPageAlloc({ probability: 0.3 });
      return Array.from({ length: 40 }, () => (m.kernel.allocPages(0) === null ? 1 : 0)).join("");
    };
    expect(pattern(5)).toBe(pattern(5));
    expect(pattern(5)).not.toBe(pattern(6));
    expect(pattern(5)).toMatch(/1/);
  });

  it("rejects bad specs with a message naming the field", () => {
    const m = Machine.boot({ ramBytes: 16 << 20 });
    expect(() => m.faults.failPageAlloc({ nth: 0 })).toThrow("fail_page_alloc: nth must be an integer >= 1, got 0");
    expect(() => m.faults.failPageAlloc({ probability: 2 })).toThrow("fail_page_alloc: probability must be in [0, 1], got 2");
    expect(() => m.faults.failSlab({ nth: Number.NaN })).toThrow("failslab: nth must be an integer >= 1, got NaN");
  });
});

describe("meminfo and vmstat", () => {
  it("MemFree drops by the pages taken and comes back after drain", () => {
    const m = Machine.boot({ ramBytes: 32 << 20 });
    const free0 = m.proc.meminfo().match(/MemFree:\s+(\d+) kB/)![1];
    const pfn = m.kernel.allocPages(4)!;
    const free1 = m.proc.meminfo().match(/MemFree:\s+(\d+) kB/)![1];
    expect(Number(free0) - Number(free1)).toBe(64);
    m.kernel.freePages(pfn, 4);
    expect(m.proc.meminfo().match(/MemFree:\s+(\d+) kB/)![1]).toBe(free0);
    expect(m.proc.vmstat()).toMatch(/^nr_free_pages \d+\npgalloc_dma 0\npgalloc_normal 16\npgfree 16\n/);
  });

  it("every meminfo line is 'key:' padded to 16, value right-aligned in 8, ' kB'", () => {
    const m = Machine.boot({ ramBytes: 32 << 20 });
    for (const line of m.proc.meminfo().trimEnd().split("\n")) {
      expect(line).toMatch(/^(\S+:\s*\d{1,}( kB)?|HardwareCorrupted:\s+\d+ kB)$/);
      if (!line.startsWith("HardwareCorrupted") && !line.startsWith("HugePages_")) {
        expect(line.length).toBeGreaterThanOrEqual(27);
        expect(line.slice(0, 16)).toMatch(/^\S+:\s*$/);
      }
    }
    expect(m.proc.meminfo()).toMatch(/^MemTotal: {10}\d+ kB\nMemFree: {11}\d+ kB\nMemAvailable: {6}\d+ kB\nBuffers: {15}0 kB\n/);
  });
});

describe("refcounts", () => {
  it("get_page keeps a block alive until the last free", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, pcpBatch: -1 });
    const pfn = m.kernel.allocPages(0)!;
    m.kernel.pages.getPage(pfn);
    m.kernel.freePages(pfn, 0);
    expect(m.kernel.memmap.refcount(pfn)).toBe(1);
    m.check();
    m.kernel.freePages(pfn, 0);
    expect(m.kernel.memmap.flags(pfn) & 2).toBe(2); // back on a buddy list
    m.check();
  });
});
