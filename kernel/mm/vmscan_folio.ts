/**
 * Reclaim of one anonymous page (Linux mm/vmscan.c shrink_folio_list's work
 * on a folio: pageout; with the try_to_unmap_one and folio_referenced_one
 * halves of mm/rmap.c): what reclaim (vmscan_shrink.ts) does with a victim
 * the policy chose, and with a page the lazy-free shrinker looks at.
 *
 * Through the reverse map (rmap.ts), one walk looks at every entry mapping
 * the page, and decides:
 *   - a VM_LOCKED VMA maps it: mlocked, it goes to the unevictable list;
 *   - a lazily freed page (MADV_FREE) that no entry wrote since, or a page
 *     of a VM_DROPPABLE VMA: dropped from every mapping, no I/O;
 *   - a node's reclaim under memory tiering: demoted when it can be;
 *   - any other page: written to a swap slot (unless it is clean in the
 *     swap cache already), every entry becomes a swap entry, the page goes;
 *   - a page someone else holds a reference to (a fault or fork in the
 *     middle of using it), or whose entries are not all found, or that
 *     cannot get a slot: kept, and the policy told so.
 * A second walk drops the entries or turns them into swap entries. The
 * policy's looks at a page (harvest: folio_referenced) are walks too: they
 * clear the accessed bits and are counted for pgscan (Reclaim.shrink reads
 * `looked`).
 */
import type { PageAllocator } from "./frames.ts";
import { type MemMap, PG_dirty, PG_lazyfree, PG_swapcache, PG2_active, PG2_mlocked, PG2_referenced } from "./memmap.ts";
import type { MmStruct } from "./mm.ts";
import { VM_DROPPABLE, VM_LOCKED } from "./mm_types.ts";
import { swapWritePage } from "./page_io.ts";
import { PTE_A, PTE_D, swpEntryFlags, swpEntryPfn } from "./pgtable_types.ts";
import type { PhysMem } from "./physmem.ts";
import type { ReplacementHost } from "./replacement.ts";
import type { Rmap, RmapVisitor } from "./rmap.ts";
import { LRU_UNEVICTABLE, type LruLists } from "./swap.ts";
import type { SwapCache } from "./swap_state.ts";
import type { VmaOps } from "./vma.ts";
import type { ReclaimWho } from "./vmscan_file.ts";

/** What reclaim uses of the user-memory layer (memory.ts Memory): RAM, VMAs, the swap cache, the memory cgroups, the anon-page release. */
export interface ReclaimMemory {
  readonly phys: PhysMem;
  readonly vmas: VmaOps;
  readonly swap: SwapCache | null;
  /** mem_cgroup_swapout: a page leaving RAM for a slot gives its charge to the slot; returns the group to record (0: none). */
  readonly memcg: { swapout(pfn: number): number };
  readonly stats: { lazyFreed: number };
  /** Drops one mapping of an anonymous page (page_remove_rmap + put_page). */
  releaseAnon(mm: MmStruct, pfn: number): void;
}

/** Memory tiering's demotion (vmscan_shrink.ts TierReclaim.demote): false when the page cannot move. */
export interface Demoter {
  demote(pfn: number, who: ReclaimWho): boolean;
}

/** What one rmap walk of an eviction found. */
enum Seen {
  Locked = 1,
  Dirty = 2,
  Droppable = 4,
}

/** The reclaim of one page at a time, and the rmap visitor of its walks (vmscan_shrink.ts Reclaim holds one). */
export class FolioReclaim implements RmapVisitor {
  /** The walk in progress: "young" harvests accessed bits, "inspect" looks, "drop" and "swap" unmap. */
  private mode: "young" | "inspect" | "drop" | "swap" = "young";
  private seen = 0;
  private young = 0;
  private slot = 0;
  /** Pages the policy looked at (harvested) in the current shrink, and the last one (Reclaim.shrink reads and resets them). */
  looked = 0;
  lastLooked = -1;

  constructor(
    private readonly memmap: MemMap,
    private readonly pages: PageAllocator,
    private readonly memory: ReclaimMemory,
    private readonly rmap: Rmap,
    private readonly host: ReplacementHost,
    private readonly lru: LruLists,
    /** Per swap slot: 1 when reclaim evicted the page there, 2 when it was active (Reclaim reads it for refaults). */
    private readonly shadow: Uint8Array,
    /** The address spaces of the machine's processes (Tasks.list): a harvest outside a shrink walks them. */
    private readonly mms: () => MmStruct[],
  ) {}

  /** folio_referenced: clears the accessed bits of every entry mapping `pfn`; returns how many were set. */
  harvest(pfn: number): number {
    if (this.rmap.mms.length === 0) this.rmap.mms = this.mms();
    this.mode = "young";
    this.young = 0;
    this.looked++;
    this.lastLooked = pfn;
    this.rmap.walk(pfn, this);
    return this.young;
  }

  /** One page of the lazy-free shrinker: dropped when lazily freeable and held by its mappings alone. */
  dropLazy(pfn: number): boolean {
    const mm = this.memmap;
    const cached = mm.testFlag(pfn, PG_swapcache);
    if (mm.mapcount(pfn) === 0 || mm.refcount(pfn) !== mm.mapcount(pfn) + (cached ? 1 : 0)) return false;
    this.mode = "inspect";
    this.seen = 0;
    if (this.rmap.walk(pfn, this) !== mm.mapcount(pfn)) return false;
    if (!(this.seen & Seen.Droppable)) {
      if (!mm.testFlag(pfn, PG_lazyfree)) return false;
      if (this.seen & Seen.Dirty) {
        mm.clearFlag(pfn, PG_lazyfree);
        mm.setFlag(pfn, PG_dirty);
        return false;
      }
    }
    this.dropAll(pfn);
    return true;
  }

  /**
   * shrink_folio_list for one page. `tiers` (a node's reclaim under memory
   * tiering, else null) is offered the page for demotion before it is
   * swapped, counted as `who`. Returns true when the page left RAM.
   */
  evict(pfn: number, tiers: Demoter | null, who: ReclaimWho): boolean {
    const mm = this.memmap;
    const cached = mm.testFlag(pfn, PG_swapcache);
    // Someone besides the mappings (and the swap cache) holds it: a fault or fork is using it.
    if (mm.refcount(pfn) !== mm.mapcount(pfn) + (cached ? 1 : 0)) return this.keep(pfn);
    if (mm.mapcount(pfn) === 0) return cached ? this.dropCached(pfn) : this.keep(pfn);
    this.mode = "inspect";
    this.seen = 0;
    if (this.rmap.walk(pfn, this) !== mm.mapcount(pfn)) return this.keep(pfn);
    if (this.seen & Seen.Locked) return this.mlock(pfn);
    if (mm.testFlag(pfn, PG_lazyfree) && this.seen & Seen.Dirty) {
      // A written MADV_FREE page is ordinary again (folio_mark_dirty + swapbacked).
      mm.clearFlag(pfn, PG_lazyfree);
      mm.setFlag(pfn, PG_dirty);
    }
    if (this.seen & Seen.Droppable || mm.testFlag(pfn, PG_lazyfree)) return this.dropAll(pfn);
    // demote_folio_list: a node's reclaim moves the page to the slow tier when it can.
    if (tiers?.demote(pfn, who)) return true;
    return this.swapOut(pfn, cached);
  }

  private keep(pfn: number): false {
    this.host.keep(pfn);
    return false;
  }

  /**
   * A swap-cache page no entry maps (its entries are swap entries, or it
   * was copied on write): its slot holds its data, so it just leaves the
   * cache and RAM; a dirty one is written first.
   */
  private dropCached(pfn: number): boolean {
    const swap = this.memory.swap as SwapCache;
    const mm = this.memmap;
    if (mm.testFlag(pfn, PG_dirty)) {
      if (!swapWritePage(this.memory.phys, swap.dev, pfn, swap.slotOf(pfn))) return this.keep(pfn);
      mm.clearFlag(pfn, PG_dirty);
    }
    this.chargeToSlot(pfn, swap.slotOf(pfn));
    swap.delete(pfn);
    return true;
  }

  /** mem_cgroup_swapout: the page's charge (if any) moves to its slot, before the cache lets the page go. */
  private chargeToSlot(pfn: number, slot: number): void {
    const swap = this.memory.swap as SwapCache;
    const id = this.memory.memcg.swapout(pfn);
    if (id !== 0) swap.dev.setSwapCgroup(slot, id);
  }

  /** mlock_vma_folio from reclaim: the page is unevictable while a VM_LOCKED VMA maps it. */
  private mlock(pfn: number): false {
    this.host.removed(pfn);
    this.lru.del(pfn);
    this.memmap.clearFlags2(pfn, PG2_referenced);
    this.memmap.setFlags2(pfn, PG2_mlocked);
    this.lru.add(pfn, LRU_UNEVICTABLE);
    return false;
  }

  /** A lazily freeable or droppable page leaves every mapping without I/O. */
  private dropAll(pfn: number): true {
    this.mode = "drop";
    this.rmap.walk(pfn, this);
    this.memory.stats.lazyFreed++;
    return true;
  }

  /** pageout + try_to_unmap: the page goes to its slot and every entry becomes a swap entry. */
  private swapOut(pfn: number, cached: boolean): boolean {
    const swap = this.memory.swap;
    if (swap === null) return this.keep(pfn);
    const mm = this.memmap;
    const slot = cached ? swap.slotOf(pfn) : swap.addToSwap(pfn);
    if (slot < 0) return this.keep(pfn);
    const dirty = !cached || (this.seen & Seen.Dirty) !== 0 || mm.testFlag(pfn, PG_dirty);
    if (dirty && !swapWritePage(this.memory.phys, swap.dev, pfn, slot)) {
      if (!cached) swap.delete(pfn);
      return this.keep(pfn);
    }
    mm.clearFlag(pfn, PG_dirty);
    if (slot < this.shadow.length) this.shadow[slot] = mm.flags2(pfn) & PG2_active ? 2 : 1;
    this.slot = slot;
    this.mode = "swap";
    this.rmap.walk(pfn, this);
    // __remove_mapping: clean, mapped nowhere, only the cache holds it; its charge goes to the slot.
    this.chargeToSlot(pfn, slot);
    swap.delete(pfn);
    return true;
  }

  /** RmapVisitor: one entry of the page being harvested, inspected or unmapped. */
  rmapOne(mm: MmStruct, vma: number, va: number, ptep: number): boolean {
    const pt = mm.pt;
    const flags = pt.pteFlags(ptep);
    const pfn = pt.ptePfn(ptep);
    switch (this.mode) {
      case "young":
        if (flags & PTE_A) {
          this.young++;
          pt.setPte(va, ptep, pfn, (flags & ~PTE_A) >>> 0);
          pt.flushTlb();
        }
        return true;
      case "inspect": {
        const vf = this.memory.vmas.f.flags(vma);
        if (vf & VM_LOCKED) this.seen |= Seen.Locked;
        if (vf & VM_DROPPABLE) this.seen |= Seen.Droppable;
        if (flags & PTE_D) this.seen |= Seen.Dirty;
        return true;
      }
      case "drop":
        pt.clearPte(va, ptep);
        pt.flushTlb();
        this.memory.releaseAnon(mm, pfn);
        return true;
      case "swap": {
        const swap = this.memory.swap as SwapCache;
        swap.dev.dup(this.slot);
        pt.setPte(va, ptep, swpEntryPfn(0, this.slot), swpEntryFlags(0, this.slot));
        pt.flushTlb();
        mm.swapEnts++;
        this.memmap.setMapcount(pfn, this.memmap.mapcount(pfn) - 1);
        mm.rssAnon--;
        this.pages.freePages(pfn, 0);
        return true;
      }
    }
  }
}
