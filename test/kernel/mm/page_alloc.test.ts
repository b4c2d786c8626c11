import { describe, expect, it } from "vitest";
import { __GFP_COMP } from "../../../kernel/mm/gfp.ts";
import { PG_tail, SP_INDEX } from "../../../kernel/mm/memmap.ts";
import { __GFP_NOWARN, __GFP_ZERO, GFP_ATOMIC, GFP_DMA, GFP_KERNEL, KernelPanic, Machine } from "../../../sim/index.ts";

const MiB = 1 << 20;

/** A machine without per-CPU lists, so buddyinfo shows every page at once. */
function bare(ramBytes = 64 * MiB) {
  return Machine.boot({ ramBytes, pcpBatch: -1 });
}

function freeCounts(m: Machine, zone: number): number[] {
  const stats = m.stats() as { buddy: { zones: Array<{ freeByOrder: number[] }> } };
  return stats.buddy.zones[zone]!.freeByOrder;
}

describe("boot", () => {
  it("64 MiB: two zones, reserved frame 0, kernel image and mem_map, MemTotal is the rest", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB });
    // 16384 frames; mem_map = 16384 * 64 B = 256 frames; reserved = 1 + 16 + 256 = 273.
    expect(m.proc.meminfo()).toContain("MemTotal:          64444 kB\n");
    expect(m.proc.buddyinfo()).toBe(
      "Node 0, zone      DMA      1      1      1      1      0      1      1      1      0      1      3 \n" +
        "Node 0, zone   Normal      0      0      0      0      0      0      0      0      0      0     12 \n",
    );
    m.check();
  });

  it("1 MiB machine has one DMA zone", () => {
    const m = Machine.boot({ ramBytes: MiB });
    expect(m.proc.buddyinfo().split("\n")[0]).toMatch(/^Node 0, zone {6}DMA /);
    expect(m.proc.buddyinfo().split("\n")).toHaveLength(2);
    m.check();
  });

  it("rejects RAM sizes that are not page multiples in [1 MiB, 4 GiB]", () => {
    for (const bad of [0, 1000, MiB - 4096, 2 ** 32 + 4096, MiB + 1, Number.NaN, -MiB]) {
      expect(() => Machine.boot({ ramBytes: bad })).toThrow(/ramBytes must be a multiple of 4096/);
    }
    expect(() => Machine.boot({ ramBytes: MiB, bogus: 1 } as never)).toThrow("unknown option 'bogus'");
  });
});

describe("split and merge", () => {
  it("one order-0 page from pristine memory leaves one free block at every lower order", () => {
    const m = bare();
    const before = freeCounts(m, 1);
    const pfn = m.kernel.allocPages(0)!;
    expect(pfn).toBe(15360); // the most recently freed order-10 block, split from its bottom
    expect(freeCounts(m, 1)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, before[10]! - 1]);
    m.kernel.freePages(pfn, 0);
    expect(freeCounts(m, 1)).toEqual(before);
    const s = m.stats() as { buddy: { splits: number[]; merges: number[] } };
    expect(s.buddy.splits).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
    expect(s.buddy.merges).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
    m.check();
  });

  it("buddies merge only when both are free: pfn ^ (1 << order)", () => {
    const m = bare();
    const a = m.kernel.allocPages(0)!;
    const b = m.kernel.allocPages(0)!;
    expect(b).toBe(a ^ 1);
    m.kernel.freePages(a, 0);
    expect(freeCounts(m, 1)[0]).toBe(1);
    m.kernel.freePages(b, 0);
    expect(freeCounts(m, 1)[0]).toBe(0);
    m.check();
  });

  it("a per-CPU list keeps a freed page out of buddyinfo until drained", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB });
    const before = m.proc.buddyinfo();
    const pfn = m.kernel.allocPages(0)!;
    m.kernel.freePages(pfn, 0);
    expect(m.proc.buddyinfo()).not.toBe(before);
    m.check();
    m.kernel.drainPcp();
    expect(m.proc.buddyinfo()).toBe(before);
    m.check();
  });
});

describe("zones, watermarks and flags", () => {
  it("GFP_DMA takes frames below 16 MiB", () => {
    const m = bare();
    const pfn = m.kernel.allocPages(2, GFP_DMA)!;
    expect(pfn).toBeLessThan(4096);
    expect(pfn % 4).toBe(0);
    m.kernel.freePages(pfn, 2);
    m.check();
  });

  it("__GFP_ZERO zero-fills, and with pagePoison freed pages are poisoned with 0xaa", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB, pcpBatch: -1, pagePoison: true });
    const pfn = m.kernel.allocPages(1)!;
    const kva = m.kernel.pfnToKva(pfn);
    m.kernel.mem.fill(kva, 0x11, 8192);
    m.kernel.freePages(pfn, 1);
    expect(m.kernel.mem.read8(kva + 100)).toBe(0xaa);
    const again = m.kernel.allocPages(1, GFP_KERNEL | __GFP_ZERO)!;
    expect(again).toBe(pfn);
    expect(Array.from(m.kernel.mem.read(kva, 8192)).every((b) => b === 0)).toBe(true);
  });

  it("page poisoning is off by default (debugVm 1: a freed page keeps its bytes) and on at debugVm 2", () => {
    for (const [debugVm, expected] of [
      [1, 0x11],
      [2, 0xaa],
    ] as const) {
      const m = Machine.boot({ ramBytes: 16 * MiB, debugVm });
      const pfn = m.kernel.allocPages(0)!;
      const kva = m.kernel.pfnToKva(pfn);
      m.kernel.mem.fill(kva, 0x11, 4096);
      m.kernel.freePages(pfn, 0);
      expect([debugVm, m.kernel.mem.read8(kva), m.kernel.mem.read8(kva + 4095)]).toEqual([debugVm, expected, expected]);
    }
  });

  it("pagePoison: false turns poisoning off at debugVm 2; a bad value is a ConfigError", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB, debugVm: 2, pagePoison: false });
    const pfn = m.kernel.allocPages(0)!;
    m.kernel.mem.fill(m.kernel.pfnToKva(pfn), 0x11, 4096);
    m.kernel.freePages(pfn, 0);
    expect(m.kernel.mem.read8(m.kernel.pfnToKva(pfn) + 7)).toBe(0x11);
    expect(() => Machine.boot({ pagePoison: 1 as unknown as boolean })).toThrow("Machine.boot: pagePoison must be true or false, got 1");
  });

  it("order above MAX_PAGE_ORDER fails with Linux's report, silently with __GFP_NOWARN", () => {
    const m = bare();
    expect(m.kernel.allocPages(11)).toBeNull();
    expect(m.kernel.reports.map((r) => r.text)).toEqual([
      "swapper/0: page allocation failure: order:11, mode:0xcc0(GFP_KERNEL), nodemask=(null)",
    ]);
    expect(m.kernel.allocPages(11, GFP_KERNEL | __GFP_NOWARN)).toBeNull();
    expect(m.kernel.reports).toHaveLength(1);
  });

  it("GFP_ATOMIC dips below the min watermark where GFP_KERNEL stops", () => {
    const m = bare(4 * MiB);
    let kernelPages = 0;
    while (m.kernel.allocPages(0, GFP_KERNEL | __GFP_NOWARN) !== null) kernelPages++;
    let atomicPages = 0;
    while (m.kernel.allocPages(0, GFP_ATOMIC | __GFP_NOWARN) !== null) atomicPages++;
    const z = (m.stats() as { buddy: { zones: Array<{ managed: number; watermarks: { min: number } }> } }).buddy.zones[0]!;
    // GFP_KERNEL stops at min; GFP_ATOMIC halves min, then takes a quarter off that.
    const min = z.watermarks.min;
    const half = min - Math.floor(min / 2);
    const atomicMark = half - Math.floor(half / 4);
    expect(kernelPages).toBe(z.managed - min);
    expect(atomicPages).toBe(min - atomicMark);
    m.check();
  });
});

describe("exhaustion", () => {
  it("allocate until null: all distinct; free everything: buddyinfo equals boot's", () => {
    const m = Machine.boot({ ramBytes: 8 * MiB });
    const boot = m.proc.buddyinfo();
    const got: number[] = [];
    for (;;) {
      const p = m.kernel.allocPages(0, GFP_ATOMIC | __GFP_NOWARN);
      if (p === null) break;
      got.push(p);
    }
    expect(new Set(got).size).toBe(got.length);
    expect(got.length).toBeGreaterThan(1900);
    m.check();
    for (const p of got) m.kernel.freePages(p, 0);
    m.kernel.drainPcp();
    expect(m.proc.buddyinfo()).toBe(boot);
    m.check();
  });
});

describe("the free of a block of 1 to 8 pages", () => {
  it("a compound order-2 block's tail records are cleared by its free; a plain order-2 block has none", () => {
    const m = bare();
    const comp = m.kernel.pages.allocPages(2, GFP_KERNEL | __GFP_COMP);
    // prepNewPage writes PG_tail in each of the 3 tails of a compound block.
    expect([1, 2, 3].map((k) => m.kernel.memmap.flags(comp + k))).toEqual([PG_tail, PG_tail, PG_tail]);
    m.kernel.freePages(comp, 2);
    expect([1, 2, 3].map((k) => m.kernel.memmap.flags(comp + k))).toEqual([0, 0, 0]);
    const plain = m.kernel.pages.allocPages(2, GFP_KERNEL);
    // The same 4 frames again (pcpBatch -1: the block went straight back to its order-2 list).
    expect(plain).toBe(comp);
    expect([1, 2, 3].map((k) => m.kernel.memmap.flags(plain + k))).toEqual([0, 0, 0]);
    m.kernel.freePages(plain, 2);
    m.check();
  });

  it("a second reference keeps an order-2 block allocated: the first free drops it, the second frees the block", () => {
    const m = bare();
    const pfn = m.kernel.pages.allocPages(2, GFP_KERNEL);
    m.kernel.pages.getPage(pfn);
    const free = m.kernel.pages.stats.pgfree;
    m.kernel.freePages(pfn, 2);
    // Refcount 2 -> 1: still PG_alloc (bit 3, value 8) with order 2, no page counted freed.
    expect([
      m.kernel.memmap.refcount(pfn),
      m.kernel.memmap.flags(pfn) & 8,
      m.kernel.memmap.order(pfn),
      m.kernel.pages.stats.pgfree - free,
    ]).toEqual([1, 8, 2, 0]);
    m.kernel.freePages(pfn, 2);
    expect([m.kernel.memmap.refcount(pfn), m.kernel.pages.stats.pgfree - free]).toEqual([0, 4]);
    m.check();
  });
});

describe("bad frees and bad input are kernel panics naming the problem", () => {
  const cases: Array<[string, (m: Machine, pfn: number) => void, RegExp]> = [
    [
      "double free",
      (m, p) => {
        m.kernel.freePages(p, 0);
        m.kernel.freePages(p, 0);
      },
      /double free of pfn 0x3c00/,
    ],
    ["wrong order", (m, p) => m.kernel.freePages(p, 1), /pfn 0x3c00 was allocated with order 0, freed with order 1/],
    ["reserved frame", (m) => m.kernel.freePages(0, 0), /freeing reserved pfn 0x0/],
    ["pfn out of range", (m) => m.kernel.freePages(1 << 30, 0), /out of range/],
    ["NaN pfn", (m) => m.kernel.freePages(Number.NaN, 0), /out of range/],
    ["fractional pfn", (m, p) => m.kernel.freePages(p + 1 / 64, 0), /out of range/],
    [
      // 16 * pfn is an integer and the word there (the page's index) reads as an order-0 PG_alloc head
      "fractional pfn landing on a word that looks like a head",
      (m, p) => {
        m.kernel.memmap.setUserWord(p, SP_INDEX, 8 /* PG_alloc */);
        m.kernel.freePages(p + 0.5, 0);
      },
      /out of range/,
    ],
    ["negative order", (m) => m.kernel.allocPages(-1), /invalid order -1/],
    ["NaN order", (m) => m.kernel.allocPages(Number.NaN), /invalid order NaN/],
  ];
  for (const [name, act, msg] of cases) {
    it(name, () => {
      const m = bare();
      const pfn = m.kernel.allocPages(0)!;
      let thrown: unknown;
      try {
        act(m, pfn);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(KernelPanic);
      expect((thrown as Error).message).toMatch(msg);
    });
  }
});
