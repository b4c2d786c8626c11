/**
 * kmem_cache: the SLUB-shaped object cache (Linux mm/slub.c, core paths).
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
 */
import { panic } from "../panic.ts";
import type { FailPoint } from "./fault_inject.ts";
import {
  __GFP_DMA32,
  __GFP_FS,
  __GFP_HARDWALL,
  __GFP_HIGH,
  __GFP_HIGHMEM,
  __GFP_IO,
  __GFP_MEMALLOC,
  __GFP_NOFAIL,
  __GFP_NOMEMALLOC,
  __GFP_NORETRY,
  __GFP_NOWARN,
  __GFP_RECLAIM,
  __GFP_RETRY_MAYFAIL,
  __GFP_ZERO,
  GFP_KERNEL,
  GFP_KNOWN_MASK,
} from "./gfp.ts";
import type { MemMap } from "./memmap.ts";
import { PG_alloc, PG_head, PG_slab, PG_tail } from "./memmap.ts";
import type { BuddyAllocator } from "./page_alloc.ts";
import type { PhysMem } from "./physmem.ts";
import {
  allocDebugProcessing,
  checkOnDiscard,
  freeDebugProcessing,
  reportDoubleFree,
  reportFreechainCorrupt,
  reportInvalidPointer,
  reportSlabOom,
  reportWrongCache,
  setupObjectDebug,
  setupSlabDebug,
} from "./slab_debug.ts";
import { SLAB_CONSISTENCY_CHECKS, SLAB_DEBUG_FLAGS, SLAB_KMALLOC, SLAB_RED_ZONE, SLAB_STORE_USER } from "./slab_flags.ts";
import {
  INUSE_ONE,
  orderObjects,
  SLAB_CPU,
  SLAB_DISABLED,
  SLAB_FULL,
  SLAB_NONE,
  SLAB_PARTIAL,
  SlabList,
  setSlabInuse,
  setSlabState,
  slabInuse,
  slabNext,
  slabState,
} from "./slab_page.ts";
import type { SlabReporter } from "./slab_report.ts";
import { PAGE_OFFSET, PAGE_SIZE } from "./types.ts";

/** gfp bits a slab page allocation keeps from the caller (Linux GFP_RECLAIM_MASK | GFP_CONSTRAINT_MASK). */
const GFP_SLAB_KEEP =
  __GFP_RECLAIM |
  __GFP_HIGH |
  __GFP_IO |
  __GFP_FS |
  __GFP_NOWARN |
  __GFP_RETRY_MAYFAIL |
  __GFP_NOFAIL |
  __GFP_NORETRY |
  __GFP_MEMALLOC |
  __GFP_NOMEMALLOC |
  __GFP_HARDWALL;
/** gfp bits a slab allocation must not carry (Linux GFP_SLAB_BUG_MASK). */
const GFP_SLAB_BUG_MASK = __GFP_DMA32 | __GFP_HIGHMEM | ~GFP_KNOWN_MASK;

/** What a cache needs from the slab allocator around it. */
export interface SlabHost {
  readonly phys: PhysMem;
  readonly memmap: MemMap;
  readonly buddy: BuddyAllocator;
  readonly failSlab: FailPoint;
  readonly rep: SlabReporter;
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

/** A kmem_cache. Make one with `m.kernel.kmemCacheCreate` (or `kernel.slab.createCache`). */
export class KmemCache {
  readonly name: string;
  readonly id: number;
  /** Bytes the user asked for (object_size). */
  readonly objectSize: number;
  /** Stride between objects, metadata and alignment included. */
  readonly size: number;
  readonly align: number;
  /** End of object plus right red zone; metadata starts here. */
  readonly inuse: number;
  /** Free pointer offset from the object start. */
  readonly offset: number;
  readonly redLeftPad: number;
  readonly flags: number;
  /** Preferred slab order and objects per slab (Linux s->oo). */
  readonly order: number;
  readonly objects: number;
  /** Fallback order when the preferred one is not available (s->min). */
  readonly minOrder: number;
  readonly allocflags: number;
  /** Empty slabs kept on the partial list before they go back to the buddy allocator. */
  readonly minPartial: number;
  readonly ctor: ((kva: number) => void) | null;
  /** Freelist hardening key. */
  readonly random: number;
  readonly debug: boolean;
  readonly host: SlabHost;
  /** objects * size for each order, the span objects occupy. */
  readonly usedBytes: Int32Array;
  private readonly invSize: number;
  private readonly w: Uint32Array;
  private readonly mem32: Uint32Array;
  private readonly mem8: Uint8Array;
  private readonly ramBytes: number;
  /** Index of mem_map's first word in mem32: struct page words read through the RAM view. */
  private readonly mm: number;
  private readonly failSlab: FailPoint;
  private readonly fastpath: boolean;

  /** kmem_cache_cpu: the CPU slab's head pfn (0 = none), its shift and tag for pointer checks. */
  cpuSlab = 0;
  private cpuShift = 32;
  private cpuTag = 0;
  /** kmem_cache_node */
  readonly partial: SlabList;
  readonly full: SlabList;
  nrSlabs = 0;
  totalObjects = 0;
  nrDisabled = 0;
  /** Pages held by this cache's slabs. */
  pages = 0;

  /** Statistics (CONFIG_SLUB_STATS-like). */
  allocFastpath = 0;
  allocSlowpath = 0;
  freeFastpath = 0;
  freeSlowpath = 0;
  allocFailed = 0;
  slabsAllocated = 0;
  slabsFreed = 0;
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
    this.random = random >>> 0;
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
    this.fastpath = !this.debug;
    this.partial = new SlabList(this.w, SLAB_PARTIAL);
    this.full = new SlabList(this.w, SLAB_FULL);
  }

  /**
   * kmem_cache_alloc: one object, or 0.
   *
   * Returns 0 when failslab injects a failure, or when no partial slab is left
   * and the buddy allocator cannot give a new one.
   * Panics when the cache was destroyed.
   */
  alloc(gfp: number = GFP_KERNEL, caller?: string): number {
    return this.allocSized(gfp, this.objectSize, caller);
  }

  /** alloc with the size the caller asked for (kmalloc's orig_size). The fast path. */
  allocSized(gfp: number, origSize: number, caller: string | undefined): number {
    const pfn = this.cpuSlab;
    if (pfn !== 0 && this.fastpath && !this.failSlab.armed) {
      const m = this.mem32;
      const i = this.mm + (pfn << 2);
      const obj = m[i + 1] as number;
      if (obj !== 0) {
        const fp = obj + this.offset;
        const next = ((m[fp >>> 2] as number) ^ this.random ^ fp) >>> 0;
        if (next === 0 || next >>> this.cpuShift === this.cpuTag) {
          m[fp >>> 2] = obj ^ this.random ^ fp;
          m[i + 1] = next;
          m[i + 2] = (m[i + 2] as number) + INUSE_ONE;
          this.allocFastpath++;
          if (gfp & __GFP_ZERO) this.mem8.fill(0, obj, obj + this.objectSize);
          return PAGE_OFFSET + obj;
        }
      }
    }
    return this.allocSlow(gfp, origSize, caller);
  }

  /**
   * kmem_cache_free. An address that is not a live object of some cache is
   * reported and left alone; an object of another cache is reported and
   * freed to its own cache, as Linux's cache_from_obj does.
   */
  free(kva: number, caller?: string): void {
    const pa = kva - PAGE_OFFSET;
    if (pa >>> 0 === pa && pa < this.ramBytes) {
      const m = this.mem32;
      let head = pa >>> 12;
      let w0 = m[this.mm + (head << 2)] as number;
      if (w0 & PG_tail) {
        head = m[this.mm + (head << 2) + 3] as number;
        w0 = m[this.mm + (head << 2)] as number;
      }
      if (w0 & PG_slab && w0 >>> 20 === this.id) {
        this.slabFree(pa, head, w0, caller);
        return;
      }
    }
    this.freeForeign(kva, caller);
  }

  /** kmem_cache_free of something that is not one of this cache's slab objects. */
  private freeForeign(kva: number, caller: string | undefined): void {
    const pa = kva - PAGE_OFFSET;
    if (pa >>> 0 !== pa || pa >= this.ramBytes) {
      this.host.reportNotSlab("kmem_cache_free", kva);
      return;
    }
    const head = this.host.memmap.compoundHead(pa >>> 12);
    const w0 = this.host.memmap.word0(head);
    if ((w0 & PG_slab) === 0) {
      this.host.reportNotSlab("kmem_cache_free", kva);
      return;
    }
    const owner = reportWrongCache(this, w0 >>> 20, pa);
    if (owner) owner.slabFree(pa, head, w0, caller);
  }

  /**
   * Frees the object at `pa` in slab `head` (whose struct page word 0 is w0).
   * Reports and ignores a pointer that is not an object start or an object
   * already free.
   */
  slabFree(pa: number, head: number, w0: number, caller: string | undefined): void {
    const off = pa - head * PAGE_SIZE - this.redLeftPad;
    const used = this.usedBytes[(w0 >>> 16) & 15] as number;
    const fp = pa + this.offset;
    const m = this.mem32;
    const dec = ((m[fp >>> 2] as number) ^ this.random ^ fp) >>> 0;
    // One test for the common case: the CPU slab, an object start, not on the freelist, no debugging.
    if (
      head === this.cpuSlab &&
      off >>> 0 < used &&
      Math.round(off * this.invSize) * this.size === off &&
      (dec === pa || (dec !== 0 && (dec - pa + off) >>> 0 >= used)) &&
      this.fastpath
    ) {
      const i = this.mm + (head << 2);
      m[fp >>> 2] = (m[i + 1] as number) ^ this.random ^ fp;
      m[i + 1] = pa;
      m[i + 2] = (m[i + 2] as number) - INUSE_ONE;
      this.freeFastpath++;
      return;
    }
    this.slabFreeSlow(pa, head, w0, caller);
  }

  /** slabFree with every check spelled out: bad pointers, double frees, debugging, list moves. */
  private slabFreeSlow(pa: number, head: number, w0: number, caller: string | undefined): void {
    const base = head * PAGE_SIZE;
    const off = pa - base - this.redLeftPad;
    const used = this.usedBytes[(w0 >>> 16) & 15] as number;
    if (off >>> 0 !== off || off >= used || off % this.size !== 0) {
      reportInvalidPointer(this, head, pa);
      return;
    }
    const fp = pa + this.offset;
    const dec = this.getFreepointer(pa);
    if (dec !== pa && (dec === 0 || (dec - base) >>> 0 < used) && this.onFreelist(head, pa)) {
      reportDoubleFree(this, head, pa);
      return;
    }
    if (this.debug && !freeDebugProcessing(this, head, pa, caller)) return;
    const w = this.w;
    const i = head << 2;
    this.mem32[fp >>> 2] = (w[i + 1] as number) ^ this.random ^ fp;
    w[i + 1] = pa;
    w[i + 2] = (w[i + 2] as number) - INUSE_ONE;
    if (head === this.cpuSlab) {
      this.freeFastpath++;
      return;
    }
    this.freeSlow(head);
  }

  /** kmem_cache_shrink: flushes the CPU slab, frees empty slabs, sorts the partial list fullest first. Returns pages freed. */
  shrink(): number {
    const before = this.pages;
    if (this.cpuSlab !== 0) this.deactivateSlab(this.cpuSlab);
    const buckets: number[][] = [];
    const rest: number[] = [];
    for (let pfn = this.partial.head; pfn !== 0; ) {
      const next = slabNext(this.w, pfn);
      const free = orderObjects(this.memmap().order(pfn), this.size) - slabInuse(this.w, pfn);
      this.partial.remove(pfn);
      if (slabInuse(this.w, pfn) === 0) this.discardSlab(pfn);
      else if (free <= 32) (buckets[free] ??= []).unshift(pfn);
      else rest.push(pfn);
      pfn = next;
    }
    for (let f = 1; f <= 32; f++) for (const pfn of buckets[f] ?? []) this.partial.addTail(pfn);
    for (const pfn of rest) this.partial.addTail(pfn);
    return before - this.pages;
  }

  /** Whether `pa` is on slab `head`'s freelist (a bounded walk that never repairs). */
  onFreelist(head: number, pa: number): boolean {
    const objects = orderObjects(this.memmap().order(head), this.size);
    let p = this.w[head * 4 + 1] as number;
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
    const used = this.usedBytes[this.memmap().order(head)] as number;
    return off >>> 0 === off && off < used && off % this.size === 0;
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

  /** Flushes the CPU slab to the partial or full list (or frees it when empty and enough are kept). */
  flushCpuSlab(): void {
    if (this.cpuSlab !== 0) this.deactivateSlab(this.cpuSlab);
  }

  /** Frees one slab: back to the buddy allocator. The slab must be on no list. */
  discardSlab(pfn: number): void {
    const order = this.memmap().order(pfn);
    if (this.flags & SLAB_CONSISTENCY_CHECKS) checkOnDiscard(this, pfn);
    this.nrSlabs--;
    this.totalObjects -= orderObjects(order, this.size);
    this.pages -= 1 << order;
    this.slabsFreed++;
    this.host.accountSlab(this, -(1 << order));
    this.host.memmap.resetForFree(pfn);
    this.host.buddy.freePages(pfn, order);
  }

  /** Marks slab `pfn` as failed: all objects used, off every list, never touched again. */
  disableSlab(pfn: number): void {
    const state = slabState(this.w, pfn);
    if (state === SLAB_PARTIAL) this.partial.remove(pfn);
    else if (state === SLAB_FULL) this.full.remove(pfn);
    else if (state === SLAB_CPU) this.cpuSlab = 0;
    this.w[pfn * 4 + 1] = 0;
    setSlabInuse(this.w, pfn, orderObjects(this.memmap().order(pfn), this.size));
    setSlabState(this.w, pfn, SLAB_DISABLED);
    this.nrDisabled++;
  }

  private memmap(): MemMap {
    return this.host.memmap;
  }

  /** ___slab_alloc: refills the CPU slab from the partial list or a new slab, then takes an object. */
  private allocSlow(gfp: number, origSize: number, caller: string | undefined): number {
    if (this.dead) panic(`kmem_cache_alloc: cache ${this.name} was destroyed`);
    if (this.failSlab.armed && (gfp & __GFP_NOFAIL) === 0 && this.failSlab.shouldFail(0)) {
      this.allocFailed++;
      return 0;
    }
    for (;;) {
      let pfn = this.cpuSlab;
      if (pfn !== 0) {
        const obj = this.w[pfn * 4 + 1] as number;
        if (obj !== 0) {
          const got = this.takeObject(pfn, obj, origSize, caller);
          if (got === 0) continue;
          this.allocSlowpath++;
          if (gfp & __GFP_ZERO) this.mem8.fill(0, got, got + this.zeroSize(origSize));
          return PAGE_OFFSET + got;
        }
        this.deactivateSlab(pfn);
      }
      pfn = this.partial.head;
      if (pfn !== 0) {
        this.partial.remove(pfn);
        this.installCpuSlab(pfn);
        continue;
      }
      pfn = this.newSlab(gfp);
      if (pfn === 0) {
        this.allocFailed++;
        if ((gfp & __GFP_NOWARN) === 0) reportSlabOom(this, gfp);
        return 0;
      }
      this.installCpuSlab(pfn);
    }
  }

  /** Bytes __GFP_ZERO clears: only the requested size in a debugged kmalloc cache, so its red zone stays. */
  private zeroSize(origSize: number): number {
    return this.flags & SLAB_KMALLOC && this.flags & (SLAB_STORE_USER | SLAB_RED_ZONE) ? origSize : this.objectSize;
  }

  /**
   * Pops `obj` off the CPU slab's freelist. Returns its pa, or 0 when a debug
   * check failed and the slab was disabled.
   */
  private takeObject(pfn: number, obj: number, origSize: number, caller: string | undefined): number {
    const next = this.getFreepointer(obj);
    this.w[pfn * 4 + 1] = next;
    this.w[pfn * 4 + 2] = (this.w[pfn * 4 + 2] as number) + INUSE_ONE;
    if (this.debug && !allocDebugProcessing(this, pfn, obj, origSize, caller)) {
      this.disableSlab(pfn);
      return 0;
    }
    this.setFreepointer(obj, obj);
    if (next !== 0 && !this.isObject(pfn, next)) {
      reportFreechainCorrupt(this, pfn, obj);
      this.w[pfn * 4 + 1] = 0;
      setSlabInuse(this.w, pfn, orderObjects(this.memmap().order(pfn), this.size));
    }
    return obj;
  }

  private installCpuSlab(pfn: number): void {
    const order = this.memmap().order(pfn);
    this.cpuSlab = pfn;
    this.cpuShift = 12 + order;
    this.cpuTag = pfn >>> order;
    setSlabState(this.w, pfn, SLAB_CPU);
  }

  /** deactivate_slab: the CPU slab goes to the partial head, the full list, or back to the buddy allocator. */
  private deactivateSlab(pfn: number): void {
    this.cpuSlab = 0;
    this.cpuTag = 0;
    this.cpuShift = 32;
    setSlabState(this.w, pfn, SLAB_NONE);
    if (slabInuse(this.w, pfn) === 0 && this.partial.nr >= this.minPartial) this.discardSlab(pfn);
    else if ((this.w[pfn * 4 + 1] as number) !== 0) this.partial.addHead(pfn);
    else this.full.addHead(pfn);
  }

  /** __slab_free's list work for a slab that is not the CPU slab (the object is already pushed). */
  private freeSlow(head: number): void {
    this.freeSlowpath++;
    const state = slabState(this.w, head);
    if (slabInuse(this.w, head) === 0 && this.partial.nr >= this.minPartial) {
      if (state === SLAB_PARTIAL) this.partial.remove(head);
      else if (state === SLAB_FULL) this.full.remove(head);
      this.discardSlab(head);
    } else if (state === SLAB_FULL) {
      this.full.remove(head);
      this.partial.addTail(head);
    }
  }

  /**
   * allocate_slab: 2^order pages from the buddy allocator (the preferred
   * order quietly first, then the minimum order), objects set up and linked
   * in address order. Returns the head pfn, or 0.
   */
  private newSlab(gfp: number): number {
    if (gfp & GFP_SLAB_BUG_MASK) gfp = this.host.fixSlabGfp(gfp);
    const flags = (gfp & GFP_SLAB_KEEP) | this.allocflags;
    let order = this.order;
    let pfn = this.host.buddy.allocPages(order, (flags | __GFP_NOWARN | __GFP_NORETRY) & ~__GFP_NOFAIL);
    if (pfn < 0) {
      order = this.minOrder;
      pfn = this.host.buddy.allocPages(order, flags);
      if (pfn < 0) return 0;
    }
    const objects = orderObjects(order, this.size);
    const w = this.w;
    w[pfn * 4] = (PG_alloc | PG_slab | (order > 0 ? PG_head : 0) | (order << 16) | (this.id << 20)) >>> 0;
    w[pfn * 4 + 1] = 0;
    w[pfn * 4 + 2] = 0;
    w[pfn * 4 + 3] = 0;
    if (this.debug) setupSlabDebug(this, pfn, order);
    const first = pfn * PAGE_SIZE + this.redLeftPad;
    for (let k = 0; k < objects; k++) {
      const obj = first + k * this.size;
      if (this.debug) setupObjectDebug(this, obj);
      if (this.ctor) this.ctor(PAGE_OFFSET + obj);
      this.setFreepointer(obj, k + 1 < objects ? obj + this.size : 0);
    }
    w[pfn * 4 + 1] = first;
    this.nrSlabs++;
    this.totalObjects += objects;
    this.pages += 1 << order;
    this.slabsAllocated++;
    this.host.accountSlab(this, 1 << order);
    return pfn;
  }
}
