/**
 * MADV_PAGEOUT's swap-out of one address space's pages (Linux mm/vmscan.c
 * reclaim_pages and shrink_folio_list for anonymous pages): see
 * PageoutWalk; and tryToFreePages, the entry point of reclaim for the OOM
 * and memory-cgroup paths. Reclaim from the LRU lists itself (kswapd,
 * direct reclaim, the lazy-free shrinker over MADV_FREE and MAP_DROPPABLE
 * pages) lives in vmscan_shrink.ts, what it does with one page in
 * vmscan_folio.ts.
 *
 * Calls: page tables (walk), the swap cache and slot I/O.
 */
import type { PageAllocator } from "./frames.ts";
import type { MemcgController } from "./memcontrol.ts";
import { type MemMap, PG_anon, PG_dirty, PG_swapcache } from "./memmap.ts";
import type { MmStruct } from "./mm.ts";
import { swapWritePage } from "./page_io.ts";
import { type PteVisitor, walkRange } from "./pgtable_range.ts";
import { PTE_D, PTE_P, PTE_SPECIAL, swpEntryFlags, swpEntryPfn } from "./pgtable_types.ts";
import type { PhysMem } from "./physmem.ts";
import type { SwapCache } from "./swap_state.ts";
import type { Reclaim } from "./vmscan_shrink.ts";

/**
 * try_to_free_pages for the OOM and memory-cgroup paths: reclaims up to
 * `nrPages` anonymous pages of the machine `reclaim` serves (Memory.reclaim),
 * of memory cgroup `memcg` only (the SP_MEMCG word of struct page) unless
 * `memcg` is 0. Counted as direct reclaim (pgscan_direct, pgsteal_direct).
 * Returns the pages freed (0 while a reclaim is already running).
 */
export function tryToFreePages(reclaim: Reclaim, nrPages: number, memcg: number): number {
  return reclaim.tryToFreePages(nrPages, memcg);
}

/**
 * MADV_PAGEOUT with swap (madvise_cold_or_pageout_pte_range + reclaim_pages):
 * each present anonymous page of the range that this mapping alone uses
 * (mapcount 1, no reference besides the mapping and the swap cache) goes to
 * swap. A page not yet in the swap cache gets a slot and is written; a page
 * already there is written again only when dirty (its entry's D bit or
 * PG_dirty), so a clean re-eviction writes nothing. Then its entry becomes a
 * swap entry for the slot and the page leaves RAM. A page whose slot cannot
 * be had, or whose write fails, stays mapped (a slot just taken is given back).
 */
export class PageoutWalk implements PteVisitor {
  private mm: MmStruct | null = null;
  /** Pages swapped out by the last run. */
  paged = 0;

  constructor(
    private readonly phys: PhysMem,
    private readonly memmap: MemMap,
    private readonly pages: PageAllocator,
    private readonly swap: SwapCache,
    /** The memory cgroups: a page's charge moves to its slot (mem_cgroup_swapout). */
    private readonly memcg: MemcgController | null = null,
  ) {}

  /** Pages out [start, end) of `mm`. Returns how many pages went to swap. */
  run(mm: MmStruct, start: number, end: number): number {
    this.mm = mm;
    this.paged = 0;
    walkRange(mm.pt, start, end, this);
    mm.pt.flushTlb();
    this.mm = null;
    return this.paged;
  }

  /** Pages out the one page the leaf `ptep` of `mm` maps at `va`, as run does (the caller flushes the TLB). True when it went to swap. */
  pageOne(mm: MmStruct, va: number, ptep: number): boolean {
    const before = this.paged;
    this.mm = mm;
    this.visitPte(va, ptep, 1);
    this.mm = null;
    return this.paged > before;
  }

  visitPte(va: number, ptep: number, level: number): void {
    const mm = this.mm as MmStruct;
    const pt = mm.pt;
    const flags = pt.pteFlags(ptep);
    if (level !== 1 || !(flags & PTE_P) || flags & PTE_SPECIAL) return;
    const pfn = pt.ptePfn(ptep);
    const memmap = this.memmap;
    if (!memmap.testFlag(pfn, PG_anon) || memmap.mapcount(pfn) !== 1) return;
    const cached = memmap.testFlag(pfn, PG_swapcache);
    if (memmap.refcount(pfn) !== (cached ? 2 : 1)) return;
    const slot = cached ? this.swap.slotOf(pfn) : this.swap.addToSwap(pfn);
    if (slot < 0) return;
    const dirty = !cached || (flags & PTE_D) !== 0 || memmap.testFlag(pfn, PG_dirty);
    if (dirty && !swapWritePage(this.phys, this.swap.dev, pfn, slot)) {
      if (!cached) this.swap.delete(pfn);
      return;
    }
    memmap.clearFlag(pfn, PG_dirty);
    this.swap.dev.dup(slot);
    pt.setPte(va, ptep, swpEntryPfn(0, slot), swpEntryFlags(0, slot));
    mm.swapEnts++;
    memmap.setMapcount(pfn, 0);
    mm.rssAnon--;
    const memcg = this.memcg === null ? 0 : this.memcg.swapout(pfn);
    if (memcg !== 0) this.swap.dev.setSwapCgroup(slot, memcg);
    this.pages.freePages(pfn, 0);
    // __remove_mapping: the page is clean and mapped nowhere; it leaves the cache and RAM.
    this.swap.delete(pfn);
    this.paged++;
  }
}
