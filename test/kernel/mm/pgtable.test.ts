import { describe, expect, it } from "vitest";
import {
  entryFlags,
  entryPfn,
  formatEntry,
  formatPteFlags,
  InvariantViolation,
  KernelPanic,
  Machine,
  makeHi,
  makeLo,
  PAGE_KERNEL,
  PAGE_OFFSET,
  PTE_A,
  PTE_D,
  PTE_NX,
  PTE_P,
  PTE_PS,
  PTE_RW,
  PTE_SOFT_COW,
  PTE_SOFT_HI_MASK,
  PTE_US,
  parseMeminfo,
  parseVa,
  pxIndex,
} from "../../../sim/index.ts";
import { freeFrames, freeingSink, USER_RO, USER_RW } from "./helpers.ts";

const MiB = 1 << 20;

describe("PTE layout", () => {
  it("an entry is two words: lo = PFN[19:0] << 12 | flags[11:0], hi = PFN[39:20] | flags bits 52..63", () => {
    expect(makeLo(0x12345, PAGE_KERNEL)).toBe(0x12345163);
    expect(makeHi(0x12345, PAGE_KERNEL)).toBe(0x80000000);
    expect(formatEntry(makeLo(0x12345, PAGE_KERNEL), makeHi(0x12345, PAGE_KERNEL))).toBe("8000000012345163");
    // A PFN above 2^20 spills into the hi word (bits 32..51 of the entry).
    expect(makeLo(0x123456, PTE_P)).toBe(0x23456001);
    expect(makeHi(0x123456, PTE_P)).toBe(0x1);
    expect(entryPfn(0x23456001, 0x1)).toBe(0x123456);
  });

  it("the flags word keeps entry bits 0..11 and 52..63 and drops the PFN", () => {
    const lo = makeLo(0xfffff, USER_RW | PTE_A | PTE_D | PTE_SOFT_COW);
    const hi = makeHi(0xfffff, USER_RW | PTE_A | PTE_D | PTE_SOFT_COW | (0x55 << 20));
    expect(entryFlags(lo, hi)).toBe((USER_RW | PTE_A | PTE_D | PTE_SOFT_COW | (0x55 << 20)) >>> 0);
    expect(PTE_NX).toBe(2 ** 31);
    expect(PTE_SOFT_HI_MASK).toBe(0x07f00000);
    expect(formatPteFlags(entryFlags(lo, hi))).toBe("P RW US A D COW NX soft=0x55");
  });

  it("indexes are 9 bits per level from bit 12 up, on the stored form of kernel addresses", () => {
    expect([4, 3, 2, 1].map((l) => pxIndex(PAGE_OFFSET, l))).toEqual([273, 0, 0, 0]);
    expect([4, 3, 2, 1].map((l) => pxIndex(0x7ffffffff000, l))).toEqual([255, 511, 511, 511]);
    expect([4, 3, 2, 1].map((l) => pxIndex(parseVa("ffffc90000203000"), l))).toEqual([402, 0, 1, 3]);
  });
});

describe("init_mm", () => {
  it("64 MiB: the direct map is 32 leaves of 2 MiB in three boot tables of the kernel image", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB });
    const k = m.kernel;
    expect(k.initMm.root).toBe(9);
    expect(k.initMm.nrTables).toBe(3);
    expect(k.initMm.vmprint().split("\n").slice(0, 5)).toEqual([
      "page table 0x0000000000009000",
      " ..273: pte 0x000000000000a063 pa 0x000000000000a000",
      " .. ..0: pte 0x000000000000b063 pa 0x000000000000b000",
      " .. .. ..0: pte 0x80000000000001e3 pa 0x0000000000000000",
      " .. .. ..1: pte 0x80000000002001e3 pa 0x0000000000200000",
    ]);
    expect(k.initMm.ptdump()).toBe(
      "---[ User Space ]---\n---[ Kernel Space ]---\n---[ Low Kernel Mapping ]---\n" +
        "0xffff888000000000-0xffff888004000000        64M     RW          PSE GLB NX pmd\n",
    );
    const mi = parseMeminfo(m.proc.meminfo());
    expect([mi.MemTotal, mi.PageTables, mi.DirectMap4k, mi.DirectMap2M]).toEqual([64444, 0, 0, 65536]);
    m.check();
  });

  it("a RAM size that is not a 2 MiB multiple maps its tail with 4 KiB leaves", () => {
    const m = Machine.boot({ ramBytes: 3 * MiB + 8192 });
    const k = m.kernel;
    expect(k.initMm.nrTables).toBe(4);
    const mi = parseMeminfo(m.proc.meminfo());
    expect([mi.DirectMap4k, mi.DirectMap2M]).toEqual([1032, 2048]);
    expect(k.initMm.ptdump().split("\n").slice(3)).toEqual([
      "0xffff888000000000-0xffff888000200000         2M     RW          PSE GLB NX pmd",
      "0xffff888000200000-0xffff888000302000      1032K     RW              GLB NX pte",
      "",
    ]);
    expect(k.mem.read32(PAGE_OFFSET + 3 * MiB + 8188)).toBe(0);
    m.check();
  });

  it("explain walks a direct-map address down to its 2 MiB leaf", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB });
    expect(m.kernel.initMm.explain(m.kernel.pfnToKva(5000) + 0x123)).toBe(
      "ffff888001388123: kernel page table, ASID 0, root pfn 0x9\n" +
        "  pgd[273] pud[0] pmd[9] pte[392] offset 0x123\n" +
        "  L4 PML4 pfn 0x9 [273] = 0x000000000000a063 P RW A D -> PDPT at pfn 0xa\n" +
        "  L3 PDPT pfn 0xa [  0] = 0x000000000000b063 P RW A D -> PD at pfn 0xb\n" +
        "  L2 PD   pfn 0xb [  9] = 0x80000000012001e3 P RW A D PS G NX -> 2 MiB page at pfn 0x1200, frame 0x1388\n" +
        "  => pa 0x1388123; kernel read/write; user: no access (US clear; faults with 0x0005); no execute (NX; a fetch faults with 0x0011)\n",
    );
  });
});

describe("user page tables", () => {
  it("lookup never allocates; ensure allocates the three missing tables once", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB });
    const k = m.kernel;
    const free0 = freeFrames(m);
    const pt = k.paging.pgdAlloc()!;
    expect(pt.asid).toBe(1);
    expect(pt.lookup(0x400000)).toBe(-1);
    expect(freeFrames(m)).toBe(free0 - 1);
    const ptep = pt.ensure(0x400000);
    expect(ptep).toBeGreaterThan(0);
    expect(pt.nrTables).toBe(4);
    expect(parseMeminfo(m.proc.meminfo()).PageTables).toBe(16);
    expect(pt.ensure(0x401000)).toBe(ptep + 8);
    expect(pt.lookup(0x400000)).toBe(ptep);
    expect(pt.pteNone(ptep)).toBe(true);
    expect(freeFrames(m)).toBe(free0 - 4);
    m.check();
  });

  it("ensure that runs out of memory returns -1 and leaves the tree as it was", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB });
    const k = m.kernel;
    const pt = k.paging.pgdAlloc()!;
    const free0 = freeFrames(m);
    m.faults.failPageAlloc({ nth: 3 });
    expect(pt.ensure(0x400000)).toBe(-1);
    expect(pt.nrTables).toBe(1);
    expect(freeFrames(m)).toBe(free0);
    expect(pt.vmprint()).toBe(`page table 0x${(pt.root * 4096).toString(16).padStart(16, "0")}\n`);
    m.check();
    expect(pt.ensure(0x400000)).toBeGreaterThan(0);
    m.check();
  });

  it("map, unmap with a sink, free the empty tables and the pgd: every frame comes back", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB });
    const k = m.kernel;
    const free0 = freeFrames(m);
    const pt = k.paging.pgdAlloc()!;
    const frames: number[] = [];
    for (let i = 0; i < 3; i++) {
      const pfn = k.allocPages(0)!;
      k.memmap.setMapcount(pfn, 1);
      frames.push(pfn);
    }
    expect(pt.mapPages(0x7ffffffe0000, frames, 3, USER_RW)).toBe("ok");
    expect(pt.ptePfn(pt.lookup(0x7ffffffe1000))).toBe(frames[1]);
    m.check();
    const sink = freeingSink(m);
    expect(pt.unmapRange(0, 2 ** 47, sink)).toBe(3);
    expect(sink.zapped).toEqual([0x7ffffffe0000, 0x7ffffffe1000, 0x7ffffffe2000]);
    pt.flushTlb();
    expect(pt.freeEmptyTables(0, 2 ** 47)).toBe(3);
    expect(pt.nrTables).toBe(1);
    m.check();
    k.paging.pgdFree(pt);
    expect(freeFrames(m)).toBe(free0);
    expect(m.stats().mmu).toMatchObject({ pageTables: 1, tablePages: 0, tlb: { asidsInUse: 0 } });
    m.check();
  });

  it("unmapPages clears a small range across a level-1 table boundary, skipping holes", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB });
    const k = m.kernel;
    const pt = k.paging.pgdAlloc()!;
    const frames = [k.allocPages(0)!, k.allocPages(0)!, k.allocPages(0)!];
    for (const f of frames) k.memmap.setMapcount(f, 1);
    pt.mapPages(0x1fe000, frames, 2, USER_RW); // the last two slots of the first PT
    pt.mapPages(0x201000, frames.slice(2), 1, USER_RW); // slot 1 of the next PT; slot 0 stays a hole
    const sink = freeingSink(m);
    expect(pt.unmapPages(0x1fe000, 5, sink)).toBe(3);
    expect(sink.zapped).toEqual([0x1fe000, 0x1ff000, 0x201000]);
    expect(pt.describePending()).toBe("1fe000-202000");
    pt.flushTlb();
    expect(pt.unmapPages(0x7000000, 3, null)).toBe(0);
    m.check();
  });

  it("mapping over a used slot panics like xv6's mappages: remap", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const pt = m.kernel.paging.pgdAlloc()!;
    const pfn = m.kernel.allocPages(0)!;
    expect(pt.mapRange(0x1000, pfn, 1, USER_RO)).toBe("ok");
    expect(() => pt.mapRange(0x1000, pfn, 1, USER_RO)).toThrow("map_range: remap at 1000");
  });

  it("a failed mapRange clears what it set", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB });
    const pt = m.kernel.paging.pgdAlloc()!;
    const pfn = m.kernel.allocPages(4)!;
    // The range crosses into a second PT at 0x200000: its allocation fails.
    m.faults.failPageAlloc({ nth: 4 });
    expect(pt.mapRange(0x1f8000, pfn, 16, USER_RO)).toBe("nomem");
    const seen: number[] = [];
    pt.walkRange(0, 2 ** 47, { visitPte: (va) => seen.push(va) });
    expect(seen).toEqual([]);
    expect(pt.flushPending()).toBe(false);
  });

  it("huge mapRange makes 2 MiB leaves where both sides are aligned, and unmap must cover them whole", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB });
    const k = m.kernel;
    const pt = k.paging.pgdAlloc()!;
    const pfn = k.allocPages(10)!; // 4 MiB, aligned to 4 MiB
    expect(pt.mapRange(0x200000 - 0x1000, pfn + 511, 1 + 512, USER_RO, { huge: true })).toBe("ok");
    expect(pt.lookup(0x200000)).toBeGreaterThan(0);
    expect(pt.leafLevel).toBe(2);
    expect(pt.pteFlags(pt.lookup(0x200000)) & PTE_PS).toBe(PTE_PS);
    expect(() => pt.unmapRange(0x200000, 0x201000, null)).toThrow("unmap_range: range covers part of the 2 MiB leaf at 200000");
    const pages: number[] = [];
    expect(pt.unmapRange(0, 0x400000, { zapPte: (_va, _pfn, _f, n) => pages.push(n) })).toBe(2);
    expect(pages).toEqual([1, 512]);
    pt.flushTlb();
  });

  it("changeProtection changes present leaves only and keeps COW pages read-only", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const k = m.kernel;
    const pt = k.paging.pgdAlloc()!;
    const a = k.allocPages(0)!;
    const b = k.allocPages(0)!;
    pt.mapRange(0x10000, a, 1, USER_RO);
    pt.mapRange(0x11000, b, 1, (USER_RO | PTE_SOFT_COW) >>> 0);
    expect(pt.changeProtection(0x10000, 0x20000, PTE_RW, 0, { readOnlyIf: PTE_SOFT_COW })).toBe(1);
    expect(formatPteFlags(pt.pteFlags(pt.lookup(0x10000)))).toBe("P RW US NX");
    expect(formatPteFlags(pt.pteFlags(pt.lookup(0x11000)))).toBe("P US COW NX");
    expect(pt.flushPending()).toBe(true);
    expect(pt.describePending()).toBe("10000-11000");
    pt.flushTlb();
    expect(pt.changeProtection(0x10000, 0x20000, 0, PTE_US | PTE_NX)).toBe(2);
    expect(() => pt.changeProtection(0x10000, 0x11000, PTE_P, 0)).toThrow("PTE_P cannot be changed");
    pt.flushTlb();
  });

  it("setPte panics on a slot that is not the one of the address (debugVm >= 1)", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const pt = m.kernel.paging.pgdAlloc()!;
    const ptep = pt.ensure(0x5000);
    expect(() => pt.setPte(0x6000, ptep, 1, USER_RO)).toThrow(KernelPanic);
    expect(() => pt.setPte(0x5000, ptep, 1 << 20, USER_RO)).toThrow("set_pte_at: pfn 1048576 beyond RAM for 5000");
  });

  it("pgdFree panics while a leaf is mapped", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const pt = m.kernel.paging.pgdAlloc()!;
    pt.mapRange(0x5000, m.kernel.allocPages(0)!, 1, USER_RO);
    expect(() => m.kernel.paging.pgdFree(pt)).toThrow("pgd_free: leaf still mapped at 5000");
    expect(() => m.kernel.paging.pgdFree(m.kernel.initMm)).toThrow("pgd_free: not a live user page table");
  });
});

describe("checkPgtable", () => {
  it("PGTABLE-3: a leaf pointing at a free frame", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const k = m.kernel;
    const pt = k.paging.pgdAlloc()!;
    const pfn = k.allocPages(0)!;
    pt.mapRange(0x5000, pfn, 1, USER_RO);
    k.memmap.setMapcount(pfn, 1);
    m.check();
    k.memmap.setMapcount(pfn, 0);
    k.freePages(pfn, 0);
    expect(() => m.check()).toThrow(/PGTABLE-3: leaf at 5000 points at free frame/);
  });

  it("PGTABLE-4: a user leaf whose frame's mapcount is not counted", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const k = m.kernel;
    const pt = k.paging.pgdAlloc()!;
    const pfn = k.allocPages(0)!;
    pt.mapRange(0x5000, pfn, 1, USER_RO);
    expect(() => m.check()).toThrow(`PGTABLE-4: frame 0x${pfn.toString(16)} has mapcount 0, 1 user leaves map it`);
  });

  it("PGTABLE-2 and PGTABLE-1: entries written behind the page table's back", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const k = m.kernel;
    const pt = k.paging.pgdAlloc()!;
    const ptep = pt.ensure(0x5000);
    k.phys.write32(ptep, makeLo(k.allocPages(0)!, PTE_P));
    expect(() => m.check()).toThrow(/PGTABLE-2: ASID 1 level-1 table 0x[0-9a-f]+ has 1 entries in use, its count says 0/);
    k.phys.write32(ptep, 0);
    k.memmap.clearFlag(Math.floor(ptep / 4096), 1 << 7);
    expect(() => m.check()).toThrow(/PGTABLE-1: .* is not marked PG_pgtable/);
  });

  it("PGTABLE-7: a change left unflushed is reported by m.check()", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const pt = m.kernel.paging.pgdAlloc()!;
    pt.mapRange(0x5000, m.kernel.allocPages(0)!, 1, USER_RO);
    pt.unmapRange(0x5000, 0x6000, null);
    expect(() => m.check()).toThrow(new InvariantViolation("PGTABLE-7", "ASID 1: TLB flush of 5000-6000 still pending"));
    pt.flushTlb();
    m.check();
  });
});
