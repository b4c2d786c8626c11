/**
 * The slab slow paths (Linux mm/slub.c: ___slab_alloc, __slab_free,
 * allocate_slab, deactivate_slab, discard_slab, __kmem_cache_do_shrink).
 *
 * Everything a cache does off its fast paths: refilling the CPU slab from the
 * partial list or a new slab, moving slabs between lists as objects come and
 * go, giving empty slabs back to the buddy allocator, and the checks a free
 * needs when it is not the plain case (bad pointers, double frees, debug).
 */
import { panic } from "../panic.ts";
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
  GFP_KNOWN_MASK,
} from "./gfp.ts";
import { PG_slab } from "./memmap.ts";
import type { KmemCache } from "./slab.ts";
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
import { SLAB_CONSISTENCY_CHECKS, SLAB_KMALLOC, SLAB_RED_ZONE, SLAB_STORE_USER } from "./slab_flags.ts";
import {
  initSlabPage,
  orderObjects,
  SLAB_CPU,
  SLAB_DISABLED,
  SLAB_FULL,
  SLAB_NONE,
  SLAB_PARTIAL,
  setSlabFreelist,
  setSlabInuse,
  setSlabState,
  slabFreelist,
  slabInuse,
  slabNext,
  slabState,
} from "./slab_page.ts";
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
/** Partial slabs with at most this many free objects are sorted by kmem_cache_shrink. */
const SHRINK_PROMOTE_MAX = 32;

/**
 * ___slab_alloc: failslab, then an object from the CPU slab, refilled from
 * the partial list or a new slab. Returns the object's kva, or 0.
 * Panics when the cache was destroyed.
 */
export function allocSlow(c: KmemCache, gfp: number, origSize: number, caller: string | undefined): number {
  if (c.dead) panic(`kmem_cache_alloc: cache ${c.name} was destroyed`);
  const fail = c.host.failSlab;
  if (fail.armed && (gfp & __GFP_NOFAIL) === 0 && fail.shouldFail(0)) {
    c.allocFailed++;
    return 0;
  }
  // Taken straight from the CPU slab without debugging (kzalloc, failslab armed) it still counts as a fast-path allocation.
  let refilled = c.debug;
  for (; ; refilled = true) {
    let pfn = c.cpuSlab;
    if (pfn !== 0) {
      const obj = slabFreelist(c.w, pfn);
      if (obj !== 0) {
        const got = takeObject(c, pfn, obj, origSize, caller);
        if (got === 0) continue;
        if (refilled) c.allocSlowpath++;
        else c.allocFastpath++;
        if (gfp & __GFP_ZERO) c.mem8.fill(0, got, got + zeroSize(c, origSize));
        return PAGE_OFFSET + got;
      }
      deactivateSlab(c, pfn);
    }
    pfn = c.partial.head;
    if (pfn !== 0) {
      c.partial.remove(pfn);
      installCpuSlab(c, pfn);
      continue;
    }
    pfn = newSlab(c, gfp);
    if (pfn === 0) {
      c.allocFailed++;
      if ((gfp & __GFP_NOWARN) === 0) reportSlabOom(c, gfp);
      return 0;
    }
    installCpuSlab(c, pfn);
  }
}

/** Bytes __GFP_ZERO clears: only the requested size in a debugged kmalloc cache, so its red zone stays. */
function zeroSize(c: KmemCache, origSize: number): number {
  return c.flags & SLAB_KMALLOC && c.flags & (SLAB_STORE_USER | SLAB_RED_ZONE) ? origSize : c.objectSize;
}

/**
 * Pops `obj` off the CPU slab's freelist. Returns its pa, or 0 when a debug
 * check failed and the slab was disabled. A next pointer that leaves the
 * slab is reported and the rest of the freelist is dropped.
 */
function takeObject(c: KmemCache, pfn: number, obj: number, origSize: number, caller: string | undefined): number {
  const w = c.w;
  const next = c.getFreepointer(obj);
  setSlabFreelist(w, pfn, next);
  setSlabInuse(w, pfn, slabInuse(w, pfn) + 1);
  if (c.debug && !allocDebugProcessing(c, pfn, obj, origSize, caller)) {
    disableSlab(c, pfn);
    return 0;
  }
  c.setFreepointer(obj, obj);
  if (next !== 0 && !c.isObject(pfn, next)) {
    reportFreechainCorrupt(c, pfn, obj);
    setSlabFreelist(w, pfn, 0);
    setSlabInuse(w, pfn, orderObjects(c.host.memmap.order(pfn), c.size));
  }
  return obj;
}

function installCpuSlab(c: KmemCache, pfn: number): void {
  c.setCpuSlab(pfn);
  setSlabState(c.w, pfn, SLAB_CPU);
}

/** deactivate_slab: CPU `cpu`'s slab goes to the partial head, the full list, or back to the buddy allocator. */
export function deactivateSlab(c: KmemCache, pfn: number, cpu = c.currentCpu): void {
  c.setCpuSlab(0, cpu);
  setSlabState(c.w, pfn, SLAB_NONE);
  if (slabInuse(c.w, pfn) === 0 && c.partial.nr >= c.minPartial) discardSlab(c, pfn);
  else if (slabFreelist(c.w, pfn) !== 0) c.partial.addHead(pfn);
  else c.full.addHead(pfn);
}

/** Marks slab `pfn` as failed (Linux: "Marking all objects used"): off every list, never touched again. */
function disableSlab(c: KmemCache, pfn: number): void {
  const state = slabState(c.w, pfn);
  if (state === SLAB_PARTIAL) c.partial.remove(pfn);
  else if (state === SLAB_FULL) c.full.remove(pfn);
  else if (state === SLAB_CPU) c.setCpuSlab(0, c.cpuHolding(pfn));
  setSlabFreelist(c.w, pfn, 0);
  setSlabInuse(c.w, pfn, orderObjects(c.host.memmap.order(pfn), c.size));
  setSlabState(c.w, pfn, SLAB_DISABLED);
  c.nrDisabled++;
}

/**
 * slab_free with every check spelled out: a pointer that is not an object
 * start, a double free, debug processing; then the push and the list work.
 */
export function slabFreeSlow(c: KmemCache, pa: number, head: number, w0: number, caller: string | undefined): void {
  const base = head * PAGE_SIZE;
  const off = pa - base - c.redLeftPad;
  const used = c.usedBytes[(w0 >>> 16) & 15] as number;
  if (off >>> 0 !== off || off >= used || !c.isStride(off)) {
    reportInvalidPointer(c, head, pa);
    return;
  }
  const dec = c.getFreepointer(pa);
  if (dec !== pa && (dec === 0 || (dec - base) >>> 0 < used) && c.onFreelist(head, pa)) {
    reportDoubleFree(c, head, pa);
    return;
  }
  if (c.debug && !freeDebugProcessing(c, head, pa, caller)) return;
  const w = c.w;
  c.setFreepointer(pa, slabFreelist(w, head));
  setSlabFreelist(w, head, pa);
  setSlabInuse(w, head, slabInuse(w, head) - 1);
  if (head === c.cpuSlab) {
    c.freeFastpath++;
    return;
  }
  c.freeSlowpath++;
  const state = slabState(w, head);
  // A remote free: the slab is another CPU's CPU slab; the object stays on the slab's own freelist.
  if (state === SLAB_CPU) {
    c.freeRemote++;
    return;
  }
  if (slabInuse(w, head) === 0 && c.partial.nr >= c.minPartial) {
    if (state === SLAB_PARTIAL) c.partial.remove(head);
    else if (state === SLAB_FULL) c.full.remove(head);
    discardSlab(c, head);
  } else if (state === SLAB_FULL) {
    c.full.remove(head);
    c.partial.addTail(head);
  }
}

/** kmem_cache_free of something that is not one of this cache's slab objects. */
export function freeForeign(c: KmemCache, kva: number, caller: string | undefined): void {
  const pa = kva - PAGE_OFFSET;
  if (pa >>> 0 !== pa || pa >= c.host.phys.bytes) {
    c.host.reportNotSlab("kmem_cache_free", kva);
    return;
  }
  const head = c.host.memmap.compoundHead(pa >>> 12);
  const w0 = c.host.memmap.word0(head);
  if ((w0 & PG_slab) === 0) {
    c.host.reportNotSlab("kmem_cache_free", kva);
    return;
  }
  const owner = reportWrongCache(c, w0 >>> 20, pa);
  if (owner) owner.slabFree(pa, owner.pageWord(head), w0, caller);
}

/** Frees one slab back to the buddy allocator. The slab must be on no list. */
export function discardSlab(c: KmemCache, pfn: number): void {
  const order = c.host.memmap.order(pfn);
  if (c.flags & SLAB_CONSISTENCY_CHECKS) checkOnDiscard(c, pfn);
  c.nrSlabs--;
  c.totalObjects -= orderObjects(order, c.size);
  c.pages -= 1 << order;
  c.slabsFreed++;
  c.host.accountSlab(c, -(1 << order));
  c.host.memmap.resetForFree(pfn);
  c.host.buddy.freePages(pfn, order);
}

/**
 * __kmem_cache_do_shrink: flushes every CPU's slab, frees every empty slab, and
 * puts the fullest partial slabs first (by free objects, up to 32). Returns
 * pages freed.
 */
export function shrinkCache(c: KmemCache): number {
  const before = c.pages;
  c.flushCpuSlab();
  const buckets: number[][] = [];
  const rest: number[] = [];
  for (let pfn = c.partial.head; pfn !== 0; ) {
    const next = slabNext(c.w, pfn);
    const inuse = slabInuse(c.w, pfn);
    const free = orderObjects(c.host.memmap.order(pfn), c.size) - inuse;
    c.partial.remove(pfn);
    if (inuse === 0) discardSlab(c, pfn);
    else if (free <= SHRINK_PROMOTE_MAX) (buckets[free] ??= []).unshift(pfn);
    else rest.push(pfn);
    pfn = next;
  }
  for (let f = 1; f <= SHRINK_PROMOTE_MAX; f++) for (const pfn of buckets[f] ?? []) c.partial.addTail(pfn);
  for (const pfn of rest) c.partial.addTail(pfn);
  return before - c.pages;
}

/**
 * allocate_slab: 2^order pages from the buddy allocator (the preferred
 * order quietly first, then the minimum order), objects set up and linked
 * in address order. Returns the head pfn, or 0.
 */
function newSlab(c: KmemCache, gfp: number): number {
  if (gfp & GFP_SLAB_BUG_MASK) gfp = c.host.fixSlabGfp(gfp);
  const flags = (gfp & GFP_SLAB_KEEP) | c.allocflags;
  let order = c.order;
  let pfn = c.host.buddy.allocPages(order, (flags | __GFP_NOWARN | __GFP_NORETRY) & ~__GFP_NOFAIL);
  if (pfn < 0) {
    order = c.minOrder;
    pfn = c.host.buddy.allocPages(order, flags);
    if (pfn < 0) return 0;
  }
  const objects = orderObjects(order, c.size);
  const w = c.w;
  initSlabPage(w, pfn, c.id, order);
  if (c.debug) setupSlabDebug(c, pfn, order);
  const first = pfn * PAGE_SIZE + c.redLeftPad;
  for (let k = 0; k < objects; k++) {
    const obj = first + k * c.size;
    if (c.debug) setupObjectDebug(c, obj);
    if (c.ctor) c.ctor(PAGE_OFFSET + obj);
    c.setFreepointer(obj, k + 1 < objects ? obj + c.size : 0);
  }
  setSlabFreelist(w, pfn, first);
  c.nrSlabs++;
  c.totalObjects += objects;
  c.pages += 1 << order;
  c.slabsAllocated++;
  c.host.accountSlab(c, 1 << order);
  return pfn;
}
