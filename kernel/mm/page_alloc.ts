/**
 * The buddy page-frame allocator (Linux mm/page_alloc.c), memsim's default
 * frames layer: a FrameAllocator (frames.ts) behind FramePages like any
 * lab's, booted by `buddyFrames` (mm_init.ts).
 *
 * Owns: the zones' free lists and per-CPU lists, split/merge, the zone
 * choice and watermarks. FramePages owns the rest of alloc_pages (order
 * checks, fault injection, shrinkers, failure reports, struct page of
 * allocated pages, zeroing, poisoning). Words: page = 4 KiB frame; block =
 * 2^order pages aligned to their size, named by its head pfn.
 *
 * This file holds the allocator's class: the fast paths (a hit of the
 * running CPU's Normal per-CPU lists, written out for V8's inlining
 * budget: kernel/README.md "Fast paths and the JIT"), the zonelist walk and
 * watermarks, the NUMA counters, setup and the CPU switch. Below it, as
 * module functions over the allocator: the rest of the per-CPU lists
 * (page_alloc_pcp.ts: refill, drain, sizes) and the free areas
 * (page_alloc_lists.ts: the lists, split, merge, fallback).
 *
 * struct page: the records of free frames are the buddy's (memmap.ts): a
 * free block's head holds PG_buddy or PG_pcp, its order and list links; every
 * other record of a free block is zero. A block leaves allocPages with all
 * its records zero and comes back to freePages the same way.
 *
 * Basic algorithm of a free (__free_one_page):
 *   1. the buddy of block (pfn, order) is pfn ^ (1 << order);
 *   2. while the buddy is a free head of the same order in the same zone,
 *      take it off its list and merge: pfn &= ~(1 << order), order += 1;
 *   3. put the (possibly merged) block at the head of its order's list.
 * An allocation takes the smallest order with a free block of its migrate
 * type (pageblock.ts: the gfp mask decides) and splits it, pushing the upper
 * halves on the lower lists (expand); with none of its type it falls back to
 * another type's lists and may claim the page block (page_alloc_lists.ts).
 */
import { type KernelEvents, NO_EVENTS } from "../events.ts";
import { panic } from "../panic.ts";
import type { FrameAllocator, FramesCounters } from "./frames.ts";
import { __GFP_DIRECT_RECLAIM, __GFP_DMA, __GFP_HIGH, __GFP_MOVABLE, __GFP_NOFAIL, __GFP_RECLAIMABLE } from "./gfp.ts";
import { type MemMap, PG_buddy, PG_pcp } from "./memmap.ts";
import { type BuddyLists, BuddyStats, type PerCpuPages, ZONE_DMA, ZONE_NORMAL, type Zone } from "./mmzone.ts";
import type { NumaTopology } from "./numa.ts";
import { checkBuddy } from "./page_alloc_check.ts";
import { addToFreeList, delFromFreeList, freeOnePage, rmqueueBuddy } from "./page_alloc_lists.ts";
import { drainAllPages, freePcpBulk, PCP_MAX_ORDER, pcpPush, rmqueuePcp, setupZonePcp } from "./page_alloc_pcp.ts";
import { buddyStats } from "./page_alloc_stats.ts";
import { gfpMigratetype, MIGRATE_MOVABLE, MIGRATE_TYPES } from "./pageblock.ts";
import type { ZoneVmStat } from "./vmstat.ts";
import { buildZonelists, type Zonelists } from "./zonelist.ts";

/** Largest order a kernel may be built with here (4-bit order field). */
export const MAX_ORDER_LIMIT = 12;
export { PCP_MAX_ORDER } from "./page_alloc_pcp.ts";

const W = 16;
/** An mtOf entry past every per-CPU list index (orders 0..3 times three types): the fast path finds no list. */
const NO_PCP_LIST = 255;
// The fast paths below write W, PG_pcp, __GFP_DMA, PCP_MAX_ORDER, MIGRATE_TYPES and the mobility gfp bits as literals: in V8 every use of
// an imported or module-level constant is a load and a check; these stop a change of the names.
if (
  W !== 16 ||
  PG_pcp !== 4 ||
  __GFP_DMA !== 1 ||
  PCP_MAX_ORDER !== 3 ||
  MIGRATE_TYPES !== 3 ||
  __GFP_MOVABLE !== 8 ||
  __GFP_RECLAIMABLE !== 16 ||
  (__GFP_DMA | __GFP_MOVABLE | __GFP_RECLAIMABLE) !== 0x19
)
  throw new Error("page_alloc.ts: fast-path literals out of date");

/** The buddy allocator over all zones: memsim's default frames layer. */
export class BuddyAllocator implements FrameAllocator, BuddyLists {
  readonly name = "buddy";
  readonly zones: Zone[];
  readonly stats: BuddyStats;
  /** The machine's event bus (mm_buddy_split, mm_buddy_merge). */
  ev: KernelEvents = NO_EVENTS;
  /** memmap.w: the struct page words. */
  readonly w: Uint32Array;
  /** The running CPU's node's highest zone (setCpu): the fast path's zone. */
  private normal: Zone;
  /** The running CPU's node's lowest zone (DMA on node 0). */
  private low: Zone;
  /**
   * The lowest frame freePages puts on `normal`'s list: its first frame when
   * `normal` is the machine's highest zone (every machine of one node, and
   * the last node's CPUs), so one compare, `pfn < fastFreeStart`, sends every
   * other zone's frees to freeOther. On the other nodes' CPUs it is past every
   * frame and all their frees take freeOther: a second bound (pfn below the
   * zone's end) made the fast path too long for V8 to inline the
   * alloc/free pair (13.4 against 18.1 ns; kernel/README.md, "Fast paths").
   */
  private fastFreeStart: number;
  /**
   * `normal`'s page block types (blockTypeAt, indexed by pfn >> pbo) and its
   * page block order: freePages reads them from here, one load each, so its
   * fast path stays small enough for V8 to inline into the caller.
   */
  private normalTypes: Uint8Array;
  private pbo: number;
  /** The running CPU's node (numa.ts). */
  private nid = 0;
  /** The nodes (numa.ts) and each node's zonelist (zonelist.ts). */
  readonly numa: NumaTopology;
  readonly zonelists: Zonelists;
  /** The running CPU's list of `normal` (set by setupPcp and setCpu). */
  private normalPcp: PerCpuPages;
  /** normalPcp.head, one load nearer for the fast paths. */
  private normalHead: Int32Array;
  /** The CPU whose lists allocations and frees use (setCpu). */
  cpu = 0;
  /** CPUs with lists of their own (setupPcp). */
  nrCpus = 1;
  /** Per-CPU NR_FREE_PAGES diffs (vmstat.ts), told of every change of a zone's free pages; null on one CPU. */
  vmstat: ZoneVmStat | null = null;
  /**
   * gfp_migratetype as a table indexed by the gfp bits 0 (__GFP_DMA), 3
   * (__GFP_MOVABLE) and 4 (__GFP_RECLAIMABLE): the migrate type of the
   * request, every entry Movable when the zone does not group by mobility
   * (setupPcp); NO_PCP_LIST when __GFP_DMA is set, so that request finds no
   * Normal per-CPU list on the fast path.
   */
  private readonly mtOf = new Uint8Array(32);

  /** Use buddyFrames (mm_init.ts), which builds the zones and frees the boot ranges. */
  constructor(
    readonly memmap: MemMap,
    zones: Zone[],
    readonly maxOrder: number,
    numa: NumaTopology,
  ) {
    this.zones = zones;
    this.w = memmap.w;
    this.numa = numa;
    this.zonelists = buildZonelists(zones, numa);
    this.normal = zones[this.zonelists.top[0] as number] as Zone;
    this.low = zones[0] as Zone;
    this.fastFreeStart = this.fastStartOf(this.normal);
    this.normalTypes = this.normal.blockTypeAt;
    this.pbo = this.normal.pageblockOrder;
    this.normalPcp = this.normal.pcp0;
    this.normalHead = this.normalPcp.head;
    this.stats = new BuddyStats(new Uint32Array(maxOrder + 1), new Uint32Array(maxOrder + 1));
  }

  /**
   * A block of 2^order pages with all its struct page records zero, or -1.
   * FramePages calls it with 0 <= order <= maxOrder only.
   *
   * The fast path is a per-CPU list hit in the Normal zone above its low
   * watermark; everything else goes through allocSlow. Returns -1 when no
   * zone the gfp mask allows has a free block above its watermark.
   */
  allocPages(order: number, gfp: number): number {
    const zone = this.normal;
    const head = this.normalHead;
    // The list of (order, migrate type); head[li] reads undefined above PCP_MAX_ORDER and for __GFP_DMA (mtOf), and
    // undefined > 0 is false.
    const li = order * 3 + (this.mtOf[gfp & 0x19] as number);
    const h = head[li] as number;
    const n = 1 << order;
    if (h > 0 && zone.freePages - n >= zone.wmarkLow) {
      const w = this.w;
      // A shift and i | 1 (i is a multiple of 16) where pfn * 16 and i + 1 would each carry an overflow check.
      const i = (h - 1) << 4;
      head[li] = w[i | 1] as number;
      w[i] = 0;
      w[i | 1] = 0;
      this.normalPcp.count -= n;
      zone.pgalloc += n;
      return h - 1;
    }
    return this.allocSlow(order, gfp);
  }

  /** Everything but the per-CPU fast path: the running CPU's node's zonelist. */
  private allocSlow(order: number, gfp: number): number {
    return this.allocNode(order, gfp, this.nid, 0);
  }

  /**
   * alloc_pages_node / __alloc_pages with a node mask: node `nid`'s
   * zonelist (the running CPU's node when nid is out of range), only the
   * nodes whose bit is set in `nodemask` (0: every node). Returns -1 when
   * no allowed zone has a free block above its watermark.
   */
  allocPagesNode(order: number, gfp: number, nid: number, nodemask: number): number {
    return this.allocNode(order, gfp, nid >>> 0 < this.numa.nrNodes ? nid : this.nid, nodemask);
  }

  /** The zonelist of node nid in its two passes (zonelist.ts), then the NUMA counters. */
  private allocNode(order: number, gfp: number, nid: number, mask: number): number {
    const mt = this.low.mobility !== 0 ? gfpMigratetype(gfp) : MIGRATE_MOVABLE;
    let pfn = -1;
    if ((gfp & __GFP_DMA) !== 0) {
      const dma = this.zones[ZONE_DMA] as Zone;
      if (dma.freePages - (1 << order) >= dma.wmarkLow) pfn = this.rmqueue(dma, order, mt);
    } else pfn = this.firstPass(order, nid, mask, mt);
    if (pfn < 0) pfn = this.allocFromZonelist(order, gfp, nid, mask, mt);
    if (pfn >= 0) this.account(pfn, order, nid);
    return pfn;
  }

  /** The first pass: each allowed node's top zone in fallback order, at the low watermark. */
  private firstPass(order: number, nid: number, mask: number, mt: number): number {
    const list = this.zonelists.firstPass[nid] as Int32Array;
    for (let i = 0; i < list.length; i++) {
      const zone = this.zones[list[i] as number] as Zone;
      if (mask !== 0 && ((mask >>> zone.nid) & 1) === 0) continue;
      if (zone.freePages - (1 << order) < zone.wmarkLow) continue;
      const pfn = this.rmqueue(zone, order, mt);
      if (pfn >= 0) return pfn;
    }
    return -1;
  }

  /** pgalloc of the page's zone, and zone_statistics when there are several nodes (zonelist.ts). */
  private account(pfn: number, order: number, nid: number): void {
    const zone = this.zoneOf(pfn);
    const n = 1 << order;
    zone.pgalloc += n;
    if (this.numa.nrNodes === 1) return;
    if (zone.nid !== nid) {
      zone.numaMiss += n;
      (this.zones[this.zonelists.top[nid] as number] as Zone).numaForeign += n;
    }
    if (zone.nid !== this.nid) zone.otherNode += n;
  }

  /** A block from the zone: through the per-CPU list for small orders. Its head record is zero. */
  private rmqueue(zone: Zone, order: number, mt: number): number {
    return order <= PCP_MAX_ORDER ? rmqueuePcp(this, zone, order, mt) : rmqueueBuddy(this, zone, order, mt);
  }

  /** The second pass: every allowed zone of the zonelist down to its min watermark (lowered for __GFP_HIGH and atomic requests). */
  private allocFromZonelist(order: number, gfp: number, nid: number, mask: number, mt: number): number {
    const top = (gfp & __GFP_DMA) !== 0 ? ZONE_DMA : ZONE_NORMAL;
    const list = this.zonelists.all[nid] as Int32Array;
    for (let i = 0; i < list.length; i++) {
      const zone = this.zones[list[i] as number] as Zone;
      if (zone.id > top || (mask !== 0 && ((mask >>> zone.nid) & 1) === 0)) continue;
      let mark = this.minMark(zone, gfp);
      if (zone.id < top) mark += zone.lowmemReserve;
      if (zone.freePages - (1 << order) + 1 <= mark && (gfp & __GFP_NOFAIL) === 0) continue;
      const pfn = this.rmqueue(zone, order, mt);
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

  /**
   * Takes back block (pfn, order), its records zero (FramePages cleared them
   * and made every bad-free check). Orders up to PCP_MAX_ORDER go on the
   * running CPU's per-CPU list of (order, the page block's type now), drained
   * by a batch when the CPU's lists of the zone pass their high mark.
   */
  freePages(pfn: number, order: number): void {
    if (order > 3 /* PCP_MAX_ORDER */ || pfn < this.fastFreeStart) {
      this.freeOther(pfn, order);
      return;
    }
    const head = this.normalHead;
    const li = order * 3 + (this.normalTypes[pfn >> this.pbo] as number);
    const w = this.w;
    // FramePages checked pfn (a frame of this machine): a shift and i | 1, as in allocPages.
    const i = pfn << 4;
    w[i] = 4 /* PG_pcp */ | (order << 16);
    w[i | 1] = head[li] as number;
    head[li] = pfn + 1;
    const pcp = this.normalPcp;
    if ((pcp.count += 1 << order) > pcp.high) this.normalOverflow(li);
  }

  /**
   * A block above PCP_MAX_ORDER goes straight to its zone's buddy lists; a
   * small block of another zone (the lowest, or another node's) goes on this
   * CPU's list of its own zone (free_unref_page: the lists are per zone and
   * CPU).
   */
  private freeOther(pfn: number, order: number): void {
    const zone = this.zoneOf(pfn);
    if (order > PCP_MAX_ORDER) {
      freeOnePage(this, zone, pfn, order);
      return;
    }
    const pcp = zone.pcp[this.cpu] as PerCpuPages;
    const mt = zone.blockTypeOf(pfn);
    pcpPush(this.w, pcp, pfn, order, mt);
    if (pcp.count > pcp.high) freePcpBulk(this, zone, pcp, pcp.batch, order * MIGRATE_TYPES + mt);
  }

  /**
   * The running CPU's lists of `normal` past their high mark (the fast free
   * just pushed on list li) give a batch back to the buddy lists, list li first.
   */
  private normalOverflow(li: number): void {
    const pcp = this.normalPcp;
    freePcpBulk(this, this.normal, pcp, pcp.batch, li);
  }

  /** __isolate_free_page for compaction (frames.ts isolateFreeBlock). */
  isolateFreeBlock(pfn: number): number {
    const w = this.w;
    const f = w[pfn * W] ?? 0;
    if ((f & 0xffff) !== PG_buddy) return -1;
    const order = (f >> 16) & 15;
    const zone = this.zoneOf(pfn);
    if (zone.freePages - (1 << order) < zone.wmarkMin) return -1;
    delFromFreeList(this.w, zone, pfn, order);
    zone.freePages -= 1 << order;
    if (this.vmstat !== null) this.vmstat.mod(this.cpu, zone.index, -(1 << order));
    return order;
  }

  /** drain_all_pages (page_alloc_pcp.ts): every CPU's lists back to the buddy lists. */
  drainPcp(): void {
    drainAllPages(this);
  }

  /**
   * Makes `cpu`'s lists the ones allocations and frees use from now on (the
   * running CPU changed, kernel/smp.ts). Panics when the CPU has no lists.
   */
  setCpu(cpu: number): void {
    const nid = this.numa.cpuNode[cpu] ?? 0;
    const top = this.zones[this.zonelists.top[nid] as number] as Zone;
    const bottom = this.zones[this.zonelists.low[nid] as number] as Zone;
    const normal = top.pcp[cpu];
    const low = bottom.pcp[cpu];
    if (normal === undefined || low === undefined) panic(`page_alloc: no per-CPU lists for CPU ${cpu}`);
    this.cpu = cpu;
    this.normal = top;
    this.low = bottom;
    this.normalPcp = normal;
    this.normalHead = normal.head;
    this.fastFreeStart = this.fastStartOf(top);
    this.normalTypes = top.blockTypeAt;
    this.pbo = top.pageblockOrder;
    this.nid = nid;
  }

  /** fastFreeStart for a CPU whose top zone is `top`. */
  private fastStartOf(top: Zone): number {
    return top === this.zones[this.zones.length - 1] ? top.startPfn : 0x7fffffff;
  }

  /** The zone holding pfn (page_zone). */
  zoneOf(pfn: number): Zone {
    const zones = this.zones;
    let i = zones.length - 1;
    while (i > 0 && pfn < (zones[i] as Zone).startPfn) i--;
    return zones[i] as Zone;
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

  /** checkBuddy (page_alloc_check.ts): recounts every list. Throws InvariantViolation (BUDDY-n). */
  check(): void {
    checkBuddy(this);
  }

  /** The `buddy` section of m.stats(): zones, splits, merges, per-CPU lists. */
  statsJson(counters: FramesCounters): unknown {
    return buddyStats(this, counters);
  }

  /**
   * The per-CPU lists of every zone: `batch` pages per refill and drain (0
   * picks Linux's size for the zone, -1 turns the lists off), high as Linux
   * 6.x's zone_highsize: the low watermark, at least four batches. One set
   * of lists per CPU (`nrCpus`, 1..64), all alike; CPU 0's run first.
   */
  setupPcp(pcpBatch: number, nrCpus = 1): void {
    this.nrCpus = nrCpus;
    setupZonePcp(this.zones, pcpBatch, nrCpus);
    this.setCpu(0);
    for (let bits = 0; bits < 32; bits++) {
      const mt = this.normal.mobility !== 0 ? gfpMigratetype(bits) : MIGRATE_MOVABLE;
      this.mtOf[bits] = (bits & __GFP_DMA) !== 0 ? NO_PCP_LIST : mt;
    }
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
      addToFreeList(this.w, zone, pfn, order);
      pfn += 1 << order;
    }
  }
}
