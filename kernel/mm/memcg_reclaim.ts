/**
 * The reclaim a memory cgroup over its limit runs until vmscan.ts has a
 * memcg-aware tryToFreePages (the MemcgReclaim of memcontrol.ts; kernel/main.ts
 * wires this one): the group's own anonymous pages go to swap through
 * MADV_PAGEOUT's machinery (PageoutWalk), over the group's processes in pid
 * order and their VMAs in address order, with a second chance:
 *
 *   pass 1  a page whose entry has the accessed bit loses the bit and stays;
 *           a page without it goes to swap
 *   pass 2  (still short) every page PageoutWalk can take goes
 *
 * Only pages charged to the group (struct page word 9) that one mapping
 * alone uses are taken. Without swap nothing is freed, and the caller goes
 * on to the group's OOM kill.
 *
 * Calls: PageoutWalk (vmscan.ts), page-table walks, the VMA fields.
 */
import type { MemcgReclaim } from "./memcontrol.ts";
import { type MemMap, SP_MEMCG } from "./memmap.ts";
import type { MmStruct } from "./mm.ts";
import type { VmaFields } from "./mm_types.ts";
import { type PteVisitor, walkRange } from "./pgtable_range.ts";
import { PTE_A, PTE_P, PTE_SPECIAL } from "./pgtable_types.ts";
import type { PageoutWalk } from "./vmscan.ts";

/** The interim MemcgReclaim: swap-out of the group's pages with an accessed-bit second chance. */
export class MemcgPageout implements MemcgReclaim, PteVisitor {
  private mm: MmStruct | null = null;
  private memcg = 0;
  private want = 0;
  private freed = 0;
  private secondChance = true;
  /** Leaves looked at (memory.stat pgscan is the group's share). */
  scanned = 0;

  constructor(
    private readonly memmap: MemMap,
    private readonly f: VmaFields,
    /** MADV_PAGEOUT's walk, or null on a machine without swap. */
    private readonly pageout: () => PageoutWalk | null,
    /** The address spaces of the group's processes, in pid order. */
    private readonly mmsOf: (memcg: number) => readonly MmStruct[],
  ) {}

  tryToFreePages(nrPages: number, memcg: number): number {
    const walk = this.pageout();
    if (walk === null || nrPages <= 0) return 0;
    this.memcg = memcg;
    this.want = nrPages;
    this.freed = 0;
    const mms = this.mmsOf(memcg);
    for (const pass of [true, false]) {
      this.secondChance = pass;
      for (const mm of mms) {
        if (this.freed >= this.want) break;
        this.walkMm(mm);
      }
    }
    return this.freed;
  }

  private walkMm(mm: MmStruct): void {
    this.mm = mm;
    for (let n = mm.tree.first(); n >= 0 && this.freed < this.want; n = mm.tree.next(n)) {
      const vma = mm.tree.value(n);
      walkRange(mm.pt, this.f.start(vma), this.f.end(vma), this);
    }
    mm.pt.flushTlb();
    this.mm = null;
  }

  visitPte(va: number, ptep: number, level: number): void {
    if (this.freed >= this.want || level !== 1) return;
    const mm = this.mm as MmStruct;
    const pt = mm.pt;
    const flags = pt.pteFlags(ptep);
    if ((flags & (PTE_P | PTE_SPECIAL)) !== PTE_P) return;
    const pfn = pt.ptePfn(ptep);
    if ((this.memmap.w[pfn * 16 + SP_MEMCG] as number) !== this.memcg) return;
    this.scanned++;
    if (this.secondChance && flags & PTE_A) {
      pt.setPte(va, ptep, pfn, (flags & ~PTE_A) >>> 0);
      return;
    }
    if ((this.pageout() as PageoutWalk).pageOne(mm, va, ptep)) this.freed++;
  }
}
