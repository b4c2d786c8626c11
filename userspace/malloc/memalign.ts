/**
 * memalign and friends (glibc's _mid_memalign and _int_memalign): allocate
 * nb + alignment + MINSIZE, find the aligned spot inside, give the leading
 * part back as a free chunk (or, in an mmapped chunk, fold it into
 * prev_size) and split off the tail.
 */
import type { Arena } from "./arena.ts";
import {
  head,
  IS_MMAPPED,
  MAX_REQUEST,
  MINSIZE,
  PREV_INUSE,
  prevSize,
  requestToSize,
  setHead,
  setPrevSize,
  setSizeHi,
  sizeHi,
  sizeOf,
} from "./chunk.ts";
import { freeChunk, intMalloc } from "./int_malloc.ts";
import { shrinkInUse } from "./realloc.ts";

/** True for 1, 2, 4, ... (exact for any safe integer). */
export function isPowerOf2(x: number): boolean {
  if (!(x > 0) || !Number.isInteger(x)) return false;
  return x < 2 ** 31 ? (x & (x - 1)) === 0 : x === 2 ** Math.round(Math.log2(x));
}

/**
 * _mid_memalign past MALLOC_ALIGNMENT: `n` bytes aligned to `alignment`, a
 * power of two above 16 (the C library rounds it up and checks both
 * arguments). Returns 0 when memory runs out or the padded request passes
 * MAX_REQUEST.
 */
export function midMemalign(a: Arena, alignment: number, n: number): number {
  if (n + alignment + MINSIZE > MAX_REQUEST) return 0;
  return intMemalign(a, alignment, requestToSize(n));
}

/** _int_memalign: a chunk of `nb` bytes whose payload is `alignment`-aligned (alignment > 16, a power of two). */
function intMemalign(a: Arena, alignment: number, nb: number): number {
  const mem = a.mem;
  const m = intMalloc(a, requestToSize(nb + alignment + MINSIZE));
  if (m === 0) return 0;
  let c = m - 16;
  let hd = head(mem, c);
  if (m % alignment !== 0) {
    let at = Math.ceil(m / alignment) * alignment - 16;
    if (at - c < MINSIZE) at += alignment;
    const lead = at - c;
    if (hd & IS_MMAPPED) {
      const size = sizeOf(hd) + sizeHi(mem, c) * 2 ** 32 - lead;
      setPrevSize(mem, at, prevSize(mem, c) + lead);
      setHead(mem, at, (size % 2 ** 32) | IS_MMAPPED);
      setSizeHi(mem, at, Math.floor(size / 2 ** 32));
      a.mmaps.mmapped.delete(c);
      a.mmaps.mmapped.add(at);
      return at + 16;
    }
    const rest = sizeOf(hd) - lead;
    setHead(mem, at, rest | PREV_INUSE);
    setHead(mem, c, lead | (hd & PREV_INUSE));
    freeChunk(a, c, lead | (hd & PREV_INUSE), at, rest | PREV_INUSE);
    c = at;
    hd = head(mem, c);
  }
  if ((hd & IS_MMAPPED) === 0) {
    const next = c + sizeOf(hd);
    shrinkInUse(a, c, hd, nb, next, head(mem, next));
  }
  return c + 16;
}
