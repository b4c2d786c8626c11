/**
 * Reclaim of lazily freeable anonymous pages (Linux mm/vmscan.c and the
 * MADV_FREE / VM_DROPPABLE branch of try_to_unmap_one in mm/rmap.c): the
 * shrinker that memory pressure and `m.kernel.reclaimLazyFree()` run.
 *
 * A page MADV_FREE marked (PG_lazyfree) is dropped from every mapping only
 * while no mapping has written it since: a dirty entry anywhere makes the
 * page dirty and ordinary again (folio_mark_dirty + swapbacked). A page of a
 * VM_DROPPABLE VMA is dropped even when written. memsim has no reverse map,
 * so one pass over every address space finds the written pages, a second
 * drops the rest; a page once dropped from one mapping is dropped from all.
 *
 * Also the swap-out of one address space's pages that MADV_PAGEOUT asks
 * for (reclaim_pages, shrink_folio_list for anonymous pages): see PageoutWalk.
 *
 * Calls: page tables (walk, clear), Memory.releaseAnon, the swap cache and
 * slot I/O.
 */
import type { PageAllocator } from "./frames.ts";
import { type MemMap, PG_anon, PG_dirty, PG_lazyfree, PG_swapcache } from "./memmap.ts";
import type { Memory } from "./memory.ts";
import type { MmStruct } from "./mm.ts";
import { VM_DROPPABLE } from "./mm_types.ts";
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

/** The two passes of one reclaim run. */
export class LazyReclaim implements PteVisitor {
  private mm: MmStruct | null = null;
  private phase: "redirty" | "drop" = "redirty";
  private droppable = false;
  private want = 0;
  /** Frames freed (their last mapping dropped) in this run. */
  private freed = 0;
  /** Frames dropped from some mappings but still held by others: always dropped from all. */
  private readonly partial = new Set<number>();

  constructor(
    private readonly memory: Memory,
    private readonly memmap: MemMap,
  ) {}

  /** Drops up to `want` frames' worth of lazily freeable pages of `mms`. Returns frames freed. */
  run(mms: readonly MmStruct[], want: number): number {
    this.want = want;
    this.freed = 0;
    this.partial.clear();
    for (const phase of ["redirty", "drop"] as const) {
      this.phase = phase;
      for (const mm of mms) this.walkMm(mm);
    }
    this.partial.clear();
    return this.freed;
  }

  private walkMm(mm: MmStruct): void {
    const vmas = this.memory.vmas;
    const f = vmas.f;
    this.mm = mm;
    for (let n = mm.tree.first(); n >= 0; n = mm.tree.next(n)) {
      const vma = mm.tree.value(n);
      this.droppable = (f.flags(vma) & VM_DROPPABLE) !== 0;
      walkRange(mm.pt, f.start(vma), f.end(vma), this);
    }
    mm.pt.flushTlb();
    this.mm = null;
  }

  visitPte(va: number, ptep: number, level: number): void {
    const mm = this.mm as MmStruct;
    const pt = mm.pt;
    const flags = pt.pteFlags(ptep);
    if (level !== 1 || !(flags & PTE_P) || flags & PTE_SPECIAL) return;
    const pfn = pt.ptePfn(ptep);
    const memmap = this.memmap;
    if (!memmap.testFlag(pfn, PG_anon)) return;
    if (this.phase === "redirty") {
      if (!this.droppable && flags & PTE_D && memmap.testFlag(pfn, PG_lazyfree)) {
        memmap.clearFlag(pfn, PG_lazyfree);
        memmap.setFlag(pfn, PG_dirty);
      }
      return;
    }
    if (!this.droppable && !memmap.testFlag(pfn, PG_lazyfree)) return;
    if (this.freed >= this.want && !this.partial.has(pfn)) return;
    const last = memmap.refcount(pfn) === 1;
    pt.clearPte(va, ptep);
    this.memory.releaseAnon(mm, pfn);
    if (last) {
      this.freed++;
      this.partial.delete(pfn);
    } else this.partial.add(pfn);
  }
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
    this.pages.freePages(pfn, 0);
    // __remove_mapping: the page is clean and mapped nowhere; it leaves the cache and RAM.
    this.swap.delete(pfn);
    this.paged++;
  }
}
