/**
 * The page-frame layer's two contracts (the `frames` entry of
 * `Machine.boot({ layers })`, kernel/LAYERS.md).
 *
 *   FrameAllocator  what a frames layer is: hands out and takes back runs of
 *                   free frames (xv6 kalloc/kfree, Pintos palloc, Linux's
 *                   buddy allocator). It may keep its metadata in the free
 *                   frames, in frames it reserves at boot, or in the struct
 *                   page records of the frames it holds free.
 *   PageAllocator   what the rest of the kernel calls (alloc_pages,
 *                   __free_pages, get_page): pages come back prepared
 *                   (refcount 1, zeroed on __GFP_ZERO), frees drop a reference.
 *
 * Every frames layer, memsim's own buddy allocator (page_alloc.ts,
 * `buddyFrames`) included, is put behind FramePages (frame_pages.ts), which
 * prepares pages, checks every answer the layer gives and names the layer
 * when one is wrong. The optional members of FrameAllocator are capabilities
 * a layer may offer (per-CPU lists, zones); the kernel uses them where it
 * finds them and does without otherwise.
 *
 * Words: frame = one 4 KiB physical page, named by its pfn; a run of order n
 * is 2^n frames starting at a pfn aligned to 2^n.
 */
import type { KernelEvents } from "../events.ts";
import type { MemMap } from "./memmap.ts";
import type { NumaTopology } from "./numa.ts";
import type { PhysMem } from "./physmem.ts";

/** Something that can give pages back under memory pressure (a shrinker): returns the pages it freed. */
export type Shrinker = (wantPages: number) => number;

/**
 * The OOM killer as the page allocator's slow path sees it
 * (__alloc_pages_may_oom): asked for an allocation of `order` with `gfp`
 * that reclaim could not satisfy; returns true when it freed memory (a
 * victim was killed), so the allocation is tried once more.
 */
export type OomHook = (order: number, gfp: number) => boolean;

/** What the slow path asks of compaction (compaction.ts): a direct run for `order`, and kcompactd's wakeup. */
export interface CompactionHook {
  direct(order: number): boolean;
  wakeup(order: number): void;
}

/** A range of frames [start, end) that boot leaves free. */
export interface FreeRange {
  readonly start: number;
  readonly end: number;
}

/** The machine's boot options a frames layer may honour (it may ignore them). */
export interface FramesOptions {
  /** 0 none, 1 cheap asserts (default), 2..3 more checking. */
  readonly debugVm: number;
  /** page_poison: the kernel fills every freed run with 0xaa before handing it back. */
  readonly pagePoison: boolean;
  /** Per-CPU list batch; 0 picks Linux's size for the zone, -1 turns the lists off. */
  readonly pcpBatch: number;
  /** CPUs of the machine, 1..64 (absent: 1): a layer with per-CPU lists keeps a set for each. */
  readonly nrCpus?: number;
}

/** What a frame allocator is handed at boot. */
export interface FramesBoot {
  /** Physical RAM: `ram.read32(pfn * 4096 + off)`, `ram.write32(...)`, `ram.u32` for bulk work. */
  readonly ram: PhysMem;
  /** The frames memblock leaves free, in pfn order; everything else is the kernel's. */
  readonly ranges: readonly FreeRange[];
  /** The largest order the machine was booted with (`maxOrder`, default 10); an allocator may support less. */
  readonly maxOrder: number;
  /**
   * struct page (memmap.ts). The records of the frames the allocator holds
   * free are its own (Linux's buddy keeps its lists there); every other
   * record is the kernel's. A run handed out by allocPages must have all its
   * records zero, and freePages receives the run with all its records zero.
   */
  readonly memmap: MemMap;
  readonly options: FramesOptions;
  /**
   * Takes frames of a free range for the allocator's own metadata (a bitmap,
   * say): they are marked reserved and count in neither MemTotal nor MemFree.
   * Panics when the frames are not inside a free range.
   */
  reserve(pfn: number, count: number): void;
  /** CPUs of the machine (the `cpus` boot option): a per-CPU allocator keeps a list for each. */
  readonly nrCpus: number;
  /**
   * The machine's NUMA nodes (numa.ts): each node's frames [startPfn[n],
   * endPfn[n]), each CPU's node, the distances and fallback orders. One
   * node holding everything unless the machine was booted with `numaNodes`
   * or `numa`. A layer may ignore it (every frame then serves every node).
   */
  readonly numa: NumaTopology;
  /** The CPU the kernel is running on now (smp_processor_id; 0 at boot and outside `m.run`). */
  thisCpu(): number;
  /**
   * Says the allocator takes its lock number `lock` now (xv6's acquire on
   * kmem's lock). Only a layer that declares `locks` calls it; the scheduler
   * models contention on each lock apart (kernel/mm/frames_locks.ts).
   * Throws LayerFault for a lock number the layer did not declare.
   */
  acquire(lock: number): void;
}

/**
 * One zone of a frames layer that has zones (the buddy allocator's DMA and
 * Normal): /proc/buddyinfo, MemAvailable, the slab's reserve and vmstat's
 * pgalloc_<zone> read it.
 */
export interface FramesZone {
  readonly name: string;
  readonly startPfn: number;
  readonly endPfn: number;
  /** Frames of the zone the allocator hands out. */
  readonly managed: number;
  /** Free blocks on each order's free list (/proc/buddyinfo), orders 0..maxOrder. */
  readonly nrFree: ArrayLike<number>;
  readonly wmarkMin: number;
  readonly wmarkLow: number;
  readonly wmarkHigh: number;
  /** Frames kept free against fallback from higher zones. */
  readonly lowmemReserve: number;
  /** Frames allocated from the zone since boot. */
  readonly pgalloc: number;
  /** Optional (/proc/pagetypeinfo): page blocks are 2^pageblockOrder frames. */
  readonly pageblockOrder?: number;
  /** Optional: free blocks per order and migrate type, index order * 3 + type (pageblock.ts). */
  readonly nrFreeMt?: ArrayLike<number>;
  /** Optional: the migrate type of each page block of the zone, lowest first. */
  readonly blockType?: ArrayLike<number>;
  /** Optional: the node holding the zone (0 when absent). */
  readonly nid?: number;
}

/** Free pages on a zone's buddy lists, counted from its nrFree (the layer's own figures). */
export function zoneFree(z: FramesZone): number {
  let n = 0;
  for (let o = 0; o < z.nrFree.length; o++) n += (z.nrFree[o] as number) << o;
  return n;
}

/** What the kernel counted of a frames layer's traffic (FramePages), handed to `stats`. */
export interface FramesCounters {
  readonly pgalloc: number;
  readonly pgfree: number;
  readonly allocFailures: number;
}

/** A page-frame allocator: memsim's buddy or a lab's. Every method is called by the kernel only. */
export interface FrameAllocator {
  /** Names the layer in reports ("buddy", "xv6", "bitmap"). */
  readonly name: string;
  /** The largest order allocPages accepts (0: single frames only). */
  readonly maxOrder: number;
  /**
   * 2^order free frames, their first pfn aligned to 2^order, or -1 when there
   * are none. `gfp` is the request's GFP mask (an allocator may ignore it).
   * Called with 0 <= order <= maxOrder only. The kernel prepares the frames'
   * struct page, zeroes them on __GFP_ZERO and runs the shrinkers (then
   * asks again) when the answer is -1.
   */
  allocPages(order: number, gfp: number): number;
  /** Takes back a run allocPages gave out, with the same order. Its bytes are the allocator's again. */
  freePages(pfn: number, order: number): void;
  /** Frames free now (MemFree): frames on per-CPU lists are not counted. */
  nrFreePages(): number;
  /** Frames this allocator hands out, free or not (MemTotal). */
  nrManagedPages(): number;
  /** Recounts the allocator's own state; throws (an InvariantViolation, say) when it is broken. */
  check(): void;

  /**
   * Optional (alloc_pages_node with a node mask): like allocPages, but
   * prefers node `nid` and falls back only to nodes whose bit is set in
   * `nodemask` (0: any node), nearest first. The kernel calls it for memory
   * policies (mbind, set_mempolicy); without it those requests get
   * allocPages, which places the frames where the layer likes.
   */
  allocPagesNode?(order: number, gfp: number, nid: number, nodemask: number): number;
  /** Optional: frames held on per-CPU lists, neither free nor allocated (0 when absent). */
  nrPcpPages?(): number;
  /** Optional: gives every CPU's per-CPU lists back to the free lists (drain_all_pages: after shrinkers free something, before an allocation fails, drop_caches). */
  drainPcp?(): void;
  /** Optional: the running CPU is now `cpu` (0..nrCpus-1); a layer with per-CPU lists uses that CPU's from now on. */
  setCpu?(cpu: number): void;
  /** Optional: the zones, lowest first; without them the machine has no /proc/buddyinfo or watermarks. */
  readonly zones?: readonly FramesZone[];
  /**
   * Optional: how many locks the allocator takes through `boot.acquire`
   * (0..65; a per-CPU allocator: one per CPU). Absent or 0, the kernel
   * models one lock taken by every allocation and free (the zone lock).
   */
  readonly locks?: number;
  /**
   * Optional (compaction's free scanner): takes the free block whose head is
   * `pfn` off the free lists and returns its order; its records come back
   * zero, as an allocPages answer. Returns -1 when pfn heads no free block,
   * or when taking it would leave its zone below the min watermark. A layer
   * without it cannot be compacted.
   */
  isolateFreeBlock?(pfn: number): number;
  /** Optional: a JSON-able view of the allocator, `m.stats()[name]` (else `m.stats().frames` holds the counters). */
  statsJson?(counters: FramesCounters): unknown;
}

/** A frames layer: made once at boot, handed the free ranges. */
export type FramesLayer = (boot: FramesBoot) => FrameAllocator;

/** The kernel's page allocator: what slab, page tables, vmalloc and the fault handler call. */
export interface PageAllocator {
  readonly maxOrder: number;
  /** Reclaimers run when an allocation finds nothing free. */
  readonly shrinkers: Shrinker[];
  /** The OOM killer, asked after the shrinkers failed an allocation that may invoke it (null: none; set at boot). */
  oomKiller: OomHook | null;
  /** Called at a page's last reference when its users' words are set: each owner clears its own (FramePages.releasers). */
  readonly releasers: Array<(pfn: number) => void>;
  /** Name of the task on whose behalf the kernel allocates (for failure reports). */
  currentComm: string;
  /** The machine's event bus (mm_page_alloc, mm_page_free), handed over by kernel/main.ts. */
  readonly ev: KernelEvents;
  /** alloc_pages: a block of 2^order pages with refcount 1, or -1. `gfp` is required (the kernel wrapper defaults it to GFP_KERNEL). */
  allocPages(order: number, gfp: number): number;
  /**
   * alloc_pages_node with a node mask: like allocPages, preferring node
   * `nid` and using only the nodes of `nodemask` (0: any); a layer without
   * allocPagesNode places the block as allocPages does.
   */
  allocPagesNode(order: number, gfp: number, nid: number, nodemask: number): number;
  /** __free_pages: drops one reference; frees the block when it was the last. */
  freePages(pfn: number, order: number): void;
  /** get_page: one more reference to an allocated block's head. */
  getPage(pfn: number): void;
  /**
   * put_page on an order-0 page: drops a reference; the struct page's user
   * words are checked only when it is the last (then it is freePages).
   */
  putPage(pfn: number): void;
  nrFreePages(): number;
  /** Pages held on per-CPU lists (0 without them). */
  nrPcpPages(): number;
  nrManagedPages(): number;
  /** Per-CPU lists back to the allocator (nothing without them). */
  drainPcp(): void;
}
