/**
 * The buddy page-frame allocator (Linux mm/page_alloc.c).
 *
 * Owns: the zones' free lists and per-CPU lists, split/merge, watermarks,
 * allocation-failure reports. Calls: memmap (struct page records), physmem
 * (zeroing and poisoning), fault injection. Words: page = 4 KiB frame;
 * block = 2^order pages aligned to their size, named by its head pfn.
 *
 * Basic algorithm of a free (__free_one_page):
 *   1. the buddy of block (pfn, order) is pfn ^ (1 << order);
 *   2. while the buddy is a free head of the same order in the same zone,
 *      take it off its list and merge: pfn &= ~(1 << order), order += 1;
 *   3. put the (possibly merged) block at the head of its order's list.
 * An allocation takes the smallest order with a free block and splits it,
 * pushing the upper halves on the lower lists (expand).
 */
import { type KernelEvents, NO_EVENTS } from "../events.ts";
import { EV_MM_BUDDY_MERGE, EV_MM_BUDDY_SPLIT, EV_MM_PAGE_ALLOC, EV_MM_PAGE_FREE } from "../events_types.ts";
import { BUG_ON, panic } from "../panic.ts";
import type { Printk } from "../printk.ts";
import type { FailPoint } from "./fault_inject.ts";
import {
  __GFP_COMP,
  __GFP_DIRECT_RECLAIM,
  __GFP_DMA,
  __GFP_HIGH,
  __GFP_NOFAIL,
  __GFP_NOWARN,
  __GFP_ZERO,
  formatGfp,
  GFP_KERNEL,
} from "./gfp.ts";
import { FREEABLE_MASK, type MemMap, PG_alloc, PG_buddy, PG_head, PG_pcp, PG_tail } from "./memmap.ts";
import { type PerCpuPages, ZONE_DMA, type Zone } from "./mmzone.ts";
import { badFree } from "./page_alloc_check.ts";
import type { PhysMem } from "./physmem.ts";

/** Largest order a kernel may be built with here (4-bit order field). */
export const MAX_ORDER_LIMIT = 12;
/** Orders cached on per-CPU lists (Linux: up to PAGE_ALLOC_COSTLY_ORDER). */
export const PCP_MAX_ORDER = 3;
/** Byte written over freed pages with page poisoning on (Linux PAGE_POISON). */
export const PAGE_POISON = 0xaa;

/** Something that can give pages back under memory pressure (a shrinker). */
export type Shrinker = (wantPages: number) => number;

/** Counters of the page allocator, exported in stats and vmstat. */
export class BuddyStats {
  allocFailures = 0;
  pcpRefills = 0;
  pcpDrains = 0;
  constructor(
    readonly splits: Uint32Array,
    readonly merges: Uint32Array,
  ) {}
}

const W = 4;
/** gfp bits that need more than the per-CPU fast path. */
const SLOW_GFP = __GFP_DMA | __GFP_COMP;

/** Options of the buddy allocator beyond its shape. */
export interface BuddyOptions {
  /** Linux page_poison=1: fill freed pages with PAGE_POISON. Default false. */
  readonly pagePoison?: boolean;
  /** The machine's event bus (kernel/main.ts hands it over); NO_EVENTS when absent. */
  readonly events?: KernelEvents;
}

/** The buddy allocator over all zones. */
export class BuddyAllocator {
  readonly zones: Zone[];
  readonly stats: BuddyStats;
  readonly failPoint: FailPoint;
  readonly shrinkers: Shrinker[] = [];
  /** Pages freed since boot (vmstat pgfree). */
  pgfree = 0;
  /** Name of the task on whose behalf the kernel allocates (for reports). */
  currentComm = "swapper/0";
  /** page_poison: every freed page is filled with PAGE_POISON (and frees skip the fast path). */
  readonly pagePoison: boolean;
  /** The machine's event bus (mm_page_alloc, mm_page_free, split and merge). */
  readonly ev: KernelEvents;
  private readonly w: Uint32Array;
  private readonly normal: Zone;

  constructor(
    readonly mem: PhysMem,
    readonly memmap: MemMap,
    zones: Zone[],
    readonly maxOrder: number,
    /** 0 none, 1 cheap asserts, 2..3 more checking. */
    readonly debug: number,
    private readonly printk: Printk,
    failPoint: FailPoint,
    opts: BuddyOptions = {},
  ) {
    this.pagePoison = opts.pagePoison === true;
    this.ev = opts.events ?? NO_EVENTS;
    this.zones = zones;
    this.w = memmap.w;
    this.normal = zones[zones.length - 1] as Zone;
    this.stats = new BuddyStats(new Uint32Array(maxOrder + 1), new Uint32Array(maxOrder + 1));
    this.failPoint = failPoint;
  }

  /**
   * alloc_pages: a block of 2^order pages, refcount 1, or -1.
   *
   * The fast path is a per-CPU list hit in the Normal zone above its low
   * watermark with plain flags; everything else goes through allocPagesSlow.
   * Returns -1 when no zone the gfp mask allows has a free block above its
   * watermark, when fault injection says so, or when order > maxOrder (with a
   * failure report unless __GFP_NOWARN).
   * Panics when order is not an integer or is negative.
   */
  allocPages(order: number, gfp: number = GFP_KERNEL): number {
    if ((order & PCP_MAX_ORDER) === order && (gfp & SLOW_GFP) === 0 && !this.failPoint.armed) {
      const zone = this.normal;
      const pcp = zone.pcp0;
      const h = pcp.head[order] as number;
      if (h !== 0 && zone.freePages - (1 << order) >= zone.wmarkLow) {
        const w = this.w;
        const i = (h - 1) * W;
        pcp.head[order] = w[i + 1] as number;
        pcp.count -= 1 << order;
        w[i] = PG_alloc | (order << 16);
        w[i + 1] = 1;
        zone.pgalloc += 1 << order;
        if (gfp & __GFP_ZERO) this.mem.fillPages(h - 1, 1 << order, 0);
        if (this.ev.active[EV_MM_PAGE_ALLOC] !== 0) this.ev.mmPageAlloc(h - 1, order, gfp);
        return h - 1;
      }
    }
    const pfn = this.allocPagesSlow(order, gfp);
    if (this.ev.active[EV_MM_PAGE_ALLOC] !== 0) this.ev.mmPageAlloc(pfn, order, gfp);
    return pfn;
  }

  /** Everything but the per-CPU fast path: checks, fault injection, zone choice, refills. */
  private allocPagesSlow(order: number, gfp: number): number {
    if (!(order >= 0 && order <= this.maxOrder && Number.isInteger(order))) {
      return this.allocBadOrder(order, gfp);
    }
    if (this.failPoint.armed && (gfp & __GFP_NOFAIL) === 0 && this.failPoint.shouldFail(order)) {
      return -1;
    }
    const zone = (gfp & __GFP_DMA) !== 0 ? (this.zones[ZONE_DMA] as Zone) : this.normal;
    let pfn = -1;
    if (zone.freePages - (1 << order) >= zone.wmarkLow) {
      pfn = order <= PCP_MAX_ORDER ? this.rmqueuePcp(zone, order) : this.rmqueueSmallest(zone, order);
    }
    if (pfn < 0) return this.allocSlowpath(order, gfp);
    this.prepNewPage(pfn, order, gfp);
    return pfn;
  }

  private allocBadOrder(order: number, gfp: number): number {
    if (!Number.isInteger(order) || order < 0) panic(`alloc_pages: invalid order ${order}`);
    this.warnAlloc(order, gfp);
    return -1;
  }

  /**
   * The slow path: every allowed zone down to its min watermark (lowered for
   * __GFP_HIGH and atomic requests), then shrinkers, then a failure report.
   */
  private allocSlowpath(order: number, gfp: number): number {
    for (let attempt = 0; attempt < 2; attempt++) {
      const pfn = this.allocFromZonelist(order, gfp);
      if (pfn >= 0) {
        this.prepNewPage(pfn, order, gfp);
        return pfn;
      }
      if (attempt === 0 && !this.runShrinkers(1 << order)) break;
    }
    this.warnAlloc(order, gfp);
    return -1;
  }

  private allocFromZonelist(order: number, gfp: number): number {
    const top = (gfp & __GFP_DMA) !== 0 ? ZONE_DMA : this.zones.length - 1;
    for (let z = top; z >= 0; z--) {
      const zone = this.zones[z] as Zone;
      let mark = this.minMark(zone, gfp);
      if (z !== top) mark += zone.lowmemReserve;
      if (zone.freePages - (1 << order) + 1 <= mark && (gfp & __GFP_NOFAIL) === 0) continue;
      const pfn = order <= PCP_MAX_ORDER ? this.rmqueuePcp(zone, order) : this.rmqueueSmallest(zone, order);
      if (pfn >= 0) return pfn;
    }
    return -1;
  }

  /** The min watermark as this request sees it (Linux ALLOC_MIN_RESERVE / NON_BLOCK). */
  private minMark(zone: Zone, gfp: number): number {
    let min = zone.wmarkMin;
    if (gfp & __GFP_HIGH) {
      min -= Math.floor(min / 2);
      if ((gfp & __GFP_DIRECT_RECLAIM) === 0) min -= Math.floor(min / 4);
    }
    return min;
  }

  private runShrinkers(want: number): boolean {
    let freed = 0;
    for (const s of this.shrinkers) {
      freed += s(want - freed);
      if (freed >= want) break;
    }
    if (freed > 0) this.drainPcp();
    return freed > 0;
  }

  private warnAlloc(order: number, gfp: number): void {
    this.stats.allocFailures++;
    if (gfp & __GFP_NOWARN) return;
    this.printk.report(
      "page_alloc_failure",
      `${this.currentComm}: page allocation failure: order:${order}, mode:0x${gfp.toString(16)}(${formatGfp(gfp)}), nodemask=(null)`,
    );
  }

  /** Marks a block allocated: head flags and order, refcount 1; compound and zeroing as asked. */
  private prepNewPage(pfn: number, order: number, gfp: number): void {
    const w = this.w;
    const i = pfn * W;
    w[i] = PG_alloc | (order << 16);
    w[i + 1] = 1;
    w[i + 2] = 0;
    w[i + 3] = 0;
    this.zoneOf(pfn).pgalloc += 1 << order;
    if (gfp & __GFP_ZERO) this.mem.fillPages(pfn, 1 << order, 0);
    if (gfp & __GFP_COMP && order > 0) this.prepCompound(pfn, order);
  }

  private prepCompound(pfn: number, order: number): void {
    const w = this.w;
    w[pfn * W] = (w[pfn * W] as number) | PG_head;
    for (let t = pfn + 1; t < pfn + (1 << order); t++) {
      w[t * W] = PG_tail;
      w[t * W + 3] = pfn;
    }
  }

  /** Takes one block from the per-CPU list, refilling it from the buddy lists when empty. */
  private rmqueuePcp(zone: Zone, order: number): number {
    const pcp = zone.pcp0;
    if (pcp.head[order] === 0 && !this.pcpRefill(zone, pcp, order)) return -1;
    const w = this.w;
    const pfn = (pcp.head[order] as number) - 1;
    pcp.head[order] = w[pfn * W + 1] as number;
    pcp.count -= 1 << order;
    return pfn;
  }

  /**
   * rmqueue_bulk: moves up to batch pages' worth of blocks to the per-CPU
   * list, in the order taken, so the next allocation gets the first of them.
   */
  private pcpRefill(zone: Zone, pcp: PerCpuPages, order: number): boolean {
    const w = this.w;
    const want = Math.max(1, pcp.batch >> order);
    let tail = -1;
    let got = 0;
    for (; got < want; got++) {
      const pfn = this.rmqueueSmallest(zone, order);
      if (pfn < 0) break;
      this.pcpPush(pcp, pfn, order);
      if (tail >= 0) {
        pcp.head[order] = w[pfn * W + 1] as number;
        w[pfn * W + 1] = w[tail * W + 1] as number;
        w[tail * W + 1] = pfn + 1;
      }
      tail = pfn;
    }
    if (got > 0) this.stats.pcpRefills++;
    return got > 0;
  }

  /** Pushes a block on the front of a per-CPU list. */
  private pcpPush(pcp: PerCpuPages, pfn: number, order: number): void {
    const w = this.w;
    const i = pfn * W;
    w[i] = PG_pcp | (order << 16);
    w[i + 1] = pcp.head[order] as number;
    w[i + 2] = 0;
    w[i + 3] = 0;
    pcp.head[order] = pfn + 1;
    pcp.count += 1 << order;
  }

  /** __rmqueue_smallest: the smallest free block of at least `order`, split down. */
  private rmqueueSmallest(zone: Zone, order: number): number {
    for (let o = order; o <= this.maxOrder; o++) {
      const h = zone.freeHead[o] as number;
      if (h === 0) continue;
      const pfn = h - 1;
      this.delFromFreeList(zone, pfn, o);
      this.expand(zone, pfn, order, o);
      zone.freePages -= 1 << order;
      return pfn;
    }
    return -1;
  }

  /** Splits block (pfn, high) down to `low`, freeing the upper halves. */
  private expand(zone: Zone, pfn: number, low: number, high: number): void {
    while (high > low) {
      high--;
      const upper = pfn + (1 << high);
      this.addToFreeList(zone, upper, high);
      this.stats.splits[high] = (this.stats.splits[high] as number) + 1;
      if (this.ev.active[EV_MM_BUDDY_SPLIT] !== 0) this.ev.buddySplit(pfn, high + 1);
    }
    this.w[pfn * W] = 0;
  }

  private addToFreeList(zone: Zone, pfn: number, order: number): void {
    const w = this.w;
    const i = pfn * W;
    const first = zone.freeHead[order] as number;
    w[i] = PG_buddy | (order << 16);
    w[i + 1] = first;
    w[i + 2] = 0;
    w[i + 3] = 0;
    if (first !== 0) w[(first - 1) * W + 2] = pfn + 1;
    zone.freeHead[order] = pfn + 1;
    zone.nrFree[order] = (zone.nrFree[order] as number) + 1;
  }

  private delFromFreeList(zone: Zone, pfn: number, order: number): void {
    const w = this.w;
    const i = pfn * W;
    const next = w[i + 1] as number;
    const prev = w[i + 2] as number;
    if (prev === 0) zone.freeHead[order] = next;
    else w[(prev - 1) * W + 1] = next;
    if (next !== 0) w[(next - 1) * W + 2] = prev;
    w[i] = 0;
    w[i + 1] = 0;
    w[i + 2] = 0;
    zone.nrFree[order] = (zone.nrFree[order] as number) - 1;
  }

  /**
   * __free_pages: drops one reference to block (pfn, order); frees it when that
   * was the last.
   *
   * Panics when pfn is out of range, not the head of an allocated block of
   * this order (a double free, a free of a reserved frame, a misaligned pfn or
   * a wrong order), or still owned by a layer (slab, page table).
   */
  freePages(pfn: number, order: number): void {
    const w = this.w;
    const i = pfn * W;
    // An out-of-range pfn reads undefined, and undefined & mask is 0: badFree.
    const word0 = w[i] as number;
    if ((word0 & FREEABLE_MASK) !== (PG_alloc | (order << 16)) || (pfn | 0) !== pfn) badFree(this.memmap, this.maxOrder, pfn, order);
    const ref = (w[i + 1] as number) - 1;
    w[i + 1] = ref;
    if (ref !== 0) return;
    if (this.ev.active[EV_MM_PAGE_FREE] !== 0) this.ev.mmPageFree(pfn, order);
    if (word0 === (PG_alloc | (order << 16)) && order <= PCP_MAX_ORDER && !this.pagePoison && pfn >= this.normal.startPfn) {
      // Fast path: a plain page back on the Normal zone's per-CPU list.
      const pcp = this.normal.pcp0;
      w[i] = PG_pcp | (order << 16);
      w[i + 1] = pcp.head[order] as number;
      w[i + 2] = 0;
      w[i + 3] = 0;
      pcp.head[order] = pfn + 1;
      pcp.count += 1 << order;
      this.pgfree += 1 << order;
      // Tail records are only ever written for compound pages (PG_tail on the first tail).
      if (order > 0 && (w[i + W] as number) !== 0) this.memmap.clear(pfn + 1, (1 << order) - 1);
      if (pcp.count > pcp.high) this.freePcpBulk(this.normal, pcp, pcp.batch);
      return;
    }
    this.freePagesOk(pfn, order);
  }

  private freePagesOk(pfn: number, order: number): void {
    this.pgfree += 1 << order;
    if (order > 0) this.memmap.clear(pfn + 1, (1 << order) - 1);
    if (this.pagePoison) this.mem.fillPages(pfn, 1 << order, PAGE_POISON);
    const zone = this.zoneOf(pfn);
    if (order <= PCP_MAX_ORDER) {
      const pcp = zone.pcp0;
      this.pcpPush(pcp, pfn, order);
      if (pcp.count > pcp.high) this.freePcpBulk(zone, pcp, pcp.batch);
      return;
    }
    this.freeOnePage(zone, pfn, order);
  }

  /** __free_one_page: merges with free buddies and puts the block on its list. */
  private freeOnePage(zone: Zone, pfn: number, order: number): void {
    const w = this.w;
    zone.freePages += 1 << order;
    while (order < this.maxOrder) {
      const buddy = pfn ^ (1 << order);
      if (buddy < zone.startPfn || buddy >= zone.endPfn) break;
      if ((w[buddy * W] as number) !== (PG_buddy | (order << 16))) break;
      this.delFromFreeList(zone, buddy, order);
      this.stats.merges[order] = (this.stats.merges[order] as number) + 1;
      if (this.ev.active[EV_MM_BUDDY_MERGE] !== 0) this.ev.buddyMerge(pfn & ~(1 << order), order);
      w[pfn * W] = 0;
      pfn &= ~(1 << order);
      order++;
    }
    this.addToFreeList(zone, pfn, order);
  }

  /** Gives `pages` pages' worth of blocks from a per-CPU list back to the buddy lists. */
  private freePcpBulk(zone: Zone, pcp: PerCpuPages, pages: number): void {
    const w = this.w;
    let order = 0;
    while (pages > 0 && pcp.count > 0) {
      while ((pcp.head[order] as number) === 0) order = (order + 1) % (PCP_MAX_ORDER + 1);
      const pfn = (pcp.head[order] as number) - 1;
      pcp.head[order] = w[pfn * W + 1] as number;
      pcp.count -= 1 << order;
      pages -= 1 << order;
      w[pfn * W] = 0;
      w[pfn * W + 1] = 0;
      this.freeOnePage(zone, pfn, order);
    }
    this.stats.pcpDrains++;
  }

  /** drain_all_pages: every per-CPU list back to the buddy lists. */
  drainPcp(): void {
    for (const zone of this.zones) {
      for (const pcp of zone.pcp) {
        if (pcp.count > 0) this.freePcpBulk(zone, pcp, pcp.count);
      }
    }
  }

  /** get_page: one more reference to an allocated block's head. Panics on a free page. */
  getPage(pfn: number): void {
    const i = pfn * W;
    BUG_ON(((this.w[i] as number) & PG_alloc) === 0, `get_page: pfn 0x${pfn.toString(16)} is not allocated`);
    this.w[i + 1] = (this.w[i + 1] as number) + 1;
  }

  /** The zone holding pfn. */
  zoneOf(pfn: number): Zone {
    return pfn < this.normal.startPfn ? (this.zones[0] as Zone) : this.normal;
  }

  /** Free pages on buddy lists over all zones (MemFree). */
  nrFreePages(): number {
    let n = 0;
    for (const z of this.zones) n += z.freePages;
    return n;
  }

  /** Pages held on per-CPU lists over all zones. */
  nrPcpPages(): number {
    let n = 0;
    for (const z of this.zones) for (const p of z.pcp) n += p.count;
    return n;
  }

  /** Pages the allocator manages (MemTotal). */
  nrManagedPages(): number {
    let n = 0;
    for (const z of this.zones) n += z.managed;
    return n;
  }

  /** Puts a boot-time free range [start, end) on the lists as the largest aligned blocks. */
  freeBootRange(start: number, end: number): void {
    let pfn = start;
    while (pfn < end) {
      let order = this.maxOrder;
      while (order > 0 && ((pfn & ((1 << order) - 1)) !== 0 || pfn + (1 << order) > end)) order--;
      const zone = this.zoneOf(pfn);
      zone.managed += 1 << order;
      zone.freePages += 1 << order;
      this.addToFreeList(zone, pfn, order);
      pfn += 1 << order;
    }
  }
}
