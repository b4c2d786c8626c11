import { describe, expect, it } from "vitest";
import {
  contigInfo,
  fragmentationIndex,
  renderExtfragIndex,
  renderUnusableIndex,
  unusableFreeIndex,
} from "../../../kernel/proc/extfrag.ts";
import { GFP_HIGHUSER_MOVABLE, Machine, type Pfn } from "../../../sim/index.ts";

describe("extfrag measures (Linux's unusable free space index and fragmentation index)", () => {
  it("counts free pages, free blocks and the blocks that suit an order", () => {
    // 4 single pages and one order-2 block: 8 pages in 5 blocks.
    expect(contigInfo([4, 0, 1], 0)).toEqual({ freePages: 8, blocksTotal: 5, blocksSuitable: 8 });
    expect(contigInfo([4, 0, 1], 1)).toEqual({ freePages: 8, blocksTotal: 5, blocksSuitable: 2 });
    expect(contigInfo([4, 0, 1], 2)).toEqual({ freePages: 8, blocksTotal: 5, blocksSuitable: 1 });
  });

  it("unusable index: the share of free pages outside blocks big enough, in thousandths", () => {
    expect(unusableFreeIndex(0, contigInfo([4, 0, 1], 0))).toBe(0);
    expect(unusableFreeIndex(1, contigInfo([4, 0, 1], 1))).toBe(500); // (8 - 2 * 2) / 8
    expect(unusableFreeIndex(2, contigInfo([4, 0, 1], 2))).toBe(500); // (8 - 1 * 4) / 8
    expect(unusableFreeIndex(1, contigInfo([6, 1, 0], 1))).toBe(750); // (8 - 1 * 2) / 8
    expect(unusableFreeIndex(2, contigInfo([6, 1, 0], 2))).toBe(1000);
  });

  it("unusable index is 1.000 when nothing is free", () => {
    expect(unusableFreeIndex(0, contigInfo([0, 0, 0], 0))).toBe(1000);
  });

  it("fragmentation index: -1000 when a block suits, 0 with no free block, else 1000 - (1000 + 1000 F / 2^j) / B", () => {
    expect(fragmentationIndex(1, contigInfo([6, 1, 0], 1))).toBe(-1000);
    // F = 8, B = 7, j = 2: 1000 - (1000 + 2000) / 7 = 1000 - 428
    expect(fragmentationIndex(2, contigInfo([6, 1, 0], 2))).toBe(572);
    // 8 single pages for an order-3 request: 1000 - (1000 + 1000) / 8 = 750
    expect(fragmentationIndex(3, contigInfo([8, 0, 0, 0], 3))).toBe(750);
    // One order-2 block for an order-3 request: want of memory, not pieces: 1000 - (1000 + 500) / 1 = -500
    expect(fragmentationIndex(3, contigInfo([0, 0, 1, 0], 3))).toBe(-500);
    expect(fragmentationIndex(0, contigInfo([0, 0, 0], 0))).toBe(0);
  });

  it("renders debugfs's lines: '%d.%03d ' and '%2d.%03d ' per order", () => {
    const src = { zones: [{ name: "DMA", nrFree: [6, 1, 0] }], maxOrder: 2 };
    expect(renderUnusableIndex(src)).toBe("Node 0, zone      DMA 0.000 0.750 1.000 \n");
    expect(renderExtfragIndex(src)).toBe("Node 0, zone      DMA -1.000 -1.000  0.572 \n");
  });

  it("prints a small negative fragmentation index as C's '%2d.%03d' does: -500 is ' 0.-500'", () => {
    const src = { zones: [{ name: "Normal", nrFree: [0, 0, 1, 0] }], maxOrder: 3 };
    expect(renderExtfragIndex(src)).toBe("Node 0, zone   Normal -1.000 -1.000 -1.000  0.-500 \n");
  });

  it("m.proc shows both for a machine's zones, after half its pages were freed in a checkerboard", () => {
    const m = Machine.boot({ ramBytes: 1 << 20, seed: 1, maxOrder: 3, pcpBatch: -1 });
    expect(m.proc.buddyinfo()).toBe("Node 0, zone      DMA      1      1      0     29 \n");
    // F = 235: order 1 leaves 1 page unusable (1000 / 235 = 4 after rounding down), orders 2 and 3 leave 3 (12).
    expect(m.proc.unusableIndex()).toBe("Node 0, zone      DMA 0.000 0.004 0.012 0.012 \n");
    const pfns: Pfn[] = [];
    // Movable requests: every page block is Movable at boot, so they take the lowest free pages in order (no fallback
    // claims a block), and freeing every other one leaves a true checkerboard.
    const gfp = GFP_HIGHUSER_MOVABLE;
    for (let pfn = m.kernel.allocPages(0, gfp); pfn !== null; pfn = m.kernel.allocPages(0, gfp)) pfns.push(pfn);
    for (let i = 0; i < pfns.length; i += 2) m.kernel.freePages(pfns[i]!, 0);
    expect(m.proc.buddyinfo()).toBe("Node 0, zone      DMA    102      0      0      4 \n");
    // F = 134 pages; an order-1 request can use the 4 order-3 blocks' 32 pages only: (134 - 32) / 134.
    expect(m.proc.unusableIndex()).toBe("Node 0, zone      DMA 0.000 0.761 0.761 0.761 \n");
    expect(m.proc.extfragIndex()).toBe("Node 0, zone      DMA -1.000 -1.000 -1.000 -1.000 \n");
  });
});
