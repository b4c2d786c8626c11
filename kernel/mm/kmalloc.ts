/**
 * kmalloc and friends (Linux mm/slab_common.c, mm/slub.c): the kmalloc
 * caches and their size classes, kmalloc-large for bigger requests, and
 * kfree / ksize / krealloc / kzalloc / kcalloc.
 *
 * Owns: the kmalloc caches (kmalloc-*, kmalloc-rcl-* for __GFP_RECLAIMABLE,
 * dma-kmalloc-* for GFP_DMA), made at boot through the machine's object
 * cache layer (`layers.slab`, slab_layer.ts: SLUB's or a lab's, the same
 * interface either way), and kmalloc-large blocks (compound pages whose head
 * carries KMALLOC_LARGE_ID in its owner bits). Calls: the layer's kernel
 * side: allocFast by each size class's handle and freeFast on the object's
 * offset from the direct map (the fast paths, which may decline), else the
 * cache's alloc and freeObject (cacheOf and the cache's free); ksize,
 * resizeInPlace, requestSize; the page allocator for kmalloc-large. Emits the kmalloc
 * and kfree events whatever the layer. Size classes: 1-8 -> 8, 9-16 -> 16,
 * 17-32 -> 32, 33-64 -> 64, 65-96 -> 96, 97-128 -> 128, 129-192 -> 192, then
 * the next power of two up to 8192; above that, 2^get_order(size) pages.
 */
import { EV_KFREE, EV_KMALLOC } from "../events_types.ts";
import { layerFault, panic } from "../panic.ts";
import {
  __GFP_COMP,
  __GFP_DMA,
  __GFP_DMA32,
  __GFP_HIGHMEM,
  __GFP_NOWARN,
  __GFP_RECLAIMABLE,
  __GFP_ZERO,
  GFP_KERNEL,
  GFP_KNOWN_MASK,
} from "./gfp.ts";
import { PG_alloc, PG_head, PG_slab } from "./memmap.ts";
import type { SlabAllocator } from "./slab_common.ts";
import { KMALLOC_MAX_CACHE_SIZE, SLAB_CACHE_DMA, SLAB_KMALLOC, SLAB_RECLAIM_ACCOUNT, ZERO_SIZE_PTR } from "./slab_flags.ts";
import type { KernelSlabCaches, SlabCache } from "./slab_layer.ts";
import { KMALLOC_LARGE_ID } from "./slab_page.ts";
import { getOrder, PAGE_OFFSET, PAGE_SIZE } from "./types.ts";

/** Object sizes of the kmalloc caches, smallest first. */
export const KMALLOC_SIZES: readonly number[] = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192];

/** Size class of requests 1..192, indexed by (size - 1) >> 3 (Linux size_index). */
const SIZE_INDEX = new Uint8Array([0, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6]);
const GFP_SLAB_BUG_MASK = __GFP_DMA32 | __GFP_HIGHMEM | ~GFP_KNOWN_MASK;
/** Head flags of a kmalloc-large block, as far as kfree looks. */
const LARGE_FLAGS = PG_alloc | PG_head | PG_slab;
/**
 * What the fast paths of kmalloc and kfree use of other layers' constants,
 * as a const enum: each name compiles to its number, so the fast paths read
 * no module binding (a load and an initialisation check per use, per call).
 * Checked against their sources when this module loads.
 */
enum Fast {
  /** Size classes per cache type in the class table (13 used). */
  CLASS_STRIDE = 16,
  /** handleAt's type shift: 1024 request groups of 8 bytes per value of gfp & TYPE_BITS. */
  TYPE_SHIFT = 10,
  /** The gfp bits that pick the cache type: __GFP_DMA (0x01) and __GFP_RECLAIMABLE (0x10). */
  TYPE_BITS = 0x11,
  MAX_CACHE_SIZE = 8192,
  /** MAX_CACHE_SIZE - 1: an integer 0 <= x < 8192 is the only x with (x & SIZE_MASK) === x. */
  SIZE_MASK = 8191,
  GFP_DMA = 0x01,
  PAGE_OFFSET = 0x888000000000,
  EV_KMALLOC = 4,
  EV_KFREE = 5,
}
if (
  Fast.MAX_CACHE_SIZE !== KMALLOC_MAX_CACHE_SIZE ||
  Fast.SIZE_MASK !== KMALLOC_MAX_CACHE_SIZE - 1 ||
  1 << Fast.TYPE_SHIFT !== KMALLOC_MAX_CACHE_SIZE >> 3 ||
  Fast.GFP_DMA !== __GFP_DMA ||
  Fast.TYPE_BITS !== (__GFP_DMA | __GFP_RECLAIMABLE) ||
  __GFP_RECLAIMABLE >>> 3 !== 2 ||
  Fast.EV_KMALLOC !== EV_KMALLOC ||
  Fast.EV_KFREE !== EV_KFREE ||
  Fast.PAGE_OFFSET !== PAGE_OFFSET
)
  panic("kmalloc: a fast-path constant differs from its source");

function kmallocName(prefix: string, size: number): string {
  return `${prefix}${size >= 1024 ? `${size / 1024}k` : size}`;
}

/** The size class index for a request of 1..8192 bytes. */
export function kmallocIndex(size: number): number {
  return size <= 192 ? (SIZE_INDEX[(size - 1) >> 3] as number) : 31 - Math.clz32(size - 1);
}

/** The kmalloc caches and the kmalloc API, over the machine's object-cache layer. */
export class Kmalloc {
  readonly normal: SlabCache[] = [];
  readonly reclaim: SlabCache[] = [];
  readonly dma: SlabCache[] = [];
  // What the fast paths read is `declare`d: each property is created
  // holding its final kind of value, so the JIT keeps its map (see
  // MmuMemory in mmu_memory.ts).
  /** kmalloc-large's page accounting, reports and events (the slab allocator's, shared whatever the layer). */
  declare private readonly slab: SlabAllocator;
  /** The object caches: `layers.slab` as the kernel holds it. */
  declare private readonly caches: KernelSlabCaches;
  /** The cache of each (type index * CLASS_STRIDE + size class); type: __GFP_DMA (0x01) gives 1, __GFP_RECLAIMABLE (0x10) 2, DMA wins. */
  declare private readonly byClass: SlabCache[];
  /**
   * The layer's handle (`caches.handle`) of kmalloc(size, gfp)'s cache for
   * every type and request 1..8192, indexed by ((gfp & 0x11) << 10) |
   * ((size - 1) >> 3) (gfp's __GFP_DMA and __GFP_RECLAIMABLE bits as they
   * are: 18 KiB-entry table, four rows of it used): the fast path's one
   * load, an integer, no cache object. 16 bits, so the JIT knows the
   * handle's range and the layer's row arithmetic on it (SLUB: id * 8 +
   * k) needs no overflow tests.
   */
  declare private readonly handleAt: Uint16Array;
  /** The size class of every request 1..8192, indexed by (size - 1) >> 3: one load on the fast path. */
  declare private readonly sizeClass: Uint8Array;
  /** The event bus's per-kind flags (the slab allocator's bus, from kernel/main.ts): the fast paths test one byte, held here. */
  declare private readonly active: Uint8Array;

  /**
   * Makes the 39 kmalloc caches through `caches`, in Linux's order.
   * Throws LayerFault when the layer cannot make one.
   */
  constructor(slab: SlabAllocator, caches: KernelSlabCaches) {
    this.slab = slab;
    this.caches = caches;
    this.sizeClass = new Uint8Array(KMALLOC_MAX_CACHE_SIZE >> 3);
    this.active = slab.ev.active;
    const types: Array<[SlabCache[], string, number]> = [
      [this.normal, "kmalloc-", 0],
      [this.reclaim, "kmalloc-rcl-", SLAB_RECLAIM_ACCOUNT],
      [this.dma, "dma-kmalloc-", SLAB_CACHE_DMA],
    ];
    for (const [list, prefix, flags] of types) {
      for (const size of KMALLOC_SIZES) {
        const name = kmallocName(prefix, size);
        const align = (size & (size - 1)) === 0 ? size : 8;
        const c = caches.create(name, size, { align, flags: flags | SLAB_KMALLOC });
        if (c === null) layerFault("slab", `'${caches.name}' cannot make ${name}, a kmalloc cache`);
        list.push(c);
      }
    }
    for (let g = 0; g < this.sizeClass.length; g++) this.sizeClass[g] = kmallocIndex(8 * g + 1);
    const byType = [this.normal, this.dma, this.reclaim, this.dma];
    this.byClass = new Array<SlabCache>(4 * Fast.CLASS_STRIDE).fill(this.normal[0] as SlabCache);
    for (let type = 0; type < 4; type++) {
      const list = byType[type] as SlabCache[];
      for (let k = 0; k < list.length; k++) this.byClass[type * Fast.CLASS_STRIDE + k] = list[k] as SlabCache;
    }
    const handles = this.byClass.map((c) => caches.handle(c));
    for (const h of handles)
      if (!(Number.isInteger(h) && h >= 0 && h <= 0xffff))
        layerFault("slab", `'${caches.name}' gave kmalloc the handle ${h}, not an integer 0..65535`);
    this.handleAt = new Uint16Array((Fast.TYPE_BITS + 1) << Fast.TYPE_SHIFT);
    for (let type = 0; type < 4; type++) {
      // type index t (DMA 1, reclaimable 2) as gfp & TYPE_BITS: 0x00, 0x01, 0x10, 0x11
      const bits = ((type & 2) << 3) | (type & 1);
      for (let g = 0; g < this.sizeClass.length; g++)
        this.handleAt[(bits << Fast.TYPE_SHIFT) | g] = handles[type * Fast.CLASS_STRIDE + (this.sizeClass[g] as number)] as number;
    }
  }

  /** True for the kmalloc caches, which cannot be destroyed. */
  isKmallocCache(c: { readonly flags: number }): boolean {
    return (c.flags & SLAB_KMALLOC) !== 0;
  }

  /** The cache kmalloc(size, gfp) uses, or null above KMALLOC_MAX_CACHE_SIZE. */
  cacheFor(size: number, gfp: number = GFP_KERNEL): SlabCache | null {
    if (!(size > 0 && size <= KMALLOC_MAX_CACHE_SIZE)) return null;
    const list = (gfp & __GFP_DMA) !== 0 ? this.dma : (gfp & __GFP_RECLAIMABLE) !== 0 ? this.reclaim : this.normal;
    return list[kmallocIndex(Math.ceil(size))] as SlabCache;
  }

  /**
   * kmalloc: `size` bytes, or 0 (NULL). kmalloc(0) is ZERO_SIZE_PTR (16).
   * Up to 8192 bytes an object of the size class's cache, from the layer;
   * above, kmalloc_large's pages.
   *
   * Returns 0 when failslab (small) or fail_page_alloc (large) injects a
   * failure, when memory runs out, or when size exceeds the largest buddy
   * block (with the page allocator's warning unless __GFP_NOWARN).
   */
  kmalloc(size: number, gfp: number, caller?: string): number {
    // The fast path, small so that a caller's loop inlines it with the
    // layer's allocFast: one test for an integer 1 <= size <= 8192 (size -
    // 1 keeps its value under the mask only then: a fraction, NaN, a
    // negative or a larger size changes), nobody listening; the handle is
    // one load, the object comes back as a small integer (its pa), and the
    // kva, a double, is made here at the edge, in one expression either way
    // (a double merged with a call's result would be boxed on every call).
    const x = size - 1;
    const pa =
      (x & Fast.SIZE_MASK) === x && !this.active[Fast.EV_KMALLOC]
        ? this.caches.allocFast(this.handleAt[((gfp & Fast.TYPE_BITS) << Fast.TYPE_SHIFT) | (x >> 3)] as number, gfp)
        : 0;
    return Fast.PAGE_OFFSET + (pa !== 0 ? pa : this.kmallocMore(size, gfp, caller) - Fast.PAGE_OFFSET);
  }

  /** The index in byClass of kmalloc(size, gfp)'s cache, for 1 <= size <= 8192. */
  private classOf(size: number, gfp: number): number {
    return ((gfp & Fast.GFP_DMA) | ((gfp >>> 3) & 2)) * Fast.CLASS_STRIDE + (this.sizeClass[(size - 1) >> 3] as number);
  }

  /** kmalloc past the fast path: with its event, kmalloc(0) (ZERO_SIZE_PTR, no event), kmalloc_large. */
  private kmallocMore(size: number, gfp: number, caller: string | undefined): number {
    if ((size - 1) >>> 0 < Fast.MAX_CACHE_SIZE && (size | 0) === size) {
      const c = this.byClass[this.classOf(size, gfp)] as SlabCache;
      const kva = c.alloc(gfp, caller, size);
      if (this.active[Fast.EV_KMALLOC] !== 0) this.traceKmalloc(caller, kva, size, gfp, c);
      return kva;
    }
    if (size === 0) return ZERO_SIZE_PTR;
    const pa = this.kmallocLarge(size, gfp);
    const kva = pa !== 0 ? PAGE_OFFSET + pa : 0;
    if (this.active[Fast.EV_KMALLOC] !== 0) this.traceKmalloc(caller, kva, size, gfp, null);
    return kva;
  }

  /** The kfree event. */
  private traceKfree(caller: string | undefined, kva: number): void {
    this.slab.ev.kfree(caller, kva);
  }

  /** The kmalloc event: bytes_alloc is the cache's usable size, or the pages of a kmalloc-large block. */
  private traceKmalloc(caller: string | undefined, kva: number, size: number, gfp: number, c: SlabCache | null): void {
    const got = kva === 0 ? 0 : c !== null ? this.caches.usableSize(c) : PAGE_SIZE << getOrder(size);
    this.slab.ev.kmalloc(caller, kva, size, got, gfp);
  }

  /** kmalloc_large: 2^get_order(size) pages as one compound block; its pa, or 0. */
  private kmallocLarge(size: number, gfp: number): number {
    if (!Number.isInteger(size) || size < 0) {
      if ((gfp & __GFP_NOWARN) === 0) this.slab.rep.plain("kmalloc_invalid_size", `kmalloc: invalid size ${size}`);
      return 0;
    }
    if (gfp & GFP_SLAB_BUG_MASK) gfp = this.slab.fixSlabGfp(gfp);
    const order = getOrder(size);
    const pfn = this.slab.buddy.allocPages(order, gfp | __GFP_COMP);
    if (pfn < 0) return 0;
    this.slab.memmap.setOwnerBits(pfn, KMALLOC_LARGE_ID);
    this.slab.largeBlocks++;
    this.slab.largePages += 1 << order;
    this.slab.largeAllocs++;
    this.slab.pagesUnreclaimable += 1 << order;
    return pfn * PAGE_SIZE;
  }

  /**
   * kfree: frees a kmalloc object (any slab object: its cache is found from
   * its slab, virt_to_cache) or kmalloc-large block; NULL and ZERO_SIZE_PTR
   * do nothing. An address that is neither is reported and nothing is freed.
   */
  kfree(kva: number, caller?: string): void {
    // The fast path (small, inlined with the layer's freeFast while nobody
    // listens): the kva becomes a small integer once, its offset from the
    // direct map's base (`p`, a truncation; `p === pa` is the one test that
    // it is an integer in the direct map), and the layer works on that.
    const pa = kva - Fast.PAGE_OFFSET;
    const p = pa >>> 0;
    if (p !== pa || this.active[Fast.EV_KFREE] || !this.caches.freeFast(p)) this.kfreeMore(kva, caller);
  }

  /** kfree past the fast path: the kfree event, the object through the layer's freeObject, or what is in no slab (kfreeOther). */
  private kfreeMore(kva: number, caller: string | undefined): void {
    if (this.active[Fast.EV_KFREE] !== 0) this.traceKfree(caller, kva);
    if (!this.caches.freeObject(kva, caller)) this.kfreeOther(kva);
  }

  /** kfree of what is in no slab: NULL, ZERO_SIZE_PTR, a kmalloc-large block, or something else (reported). */
  private kfreeOther(kva: number): void {
    if (kva === 0 || kva === ZERO_SIZE_PTR) return;
    const head = this.largeHead(kva);
    if (head >= 0) this.freeLarge(head, this.slab.memmap.order(head));
    else this.slab.reportNotSlab("kfree", kva);
  }

  private freeLarge(head: number, order: number): void {
    this.slab.largeBlocks--;
    this.slab.largePages -= 1 << order;
    this.slab.largeFrees++;
    this.slab.pagesUnreclaimable -= 1 << order;
    this.slab.memmap.resetForFree(head);
    this.slab.buddy.freePages(head, order);
  }

  /** The head pfn of the kmalloc-large block starting at `kva`, or -1. */
  private largeHead(kva: number): number {
    const pa = kva - PAGE_OFFSET;
    if (pa >>> 0 !== pa || pa >= this.slab.phys.bytes) return -1;
    const head = this.slab.memmap.compoundHead(pa >>> 12);
    const w0 = this.slab.memmap.word0(head);
    return (w0 & LARGE_FLAGS) === (PG_alloc | PG_head) && w0 >>> 20 === KMALLOC_LARGE_ID && pa === head * PAGE_SIZE ? head : -1;
  }

  /**
   * ksize: the usable size of an allocation. 0 for NULL and ZERO_SIZE_PTR;
   * reported and 0 for an address that is no allocation. After ksize the
   * whole size may be used: a kmalloc red zone beyond the request is dropped.
   */
  ksize(kva: number): number {
    if (kva === 0 || kva === ZERO_SIZE_PTR) return 0;
    const n = this.caches.cacheOf(kva) !== null ? this.caches.ksize(kva) : this.largeSize(kva);
    if (n === 0) this.slab.reportNotSlab("ksize", kva);
    return n;
  }

  /** The bytes of the kmalloc-large block at `kva`, or 0. */
  private largeSize(kva: number): number {
    const head = this.largeHead(kva);
    return head < 0 ? 0 : PAGE_SIZE << this.slab.memmap.order(head);
  }

  /**
   * krealloc: resizes an allocation. NULL acts as kmalloc; size 0 frees and
   * returns ZERO_SIZE_PTR; a size that still fits keeps the object; else a
   * new one gets the old contents and the old one is freed.
   * Returns 0 on failure with the old allocation untouched.
   */
  krealloc(kva: number, newSize: number, gfp: number = GFP_KERNEL, caller?: string): number {
    if (newSize === 0) {
      this.kfree(kva, caller ?? "krealloc");
      return ZERO_SIZE_PTR;
    }
    if (kva === 0 || kva === ZERO_SIZE_PTR) return this.kmalloc(newSize, gfp, caller ?? "krealloc");
    const copy = this.keepsOrCopies(kva, newSize, gfp);
    if (copy === 0) {
      this.slab.reportNotSlab("krealloc", kva);
      return 0;
    }
    if (copy < 0) return kva;
    const ret = this.kmalloc(newSize, gfp, caller ?? "krealloc");
    if (ret === 0) return 0;
    const src = kva - PAGE_OFFSET;
    this.slab.phys.u8.copyWithin(ret - PAGE_OFFSET, src, src + copy);
    this.kfree(kva, caller ?? "krealloc");
    return ret;
  }

  /** krealloc's first step: -1 when the allocation at kva now serves newSize in place, else the bytes to copy (0: no allocation). */
  private keepsOrCopies(kva: number, newSize: number, gfp: number): number {
    if (this.caches.cacheOf(kva) !== null) {
      const copy = this.caches.requestSize(kva);
      return copy !== 0 && this.caches.resizeInPlace(kva, newSize, gfp) ? -1 : copy;
    }
    const ks = this.largeSize(kva);
    if (ks === 0 || !(newSize > 0 && newSize <= ks)) return ks;
    const pa = kva - PAGE_OFFSET;
    if (gfp & __GFP_ZERO) this.slab.phys.u8.fill(0, pa + newSize, pa + ks);
    return -1;
  }

  /** kzalloc: kmalloc, zeroed. */
  kzalloc(size: number, gfp: number = GFP_KERNEL, caller?: string): number {
    return this.kmalloc(size, gfp | __GFP_ZERO, caller ?? "kzalloc");
  }

  /** kcalloc: n * size zeroed bytes; 0 (NULL, silently) when n * size overflows 64 bits. */
  kcalloc(n: number, size: number, gfp: number = GFP_KERNEL, caller?: string): number {
    if (!(Number.isSafeInteger(n) && n >= 0 && Number.isSafeInteger(size) && size >= 0)) return 0;
    const bytes = n * size;
    if (bytes > Number.MAX_SAFE_INTEGER && BigInt(n) * BigInt(size) > 2n ** 64n - 1n) return 0;
    return this.kmalloc(bytes, gfp | __GFP_ZERO, caller ?? "kcalloc");
  }
}
