/**
 * memsim's SLUB behind the object-cache layer interface (slab_layer.ts):
 * the default `layers.slab`. Its KmemCache objects are the caches (alloc and
 * free are SLUB's own fast paths), create and destroy are kmem_cache_create
 * and kmem_cache_destroy, shrink is kmem_cache_shrink. kmalloc's size
 * classes are made here like any cache (SLAB_KMALLOC among the flags), and
 * kmalloc reaches them only through this interface. The kernel's side
 * (cacheOf, ksize, usableSize, resizeInPlace) reads struct page: a slab
 * page's owner bits name its cache.
 *
 * Its checker is the slab allocator's own (slab_check.ts, registered at boot).
 */
import { EV_KMEM_CACHE_ALLOC, EV_KMEM_CACHE_FREE } from "../events_types.ts";
import { panic } from "../panic.ts";
import type { SlabinfoRow } from "../proc/slabinfo.ts";
import type { FailPoint } from "./fault_inject.ts";
import { __GFP_ZERO } from "./gfp.ts";
import { PG_slab, PG_tail } from "./memmap.ts";
import { KmemCache } from "./slab.ts";
import type { SlabAllocator } from "./slab_common.ts";
import type { SlabCpu } from "./slab_cpu.ts";
import { getOrigSize, setOrigSize } from "./slab_debug.ts";
import { SLAB_KMALLOC, SLAB_POISON, SLAB_RED_ZONE, SLAB_STORE_USER, SLUB_RED_ACTIVE } from "./slab_flags.ts";
import type { KernelSlabCaches, SlabCache, SlabCacheOptions } from "./slab_layer.ts";
import { activeObjects, slabinfoRow } from "./slab_stats.ts";
import { PAGE_OFFSET, PAGE_SIZE } from "./types.ts";

/** The constants cacheOf's fast path reads, as literals (a module binding is a load and a check per read). */
enum Fast {
  PAGE_OFFSET = 0x888000000000,
  PG_tail = 1 << 5,
  PG_slab = 1 << 6,
  GFP_ZERO = 0x100,
  EV_ALLOC = 6,
  EV_FREE = 7,
}
if (
  Fast.PAGE_OFFSET !== PAGE_OFFSET ||
  Fast.PG_tail !== PG_tail ||
  Fast.PG_slab !== PG_slab ||
  Fast.GFP_ZERO !== __GFP_ZERO ||
  Fast.EV_ALLOC !== EV_KMEM_CACHE_ALLOC ||
  Fast.EV_FREE !== EV_KMEM_CACHE_FREE
)
  panic("slab_layer_slub: a fast-path constant differs from its source");

/** slab_ksize: what of an object's slot a caller may use. */
export function slabKsize(c: KmemCache): number {
  if (c.flags & (SLAB_RED_ZONE | SLAB_POISON)) return c.objectSize;
  if (c.flags & SLAB_STORE_USER) return c.inuse;
  return c.size;
}

function kmem(c: SlabCache): KmemCache {
  if (!(c instanceof KmemCache)) throw new TypeError(`slub: ${String(c?.name)} is not a SLUB cache`);
  return c;
}

/** SLUB's caches as the kernel holds them. */
export class SlubCaches implements KernelSlabCaches {
  readonly name = "slub";
  // `declare`d: created holding their final values, so the JIT keeps the map.
  declare private readonly slab: SlabAllocator;
  /** RAM as words, the index of mem_map's first word in it, RAM's size. */
  declare private readonly mem32: Uint32Array;
  declare private readonly mm: number;
  declare private readonly bytes: number;
  declare private readonly byId: ReadonlyArray<KmemCache | undefined>;
  /** The kmem_cache_cpu rows (allocFast, freeFast and freeObject work on them by cache id), failslab, the event flags. */
  declare private readonly cpu: SlabCpu;
  declare private readonly failSlab: FailPoint;
  declare private readonly active: Uint8Array;

  constructor(slab: SlabAllocator) {
    this.slab = slab;
    this.mem32 = slab.phys.u32;
    this.mm = slab.memmap.firstPfn * (PAGE_SIZE / 4);
    this.bytes = slab.phys.bytes;
    this.byId = slab.byId;
    this.cpu = slab.cpu;
    this.failSlab = slab.failSlab;
    this.active = slab.ev.active;
  }

  /** kmem_cache_create; kmalloc's caches (SLAB_KMALLOC) skip the argument checks and keep their request sizes. */
  create(name: string, size: number, opts: SlabCacheOptions = {}): KmemCache | null {
    const flags = opts.flags ?? 0;
    if (flags & SLAB_KMALLOC) return this.slab.createCacheInternal(name, size, opts.align ?? 0, flags, null, true);
    return this.slab.createCache(name, size, { align: opts.align ?? 0, flags });
  }

  /** kmem_cache_destroy. Panics for a kmalloc cache. */
  destroy(c: SlabCache): boolean {
    return this.slab.destroyCache(kmem(c), (kmem(c).flags & SLAB_KMALLOC) !== 0);
  }

  shrink(c: SlabCache): number {
    return kmem(c).shrink();
  }

  /** Counts exactly the objects allocated (a CPU slab's free objects are free here, unlike /proc/slabinfo). */
  info(c: SlabCache): SlabinfoRow {
    return slabinfoRow(kmem(c), activeObjects(kmem(c)));
  }

  check(): void {}

  /** A cache's handle is its id (the owner bits of its slabs' struct pages, its row in the kmem_cache_cpu table). */
  handle(c: SlabCache): number {
    return kmem(c).id;
  }

  /**
   * kmalloc's fast path: pops the CPU slab freelist of cache id `h` and
   * returns the object's pa, or 0 to decline (__GFP_ZERO, failslab armed,
   * a kmem_cache_alloc listener, no fast CPU slab or an empty freelist:
   * the cache's alloc decides those).
   */
  allocFast(h: number, gfp: number): number {
    return (gfp & Fast.GFP_ZERO) === 0 && !this.failSlab.armed && !this.active[Fast.EV_ALLOC] ? this.cpu.alloc(h) : 0;
  }

  /**
   * kfree's fast path: the object at direct-map offset `pa` back on its
   * CPU slab's freelist when struct page word 0 shows an order-0 slab page
   * (its owner bits are the cache id) and SlabCpu.free takes it (every
   * check of the cache's free: the CPU slab's page, an object start, the
   * hardened pointer showing it allocated). Declines (false, nothing done)
   * past RAM, with a kmem_cache_free listener, or anything else.
   */
  freeFast(pa: number): boolean {
    if (pa >= this.bytes || this.active[Fast.EV_FREE]) return false;
    const word = this.mm + ((pa >>> 12) << 4);
    const w0 = this.mem32[word] as number;
    return (w0 & (Fast.PG_tail | Fast.PG_slab)) === Fast.PG_slab && this.cpu.free(w0 >>> 20, word, pa);
  }

  /**
   * kfree's object part: the object at `kva` back to the cache of its slab.
   * The fast path reads struct page's word 0 (an order-0 slab page: its
   * owner bits are the cache id) and pushes the object on that id's CPU
   * slab freelist (SlabCpu.free makes every check the cache's free makes);
   * anything else goes through cacheOf and the cache's free. Returns false,
   * freeing nothing, when kva is in no slab.
   */
  freeObject(kva: number, caller?: string): boolean {
    const pa = kva - Fast.PAGE_OFFSET;
    const p = pa >>> 0; // pa as an integer: converted once
    if (p === pa && p < this.bytes && this.active[Fast.EV_FREE] === 0) {
      const word = this.mm + ((p >>> 12) << 4);
      const w0 = this.mem32[word] as number;
      if ((w0 & (Fast.PG_tail | Fast.PG_slab)) === Fast.PG_slab)
        return this.cpu.free(w0 >>> 20, word, p) || this.freeInSlab(p, word, w0, caller);
    }
    return this.freeObjectSlow(kva, caller);
  }

  /** freeObject of an object in an order-0 slab that is no CPU slab of the running CPU: the cache's slabFree, struct page read once. */
  private freeInSlab(pa: number, word: number, w0: number, caller: string | undefined): boolean {
    const c = this.byId[w0 >>> 20];
    if (c === undefined) panic(`kfree: slab page 0x${((word - this.mm) >>> 4).toString(16)} has no live cache`);
    c.slabFree(pa, word, w0, caller);
    return true;
  }

  /** freeObject past its fast path. */
  private freeObjectSlow(kva: number, caller: string | undefined): boolean {
    const c = this.cacheOf(kva);
    if (c === null) return false;
    c.free(kva, caller);
    return true;
  }

  /**
   * The cache whose slab holds `kva` (struct page's owner bits), or null.
   * Panics when a slab page names no live cache.
   */
  cacheOf(kva: number): KmemCache | null {
    // kfree's fast path: an order-0 slab page, one struct page word (small,
    // so kfree and a caller's loop inline it with the kva unboxed).
    const pa = kva - Fast.PAGE_OFFSET;
    const p = pa >>> 0; // pa as an integer: converted once
    if (p === pa && p < this.bytes) {
      const w0 = this.mem32[this.mm + ((p >>> 12) << 4)] as number;
      if ((w0 & (Fast.PG_tail | Fast.PG_slab)) === Fast.PG_slab) {
        const c = this.byId[w0 >>> 20];
        if (c !== undefined) return c;
      }
    }
    return this.cacheOfPage(kva);
  }

  /** cacheOf past its fast path: a compound slab's tail page, a page of no slab, or a slab of no live cache (a panic). */
  private cacheOfPage(kva: number): KmemCache | null {
    const pa = kva - PAGE_OFFSET;
    if (!(pa >>> 0 === pa && pa < this.bytes)) return null;
    const m = this.mem32;
    let i = this.mm + ((pa >>> 12) << 4);
    let w0 = m[i] as number;
    if (w0 & PG_tail) {
      i = this.mm + ((m[i + 3] as number) << 4);
      w0 = m[i] as number;
    }
    if ((w0 & PG_slab) === 0) return null;
    const c = this.byId[w0 >>> 20];
    if (c === undefined) panic(`kfree: slab page 0x${((i - this.mm) >>> 4).toString(16)} has no live cache`);
    return c;
  }

  /** The cache of the object starting at `kva`, or null (inside no slab, or not at an object start). */
  private objectCache(kva: number): KmemCache | null {
    const c = this.cacheOf(kva);
    if (c === null) return null;
    const pa = kva - PAGE_OFFSET;
    return c.isObject(this.slab.memmap.compoundHead(pa >>> 12), pa) ? c : null;
  }

  /** __ksize; drops a kmalloc red zone past the request, as Linux's ksize does. */
  ksize(kva: number): number {
    const c = this.objectCache(kva);
    if (c === null) return 0;
    setOrigSize(c, kva - PAGE_OFFSET, c.objectSize);
    return slabKsize(c);
  }

  usableSize(c: SlabCache): number {
    return slabKsize(kmem(c));
  }

  /** krealloc in place: zeroes the new part for __GFP_ZERO, moves a kmalloc red zone to the new request. */
  resizeInPlace(kva: number, size: number, gfp: number): boolean {
    const c = this.objectCache(kva);
    if (c === null || !(size > 0 && size <= c.objectSize)) return false;
    const pa = kva - PAGE_OFFSET;
    const ks = c.objectSize;
    const orig = getOrigSize(c, pa);
    const u8 = this.slab.phys.u8;
    if (gfp & __GFP_ZERO) {
      if (orig && orig < size) u8.fill(0, pa + orig, pa + size);
      else u8.fill(0, pa + size, pa + ks);
    }
    if ((c.flags & (SLAB_KMALLOC | SLAB_STORE_USER)) === (SLAB_KMALLOC | SLAB_STORE_USER)) {
      setOrigSize(c, pa, size);
      if (c.flags & SLAB_RED_ZONE && size < ks) u8.fill(SLUB_RED_ACTIVE, pa + size, pa + ks);
    }
    return true;
  }

  /** The request slab_debug recorded for the object at `kva`, else its object size; 0 when kva is no object start. */
  requestSize(kva: number): number {
    const c = this.objectCache(kva);
    if (c === null) return 0;
    return getOrigSize(c, kva - PAGE_OFFSET) || c.objectSize;
  }
}

/** memsim's SLUB as the default `layers.slab` (kernel/LAYERS.md). */
export function slubCaches(slab: SlabAllocator): SlubCaches {
  return new SlubCaches(slab);
}
