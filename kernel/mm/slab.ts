/**
 * kmem_cache: the SLUB-shaped object cache (Linux mm/slub.c, fast paths).
 *
 * Owns: one cache's slabs (2^order buddy pages cut into equal objects), its
 * per-CPU slab, partial and full lists. Calls: the buddy allocator for slab
 * pages, slab_debug for checks and reports. Words: object = one slab
 * allocation; slab = the pages holding objects (bookkeeping in the head
 * page's struct page, see slab_page.ts); pa = physical address, kva = direct
 * map address (pa + PAGE_OFFSET).
 *
 * Object slot (stride `size`; the object starts `redLeftPad` into it):
 *
 *   | left red zone | object (objectSize) | right red zone | free ptr | tracks | orig size | padding |
 *   '- redLeftPad --'                     '- inuse ends ---'          (U: 2 x 32 B, kmalloc: 4 B)
 *
 * Without debug flags only the object (rounded to 8) exists and the free
 * pointer sits in its middle; with a ctor or poisoning it moves behind the
 * object so free objects keep their contents.
 *
 * Invariant per slab: inuse + length(freelist) == objects; a slab is the
 * CPU slab, or on the partial list (free objects), the full list (none), or
 * disabled (failed a check, never touched again).
 *
 * This file holds the cache descriptor and its entry points; the fast paths
 * (an object off or onto the CPU slab's freelist) work on the cache's row in
 * slab_cpu.ts, and slab_slowpath.ts holds everything else.
 */
import type { KernelEvents } from "../events.ts";
import { EV_KMEM_CACHE_ALLOC, EV_KMEM_CACHE_FREE } from "../events_types.ts";
import { panic } from "../panic.ts";
import type { FailPoint } from "./fault_inject.ts";
import type { PageAllocator } from "./frames.ts";
import { __GFP_ZERO, GFP_KERNEL } from "./gfp.ts";
import type { MemMap } from "./memmap.ts";
import { PG_slab, PG_tail } from "./memmap.ts";
import type { PhysMem } from "./physmem.ts";
import type { SlabCpu } from "./slab_cpu.ts";
import { SLAB_DEBUG_FLAGS, SLAB_KMALLOC } from "./slab_flags.ts";
import { orderObjects, SLAB_FULL, SLAB_PARTIAL, SlabList, slabFreelist } from "./slab_page.ts";
import type { SlabReporter } from "./slab_report.ts";
import { allocSlow, deactivateSlab, discardSlab, freeForeign, shrinkCache, slabFreeSlow } from "./slab_slowpath.ts";
import { PAGE_OFFSET, PAGE_SIZE } from "./types.ts";

/** What a cache needs from the slab allocator around it. */
export interface SlabHost {
  readonly phys: PhysMem;
  readonly memmap: MemMap;
  readonly buddy: PageAllocator;
  readonly failSlab: FailPoint;
  readonly rep: SlabReporter;
  /** The machine's event bus (kmalloc, kmem_cache_alloc, ...). */
  readonly ev: KernelEvents;
  /** kmem_cache_cpu of every cache, by id (the fast paths' state). */
  readonly cpu: SlabCpu;
  /** kva of the struct page array (for "Slab 0x..." lines). */
  readonly memmapKva: number;
  /** PID recorded in tracks (0 = swapper until processes exist). */
  currentPid: number;
  /** Adds `pages` (negative: removes) to the Slab counters for `cache`. */
  accountSlab(cache: KmemCache, pages: number): void;
  /** The slab clock: allocations and frees so far (track "age" is in these steps). */
  clock(): number;
  /** Interns a caller label; ids start at 1. */
  callerId(label: string): number;
  callerLabel(id: number): string;
  /** Strips gfp bits a slab must not pass on, with Linux's warning. */
  fixSlabGfp(gfp: number): number;
  /** The live cache with owner id `id`. */
  cacheById(id: number): KmemCache | undefined;
  /** Reports a free of something that is not a slab object or kmalloc block. */
  reportNotSlab(fn: string, kva: number): void;
}

/** The object layout and order of a cache, as calculate_sizes() computes them. */
export interface CacheLayout {
  readonly objectSize: number;
  readonly size: number;
  readonly align: number;
  readonly inuse: number;
  readonly offset: number;
  readonly redLeftPad: number;
  readonly flags: number;
  readonly order: number;
  readonly minOrder: number;
  readonly allocflags: number;
  readonly minPartial: number;
}

/**
 * The other layers' constants the fast paths use, as a const enum: each name
 * compiles to its number, so no module binding is read per call (a load and
 * an initialisation check each). Checked against their sources at load.
 */
enum Fast {
  GFP_ZERO = 0x100,
  PG_tail = 1 << 5,
  PG_slab = 1 << 6,
  EV_ALLOC = 6,
  EV_FREE = 7,
  PAGE_OFFSET = 0x888000000000,
  SLAB_KMALLOC = 0x1000,
}
if (
  Fast.GFP_ZERO !== __GFP_ZERO ||
  Fast.PG_tail !== PG_tail ||
  Fast.PG_slab !== PG_slab ||
  Fast.EV_ALLOC !== EV_KMEM_CACHE_ALLOC ||
  Fast.EV_FREE !== EV_KMEM_CACHE_FREE ||
  Fast.PAGE_OFFSET !== PAGE_OFFSET ||
  Fast.SLAB_KMALLOC !== SLAB_KMALLOC
)
  panic("slab: a fast-path constant differs from its source");

/** A kmem_cache. Make one with `m.kernel.kmemCacheCreate` (or `kernel.slab.createCache`). */
export class KmemCache {
  declare readonly name: string;
  declare readonly id: number;
  /** Bytes the user asked for (object_size). */
  declare readonly objectSize: number;
  /** Stride between objects, metadata and alignment included. */
  declare readonly size: number;
  declare readonly align: number;
  /** End of object plus right red zone; metadata starts here. */
  declare readonly inuse: number;
  /** Free pointer offset from the object start. */
  declare readonly offset: number;
  declare readonly redLeftPad: number;
  declare readonly flags: number;
  /** Preferred slab order and objects per slab (Linux s->oo). */
  declare readonly order: number;
  declare readonly objects: number;
  /** Fallback order when the preferred one is not available (s->min). */
  declare readonly minOrder: number;
  declare readonly allocflags: number;
  /** Empty slabs kept on the partial list before they go back to the buddy allocator. */
  declare readonly minPartial: number;
  readonly ctor: ((kva: number) => void) | null;
  /** Freelist hardening key. */
  declare readonly random: number;
  declare readonly debug: boolean;
  declare readonly host: SlabHost;
  /** objects * size for each order, the span objects occupy. */
  declare readonly usedBytes: Int32Array;
  declare private readonly invSize: number;
  /** mem_map words, RAM as words and bytes (the slab paths share these views). */
  declare readonly w: Uint32Array;
  declare readonly mem32: Uint32Array;
  declare readonly mem8: Uint8Array;
  declare private readonly ramBytes: number;
  /** Index of mem_map's first word in mem32: struct page words read through the RAM view. */
  declare private readonly mm: number;
  declare private readonly failSlab: FailPoint;
  /** The event bus's per-kind flags (host.ev.active). */
  declare private readonly evActive: Uint8Array;

  /** The kmem_cache_cpu rows of all caches, one table per CPU (this cache's is row `id`). */
  declare private readonly cpu: SlabCpu;
  /** kmem_cache_node */
  declare readonly partial: SlabList;
  declare readonly full: SlabList;
  nrSlabs = 0;
  totalObjects = 0;
  nrDisabled = 0;
  /** Pages held by this cache's slabs. */
  pages = 0;

  /** Statistics (CONFIG_SLUB_STATS-like); the fast-path counts are kept in `cpu`, see the accessors below. */
  allocSlowpath = 0;
  freeSlowpath = 0;
  allocFailed = 0;
  slabsAllocated = 0;
  slabsFreed = 0;
  /** Frees from a CPU into a slab that is another CPU's CPU slab (they go to the slab's own freelist). */
  freeRemote = 0;
  dead = false;

  constructor(host: SlabHost, id: number, name: string, l: CacheLayout, ctor: ((kva: number) => void) | null, random: number) {
    this.name = name;
    this.id = id;
    this.objectSize = l.objectSize;
    this.size = l.size;
    this.align = l.align;
    this.inuse = l.inuse;
    this.offset = l.offset;
    this.redLeftPad = l.redLeftPad;
    this.flags = l.flags;
    this.order = l.order;
    this.objects = orderObjects(l.order, l.size);
    this.minOrder = l.minOrder;
    this.allocflags = l.allocflags;
    this.minPartial = l.minPartial;
    this.ctor = ctor;
    // 30 bits keep the key a small integer for the JIT; it only has to be unguessable-ish.
    this.random = random & 0x3fffffff;
    this.debug = (l.flags & SLAB_DEBUG_FLAGS) !== 0;
    this.host = host;
    this.usedBytes = new Int32Array(16);
    for (let o = 0; o < 16; o++) this.usedBytes[o] = Math.min(orderObjects(o, l.size) * l.size, 2 ** 31 - 1);
    this.invSize = 1 / l.size;
    this.w = host.memmap.w;
    this.mem32 = host.phys.u32;
    this.mem8 = host.phys.u8;
    this.ramBytes = host.phys.bytes;
    this.mm = host.memmap.firstPfn * (PAGE_SIZE / 4);
    this.failSlab = host.failSlab;
    this.evActive = host.ev.active;
    this.partial = new SlabList(this.w, SLAB_PARTIAL);
    this.full = new SlabList(this.w, SLAB_FULL);
    this.cpu = host.cpu;
    this.cpu.initRow(id, l.offset, this.random, l.size);
  }

  /** The running CPU's slab of this cache: its head pfn (0 = none). */
  get cpuSlab(): number {
    return this.cpu.cpuPfn(this.id, this.cpu.current);
  }

  /** Records `pfn` as the running CPU's slab and nothing else (for tests that corrupt the state; the slab paths use setCpuSlab). */
  set cpuSlab(pfn: number) {
    this.cpu.setPfn(this.id, this.cpu.current, pfn);
  }

  /** CPU `cpu`'s slab of this cache (0 = none). */
  cpuSlabOn(cpu: number): number {
    return this.cpu.cpuPfn(this.id, cpu);
  }

  /** CPUs with a CPU slab slot. */
  get nrCpus(): number {
    return this.cpu.nrCpus;
  }

  /** The running CPU. */
  get currentCpu(): number {
    return this.cpu.current;
  }

  /** Allocations served from the CPU slab (Linux ALLOC_FASTPATH). */
  get allocFastpath(): number {
    return this.cpu.counts[this.cpu.countAt(this.id)] as number;
  }

  set allocFastpath(n: number) {
    this.cpu.counts[this.cpu.countAt(this.id)] = n;
  }

  /** Frees onto the CPU slab (Linux FREE_FASTPATH). */
  get freeFastpath(): number {
    return this.cpu.counts[this.cpu.countAt(this.id) + 1] as number;
  }

  set freeFastpath(n: number) {
    this.cpu.counts[this.cpu.countAt(this.id) + 1] = n;
  }

  /**
   * kmem_cache_alloc: one object, or 0. `origSize` is a kmalloc's request
   * (slab_debug's kmalloc red zone starts past it); kmalloc's caches
   * (SLAB_KMALLOC) emit no kmem_cache_alloc event, kmalloc emits its own.
   *
   * Returns 0 when failslab injects a failure, or when no partial slab is left
   * and the buddy allocator cannot give a new one.
   * Panics when the cache was destroyed.
   */
  alloc(gfp: number = GFP_KERNEL, caller?: string, origSize?: number): number {
    // The fast path is small so that kmalloc and a caller's loop inline it
    // whole: the kva (a double) is made here and must not be returned from
    // a call that is not inlined, or it is boxed. Everything else is allocMore's.
    // Both ways give an offset from PAGE_OFFSET, added in one place: a
    // double merged with a call's result would be boxed on every call.
    const pa = (gfp & Fast.GFP_ZERO) === 0 && !this.failSlab.armed ? this.cpu.alloc(this.id) : 0;
    return Fast.PAGE_OFFSET + (pa !== 0 && this.evActive[Fast.EV_ALLOC] === 0 ? pa : this.allocMore(pa, gfp, caller, origSize));
  }

  /**
   * alloc past the fast path: the slow path when `pa` is 0, and the
   * kmem_cache_alloc event. Returns the kva minus PAGE_OFFSET (-PAGE_OFFSET
   * for NULL).
   */
  private allocMore(pa: number, gfp: number, caller: string | undefined, origSize: number | undefined): number {
    const kva = pa !== 0 ? PAGE_OFFSET + pa : allocSlow(this, gfp, origSize ?? this.objectSize, caller);
    if (this.evActive[Fast.EV_ALLOC] !== 0 && (this.flags & Fast.SLAB_KMALLOC) === 0)
      this.host.ev.kmemCacheAlloc(caller, kva, this.name, this.objectSize, this.size, gfp);
    return kva - PAGE_OFFSET;
  }

  /**
   * kmem_cache_free. An address that is not a live object of some cache is
   * reported and left alone; an object of another cache is reported and
   * freed to its own cache, as Linux's cache_from_obj does. kmalloc's caches
   * emit no kmem_cache_free event (kfree emits its own).
   */
  free(kva: number, caller?: string): void {
    // The fast path (small, for the same reason as alloc's), nobody
    // listening: an object of this cache's CPU slab goes back on its
    // freelist. No struct page read: cpu.free takes it only when pa's page
    // is that CPU slab's (its struct page word), which makes it this cache's.
    // `p` is pa as an integer (a truncation, no check): everything past the
    // one integrality test works on it, so the double is converted once.
    const pa = kva - Fast.PAGE_OFFSET;
    const p = pa >>> 0;
    if (p === pa && this.evActive[Fast.EV_FREE] === 0 && this.cpu.free(this.id, this.mm + ((p >>> 12) << 4), p)) return;
    this.freeMore(kva, caller);
  }

  /** free past the fast path: the event, a compound slab, the slow path, a foreign or bad pointer. */
  private freeMore(kva: number, caller: string | undefined): void {
    if (this.evActive[Fast.EV_FREE] !== 0 && (this.flags & Fast.SLAB_KMALLOC) === 0) this.host.ev.kmemCacheFree(caller, kva, this.name);
    const pa = kva - PAGE_OFFSET;
    if (pa >>> 0 === pa && pa < this.ramBytes) {
      const m = this.mem32;
      let i = this.mm + ((pa >>> 12) << 4);
      let w0 = m[i] as number;
      if (w0 & Fast.PG_tail) {
        i = this.mm + ((m[i + 3] as number) << 4);
        w0 = m[i] as number;
      }
      if (w0 & Fast.PG_slab && w0 >>> 20 === this.id) {
        this.slabFree(pa, i, w0, caller);
        return;
      }
    }
    freeForeign(this, kva, caller);
  }

  /**
   * Frees the object at `pa` in the slab whose struct page starts at mem32
   * index `word` (its word 0 is w0). Reports and ignores a pointer that is
   * not an object start or an object already free.
   */
  slabFree(pa: number, word: number, w0: number, caller: string | undefined): void {
    if (this.cpu.free(this.id, word, pa)) return;
    slabFreeSlow(this, pa, (word - this.mm) >>> 4, w0, caller);
  }

  /** The mem32 index of slab `pfn`'s struct page, as slabFree takes it. */
  pageWord(pfn: number): number {
    return this.mm + pfn * 16;
  }

  /** Whether `pa` is on slab `head`'s freelist (a bounded walk that never repairs). */
  onFreelist(head: number, pa: number): boolean {
    const objects = orderObjects(this.host.memmap.order(head), this.size);
    let p = slabFreelist(this.w, head);
    for (let n = 0; p !== 0 && n <= objects; n++) {
      if (p === pa) return true;
      if (!this.isObject(head, p)) return false;
      p = this.getFreepointer(p);
    }
    return false;
  }

  /** True when `pa` is the start of an object slot in slab `head`. */
  isObject(head: number, pa: number): boolean {
    const off = pa - head * PAGE_SIZE - this.redLeftPad;
    const used = this.usedBytes[this.host.memmap.order(head)] as number;
    return off >>> 0 === off && off < used && this.isStride(off);
  }

  /** True when `off` is a multiple of the stride (a multiply instead of a division; exact for offsets below 2^31). */
  isStride(off: number): boolean {
    return ((off * this.invSize + 0.5) | 0) * this.size === off;
  }

  /** The decoded free pointer of the object at `pa`. */
  getFreepointer(pa: number): number {
    const fp = pa + this.offset;
    return ((this.mem32[fp >>> 2] as number) ^ this.random ^ fp) >>> 0;
  }

  /** Stores the encoded free pointer `next` in the object at `pa`. */
  setFreepointer(pa: number, next: number): void {
    const fp = pa + this.offset;
    this.mem32[fp >>> 2] = next ^ this.random ^ fp;
  }

  /** kmem_cache_shrink: flushes the CPU slab, frees empty slabs, sorts the partial list fullest first. Returns pages freed. */
  shrink(): number {
    return shrinkCache(this);
  }

  /** flush_all: every CPU's slab to the partial or full list (or freed when empty and enough are kept). */
  flushCpuSlab(): void {
    for (let cpu = 0; cpu < this.nrCpus; cpu++) {
      const pfn = this.cpuSlabOn(cpu);
      if (pfn !== 0) deactivateSlab(this, pfn, cpu);
    }
  }

  /** Frees one slab back to the buddy allocator. The slab must be on no list. */
  discardSlab(pfn: number): void {
    discardSlab(this, pfn);
  }

  /**
   * Sets CPU `cpu`'s slab (0 = none; default the running CPU) and what the
   * fast paths precompute from it. Only the slab paths call this.
   */
  setCpuSlab(pfn: number, cpu = this.cpu.current): void {
    if (pfn === 0 || this.debug) this.cpu.setRow(cpu, this.id, pfn, 0, 0, 0);
    else
      this.cpu.setRow(
        cpu,
        this.id,
        pfn,
        this.mm + pfn * 16,
        pfn * PAGE_SIZE + this.redLeftPad,
        this.usedBytes[this.host.memmap.order(pfn)] as number,
      );
  }

  /** The CPU whose slab `pfn` is, or -1. */
  cpuHolding(pfn: number): number {
    for (let cpu = 0; cpu < this.nrCpus; cpu++) if (this.cpuSlabOn(cpu) === pfn) return cpu;
    return -1;
  }
}
