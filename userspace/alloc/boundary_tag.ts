/**
 * Boundary-tag blocks (Knuth; CS:APP 9.9): the heap is a contiguous run of
 * blocks in the brk heap, each with a header word, the free ones with a
 * footer too, so free() finds both physical neighbours in O(1) and
 * coalesces. This file owns the block layout and the heap walk (split,
 * coalesce, grow, realloc in place, the checker); the allocators that
 * extend {@link BoundaryTagHeap} own only their free lists (freelist.ts:
 * one list with a fit policy; segregated.ts: one list per size class).
 *
 * Words: block = header + payload (+ footer when free); b = a block's header
 * address; the payload starts at b + 8 and is 16-aligned, so b = 8 mod 16.
 *
 *   allocated block                     free block
 *   b + 0  +------------------------+   b + 0   +------------------------+
 *          | size | PREV_ALLOC|ALLOC|           | size | PREV_ALLOC | 0   |
 *   b + 4  | 0                      |   b + 4   | 0                      |
 *   b + 8  +------------------------+   b + 8   | next free (u64)        |
 *          | payload ...            |   b + 16  | prev free (u64)        |
 *          |                        |           | ...                    |
 *          +------------------------+   b+size-8| footer: size | flags   |
 *                                               +------------------------+
 *   size: bytes of the whole block, a multiple of 16, >= MIN_BLOCK (32).
 *   PREV_ALLOC: the block before this one is allocated (so it has no footer).
 *
 *   heap: [root][8 pad][block][block] ... [block][epilogue: size 0, ALLOC] = break
 *   The first block's PREV_ALLOC is set (nothing before it may be merged).
 */
import type { UserProcess } from "../env.ts";
import { type Allocator, type AllocatorStats, type HeapCensus, HeapCorruption, reallocByMove } from "./allocator.ts";
import { alignUp, HeapCore, hex, load64, PAGE_SIZE, store64 } from "./heap.ts";

export const ALLOC = 1;
export const PREV_ALLOC = 2;
const FLAGS = 15;
/** Header bytes before the payload. */
export const HDR = 8;
/** The smallest block: header, two links, footer. */
export const MIN_BLOCK = 32;
/** Offsets of a free block's links. */
export const F_NEXT = 8;
export const F_PREV = 16;
/** Largest block the u32 size field holds. */
const MAX_BLOCK = 0xffff_fff0;

/** Whether freed neighbours merge at once or never. */
export type Coalescing = "immediate" | "never";

/** Options shared by the boundary-tag allocators. */
export interface BoundaryTagOptions {
  /** Merge free neighbours on free (default "immediate"). */
  coalesce?: Coalescing;
  /** The heap grows by multiples of this many bytes, a multiple of 16 (default 4096). */
  growBytes?: number;
}

/** The block size that serves a request of `n` bytes; 0 when it cannot be represented. */
export function adjustSize(n: number): number {
  const s = Math.max(MIN_BLOCK, alignUp(n + HDR, 16));
  return s > MAX_BLOCK ? 0 : s;
}

/** A heap of boundary-tagged blocks; subclasses keep the free lists. */
export abstract class BoundaryTagHeap implements Allocator {
  readonly proc: UserProcess;
  protected readonly core: HeapCore;
  protected readonly mem: UserProcess["mem"];
  protected readonly coalescing: Coalescing;
  private readonly growBytes: number;

  constructor(
    readonly name: string,
    proc: UserProcess,
    kind: number,
    rootBytes: number,
    opts: BoundaryTagOptions,
  ) {
    this.proc = proc;
    this.core = new HeapCore(proc, name, kind, rootBytes);
    this.mem = proc.mem;
    this.coalescing = opts.coalesce ?? "immediate";
    this.growBytes = opts.growBytes ?? PAGE_SIZE;
    if (this.coalescing !== "immediate" && this.coalescing !== "never")
      throw new RangeError(`${name}: coalesce must be "immediate" or "never"`);
    if (!Number.isInteger(this.growBytes) || this.growBytes < 16 || this.growBytes % 16 !== 0)
      throw new RangeError(`${name}: growBytes must be a multiple of 16`);
  }

  // --- hooks: the free lists ---------------------------------------------

  /** A free block of at least `asize` bytes, still on its list; 0 when none. */
  protected abstract findFit(asize: number): number;
  /** Puts free block `b` (header and footer written) on a list. */
  protected abstract insertFree(b: number): void;
  /** Takes free block `b` off its list (its header still holds its size). */
  protected abstract removeFree(b: number): void;
  /** Free block `neu` (header written) takes the list place of `old`, which leaves. */
  protected abstract replaceFree(old: number, neu: number): void;
  /** Walks the lists: every block of `free` must be listed once and nothing else. Throws HeapCorruption. */
  protected abstract checkLists(free: Set<number>): void;

  // --- block accessors ---------------------------------------------------

  protected hdr(b: number): number {
    return this.mem.read32(b);
  }
  protected sizeOf(b: number): number {
    return this.mem.read32(b) & ~FLAGS;
  }
  protected setHdr(b: number, word: number): void {
    this.mem.write32(b, word);
  }
  /** Writes a free block's footer from its header. */
  protected setFtr(b: number): void {
    const h = this.mem.read32(b);
    this.mem.write32(b + (h & ~FLAGS) - HDR, h);
  }
  protected next(b: number): number {
    return load64(this.mem, b + F_NEXT);
  }
  protected prev(b: number): number {
    return load64(this.mem, b + F_PREV);
  }
  protected setNext(b: number, v: number): void {
    store64(this.mem, b + F_NEXT, v);
  }
  protected setPrev(b: number, v: number): void {
    store64(this.mem, b + F_PREV, v);
  }
  /** Sets PREV_ALLOC of block `b` to `flag` (PREV_ALLOC or 0), keeping a free block's footer equal to its header. */
  private setPrevAlloc(b: number, flag: typeof PREV_ALLOC | 0): void {
    const h = this.mem.read32(b);
    this.mem.write32(b, (h & ~PREV_ALLOC) | flag);
    if (!(h & ALLOC)) this.setFtr(b);
  }

  /** First block header. */
  protected lo(): number {
    return this.core.rootEnd() + HDR;
  }
  /** The epilogue header (end of the blocks). */
  protected hi(): number {
    return this.core.curbrk() - HDR;
  }

  private init(): boolean {
    const c = this.core;
    if (!c.setup()) return false;
    if (c.sbrk(16) === -1) return false;
    this.setHdr(this.lo(), ALLOC | PREV_ALLOC);
    this.initLists();
    return true;
  }

  /** Subclasses set up their root fields here (the root is zeroed already). */
  protected initLists(): void {}

  // --- malloc / free / realloc ---------------------------------------------

  malloc(size: number): number {
    if (this.core.root === 0 && !this.init()) return 0;
    const asize = adjustSize(size);
    if (asize === 0) return 0;
    let b = this.findFit(asize);
    if (b === 0) b = this.extendHeap(asize);
    if (b === 0) return 0;
    this.place(b, asize);
    this.core.addLive(size);
    return b + HDR;
  }

  /** Allocates `asize` bytes from the front of free block `b`, splitting off the rest when it can stand alone. */
  private place(b: number, asize: number): void {
    const bsize = this.sizeOf(b);
    const pa = this.hdr(b) & PREV_ALLOC;
    if (bsize - asize >= MIN_BLOCK) {
      const r = b + asize;
      this.setHdr(r, (bsize - asize) | PREV_ALLOC);
      this.setFtr(r);
      this.replaceFree(b, r);
      this.setHdr(b, asize | pa | ALLOC);
    } else {
      this.removeFree(b);
      this.setHdr(b, bsize | pa | ALLOC);
      this.setPrevAlloc(b + bsize, PREV_ALLOC);
    }
  }

  /** Grows the heap by a free block big enough for `asize` (counting a free last block); 0 when brk fails. */
  private extendHeap(asize: number): number {
    const epi = this.hi();
    const pa = this.hdr(epi) & PREV_ALLOC;
    const tail = this.coalescing === "immediate" && !pa ? this.mem.read32(epi - HDR) & ~FLAGS : 0;
    const incr = alignUp(asize - tail, this.growBytes);
    if (this.core.sbrk(incr) === -1) return 0;
    this.setHdr(epi, incr | pa);
    this.setFtr(epi);
    this.setHdr(epi + incr, ALLOC);
    return this.release(epi);
  }

  /** Links free block `b` (header, footer, next block's PREV_ALLOC done), merging neighbours; returns the final block. */
  private release(b: number): number {
    if (this.coalescing === "never") {
      this.insertFree(b);
      return b;
    }
    const prevFree = this.hdr(b) & PREV_ALLOC ? 0 : b - (this.mem.read32(b - HDR) & ~FLAGS);
    const n = b + this.sizeOf(b);
    const nextFree = this.hdr(n) & ALLOC ? 0 : n;
    return this.linkCoalesced(b, prevFree, nextFree);
  }

  /**
   * Merges free block `b` with its free neighbours `prevFree` / `nextFree`
   * (0 when absent) and lists the result. The default takes the neighbours
   * off their lists and inserts the merged block; returns the merged block.
   */
  protected linkCoalesced(b: number, prevFree: number, nextFree: number): number {
    let start = b;
    let size = this.sizeOf(b);
    if (prevFree !== 0) {
      this.removeFree(prevFree);
      start = prevFree;
      size += this.sizeOf(prevFree);
    }
    if (nextFree !== 0) {
      this.removeFree(nextFree);
      size += this.sizeOf(nextFree);
    }
    this.setHdr(start, size | (this.hdr(start) & PREV_ALLOC));
    this.setFtr(start);
    this.insertFree(start);
    return start;
  }

  /** Aborts the process unless `p` is the payload of an allocated block. */
  private validate(p: number): number {
    const b = p - HDR;
    if (this.core.root === 0 || p % 16 !== 0 || b < this.lo() || b >= this.hi()) this.proc.abort(`${this.name}: free(): invalid pointer`);
    const h = this.hdr(b);
    if (!(h & ALLOC)) this.proc.abort(`${this.name}: free(): double free detected`);
    if ((h & ~FLAGS) < MIN_BLOCK || b + (h & ~FLAGS) > this.hi()) this.proc.abort(`${this.name}: free(): invalid size`);
    return b;
  }

  free(p: number, size: number): void {
    if (p === 0) return;
    const b = this.validate(p);
    this.core.addLive(-size);
    this.makeFree(b);
  }

  /** Marks allocated block `b` free and releases it. */
  private makeFree(b: number): void {
    const h = this.hdr(b);
    this.setHdr(b, h & ~ALLOC);
    this.setFtr(b);
    this.setPrevAlloc(b + (h & ~FLAGS), 0);
    this.release(b);
  }

  realloc(p: number, oldSize: number, newSize: number): number {
    if (p === 0) return this.malloc(newSize);
    const b = this.validate(p);
    const asize = adjustSize(newSize);
    if (asize === 0) return 0;
    if (asize <= this.sizeOf(b) || this.growInPlace(b, asize)) {
      this.shrinkTo(b, asize);
      this.core.addLive(newSize - oldSize);
      return p;
    }
    return reallocByMove(this, p, oldSize, newSize);
  }

  /**
   * Grows allocated block `b` to at least `asize` without moving it: into a
   * free next block (when coalescing), and at the end of the heap by moving
   * the break. Returns false when neither works.
   */
  private growInPlace(b: number, asize: number): boolean {
    const bsize = this.sizeOf(b);
    const pa = this.hdr(b) & PREV_ALLOC;
    const n = b + bsize;
    const nextFree = this.coalescing === "immediate" && !(this.hdr(n) & ALLOC);
    const total = bsize + (nextFree ? this.sizeOf(n) : 0);
    if (total >= asize) {
      this.removeFree(n);
      this.setHdr(b, total | pa | ALLOC);
      this.setPrevAlloc(b + total, PREV_ALLOC);
      return true;
    }
    if (b + total !== this.hi()) return false;
    const incr = alignUp(asize - total, this.growBytes);
    if (this.core.sbrk(incr) === -1) return false;
    if (nextFree) this.removeFree(n);
    this.setHdr(b, (total + incr) | pa | ALLOC);
    this.setHdr(b + total + incr, ALLOC | PREV_ALLOC);
    return true;
  }

  /** Splits allocated block `b` down to `asize`, releasing the tail when it can stand alone. */
  private shrinkTo(b: number, asize: number): void {
    const bsize = this.sizeOf(b);
    if (bsize - asize < MIN_BLOCK) return;
    this.setHdr(b, asize | (this.hdr(b) & PREV_ALLOC) | ALLOC);
    const r = b + asize;
    this.setHdr(r, (bsize - asize) | PREV_ALLOC | ALLOC);
    this.makeFree(r);
  }

  // --- checker -------------------------------------------------------------

  check(): void {
    const c = this.core;
    if (c.root === 0) return;
    c.checkRoot(0);
    const hi = this.hi();
    const free = new Set<number>();
    let b = this.lo();
    let prevAlloc = true;
    let capacity = 0;
    while (b < hi) {
      const h = this.hdr(b);
      const size = h & ~FLAGS;
      if (size < MIN_BLOCK || size % 16 !== 0 || b + size > hi) throw new HeapCorruption("TAG-1", `block ${hex(b)} has a bad size ${size}`);
      if (!!(h & PREV_ALLOC) !== prevAlloc)
        throw new HeapCorruption("TAG-2", `block ${hex(b)}: PREV_ALLOC does not match the block before`);
      if (h & ALLOC) capacity += size - HDR;
      else {
        if (this.mem.read32(b + size - HDR) !== h) throw new HeapCorruption("TAG-3", `free block ${hex(b)}: footer differs from header`);
        if (!prevAlloc && this.coalescing === "immediate")
          throw new HeapCorruption("TAG-4", `free block ${hex(b)} follows a free block (missed coalesce)`);
        free.add(b);
      }
      prevAlloc = !!(h & ALLOC);
      b += size;
    }
    const epi = this.hdr(hi);
    if (b !== hi || epi !== (ALLOC | (prevAlloc ? PREV_ALLOC : 0)))
      throw new HeapCorruption("TAG-5", `epilogue at ${hex(hi)} is damaged or the blocks overrun it`);
    this.checkLists(free);
    c.checkLive(capacity);
  }

  stats(): AllocatorStats {
    return this.core.stats();
  }

  /** One walk of the blocks: an allocated block grants its payload (size - HDR), a free block is free whole. */
  census(): HeapCensus {
    const r = { grantedBytes: 0, freeBytes: 0, largestFreeBytes: 0 };
    if (this.core.root === 0) return r;
    const hi = this.hi();
    for (let b = this.lo(); b < hi; b += this.sizeOf(b)) {
      const size = this.sizeOf(b);
      if (this.hdr(b) & ALLOC) r.grantedBytes += size - HDR;
      else {
        r.freeBytes += size;
        if (size > r.largestFreeBytes) r.largestFreeBytes = size;
      }
    }
    return r;
  }
}
