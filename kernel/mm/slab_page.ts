/**
 * The slab's view of struct page (Linux struct slab overlays struct page the
 * same way): the bookkeeping of one slab lives in the struct page record of
 * its head page, in RAM, behind the accessors below.
 *
 *   slab head page (PG_alloc | PG_slab, plus PG_head when order > 0)
 *   0                 4              8                    12                   16
 *   +-----------------+--------------+--------------------+--------------------+
 *   | flags|order|id  |  freelist    | next pfn | inuse   | prev pfn | state   |
 *   +-----------------+--------------+--------------------+--------------------+
 *   word 0  [15:0] PG_* flags, [19:16] order, [31:20] owning cache id (1..4094)
 *   word 1  freelist: physical address of the first free object, 0 = none
 *           (frame 0 is reserved, so 0 is never an object)
 *   word 2  [19:0] next slab on the cache's partial or full list (pfn, 0 = end;
 *           pfn 0 is reserved, so 0 is never a slab)   [31:20] inuse
 *   word 3  [19:0] prev slab on that list (pfn, 0 = none)
 *           [22:20] state: NONE, PARTIAL, FULL, CPU, DISABLED
 *   tail pages of an order > 0 slab are compound tails (PG_tail, word 3 = head
 *   pfn), so any address inside the slab finds its head.
 *
 *   kmalloc-large head page: PG_alloc | PG_head, owner bits = KMALLOC_LARGE_ID.
 *
 * The free pointer of a free object sits `offset` bytes into the object and
 * holds the next free object's physical address, hardened like Linux's
 * CONFIG_SLAB_FREELIST_HARDENED: stored = next ^ cache.random ^ (address of
 * the free pointer itself). Allocation leaves the object's own address in
 * its free pointer, which no free object can hold (it would be a loop): a
 * free of an object whose pointer still decodes to itself, or to something
 * outside its slab, is certainly not a double free. Only the rest need the
 * freelist walk.
 */
import { PG_alloc, PG_head, PG_slab } from "./memmap.ts";
import { PAGE_SIZE } from "./types.ts";

const W = 16;
const PFN_MASK = 0xfffff;
const HIGH_SHIFT = 20;

/** Word 2 step for one object in use. */
export const INUSE_ONE = 1 << HIGH_SHIFT;
/** Largest inuse/objects count the 12-bit field holds. */
export const MAX_OBJS_PER_SLAB = 4095;
/** Owner bits marking the head of a kmalloc-large block. */
export const KMALLOC_LARGE_ID = 0xfff;

/** Slab states (word 3 bits [22:20]): on no list (being set up or moved). */
export const SLAB_NONE = 0;
/** On the partial list: some objects free. */
export const SLAB_PARTIAL = 1;
/** On the full list: no object free. */
export const SLAB_FULL = 2;
/** The CPU slab, allocated from by the fast path. */
export const SLAB_CPU = 3;
/** Failed a consistency check: marked all used and never touched again. */
export const SLAB_DISABLED = 4;
/** State names for messages. */
export const SLAB_STATE_NAMES = ["none", "partial", "full", "cpu", "disabled"] as const;

/**
 * Makes frame `pfn` the head of a fresh slab of `order` owned by cache `id`:
 * PG_alloc | PG_slab (| PG_head), empty freelist, inuse 0, on no list.
 */
export function initSlabPage(w: Uint32Array, pfn: number, id: number, order: number): void {
  const i = pfn * W;
  w[i] = (PG_alloc | PG_slab | (order > 0 ? PG_head : 0) | (order << 16) | (id << HIGH_SHIFT)) >>> 0;
  w[i + 1] = 0;
  w[i + 2] = 0;
  w[i + 3] = 0;
}

/** Physical address of the first free object, 0 = none. */
export function slabFreelist(w: Uint32Array, pfn: number): number {
  return w[pfn * W + 1] as number;
}

/** Sets the freelist head (pa of a free object, 0 = none). */
export function setSlabFreelist(w: Uint32Array, pfn: number, pa: number): void {
  w[pfn * W + 1] = pa;
}

/** Objects of the slab in use. */
export function slabInuse(w: Uint32Array, pfn: number): number {
  return (w[pfn * W + 2] as number) >>> HIGH_SHIFT;
}

/** Sets the in-use count (0..MAX_OBJS_PER_SLAB). */
export function setSlabInuse(w: Uint32Array, pfn: number, n: number): void {
  const i = pfn * W + 2;
  w[i] = (((w[i] as number) & PFN_MASK) | (n << HIGH_SHIFT)) >>> 0;
}

/** The next slab on the cache's list (pfn, 0 = end). */
export function slabNext(w: Uint32Array, pfn: number): number {
  return (w[pfn * W + 2] as number) & PFN_MASK;
}

function setSlabNext(w: Uint32Array, pfn: number, next: number): void {
  const i = pfn * W + 2;
  w[i] = (((w[i] as number) & ~PFN_MASK) | next) >>> 0;
}

/** The previous slab on the cache's list (pfn, 0 = none). */
export function slabPrev(w: Uint32Array, pfn: number): number {
  return (w[pfn * W + 3] as number) & PFN_MASK;
}

function setSlabPrev(w: Uint32Array, pfn: number, prev: number): void {
  const i = pfn * W + 3;
  w[i] = (((w[i] as number) & ~PFN_MASK) | prev) >>> 0;
}

/** SLAB_NONE, SLAB_PARTIAL, SLAB_FULL, SLAB_CPU or SLAB_DISABLED. */
export function slabState(w: Uint32Array, pfn: number): number {
  return ((w[pfn * W + 3] as number) >>> HIGH_SHIFT) & 7;
}

/** Sets the slab's state, leaving its prev link. */
export function setSlabState(w: Uint32Array, pfn: number, state: number): void {
  const i = pfn * W + 3;
  w[i] = (((w[i] as number) & PFN_MASK) | (state << HIGH_SHIFT)) >>> 0;
}

/** Objects a slab of `order` holds for stride `size` (Linux order_objects). */
export function orderObjects(order: number, size: number): number {
  return Math.floor((PAGE_SIZE * 2 ** order) / size);
}

/** Encodes a free pointer stored at physical address `fpAddr`. */
export function freeptrEncode(next: number, random: number, fpAddr: number): number {
  return (next ^ random ^ fpAddr) >>> 0;
}

/** Decodes the free pointer stored at `fpAddr`: the next free object's pa, 0 = end. */
export function freeptrDecode(stored: number, random: number, fpAddr: number): number {
  return (stored ^ random ^ fpAddr) >>> 0;
}

/**
 * One of a cache's slab lists (kmem_cache_node.partial / .full), threaded
 * through the struct pages; the head, tail and count are the cache's.
 */
export class SlabList {
  head = 0;
  tail = 0;
  nr = 0;

  constructor(
    private readonly w: Uint32Array,
    /** State given to slabs on this list. */
    readonly state: number,
  ) {}

  addHead(pfn: number): void {
    const w = this.w;
    setSlabPrev(w, pfn, 0);
    setSlabNext(w, pfn, this.head);
    if (this.head !== 0) setSlabPrev(w, this.head, pfn);
    else this.tail = pfn;
    this.head = pfn;
    setSlabState(w, pfn, this.state);
    this.nr++;
  }

  addTail(pfn: number): void {
    const w = this.w;
    setSlabNext(w, pfn, 0);
    setSlabPrev(w, pfn, this.tail);
    if (this.tail !== 0) setSlabNext(w, this.tail, pfn);
    else this.head = pfn;
    this.tail = pfn;
    setSlabState(w, pfn, this.state);
    this.nr++;
  }

  /** Unlinks `pfn` (which must be on this list) and sets its state to NONE. */
  remove(pfn: number): void {
    const w = this.w;
    const next = slabNext(w, pfn);
    const prev = slabPrev(w, pfn);
    if (prev !== 0) setSlabNext(w, prev, next);
    else this.head = next;
    if (next !== 0) setSlabPrev(w, next, prev);
    else this.tail = prev;
    setSlabNext(w, pfn, 0);
    setSlabPrev(w, pfn, 0);
    setSlabState(w, pfn, SLAB_NONE);
    this.nr--;
  }
}
