/**
 * The buddy's per-CPU page lists off its fast paths (Linux mm/page_alloc.c:
 * rmqueue_pcplist, rmqueue_bulk, free_pcppages_bulk, drain_all_pages,
 * zone_pcp_init's sizes).
 *
 * Each zone has, for each CPU, one singly linked list per (order up to
 * PCP_MAX_ORDER, migrate type) (mmzone.ts PerCpuPages): a block on it has
 * PG_pcp | order << 16 in its head record and the next block's pfn + 1 in
 * word 1. The hit of the running CPU's Normal lists, on allocation and on
 * free, is written out in page_alloc.ts (its fast paths, sized for V8's
 * inlining budget); this file holds the rest: a list of any zone taken
 * from and refilled by a batch from the free areas (page_alloc_lists.ts),
 * a push, a batch given back when a CPU's lists pass their high mark, the
 * drain of every CPU's lists, and the lists' sizes at boot.
 */
import { type MemMap, PG_pcp } from "./memmap.ts";
import { PerCpuPages, pcpBatchFor, type Zone } from "./mmzone.ts";
import { type FreeAreaOwner, freeOnePage, rmqueueBuddy, rmqueueSmallest } from "./page_alloc_lists.ts";
import { MIGRATE_TYPES } from "./pageblock.ts";

/** Orders cached on per-CPU lists (Linux: up to PAGE_ALLOC_COSTLY_ORDER). */
export const PCP_MAX_ORDER = 3;

const W = 16;

/** What the per-CPU list code reads of the buddy allocator (page_alloc.ts BuddyAllocator implements it). */
export interface PcpOwner extends FreeAreaOwner {
  readonly zones: readonly Zone[];
  readonly memmap: MemMap;
  /** CPUs with lists of their own. */
  readonly nrCpus: number;
}

/**
 * Takes one block from the running CPU's list of (order, mt) in `zone`,
 * refilling it from the buddy lists of type mt when empty; with none of
 * that type, one block comes from the fallback straight to the caller (its
 * page block may be of another type, and a pcp page stays on its block's
 * type's list).
 */
export function rmqueuePcp(b: PcpOwner, zone: Zone, order: number, mt: number): number {
  const pcp = zone.pcp[b.cpu] as PerCpuPages;
  const li = order * MIGRATE_TYPES + mt;
  if (pcp.head[li] === 0 && !pcpRefill(b, zone, pcp, order, mt)) return rmqueueBuddy(b, zone, order, mt);
  const w = b.w;
  const pfn = (pcp.head[li] as number) - 1;
  pcp.head[li] = w[pfn * W + 1] as number;
  pcp.count -= 1 << order;
  w[pfn * W] = 0;
  w[pfn * W + 1] = 0;
  return pfn;
}

/**
 * rmqueue_bulk: moves up to batch pages' worth of blocks of type mt to the
 * per-CPU list of (order, mt), in the order taken, so the next allocation
 * gets the first of them. Takes no fallback blocks (rmqueuePcp does).
 */
function pcpRefill(b: PcpOwner, zone: Zone, pcp: PerCpuPages, order: number, mt: number): boolean {
  const w = b.w;
  const li = order * MIGRATE_TYPES + mt;
  const want = Math.max(1, pcp.batch >> order);
  let tail = -1;
  let got = 0;
  for (; got < want; got++) {
    const pfn = rmqueueSmallest(b, zone, order, mt);
    if (pfn < 0) break;
    pcpPush(w, pcp, pfn, order, mt);
    if (tail >= 0) {
      pcp.head[li] = w[pfn * W + 1] as number;
      w[pfn * W + 1] = w[tail * W + 1] as number;
      w[tail * W + 1] = pfn + 1;
    }
    tail = pfn;
  }
  if (got > 0) b.stats.pcpRefills++;
  return got > 0;
}

/** Pushes a block whose records are zero on the front of the per-CPU list of (order, mt). */
export function pcpPush(w: Uint32Array, pcp: PerCpuPages, pfn: number, order: number, mt: number): void {
  const i = pfn * W;
  const li = order * MIGRATE_TYPES + mt;
  w[i] = PG_pcp | (order << 16);
  w[i + 1] = pcp.head[li] as number;
  pcp.head[li] = pfn + 1;
  pcp.count += 1 << order;
}

/**
 * free_pcppages_bulk: gives `pages` pages' worth of blocks from a CPU's
 * lists back to the buddy lists, list `first` first (Linux 6.x drains the
 * list the overflowing free went to: "ensure requested pindex is drained
 * first"), then the others in turn (index order * MIGRATE_TYPES + type,
 * wrapping); each block goes to its page block's type's free list. A list
 * is taken from its head (Linux takes the cold end, its tail: memsim's
 * lists are singly linked).
 */
export function freePcpBulk(b: FreeAreaOwner, zone: Zone, pcp: PerCpuPages, pages: number, first: number): void {
  const w = b.w;
  const lists = pcp.head.length;
  let li = first;
  while (pages > 0 && pcp.count > 0) {
    while ((pcp.head[li] as number) === 0) li = (li + 1) % lists;
    const order = (li / MIGRATE_TYPES) | 0;
    const pfn = (pcp.head[li] as number) - 1;
    pcp.head[li] = w[pfn * W + 1] as number;
    pcp.count -= 1 << order;
    pages -= 1 << order;
    w[pfn * W] = 0;
    w[pfn * W + 1] = 0;
    freeOnePage(b, zone, pfn, order);
  }
  b.stats.pcpDrains++;
}

/**
 * drain_all_pages: every CPU's lists back to the buddy lists. Linux queues
 * a drain work item on each CPU that holds pages (an IPI's worth of work);
 * memsim drains them in place and counts the call and the work items
 * (stats.drainAll, stats.drainWork).
 */
export function drainAllPages(b: PcpOwner): void {
  b.stats.drainAll++;
  for (let c = 0; c < b.nrCpus; c++) {
    let held = 0;
    for (const zone of b.zones) held += (zone.pcp[c] as PerCpuPages).count;
    if (held === 0) continue;
    b.stats.drainWork++;
    for (const zone of b.zones) {
      const pcp = zone.pcp[c] as PerCpuPages;
      if (pcp.count > 0) freePcpBulk(b, zone, pcp, pcp.count, 0);
    }
  }
}

/**
 * The per-CPU lists of every zone: `batch` pages per refill and drain (0
 * picks Linux's size for the zone, -1 turns the lists off), high as Linux
 * 6.x's zone_highsize: the low watermark, at least four batches. One set
 * of lists per CPU (`nrCpus`), all alike.
 */
export function setupZonePcp(zones: readonly Zone[], pcpBatch: number, nrCpus: number): void {
  for (const z of zones) {
    const batch = pcpBatch > 0 ? pcpBatch : pcpBatchFor(z.managed);
    const pcpOn = pcpBatch >= 0;
    const high = Math.max(4 * batch, z.wmarkLow);
    z.pcp = [];
    for (let c = 0; c < nrCpus; c++) z.pcp.push(new PerCpuPages(PCP_MAX_ORDER + 1, pcpOn ? batch : 1, pcpOn ? high : 0));
    z.pcp0 = z.pcp[0] as PerCpuPages;
  }
}
