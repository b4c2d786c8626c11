/**
 * Memory compaction (Linux mm/compaction.c): makes high-order blocks free
 * by moving movable pages out of the way.
 *
 * One run over a zone (compact_zone):
 *   - the migrate scanner walks the Movable page blocks up from the bottom
 *     of the zone (Linux's async mode: an Unmovable or Reclaimable block
 *     would not become free anyway); every page migration can move
 *     (migrate.ts: an order-0 anonymous, page-cache or shmem page held by
 *     its mappings and its cache alone) is moved to a free frame; a THP or
 *     a hugetlb page (migrate_huge.ts) moves whole to a free order-9 block
 *     taken where the free scanner takes its targets, and with none a THP
 *     is split and its pages looked at again, a hugetlb page left;
 *   - the free scanner walks Movable page blocks down from the top of the
 *     zone and isolates their free blocks, split into order-0 pages, as the
 *     migration targets (the frames layer's isolateFreeBlock; it refuses
 *     below the zone's min watermark, as Linux's __isolate_free_page);
 *   - after each page block the per-CPU lists are drained so the freed
 *     frames merge; the run ends when a free block of the wanted order
 *     exists (compact_finished; order -1, compact_memory, runs to the end)
 *     or when the scanners meet. Isolated frames left over are freed.
 *
 * Entry points:
 *   compactMemory   echo 1 > /proc/sys/vm/compact_memory: every zone, to the end;
 *   direct          the allocation slow path (frame_pages.ts), for an order
 *                   above PAGE_ALLOC_COSTLY_ORDER that found no block, before
 *                   the shrinkers (compact_stall, then compact_success when a
 *                   block of the order is free after it, else compact_fail);
 *   kcompactd       after kswapd: the largest order a failed allocation woke
 *                   it for (wakeup), every zone;
 *   tick            kcompactd's timer, every 500 ms of the cost clock (read at
 *                   kswapd's safe point after a fault): proactive compaction
 *                   (vm.compaction_proactiveness, default 20) while the
 *                   node's fragmentation score (the share of free frames in
 *                   blocks below 2 MiB, 0..100) is above 100 - p + 10, each
 *                   zone down to 100 - p; a run that did not lower the score
 *                   waits 64 periods. compact_daemon_wake counts the runs.
 *
 * Needs a frames layer with zones and isolateFreeBlock (the buddy); on any
 * other layer every entry point does nothing.
 *
 * Calls: the page allocator (FramePages), migration, the zones' page block types.
 */
import type { FramePages } from "./frame_pages.ts";
import type { FramesZone } from "./frames.ts";
import { HPAGE_ORDER } from "./huge_memory.ts";
import { type MemMap, PG_alloc, PG_head, PG_tail } from "./memmap.ts";
import type { Migrate } from "./migrate.ts";
import { MIGRATE_HUGE_SPLIT } from "./migrate_huge.ts";
import { MIGRATE_MOVABLE } from "./pageblock.ts";
import { HPAGE_PAGES } from "./pgtable_types.ts";

/** The order whose free blocks the fragmentation score counts (COMPACTION_HPAGE_ORDER). */
export const COMPACTION_HPAGE_ORDER = 9;
/** kcompactd's timer period on the cost clock: 500 ms (HZ / 2), in simulated ns. */
export const KCOMPACTD_PERIOD_NS = 500_000_000;
/** A proactive run that did not lower the score defers the next by 2^6 periods (COMPACT_MAX_DEFER_SHIFT). */
const COMPACT_MAX_DEFER_SHIFT = 6;
/** compactZone's order for a proactive run: until the zone's score is at or below the low watermark. */
const ORDER_PROACTIVE = -2;

/** Orders above this are costly (Linux PAGE_ALLOC_COSTLY_ORDER): direct compaction is tried for them. */
export const PAGE_ALLOC_COSTLY_ORDER = 3;

/** The vmstat compact_* counters. */
export class CompactStats {
  /** Direct compactions (compact_stall). */
  compactStall = 0;
  /** Direct compactions after which no block of the order was free (compact_fail). */
  compactFail = 0;
  /** Direct compactions after which a block of the order was free (compact_success). */
  compactSuccess = 0;
  /** Frames the migrate scanner looked at (compact_migrate_scanned). */
  compactMigrateScanned = 0;
  /** Frames the free scanner looked at (compact_free_scanned). */
  compactFreeScanned = 0;
  /** Pages isolated: migration sources and free targets (compact_isolated). */
  compactIsolated = 0;
  /** kcompactd runs (compact_daemon_wake). */
  compactDaemonWake = 0;
}

/** Compaction over the frames layer's zones. */
export class Compaction {
  readonly stats = new CompactStats();
  /** The isolated free frames (a stack of pfns), at most one page block's worth plus a block. */
  private readonly free: Int32Array;
  private nrIsolated = 0;
  /** The free scanner's next page block (its first pfn), moving down. */
  private freePfn = 0;
  /** The order the run in progress works for (-1: to the end, -2: proactive). */
  private goal = -1;
  /** The largest order kcompactd was woken for since its last run (0: not woken). */
  private kcompactdOrder = 0;
  /**
   * vm.compaction_proactiveness (0..100, default 20): how hard kcompactd
   * works on its timer; 0 turns proactive compaction off.
   */
  proactiveness = 20;
  /** When kcompactd's timer next fires, on the cost clock (ns). */
  private nextWakeNs = KCOMPACTD_PERIOD_NS;

  /** When kcompactd's timer next fires, on the cost clock (ns; debug API for tests and reports). */
  get nextWake(): number {
    return this.nextWakeNs;
  }

  constructor(
    private readonly pages: FramePages,
    private readonly migrate: Migrate,
  ) {
    this.free = new Int32Array(2 << pages.maxOrder);
  }

  private get zones(): readonly FramesZone[] {
    return this.pages.layer.isolateFreeBlock === undefined ? [] : (this.pages.layer.zones ?? []);
  }

  /** compact_memory: every zone, scanners run until they meet. */
  compactMemory(): void {
    for (const z of this.zones) this.compactZone(z, -1);
  }

  /**
   * Direct compaction for a failed allocation of `order`: zones from the
   * highest down until one has a free block of the order. Returns true when
   * one has (the caller asks the allocator again).
   */
  direct(order: number): boolean {
    if (this.zones.length === 0) return false;
    this.stats.compactStall++;
    const zones = this.zones;
    for (let i = zones.length - 1; i >= 0; i--) {
      if (this.compactZone(zones[i] as FramesZone, order)) {
        this.stats.compactSuccess++;
        return true;
      }
    }
    this.stats.compactFail++;
    return false;
  }

  /** wakeup_kcompactd: a high-order allocation failed; kcompactd runs for it after the next kswapd. */
  wakeup(order: number): void {
    if (order > this.kcompactdOrder) this.kcompactdOrder = order;
  }

  /** kcompactd: when woken, compacts every zone for the order it was woken for. Returns true when it ran. */
  kcompactd(): boolean {
    const order = this.kcompactdOrder;
    if (order === 0 || this.zones.length === 0) return false;
    this.kcompactdOrder = 0;
    this.stats.compactDaemonWake++;
    for (const z of this.zones) this.compactZone(z, order);
    return true;
  }

  /**
   * kcompactd's timer (the timeout of its wait): called at kswapd's safe
   * point after a fault with the cost clock's `nowNs`. Once every
   * KCOMPACTD_PERIOD_NS, when proactiveness is not 0 and the node's
   * fragmentation score is above the high watermark, compacts every zone
   * until its score is at or below the low one (proactive_compact_node),
   * counting compact_daemon_wake. A run that did not lower the score defers
   * the next by 64 periods, as Linux's. Returns true when it compacted.
   */
  tick(nowNs: number): boolean {
    if (nowNs < this.nextWakeNs) return false;
    this.nextWakeNs = nowNs + KCOMPACTD_PERIOD_NS;
    if (this.proactiveness === 0 || this.zones.length === 0) return false;
    const before = this.fragmentationScore();
    if (before <= this.scoreWmark("high")) return false;
    this.stats.compactDaemonWake++;
    for (const z of this.zones) this.compactZone(z, ORDER_PROACTIVE);
    if (this.fragmentationScore() >= before) this.nextWakeNs = nowNs + KCOMPACTD_PERIOD_NS * (1 << COMPACT_MAX_DEFER_SHIFT);
    return true;
  }

  /**
   * fragmentation_score_node: the zones' scores (zoneScore), each weighted by
   * the zone's share of the node's managed frames; 0..100.
   */
  fragmentationScore(): number {
    const zones = this.zones;
    let pages = 0;
    for (const z of zones) pages += z.managed;
    let score = 0;
    for (const z of zones) score += Math.floor((z.managed * zoneScore(z, this.pages.maxOrder)) / (pages + 1));
    return score;
  }

  /** fragmentation_score_wmark: low = max(100 - proactiveness, 5), high = min(low + 10, 100). */
  scoreWmark(which: "low" | "high"): number {
    const low = Math.max(100 - this.proactiveness, 5);
    return which === "low" ? low : Math.min(low + 10, 100);
  }

  /** __compact_finished: whether the run for `order` may stop (a block of the order is free, or a proactive run's zone score is low enough). */
  private finished(zone: FramesZone, order: number): boolean {
    if (order === ORDER_PROACTIVE) return zoneScore(zone, this.pages.maxOrder) <= this.scoreWmark("low");
    return order >= 0 && hasFreeBlock(zone, order, this.pages.maxOrder);
  }

  /** compact_zone. Returns true when a free block of `order` exists at the end (never for order -1). */
  private compactZone(zone: FramesZone, order: number): boolean {
    const pbo = zone.pageblockOrder ?? this.pages.maxOrder;
    const step = 1 << pbo;
    this.pages.drainPcp();
    if (this.finished(zone, order)) return order >= 0;
    this.freePfn = ((zone.endPfn - 1) >> pbo) << pbo;
    this.goal = order;
    let done = false;
    for (let block = (zone.startPfn >> pbo) << pbo; block < this.freePfn && !done; block += step) {
      const start = Math.max(block, zone.startPfn);
      if (!movableBlock(zone, start)) continue;
      done = !this.migrateBlock(zone, start, Math.min(block + step, zone.endPfn));
      this.pages.drainPcp();
      if (this.finished(zone, order)) break;
    }
    this.releaseFree();
    return order >= 0 && hasFreeBlock(zone, order, this.pages.maxOrder);
  }

  /** The migrate scanner over [start, end): every movable page goes to an isolated free frame. Returns false when targets ran out. */
  private migrateBlock(zone: FramesZone, start: number, end: number): boolean {
    const mm = this.pages.memmap;
    for (let pfn = start; pfn < end && pfn < this.freePfn; pfn++) {
      this.stats.compactMigrateScanned++;
      const huge = this.migrateHuge(zone, pfn);
      if (huge !== 0) {
        // Moved or skipped: past its 512 frames; split: its first page is looked at again, as an order-0 page.
        if (huge > 0) pfn += HPAGE_PAGES - 1;
        else pfn--;
        continue;
      }
      if (!this.migrate.movable(pfn)) {
        // Skip the rest of an allocated block (its tails are not pages of their own).
        if (mm.flags(pfn) & 8 /* PG_alloc */) pfn += (1 << mm.order(pfn)) - 1;
        continue;
      }
      if (this.nrIsolated === 0 && !this.isolateFreePages(zone, pfn)) return false;
      this.stats.compactIsolated++;
      const target = this.free[--this.nrIsolated] as number;
      if (this.migrate.migratePage(pfn, target) < 0) this.free[this.nrIsolated++] = target;
    }
    return true;
  }

  /**
   * A THP or hugetlb page headed at `pfn` goes to a free order-9 block
   * above it (hugeTarget), or, with none, a THP is split (its pages are then
   * migrated one by one) and a hugetlb page stays; in a run for an order of
   * 9 or less it is skipped. Returns 0 when `pfn` heads neither, -1 when a
   * THP was split, else 1.
   */
  private migrateHuge(zone: FramesZone, pfn: number): number {
    const huge = this.migrate.huge;
    const thp = huge.isThp(pfn);
    if (!thp && !huge.isHugetlb(pfn)) return 0;
    // For a request of 2 MiB or less, moving a 2 MiB page cannot help (a free block for it would serve the request)
    // and splitting one would undo a huge page to make another: skipped, as Linux's compaction skips compound pages.
    if (this.goal >= 0 && this.goal <= HPAGE_ORDER) return 1;
    this.stats.compactIsolated++;
    const to = this.hugeTarget(zone, pfn);
    const got = thp ? huge.migrateThp(pfn, to) : huge.migrateHugetlb(pfn, to);
    if (got < 0 && to >= 0) this.pages.freePages(to, HPAGE_ORDER);
    return got === MIGRATE_HUGE_SPLIT ? -1 : 1;
  }

  /**
   * alloc_migration_target for a 2 MiB page, taken where the free scanner
   * takes its targets: going down from the free scanner's next block to
   * `above`, the first 2 MiB-aligned free block of order 9 or more in a
   * Movable page block, isolated as the free scanner isolates (the frames
   * layer's isolateFreeBlock: not below the min watermark) and made an
   * order-9 compound page (refcount 1). Smaller free blocks met on the way
   * and the rest of a larger block join the isolated order-0 targets. The
   * free scanner continues below the block taken, so the migrate scanner
   * never meets the page again. Returns -1 when there is none.
   */
  private hugeTarget(zone: FramesZone, above: number): number {
    const pbo = zone.pageblockOrder ?? this.pages.maxOrder;
    for (let p = this.freePfn - (this.freePfn % HPAGE_PAGES); p > above && p >= zone.startPfn; p -= HPAGE_PAGES) {
      if (!movableBlock(zone, p)) continue;
      this.stats.compactFreeScanned++;
      const order = this.pages.isolateFree(p);
      if (order < 0) continue;
      this.stats.compactIsolated += 1 << order;
      if (order < HPAGE_ORDER) {
        this.keepTargets(p, p + (1 << order));
        continue;
      }
      this.keepTargets(p + HPAGE_PAGES, p + (1 << order));
      makeCompound(this.pages.memmap, p, HPAGE_ORDER);
      this.freePfn = ((p >> pbo) << pbo) - (1 << pbo);
      return p;
    }
    return -1;
  }

  /** Isolated order-0 frames [from, to) join the targets (back to the allocator past the stack's room). */
  private keepTargets(from: number, to: number): void {
    for (let q = from; q < to; q++) {
      if (this.nrIsolated < this.free.length) this.free[this.nrIsolated++] = q;
      else this.pages.freePages(q, 0);
    }
  }

  /**
   * The free scanner: isolates the free blocks of Movable page blocks from
   * the top down, one page block at a time, staying above `above`. Returns
   * false when the scanners met with nothing isolated.
   */
  private isolateFreePages(zone: FramesZone, above: number): boolean {
    const pbo = zone.pageblockOrder ?? this.pages.maxOrder;
    while (this.nrIsolated === 0 && this.freePfn > above) {
      const start = Math.max(this.freePfn, zone.startPfn);
      const end = Math.min(this.freePfn + (1 << pbo), zone.endPfn);
      if (movableBlock(zone, start)) this.isolateRange(start, end);
      this.freePfn -= 1 << pbo;
    }
    return this.nrIsolated > 0;
  }

  private isolateRange(start: number, end: number): void {
    for (let pfn = start; pfn < end; ) {
      this.stats.compactFreeScanned++;
      const order = this.pages.isolateFree(pfn);
      if (order < 0) {
        pfn++;
        continue;
      }
      for (let p = pfn; p < pfn + (1 << order); p++) this.free[this.nrIsolated++] = p;
      this.stats.compactIsolated += 1 << order;
      pfn += 1 << order;
    }
  }

  /** release_freepages: the isolated frames left over go back to the allocator. */
  private releaseFree(): void {
    while (this.nrIsolated > 0) this.pages.freePages(this.free[--this.nrIsolated] as number, 0);
    this.pages.drainPcp();
  }
}

/** prep_compound_page over `order` isolated order-0 pages from `head` (each refcount 1): one compound page, refcount 1. */
function makeCompound(mm: MemMap, head: number, order: number): void {
  mm.setHead(head, PG_alloc | PG_head, order);
  for (let t = head + 1; t < head + (1 << order); t++) {
    mm.setHead(t, PG_tail, 0);
    mm.setRefcount(t, 0);
    mm.setPrivate(t, head);
  }
}

/** Whether pfn's page block is Movable (every block is, for a layer without migrate types). */
function movableBlock(zone: FramesZone, pfn: number): boolean {
  const types = zone.blockType;
  if (types === undefined) return true;
  const pbo = zone.pageblockOrder ?? 0;
  return types[(pfn >> pbo) - (zone.startPfn >> pbo)] === MIGRATE_MOVABLE;
}

/** Whether the zone has a free block of `order` or larger. */
function hasFreeBlock(zone: FramesZone, order: number, maxOrder: number): boolean {
  for (let o = order; o <= maxOrder; o++) if ((zone.nrFree[o] as number) > 0) return true;
  return false;
}

/**
 * fragmentation_score_zone (extfrag_for_order at COMPACTION_HPAGE_ORDER):
 * the percentage of the zone's free frames that lie in free blocks smaller
 * than 2 MiB; 0 when nothing is free.
 */
export function zoneScore(zone: FramesZone, maxOrder: number): number {
  let free = 0;
  let suitable = 0;
  for (let o = 0; o <= maxOrder; o++) {
    const n = zone.nrFree[o] as number;
    free += n << o;
    if (o >= COMPACTION_HPAGE_ORDER) suitable += n << o;
  }
  return free === 0 ? 0 : Math.floor(((free - suitable) * 100) / free);
}

/** The compact_* lines of /proc/vmstat, in Linux's order. */
export function compactVmstat(c: Compaction, out: Array<[string, number]>): void {
  const s = c.stats;
  out.push(
    ["compact_migrate_scanned", s.compactMigrateScanned],
    ["compact_free_scanned", s.compactFreeScanned],
    ["compact_isolated", s.compactIsolated],
    ["compact_stall", s.compactStall],
    ["compact_fail", s.compactFail],
    ["compact_success", s.compactSuccess],
    ["compact_daemon_wake", s.compactDaemonWake],
  );
}
