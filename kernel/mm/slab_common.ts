/**
 * The slab allocator as a whole (Linux mm/slab_common.c and the cache set-up
 * of mm/slub.c): the registry of caches, kmem_cache_create/destroy, object
 * layout and slab order, Slab accounting, the shrinker, and what every cache
 * shares (RAM views, the reporter, the clock, caller labels).
 *
 * Calls: the buddy allocator (through the caches), printk. Cache
 * descriptors are JS objects (there are few and they do not grow with user
 * activity); objects, freelists and slab state are in RAM.
 */
import { type KernelEvents, NO_EVENTS } from "../events.ts";
import type { Prandom } from "../lib/random.ts";
import { panic } from "../panic.ts";
import type { Printk } from "../printk.ts";
import type { FailPoint } from "./fault_inject.ts";
import type { PageAllocator } from "./frames.ts";
import { __GFP_COMP, __GFP_DMA32, __GFP_HIGHMEM, __GFP_RECLAIMABLE, formatGfp, GFP_DMA, GFP_KNOWN_MASK } from "./gfp.ts";
import type { MemMap } from "./memmap.ts";
import { PG_alloc } from "./memmap.ts";
import type { PhysMem } from "./physmem.ts";
import { type CacheLayout, KmemCache, type SlabHost } from "./slab.ts";
import { SlabCpu } from "./slab_cpu.ts";
import { reportObjectsRemaining } from "./slab_debug.ts";
import {
  __OBJECT_POISON,
  DEBUG_METADATA_FLAGS,
  parseSlubDebug,
  SLAB_CACHE_DMA,
  SLAB_FLAGS_PERMITTED,
  SLAB_HWCACHE_ALIGN,
  SLAB_PANIC,
  SLAB_POISON,
  SLAB_RECLAIM_ACCOUNT,
  SLAB_RED_ZONE,
  SLAB_STORE_USER,
  type SlubDebug,
} from "./slab_flags.ts";
import { KMALLOC_LARGE_ID, MAX_OBJS_PER_SLAB, orderObjects, slabInuse, slabNext } from "./slab_page.ts";
import { SlabReporter } from "./slab_report.ts";
import { validateCache } from "./slab_validate.ts";
import { getOrder, PAGE_OFFSET, PAGE_SIZE } from "./types.ts";

/** What kmem_cache_create takes besides name and size. */
export interface KmemCacheOptions {
  /** Minimum object alignment, a power of two. */
  align?: number;
  /** SLAB_* flags. */
  flags?: number;
  /** Runs on every object when its slab is populated (not on each allocation). */
  ctor?: ((kva: number) => void) | null;
}

/** What the slab allocator is built from. */
export interface SlabDeps {
  phys: PhysMem;
  memmap: MemMap;
  buddy: PageAllocator;
  printk: Printk;
  failSlab: FailPoint;
  rng: Prandom;
  /** slab_debug letters from the boot options ("FZPU"). */
  slubDebug: string;
  /** First frame of mem_map (its kva prints in reports). */
  memmapStart: number;
  /** The machine's event bus (kernel/main.ts hands it over); NO_EVENTS when absent. */
  events?: KernelEvents;
}

const CACHE_LINE_SIZE = 64;
const ARCH_SLAB_MINALIGN = 8;
/** PAGE_ALLOC_COSTLY_ORDER: SLUB's slub_max_order. */
const SLUB_MAX_ORDER = 3;
const MIN_PARTIAL = 5;
const MAX_PARTIAL = 10;
/** 4 * (fls(nr_cpu_ids) + 1) with one CPU. */
const MIN_OBJECTS = 8;
const PTR = 8;
/** sizeof(struct track) * 2 + sizeof(unsigned int) orig_size. */
const TRACKS = 64;
const ORIG_SIZE = 4;
const LAST_CACHE_ID = KMALLOC_LARGE_ID - 1;

const align = (n: number, a: number) => Math.ceil(n / a) * a;

/** calc_slab_order: the smallest order from min_order whose leftover is at most 1/fraction. */
function calcSlabOrder(size: number, minOrder: number, maxOrder: number, fraction: number): number {
  let order = minOrder;
  for (; order <= maxOrder; order++) {
    const slabSize = PAGE_SIZE << order;
    if (slabSize % size <= slabSize / fraction) break;
  }
  return order;
}

/** calculate_order (Linux 6.7+): enough objects per slab, little waste, order as low as that allows. */
export function calculateOrder(size: number, maxPageOrder: number): number {
  const maxObjects = Math.max(orderObjects(SLUB_MAX_ORDER, size), 1);
  const minObjects = Math.min(MIN_OBJECTS, maxObjects);
  const minOrder = getOrder(minObjects * size);
  if (orderObjects(minOrder, size) > MAX_OBJS_PER_SLAB) return getOrder(size * MAX_OBJS_PER_SLAB) - 1;
  for (let fraction = 16; fraction > 1; fraction /= 2) {
    const order = calcSlabOrder(size, minOrder, SLUB_MAX_ORDER, fraction);
    if (order <= SLUB_MAX_ORDER) return order;
  }
  const order = getOrder(size);
  return order <= maxPageOrder ? order : -1;
}

/** calculate_alignment: explicit alignment, cache-line alignment for SLAB_HWCACHE_ALIGN, at least 8. */
export function calculateAlignment(flags: number, alignArg: number, size: number): number {
  let a = alignArg;
  if (flags & SLAB_HWCACHE_ALIGN) {
    let ralign = CACHE_LINE_SIZE;
    while (size <= ralign / 2) ralign /= 2;
    a = Math.max(a, ralign);
  }
  return align(Math.max(a, ARCH_SLAB_MINALIGN), PTR);
}

/**
 * calculate_sizes: where the free pointer, red zones, tracks and padding
 * go, the stride, and the slab order. Returns null when no order fits.
 */
export function calculateSizes(
  objectSize: number,
  alignment: number,
  flags: number,
  hasCtor: boolean,
  kmalloc: boolean,
  maxPageOrder: number,
): CacheLayout | null {
  let size = align(objectSize, PTR);
  if (flags & SLAB_POISON && !hasCtor) flags |= __OBJECT_POISON;
  else flags &= ~__OBJECT_POISON;
  if (flags & SLAB_RED_ZONE && size === objectSize) size += PTR;
  const inuse = size;
  let offset: number;
  if (flags & SLAB_POISON || (flags & SLAB_RED_ZONE && objectSize < PTR) || hasCtor) {
    offset = size;
    size += PTR;
  } else {
    offset = Math.floor(objectSize / 2 / PTR) * PTR;
  }
  if (flags & SLAB_STORE_USER) size += TRACKS + (kmalloc ? ORIG_SIZE : 0);
  let redLeftPad = 0;
  if (flags & SLAB_RED_ZONE) {
    size += PTR;
    redLeftPad = align(PTR, alignment);
    size += redLeftPad;
  }
  size = align(size, alignment);
  const order = calculateOrder(size, maxPageOrder);
  if (order < 0) return null;
  const minOrder = Math.min(getOrder(size), order);
  let allocflags = order > 0 ? __GFP_COMP : 0;
  if (flags & SLAB_CACHE_DMA) allocflags |= GFP_DMA;
  if (flags & SLAB_RECLAIM_ACCOUNT) allocflags |= __GFP_RECLAIMABLE;
  const minPartial = Math.min(MAX_PARTIAL, Math.max(MIN_PARTIAL, Math.floor(Math.log2(size) / 2)));
  return { objectSize, size, align: alignment, inuse, offset, redLeftPad, flags: flags >>> 0, order, minOrder, allocflags, minPartial };
}

/** The slab allocator: every cache, and what they share. */
export class SlabAllocator implements SlabHost {
  readonly phys: PhysMem;
  readonly memmap: MemMap;
  readonly buddy: PageAllocator;
  readonly failSlab: FailPoint;
  readonly rep: SlabReporter;
  readonly memmapKva: number;
  readonly debug: SlubDebug;
  currentPid = 0;
  /** The machine's event bus (kmem_cache_alloc/free here, kmalloc/kfree in kmalloc.ts). */
  readonly ev: KernelEvents;
  /** Live caches in creation order (slabinfo prints the newest first). */
  readonly caches: KmemCache[] = [];
  /** Pages in slabs of SLAB_RECLAIM_ACCOUNT caches, and in all others plus kmalloc-large blocks. */
  pagesReclaimable = 0;
  pagesUnreclaimable = 0;
  /** kmalloc-large: blocks and pages live, calls so far. */
  largeBlocks = 0;
  largePages = 0;
  largeAllocs = 0;
  largeFrees = 0;
  /** Live caches by owner id (slab pages carry the id in their owner bits). */
  readonly byId: Array<KmemCache | undefined> = [];
  /** kmem_cache_cpu of every cache id (the fast paths' state). */
  readonly cpu: SlabCpu;
  private readonly rng: Prandom;
  private readonly labels: string[] = [""];
  private readonly labelIds = new Map<string, number>();

  constructor(d: SlabDeps) {
    this.phys = d.phys;
    this.memmap = d.memmap;
    this.buddy = d.buddy;
    this.failSlab = d.failSlab;
    this.rng = d.rng;
    this.rep = new SlabReporter(d.printk, d.phys.u8);
    this.memmapKva = PAGE_OFFSET + d.memmapStart * PAGE_SIZE;
    this.debug = parseSlubDebug(d.slubDebug);
    this.ev = d.events ?? NO_EVENTS;
    this.cpu = new SlabCpu(LAST_CACHE_ID + 1, d.phys.u32);
  }

  /**
   * kmem_cache_create. Returns the cache, or null (with Linux's warning)
   * when the name is empty, the size is 0 or above the largest kmalloc, the
   * alignment is not a power of two, or a flag is not supported.
   * Panics when that happens with SLAB_PANIC.
   */
  createCache(name: string, size: number, opts: KmemCacheOptions = {}): KmemCache | null {
    const flags = opts.flags ?? 0;
    const alignArg = opts.align ?? 0;
    let err = 0;
    const maxSize = PAGE_SIZE << this.buddy.maxOrder;
    if (typeof name !== "string" || name === "" || !Number.isInteger(size) || size < 1 || size > maxSize) {
      this.rep.plain("kmem_cache_create", `kmem_cache_create(${String(name)}) integrity check failed`);
      err = 22;
    } else if (!Number.isInteger(flags) || (flags & ~SLAB_FLAGS_PERMITTED) !== 0) err = 22;
    else if (!Number.isInteger(alignArg) || alignArg < 0 || (alignArg & (alignArg - 1)) !== 0) err = 22;
    if (err === 0) {
      const cache = this.createCacheInternal(name, size, alignArg, flags, opts.ctor ?? null, false);
      if (cache) return cache;
      err = 12;
    }
    if (flags & SLAB_PANIC) panic(`kmem_cache_create: Failed to create slab '${name}'. Error -${err}`);
    this.rep.plain("kmem_cache_create", `kmem_cache_create(${String(name)}) failed with error -${err}`);
    return null;
  }

  /** kmem_cache_create without the argument checks (kmalloc caches pass SLAB_KMALLOC here). */
  createCacheInternal(name: string, size: number, alignArg: number, flags: number, ctor: ((kva: number) => void) | null, kmalloc: boolean) {
    const id = this.freeId();
    if (id < 0) return null;
    let f = flags | this.debug.flags;
    const alignment = calculateAlignment(f, alignArg, size);
    let layout = calculateSizes(size, alignment, f, ctor !== null, kmalloc, this.buddy.maxOrder);
    if (layout && this.debug.disableHigherOrder && getOrder(layout.size) > getOrder(size)) {
      f &= ~DEBUG_METADATA_FLAGS;
      layout = calculateSizes(size, alignment, f, ctor !== null, kmalloc, this.buddy.maxOrder);
    }
    if (!layout) return null;
    const cache = new KmemCache(this, id, name, layout, ctor, this.rng.nextU32());
    this.byId[id] = cache;
    this.caches.push(cache);
    return cache;
  }

  /**
   * kmem_cache_destroy. Flushes the CPU slab and frees empty slabs; when
   * objects are still live, reports them and "Slab cache still has
   * objects", keeps the cache and returns false.
   * Panics when the cache was already destroyed or is a kmalloc cache.
   */
  destroyCache(cache: KmemCache, kmallocCache: boolean): boolean {
    if (cache.dead || this.byId[cache.id] !== cache) panic(`kmem_cache_destroy: ${cache.name} is not a live cache`);
    if (kmallocCache) panic(`kmem_cache_destroy: ${cache.name} is a kmalloc cache`);
    cache.flushCpuSlab();
    for (let pfn = cache.partial.head; pfn !== 0; ) {
      const next = slabNext(this.memmap.w, pfn);
      if (slabInuse(this.memmap.w, pfn) === 0) {
        cache.partial.remove(pfn);
        cache.discardSlab(pfn);
      } else {
        reportObjectsRemaining(cache, pfn);
      }
      pfn = next;
    }
    if (cache.nrSlabs > 0) {
      this.rep.plain("kmem_cache_destroy", `kmem_cache_destroy ${cache.name}: Slab cache still has objects`);
      return false;
    }
    cache.dead = true;
    this.byId[cache.id] = undefined;
    this.caches.splice(this.caches.indexOf(cache), 1);
    return true;
  }

  /** The shrinker: every cache shrunk. Returns pages given back. */
  shrinkAll(_wantPages: number): number {
    let freed = 0;
    for (const c of this.caches) freed += c.shrink();
    return freed;
  }

  /** Validates every cache (Linux validate_slab_cache). Returns the number of problems reported. */
  validate(): number {
    let n = 0;
    for (const c of this.caches) n += validateCache(c);
    return n;
  }

  /** The live cache named `name` (the newest, if several share it), or null. */
  findCache(name: string): KmemCache | null {
    for (let i = this.caches.length - 1; i >= 0; i--) if (this.caches[i]?.name === name) return this.caches[i] as KmemCache;
    return null;
  }

  cacheById(id: number): KmemCache | undefined {
    return this.byId[id];
  }

  accountSlab(cache: KmemCache, pages: number): void {
    if (cache.flags & SLAB_RECLAIM_ACCOUNT) this.pagesReclaimable += pages;
    else this.pagesUnreclaimable += pages;
  }

  clock(): number {
    let n = this.largeAllocs + this.largeFrees;
    for (const c of this.caches) n += c.allocFastpath + c.allocSlowpath + c.freeFastpath + c.freeSlowpath;
    return n;
  }

  callerId(label: string): number {
    let id = this.labelIds.get(label);
    if (id === undefined) {
      id = this.labels.length;
      this.labels.push(label);
      this.labelIds.set(label, id);
    }
    return id;
  }

  callerLabel(id: number): string {
    return this.labels[id] ?? `0x${id.toString(16)}`;
  }

  /** kmalloc_fix_flags */
  fixSlabGfp(gfp: number): number {
    const bad = gfp & (__GFP_DMA32 | __GFP_HIGHMEM | ~GFP_KNOWN_MASK);
    const fixed = gfp & ~bad;
    this.rep.plain(
      "slab_gfp",
      `Unexpected gfp: 0x${(bad >>> 0).toString(16)} (${formatGfp(bad >>> 0)}). Fixing up to gfp: 0x${fixed.toString(16)} (${formatGfp(fixed)}). Fix your code!`,
    );
    return fixed;
  }

  reportNotSlab(fn: string, kva: number): void {
    const pa = kva - PAGE_OFFSET;
    if (!(Number.isInteger(pa) && pa >= 0 && pa < this.phys.bytes)) {
      this.rep.notSlab(fn, kva, null);
      return;
    }
    const pfn = Math.floor(pa / PAGE_SIZE);
    const mm = this.memmap;
    const ref = mm.flags(pfn) & PG_alloc ? mm.refcount(pfn) : 0;
    this.rep.notSlab(
      fn,
      kva,
      `page: refcount:${ref} mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x${pfn.toString(16)}\n` +
        `flags: 0x${mm.word0(pfn).toString(16)}(${mm.describeFlags(pfn)})`,
    );
  }

  private freeId(): number {
    for (let id = 1; id <= LAST_CACHE_ID; id++) if (this.byId[id] === undefined) return id;
    return -1;
  }
}
