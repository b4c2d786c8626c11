/**
 * realloc (glibc's __libc_realloc, _int_realloc and mremap_chunk): shrink
 * in place by splitting; grow in place into a free next chunk or into the
 * top (growing the heap with brk when the chunk borders the top, where glibc
 * would move it); otherwise allocate, copy, free. mmapped chunks move with
 * mremap(MREMAP_MAYMOVE).
 */
import { MREMAP_MAYMOVE } from "../../kernel/uapi/mman.ts";
import type { Arena } from "./arena.ts";
import {
  CHUNK_FREE,
  head,
  IS_MMAPPED,
  MAX_REQUEST,
  MINSIZE,
  misaligned16,
  NON_MAIN_ARENA,
  PREV_INUSE,
  prevSize,
  requestToSize,
  setHead,
  setPrevSize,
  setReleased,
  setSizeHi,
  sizeHi,
  sizeOf,
  USER_END,
} from "./chunk.ts";
import { freeChunk, HEAP_CHUNK_MAX, intFree, intMalloc } from "./int_malloc.ts";
import {
  CORRUPTED_TOP,
  MREMAP_INVALID_POINTER,
  REALLOC_INVALID_NEXT_SIZE,
  REALLOC_INVALID_OLD_SIZE,
  REALLOC_INVALID_POINTER,
  SIZE_VS_PREV_SIZE,
} from "./messages.ts";
import { addMmapped, growTop, RELEASE_MIN } from "./sysmalloc.ts";

const PAGE = 4096;

/**
 * realloc(p, n) with glibc's contract: p = 0 is malloc(n); n = 0 frees p
 * and returns 0. Returns the (possibly moved) payload, or 0 when there is
 * no memory, p left intact. Aborts on a pointer that is not a live chunk.
 */
export function intRealloc(a: Arena, p: number, n: number): number {
  if (p === 0) return n > MAX_REQUEST || !(n >= 0) ? 0 : intMalloc(a, requestToSize(n));
  if (n === 0) {
    intFree(a, p);
    return 0;
  }
  if (n > MAX_REQUEST || !(n >= 0)) return 0;
  const mem = a.mem;
  const c = p - 16;
  if (misaligned16(p) || p < 16) a.abort(REALLOC_INVALID_POINTER);
  const hd = head(mem, c);
  if (a.base === 0 || !a.inHeap(c)) {
    if ((hd & (IS_MMAPPED | NON_MAIN_ARENA)) !== IS_MMAPPED) a.abort(REALLOC_INVALID_POINTER);
    return reallocMmapped(a, c, hd, n);
  }
  if (hd & (IS_MMAPPED | NON_MAIN_ARENA)) a.abort(REALLOC_INVALID_POINTER);
  const size = sizeOf(hd);
  if (size < MINSIZE || c >= a.top || c + size > a.top || hd & CHUNK_FREE) a.abort(REALLOC_INVALID_OLD_SIZE);
  const next = c + size;
  const nhd = head(mem, next);
  const nsize = sizeOf(nhd);
  if (nsize < MINSIZE || next + nsize > a.end || (nhd & PREV_INUSE) === 0) a.abort(REALLOC_INVALID_NEXT_SIZE);
  const nb = requestToSize(n);
  if (size >= nb) {
    shrinkInUse(a, c, hd, nb, next, nhd);
    return p;
  }
  if (next === a.top && nb < HEAP_CHUNK_MAX && growIntoTop(a, c, hd, nb)) return p;
  if (nhd & CHUNK_FREE && size + nsize >= nb) {
    absorbNext(a, c, hd, nb, next, nsize);
    return p;
  }
  const q = intMalloc(a, nb);
  if (q === 0) return 0;
  mem.copy(q, p, size - 8);
  intFree(a, p);
  return q;
}

/** Cuts an in-use chunk down to `nb`, freeing the rest (which merges forward). */
export function shrinkInUse(a: Arena, c: number, hd: number, nb: number, next: number, nhd: number): void {
  const rem = sizeOf(hd) - nb;
  if (rem < MINSIZE) return;
  setHead(a.mem, c, nb | (hd & PREV_INUSE));
  setHead(a.mem, c + nb, rem | PREV_INUSE);
  freeChunk(a, c + nb, rem | PREV_INUSE, next, nhd);
}

/** Extends chunk `c`, which borders the top, to `nb`; grows the heap when the top is short. */
function growIntoTop(a: Arena, c: number, hd: number, nb: number): boolean {
  const thd = a.topHead();
  if (a.top + sizeOf(thd) !== a.end) a.abort(CORRUPTED_TOP);
  const size = sizeOf(hd);
  if (a.end - c < nb + MINSIZE && (!growTop(a, nb - size) || a.top !== c + size)) return false;
  setHead(a.mem, c, nb | (hd & PREV_INUSE));
  setHead(a.mem, c + nb, (a.end - c - nb) | PREV_INUSE);
  a.setTop(c + nb);
  return true;
}

/** Extends chunk `c` over its free next chunk; what is left past `nb` goes back to a bin. */
function absorbNext(a: Arena, c: number, hd: number, nb: number, next: number, nsize: number): void {
  const mem = a.mem;
  const after = next + nsize;
  if (prevSize(mem, after) !== nsize) a.abort(SIZE_VS_PREV_SIZE);
  a.removeChunk(next, nsize);
  const total = sizeOf(hd) + nsize;
  const rem = total - nb;
  if (rem >= MINSIZE) {
    setHead(mem, c, nb | (hd & PREV_INUSE));
    const r = c + nb;
    setHead(mem, r, rem | PREV_INUSE | CHUNK_FREE);
    setPrevSize(mem, after, rem);
    if (rem >= RELEASE_MIN) setReleased(mem, r, 0);
    a.insertChunk(r, rem);
  } else {
    setHead(mem, c, total | (hd & PREV_INUSE));
    setHead(mem, after, head(mem, after) | PREV_INUSE);
  }
}

/**
 * realloc of an mmapped chunk: mremap the mapping (it may move). When
 * mremap fails, keeps the chunk if it is big enough, else copies into a
 * new allocation and unmaps the old one.
 */
function reallocMmapped(a: Arena, c: number, hd: number, n: number): number {
  const mem = a.mem;
  const size = sizeOf(hd) + sizeHi(mem, c) * 2 ** 32;
  const off = prevSize(mem, c);
  const block = c - off;
  const total = off + size;
  if (block % PAGE !== 0 || total % PAGE !== 0 || block + total > USER_END || a.base === 0) a.abort(MREMAP_INVALID_POINTER);
  const nb = requestToSize(n);
  const newTotal = Math.ceil((nb + off + 8) / PAGE) * PAGE;
  if (newTotal === total) return c + 16;
  const moved = a.env.mremap(block, total, newTotal, MREMAP_MAYMOVE);
  if (moved >= 0) {
    const nc = moved + off;
    const nsize = newTotal - off;
    setHead(mem, nc, (nsize % 2 ** 32) | IS_MMAPPED);
    setSizeHi(mem, nc, Math.floor(nsize / 2 ** 32));
    a.mmapped.delete(c);
    a.mmapped.add(nc);
    addMmapped(a, 0, newTotal - total);
    return nc + 16;
  }
  if (size - 8 >= nb) return c + 16;
  const q = intMalloc(a, nb);
  if (q === 0) return 0;
  mem.copy(q, c + 16, size - 16);
  intFree(a, c + 16);
  return q;
}
