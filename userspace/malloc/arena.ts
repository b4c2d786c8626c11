/**
 * The arena: glibc's malloc_state for the one (main) arena, kept in the
 * first bytes of the brk heap, and its free-chunk index: TLSF's two-level
 * segregated lists (Masmano et al., 2004) with bitmaps, so that finding a
 * fitting free chunk is two bit scans, never a list walk.
 *
 *    base -> +0    magic          ARENA_MAGIC
 *            +4    top            heap offset of the top chunk
 *            +8    system_mem     bytes obtained with brk (this header included)
 *            +12   n_mmaps        mmapped chunks alive
 *            +16   mmapped_mem    bytes in mmapped chunks (lo, hi at +20)
 *            +24   max_system_mem highest system_mem seen
 *            +28   fl_bitmap      bit f: some bin of first level f is non-empty
 *            +32   sl_bitmap[26]  bit s of word f: bin (f, s) is non-empty
 *            +136  runs[16]       heap offset of the run of small chunk size 16 * k, 0 = none
 *            +200  bins[26][8]    heap offset of each bin's first chunk, 0 = empty
 *            +1032
 *    base + FIRST_CHUNK (1024): the first chunk, whose prev_size word is never
 *    used (its PREV_INUSE is always set), so it may overlap the header's end.
 *    The top chunk ends at the break.
 *
 * Bin mapping (chunk sizes are multiples of 16): first level 0 holds the
 * small sizes 32..112 exactly, one size per bin; first level f >= 1 holds
 * [2^(f+6), 2^(f+7)) cut into 8 equal ranges (so sizes below 256 still
 * have a bin each). A bin's index is f * 8 + s. The JS copies of the
 * bitmaps are a write-through cache that the checker compares with the
 * heap; bin heads and links are read from the heap every time.
 *
 * Words: va = a user virtual address; off = va - base (what fd, bk, bins
 * and top hold); bin = one free list.
 */

import type { UserMemory } from "../env.ts";
import type { MallocEnv } from "../libc/malloc_layer.ts";
import { bk, fd, head, setBk, setFd } from "./chunk.ts";
import { CORRUPTED_LIST } from "./messages.ts";

export const ARENA_MAGIC = 0x6d616c63;
export const OFF_MAGIC = 0;
export const OFF_TOP = 4;
export const OFF_SYSTEM_MEM = 8;
export const OFF_N_MMAPS = 12;
export const OFF_MMAPPED_MEM = 16;
export const OFF_MAX_SYSTEM_MEM = 24;
export const OFF_FL_BITMAP = 28;
export const OFF_SL_BITMAP = 32;

/** Second-level bins per first level (2^SL_BITS). */
export const SL_BITS = 3;
export const SL_COUNT = 1 << SL_BITS;
/** Sizes below SB_SIZE live in first level 0, one size per bin. */
export const SB_BITS = 4 + SL_BITS;
export const SB_SIZE = 1 << SB_BITS;
/** First levels: sizes up to 2^32 - 1. */
export const FL_COUNT = 32 - SB_BITS + 1;
export const BIN_COUNT = FL_COUNT * SL_COUNT;
export const OFF_RUNS = OFF_SL_BITMAP + 4 * FL_COUNT;
export const OFF_BINS = OFF_RUNS + 4 * 16;
/** Offset of the first chunk from the base: 16-aligned, its unused prev_size over the header's last word. */
export const FIRST_CHUNK = (OFF_BINS + 4 * BIN_COUNT - 8 + 15) & ~15;

/**
 * mapping_insert: the bin of a free chunk of `size` bytes (16 <= size < 2^32).
 */
export function binIndex(size: number): number {
  if (size < SB_SIZE) return size >>> 4;
  const f = 31 - Math.clz32(size);
  return ((f - (SB_BITS - 1)) << SL_BITS) + ((size >>> (f - SL_BITS)) ^ SL_COUNT);
}

/** The smallest size a chunk in bin `idx` may have. */
export function binLowest(idx: number): number {
  const f = idx >>> SL_BITS;
  const s = idx & (SL_COUNT - 1);
  if (f === 0) return s << 4;
  return (SL_COUNT + s) * 2 ** (f + SB_BITS - 1 - SL_BITS);
}

/** Index of the lowest set bit of a non-zero 32-bit word. */
function ffs(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** Tunables (glibc's malloc_par, mp_); they live in the C library's data, here in JS. */
export interface MallocParams {
  mmapThreshold: number;
  trimThreshold: number;
  topPad: number;
  nMmapsMax: number;
  /** Set once the user fixed a threshold with mallopt: no dynamic adjustment. */
  noDynThreshold: boolean;
  /** M_PERTURB: 0, or the byte freed memory is filled with (allocations get its complement). */
  perturb: number;
}

/**
 * One arena: where its header lives and the bin operations. The core of
 * malloc and free (malloc.ts) and heap growth (sysmalloc.ts) work on it.
 */
export class Arena {
  /** The heap base (16-aligned VA of the header); 0 until the first allocation. */
  base = 0;
  /** VA of the top chunk (cached from the header's top). */
  top = 0;
  /** VA of the end of the heap: top + its size (cached; the heap's break). */
  end = 0;
  /** First-level bitmap (write-through copy of the header's fl_bitmap). */
  flMap = 0;
  /** Second-level bitmaps (write-through copies). */
  readonly slMap = new Int32Array(FL_COUNT);
  /** The break before the first sbrk (for the checker's system_mem recount). */
  brk0 = 0;
  /** Bytes at or above max(cleanFrom, end) read as zero when the heap grows over them (calloc skips them). */
  cleanFrom = 0;
  /** Highest system_mem + mmapped_mem seen (an instrument for utilisation, not state). */
  peakBytes = 0;
  /** Most mmapped chunks alive at once and most bytes in them (glibc's mp_.max_n_mmaps, max_mmapped_mem; malloc_stats). */
  maxMmaps = 0;
  maxMmappedMem = 0;
  /** Chunks the next run of each small size class will hold (a placement heuristic, not state). */
  readonly runCount = new Int32Array(16);
  /** The mmapped chunks alive, for the checker only: malloc never consults it. */
  readonly mmapped = new Set<number>();
  /**
   * 0 for the main arena (on the brk heap); for a thread's arena, the VA of
   * its mmapped heap (HEAP_MAX_SIZE-aligned, heap_info at its start: see
   * arena_heap.ts), the header following it.
   */
  heap = 0;
  /**
   * The arena whose header counts the mmapped chunks (glibc keeps n_mmaps
   * and mmapped_mem in mp_, for the whole process): the main arena for
   * every arena, so that free() of an mmapped chunk needs no owner.
   */
  mmaps: Arena = this;

  // Declared, not parameter properties: each is created holding its value,
  // so the JIT keeps its map (see kernel/README.md, fast paths and the JIT).
  declare readonly mem: UserMemory;
  declare readonly env: MallocEnv;
  declare readonly abort: (message: string) => never;
  declare readonly mp: MallocParams;

  constructor(mem: UserMemory, env: MallocEnv, abort: (message: string) => never, mp: MallocParams) {
    this.mem = mem;
    this.env = env;
    this.abort = abort;
    this.mp = mp;
  }

  /**
   * After fork: the child's memory is a copy of the parent's, so the values
   * this object caches from the header (and its instruments) are copied too.
   */
  copyFrom(parent: Arena): void {
    this.base = parent.base;
    this.top = parent.top;
    this.end = parent.end;
    this.flMap = parent.flMap;
    this.slMap.set(parent.slMap);
    this.brk0 = parent.brk0;
    this.heap = parent.heap;
    this.cleanFrom = parent.cleanFrom;
    this.peakBytes = parent.peakBytes;
    this.maxMmaps = parent.maxMmaps;
    this.maxMmappedMem = parent.maxMmappedMem;
    this.runCount.set(parent.runCount);
    for (const c of parent.mmapped) this.mmapped.add(c);
    Object.assign(this.mp, parent.mp);
  }

  /** Records the bytes currently obtained from the kernel for the peak. */
  notePeak(bytes: number): void {
    if (bytes > this.peakBytes) this.peakBytes = bytes;
  }

  /** Reads a header word. */
  word(off: number): number {
    return this.mem.read32(this.base + off) >>> 0;
  }

  setWord(off: number, v: number): void {
    this.mem.write32(this.base + off, v);
  }

  /** Moves the top chunk to `va` (cache and header). */
  setTop(va: number): void {
    this.top = va;
    this.mem.write32(this.base + OFF_TOP, va - this.base);
  }

  private setBit(idx: number): void {
    const f = idx >>> SL_BITS;
    const sl = this.slMap[f]! | (1 << (idx & (SL_COUNT - 1)));
    this.slMap[f] = sl;
    this.mem.write32(this.base + OFF_SL_BITMAP + 4 * f, sl);
    if ((this.flMap & (1 << f)) === 0) {
      this.flMap |= 1 << f;
      this.mem.write32(this.base + OFF_FL_BITMAP, this.flMap);
    }
  }

  private clearBit(idx: number): void {
    const f = idx >>> SL_BITS;
    const sl = this.slMap[f]! & ~(1 << (idx & (SL_COUNT - 1)));
    this.slMap[f] = sl;
    this.mem.write32(this.base + OFF_SL_BITMAP + 4 * f, sl);
    if (sl === 0) {
      this.flMap &= ~(1 << f);
      this.mem.write32(this.base + OFF_FL_BITMAP, this.flMap);
    }
  }

  /** True when bin `idx` holds a chunk (bitmap test, no memory access). */
  binNonEmpty(idx: number): boolean {
    return (this.slMap[idx >>> SL_BITS]! & (1 << (idx & (SL_COUNT - 1)))) !== 0;
  }

  /** The heap offset bin `idx` starts with (0 = empty). */
  binHead(idx: number): number {
    return this.mem.read32(this.base + OFF_BINS + 4 * idx) >>> 0;
  }

  setBinHead(idx: number, off: number): void {
    this.mem.write32(this.base + OFF_BINS + 4 * idx, off);
  }

  /** VA of the first chunk of bin `idx` (the bin must be non-empty). */
  binFirst(idx: number): number {
    return this.base + this.binHead(idx);
  }

  /** The heap offset of the run of small chunk size 16 * k (0 = none). */
  run(k: number): number {
    return this.mem.read32(this.base + OFF_RUNS + 4 * k) >>> 0;
  }

  setRun(k: number, off: number): void {
    this.mem.write32(this.base + OFF_RUNS + 4 * k, off);
  }

  /**
   * search_suitable_block: the lowest non-empty bin with index >= `idx`.
   * Returns -1 when there is none.
   */
  searchBin(idx: number): number {
    let f = idx >>> SL_BITS;
    if (f >= FL_COUNT) return -1;
    let sl = this.slMap[f]! & (-1 << (idx & (SL_COUNT - 1)));
    if (sl === 0) {
      const fl = this.flMap & (-1 << (f + 1));
      if (fl === 0) return -1;
      f = ffs(fl);
      sl = this.slMap[f]!;
    }
    return (f << SL_BITS) + ffs(sl);
  }

  /** insert_block: pushes the free chunk at `c` (size `size`) on the front of its bin. */
  insertChunk(c: number, size: number): void {
    const mem = this.mem;
    const idx = binIndex(size);
    const off = c - this.base;
    if (this.binNonEmpty(idx)) {
      const h = this.binHead(idx);
      setBk(mem, this.base + h, off);
      setFd(mem, c, h);
    } else {
      setFd(mem, c, 0);
      this.setBit(idx);
    }
    setBk(mem, c, 0);
    this.setBinHead(idx, off);
  }

  /**
   * unlink_chunk: takes the free chunk at `c` (size `size`) out of its bin,
   * checking both neighbours point back at it. Aborts the process with
   * "corrupted double-linked list" when they do not.
   */
  removeChunk(c: number, size: number): void {
    const mem = this.mem;
    const base = this.base;
    const off = c - base;
    const f = fd(mem, c);
    const b = bk(mem, c);
    if (f !== 0 && (!this.isChunkOff(f) || bk(mem, base + f) !== off)) this.abort(CORRUPTED_LIST);
    if (b !== 0) {
      if (!this.isChunkOff(b) || fd(mem, base + b) !== off) this.abort(CORRUPTED_LIST);
      setFd(mem, base + b, f);
    } else {
      const idx = binIndex(size);
      if (!this.binNonEmpty(idx) || this.binHead(idx) !== off) this.abort(CORRUPTED_LIST);
      this.setBinHead(idx, f);
      if (f === 0) this.clearBit(idx);
    }
    if (f !== 0) setBk(mem, base + f, b);
  }

  /**
   * Takes the first chunk `c` off bin `idx` (malloc's path: it heads the
   * bin). Aborts with `message` when its successor does not point back.
   */
  popChunk(idx: number, c: number, message: string): void {
    const mem = this.mem;
    const f = fd(mem, c);
    this.setBinHead(idx, f);
    if (f === 0) this.clearBit(idx);
    else {
      if (!this.isChunkOff(f) || bk(mem, this.base + f) !== c - this.base) this.abort(message);
      setBk(mem, this.base + f, 0);
    }
  }

  /** True when `off` could be a chunk of this heap: 16-aligned, at or after the first chunk, before the top. */
  isChunkOff(off: number): boolean {
    return (off & 15) === 0 && off >= FIRST_CHUNK && off < this.top - this.base;
  }

  /** True when `va` lies in the chunk area of the heap (first chunk .. end). */
  inHeap(va: number): boolean {
    return va >= this.base + FIRST_CHUNK && va < this.end;
  }

  /** The size word of the top chunk. */
  topHead(): number {
    return head(this.mem, this.top);
  }
}
