/**
 * Slab cache flags and poison bytes with Linux's names and values
 * (include/linux/slab.h, include/linux/poison.h), and the slab_debug letters.
 */

/** slab_debug F: sanity checks on alloc and free. */
export const SLAB_CONSISTENCY_CHECKS = 0x00000100;
/** slab_debug Z: red zones around every object. */
export const SLAB_RED_ZONE = 0x00000400;
/** slab_debug P: poison free objects. */
export const SLAB_POISON = 0x00000800;
/** A kmalloc cache (internal: enables kmalloc red zones with U). */
export const SLAB_KMALLOC = 0x00001000;
/** Align objects on a cache line (64 bytes, less for small objects). */
export const SLAB_HWCACHE_ALIGN = 0x00002000;
/** Slab pages come from ZONE_DMA. */
export const SLAB_CACHE_DMA = 0x00004000;
/** slab_debug U: record the last allocating and freeing caller. */
export const SLAB_STORE_USER = 0x00010000;
/** Objects are reclaimable: counted in SReclaimable. */
export const SLAB_RECLAIM_ACCOUNT = 0x00020000;
/** Panic if kmem_cache_create fails. */
export const SLAB_PANIC = 0x00040000;
/** slab_debug T: trace every alloc and free. */
export const SLAB_TRACE = 0x00200000;
/** slab_debug A: cache takes part in failslab filtering. */
export const SLAB_FAILSLAB = 0x02000000;
/** Account objects to the memory cgroup (accepted; memsim has no memcg). */
export const SLAB_ACCOUNT = 0x04000000;

/** Internal: the object itself is poisoned (Linux __OBJECT_POISON). */
export const __OBJECT_POISON = 0x80000000;

/** Flags that turn the fast paths off. */
export const SLAB_DEBUG_FLAGS = SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_TRACE | SLAB_CONSISTENCY_CHECKS;
/** Debug flags that need room in the object. */
export const DEBUG_METADATA_FLAGS = SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER;
/** What kmem_cache_create accepts (Linux SLAB_FLAGS_PERMITTED for what memsim models). */
export const SLAB_FLAGS_PERMITTED =
  SLAB_CONSISTENCY_CHECKS |
  SLAB_RED_ZONE |
  SLAB_POISON |
  SLAB_HWCACHE_ALIGN |
  SLAB_CACHE_DMA |
  SLAB_STORE_USER |
  SLAB_RECLAIM_ACCOUNT |
  SLAB_PANIC |
  SLAB_TRACE |
  SLAB_FAILSLAB |
  SLAB_ACCOUNT;

/** Poison bytes (include/linux/poison.h): padding and new slabs. */
export const POISON_INUSE = 0x5a;
/** Fills a free (and, with P, a newly allocated) object. */
export const POISON_FREE = 0x6b;
/** The last byte of a poisoned object. */
export const POISON_END = 0xa5;
/** Red zones of a free object. */
export const SLUB_RED_INACTIVE = 0xbb;
/** Red zones of an allocated object. */
export const SLUB_RED_ACTIVE = 0xcc;

/** kmalloc(0) returns this: not NULL, but never dereferenceable. */
export const ZERO_SIZE_PTR = 16;

/** Largest kmalloc served by a kmalloc cache; beyond it, whole pages. */
export const KMALLOC_MAX_CACHE_SIZE = 8192;

/** What a slab_debug string turns on: the flags and the "O" switch. */
export interface SlubDebug {
  flags: number;
  disableHigherOrder: boolean;
}

/**
 * Parses slab_debug letters as Linux's parse_slub_debug_flags does: F Z P U T
 * A switch flags on, O disables debugging for caches whose order it would
 * raise, "-" switches everything off. The machine validated the letters.
 */
export function parseSlubDebug(letters: string): SlubDebug {
  let flags = 0;
  let disableHigherOrder = false;
  for (const ch of letters.toLowerCase()) {
    if (ch === "-") flags = 0;
    else if (ch === "f") flags |= SLAB_CONSISTENCY_CHECKS;
    else if (ch === "z") flags |= SLAB_RED_ZONE;
    else if (ch === "p") flags |= SLAB_POISON;
    else if (ch === "u") flags |= SLAB_STORE_USER;
    else if (ch === "t") flags |= SLAB_TRACE;
    else if (ch === "a") flags |= SLAB_FAILSLAB;
    else if (ch === "o") disableHigherOrder = true;
  }
  return { flags, disableHigherOrder };
}
