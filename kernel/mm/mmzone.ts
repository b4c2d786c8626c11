/**
 * Zones: DMA (the first 16 MiB) and Normal (the rest), each with its buddy
 * free lists, free-page count, watermarks and per-CPU page lists.
 *
 * A zone's free lists are intrusive doubly linked lists threaded through the
 * struct page records of block heads (words 1 and 2 hold next/prev pfn + 1,
 * word 3 the list's migrate type); there is one list per order and migrate
 * type (pageblock.ts): `freeHead[order * MIGRATE_TYPES + type]` holds the
 * first head's pfn + 1 (0 = empty). Per-CPU lists are singly linked the same
 * way through word 1, one per order and migrate type as Linux's pcp lists:
 * `head[order * MIGRATE_TYPES + type]`; a page sits on the list of its page
 * block's type.
 */

import type { MemMap } from "./memmap.ts";
import type { NumaTopology } from "./numa.ts";
import { MIGRATE_MOVABLE, MIGRATE_TYPES } from "./pageblock.ts";

/** Zone indexes, lowest first. */
export const ZONE_DMA = 0;
export const ZONE_NORMAL = 1;
export const ZONE_NAMES = ["DMA", "Normal"] as const;
/** Frames below this pfn are in ZONE_DMA: 16 MiB. */
export const DMA_END_PFN = (16 << 20) / 4096;

/** Per-CPU page lists for one CPU and one zone, orders 0..PCP_MAX_ORDER, one per migrate type. */
export class PerCpuPages {
  /** Head pfn + 1 of each list (0 = empty), index order * MIGRATE_TYPES + type (Linux order_to_pindex). */
  readonly head: Int32Array;
  /** Pages held over all orders (the per-order block counts are recounted by walking, when asked). */
  count = 0;

  constructor(
    /** Orders the lists serve: there are orders * MIGRATE_TYPES lists. */
    orders: number,
    /** Pages moved per refill or drain. */
    readonly batch: number,
    /** Drain when `count` exceeds this. */
    readonly high: number,
  ) {
    this.head = new Int32Array(orders * MIGRATE_TYPES);
  }
}

/** Counters of the buddy allocator, shown in its stats. */
export class BuddyStats {
  pcpRefills = 0;
  pcpDrains = 0;
  /** drain_all_pages calls (m.dropCaches, a failing allocation's last try, drainPcp). */
  drainAll = 0;
  /** Per-CPU drain work items those calls queued: one per CPU that held pages. */
  drainWork = 0;
  constructor(
    readonly splits: Uint32Array,
    readonly merges: Uint32Array,
  ) {}
}

/** What the buddy allocator's checker and stats read (page_alloc.ts BuddyAllocator is one). */
export interface BuddyLists {
  readonly zones: readonly Zone[];
  readonly maxOrder: number;
  readonly memmap: MemMap;
  readonly stats: BuddyStats;
  /** CPUs with per-CPU lists: every zone's `pcp` has this many. */
  readonly nrCpus: number;
  /** The nodes the zones are on (numa.ts). */
  readonly numa: NumaTopology;
}

/** One zone of physical memory. */
export class Zone {
  /** Free pages on the buddy lists (per-CPU pages are not counted, as in Linux). */
  freePages = 0;
  /** Pages the allocator manages: present minus reserved. */
  managed = 0;
  wmarkMin = 0;
  wmarkLow = 0;
  wmarkHigh = 0;
  /** Extra pages kept free against fallback from higher zones (lowmem_reserve). */
  lowmemReserve = 0;
  /** Pages allocated from this zone since boot (vmstat pgalloc_<zone>). */
  pgalloc = 0;
  /** Pages allocated here for a request that preferred another node (numa_miss; zonelist.ts). */
  numaMiss = 0;
  /** Pages another node gave a request that preferred this node (numa_foreign; counted on the node's top zone). */
  numaForeign = 0;
  /** Pages allocated here by a CPU of another node (other_node). */
  otherNode = 0;
  /** Pages an interleave policy placed here on the node it chose (interleave_hit). */
  interleaveHit = 0;
  /** First free head (pfn + 1) of each order and type: index order * MIGRATE_TYPES + type. */
  readonly freeHead: Int32Array;
  /** Free blocks per order over all types (/proc/buddyinfo). */
  readonly nrFree: Int32Array;
  /** Free blocks per order and type (/proc/pagetypeinfo), indexed as freeHead. */
  readonly nrFreeMt: Int32Array;
  /** The migrate type of each page block of the zone, lowest first (all Movable at boot, as Linux). */
  readonly blockType: Uint8Array;
  /**
   * The same bytes as blockType, indexed by pfn >> pageblockOrder from pfn
   * 0 (entries below the zone's first block are unused): the buddy's free
   * fast path reads a type with no subtraction.
   */
  readonly blockTypeAt: Uint8Array;
  /** Page blocks are 2^pageblockOrder frames. */
  readonly pageblockOrder: number;
  /** 1 when requests are grouped by mobility, 0 when every request is treated as Movable. */
  mobility = 1;
  /** Per-CPU lists: pcp[c] is CPU c's (page_alloc_pcp.ts setupZonePcp). */
  pcp: PerCpuPages[] = [];
  /** The boot CPU's lists: pcp[0]. */
  pcp0: PerCpuPages = new PerCpuPages(1, 1, 0);
  /**
   * The zone's place in the machine's zone array (0..n-1 over every node;
   * `id` is its type, ZONE_DMA or ZONE_NORMAL, the same on every node).
   */
  index = 0;

  constructor(
    readonly id: number,
    readonly name: string,
    readonly startPfn: number,
    readonly endPfn: number,
    maxOrder: number,
    pageblockOrder: number,
    /** The node holding the zone (numa.ts). */
    readonly nid = 0,
  ) {
    this.freeHead = new Int32Array((maxOrder + 1) * MIGRATE_TYPES);
    this.nrFree = new Int32Array(maxOrder + 1);
    this.nrFreeMt = new Int32Array((maxOrder + 1) * MIGRATE_TYPES);
    this.pageblockOrder = pageblockOrder;
    const first = startPfn >> pageblockOrder;
    const last = (endPfn - 1) >> pageblockOrder;
    this.blockTypeAt = new Uint8Array(endPfn > startPfn ? last + 1 : 0);
    this.blockType = this.blockTypeAt.subarray(endPfn > startPfn ? first : 0).fill(MIGRATE_MOVABLE);
  }

  contains(pfn: number): boolean {
    return pfn >= this.startPfn && pfn < this.endPfn;
  }

  /** Index in blockType of the page block holding pfn. */
  blockIndex(pfn: number): number {
    return (pfn >> this.pageblockOrder) - (this.startPfn >> this.pageblockOrder);
  }

  /** get_pageblock_migratetype. */
  blockTypeOf(pfn: number): number {
    return this.blockType[this.blockIndex(pfn)] as number;
  }
}

/** Linux's int_sqrt: the integer square root. */
function intSqrt(x: number): number {
  return Math.floor(Math.sqrt(x));
}

/**
 * Sets min/low/high on every zone the way Linux 6.x does:
 * min_free_kbytes = sqrt(lowmem_kbytes * 16) clamped to [128, 262144], shared
 * among zones by managed pages; low = min + max(min/4, managed * 10 / 10000);
 * high = min + 2 * that step. Fallback into DMA keeps managed(Normal)/256 free.
 */
export function setupWatermarks(zones: readonly Zone[]): void {
  let managedTotal = 0;
  for (const z of zones) managedTotal += z.managed;
  const kbytes = managedTotal * 4;
  const minFreeKb = Math.min(262144, Math.max(128, intSqrt(kbytes * 16)));
  const minPagesTotal = minFreeKb / 4;
  for (const z of zones) {
    const min = managedTotal ? Math.floor((minPagesTotal * z.managed) / managedTotal) : 0;
    const step = Math.max(Math.floor(min / 4), Math.floor((z.managed * 10) / 10000));
    z.wmarkMin = min;
    z.wmarkLow = min + step;
    z.wmarkHigh = min + 2 * step;
  }
  // Only node 0 has a DMA zone; its reserve is against node 0's Normal zone, the pgdat's higher zone.
  const normal = zones.find((z) => z.nid === 0 && z.id === ZONE_NORMAL);
  const dma = zones.find((z) => z.nid === 0 && z.id === ZONE_DMA);
  if (normal && dma) dma.lowmemReserve = Math.floor(normal.managed / 256);
}

/**
 * Linux's zone_batchsize: about a quarter of a thousandth of the zone, at
 * most 63 pages, rounded to 2^n - 1; at least 1. High is six batches.
 */
export function pcpBatchFor(managed: number): number {
  let batch = Math.min(managed >> 10, 256);
  batch = batch >> 2;
  if (batch < 1) batch = 1;
  const v = batch + (batch >> 1);
  const pow = 2 ** Math.floor(Math.log2(v));
  return Math.max(1, pow - 1);
}
