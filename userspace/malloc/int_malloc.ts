/**
 * The core of malloc and free on the arena (glibc's _int_malloc and
 * _int_free): bin search through the TLSF bitmaps, splitting, the top
 * chunk, boundary-tag checks and immediate coalescing. Growth of the heap
 * and mmapped chunks are sysmalloc.ts's.
 *
 * Basic algorithm of intMalloc(nb), nb a chunk size:
 *   1. The bin of nb: its first chunk is taken when it fits (always, for
 *      the exact small bins).
 *   2. Small sizes (< SB_SIZE = 128): cut the next chunk from the run of
 *      that size, a reserved stretch that small chunks of one size are cut
 *      from one after the other, so that they sit together instead of
 *      between larger chunks (whose free spans then coalesce). A new run is
 *      allocated by steps 3-5 with room for 4, then 8, ... chunks, up to
 *      RUN_MAX_BYTES.
 *   3. Else the lowest non-empty bin above it (two bit scans); any chunk
 *      there fits. The chunk is split when the rest is >= MINSIZE.
 *   4. Else the top chunk, when it keeps MINSIZE after the split.
 *   5. Else sysmalloc: grow the heap with brk, or mmap the chunk.
 * Every step is a bounded number of memory accesses, whatever the number of
 * chunks.
 *
 * A run is an in-use chunk flagged NON_MAIN_ARENA (free() refuses it) whose
 * offset the arena header keeps in runs[size / 16]; cutting a chunk moves
 * its header forward. The last cut takes what is left.
 */
import type { Arena } from "./arena.ts";
import { binIndex, FIRST_CHUNK, SB_SIZE, SL_COUNT } from "./arena.ts";
import {
  CHUNK_FREE,
  head,
  IS_MMAPPED,
  MINSIZE,
  misaligned16,
  NON_MAIN_ARENA,
  PREV_INUSE,
  prevSize,
  released,
  setHead,
  setPrevSize,
  setReleased,
  sizeOf,
} from "./chunk.ts";
import {
  CORRUPTED_LIST,
  CORRUPTED_TOP,
  DOUBLE_FREE_OUT,
  DOUBLE_FREE_PREV,
  DOUBLE_FREE_TOP,
  FREE_INVALID_NEXT_SIZE,
  FREE_INVALID_POINTER,
  FREE_INVALID_SIZE,
  MEMORY_CORRUPTION,
  MUNMAP_INVALID_POINTER,
  PREV_SIZE_CONSOLIDATING,
  SIZE_VS_PREV_SIZE,
  SMALLBIN_CORRUPTED,
} from "./messages.ts";
import { DECOMMIT_FACTOR, initArena, munmapChunk, RELEASE_MIN, releaseSpan, sysmalloc, systrim } from "./sysmalloc.ts";

/** Chunks in a size's first run; each later run doubles, up to RUN_MAX_BYTES. */
const RUN_FIRST = 4;
const RUN_MAX_BYTES = 4096;

/** Chunk sizes the brk heap serves; larger ones are always mmapped. */
export const HEAP_CHUNK_MAX = 2 ** 32 - 2 ** 20;

/**
 * _int_malloc: a chunk of `nb` bytes (a request2size value). Returns the
 * payload VA, or 0 when neither brk nor mmap can supply it.
 */
export function intMalloc(a: Arena, nb: number): number {
  if (a.base === 0 && nb < a.mp.mmapThreshold && !initArena(a, nb < SB_SIZE ? nb * RUN_FIRST : nb)) return 0;
  if (nb < SB_SIZE && a.base !== 0) {
    const idx = nb >>> 4;
    if (a.binNonEmpty(idx)) {
      const c = a.binFirst(idx);
      return takeChunk(a, idx, c, head(a.mem, c), nb);
    }
    return runMalloc(a, nb);
  }
  return intMallocChunk(a, nb);
}

/** Steps 1, 3, 4, 5 of intMalloc: any size, no runs. */
function intMallocChunk(a: Arena, nb: number): number {
  if (nb < HEAP_CHUNK_MAX && a.base !== 0) {
    let idx = binIndex(nb);
    if (a.binNonEmpty(idx)) {
      const c = a.binFirst(idx);
      const hd = head(a.mem, c);
      if (sizeOf(hd) >= nb) return takeChunk(a, idx, c, hd, nb);
    }
    idx = a.searchBin(idx + 1);
    if (idx >= 0) {
      const c = a.binFirst(idx);
      return takeChunk(a, idx, c, head(a.mem, c), nb);
    }
    const thd = a.topHead();
    const tsize = sizeOf(thd);
    if (a.top + tsize !== a.end) a.abort(CORRUPTED_TOP);
    if (tsize >= nb + MINSIZE) return splitTop(a, nb, thd);
  }
  return sysmalloc(a, nb);
}

/** Step 2: cuts a chunk of small size `nb` from its run, starting a run when there is none. */
function runMalloc(a: Arena, nb: number): number {
  const mem = a.mem;
  const k = nb >>> 4;
  let off = a.run(k);
  if (off === 0) {
    off = newRun(a, nb);
    if (off === 0) return intMallocChunk(a, nb);
  }
  const c = a.base + off;
  const rhd = head(mem, c);
  const rsize = sizeOf(rhd);
  if ((rhd & (NON_MAIN_ARENA | IS_MMAPPED | CHUNK_FREE)) !== NON_MAIN_ARENA || rsize < nb || c + rsize > a.top) a.abort(MEMORY_CORRUPTION);
  if (rsize - nb < nb) {
    setHead(mem, c, rsize | (rhd & PREV_INUSE));
    a.setRun(k, 0);
  } else {
    setHead(mem, c, nb | (rhd & PREV_INUSE));
    setHead(mem, c + nb, (rsize - nb) | PREV_INUSE | NON_MAIN_ARENA);
    a.setRun(k, off + nb);
  }
  return c + 16;
}

/** Allocates the next run for small size `nb` and records it. Returns its heap offset, or 0 when there is no room. */
function newRun(a: Arena, nb: number): number {
  const k = nb >>> 4;
  const count = a.runCount[k] || RUN_FIRST;
  const bytes = nb * count;
  if (bytes >= a.mp.mmapThreshold) return 0;
  const p = intMallocChunk(a, bytes);
  if (p === 0) return 0;
  const c = p - 16;
  const hd = head(a.mem, c);
  if (hd & IS_MMAPPED) {
    intFree(a, p);
    return 0;
  }
  setHead(a.mem, c, hd | NON_MAIN_ARENA);
  a.setRun(k, c - a.base);
  a.runCount[k] = Math.min(2 * count, Math.max(RUN_FIRST, Math.floor(RUN_MAX_BYTES / nb)));
  return c - a.base;
}

/** Takes the first chunk `c` (size word `hd`) off bin `idx` and cuts `nb` bytes from it. */
function takeChunk(a: Arena, idx: number, c: number, hd: number, nb: number): number {
  const mem = a.mem;
  const size = sizeOf(hd);
  if ((hd & CHUNK_FREE) === 0 || binIndex(size) !== idx || c + size > a.top) a.abort(MEMORY_CORRUPTION);
  a.popChunk(idx, c, idx < SL_COUNT ? SMALLBIN_CORRUPTED : CORRUPTED_LIST);
  const rem = size - nb;
  if (rem >= MINSIZE) {
    setHead(mem, c, nb | (hd & PREV_INUSE));
    const r = c + nb;
    setHead(mem, r, rem | PREV_INUSE | CHUNK_FREE);
    setPrevSize(mem, r + rem, rem);
    if (rem >= RELEASE_MIN) setReleased(mem, r, released(mem, c));
    a.insertChunk(r, rem);
  } else {
    setHead(mem, c, hd & ~CHUNK_FREE);
    const n = c + size;
    setHead(mem, n, head(mem, n) | PREV_INUSE);
  }
  return c + 16;
}

/** Cuts `nb` bytes from the front of the top chunk (size word `thd`, large enough). */
export function splitTop(a: Arena, nb: number, thd: number): number {
  const c = a.top;
  const mem = a.mem;
  setHead(mem, c, nb | (thd & PREV_INUSE));
  setHead(mem, c + nb, (sizeOf(thd) - nb) | PREV_INUSE);
  a.setTop(c + nb);
  return c + 16;
}

/**
 * __libc_free / _int_free: frees the payload at `p` with glibc's checks.
 * Aborts the process (SIGABRT) with glibc's message when `p` is not a live
 * chunk. 0 is a no-op.
 */
export function intFree(a: Arena, p: number): void {
  if (p === 0) return;
  const mem = a.mem;
  const c = p - 16;
  if (misaligned16(p) || p < 16) a.abort(FREE_INVALID_POINTER);
  if (a.base === 0 || c < a.base + FIRST_CHUNK || c >= a.end) {
    const hd = head(mem, c);
    if ((hd & (IS_MMAPPED | NON_MAIN_ARENA)) !== IS_MMAPPED) a.abort(FREE_INVALID_POINTER);
    munmapChunk(a, c, hd);
    return;
  }
  const hd = head(mem, c);
  if (hd & IS_MMAPPED) a.abort(MUNMAP_INVALID_POINTER);
  if (hd & NON_MAIN_ARENA) a.abort(FREE_INVALID_POINTER);
  const size = sizeOf(hd);
  if (size < MINSIZE) a.abort(FREE_INVALID_SIZE);
  if (c === a.top) a.abort(DOUBLE_FREE_TOP);
  const n = c + size;
  if (c > a.top || n > a.top) a.abort(DOUBLE_FREE_OUT);
  if (hd & CHUNK_FREE) a.abort(DOUBLE_FREE_PREV);
  const nhd = head(mem, n);
  if ((nhd & PREV_INUSE) === 0) a.abort(DOUBLE_FREE_PREV);
  const nsize = sizeOf(nhd);
  if (nsize < MINSIZE || n + nsize > a.end) a.abort(FREE_INVALID_NEXT_SIZE);
  if (a.mp.perturb !== 0) mem.fill(p, a.mp.perturb, size - 16);
  freeChunk(a, c, hd, n, nhd);
}

/**
 * The coalescing half of _int_free: `c` (size word `hd`) is an in-use heap
 * chunk that passed the checks, `n` its next chunk with size word `nhd`.
 * Merges with free neighbours, then bins the result or grows the top
 * (trimming the heap when the top passes M_TRIM_THRESHOLD). Free spans of
 * DECOMMIT_FACTOR * M_TRIM_THRESHOLD bytes or more give their inner pages back
 * with madvise.
 */
export function freeChunk(a: Arena, c: number, hd: number, n: number, nhd: number): void {
  const mem = a.mem;
  const size = sizeOf(hd);
  let start = c;
  let total = size;
  let prevBits = hd & PREV_INUSE;
  let before = 0;
  if (prevBits === 0) {
    before = prevSize(mem, c);
    start = c - before;
    if (before < MINSIZE || start < a.base + FIRST_CHUNK || before % 16 !== 0) a.abort(PREV_SIZE_CONSOLIDATING);
    const phd = head(mem, start);
    if (sizeOf(phd) !== before || (phd & CHUNK_FREE) === 0) a.abort(PREV_SIZE_CONSOLIDATING);
    a.removeChunk(start, before);
    total += before;
    prevBits = phd & PREV_INUSE;
  }
  const nsize = sizeOf(nhd);
  if (n === a.top) {
    total += nsize;
    setHead(mem, start, total | prevBits);
    a.setTop(start);
    if (total >= a.mp.trimThreshold) systrim(a, a.mp.topPad);
    return;
  }
  let after = 0;
  if (nhd & CHUNK_FREE) {
    if (prevSize(mem, n + nsize) !== nsize) a.abort(SIZE_VS_PREV_SIZE);
    a.removeChunk(n, nsize);
    after = nsize;
    total += nsize;
  } else {
    setHead(mem, n, nhd & ~PREV_INUSE);
  }
  if (total >= RELEASE_MIN) {
    const all = total >= a.mp.trimThreshold * DECOMMIT_FACTOR ? releaseSpan(a, start, total, c, size, before, after) : 0;
    setReleased(mem, start, all);
  }
  setHead(mem, start, total | prevBits | CHUNK_FREE);
  setPrevSize(mem, start + total, total);
  a.insertChunk(start, total);
}
