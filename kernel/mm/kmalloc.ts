/**
 * kmalloc and friends (Linux mm/slab_common.c, mm/slub.c): the kmalloc
 * caches and their size classes, kmalloc-large for bigger requests, and
 * kfree / ksize / krealloc / kzalloc / kcalloc.
 *
 * Owns: the kmalloc caches (kmalloc-*, kmalloc-rcl-* for __GFP_RECLAIMABLE,
 * dma-kmalloc-* for GFP_DMA) and kmalloc-large blocks (compound pages whose
 * head carries KMALLOC_LARGE_ID in its owner bits). Calls: the caches, the
 * buddy allocator. Size classes: 1-8 -> 8, 9-16 -> 16, 17-32 -> 32,
 * 33-64 -> 64, 65-96 -> 96, 97-128 -> 128, 129-192 -> 192, then the next
 * power of two up to 8192; above that, 2^get_order(size) pages.
 */
import { EV_KFREE, EV_KMALLOC } from "../events_types.ts";
import { panic } from "../panic.ts";
import type { FailPoint } from "./fault_inject.ts";
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
import { PG_alloc, PG_head, PG_slab, PG_tail } from "./memmap.ts";
import type { KmemCache } from "./slab.ts";
import type { SlabAllocator } from "./slab_common.ts";
import type { SlabCpu } from "./slab_cpu.ts";
import { getOrigSize, setOrigSize } from "./slab_debug.ts";
import {
  KMALLOC_MAX_CACHE_SIZE,
  SLAB_CACHE_DMA,
  SLAB_KMALLOC,
  SLAB_POISON,
  SLAB_RECLAIM_ACCOUNT,
  SLAB_RED_ZONE,
  SLAB_STORE_USER,
  SLUB_RED_ACTIVE,
  ZERO_SIZE_PTR,
} from "./slab_flags.ts";
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
  MAX_CACHE_SIZE = 8192,
  GFP_DMA = 0x01,
  GFP_ZERO = 0x100,
  GFP_KERNEL = 0xcc0,
  PG_tail = 1 << 5,
  PG_slab = 1 << 6,
  EV_KMALLOC = 4,
  EV_KFREE = 5,
  PAGE_OFFSET = 0x888000000000,
}
if (
  Fast.MAX_CACHE_SIZE !== KMALLOC_MAX_CACHE_SIZE ||
  Fast.GFP_DMA !== __GFP_DMA ||
  Fast.GFP_ZERO !== __GFP_ZERO ||
  Fast.GFP_KERNEL !== GFP_KERNEL ||
  __GFP_RECLAIMABLE >>> 3 !== 2 ||
  Fast.PG_tail !== PG_tail ||
  Fast.PG_slab !== PG_slab ||
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

/** The kmalloc caches and the kmalloc API. */
export class Kmalloc {
  readonly normal: KmemCache[] = [];
  readonly reclaim: KmemCache[] = [];
  readonly dma: KmemCache[] = [];
  // What the fast paths read is `declare`d: each property is created
  // holding its final kind of value, so the JIT keeps its map (see
  // MmuMemory in mmu_memory.ts).
  declare private readonly slab: SlabAllocator;
  /** The caches by type index: __GFP_DMA (0x01) gives 1, __GFP_RECLAIMABLE (0x10) gives 2, DMA wins. */
  declare private readonly byType: KmemCache[][];
  /** RAM as words, and the index of mem_map's first word in it. */
  declare private readonly mem32: Uint32Array;
  declare private readonly mm: number;
  declare private readonly bytes: number;
  /** Caches by owner id (the slab allocator's table). */
  declare private readonly byId: ReadonlyArray<KmemCache | undefined>;
  /** Cache id by (type index * CLASS_STRIDE + size class): the fast path's way to a cache, no object on it. */
  declare private readonly classId: Int32Array;
  /** The size class of every request 1..8192, indexed by (size - 1) >> 3: one load on the fast path. */
  declare private readonly sizeClass: Uint8Array;
  declare private readonly cpu: SlabCpu;
  declare private readonly failSlab: FailPoint;
  /** The event bus's per-kind flags (the slab allocator's bus, from kernel/main.ts): the fast paths test one byte, held here. */
  declare private readonly active: Uint8Array;

  constructor(slab: SlabAllocator) {
    this.slab = slab;
    this.classId = new Int32Array(4 * Fast.CLASS_STRIDE);
    this.sizeClass = new Uint8Array(KMALLOC_MAX_CACHE_SIZE >> 3);
    this.mem32 = slab.phys.u32;
    this.mm = slab.memmap.firstPfn * (PAGE_SIZE / 4);
    this.byId = slab.byId;
    this.byType = [this.normal, this.dma, this.reclaim, this.dma];
    this.bytes = slab.phys.bytes;
    this.cpu = slab.cpu;
    this.failSlab = slab.failSlab;
    this.active = slab.ev.active;
    const types: Array<[KmemCache[], string, number]> = [
      [this.normal, "kmalloc-", 0],
      [this.reclaim, "kmalloc-rcl-", SLAB_RECLAIM_ACCOUNT],
      [this.dma, "dma-kmalloc-", SLAB_CACHE_DMA],
    ];
    for (const [list, prefix, flags] of types) {
      for (const size of KMALLOC_SIZES) {
        const align = (size & (size - 1)) === 0 ? size : 8;
        const c = slab.createCacheInternal(kmallocName(prefix, size), size, align, flags | SLAB_KMALLOC, null, true);
        if (!c) panic(`kmalloc: cannot create ${kmallocName(prefix, size)}`);
        list.push(c);
      }
    }
    for (let g = 0; g < this.sizeClass.length; g++) this.sizeClass[g] = kmallocIndex(8 * g + 1);
    for (let type = 0; type < 4; type++) {
      const list = this.byType[type] as KmemCache[];
      for (let k = 0; k < list.length; k++) this.classId[type * Fast.CLASS_STRIDE + k] = (list[k] as KmemCache).id;
    }
  }

  /** True for the kmalloc caches, which cannot be destroyed. */
  isKmallocCache(c: KmemCache): boolean {
    return (c.flags & SLAB_KMALLOC) !== 0;
  }

  /** The cache kmalloc(size, gfp) uses, or null above KMALLOC_MAX_CACHE_SIZE. */
  cacheFor(size: number, gfp: number = GFP_KERNEL): KmemCache | null {
    if (!(size > 0 && size <= KMALLOC_MAX_CACHE_SIZE)) return null;
    const list = (gfp & __GFP_DMA) !== 0 ? this.dma : (gfp & __GFP_RECLAIMABLE) !== 0 ? this.reclaim : this.normal;
    return list[kmallocIndex(Math.ceil(size))] as KmemCache;
  }

  /**
   * kmalloc: `size` bytes, or 0 (NULL). kmalloc(0) is ZERO_SIZE_PTR (16).
   *
   * Returns 0 when failslab (small) or fail_page_alloc (large) injects a
   * failure, when memory runs out, or when size exceeds the largest buddy
   * block (with the page allocator's warning unless __GFP_NOWARN).
   */
  kmalloc(size: number, gfp: number = Fast.GFP_KERNEL, caller?: string): number {
    // The canonical address is made here, once, from a pa: a small integer
    // wherever the fast path is not inlined into the caller (a kva is a
    // double, boxed when a call returns it). Everything else, the event
    // included, is kmallocSlow's.
    const pa = this.allocFast(size, gfp);
    return pa !== 0 ? Fast.PAGE_OFFSET + pa : this.kmallocSlow(size, gfp, caller);
  }

  /**
   * The fast path: an object off the CPU slab of the size class's cache, as
   * a pa, or 0 when kmallocSlow must run. Nobody may be listening for kmalloc
   * events: the flag is tested here, so the emit (its call and arguments)
   * stays out of the code a caller's loop inlines.
   */
  private allocFast(size: number, gfp: number): number {
    // One compare for 1 <= size <= 8192; the second rejects fractions.
    if (
      (size - 1) >>> 0 < Fast.MAX_CACHE_SIZE &&
      (size | 0) === size &&
      (gfp & Fast.GFP_ZERO) === 0 &&
      this.active[Fast.EV_KMALLOC] === 0 &&
      !this.failSlab.armed
    ) {
      const k = this.sizeClass[(size - 1) >> 3] as number;
      return this.cpu.alloc(this.classId[((gfp & Fast.GFP_DMA) | ((gfp >>> 3) & 2)) * Fast.CLASS_STRIDE + k] as number);
    }
    return 0;
  }

  /** kmalloc past the fast path (the CPU slab may still serve it): the kva, 0 or ZERO_SIZE_PTR, and the kmalloc event. */
  private kmallocSlow(size: number, gfp: number, caller: string | undefined): number {
    const pa = this.kmallocPa(size, gfp, caller);
    const kva = pa !== 0 ? PAGE_OFFSET + pa : size === 0 ? ZERO_SIZE_PTR : 0;
    if (this.active[Fast.EV_KMALLOC] !== 0) this.traceKmalloc(caller, kva, size, gfp);
    return kva;
  }

  /** The kfree event. */
  private traceKfree(caller: string | undefined, kva: number): void {
    this.slab.ev.kfree(caller, kva);
  }

  /** The kmalloc event (none for kmalloc(0)). */
  private traceKmalloc(caller: string | undefined, kva: number, size: number, gfp: number): void {
    if (size !== 0) this.slab.ev.kmalloc(caller, kva, size, kva === 0 ? 0 : this.ksize(kva), gfp);
  }

  /** kmalloc past the fast path, as a physical address: 0 for NULL and for kmalloc(0). */
  private kmallocPa(size: number, gfp: number, caller: string | undefined): number {
    // One compare for 1 <= size <= 8192 (the second rejects fractions).
    if ((size - 1) >>> 0 < KMALLOC_MAX_CACHE_SIZE && (size | 0) === size) {
      const list = this.byType[(gfp & __GFP_DMA) | ((gfp >>> 3) & 2)] as KmemCache[];
      const c = list[size <= 192 ? (SIZE_INDEX[(size - 1) >> 3] as number) : 31 - Math.clz32(size - 1)] as KmemCache;
      return Math.max(c.allocPa(gfp, size, caller), 0);
    }
    return size === 0 ? 0 : this.kmallocLarge(size, gfp);
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
   * kfree: frees a kmalloc object or kmalloc-large block; NULL and
   * ZERO_SIZE_PTR do nothing. An address that is not a live object or block
   * is reported and nothing is freed.
   */
  kfree(kva: number, caller?: string): void {
    const pa = kva - Fast.PAGE_OFFSET;
    // The fast path, while nobody listens for kfree events (kfreeSlow emits
    // them): an object in an order-0 slab page (a compound tail goes the
    // slow way), freed onto its CPU slab.
    if (pa >>> 0 === pa && pa < this.bytes && this.active[Fast.EV_KFREE] === 0) {
      const i = this.mm + ((pa >>> 12) << 4);
      const w0 = this.mem32[i] as number;
      if ((w0 & (Fast.PG_tail | Fast.PG_slab)) === Fast.PG_slab && this.cpu.free(w0 >>> 20, i, pa)) return;
    }
    this.kfreeSlow(kva, caller);
  }

  /** kfree past the fast path: NULL, ZERO_SIZE_PTR, any slab object, a kmalloc-large block, or something else (reported). */
  private kfreeSlow(kva: number, caller: string | undefined): void {
    if (this.active[Fast.EV_KFREE] !== 0) this.traceKfree(caller, kva);
    if (kva === 0 || kva === ZERO_SIZE_PTR) return;
    const pa = kva - PAGE_OFFSET;
    if (pa >>> 0 === pa && pa < this.bytes) {
      const head = this.slab.memmap.compoundHead(pa >>> 12);
      const w0 = this.slab.memmap.word0(head);
      if (w0 & PG_slab) {
        const c = this.byId[w0 >>> 20];
        if (c === undefined) panic(`kfree: slab page 0x${head.toString(16)} has no live cache`);
        c.slabFree(pa, c.pageWord(head), w0, caller);
        return;
      }
      if ((w0 & LARGE_FLAGS) === (PG_alloc | PG_head) && w0 >>> 20 === KMALLOC_LARGE_ID && pa === head * PAGE_SIZE) {
        this.freeLarge(head, (w0 >>> 16) & 15);
        return;
      }
    }
    this.slab.reportNotSlab("kfree", kva);
  }

  private freeLarge(head: number, order: number): void {
    this.slab.largeBlocks--;
    this.slab.largePages -= 1 << order;
    this.slab.largeFrees++;
    this.slab.pagesUnreclaimable -= 1 << order;
    this.slab.memmap.resetForFree(head);
    this.slab.buddy.freePages(head, order);
  }

  /**
   * What kva points at: the slab cache and object (head pfn in `at`), a
   * kmalloc-large block (head pfn in `at`, cache null), or nothing (at = -1).
   */
  private lookup(kva: number): { cache: KmemCache | null; at: number } {
    const pa = kva - PAGE_OFFSET;
    if (pa >>> 0 !== pa || pa >= this.bytes) return { cache: null, at: -1 };
    const pfn = pa >>> 12;
    const head = this.slab.memmap.compoundHead(pfn);
    const w0 = this.slab.memmap.word0(head);
    if (w0 & PG_slab) {
      const c = this.slab.cacheById(w0 >>> 20);
      return c?.isObject(head, pa) ? { cache: c, at: head } : { cache: null, at: -1 };
    }
    if ((w0 & LARGE_FLAGS) === (PG_alloc | PG_head) && w0 >>> 20 === KMALLOC_LARGE_ID && pa === head * PAGE_SIZE) {
      return { cache: null, at: head };
    }
    return { cache: null, at: -1 };
  }

  /**
   * ksize: the usable size of an allocation. 0 for NULL and ZERO_SIZE_PTR;
   * reported and 0 for an address that is no allocation. After ksize the
   * whole size may be used: a kmalloc red zone beyond the request is dropped.
   */
  ksize(kva: number): number {
    if (kva === 0 || kva === ZERO_SIZE_PTR) return 0;
    const { cache, at } = this.lookup(kva);
    if (at < 0) {
      this.slab.reportNotSlab("ksize", kva);
      return 0;
    }
    if (cache === null) return PAGE_SIZE << this.slab.memmap.order(at);
    setOrigSize(cache, kva - PAGE_OFFSET, cache.objectSize);
    return slabKsize(cache);
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
    const { cache, at } = this.lookup(kva);
    if (at < 0) {
      this.slab.reportNotSlab("krealloc", kva);
      return 0;
    }
    const pa = kva - PAGE_OFFSET;
    const ks = cache ? cache.objectSize : PAGE_SIZE << this.slab.memmap.order(at);
    const orig = cache ? getOrigSize(cache, pa) : 0;
    if (newSize > 0 && newSize <= ks) {
      const u8 = this.slab.phys.u8;
      if (gfp & __GFP_ZERO) {
        if (orig && orig < newSize) u8.fill(0, pa + orig, pa + newSize);
        else u8.fill(0, pa + newSize, pa + ks);
      }
      if (cache && (cache.flags & (SLAB_KMALLOC | SLAB_STORE_USER)) === (SLAB_KMALLOC | SLAB_STORE_USER)) {
        setOrigSize(cache, pa, newSize);
        if (cache.flags & SLAB_RED_ZONE && newSize < ks) u8.fill(SLUB_RED_ACTIVE, pa + newSize, pa + ks);
      }
      return kva;
    }
    const ret = this.kmalloc(newSize, gfp, caller ?? "krealloc");
    if (ret === 0) return 0;
    const src = pa;
    const dst = ret - PAGE_OFFSET;
    this.slab.phys.u8.copyWithin(dst, src, src + (orig || ks));
    this.kfree(kva, caller ?? "krealloc");
    return ret;
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

/** slab_ksize: what of an object's slot a caller may use. */
export function slabKsize(c: KmemCache): number {
  if (c.flags & (SLAB_RED_ZONE | SLAB_POISON)) return c.objectSize;
  if (c.flags & SLAB_STORE_USER) return c.inuse;
  return c.size;
}
