/**
 * Wrong (malloc lab): a block's size is the payload rounded up, without room for its
 * header and footer, so the end of each payload overwrites the next block's
 * header and neighbouring payloads overlap.
 */
import type { MemLib } from "../memlib.ts";

const WSIZE = 8;
const DSIZE = 16;
const MIN_BLOCK = 32;

let lib: MemLib;
let heapListp = 0;
let freeHead = 0;

function get(p: number): number {
  return lib.mem.read32(p) + lib.mem.read32(p + 4) * 2 ** 32;
}
function put(p: number, v: number): void {
  lib.mem.write32(p, v % 2 ** 32);
  lib.mem.write32(p + 4, Math.floor(v / 2 ** 32));
}
function sizeAt(p: number): number {
  return lib.mem.read32(p) & ~0xf;
}
function allocAt(p: number): number {
  return lib.mem.read32(p) & 1;
}
function setTags(bp: number, size: number, alloc: number): void {
  lib.mem.write32(bp - WSIZE, size | alloc);
  lib.mem.write32(bp - WSIZE + 4, 0);
  lib.mem.write32(bp + size - DSIZE, size | alloc);
  lib.mem.write32(bp + size - DSIZE + 4, 0);
}
const hdrp = (bp: number): number => bp - WSIZE;
const nextBlkp = (bp: number): number => bp + sizeAt(bp - WSIZE);
const prevBlkp = (bp: number): number => bp - sizeAt(bp - DSIZE);

function listRemove(bp: number): void {
  const pred = get(bp);
  const succ = get(bp + WSIZE);
  if (pred === 0) freeHead = succ;
  else put(pred + WSIZE, succ);
  if (succ !== 0) put(succ, pred);
}

function listPush(bp: number): void {
  put(bp, 0);
  put(bp + WSIZE, freeHead);
  if (freeHead !== 0) put(freeHead, bp);
  freeHead = bp;
}

/** Merges free block bp with free neighbours; bp is on no list; returns the merged block, on the list. */
function coalesce(bp: number): number {
  let size = sizeAt(hdrp(bp));
  const prevFree = allocAt(bp - DSIZE) === 0;
  const next = nextBlkp(bp);
  if (allocAt(hdrp(next)) === 0) {
    listRemove(next);
    size += sizeAt(hdrp(next));
  }
  if (prevFree) {
    const prev = prevBlkp(bp);
    listRemove(prev);
    size += sizeAt(hdrp(prev));
    bp = prev;
  }
  setTags(bp, size, 0);
  listPush(bp);
  return bp;
}

/** Grows the heap by `bytes` (a multiple of 16, at least MIN_BLOCK) as one free block, merged with a free last block. */
function extendHeap(bytes: number): number {
  const bp = lib.mem_sbrk(bytes);
  if (bp === -1) return 0;
  setTags(bp, bytes, 0);
  lib.mem.write32(hdrp(bp + bytes), 1); // the new epilogue
  lib.mem.write32(hdrp(bp + bytes) + 4, 0);
  return coalesce(bp);
}

function adjust(size: number): number {
  // The mistake: no room for the header and footer.
  return Math.max(MIN_BLOCK, Math.ceil(size / DSIZE) * DSIZE);
}

/** Marks asize bytes of free block bp (on the list) allocated, splitting off a free rest. */
function place(bp: number, asize: number): void {
  const size = sizeAt(hdrp(bp));
  listRemove(bp);
  if (size - asize >= MIN_BLOCK) {
    setTags(bp, asize, 1);
    const rest = bp + asize;
    setTags(rest, size - asize, 0);
    listPush(rest);
  } else setTags(bp, size, 1);
}

export function mm_init(m: MemLib): number {
  lib = m;
  freeHead = 0;
  const base = lib.mem_sbrk(4 * WSIZE);
  if (base === -1) return -1;
  put(base, 0);
  put(base + WSIZE, DSIZE | 1);
  put(base + 2 * WSIZE, DSIZE | 1);
  put(base + 3 * WSIZE, 1);
  heapListp = base + 2 * WSIZE;
  return 0;
}

export function mm_malloc(size: number): number {
  if (size === 0) return 0;
  const asize = adjust(size);
  for (let bp = freeHead; bp !== 0; bp = get(bp + WSIZE)) {
    if (sizeAt(hdrp(bp)) >= asize) {
      place(bp, asize);
      return bp;
    }
  }
  // Grow by what is missing: a free last block counts.
  const end = lib.mem_heap_hi() + 1;
  const lastFree = allocAt(end - DSIZE) === 0 ? sizeAt(end - DSIZE) : 0;
  const bp = extendHeap(Math.max(asize - lastFree, MIN_BLOCK));
  if (bp === 0) return 0;
  place(bp, asize);
  return bp;
}

export function mm_free(ptr: number): void {
  if (ptr === 0) return;
  setTags(ptr, sizeAt(hdrp(ptr)), 0);
  coalesce(ptr);
}

export function mm_realloc(ptr: number, size: number): number {
  if (ptr === 0) return mm_malloc(size);
  if (size === 0) {
    mm_free(ptr);
    return 0;
  }
  const asize = adjust(size);
  const cur = sizeAt(hdrp(ptr));
  if (asize <= cur) return ptr;
  let next = nextBlkp(ptr);
  if (sizeAt(hdrp(next)) === 0 && extendHeap(Math.max(asize - cur, MIN_BLOCK)) !== 0) next = nextBlkp(ptr); // at the end: grow the heap under it
  if (allocAt(hdrp(next)) === 0 && cur + sizeAt(hdrp(next)) >= asize) {
    const total = cur + sizeAt(hdrp(next));
    listRemove(next);
    if (total - asize >= MIN_BLOCK) {
      setTags(ptr, asize, 1);
      setTags(ptr + asize, total - asize, 0);
      listPush(ptr + asize);
    } else setTags(ptr, total, 1);
    return ptr;
  }
  const q = mm_malloc(size);
  if (q === 0) return 0;
  lib.mem.copy(q, ptr, cur - DSIZE);
  mm_free(ptr);
  return q;
}

/** The heap's first payload (the prologue's), for a heap checker. */
export function mm_heap_start(): number {
  return heapListp;
}
