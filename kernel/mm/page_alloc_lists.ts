/**
 * The buddy's free areas: the free lists by order and migrate type, the
 * split of a block taken from them and the merge of one given back, and the
 * fallback that steals from another type when a request's own lists are
 * empty (Linux mm/page_alloc.c: __add_to_free_list, __rmqueue_smallest,
 * expand, __free_one_page, move_freepages_block, __rmqueue_fallback).
 * Module functions over a zone and the struct page words (the split and
 * merge over the allocator's FreeAreaOwner view of itself), below the
 * per-CPU lists (page_alloc_pcp.ts); page_alloc.ts keeps the zone choice
 * and the fast paths.
 *
 * A free block sits on the list of its head's page block type; its head
 * record holds PG_buddy | order << 16, next + 1, prev + 1 and the type (word
 * 3). Changing a page block's type moves the free blocks whose head lies in
 * it to the new type's lists, so that rule always holds (BUDDY-9 checks it).
 *
 * Fallback, simplified from Linux 6.x and documented in kernel/LINUX.md:
 *   1. look through the fallback types (pageblock.ts FALLBACKS) from the
 *      largest order down to the request's, and take the first free block;
 *   2. claim its page block for the request's type when the block is at
 *      least a page block (every page block it covers changes type), or when
 *      the request is Unmovable/Reclaimable or of order >= pageblock_order/2
 *      and at least half the page block's frames are free;
 *   3. the caller splits the block as usual: split halves go to the lists of
 *      their page block's type (the request's when claimed).
 */
import type { KernelEvents } from "../events.ts";
import { EV_MM_BUDDY_MERGE, EV_MM_BUDDY_SPLIT } from "../events_types.ts";
import { panic } from "../panic.ts";
import { PG_alloc, PG_buddy, PG_pcp } from "./memmap.ts";
import type { BuddyStats, Zone } from "./mmzone.ts";
import { FALLBACKS, MIGRATE_MOVABLE, MIGRATE_TYPES } from "./pageblock.ts";
import type { ZoneVmStat } from "./vmstat.ts";

const W = 16;

/** Puts a free block on the list of its page block's type, at the front. */
export function addToFreeList(w: Uint32Array, zone: Zone, pfn: number, order: number): void {
  const i = pfn * W;
  const mt = zone.blockType[(pfn >> zone.pageblockOrder) - (zone.startPfn >> zone.pageblockOrder)] as number;
  const li = order * MIGRATE_TYPES + mt;
  const first = zone.freeHead[li] as number;
  w[i] = PG_buddy | (order << 16);
  w[i + 1] = first;
  w[i + 2] = 0;
  w[i + 3] = mt;
  if (first !== 0) w[(first - 1) * W + 2] = pfn + 1;
  zone.freeHead[li] = pfn + 1;
  zone.nrFree[order] = (zone.nrFree[order] as number) + 1;
  zone.nrFreeMt[li] = (zone.nrFreeMt[li] as number) + 1;
}

/** Takes a free block off its list (the type in its word 3), leaving its head record zero. */
export function delFromFreeList(w: Uint32Array, zone: Zone, pfn: number, order: number): void {
  const i = pfn * W;
  const li = order * MIGRATE_TYPES + (w[i + 3] as number);
  const next = w[i + 1] as number;
  const prev = w[i + 2] as number;
  if (prev === 0) zone.freeHead[li] = next;
  else w[(prev - 1) * W + 1] = next;
  if (next !== 0) w[(next - 1) * W + 2] = prev;
  w[i] = 0;
  w[i + 1] = 0;
  w[i + 2] = 0;
  w[i + 3] = 0;
  zone.nrFree[order] = (zone.nrFree[order] as number) - 1;
  zone.nrFreeMt[li] = (zone.nrFreeMt[li] as number) - 1;
}

/** The first pfn of the page block holding pfn, and the block's end clamped to the zone. */
function blockRange(zone: Zone, pfn: number): [number, number] {
  const start = Math.max(zone.startPfn, (pfn >> zone.pageblockOrder) << zone.pageblockOrder);
  const end = Math.min(zone.endPfn, ((pfn >> zone.pageblockOrder) + 1) << zone.pageblockOrder);
  return [start, end];
}

/**
 * Free frames on the buddy lists whose block head lies in pfn's page block;
 * with `move`, those blocks are put back on the lists of the block's
 * (new) type (move_freepages_block).
 */
export function walkFreeBlocks(w: Uint32Array, zone: Zone, pfn: number, what: "count" | "move"): number {
  const [start, end] = blockRange(zone, pfn);
  let free = 0;
  for (let p = start; p < end; ) {
    const f = w[p * W] as number;
    const order = (f >> 16) & 15;
    if (f & PG_buddy) {
      free += 1 << order;
      if (what === "move") {
        delFromFreeList(w, zone, p, order);
        addToFreeList(w, zone, p, order);
      }
      p += 1 << order;
    } else p += f & PG_alloc ? 1 << order : 1;
  }
  return free;
}

/** set_pageblock_migratetype on every page block of [pfn, pfn + 2^order), then moves their free blocks. */
export function setBlockTypes(w: Uint32Array, zone: Zone, pfn: number, order: number, mt: number): void {
  const step = 1 << zone.pageblockOrder;
  const end = Math.min(zone.endPfn, pfn + (1 << order));
  for (let p = pfn; p < end; p += step) {
    const from = zone.blockType[zone.blockIndex(p)] as number;
    zone.blockType[zone.blockIndex(p)] = mt;
    walkFreeBlocks(w, zone, p, "move");
    if (from !== mt) relistPcpBlock(w, zone, p, from, mt);
  }
}

/**
 * The per-CPU pages whose head lies in pfn's page block, which changed type
 * from `from` to `to`, move to their CPU's list of the new type, so a pcp
 * page always sits on its block's type's list (BUDDY-9). Rare (a claimed
 * page block), so each is found by walking the lists.
 */
function relistPcpBlock(w: Uint32Array, zone: Zone, pfn: number, from: number, to: number): void {
  const [start, end] = blockRange(zone, pfn);
  for (let p = start; p < end; ) {
    const f = w[p * W] as number;
    const order = (f >> 16) & 15;
    if ((f & 0xffff) === PG_pcp) relistPcp(w, zone, p, order * MIGRATE_TYPES + from, order * MIGRATE_TYPES + to);
    p += f & (PG_alloc | PG_buddy | PG_pcp) ? 1 << order : 1;
  }
}

/** Moves per-CPU page pfn from list `from` of whichever CPU holds it to the same CPU's list `to`. Panics when no CPU holds it there. */
function relistPcp(w: Uint32Array, zone: Zone, pfn: number, from: number, to: number): void {
  for (const pcp of zone.pcp) {
    let prev = -1;
    for (let h = pcp.head[from] as number; h !== 0; h = w[(h - 1) * W + 1] as number) {
      if (h - 1 !== pfn) {
        prev = h - 1;
        continue;
      }
      const next = w[pfn * W + 1] as number;
      if (prev < 0) pcp.head[from] = next;
      else w[prev * W + 1] = next;
      w[pfn * W + 1] = pcp.head[to] as number;
      pcp.head[to] = pfn + 1;
      return;
    }
  }
  panic(`page_alloc: pcp page 0x${pfn.toString(16)} is on no CPU's list ${from}`);
}

/**
 * __rmqueue_fallback's choice: a free block of another type of order >=
 * `order` (largest first), its page block claimed for `mt` when the rules
 * above allow. Returns the block's head pfn (still on a free list), or -1
 * when no fallback type has a free block that large.
 */
export function findFallback(w: Uint32Array, zone: Zone, maxOrder: number, order: number, mt: number): number {
  const fallbacks = FALLBACKS[mt] as readonly number[];
  for (let o = maxOrder; o >= order; o--) {
    for (const ft of fallbacks) {
      const h = zone.freeHead[o * MIGRATE_TYPES + ft] as number;
      if (h === 0) continue;
      tryClaimBlock(w, zone, h - 1, o, order, mt);
      return h - 1;
    }
  }
  return -1;
}

function tryClaimBlock(w: Uint32Array, zone: Zone, pfn: number, blockOrder: number, order: number, mt: number): void {
  const pbo = zone.pageblockOrder;
  if (blockOrder >= pbo) {
    setBlockTypes(w, zone, pfn, blockOrder, mt);
    return;
  }
  if (mt === MIGRATE_MOVABLE && order < pbo >> 1) return;
  const [start, end] = blockRange(zone, pfn);
  if (walkFreeBlocks(w, zone, pfn, "count") * 2 < end - start) return;
  setBlockTypes(w, zone, start, 0, mt);
}

/** What the free-area code reads of the buddy allocator (page_alloc.ts BuddyAllocator implements it). */
export interface FreeAreaOwner {
  /** memmap.w: the struct page words. */
  readonly w: Uint32Array;
  readonly maxOrder: number;
  readonly stats: BuddyStats;
  /** The machine's event bus (mm_buddy_split, mm_buddy_merge). */
  readonly ev: KernelEvents;
  /** Per-CPU NR_FREE_PAGES diffs, told of every change of a zone's free pages; null on one CPU. */
  readonly vmstat: ZoneVmStat | null;
  /** The running CPU. */
  readonly cpu: number;
}

/** __rmqueue: a block of the request's type, else one taken from another type's lists (fallback). */
export function rmqueueBuddy(b: FreeAreaOwner, zone: Zone, order: number, mt: number): number {
  const pfn = rmqueueSmallest(b, zone, order, mt);
  if (pfn >= 0 || zone.mobility === 0) return pfn;
  const head = findFallback(b.w, zone, b.maxOrder, order, mt);
  if (head < 0) return -1;
  takeFree(b, zone, head, ((b.w[head * W] as number) >> 16) & 15, order);
  return head;
}

/** __rmqueue_smallest: the smallest free block of type mt of at least `order`, split down; its head record is zero. */
export function rmqueueSmallest(b: FreeAreaOwner, zone: Zone, order: number, mt: number): number {
  for (let o = order; o <= b.maxOrder; o++) {
    const h = zone.freeHead[o * MIGRATE_TYPES + mt] as number;
    if (h === 0) continue;
    takeFree(b, zone, h - 1, o, order);
    return h - 1;
  }
  return -1;
}

/** Takes free block (pfn, high) off its list and splits it down to `order`. */
function takeFree(b: FreeAreaOwner, zone: Zone, pfn: number, high: number, order: number): void {
  delFromFreeList(b.w, zone, pfn, high);
  expand(b, zone, pfn, order, high);
  zone.freePages -= 1 << order;
  if (b.vmstat !== null) b.vmstat.mod(b.cpu, zone.index, -(1 << order));
}

/** Splits block (pfn, high) down to `low`, freeing the upper halves. */
function expand(b: FreeAreaOwner, zone: Zone, pfn: number, low: number, high: number): void {
  while (high > low) {
    high--;
    const upper = pfn + (1 << high);
    addToFreeList(b.w, zone, upper, high);
    b.stats.splits[high] = (b.stats.splits[high] as number) + 1;
    if (b.ev.active[EV_MM_BUDDY_SPLIT] !== 0) b.ev.buddySplit(pfn, high + 1);
  }
}

/** __free_one_page: merges with free buddies and puts the block on its list. */
export function freeOnePage(b: FreeAreaOwner, zone: Zone, pfn: number, order: number): void {
  const w = b.w;
  zone.freePages += 1 << order;
  if (b.vmstat !== null) b.vmstat.mod(b.cpu, zone.index, 1 << order);
  while (order < b.maxOrder) {
    const buddy = pfn ^ (1 << order);
    if (buddy < zone.startPfn || buddy >= zone.endPfn) break;
    if ((w[buddy * W] as number) !== (PG_buddy | (order << 16))) break;
    delFromFreeList(w, zone, buddy, order);
    b.stats.merges[order] = (b.stats.merges[order] as number) + 1;
    if (b.ev.active[EV_MM_BUDDY_MERGE] !== 0) b.ev.buddyMerge(pfn & ~(1 << order), order);
    w[pfn * W] = 0;
    pfn &= ~(1 << order);
    order++;
  }
  addToFreeList(w, zone, pfn, order);
}
