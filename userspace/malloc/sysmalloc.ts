/**
 * Where the heap meets the kernel (glibc's sysmalloc, systrim, mmap'd
 * chunks and mtrim): the arena header is created by the first sbrk, the top
 * chunk grows with sbrk by what is missing plus M_TOP_PAD (16-byte steps:
 * the break may be any byte value), requests at or above the mmap threshold
 * get a mapping of their own, the top is given back with a negative sbrk
 * past M_TRIM_THRESHOLD, and the whole pages inside free chunks of at least
 * DECOMMIT_FACTOR * M_TRIM_THRESHOLD bytes (512 KiB by default) are given back
 * with madvise(MADV_DONTNEED).
 *
 * Words: break = the heap end the kernel knows (env.sbrk(0)); foreign sbrk =
 * the break moved by someone other than malloc since malloc last grew it.
 */
import { MADV_DONTNEED, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../kernel/uapi/mman.ts";
import type { Arena } from "./arena.ts";
import {
  ARENA_MAGIC,
  BIN_COUNT,
  FIRST_CHUNK,
  OFF_BINS,
  OFF_MAGIC,
  OFF_MAX_SYSTEM_MEM,
  OFF_MMAPPED_MEM,
  OFF_N_MMAPS,
  OFF_SYSTEM_MEM,
} from "./arena.ts";
import { growHeap, shrinkHeap } from "./arena_heap.ts";
import {
  CHUNK_FREE,
  IS_MMAPPED,
  MINSIZE,
  NON_MAIN_ARENA,
  PREV_INUSE,
  prevSize,
  released,
  setHead,
  setPrevSize,
  setReleased,
  setSizeHi,
  sizeHi,
  sizeOf,
  USER_END,
} from "./chunk.ts";
import { HEAP_CHUNK_MAX, splitTop } from "./int_malloc.ts";
import { MUNMAP_INVALID_POINTER } from "./messages.ts";

const PAGE = 4096;
/** glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit: the dynamic threshold stops here. */
export const MMAP_THRESHOLD_MAX = 32 * 1024 * 1024;
/**
 * Free spans inside the heap are decommitted from this many times
 * M_TRIM_THRESHOLD on: smaller spans are usually reused soon, and every
 * page given back costs a page fault when it is (about 2.8 us in the
 * emulator, against 45 ns for a brk inside a page). On the CS:APP traces 4
 * removes every refault that 1 causes (a third of amptjp's faults).
 */
export const DECOMMIT_FACTOR = 4;
/** Free chunks this large keep a valid `released` word; smaller ones hold at most one whole inner page and keep it. */
export const RELEASE_MIN = 2 * PAGE;

const pageDown = (va: number) => Math.floor(va / PAGE) * PAGE;
const pageUp = (va: number) => Math.ceil(va / PAGE) * PAGE;

/**
 * Creates the arena header with the first sbrk, leaving a top chunk of
 * `want` + MINSIZE + M_TOP_PAD bytes. Returns false when brk fails.
 */
export function initArena(a: Arena, want: number): boolean {
  const env = a.env;
  const brk0 = env.sbrk(0);
  if (brk0 < 0) return false;
  const base = Math.ceil(brk0 / 16) * 16;
  const size = base - brk0 + FIRST_CHUNK + Math.ceil((want + MINSIZE + a.mp.topPad) / 16) * 16;
  if (env.sbrk(size) !== brk0) return false;
  const mem = a.mem;
  a.base = base;
  a.brk0 = brk0;
  a.end = brk0 + size;
  a.cleanFrom = pageUp(brk0);
  a.setWord(OFF_MAGIC, ARENA_MAGIC);
  for (let off = OFF_SYSTEM_MEM; off < OFF_BINS + 4 * BIN_COUNT; off += 4) a.setWord(off, 0);
  a.setTop(base + FIRST_CHUNK);
  setHead(mem, a.top, (a.end - a.top) | PREV_INUSE);
  addSystemMem(a, size);
  return true;
}

/** Adds `delta` bytes (may be negative) to system_mem and tracks the peaks. */
function addSystemMem(a: Arena, delta: number): void {
  const sys = a.word(OFF_SYSTEM_MEM) + delta;
  a.setWord(OFF_SYSTEM_MEM, sys);
  if (sys > a.word(OFF_MAX_SYSTEM_MEM)) a.setWord(OFF_MAX_SYSTEM_MEM, sys);
  a.notePeak(sys + mmappedMem(a));
}

/** Bytes in mmapped chunks (the header's mmapped_mem). */
export function mmappedMem(a: Arena): number {
  return a.word(OFF_MMAPPED_MEM) + a.word(OFF_MMAPPED_MEM + 4) * 2 ** 32;
}

export function addMmapped(a: Arena, count: number, bytes: number): void {
  const n = a.word(OFF_N_MMAPS) + count;
  a.setWord(OFF_N_MMAPS, n);
  const m = mmappedMem(a) + bytes;
  if (n > a.maxMmaps) a.maxMmaps = n;
  if (m > a.maxMmappedMem) a.maxMmappedMem = m;
  a.setWord(OFF_MMAPPED_MEM, m % 2 ** 32);
  a.setWord(OFF_MMAPPED_MEM + 4, Math.floor(m / 2 ** 32));
  a.notePeak(a.word(OFF_SYSTEM_MEM) + m);
}

/**
 * sysmalloc: serves `nb` when neither the bins nor the top can. Requests
 * at or above the mmap threshold are mmapped; others grow the top with
 * sbrk, falling back to mmap when brk fails. Returns the payload VA, or 0
 * when there is no memory.
 */
export function sysmalloc(a: Arena, nb: number): number {
  if (a.base === 0 && !initArena(a, nb < a.mp.mmapThreshold ? nb : 0)) return 0;
  if (nb >= HEAP_CHUNK_MAX || (nb >= a.mp.mmapThreshold && (a.mmaps.base === 0 || a.mmaps.word(OFF_N_MMAPS) < a.mp.nMmapsMax))) {
    const p = mmapChunk(a, nb);
    if (p !== 0 || nb >= HEAP_CHUNK_MAX) return p;
  }
  if (a.end - a.top < nb + MINSIZE && !growTop(a, nb)) return mmapChunk(a, nb);
  return splitTop(a, nb, a.topHead());
}

/**
 * Grows the heap with sbrk until the top holds `nb` + MINSIZE. Handles a
 * foreign sbrk by closing the old top with a fencepost that spans the gap.
 * Returns false when brk fails.
 */
export function growTop(a: Arena, nb: number): boolean {
  if (a.heap !== 0) return growHeap(a, nb);
  const env = a.env;
  const need = Math.ceil((nb + MINSIZE - (a.end - a.top) + a.mp.topPad) / 16) * 16;
  if (a.end - a.base + need > HEAP_CHUNK_MAX) return false;
  const old = env.sbrk(need);
  if (old < 0) return false;
  if (old === a.end) {
    a.end += need;
    setHead(a.mem, a.top, (a.end - a.top) | (a.topHead() & PREV_INUSE));
    addSystemMem(a, need);
    return true;
  }
  if (old < a.end) {
    // Someone moved the break below the heap end: the heap is broken; give back what we took.
    env.sbrk(-need);
    return false;
  }
  fencepost(a, old, need);
  return a.end - a.top >= nb + MINSIZE || growTop(a, nb);
}

/**
 * The break moved under us: [a.end, old) is someone else's. The old top
 * becomes a free chunk (when big enough), then an in-use chunk flagged
 * NON_MAIN_ARENA spans the gap up to the new top at align16(old).
 */
function fencepost(a: Arena, old: number, got: number): void {
  const mem = a.mem;
  const pad = (16 - ((old + got) & 15)) & 15;
  if (pad !== 0 && a.env.sbrk(pad) === old + got) got += pad;
  const newTop = Math.ceil(old / 16) * 16;
  let fence = a.end - 16;
  const oldTop = a.top;
  const thd = a.topHead();
  if (fence - oldTop >= MINSIZE) {
    const fsize = fence - oldTop;
    setHead(mem, oldTop, fsize | (thd & PREV_INUSE) | CHUNK_FREE);
    if (fsize >= RELEASE_MIN) setReleased(mem, oldTop, 0);
    setPrevSize(mem, fence, fsize);
    setHead(mem, fence, (newTop - fence) | NON_MAIN_ARENA);
    a.insertChunk(oldTop, fsize);
  } else {
    fence = oldTop;
    setHead(mem, fence, (newTop - fence) | NON_MAIN_ARENA | (thd & PREV_INUSE));
  }
  a.setTop(newTop);
  a.end = Math.floor((old + got) / 16) * 16;
  a.cleanFrom = Math.max(a.cleanFrom, pageUp(old));
  setHead(mem, newTop, (a.end - newTop) | PREV_INUSE);
  addSystemMem(a, got);
}

/**
 * systrim: gives the top back to the kernel down to MINSIZE + `pad`, in
 * whole pages, with a negative sbrk. Returns true when the break moved.
 */
export function systrim(a: Arena, pad: number): boolean {
  if (a.heap !== 0) return shrinkHeap(a, pad);
  const env = a.env;
  const tsize = a.end - a.top;
  const extra = pageDown(tsize - MINSIZE - pad - 1);
  if (extra <= 0 || env.sbrk(0) !== a.end) return false;
  env.sbrk(-extra);
  const released = a.end - env.sbrk(0);
  if (released <= 0) return false;
  a.end -= released;
  a.cleanFrom = pageUp(a.end);
  setHead(a.mem, a.top, (tsize - released) | (a.topHead() & PREV_INUSE));
  addSystemMem(a, -released);
  return true;
}

/**
 * Serves `nb` with a mapping of its own: page-rounded nb + SIZE_SZ, chunk
 * at the mapping's start with prev_size 0 and IS_MMAPPED, counted by the
 * main arena (`a.mmaps`, created first when a thread's arena asks). Returns
 * the payload VA, or 0 when mmap fails.
 */
export function mmapChunk(owner: Arena, nb: number): number {
  const a = owner.mmaps;
  if (a.base === 0 && (a === owner || !initArena(a, 0))) return 0;
  const size = pageUp(nb + 8);
  const mm = a.env.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  if (mm < 0) return 0;
  const mem = a.mem;
  setPrevSize(mem, mm, 0);
  setHead(mem, mm, (size % 2 ** 32) | IS_MMAPPED);
  setSizeHi(mem, mm, Math.floor(size / 2 ** 32));
  addMmapped(a, 1, size);
  a.mmapped.add(mm);
  return mm + 16;
}

/**
 * munmap_chunk: frees an mmapped chunk, raising the mmap threshold to its
 * size (glibc's dynamic threshold) unless mallopt fixed it. Aborts with
 * "munmap_chunk(): invalid pointer" when the mapping is not page-aligned.
 */
export function munmapChunk(a: Arena, c: number, hd: number): void {
  const mem = a.mem;
  const size = sizeOf(hd) + sizeHi(mem, c) * 2 ** 32;
  const off = prevSize(mem, c);
  const block = c - off;
  const total = off + size;
  if (block % PAGE !== 0 || total % PAGE !== 0 || block + total > USER_END || a.base === 0) a.abort(MUNMAP_INVALID_POINTER);
  const mp = a.mp;
  if (!mp.noDynThreshold && size > mp.mmapThreshold && size <= MMAP_THRESHOLD_MAX) {
    mp.mmapThreshold = size;
    mp.trimThreshold = 2 * size;
  }
  addMmapped(a, -1, -total);
  a.mmapped.delete(c);
  a.env.munmap(block, total);
}

/**
 * Gives back with MADV_DONTNEED the whole pages of the free chunk
 * [start, start + total) that are not already released: the chunk being
 * freed [c, c + size), and the merged neighbours of `before` and `after`
 * bytes unless their `released` word says they were. The pages holding the
 * chunk's own header and links stay. Returns 1 when the chunk's inner pages
 * are all released now.
 */
export function releaseSpan(a: Arena, start: number, total: number, c: number, size: number, before: number, after: number): number {
  const mem = a.mem;
  let lo = c;
  if (before !== 0) lo = before >= RELEASE_MIN && released(mem, start) === 1 ? pageDown(c) : start;
  let hi = c + size;
  if (after !== 0) hi = after >= RELEASE_MIN && released(mem, hi) === 1 ? pageUp(hi + MINSIZE) : hi + after;
  lo = pageUp(Math.max(lo, start + MINSIZE));
  hi = pageDown(Math.min(hi, start + total));
  if (hi > lo && a.env.madvise(lo, hi - lo, MADV_DONTNEED) !== 0) return 0;
  return 1;
}

/** mtrim's per-chunk step: releases the inner pages of a free chunk. Returns true when any page went. */
export function releaseChunk(a: Arena, c: number, size: number): boolean {
  const lo = pageUp(c + MINSIZE);
  const hi = pageDown(c + size);
  if (size < RELEASE_MIN || hi <= lo || released(a.mem, c) === 1) return false;
  if (a.env.madvise(lo, hi - lo, MADV_DONTNEED) !== 0) return false;
  setReleased(a.mem, c, 1);
  return true;
}
