/**
 * The heap checker: recounts the arena from scratch and throws
 * HeapCorruption naming the first invariant that fails. It walks every
 * chunk from the first to the top, every bin list, and every mmapped chunk
 * malloc handed out. Cost: the whole heap; a debug API, never on a hot path.
 *
 *  MALLOC-1  arena header: magic, top, system_mem
 *  MALLOC-2  the JS bitmap cache equals the header's bitmaps
 *  MALLOC-3  chunk walk: sizes aligned, >= MINSIZE, inside the heap, ending exactly at the top
 *  MALLOC-4  PREV_INUSE of each chunk says whether the chunk before is free
 *  MALLOC-5  a free chunk's footer (next prev_size) equals its size; released is 0 or 1
 *  MALLOC-6  no two free chunks are adjacent, none borders the top (immediate coalescing)
 *  MALLOC-7  the top chunk: >= MINSIZE, ends at the heap end
 *  MALLOC-8  bin lists: links agree both ways, every chunk is free, in the bin of its size
 *  MALLOC-9  a bitmap bit is set exactly when its bin is non-empty
 *  MALLOC-10 every free chunk of the walk is in exactly one bin
 *  MALLOC-11 mmapped chunks: headers, page alignment, n_mmaps and mmapped_mem
 *  MALLOC-12 runs: each runs[k] names an in-use NON_MAIN_ARENA chunk of >= 16 * k bytes
 *  MALLOC-14 thread arenas: heap_info at a HEAP_MAX_SIZE-aligned heap names the
 *            arena, its size is the heap's end, mprotect_size covers it; no
 *            mmapped chunk is counted outside the main arena
 *  MALLOC-13 tcaches: each thread's cache is an in-use chunk; list idx holds
 *            exactly counts[idx] chunks, each an in-use chunk of the walk of
 *            size 32 + 16 * idx, 16-aligned, carrying the key, on no other list
 */
import { HeapCorruption } from "../alloc/allocator.ts";
import type { Arena } from "./arena.ts";
import {
  ARENA_MAGIC,
  BIN_COUNT,
  binIndex,
  FIRST_CHUNK,
  FL_COUNT,
  OFF_FL_BITMAP,
  OFF_MAGIC,
  OFF_N_MMAPS,
  OFF_RUNS,
  OFF_SL_BITMAP,
  OFF_SYSTEM_MEM,
  OFF_TOP,
} from "./arena.ts";
import { HEAP_INFO_BYTES, HEAP_MAX_SIZE, heapMprotectSize, heapSize, OFF_H_AR_PTR } from "./arena_heap.ts";
import { bk, CHUNK_FREE, fd, head, IS_MMAPPED, MINSIZE, NON_MAIN_ARENA, PREV_INUSE, prevSize, released, sizeHi, sizeOf } from "./chunk.ts";
import { mmappedMem, RELEASE_MIN } from "./sysmalloc.ts";
import { OFF_E_KEY, OFF_E_NEXT, read64, revealPtr, TCACHE_MAX_BINS, TCACHE_STRUCT_BYTES, type Tcaches } from "./tcache.ts";

const hex = (va: number) => `0x${va.toString(16)}`;

function fail(id: string, what: string): never {
  throw new HeapCorruption(id, what);
}

/** Checks every arena (the main one first) and the threads' caches; throws HeapCorruption (MALLOC-1 .. MALLOC-14). */
export function mallocCheck(arenas: readonly Arena[], tcache: Tcaches): void {
  const inUse = new Map<number, number>();
  for (const a of arenas) checkArena(a, inUse);
  const main = arenas[0] as Arena;
  if (main.base === 0 && arenas.length === 1) {
    if (tcache.byTid.size !== 0) fail("MALLOC-13", "tcaches without an arena");
    return;
  }
  checkTcaches(main, tcache, inUse);
}

/** One arena: MALLOC-1 .. 12 and 14; adds its in-use chunks to `inUse`. */
function checkArena(a: Arena, inUse: Map<number, number>): void {
  if (a.base === 0) {
    if (a.mmapped.size !== 0) fail("MALLOC-11", "mmapped chunks without an arena");
    return;
  }
  if (a.heap !== 0) checkHeapInfo(a);
  checkHeader(a);
  const runs = new Map<number, number>();
  for (let k = 0; k < 16; k++) {
    const off = a.word(OFF_RUNS + 4 * k);
    if (off === 0) continue;
    if (k < 2 || !a.isChunkOff(off)) fail("MALLOC-12", `runs[${k}] = ${off}`);
    runs.set(a.base + off, 16 * k);
  }
  const free = walkChunks(a, runs, inUse);
  if (runs.size !== 0) fail("MALLOC-12", `runs[] names ${hex([...runs.keys()][0]!)}, not a run of the walk`);
  checkBins(a, free);
  checkMmapped(a);
}

/** MALLOC-14: a thread arena's heap_info. */
function checkHeapInfo(a: Arena): void {
  const h = a.heap;
  if (h % HEAP_MAX_SIZE !== 0 || a.base !== h + HEAP_INFO_BYTES) fail("MALLOC-14", `heap ${hex(h)} misaligned or arena at ${hex(a.base)}`);
  if (read64(a.mem, h + OFF_H_AR_PTR) !== a.base) fail("MALLOC-14", `heap ${hex(h)}: ar_ptr is not ${hex(a.base)}`);
  const size = heapSize(a, h);
  if (h + size !== a.end || heapMprotectSize(a, h) < size || size > HEAP_MAX_SIZE)
    fail("MALLOC-14", `heap ${hex(h)}: size ${size}, mprotect_size ${heapMprotectSize(a, h)}, end ${hex(a.end)}`);
  if (a.mmaps === a || a.mmapped.size !== 0) fail("MALLOC-14", `thread arena ${hex(a.base)} counts mmapped chunks`);
}

/** MALLOC-13: every thread's cache and every chunk on its lists. */
function checkTcaches(a: Arena, tcache: Tcaches, inUse: Map<number, number>): void {
  const mem = a.mem;
  const seen = new Set<number>();
  for (const [tid, tc] of tcache.byTid) {
    const own = inUse.get(tc - 16);
    if (own === undefined || own - 8 < TCACHE_STRUCT_BYTES)
      fail("MALLOC-13", `tid ${tid}: tcache ${hex(tc)} is not an in-use chunk of 640 bytes or more`);
    for (let idx = 0; idx < TCACHE_MAX_BINS; idx++) {
      const count = tcache.countOf(tc, idx);
      let e = tcache.first(tc, idx);
      let n = 0;
      for (; e !== 0; n++) {
        if (n >= count) fail("MALLOC-13", `tid ${tid}: list ${idx} is longer than its count ${count}`);
        const size = inUse.get(e - 16);
        if (e % 16 !== 0 || size === undefined) fail("MALLOC-13", `tid ${tid}: list ${idx} holds ${hex(e)}, not an in-use chunk`);
        if (size !== 32 + 16 * idx) fail("MALLOC-13", `tid ${tid}: chunk ${hex(e - 16)} of size ${size} on list ${idx}`);
        if (mem.read32(e + OFF_E_KEY) >>> 0 !== tcache.keyLo || mem.read32(e + OFF_E_KEY + 4) >>> 0 !== tcache.keyHi)
          fail("MALLOC-13", `tid ${tid}: chunk ${hex(e - 16)} on list ${idx} lacks the key`);
        if (seen.has(e) || e === tc) fail("MALLOC-13", `chunk ${hex(e - 16)} is cached twice`);
        seen.add(e);
        e = revealPtr(mem, e + OFF_E_NEXT);
      }
      if (n !== count) fail("MALLOC-13", `tid ${tid}: list ${idx} holds ${n} chunks, counts[${idx}] = ${count}`);
    }
  }
}

function checkHeader(a: Arena): void {
  if (a.word(OFF_MAGIC) !== ARENA_MAGIC) fail("MALLOC-1", `bad magic at ${hex(a.base)}`);
  if (a.word(OFF_TOP) !== a.top - a.base) fail("MALLOC-1", `header top ${a.word(OFF_TOP)} != cached ${a.top - a.base}`);
  if (a.word(OFF_FL_BITMAP) !== a.flMap >>> 0) fail("MALLOC-2", "fl_bitmap differs from its cache");
  for (let f = 0; f < FL_COUNT; f++) {
    if (a.word(OFF_SL_BITMAP + 4 * f) !== a.slMap[f]! >>> 0) fail("MALLOC-2", `sl_bitmap[${f}] differs from its cache`);
    if ((a.slMap[f] !== 0) !== ((a.flMap & (1 << f)) !== 0)) fail("MALLOC-9", `fl bit ${f} disagrees with sl_bitmap[${f}]`);
  }
}

/** Walks first chunk .. top; returns the free chunks found (VA -> size) and fills `inUse` with the in-use ones. */
function walkChunks(a: Arena, runs: Map<number, number>, inUse: Map<number, number>): Map<number, number> {
  const mem = a.mem;
  const free = new Map<number, number>();
  let c = a.base + FIRST_CHUNK;
  let prevFree = false;
  let fences = 0;
  while (c < a.top) {
    const hd = head(mem, c);
    const size = sizeOf(hd);
    const run = runs.get(c);
    const fence = (hd & NON_MAIN_ARENA) !== 0 && run === undefined;
    if (fence) fences++;
    if (run !== undefined) {
      if ((hd & NON_MAIN_ARENA) === 0 || size < run) fail("MALLOC-12", `run ${hex(c)} size word ${hex(hd)} for size ${run}`);
      runs.delete(c);
    }
    if (size < (fence ? 16 : MINSIZE) || c + size > a.top || hd & IS_MMAPPED) fail("MALLOC-3", `chunk ${hex(c)} size word ${hex(hd)}`);
    if (((hd & PREV_INUSE) === 0) !== prevFree)
      fail("MALLOC-4", `chunk ${hex(c)} PREV_INUSE=${hd & PREV_INUSE} but previous free=${prevFree}`);
    if (hd & CHUNK_FREE) {
      if (prevFree) fail("MALLOC-6", `free chunk ${hex(c)} follows a free chunk`);
      if (prevSize(mem, c + size) !== size) fail("MALLOC-5", `free chunk ${hex(c)} footer != ${size}`);
      if (size >= RELEASE_MIN && released(mem, c) > 1) fail("MALLOC-5", `free chunk ${hex(c)} released word`);
      free.set(c, size);
    } else if (!fence && run === undefined) {
      inUse.set(c, size);
    }
    prevFree = (hd & CHUNK_FREE) !== 0;
    c += size;
  }
  if (c !== a.top) fail("MALLOC-3", `chunk walk ends at ${hex(c)}, top is ${hex(a.top)}`);
  const thd = a.topHead();
  const tsize = sizeOf(thd);
  if (tsize < MINSIZE || a.top + tsize !== a.end) fail("MALLOC-7", `top ${hex(a.top)} size ${tsize}, heap end ${hex(a.end)}`);
  if (prevFree) fail("MALLOC-6", "a free chunk borders the top");
  if ((thd & PREV_INUSE) === 0) fail("MALLOC-4", "top's PREV_INUSE is clear");
  if (fences === 0 && a.word(OFF_SYSTEM_MEM) !== a.end - a.brk0)
    fail("MALLOC-1", `system_mem ${a.word(OFF_SYSTEM_MEM)} != ${a.end - a.brk0}`);
  return free;
}

function checkBins(a: Arena, free: Map<number, number>): void {
  const mem = a.mem;
  const limit = free.size + 1;
  for (let idx = 0; idx < BIN_COUNT; idx++) {
    let off = a.binHead(idx);
    if ((off !== 0) !== a.binNonEmpty(idx)) fail("MALLOC-9", `bin ${idx}: head ${off}, bitmap ${a.binNonEmpty(idx)}`);
    let prev = 0;
    for (let n = 0; off !== 0; n++) {
      const c = a.base + off;
      const size = free.get(c);
      if (n > limit || size === undefined) fail("MALLOC-8", `bin ${idx} holds ${hex(c)}, not a free chunk of the walk`);
      if (binIndex(size) !== idx) fail("MALLOC-8", `chunk ${hex(c)} of size ${size} in bin ${idx}`);
      if (bk(mem, c) !== prev) fail("MALLOC-8", `chunk ${hex(c)} bk != ${prev}`);
      free.delete(c);
      prev = off;
      off = fd(mem, c);
    }
  }
  for (const [c] of free) fail("MALLOC-10", `free chunk ${hex(c)} is in no bin`);
}

function checkMmapped(a: Arena): void {
  const mem = a.mem;
  let bytes = 0;
  for (const c of a.mmapped) {
    const hd = head(mem, c);
    const off = prevSize(mem, c);
    const size = sizeOf(hd) + sizeHi(mem, c) * 2 ** 32;
    if ((hd & (IS_MMAPPED | NON_MAIN_ARENA | CHUNK_FREE)) !== IS_MMAPPED)
      fail("MALLOC-11", `mmapped chunk ${hex(c)} flags ${hex(hd & 15)}`);
    if ((c - off) % 4096 !== 0 || (off + size) % 4096 !== 0) fail("MALLOC-11", `mmapped chunk ${hex(c)} not page-aligned`);
    bytes += off + size;
  }
  if (a.word(OFF_N_MMAPS) !== a.mmapped.size) fail("MALLOC-11", `n_mmaps ${a.word(OFF_N_MMAPS)} != ${a.mmapped.size}`);
  if (mmappedMem(a) !== bytes) fail("MALLOC-11", `mmapped_mem ${mmappedMem(a)} != ${bytes}`);
}
