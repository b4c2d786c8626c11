/**
 * The object-cache layer's contract (the `slab` entry of
 * `Machine.boot({ layers })`, kernel/LAYERS.md): kmem_cache_create,
 * kmem_cache_alloc/free, kmem_cache_shrink and kmem_cache_destroy, and the
 * slabinfo counts of a cache. The kernel's own object caches made at boot
 * (vmap_area, vm_area_struct) and `kernel.kmemCaches` go through it.
 *
 * memsim's SLUB (slab_common.ts, slab.ts) is the default layer, `slubCaches`
 * below: the same interface, its caches handed out as they are. A lab's
 * layer is put behind CheckedSlab (slab_layer_check.ts), which checks every
 * answer. kmalloc stays on SLUB's kmalloc caches in either case.
 */
import type { SlabinfoRow } from "../proc/slabinfo.ts";
import type { KernelMemory } from "./kmem.ts";
import { KmemCache } from "./slab.ts";
import type { SlabAllocator } from "./slab_common.ts";
import { SLAB_KMALLOC } from "./slab_flags.ts";
import { activeObjects, slabinfoRow } from "./slab_stats.ts";

/** A cache as the kernel uses it: objects of one size. */
export interface SlabCache {
  readonly name: string;
  /**
   * kmem_cache_alloc: an object's kernel virtual address, or 0 when no frame
   * is left. `gfp` is the request's GFP mask (a layer may ignore it).
   */
  alloc(gfp?: number): number;
  /** kmem_cache_free: an object alloc handed out comes back. */
  free(kva: number): void;
}

/** What kmem_cache_create takes besides name and size. */
export interface SlabCacheOptions {
  /** Minimum object alignment in bytes, a power of two (0 or absent: 8). */
  readonly align?: number;
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
 * memsim's SLUB behind the layer interface: its KmemCache objects are the
 * caches (alloc and free are SLUB's own fast paths), create and destroy are
 * kmem_cache_create and kmem_cache_destroy, info counts exactly the objects
 * allocated (a CPU slab's free objects are free here, unlike /proc/slabinfo).
 * Its checker is the slab allocator's own (slab_check.ts, registered at boot).
 */
export function slubCaches(slab: SlabAllocator): SlabCaches {
  const kmem = (c: SlabCache): KmemCache => {
    if (!(c instanceof KmemCache)) throw new TypeError(`slub: ${String(c?.name)} is not a SLUB cache`);
    return c;
  };
  return {
    name: "slub",
    create: (name, size, opts = {}) => slab.createCache(name, size, { align: opts.align ?? 0 }),
    destroy: (c) => slab.destroyCache(kmem(c), (kmem(c).flags & SLAB_KMALLOC) !== 0),
    shrink: (c) => kmem(c).shrink(),
    info: (c) => slabinfoRow(kmem(c), activeObjects(kmem(c))),
    check: () => {},
  };
}
