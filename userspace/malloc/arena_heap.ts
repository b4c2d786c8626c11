/**
 * Threads' arenas on mmapped heaps (glibc's arena.c: new_heap, grow_heap,
 * shrink_heap, _int_new_arena). The main arena lives on the brk heap; every
 * other arena lives at the start of a heap of its own: a HEAP_MAX_SIZE
 * reservation mapped PROT_NONE and aligned to its size (map twice the size,
 * unmap the misaligned ends), of which the first `size` bytes are made
 * read-write with mprotect as the top grows.
 *
 *    heap -> +0    ar_ptr         u64: VA of the arena header (heap + 32)
 *            +8    prev           u64: the previous heap of the arena (always 0: one heap per arena)
 *            +16   size           u64: bytes of the heap in use (read-write, counted in system_mem)
 *            +24   mprotect_size  u64: bytes made read-write so far (never shrinks)
 *            +32   the arena header (arena.ts), its first chunk at +32 + FIRST_CHUNK
 *            ...   chunks, the top chunk ending at heap + size
 *            heap + mprotect_size .. heap + HEAP_MAX_SIZE: PROT_NONE
 *
 * Because every heap is aligned to HEAP_MAX_SIZE, the heap of any chunk
 * outside the brk heap is its address rounded down (heap_for_ptr). glibc
 * also marks those chunks NON_MAIN_ARENA; memsim's chunks use that bit for
 * runs and fences (int_malloc.ts), so arena_for_chunk tests the brk heap's
 * range instead. A heap that is full is not chained to a second one as in
 * glibc: the arena's requests that do not fit are mmapped.
 *
 * Words: heap = a heap's VA; size = its read-write bytes; arena_for_chunk =
 * the arena a chunk goes back to when freed.
 */
import { MADV_DONTNEED, MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, PROT_NONE, PROT_READ, PROT_WRITE } from "../../kernel/uapi/mman.ts";
import type { MallocEnv } from "../libc/malloc_layer.ts";
import { ARENA_MAGIC, Arena, BIN_COUNT, FIRST_CHUNK, OFF_BINS, OFF_MAGIC, OFF_MAX_SYSTEM_MEM, OFF_SYSTEM_MEM } from "./arena.ts";
import { MINSIZE, PREV_INUSE, setHead } from "./chunk.ts";
import { read64, write64 } from "./tcache.ts";

/** HEAP_MAX_SIZE on 64-bit: 2 * DEFAULT_MMAP_THRESHOLD_MAX. */
export const HEAP_MAX_SIZE = 64 * 1024 * 1024;
/** HEAP_MIN_SIZE: the least a new heap makes read-write. */
export const HEAP_MIN_SIZE = 32 * 1024;
/** Bytes of heap_info before the arena header. */
export const HEAP_INFO_BYTES = 32;
export const OFF_H_AR_PTR = 0;
export const OFF_H_PREV = 8;
export const OFF_H_SIZE = 16;
export const OFF_H_MPROTECT_SIZE = 24;
/** NARENAS_FROM_NCORES on 64-bit: the arena limit is 8 per CPU unless M_ARENA_MAX sets it. */
export const ARENAS_PER_CORE = 8;

const PAGE = 4096;
const pageUp = (n: number) => Math.ceil(n / PAGE) * PAGE;
const pageDown = (n: number) => Math.floor(n / PAGE) * PAGE;

/**
 * new_heap: reserves a HEAP_MAX_SIZE-aligned heap and makes its first
 * `size` bytes (page-rounded, at least HEAP_MIN_SIZE) read-write. Returns
 * its VA, or 0 when mmap or mprotect fails.
 */
export function newHeap(env: MallocEnv, size: number): number {
  const rw = Math.min(HEAP_MAX_SIZE, Math.max(HEAP_MIN_SIZE, pageUp(size)));
  const p = env.mmap(0, 2 * HEAP_MAX_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
  if (p < 0) return 0;
  const heap = Math.ceil(p / HEAP_MAX_SIZE) * HEAP_MAX_SIZE;
  if (heap > p) env.munmap(p, heap - p);
  if (p + 2 * HEAP_MAX_SIZE > heap + HEAP_MAX_SIZE) env.munmap(heap + HEAP_MAX_SIZE, p + HEAP_MAX_SIZE - heap);
  if (env.mprotect(heap, rw, PROT_READ | PROT_WRITE) !== 0) {
    env.munmap(heap, HEAP_MAX_SIZE);
    return 0;
  }
  write64(env.mem, heap + OFF_H_PREV, 0);
  write64(env.mem, heap + OFF_H_SIZE, rw);
  write64(env.mem, heap + OFF_H_MPROTECT_SIZE, rw);
  return heap;
}

/**
 * _int_new_arena: a new arena at the start of a new heap, sharing `main`'s
 * tunables; its mmapped chunks are counted by `main`. Returns null when no
 * heap can be mapped.
 */
export function newArena(main: Arena): Arena | null {
  const env = main.env;
  const heap = newHeap(env, HEAP_INFO_BYTES + FIRST_CHUNK + MINSIZE + main.mp.topPad);
  if (heap === 0) return null;
  const a = new Arena(main.mem, env, main.abort, main.mp);
  const size = heapSize(a, heap);
  a.heap = heap;
  a.mmaps = main;
  a.base = heap + HEAP_INFO_BYTES;
  a.brk0 = heap;
  a.end = heap + size;
  a.cleanFrom = heap;
  write64(a.mem, heap + OFF_H_AR_PTR, a.base);
  a.setWord(OFF_MAGIC, ARENA_MAGIC);
  for (let off = OFF_SYSTEM_MEM; off < OFF_BINS + 4 * BIN_COUNT; off += 4) a.setWord(off, 0);
  a.setTop(a.base + FIRST_CHUNK);
  setHead(a.mem, a.top, (a.end - a.top) | PREV_INUSE);
  addHeapMem(a, size);
  return a;
}

/** heap_info.size of `heap`. */
export function heapSize(a: Arena, heap: number): number {
  return read64(a.mem, heap + OFF_H_SIZE);
}

/** heap_info.mprotect_size of `heap`. */
export function heapMprotectSize(a: Arena, heap: number): number {
  return read64(a.mem, heap + OFF_H_MPROTECT_SIZE);
}

/** Adds `delta` bytes (may be negative) to the arena's system_mem and its peak. */
function addHeapMem(a: Arena, delta: number): void {
  const sys = a.word(OFF_SYSTEM_MEM) + delta;
  a.setWord(OFF_SYSTEM_MEM, sys);
  if (sys > a.word(OFF_MAX_SYSTEM_MEM)) a.setWord(OFF_MAX_SYSTEM_MEM, sys);
  a.notePeak(sys);
}

/**
 * grow_heap for sysmalloc: grows the heap of thread arena `a` until its top
 * holds `nb` + MINSIZE (plus M_TOP_PAD), making the new pages read-write
 * with mprotect past mprotect_size. Returns false when the heap would pass
 * HEAP_MAX_SIZE or mprotect fails.
 */
export function growHeap(a: Arena, nb: number): boolean {
  const heap = a.heap;
  const size = heapSize(a, heap);
  const want = pageUp(size + nb + MINSIZE - (a.end - a.top) + a.mp.topPad);
  const grown = want > HEAP_MAX_SIZE && size + nb + MINSIZE - (a.end - a.top) <= HEAP_MAX_SIZE ? HEAP_MAX_SIZE : want;
  if (grown > HEAP_MAX_SIZE) return false;
  const prot = heapMprotectSize(a, heap);
  if (grown > prot) {
    if (a.env.mprotect(heap + prot, grown - prot, PROT_READ | PROT_WRITE) !== 0) return false;
    write64(a.mem, heap + OFF_H_MPROTECT_SIZE, grown);
  }
  write64(a.mem, heap + OFF_H_SIZE, grown);
  a.end = heap + grown;
  setHead(a.mem, a.top, (a.end - a.top) | (a.topHead() & PREV_INUSE));
  addHeapMem(a, grown - size);
  return true;
}

/**
 * heap_trim / shrink_heap: gives back the top of thread arena `a` down to
 * MINSIZE + `pad`, in whole pages, with MADV_DONTNEED (the pages stay
 * read-write, as glibc's do; mprotect_size keeps its value). Returns true
 * when pages went back.
 */
export function shrinkHeap(a: Arena, pad: number): boolean {
  const tsize = a.end - a.top;
  const extra = pageDown(tsize - MINSIZE - pad - 1);
  if (extra <= 0) return false;
  const end = a.end - extra;
  if (a.env.madvise(end, extra, MADV_DONTNEED) !== 0) return false;
  write64(a.mem, a.heap + OFF_H_SIZE, end - a.heap);
  a.end = end;
  a.cleanFrom = end;
  setHead(a.mem, a.top, (tsize - extra) | (a.topHead() & PREV_INUSE));
  addHeapMem(a, -extra);
  return true;
}
