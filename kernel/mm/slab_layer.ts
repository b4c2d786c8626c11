/**
 * The object-cache layer's contract (the `slab` entry of
 * `Machine.boot({ layers })`, kernel/LAYERS.md): kmem_cache_create,
 * kmem_cache_alloc/free, kmem_cache_shrink and kmem_cache_destroy, and the
 * slabinfo counts of a cache. The kernel's own object caches made at boot
 * (vmap_area, vm_area_struct) and `kernel.kmemCaches` go through it.
 *
 * memsim's SLUB (slab_common.ts, slab.ts) is the default layer, `slubCaches`
 * (slab_layer_slub.ts): the same interface, its caches handed out as they
 * are. A lab's layer is put behind CheckedSlab (slab_layer_check.ts), which
 * checks every answer. kmalloc's size classes are caches of the layer too
 * (kmalloc.ts): made with `create` at boot, served by their `alloc`, freed
 * through `freeObject` (`cacheOf` and the cache's `free`), after the fast
 * paths `allocFast` (by a handle) and `freeFast`, which work on offsets
 * from the direct map and may decline.
 * What kmalloc asks beyond a lab's SlabCaches (`KernelSlabCaches`: cacheOf,
 * ksize, usableSize, resizeInPlace, requestSize, handle, freeObject,
 * allocFast, freeFast) is the
 * kernel's side, which slubCaches and CheckedSlab both provide: a lab's
 * layer writes none of it.
 */
import type { SlabinfoRow } from "../proc/slabinfo.ts";
import type { KernelMemory } from "./kmem.ts";

/** A cache as the kernel uses it: objects of one size. */
export interface SlabCache {
  readonly name: string;
  /**
   * kmem_cache_alloc: an object's kernel virtual address, or 0 when no frame
   * is left. `gfp` is the request's GFP mask, `caller` the call site and
   * `origSize` the bytes a kmalloc asked for (slab_debug's kmalloc red
   * zone); a layer may ignore all three (the kernel zeroes for __GFP_ZERO
   * and injects failslab around a lab's layer).
   */
  alloc(gfp?: number, caller?: string, origSize?: number): number;
  /** kmem_cache_free: an object alloc handed out comes back. */
  free(kva: number, caller?: string): void;
}

/** What kmem_cache_create takes besides name and size. */
export interface SlabCacheOptions {
  /** Minimum object alignment in bytes, a power of two (0 or absent: 8). */
  readonly align?: number;
  /**
   * SLAB_* flags (slab_flags.ts); a layer may ignore them. kmalloc's caches
   * carry SLAB_KMALLOC (and SLAB_RECLAIM_ACCOUNT or SLAB_CACHE_DMA for the
   * kmalloc-rcl-* and dma-kmalloc-* classes).
   */
  readonly flags?: number;
}

/** The object caches of a machine: memsim's SLUB or a lab's allocator. */
export interface SlabCaches {
  /** Names the layer in reports ("slub", "aos"). */
  readonly name: string;
  /** kmem_cache_create: a new cache of `size`-byte objects, or null when it cannot be made. */
  create(name: string, size: number, opts?: SlabCacheOptions): SlabCache | null;
  /**
   * kmem_cache_destroy: gives every slab's frames back and forgets the
   * cache. Returns false, keeping the cache, when objects are still live.
   */
  destroy(cache: SlabCache): boolean;
  /** kmem_cache_shrink: gives the frames of every empty slab back. Returns the pages freed. */
  shrink(cache: SlabCache): number;
  /** The cache's /proc/slabinfo counts; `activeObjs` is the objects allocated now. */
  info(cache: SlabCache): SlabinfoRow;
  /** Recounts the layer's own state; throws when it is broken. */
  check(): void;
}

/** What an object-cache layer is handed at boot: frames and kernel memory. */
export interface SlabBoot {
  /** alloc_pages: the first pfn of 2^order frames (refcount 1), or -1 when memory ran out. */
  allocPages(order: number): number;
  /** __free_pages: a run allocPages gave, with the same order. */
  freePages(pfn: number, order: number): void;
  /** Kernel virtual memory: the direct map reaches every frame (read32/write32 ...). */
  readonly mem: KernelMemory;
  /** The direct-map address of frame `pfn`. */
  pfnToKva(pfn: number): number;
  /** The frame holding direct-map address `kva`. */
  kvaToPfn(kva: number): number;
}

/** An object-cache layer: made once at boot. */
export type SlabLayer = (boot: SlabBoot) => SlabCaches;

/**
 * The object caches as the kernel holds them (`m.kernel.kmemCaches`): a
 * layer's SlabCaches plus what kfree, ksize and krealloc need, which the
 * kernel answers for a lab's layer from what it tracks (CheckedSlab) and
 * SLUB from struct page (slubCaches).
 */
export interface KernelSlabCaches extends SlabCaches {
  /**
   * virt_to_cache: the cache of the slab holding `kva` (any address inside
   * it, object start or not). Returns null when kva is in no slab.
   */
  cacheOf(kva: number): SlabCache | null;
  /**
   * __ksize: the bytes usable at the object starting at `kva`; afterwards
   * the whole of them may be written (SLUB drops a kmalloc red zone past
   * the request). Returns 0 when kva is not an object start of a slab.
   */
  ksize(kva: number): number;
  /** slab_ksize: the bytes a caller may use of each object of `cache`, no side effect. */
  usableSize(cache: SlabCache): number;
  /**
   * krealloc's in-place case: the object at `kva` keeps serving `size`
   * bytes (zeroing past the old request with __GFP_ZERO). Returns false,
   * touching nothing, when `size` does not fit or kva is not an object start.
   */
  resizeInPlace(kva: number, size: number, gfp: number): boolean;
  /**
   * The bytes krealloc copies when the object at `kva` moves: the request
   * the layer recorded (SLUB with slab_debug), else the object's size.
   * Returns 0 when kva is not an object start.
   */
  requestSize(kva: number): number;
  /**
   * A small non-negative integer (0..65535) naming `cache` for allocFast, fixed for the cache's life (kmalloc holds one per size
   * class, in 16 bits). Panics when the cache is not a live one of this layer.
   */
  handle(cache: SlabCache): number;
  /**
   * kfree of a slab object: `cacheOf(kva)`'s free of kva. Returns false,
   * freeing nothing, when kva is in no slab.
   */
  freeObject(kva: number, caller?: string): boolean;
  /**
   * kmalloc's fast path: an object of the cache whose handle is `h`, as
   * that cache's `alloc(gfp)` would give it, returned as its offset from
   * the direct map's base (its pa: a small integer; the kva is PAGE_OFFSET +
   * it). Returns 0, doing nothing, to decline: the caller then makes the
   * full call (the cache's alloc), which may also fail. A layer may decline
   * every call (CheckedSlab does).
   */
  allocFast(h: number, gfp: number): number;
  /**
   * kfree's fast path: frees the slab object at direct-map offset `pa`
   * (an integer >= 0) as `freeObject(PAGE_OFFSET + pa)` would. Returns
   * false, doing nothing, to decline: the caller then calls freeObject. A
   * layer may decline every call (CheckedSlab does).
   */
  freeFast(pa: number): boolean;
}
