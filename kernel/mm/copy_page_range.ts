/**
 * copy_page_range (Linux mm/memory.c) for fork: the child's page table gets
 * an entry for every present page of a private VMA that has anonymous pages
 * (vma_needs_copy; a shared VMA's pages are faulted in from the shared
 * object, and a VMA that never had a write holds only the zero page). Every
 * anonymous page becomes shared: refcount and mapcount raised, no data
 * copied, no longer exclusive to one address space, and write-protected in
 * both, so that the first write copies it (even after mprotect makes its
 * VMA writable). The child's entries start old (accessed bit clear); the zero
 * page is mapped as it is. A swap entry is copied as it is and its slot
 * gains a reference (copy_nonpresent_pte, swap_duplicate): both processes
 * then fault the same slot in. A 2 MiB leaf (a transparent huge page) is
 * shared whole, write-protected in both (copy_huge_pmd, huge_memory.ts);
 * so is a hugetlb leaf (hugetlb.ts).
 */

import { panic } from "../panic.ts";
import type { PageAllocator } from "./frames.ts";
import type { HugeMemory } from "./huge_memory.ts";
import type { Hugetlb } from "./hugetlb.ts";
import { type MemMap, PG_anon_exclusive, PG_file } from "./memmap.ts";
import type { MmStruct } from "./mm.ts";
import { VM_HUGETLB, VM_MAYWRITE, VM_SHARED } from "./mm_types.ts";
import type { PageTable } from "./pgtable.ts";
import { type PteVisitor, walkRange } from "./pgtable_range.ts";
import { PTE_A, PTE_P, PTE_RW, PTE_SOFT_COW, PTE_SPECIAL, swpOffset } from "./pgtable_types.ts";
import type { SwapDevice } from "./swapfile.ts";

/** One copy at a time; reused across forks. */
export class CopyPageRange implements PteVisitor {
  private src: PageTable | null = null;
  private dst: MmStruct | null = null;
  private cow = false;
  private ok = true;

  constructor(
    private readonly memmap: MemMap,
    private readonly buddy: PageAllocator,
    /** The swap device, or a getter giving null when the machine has none. */
    private readonly swap: () => SwapDevice | null,
    /** Fork's copy of a 2 MiB leaf (copy_huge_pmd). */
    private readonly huge: HugeMemory,
    /** Fork's copy of a hugetlb leaf (copy_hugetlb_page_range). */
    private readonly hugetlb: Hugetlb,
  ) {}

  /**
   * Copies the entries of [start, end) (a VMA with `vmFlags` and anon group
   * `anon`, 0 for none) from `src` into `dst`'s page table; copies nothing
   * for a shared VMA or one without anonymous pages. Returns false when a
   * child table could not be allocated; the entries copied so far stay (the
   * caller tears the child down).
   */
  run(src: PageTable, dst: MmStruct, start: number, end: number, vmFlags: number, anon: number): boolean {
    // A shared hugetlb VMA has no object to fault from: its leaves are copied as they are (no COW).
    if ((vmFlags & (VM_SHARED | VM_HUGETLB)) === VM_SHARED || anon === 0) return true;
    this.src = src;
    this.dst = dst;
    this.cow = (vmFlags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE;
    this.ok = true;
    walkRange(src, start, end, this);
    src.flushTlb();
    this.src = null;
    this.dst = null;
    return this.ok;
  }

  visitPte(va: number, ptep: number, level: number): void {
    if (!this.ok) return;
    const src = this.src as PageTable;
    const dst = this.dst as MmStruct;
    if (level === 2) {
      const copied = this.hugetlb.isHugetlbPage(src.ptePfn(ptep))
        ? this.hugetlb.copyLeaf(src, dst, va, ptep, this.cow)
        : this.huge.copyHugePmd(src, dst, va, ptep, this.cow);
      if (!copied) this.ok = false;
      return;
    }
    if (level !== 1) panic(`copy_page_range: a level-${level} leaf`);
    let flags = src.pteFlags(ptep);
    const pfn = src.ptePfn(ptep);
    const to = dst.pt.ensure(va);
    if (to < 0) {
      this.ok = false;
      return;
    }
    if (!(flags & PTE_P)) {
      (this.swap() as SwapDevice).dup(swpOffset(pfn, flags));
      dst.swapEnts++;
      dst.pt.setPte(va, to, pfn, flags);
      return;
    }
    if (!(flags & PTE_SPECIAL)) {
      this.buddy.getPage(pfn);
      this.memmap.setMapcount(pfn, this.memmap.mapcount(pfn) + 1);
      // A file's page in a private mapping is read-only already: the child maps it as it is.
      if (this.memmap.testFlag(pfn, PG_file)) dst.rssFile++;
      else if (this.cow) {
        dst.rssAnon++;
        this.memmap.clearFlag(pfn, PG_anon_exclusive);
        if (flags & PTE_RW) {
          flags = ((flags & ~PTE_RW) | PTE_SOFT_COW) >>> 0;
          src.setPte(va, ptep, pfn, flags);
        }
      } else dst.rssShmem++;
    }
    dst.pt.setPte(va, to, pfn, (flags & ~PTE_A) >>> 0);
  }
}
