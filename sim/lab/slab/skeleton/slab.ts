/**
 * slab.ts: your slab allocator. Read statement.md first.
 *
 * boot.allocPages(order) / boot.freePages(pfn, order): runs of 2^order
 * frames from the page allocator. boot.pfnToKva(pfn), boot.kvaToPfn(kva):
 * the direct map. boot.mem.read32(kva) / write32(kva, v): kernel memory.
 */
import type { SlabBoot, SlabCache, SlabCacheOptions, SlabCaches, SlabinfoRow, SlabLayer } from "memsim";

class Cache implements SlabCache {
  constructor(
    // biome-ignore lint/correctness/noUnusedPrivateClassMembers: boot is for the code you write
    private readonly boot: SlabBoot,
    readonly name: string,
    size: number,
    align: number,
  ) {
    // TODO: the stride (size rounded up to max(8, align)), the slab order
    // (the fewest 2^order pages, order <= 3, holding at least 8 objects) and
    // the objects per slab. Your partial, full and empty lists start empty.
    void size;
    void align;
  }

  /** An object's kva, or 0 when no frame is left. Partial slabs first, then empty ones, then a new slab. */
  alloc(): number {
    // TODO
    return 0;
  }

  /** An object alloc handed out comes back to its slab (which may move from full to partial to empty). */
  free(_kva: number): void {
    // TODO
  }
}

class Slabs implements SlabCaches {
  readonly name = "mine";

  constructor(private readonly boot: SlabBoot) {}

  /** A new cache, or null when the size cannot be served (above 8 pages). */
  create(name: string, size: number, opts: SlabCacheOptions = {}): SlabCache | null {
    // TODO: return new Cache(this.boot, name, size, opts.align ?? 0);
    void [this.boot, name, size, opts, Cache];
    return null;
  }

  /** false when objects are still live; else every slab's frames back, and true. */
  destroy(_cache: SlabCache): boolean {
    // TODO
    return false;
  }

  /** Frees every empty slab; returns the pages freed. */
  shrink(_cache: SlabCache): number {
    // TODO
    return 0;
  }

  /** The cache's counts: see the statement's table. */
  info(cache: SlabCache): SlabinfoRow {
    // TODO
    return { name: cache.name, activeObjs: 0, numObjs: 0, objSize: 0, objPerSlab: 0, pagesPerSlab: 0, activeSlabs: 0, numSlabs: 0 };
  }

  /** Recount your lists and free lists; throw an Error when they disagree. */
  check(): void {}
}

export const slab: SlabLayer = (boot) => new Slabs(boot);
