/**
 * The per-thread cache (glibc's tcache, malloc.c since 2.26): each thread
 * keeps, for each of the 64 smallest chunk sizes (32 .. 1040 bytes, step
 * 16), a singly linked list of up to `tcache_count` (7) chunks it freed.
 * free() pushes a chunk there before the arena sees it, and malloc() pops
 * one before it searches the bins, with no lock and no coalescing. A cached
 * chunk stays in use from the arena's view (its header and its next
 * chunk's PREV_INUSE are untouched); the user may not touch it.
 *
 * The cache itself (tcache_perthread_struct) is a chunk of the arena, taken
 * the first time the thread frees a chunk of a cached size (glibc takes it
 * on the thread's first malloc; memsim waits for the first use so that a
 * program that never frees has the heap it had without a cache):
 *
 *    tc ->  +0    counts[64]   u16: chunks in each list
 *           +128  entries[64]  u64: payload VA of each list's first chunk, 0 = empty
 *           +640
 *
 * A cached chunk's payload holds its link and the key:
 *
 *    e ->   +0    next  u64: PROTECT_PTR(&next, the next entry) = next ^ (&next >> 12), 0 ^ ... at the end
 *           +8    key   u64: the process's tcache_key while cached, 0 once taken
 *
 * Safe-linking (glibc 2.32) stores each next pointer XORed with its own
 * address shifted right by 12, so an overwritten link is garbage unless
 * the attacker knows where the heap is; the list heads are plain. The key
 * marks a chunk that is (probably) cached: free() of a chunk whose key
 * matches walks that list and aborts with "free(): double free detected in
 * tcache 2" when the chunk is there.
 *
 * Words: tc = a thread's cache VA; idx = csize2tidx(size) = (size - 32) / 16;
 * e = a cached chunk's payload VA. Threads are told apart by gettid, as
 * glibc tells them apart by its TLS variable `tcache`; the JS map from tid
 * to tc is that variable.
 */
import type { UserMemory } from "../env.ts";
import type { MallocEnv } from "../libc/malloc_layer.ts";
import { memset } from "../libc/string.ts";
import type { Arena } from "./arena.ts";
import { head, IS_MMAPPED, MINSIZE, requestToSize, sizeOf } from "./chunk.ts";
import { intMalloc } from "./int_malloc.ts";
import { TCACHE_DOUBLE_FREE, TCACHE_TOO_MANY, TCACHE_UNALIGNED_FREE, TCACHE_UNALIGNED_MALLOC } from "./messages.ts";

/** TCACHE_MAX_BINS: lists per thread. */
export const TCACHE_MAX_BINS = 64;
/** TCACHE_FILL_COUNT: glibc's default tcache_count. */
export const TCACHE_FILL_COUNT = 7;
/** MAX_TCACHE_COUNT: the largest tcache_count (the counts are u16). */
export const MAX_TCACHE_COUNT = 65535;
/** The largest request the 64 lists serve (tidx2usize(63) = 1032 on 64-bit): tcache_max's default and limit. */
export const MAX_TCACHE_SIZE = (TCACHE_MAX_BINS - 1) * 16 + MINSIZE - 8;
/** sizeof(tcache_perthread_struct). */
export const TCACHE_STRUCT_BYTES = 2 * TCACHE_MAX_BINS + 8 * TCACHE_MAX_BINS;
export const OFF_TC_COUNTS = 0;
export const OFF_TC_ENTRIES = 2 * TCACHE_MAX_BINS;
export const OFF_E_NEXT = 0;
export const OFF_E_KEY = 8;

const TWO32 = 2 ** 32;
const TWO44 = 2 ** 44;

/** csize2tidx: the list of chunk size `size` (32 .. 1040). */
export function tcacheIndex(size: number): number {
  return (size - MINSIZE) >>> 4;
}

/** usize2tidx's inverse bound: the number of lists that serve requests up to `maxBytes`. */
export function tcacheBinsFor(maxBytes: number): number {
  return maxBytes < 0 ? 0 : tcacheIndex(requestToSize(Math.min(maxBytes, MAX_TCACHE_SIZE))) + 1;
}

/** Reads a u64 (a pointer below 2^53). */
export function read64(mem: UserMemory, va: number): number {
  return (mem.read32(va) >>> 0) + (mem.read32(va + 4) >>> 0) * TWO32;
}

/** Writes a u64 (a pointer below 2^53). */
export function write64(mem: UserMemory, va: number, v: number): void {
  mem.write32(va, v >>> 0);
  mem.write32(va + 4, Math.floor(v / TWO32));
}

/** PROTECT_PTR's low word: (pos >> 12) ^ ptr, bits 0..31. */
function protectLo(pos: number, ptr: number): number {
  return ((pos / 4096) >>> 0) ^ (ptr >>> 0);
}

/** PROTECT_PTR's high word: (pos >> 12) ^ ptr, bits 32..63, from the pointer's high word `ptrHi`. */
function protectHi(pos: number, ptrHi: number): number {
  return Math.floor(pos / TWO44) ^ ptrHi;
}

/** REVEAL_PTR: the pointer stored at `pos` with safe-linking. */
export function revealPtr(mem: UserMemory, pos: number): number {
  const lo = (mem.read32(pos) ^ (pos / 4096)) >>> 0;
  const hi = (mem.read32(pos + 4) ^ Math.floor(pos / TWO44)) >>> 0;
  return lo + hi * TWO32;
}

/** The process's tcache_key, two words made from its pid (glibc draws it with getrandom; memsim stays deterministic). */
function keyWord(pid: number, salt: number): number {
  let x = Math.imul(pid ^ salt, 0x9e3779b1);
  x = Math.imul(x ^ (x >>> 15), 0x85ebca6b);
  return (x ^ (x >>> 13)) >>> 0;
}

/** The tcaches of one process's threads: where each lives and the list operations. */
export class Tcaches {
  /** gettid -> the thread's tcache VA (the TLS variable `tcache` of each thread). */
  readonly byTid = new Map<number, number>();
  /** tcache_key, low and high word. */
  keyLo: number;
  keyHi: number;
  /** tcache_count: chunks a list holds at most. */
  count = TCACHE_FILL_COUNT;
  /** tcache_bins: lists in use (64, or fewer after M_TCACHE_MAX). */
  bins = TCACHE_MAX_BINS;
  /** The largest chunk size a list takes: 32 + 16 * (bins - 1), 0 when bins = 0. */
  maxChunk = MINSIZE + 16 * (TCACHE_MAX_BINS - 1);
  private lastTid = -1;
  private lastTc = 0;

  declare readonly mem: UserMemory;
  declare readonly env: MallocEnv;

  constructor(env: MallocEnv) {
    this.mem = env.mem;
    this.env = env;
    this.keyLo = keyWord(env.pid, 0x74636163);
    this.keyHi = keyWord(env.pid, 0x6865) & 0x7fff;
  }

  /** After fork: the key, the settings and the forking thread's cache, now the child's only thread's. */
  copyFrom(parent: Tcaches, parentTid: number): void {
    this.keyLo = parent.keyLo;
    this.keyHi = parent.keyHi;
    this.setLimits(parent.count, parent.bins);
    const tc = parent.byTid.get(parentTid);
    if (tc !== undefined) this.byTid.set(this.env.pid, tc);
  }

  /** Sets tcache_count and tcache_bins (mallopt). */
  setLimits(count: number, bins: number): void {
    this.count = count;
    this.bins = bins;
    this.maxChunk = bins === 0 || count === 0 ? 0 : MINSIZE + 16 * (bins - 1);
  }

  /** The tcache VA of thread `tid` (the caller), 0 when it has none yet. */
  current(tid: number): number {
    if (tid === this.lastTid) return this.lastTc;
    const tc = this.byTid.get(tid) ?? 0;
    this.lastTid = tid;
    this.lastTc = tc;
    return tc;
  }

  /**
   * tcache_init: takes the calling thread's cache from arena `a` and zeroes
   * it. Returns its VA, or 0 when the arena has no memory (the thread then
   * runs without a cache, as glibc's does).
   */
  init(a: Arena, tid: number): number {
    const p = intMalloc(a, requestToSize(TCACHE_STRUCT_BYTES));
    if (p === 0) return 0;
    if (head(this.mem, p - 16) & IS_MMAPPED) throw new RangeError("tcache_init: the arena mmapped a 640-byte chunk");
    memset(this.mem, p, 0, TCACHE_STRUCT_BYTES);
    this.byTid.set(tid, p);
    this.lastTid = tid;
    this.lastTc = p;
    return p;
  }

  /** counts[idx] of cache `tc`. */
  countOf(tc: number, idx: number): number {
    return this.mem.read16(tc + OFF_TC_COUNTS + 2 * idx);
  }

  /** entries[idx] of cache `tc`: the first cached payload, 0 = empty. */
  first(tc: number, idx: number): number {
    return read64(this.mem, tc + OFF_TC_ENTRIES + 8 * idx);
  }

  /**
   * tcache_get: pops the first chunk of list `idx`. Returns its payload VA,
   * or 0 when the list is empty. Aborts with "malloc(): unaligned tcache
   * chunk detected" when the head is not 16-aligned (a forged link).
   */
  get(tc: number, idx: number): number {
    const mem = this.mem;
    const cnt = tc + OFF_TC_COUNTS + 2 * idx;
    const n = mem.read16(cnt);
    if (n === 0) return 0;
    const ent = tc + OFF_TC_ENTRIES + 8 * idx;
    const e = (mem.read32(ent) >>> 0) + (mem.read32(ent + 4) >>> 0) * TWO32;
    if ((e & 15) !== 0 || e === 0) this.env.abort(TCACHE_UNALIGNED_MALLOC);
    const lo = (mem.read32(e) ^ (e / 4096)) >>> 0;
    const hi = (mem.read32(e + 4) ^ Math.floor(e / TWO44)) >>> 0;
    mem.write32(ent, lo);
    mem.write32(ent + 4, hi);
    mem.write16(cnt, n - 1);
    mem.write32(e + OFF_E_KEY, 0);
    mem.write32(e + OFF_E_KEY + 4, 0);
    return e;
  }

  /**
   * The free() half: puts payload `e` on list `idx` of cache `tc` when the
   * list has room. Returns false when it is full (the chunk goes to the
   * arena). A chunk whose key word matches is looked for in the list
   * first: aborts with glibc's "free(): double free detected in tcache 2"
   * when it is there ("free(): too many chunks detected in tcache" or
   * "free(): unaligned chunk detected in tcache 2" when the list is broken).
   */
  put(tc: number, e: number, idx: number): boolean {
    const mem = this.mem;
    if (mem.read32(e + OFF_E_KEY) >>> 0 === this.keyLo && mem.read32(e + OFF_E_KEY + 4) >>> 0 === this.keyHi) this.lookFor(tc, e, idx);
    const cnt = tc + OFF_TC_COUNTS + 2 * idx;
    const n = mem.read16(cnt);
    if (n >= this.count) return false;
    const ent = tc + OFF_TC_ENTRIES + 8 * idx;
    const lo = mem.read32(ent) >>> 0;
    const hi = mem.read32(ent + 4) >>> 0;
    mem.write32(e + OFF_E_KEY, this.keyLo);
    mem.write32(e + OFF_E_KEY + 4, this.keyHi);
    mem.write32(e + OFF_E_NEXT, protectLo(e, lo));
    mem.write32(e + OFF_E_NEXT + 4, protectHi(e, hi));
    mem.write32(ent, e >>> 0);
    mem.write32(ent + 4, Math.floor(e / TWO32));
    mem.write16(cnt, n + 1);
    return true;
  }

  /** The double-free scan of glibc's _int_free: aborts when `e` is on list `idx`. */
  private lookFor(tc: number, e: number, idx: number): void {
    let t = this.first(tc, idx);
    for (let n = 0; t !== 0; n++) {
      if (n >= this.count && n >= this.countOf(tc, idx)) this.env.abort(TCACHE_TOO_MANY);
      if (t % 16 !== 0) this.env.abort(TCACHE_UNALIGNED_FREE);
      if (t === e) this.env.abort(TCACHE_DOUBLE_FREE);
      t = revealPtr(this.mem, t + OFF_E_NEXT);
    }
  }

  /**
   * Every cached chunk of every thread: chunk VA -> size (its header's).
   * Walks at most counts[idx] + 1 links per list. A debug view (census,
   * checker), never on the path of malloc or free.
   */
  cachedChunks(): Map<number, number> {
    const out = new Map<number, number>();
    for (const tc of this.byTid.values()) {
      for (let idx = 0; idx < TCACHE_MAX_BINS; idx++) {
        let e = this.first(tc, idx);
        for (let n = 0; e !== 0 && n <= this.countOf(tc, idx) && e % 16 === 0; n++) {
          out.set(e - 16, sizeOf(head(this.mem, e - 16)));
          e = revealPtr(this.mem, e + OFF_E_NEXT);
        }
      }
    }
    return out;
  }

  /** The chunks holding the threads' caches themselves (chunk VAs): allocator metadata, not the program's bytes. */
  structChunks(): Set<number> {
    const out = new Set<number>();
    for (const tc of this.byTid.values()) out.add(tc - 16);
    return out;
  }
}
