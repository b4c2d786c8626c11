/**
 * The swap cache (Linux mm/swap_state.c): pages that are in RAM and in a
 * swap slot at once, and swap-in, which reads a slot into a page of the
 * cache (or finds it there).
 *
 * A page in the swap cache has PG_swapcache, its slot in struct page word 3
 * (private) and one reference held by the cache; the device's index maps the
 * slot back to the page. A page stays in the cache while the slot is still
 * named by some swap entry (so another address space's swap-in finds it and
 * takes a minor fault) or while it is mapped clean (so paging it out again
 * writes nothing). It leaves when its last user goes: no swap entry names
 * the slot and no page table maps the page; then the slot is freed too.
 *
 * Calls: the swap device (swapfile.ts), slot I/O (page_io.ts), the page
 * allocator and struct page.
 */
import { panic } from "../panic.ts";
import type { PageAllocator } from "./frames.ts";
import { GFP_HIGHUSER_MOVABLE } from "./gfp.ts";
import { type MemMap, PG_anon, PG_swapcache } from "./memmap.ts";
import { swapReadPage } from "./page_io.ts";
import type { PhysMem } from "./physmem.ts";
import type { SwapDevice } from "./swapfile.ts";

/** swapin: no frame could be had. */
export const SWAPIN_NOMEM = -1;
/** swapin: the slot could not be read (an I/O error). */
export const SWAPIN_EIO = -2;

/** The swap cache over the machine's swap device. */
export class SwapCache {
  /** Whether the last swapin read the slot (a major fault) rather than finding it cached. */
  major = false;

  constructor(
    readonly dev: SwapDevice,
    private readonly phys: PhysMem,
    private readonly memmap: MemMap,
    private readonly pages: PageAllocator,
  ) {}

  /** The slot of a page in the swap cache (folio->swap). Panics when the page is not in it. */
  slotOf(pfn: number): number {
    if (!this.memmap.testFlag(pfn, PG_swapcache)) panic(`swap cache: pfn 0x${pfn.toString(16)} is not in the swap cache`);
    return this.memmap.private_(pfn);
  }

  /**
   * folio_alloc_swap + add_to_swap_cache: gives anonymous page `pfn` a free
   * slot and puts it in the cache (the cache takes a reference). Returns the
   * slot, or -1 when no slot could be had.
   */
  addToSwap(pfn: number): number {
    const slot = this.dev.allocSlot(pfn);
    if (slot < 0) return -1;
    this.memmap.setFlag(pfn, PG_swapcache);
    this.memmap.setPrivate(pfn, slot);
    this.pages.getPage(pfn);
    this.dev.nrCached++;
    return slot;
  }

  /**
   * delete_from_swap_cache: the page leaves the cache and the cache's
   * reference is dropped (which frees the page when no one else holds it);
   * the slot is freed when no swap entry names it.
   */
  delete(pfn: number): void {
    const slot = this.slotOf(pfn);
    this.memmap.clearFlag(pfn, PG_swapcache);
    this.memmap.setPrivate(pfn, 0);
    this.dev.nrCached--;
    this.dev.setCache(slot, -1);
    this.pages.freePages(pfn, 0);
  }

  /**
   * The page holding `slot`, with a reference for the caller: from the
   * cache (`major` false), or read from the device into a new page that
   * joins the cache (`major` true). Returns SWAPIN_NOMEM when no frame could
   * be had, SWAPIN_EIO when the read failed (nothing is left behind).
   */
  swapin(slot: number): number {
    this.dev.checkSlot("swapin", slot);
    const cached = this.dev.cachePfn(slot);
    if (cached >= 0) {
      this.major = false;
      this.pages.getPage(cached);
      return cached;
    }
    const pfn = this.pages.allocPages(0, GFP_HIGHUSER_MOVABLE);
    if (pfn < 0) return SWAPIN_NOMEM;
    if (!swapReadPage(this.phys, this.dev, slot, pfn)) {
      this.pages.freePages(pfn, 0);
      return SWAPIN_EIO;
    }
    this.memmap.setFlag(pfn, PG_anon | PG_swapcache);
    this.memmap.setPrivate(pfn, slot);
    this.pages.getPage(pfn);
    this.dev.setCache(slot, pfn);
    this.dev.nrCached++;
    this.major = true;
    return pfn;
  }

  /**
   * free_swap_and_cache: a swap entry naming `slot` is gone (unmapped,
   * dropped, or replaced by the page at swap-in). When it was the last one
   * and the cached page (if any) is mapped nowhere, the page and the slot go.
   */
  freeSwapAndCache(slot: number): void {
    if (this.dev.put(slot) !== 0) return;
    const pfn = this.dev.cachePfn(slot);
    if (pfn >= 0 && this.memmap.mapcount(pfn) === 0) this.delete(pfn);
  }

  /**
   * folio_free_swap: takes a page out of the swap cache (freeing its slot)
   * when no swap entry names the slot any more, as before the page is
   * written in place. Returns true when the page is not in the cache after.
   */
  tryFreeSwap(pfn: number): boolean {
    if (!this.memmap.testFlag(pfn, PG_swapcache)) return true;
    if (this.dev.count(this.slotOf(pfn)) !== 0) return false;
    this.delete(pfn);
    return true;
  }

  /**
   * A page table stopped mapping a page in the swap cache (its mapcount
   * already lowered): when that was the last mapping and no swap entry
   * names the slot, nothing can reach the cached copy any more, so it goes.
   */
  unmapped(pfn: number): void {
    if (this.memmap.mapcount(pfn) === 0 && this.dev.count(this.slotOf(pfn)) === 0) this.delete(pfn);
  }
}
