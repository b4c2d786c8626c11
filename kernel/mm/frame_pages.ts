/**
 * FramePages: a frames layer (frames.ts FrameAllocator: memsim's buddy
 * allocator or a lab's) behind the kernel's page-allocator contract. Owns
 * what alloc_pages adds around the free-frame choice: order checks, fault
 * injection, shrinkers and the failure report on the way in; struct page
 * preparation (PG_alloc, order, refcount 1, zeroing, compound tails); on the
 * way out the bad-free checks, the reference drop, clearing the records and
 * poisoning; the mm_page_alloc and mm_page_free events.
 *
 * It trusts the layer with nothing: an answer that is not a free, aligned,
 * in-range run, or a method that throws, is a LayerFault naming the layer.
 * How much of a run is checked depends on debugVm (the same for every
 * layer): below 2 the head frame's record (O(1) per call), from 2 every
 * record of the run (O(2^order)). checkFrames recounts free + per-CPU +
 * allocated against managed to catch lost frames.
 *
 * This file holds the class and its fast paths (allocPages, freePages, the
 * checked paths they branch to, get_page/put_page); what runs rarely is in
 * frame_pages_slowpath.ts: the slow path (fault injection, compaction,
 * shrinkers, OOM), the check of the layer's answers, the frees of pages
 * whose users' words are set, zeroing and compound tails, compaction's
 * isolation. The hot methods stayed here unchanged: their bytecode, which V8's
 * inlining budget counts, is the same as before the split.
 */
import { type KernelEvents, NO_EVENTS } from "../events.ts";
import { EV_MM_PAGE_ALLOC, EV_MM_PAGE_FREE } from "../events_types.ts";
import { layerFault, panic } from "../panic.ts";
import type { Printk } from "../printk.ts";
import type { FailPoint } from "./fault_inject.ts";
import { allocSlowpath, beforeFree, checkAnswer, isolateFreeBlock, layerCount, prepUnusual, putUsed } from "./frame_pages_slowpath.ts";
import type { CompactionHook, FrameAllocator, OomHook, Shrinker } from "./frames.ts";
import { __GFP_COMP, __GFP_NOWARN, __GFP_ZERO, formatGfp } from "./gfp.ts";
import {
  FREEABLE_MASK,
  type MemMap,
  PG_alloc,
  SP_FLAGS2,
  SP_INDEX,
  SP_LRU_NEXT,
  SP_LRU_PREV,
  SP_MAPPING,
  SP_MEMCG,
  SP_OWNER,
  STRUCT_PAGE_WORDS,
} from "./memmap.ts";
import { badFree } from "./page_alloc_check.ts";
import type { PhysMem } from "./physmem.ts";

export { PAGE_POISON } from "./frame_pages_slowpath.ts";

/** Words per struct page record. */
const W = 16;
// The fast paths write W, PG_alloc, FREEABLE_MASK, __GFP_ZERO | __GFP_COMP, the two event ids and the struct page
// words 4..10 as literals: in V8 every use of an imported or module-level constant is a load and a check.
if (
  W !== STRUCT_PAGE_WORDS ||
  PG_alloc !== 8 ||
  FREEABLE_MASK !== 0xf80ef ||
  (__GFP_ZERO | __GFP_COMP) !== 0x40100 ||
  EV_MM_PAGE_ALLOC !== 0 ||
  EV_MM_PAGE_FREE !== 1 ||
  SP_FLAGS2 !== 4 ||
  SP_LRU_NEXT !== 5 ||
  SP_LRU_PREV !== 6 ||
  SP_MAPPING !== 7 ||
  SP_INDEX !== 8 ||
  SP_MEMCG !== 9 ||
  SP_OWNER !== 10
)
  throw new Error("frame_pages.ts: fast-path literals out of date");

/** What the kernel counts of a frames layer's traffic (vmstat, stats; frames.ts FramesCounters). */
export interface FramePagesStats {
  readonly pgalloc: number;
  readonly pgfree: number;
  readonly allocFailures: number;
}

/** What FramePages does beyond the layer's choice. */
export interface FramePagesOptions {
  readonly pagePoison: boolean;
  /** Below 2: the head record of each answer is checked; from 2: every record of the run. */
  readonly debugVm: number;
  /** The machine's event bus (kernel/main.ts hands it over); NO_EVENTS when absent. */
  readonly events?: KernelEvents;
  /** CPUs of the machine (default 1): with more, a failing allocation drains every CPU's lists before it gives up. */
  readonly nrCpus?: number;
}

/** The kernel's page allocator over a frames layer. */
export class FramePages {
  readonly name: string;
  readonly maxOrder: number;
  readonly shrinkers: Shrinker[] = [];
  /** The OOM killer after the shrinkers failed (kernel/task_init.ts sets it; null on a bare allocator). */
  oomKiller: OomHook | null = null;
  /** Pages handed out and taken back, and failed allocations, since boot (read through `stats`). */
  private pgalloc = 0;
  private pgfree = 0;
  private allocFailures = 0;
  /**
   * Called with a page's pfn when its last reference is dropped while its
   * users' words (flags2, lru, mapping, memcg) are set: each owner clears
   * its own (reclaim's LRU and reverse map, a memory cgroup's charge).
   */
  readonly releasers: Array<(pfn: number) => void> = [];
  currentComm = "swapper/0";
  /** Compaction (compaction.ts), set at boot when the machine has it: direct compaction and kcompactd's wakeup. */
  compaction: CompactionHook | null = null;
  /** The machine's event bus (mm_page_alloc, mm_page_free). */
  readonly ev: KernelEvents;
  /** ev.active, held here so the fast paths test an event with one load less. */
  private readonly evActive: Uint8Array;
  private readonly w: Uint32Array;
  /** memmap.pairs: the free clears two words per store. */
  private readonly pairs: Float64Array;
  private readonly nrPages: number;
  /** 1 from debugVm 2 (every record of an answer is read), else 0. */
  private readonly fullChecks: number;
  /** 1 with page_poison, else 0. */
  readonly pagePoison: number;
  /**
   * FREEABLE_MASK, or 0 with pagePoison: the free's fast test masks word 0
   * with it, so with poisoning on no free passes that test (0 never equals
   * PG_alloc | order) and every one goes where the frames are poisoned.
   */
  private readonly freeTestMask: number;
  /** CPUs of the machine (opts.nrCpus). */
  readonly nrCpus: number;
  /** The node and node mask of the allocPagesNode call under way (-1: none; take asks allocPages). */
  private wantNid = -1;
  private wantMask = 0;

  constructor(
    readonly layer: FrameAllocator,
    readonly mem: PhysMem,
    readonly memmap: MemMap,
    opts: FramePagesOptions,
    private readonly printk: Printk,
    readonly failPoint: FailPoint,
  ) {
    this.name = layer.name;
    this.maxOrder = layer.maxOrder;
    this.w = memmap.w;
    this.pairs = memmap.pairs;
    this.nrPages = memmap.nrPages;
    this.fullChecks = opts.debugVm >= 2 ? 1 : 0;
    this.pagePoison = opts.pagePoison ? 1 : 0;
    this.freeTestMask = opts.pagePoison ? 0 : FREEABLE_MASK;
    this.ev = opts.events ?? NO_EVENTS;
    this.evActive = this.ev.active;
    this.nrCpus = opts.nrCpus ?? 1;
  }

  /** The counters as they are now (a snapshot). */
  get stats(): FramePagesStats {
    return { pgalloc: this.pgalloc, pgfree: this.pgfree, allocFailures: this.allocFailures };
  }

  /**
   * alloc_pages over the layer. Returns -1 when the layer has nothing, after
   * the shrinkers ran, or when order > maxOrder (with a failure report unless
   * __GFP_NOWARN). Panics when order is not a non-negative integer; throws
   * LayerFault when the layer throws or answers with frames that are not free.
   */
  allocPages(order: number, gfp: number): number {
    // The fast path, take and prepNewPage written out in one function small enough for V8 to inline with the layer's.
    if (order >>> 0 !== order || order > this.maxOrder || this.failPoint.armed) return this.allocSlow(order, gfp);
    let pfn: number;
    try {
      pfn = this.layer.allocPages(order, gfp);
    } catch (e) {
      return this.allocThrew(order, e);
    }
    const w = this.w;
    const i = pfn * 16; // WORDS
    const n = 1 << order;
    // One test sends every unusual case to allocChecked: none (-1), a bad answer, full checks, zeroing, compound,
    // the event. A pfn that is negative, too large or not an integer reads undefined (so 1), or leaves i & 15 set.
    if (
      ((w[i] ?? 1) | (i & ((n << 4) - 1)) | this.fullChecks | (gfp & 0x40100) | (this.evActive[0] as number)) !== 0 ||
      pfn + n > this.nrPages
    )
      return this.allocChecked(pfn, order, gfp);
    // Words 2 and 3 are zero: FramePages zeroed them on the free, and the layer hands runs out zeroed. i is a
    // multiple of 16 here (the test above), so i | 1 is i + 1, without the JIT's overflow check.
    w[i] = 8 /* PG_alloc */ | (order << 16);
    w[i | 1] = 1;
    this.pgalloc += n;
    return pfn;
  }

  /**
   * Whatever the fast path's one test refused: none (-1); else the answer
   * checked in full, then prepared with zeroing, compound tails and the
   * mm_page_alloc event as asked.
   */
  private allocChecked(pfn: number, order: number, gfp: number): number {
    if (pfn === -1) return this.allocSlow(order, gfp);
    this.checkAnswer(pfn, order);
    this.prepNewPage(pfn, order, gfp);
    if (this.ev.active[EV_MM_PAGE_ALLOC] !== 0) this.ev.mmPageAlloc(pfn, order, gfp);
    return pfn;
  }

  /** Off the fast path: a bad order or fault injection, or the layer had nothing (frame_pages_slowpath.ts). */
  private allocSlow(order: number, gfp: number): number {
    return allocSlowpath(this, order, gfp);
  }

  /**
   * Takes the free block headed by `pfn` from the layer for compaction and
   * splits it into order-0 pages, each allocated with refcount 1
   * (frame_pages_slowpath.ts isolateFreeBlock). Returns its order, or -1
   * when pfn heads no free block or the layer cannot isolate.
   */
  isolateFree(pfn: number): number {
    const order = isolateFreeBlock(this, this.fullChecks, pfn);
    if (order >= 0) this.pgalloc += 1 << order;
    return order;
  }

  /**
   * alloc_pages_node with a node mask (memory policies): the layer's
   * allocPagesNode, preferring node `nid`, only the nodes of `nodemask`
   * (0: any), through the same slow path as allocPages (shrinkers, OOM,
   * failure report). A layer without allocPagesNode is asked allocPages.
   * Returns -1 and panics as allocPages.
   */
  allocPagesNode(order: number, gfp: number, nid: number, nodemask: number): number {
    if (this.layer.allocPagesNode === undefined) return this.allocPages(order, gfp);
    this.wantNid = nid;
    this.wantMask = nodemask;
    try {
      if (order >>> 0 !== order || order > this.maxOrder || this.failPoint.armed) return this.allocSlow(order, gfp);
      const pfn = this.take(order, gfp);
      if (pfn < 0) return this.allocSlow(order, gfp);
      this.prepNewPage(pfn, order, gfp);
      if (this.ev.active[EV_MM_PAGE_ALLOC] !== 0) this.ev.mmPageAlloc(pfn, order, gfp);
      return pfn;
    } finally {
      this.wantNid = -1;
      this.wantMask = 0;
    }
  }

  /** One call into the layer, its answer checked (allocPages has the same steps written out). */
  take(order: number, gfp: number): number {
    let pfn: number;
    try {
      pfn = this.wantNid < 0 ? this.layer.allocPages(order, gfp) : this.askNode(order, gfp);
    } catch (e) {
      return this.allocThrew(order, e);
    }
    // One test for the common answer: an in-range integer, aligned, its head record zero, no full check asked.
    if (
      (pfn | 0) !== pfn ||
      (pfn >>> 0) + (1 << order) > this.nrPages ||
      ((this.w[pfn * W] as number) | (pfn & ((1 << order) - 1)) | this.fullChecks) !== 0
    )
      return this.checkAnswer(pfn, order);
    return pfn;
  }

  /** The layer's allocPagesNode for the node request allocPagesNode is serving. */
  private askNode(order: number, gfp: number): number {
    const f = this.layer.allocPagesNode as NonNullable<FrameAllocator["allocPagesNode"]>;
    return f.call(this.layer, order, gfp, this.wantNid, this.wantMask);
  }

  private allocThrew(order: number, e: unknown): never {
    return this.threw(`allocPages(${order})`, e);
  }

  private threw(what: string, e: unknown): never {
    return layerFault("frames", `'${this.name}' ${what} threw: ${String(e)}`, e);
  }

  /** checkAnswer (frame_pages_slowpath.ts): pfn or -1 when the layer's answer keeps the contract; else throws LayerFault. */
  private checkAnswer(pfn: number, order: number): number {
    return checkAnswer(this, this.fullChecks, pfn, order);
  }

  /** The head record of a new block: allocated, its order, refcount 1; zeroing and compound tails as asked. */
  prepNewPage(pfn: number, order: number, gfp: number): void {
    const w = this.w;
    const i = pfn * W;
    w[i] = PG_alloc | (order << 16);
    w[i + 1] = 1;
    w[i + 2] = 0;
    w[i + 3] = 0;
    this.pgalloc += 1 << order;
    if (gfp & (__GFP_ZERO | __GFP_COMP)) prepUnusual(this, pfn, order, gfp);
  }

  /** warn_alloc: counts the failure and reports it unless __GFP_NOWARN; returns -1. */
  warnAlloc(order: number, gfp: number): number {
    this.allocFailures++;
    if ((gfp & __GFP_NOWARN) === 0) {
      this.printk.report(
        "page_alloc_failure",
        `${this.currentComm}: page allocation failure: order:${order}, mode:0x${gfp.toString(16)}(${formatGfp(gfp)}), nodemask=(null)`,
      );
    }
    return -1;
  }

  /**
   * __free_pages: drops one reference; on the last, clears the struct pages,
   * poisons the frames (when pagePoison) and gives them to the layer.
   * Panics on a bad free (a double free, a reserved frame, a wrong order, a
   * page still owned by slab or a page table); throws LayerFault when the layer throws.
   */
  freePages(pfn: number, order: number): void {
    const w = this.w;
    const i = pfn * 16; // WORDS
    // One test for the common free: the last reference (refcount 1) of an allocated block of this order, not
    // compound (above order 0, the first tail's record has no bit above 3 set: -order keeps those bits up to order
    // 16, PG_tail among them, and is 0 at order 0), whose users let go (flags2, lru, mapping, memcg zero), without
    // poisoning (freeTestMask) or the mm_page_free event; putChecked takes the rest. A pfn out of range or not an
    // integer reads undefined (undefined & mask is 0) or, when 16 * pfn is an integer, leaves i & 15 set: putChecked's
    // badFree. The other words are indexed i | k, which is i + k once that test holds (i a multiple of 16) and has no
    // overflow check in the JIT's code (i + k has one per access); before it, a read through i | k may read another
    // word, but the test fails either way (word 0 or i & 15). The first tail's word 0 is read at i | 16: above order
    // 0, a word 0 that passes is an allocated block's head, aligned, so pfn is even and i | 16 is i + 16 (at order 0
    // the word is masked out).
    if (
      ((((w[i] as number) & this.freeTestMask) ^ (8 /* PG_alloc */ | (order << 16))) |
        ((w[i | 16] as number) & -order) |
        (i & 15) |
        ((w[i | 1] as number) ^ 1) |
        (w[i | 4] as number) |
        (w[i | 5] as number) |
        (w[i | 7] as number) |
        (w[i | 9] as number) |
        (this.evActive[1 /* EV_MM_PAGE_FREE */] as number)) !==
      0
    ) {
      this.putChecked(pfn, order);
      return;
    }
    // freeLast written out for this case, so the fast path is one function.
    this.pgfree += 1 << order;
    // Words 0..3, 6..9 cleared two at a time (memmap.ts pairs; 7 and 9 are zero, tested), then 10; 11 is spare, kept.
    // j is a multiple of 8 here: j | k is j + k.
    const d = this.pairs;
    const j = pfn * 8;
    d[j] = 0;
    d[j | 1] = 0;
    d[j | 3] = 0;
    d[j | 4] = 0;
    w[i | 10] = 0;
    try {
      this.layer.freePages(pfn, order);
    } catch (e) {
      this.freeThrew(pfn, order, e);
    }
  }

  /**
   * Whatever the fast free's one test refused: a bad free (panics), a
   * reference that is not the last (dropped), or the last reference of a
   * page whose users' words are set (the releasers run first).
   */
  private putChecked(pfn: number, order: number): void {
    const w = this.w;
    const i = pfn * W;
    if (((w[i] as number) & FREEABLE_MASK) !== (PG_alloc | (order << 16)) || (i & 15) !== 0) this.badFree(pfn, order);
    // flags2, lru, mapping, memcg: their owners let go at the last reference (releasers), else a bad page state.
    if (((w[i + 4] as number) | (w[i + 5] as number) | (w[i + 7] as number) | (w[i + 9] as number)) !== 0 && putUsed(this, pfn, order))
      return;
    // PG_alloc: the refcount is at least 1.
    const r = i + 1;
    if ((w[r] = (w[r] as number) - 1) !== 0) return;
    // The last reference is gone and the users' words are zero: the records cleared, the run to the layer.
    if ((order | this.pagePoison | (this.evActive[1 /* EV_MM_PAGE_FREE */] as number)) !== 0) beforeFree(this, pfn, order);
    this.pgfree += 1 << order;
    // Words 0..3, 6 (SP_LRU_PREV), 8 (SP_INDEX) and 10 (SP_OWNER) cleared; 7 and 9 are zero here.
    w[i] = 0;
    w[i + 1] = 0;
    w[i + 2] = 0;
    w[i + 3] = 0;
    w[i + 6] = 0;
    w[i + 8] = 0;
    w[i + 10] = 0;
    try {
      this.layer.freePages(pfn, order);
    } catch (e) {
      this.freeThrew(pfn, order, e);
    }
  }

  /** Names what is wrong with a refused free and panics (page_alloc_check.ts). */
  badFree(pfn: number, order: number): never {
    return badFree(this.memmap, this.maxOrder, pfn, order);
  }

  private freeThrew(pfn: number, order: number, e: unknown): never {
    return this.threw(`freePages(0x${pfn.toString(16)}, ${order})`, e);
  }

  /** get_page. Panics on a frame that is not allocated. */
  getPage(pfn: number): void {
    const i = pfn * W;
    if (((this.w[i] as number) & PG_alloc) === 0) panic(`get_page: pfn 0x${pfn.toString(16)} is not allocated`);
    this.w[i + 1] = (this.w[i + 1] as number) + 1;
  }

  /** put_page: a reference that is not the last is dropped at once; the last goes through freePages and its checks. */
  putPage(pfn: number): void {
    const i = pfn * W;
    if (((this.w[i] as number) & PG_alloc) === 0) panic(`put_page: pfn 0x${pfn.toString(16)} is not allocated`);
    const ref = this.w[i + 1] as number;
    if (ref > 1) this.w[i + 1] = ref - 1;
    else this.freePages(pfn, 0);
  }

  nrFreePages(): number {
    return layerCount(this, "nrFreePages");
  }

  nrManagedPages(): number {
    return layerCount(this, "nrManagedPages");
  }

  /** Frames on the layer's per-CPU lists (0 for a layer without them). */
  nrPcpPages(): number {
    return this.layer.nrPcpPages === undefined ? 0 : layerCount(this, "nrPcpPages");
  }

  /** The layer's per-CPU lists back to its free lists (nothing for a layer without them). */
  drainPcp(): void {
    if (this.layer.drainPcp === undefined) return;
    try {
      this.layer.drainPcp();
    } catch (e) {
      layerFault("frames", `'${this.name}' drainPcp() threw: ${String(e)}`, e);
    }
  }

  /** The running CPU is now `cpu` (kernel/smp.ts): the layer's setCpu, when it has one. Throws LayerFault when it throws. */
  setCpu(cpu: number): void {
    if (this.layer.setCpu === undefined) return;
    try {
      this.layer.setCpu(cpu);
    } catch (e) {
      layerFault("frames", `'${this.name}' setCpu(${cpu}) threw: ${String(e)}`, e);
    }
  }
}
