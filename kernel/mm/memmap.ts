/**
 * mem_map: the struct page array. One 64-byte record per frame, stored in RAM
 * frames that boot reserves (like memblock does), read and written only
 * through the accessors below.
 *
 *   struct page (sixteen little-endian 32-bit words, 64 bytes as in Linux)
 *   0        4          8          12         16
 *   +--------+----------+----------+----------+
 *   | flags  |  word 1  |  word 2  |  word 3  |   words 0..3: the allocators
 *   +--------+----------+----------+----------+
 *   | flags2 | lru.next | lru.prev | mapping  |   words 4..15: the page's users
 *   +--------+----------+----------+----------+
 *   | index  |  memcg   |  owner   |  spare   |
 *   +--------+----------+----------+----------+
 *   |  spare |  spare   |  spare   |  spare   |
 *   +--------+----------+----------+----------+
 *   flags   [15:0]  PG_* bits
 *           [19:16] order of a block head (free or allocated)
 *           [31:20] owner bits: the layer that owns the page may use them
 *                   (the slab allocator keeps its cache id there)
 *   free block head (PG_buddy) or per-CPU page (PG_pcp):
 *           word 1 = next pfn + 1, word 2 = prev pfn + 1 (0 = none)
 *   allocated page:
 *           word 1 = _refcount, word 2 = _mapcount (0 = not mapped; Linux
 *           stores it minus one), word 3 = private
 *   compound tail (PG_tail): word 3 = pfn of the head
 *   owners (PG_slab, PG_pgtable) overlay words 1..3 with their own named
 *   accessors and give the page back with pageResetForFree().
 *   words 4..15 of an allocated page (a frames layer never sees them):
 *           word 4  flags2: more page state bits (reclaim's LRU bits)
 *           word 5  lru.next, word 6 lru.prev: pfn + 1 on an LRU list (0 = none)
 *           word 7  mapping: the object the page belongs to (0 = none)
 *           word 8  index: the page's offset in that object, in pages
 *           word 9  memcg: the memory cgroup charged for the page (0 = none)
 *           word 10 owner: an allocation-site handle (page_owner: site id + 1,
 *                   written by sim/alloc_sites.ts on the head page)
 *           words 11..15 spare
 *   Words 4, 5, 7 and 9 must be zero when the last reference is dropped
 *   (Linux's "bad page state" check in free_pages_prepare); FramePages
 *   panics otherwise, and clears words 6, 8 and 10..15 itself.
 *
 * Who writes which record (every frames layer, the buddy included, goes
 * through FramePages, frame_pages.ts):
 *
 *   frame state       writer                        record
 *   ----------------  ----------------------------  ------------------------------
 *   reserved          boot (mm_init.ts)             PG_reserved, order 0
 *   free, in a layer  the frames layer: the buddy   buddy: PG_buddy or PG_pcp,
 *                     (page_alloc.ts); xv6 and      order and links in the head,
 *                     bitmap write nothing here     zero in the other frames;
 *                                                   others: all four words zero
 *   handed out        the layer zeroes the head     all four words zero when its
 *                     record before returning it    allocPages returns (checked:
 *                                                   the head's flags at < 2,
 *                                                   every frame from 2)
 *   allocated         FramePages (PG_alloc, order,  word 0 PG_alloc | order,
 *                     refcount 1, PG_head/PG_tail   word 1 refcount, then what
 *                     for __GFP_COMP), then the     the owner writes
 *                     owner (slab, page tables,
 *                     fault handler, kmalloc-large)
 *   being freed       FramePages zeroes every       all zero when the layer's
 *                     record of the run             freePages is called
 *
 * An all-zero record is a frame inside a free block that is not its head, so a
 * freshly booted machine touches only the records of block heads.
 */
import { PAGE_SIZE } from "./types.ts";

export const STRUCT_PAGE_SIZE = 64;
/** 32-bit words per struct page. */
export const STRUCT_PAGE_WORDS = 16;
const WORDS = 16;
/** Word indices of the users' part of struct page (see the diagram). */
export const SP_FLAGS2 = 4;
export const SP_LRU_NEXT = 5;
export const SP_LRU_PREV = 6;
export const SP_MAPPING = 7;
export const SP_INDEX = 8;
export const SP_MEMCG = 9;
export const SP_OWNER = 10;

/** Reserved at boot (frame 0, kernel image, mem_map itself). */
export const PG_reserved = 1 << 0;
/** Head of a free block on a buddy free list. */
export const PG_buddy = 1 << 1;
/** Free page (or block) on a per-CPU list. */
export const PG_pcp = 1 << 2;
/** Head of an allocated block; its order is in the order field. */
export const PG_alloc = 1 << 3;
/** Compound head (__GFP_COMP). */
export const PG_head = 1 << 4;
/** Compound tail; word 3 holds the head's pfn. */
export const PG_tail = 1 << 5;
/** Owned by the slab allocator. */
export const PG_slab = 1 << 6;
/** A page-table page. */
export const PG_pgtable = 1 << 7;
/** Anonymous user memory. */
export const PG_anon = 1 << 8;
/** Backs a vmalloc area. */
export const PG_vmalloc = 1 << 9;
/** Marked lazily freeable (MADV_FREE) and clean since. */
export const PG_lazyfree = 1 << 10;
/** Poisoned when freed (debug). */
export const PG_poisoned = 1 << 11;
/**
 * PageAnonExclusive: an anonymous page that exactly one address space may
 * write without a copy. Fork clears it on every page it shares; only a page
 * with it set may be made writable by mprotect (can_change_pte_writable).
 */
export const PG_anon_exclusive = 1 << 12;
/** PG_dirty: a shared anonymous page written through some mapping (set by a write fault, or when a dirty entry is unmapped). */
export const PG_dirty = 1 << 13;
/**
 * PG_swapcache: an anonymous page that is also in a swap slot (the swap
 * cache holds one reference to it); word 3 (private) holds the slot, as
 * Linux keeps folio->swap. A mapping's reference may be dropped while it is
 * set; the swap cache clears it before dropping its own, and the swap
 * checker reports a cached page that was freed (SWAP-3).
 */
export const PG_swapcache = 1 << 14;
/** PG_file: a page-cache page holding a block of a file (kernel/fs/filemap.ts); its last user clears it before the free. */
export const PG_file = 1 << 15;
/*
 * flags2 (word 4) bits 0..7: reclaim's LRU state (kernel/mm/swap.ts,
 * vmscan.ts, mlock.ts own them). The LRU's release hook clears them, with
 * the links and the rmap words, before a page's last reference goes.
 */
/** PG_lru: on one of the LRU lists (swap.ts; a PG_file page on a file list). */
export const PG2_lru = 1 << 0;
/** PG_active: on the active anon or active file list. */
export const PG2_active = 1 << 1;
/** PG_referenced: seen referenced once on the inactive list (second chance). */
export const PG2_referenced = 1 << 2;
/** PG_unevictable: on the unevictable list (a VM_LOCKED VMA maps it). */
export const PG2_unevictable = 1 << 3;
/** PG_mlocked: counted in Mlocked (mlock.ts). */
export const PG2_mlocked = 1 << 4;
/** PG_workingset: was active before it was evicted (its refault counts). */
export const PG2_workingset = 1 << 5;

/**
 * The flag and order bits a page allocator's free looks at: a block being
 * freed must read exactly `PG_alloc | order << 16` under this mask. The bits
 * left out are page state its last user may leave behind; the free clears them.
 */
export const FREEABLE_MASK =
  0xfffff & ~(PG_head | PG_anon | PG_vmalloc | PG_lazyfree | PG_poisoned | PG_anon_exclusive | PG_dirty | PG_swapcache);

/** Names of the flag bits, in bit order, for dumps. */
export const PAGE_FLAG_NAMES = [
  "reserved",
  "buddy",
  "pcp",
  "alloc",
  "head",
  "tail",
  "slab",
  "pgtable",
  "anon",
  "vmalloc",
  "lazyfree",
  "poisoned",
  "anon_exclusive",
  "dirty",
  "swapcache",
  "file",
] as const;

const FLAG_MASK = 0xffff;
const ORDER_SHIFT = 16;
const ORDER_MASK = 0xf << ORDER_SHIFT;
const OWNER_SHIFT = 20;

/** The struct page array, a view over its frames in RAM. */
export class MemMap {
  /** Raw words: record of pfn at [pfn * 16, pfn * 16 + 16). Hot paths only. */
  readonly w: Uint32Array;
  /**
   * The same records as pairs of words: pair k of pfn, at pfn * 8 + k, is
   * words 2k and 2k + 1. Storing 0 (+0.0, every bit zero) clears both words
   * with one store; FramePages' free uses it. Hot paths only, never read.
   */
  readonly pairs: Float64Array;
  readonly nrPages: number;
  /** First frame of the array itself and how many frames it spans. */
  readonly firstPfn: number;
  readonly nrFrames: number;

  constructor(buffer: ArrayBuffer, firstPfn: number, nrPages: number) {
    this.nrPages = nrPages;
    this.firstPfn = firstPfn;
    this.nrFrames = memmapFrames(nrPages);
    this.w = new Uint32Array(buffer, firstPfn * PAGE_SIZE, nrPages * WORDS);
    this.pairs = new Float64Array(buffer, firstPfn * PAGE_SIZE, nrPages * (WORDS / 2));
  }

  flags(pfn: number): number {
    return (this.w[pfn * WORDS] as number) & FLAG_MASK;
  }

  testFlag(pfn: number, flag: number): boolean {
    return ((this.w[pfn * WORDS] as number) & flag) !== 0;
  }

  setFlag(pfn: number, flag: number): void {
    this.w[pfn * WORDS] = (this.w[pfn * WORDS] as number) | flag;
  }

  clearFlag(pfn: number, flag: number): void {
    this.w[pfn * WORDS] = (this.w[pfn * WORDS] as number) & ~flag;
  }

  order(pfn: number): number {
    return ((this.w[pfn * WORDS] as number) & ORDER_MASK) >>> ORDER_SHIFT;
  }

  /** The whole flags word: flags, order and owner bits. */
  word0(pfn: number): number {
    return this.w[pfn * WORDS] as number;
  }

  /** Sets flags and order in one store, clearing the owner bits. */
  setHead(pfn: number, flags: number, order: number): void {
    this.w[pfn * WORDS] = flags | (order << ORDER_SHIFT);
  }

  ownerBits(pfn: number): number {
    return (this.w[pfn * WORDS] as number) >>> OWNER_SHIFT;
  }

  /** Stores the 12 owner bits (0..4095). */
  setOwnerBits(pfn: number, v: number): void {
    const i = pfn * WORDS;
    this.w[i] = (((this.w[i] as number) & 0xfffff) | (v << OWNER_SHIFT)) >>> 0;
  }

  word(pfn: number, k: 1 | 2 | 3): number {
    return this.w[pfn * WORDS + k] as number;
  }

  setWord(pfn: number, k: 1 | 2 | 3, v: number): void {
    this.w[pfn * WORDS + k] = v;
  }

  /** One of the users' words 4..15 (SP_FLAGS2, SP_LRU_NEXT, ..., SP_OWNER). */
  userWord(pfn: number, k: number): number {
    return this.w[pfn * WORDS + k] as number;
  }

  setUserWord(pfn: number, k: number, v: number): void {
    this.w[pfn * WORDS + k] = v >>> 0;
  }

  flags2(pfn: number): number {
    return this.w[pfn * WORDS + SP_FLAGS2] as number;
  }

  setFlags2(pfn: number, bits: number): void {
    const i = pfn * WORDS + SP_FLAGS2;
    this.w[i] = ((this.w[i] as number) | bits) >>> 0;
  }

  clearFlags2(pfn: number, bits: number): void {
    const i = pfn * WORDS + SP_FLAGS2;
    this.w[i] = ((this.w[i] as number) & ~bits) >>> 0;
  }

  refcount(pfn: number): number {
    return this.w[pfn * WORDS + 1] as number;
  }

  setRefcount(pfn: number, v: number): void {
    this.w[pfn * WORDS + 1] = v;
  }

  mapcount(pfn: number): number {
    return this.w[pfn * WORDS + 2] as number;
  }

  setMapcount(pfn: number, v: number): void {
    this.w[pfn * WORDS + 2] = v;
  }

  private_(pfn: number): number {
    return this.w[pfn * WORDS + 3] as number;
  }

  setPrivate(pfn: number, v: number): void {
    this.w[pfn * WORDS + 3] = v;
  }

  /** The compound head of a tail page, or the page itself. */
  compoundHead(pfn: number): number {
    const i = pfn * WORDS;
    return ((this.w[i] as number) & PG_tail) !== 0 ? (this.w[i + 3] as number) : pfn;
  }

  /** Clears the records of [pfn, pfn + count). */
  clear(pfn: number, count: number): void {
    const w = this.w;
    const end = (pfn + count) * WORDS;
    if (count > 8) {
      w.fill(0, pfn * WORDS, end);
      return;
    }
    for (let i = pfn * WORDS; i < end; i++) w[i] = 0;
  }

  /**
   * Returns an owner's page to the plain allocated state (PG_alloc, its
   * order, refcount 1) so that freePages accepts it.
   */
  resetForFree(pfn: number): void {
    const i = pfn * WORDS;
    const order = this.order(pfn);
    this.w[i] = PG_alloc | (order << ORDER_SHIFT);
    this.w[i + 1] = 1;
    this.w[i + 2] = 0;
    this.w[i + 3] = 0;
  }

  /** "alloc|head" style names of the set flag bits. */
  describeFlags(pfn: number): string {
    const f = this.flags(pfn);
    const names: string[] = [];
    for (let b = 0; b < PAGE_FLAG_NAMES.length; b++) {
      if (f & (1 << b)) names.push(PAGE_FLAG_NAMES[b] as string);
    }
    return names.length ? names.join("|") : "none";
  }
}

/** Frames needed to hold the records of `nrPages` frames. */
export function memmapFrames(nrPages: number): number {
  return Math.ceil((nrPages * STRUCT_PAGE_SIZE) / PAGE_SIZE);
}
