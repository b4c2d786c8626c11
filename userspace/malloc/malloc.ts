/**
 * The default C-library malloc (glibc's API over a TLSF-indexed, glibc-
 * layout heap). It runs inside one process: its metadata lives in the
 * process's memory (the arena header at the heap base, chunk headers
 * around the payloads), every access goes through UserMemory (the MMU), and
 * memory comes only from brk and mmap through the C library's wrappers.
 *
 * Layers: malloc.ts (this API, errno) -> int_malloc.ts (bins, split,
 * coalesce) -> sysmalloc.ts (brk, mmap, trim, madvise) -> arena.ts (header
 * and TLSF bins) -> chunk.ts (the chunk layout). Words: chunk, bin, top,
 * arena as in glibc; nb = a chunk size from request2size.
 *
 * It is the default malloc layer (libc/malloc_layer.ts): made by
 * {@link memsimMalloc} through the same MallocEnv a lab's layer gets. The C
 * library around it owns errno and the argument checks.
 */
import type { HeapCensus } from "../alloc/allocator.ts";
import type { MallocEnv, MallocHeap, MallocLayer } from "../libc/malloc_layer.ts";
import { memset } from "../libc/string.ts";
import { Arena, FIRST_CHUNK, type MallocParams } from "./arena.ts";
import { Arenas } from "./arenas.ts";
import { mallocCensus } from "./census.ts";
import {
  CHUNK_FREE,
  head,
  IS_MMAPPED,
  MAX_REQUEST,
  MINSIZE,
  misaligned16,
  NON_MAIN_ARENA,
  requestToSize,
  sizeHi,
  sizeOf,
} from "./chunk.ts";
import { intFree, intMalloc } from "./int_malloc.ts";
import { type Mallinfo2, mallinfo2, mallocStats, mallocTrim } from "./mallinfo.ts";
import { mallocCheck } from "./malloc_check.ts";
import { midMemalign } from "./memalign.ts";
import { intRealloc } from "./realloc.ts";
import { MMAP_THRESHOLD_MAX } from "./sysmalloc.ts";
import { MAX_TCACHE_COUNT, MAX_TCACHE_SIZE, Tcaches, tcacheBinsFor, tcacheIndex } from "./tcache.ts";

/** mallopt parameters, with glibc's values (malloc.h). */
export const M_MXFAST = 1;
export const M_TRIM_THRESHOLD = -1;
export const M_TOP_PAD = -2;
export const M_MMAP_THRESHOLD = -3;
export const M_MMAP_MAX = -4;
export const M_CHECK_ACTION = -5;
export const M_PERTURB = -6;
export const M_ARENA_TEST = -7;
export const M_ARENA_MAX = -8;
/**
 * memsim's stand-ins for glibc's tunables glibc.malloc.tcache_count and
 * glibc.malloc.tcache_max (GLIBC_TUNABLES), which glibc's mallopt lacks:
 * chunks per tcache list (0..65535; 0 turns the cache off) and the largest
 * request the cache serves (0..1032 bytes).
 */
export const M_TCACHE_COUNT = -9;
export const M_TCACHE_MAX = -10;

/** glibc's defaults: DEFAULT_MMAP_THRESHOLD, DEFAULT_TRIM_THRESHOLD, DEFAULT_MMAP_MAX. */
export const DEFAULT_MMAP_THRESHOLD = 128 * 1024;
export const DEFAULT_TRIM_THRESHOLD = 128 * 1024;
export const DEFAULT_MMAP_MAX = 65536;
/**
 * M_TOP_PAD's default: 0, ptmalloc's own (glibc builds with 128 KiB). The
 * break grows by exactly what the top lacks, in 16-byte steps, so the heap
 * never holds memory nobody asked for; mallopt(M_TOP_PAD, n) trades that
 * for fewer brk calls.
 */
export const DEFAULT_TOP_PAD = 0;
/** glibc's limit for M_MMAP_THRESHOLD (HEAP_MAX_SIZE / 2 on 64-bit). */
const MMAP_THRESHOLD_LIMIT = MMAP_THRESHOLD_MAX;
/** The largest M_MXFAST glibc accepts (MAX_FAST_SIZE on 64-bit). */
const MAX_FAST_SIZE = 160;

/** The default malloc of one process (a MallocHeap). */
export class Malloc implements MallocHeap {
  readonly name = "memsim";
  /** The main arena, on the brk heap (exposed for the checker, the heap walk and the Allocator adapter). */
  declare readonly arena: Arena;
  /** Every arena and which thread uses which (arenas.ts). */
  declare readonly arenas: Arenas;
  /** The threads' caches (tcache.ts). */
  declare readonly tcache: Tcaches;

  constructor(env: MallocEnv) {
    const mp: MallocParams = {
      mmapThreshold: DEFAULT_MMAP_THRESHOLD,
      trimThreshold: DEFAULT_TRIM_THRESHOLD,
      topPad: DEFAULT_TOP_PAD,
      nMmapsMax: DEFAULT_MMAP_MAX,
      noDynThreshold: false,
      perturb: 0,
    };
    this.arena = new Arena(env.mem, env, (message) => env.abort(message), mp);
    this.arenas = new Arenas(this.arena, env);
    this.tcache = new Tcaches(env);
  }

  /**
   * The child's malloc after fork: its memory is a copy of this process's,
   * so the values the arena caches from its header (and mallopt's settings)
   * are copied too.
   */
  fork(child: MallocEnv): Malloc {
    const m = new Malloc(child);
    m.arena.copyFrom(this.arena);
    const tid = this.arena.env.gettid();
    const mine = this.arenas.byTid.get(tid);
    for (const pa of this.arenas.list) {
      if (pa === this.arena) continue;
      const a = new Arena(child.mem, child, m.arena.abort, m.arena.mp);
      a.copyFrom(pa);
      a.mmaps = m.arena;
      m.arenas.add(a);
      if (pa === mine) m.arenas.adopt(child.pid, a);
    }
    m.arenas.arenaMax = this.arenas.arenaMax;
    m.tcache.copyFrom(this.tcache, tid);
    return m;
  }

  /**
   * malloc(3): `n` bytes, 16-byte aligned. malloc(0) returns a minimum
   * chunk (24 usable bytes). Returns 0 when memory runs out or `n` is beyond
   * the address space.
   */
  malloc(n: number): number {
    if (!(n >= 0) || n > MAX_REQUEST) return 0;
    const nb = requestToSize(n);
    const tcache = this.tcache;
    const tid = this.arenas.self();
    let p = 0;
    if (nb <= tcache.maxChunk) {
      const tc = tcache.current(tid);
      if (tc !== 0) p = tcache.get(tc, tcacheIndex(nb));
    }
    if (p === 0) {
      const a = this.arenas.current(tid);
      p = intMalloc(a, nb);
      this.arenas.lock(a);
    }
    if (p !== 0 && this.arena.mp.perturb !== 0) this.arena.mem.fill(p, this.arena.mp.perturb ^ 0xff, n);
    return p;
  }

  /**
   * free(3): a heap chunk of a cached size goes to the calling thread's
   * tcache while its list has room, any other to the arena. Aborts the
   * process (SIGABRT) with glibc's message when `p` is not a live
   * allocation ("free(): invalid pointer", "double free or corruption
   * (!prev)", "free(): double free detected in tcache 2", ...).
   */
  free(p: number): void {
    if (p === 0) return;
    const tid = this.arenas.self();
    const a = this.arenas.forChunk(p - 16);
    if (this.tcacheFree(a, p, tid)) return;
    intFree(a, p);
    this.arenas.lock(a);
  }

  /**
   * The tcache half of free: true when `p` went to the thread's cache.
   * Only an in-use chunk of the heap whose size the cache serves goes
   * there; anything else (mmapped, free, misplaced) is left to intFree's
   * checks.
   */
  private tcacheFree(a: Arena, p: number, tid: number): boolean {
    const tcache = this.tcache;
    const c = p - 16;
    if (c < a.base + FIRST_CHUNK || c >= a.top || misaligned16(p)) return false;
    const hd = head(a.mem, c);
    const size = sizeOf(hd);
    if ((hd & (IS_MMAPPED | NON_MAIN_ARENA | CHUNK_FREE)) !== 0 || size > tcache.maxChunk || size < MINSIZE || c + size > a.top)
      return false;
    let tc = tcache.current(tid);
    if (tc === 0) {
      const own = this.arenas.current(tid);
      tc = tcache.init(own, tid);
      this.arenas.lock(own);
    }
    if (tc === 0) return false;
    if (!tcache.put(tc, p, tcacheIndex(size))) return false;
    if (a.mp.perturb !== 0 && size > 32) a.mem.fill(p + 16, a.mp.perturb, size - 32);
    return true;
  }

  /**
   * calloc(3): `n * size` zeroed bytes. Memory fresh from brk or mmap is
   * zero already and is not written. Returns 0 on overflow or when memory
   * runs out.
   */
  calloc(n: number, size: number): number {
    const bytes = n * size;
    if (!(bytes >= 0) || bytes > MAX_REQUEST) return 0;
    const a = this.arenas.current(this.arenas.self());
    this.arenas.lock(a);
    const fresh = a.base === 0;
    const oldTop = a.top;
    const clean = Math.max(a.cleanFrom, a.end);
    const p = intMalloc(a, requestToSize(bytes));
    if (p === 0) return 0;
    const hd = head(a.mem, p - 16);
    if (hd & IS_MMAPPED && a.mp.perturb === 0) return p;
    let end = p - 16 + sizeOf(hd) + 8;
    if (a.mp.perturb === 0 && (fresh || p - 16 === oldTop)) end = Math.min(end, fresh ? a.cleanFrom : clean);
    if (end > p) memset(a.mem, p, 0, end - p);
    return p;
  }

  /**
   * realloc(3): p = 0 is malloc(n); n = 0 frees p and returns 0. Grows in
   * place when the next chunk is free or is the top; shrinks in place.
   * Returns 0 on failure, p left intact.
   */
  realloc(p: number, n: number): number {
    const a = p === 0 ? this.arenas.current(this.arenas.self()) : this.arenas.forChunk(p - 16);
    const r = intRealloc(a, p, n);
    this.arenas.lock(a);
    return r;
  }

  /** memalign past 16: `alignment` is a power of two (the C library rounds it). Returns 0 when memory runs out. */
  memalign(alignment: number, n: number): number {
    const a = this.arenas.current(this.arenas.self());
    const r = midMemalign(a, alignment, n);
    this.arenas.lock(a);
    return r;
  }

  /** malloc_usable_size(3): the bytes usable at `p`; 0 for 0 or a chunk that is not in use. */
  usableSize(p: number): number {
    if (p === 0) return 0;
    const mem = this.arena.mem;
    const hd = head(mem, p - 16);
    if (hd & NON_MAIN_ARENA) return 0;
    if (hd & IS_MMAPPED) return sizeOf(hd) + sizeHi(mem, p - 16) * 2 ** 32 - 16;
    return hd & CHUNK_FREE ? 0 : sizeOf(hd) - 8;
  }

  /** malloc_trim(3): see mallinfo.ts. Returns 1 when memory went back to the kernel. */
  trim(pad: number): number {
    let r = 0;
    for (const a of this.arenas.list) r |= mallocTrim(a, Number.isFinite(pad) ? Math.max(0, Math.floor(pad)) : 0);
    return r;
  }

  /**
   * mallopt(3): sets M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD
   * (<= 32 MiB), M_MMAP_MAX or M_PERTURB; the first four switch the dynamic
   * mmap threshold off. M_TCACHE_COUNT and M_TCACHE_MAX set the tcache's
   * limits (chunks already cached stay); M_ARENA_MAX (> 0) caps the arenas
   * made for threads from then on. M_MXFAST (0..160) and parameters this malloc has no
   * use for (arena test, check action) are accepted without effect, as glibc
   * accepts unknown ones. Returns 1 on success, 0 for a value out of range
   * or not an integer.
   */
  mallopt(param: number, value: number): number {
    const mp = this.arena.mp;
    if (!Number.isSafeInteger(value)) return 0;
    switch (param) {
      case M_TRIM_THRESHOLD:
        mp.trimThreshold = value < 0 ? Number.MAX_SAFE_INTEGER : value;
        mp.noDynThreshold = true;
        return 1;
      case M_TOP_PAD:
        if (value < 0) return 0;
        mp.topPad = value;
        mp.noDynThreshold = true;
        return 1;
      case M_MMAP_THRESHOLD:
        if (value < 0 || value > MMAP_THRESHOLD_LIMIT) return 0;
        mp.mmapThreshold = value;
        mp.noDynThreshold = true;
        return 1;
      case M_MMAP_MAX:
        mp.nMmapsMax = value;
        mp.noDynThreshold = true;
        return 1;
      case M_PERTURB:
        mp.perturb = value & 0xff;
        return 1;
      case M_MXFAST:
        return value >= 0 && value <= MAX_FAST_SIZE ? 1 : 0;
      case M_ARENA_MAX:
        if (value > 0) this.arenas.arenaMax = value;
        return 1;
      case M_TCACHE_COUNT:
        if (value < 0 || value > MAX_TCACHE_COUNT) return 0;
        this.tcache.setLimits(value, this.tcache.bins);
        return 1;
      case M_TCACHE_MAX:
        if (value < 0 || value > MAX_TCACHE_SIZE) return 0;
        this.tcache.setLimits(this.tcache.count, tcacheBinsFor(value));
        return 1;
      default:
        return 1;
    }
  }

  /** mallinfo2(3): see Mallinfo2 for the fields. */
  mallinfo2(): Mallinfo2 {
    const list = this.arenas.list;
    const m = mallinfo2(this.arena);
    for (let i = 1; i < list.length; i++) {
      const t = mallinfo2(list[i] as Arena);
      m.arena += t.arena;
      m.ordblks += t.ordblks;
      m.uordblks += t.uordblks;
      m.fordblks += t.fordblks;
      m.keepcost += t.keepcost;
    }
    return m;
  }

  /** malloc_stats(3)'s text (mallinfo.ts). */
  stats(): string {
    return mallocStats(this.arenas.list);
  }

  /** Bytes currently obtained from the kernel: the brk heap plus the mmapped chunks. */
  heapBytes(): number {
    const info = this.mallinfo2();
    return info.arena + info.hblkhd;
  }

  /** Highest heapBytes() seen. */
  peakHeapBytes(): number {
    let peak = 0;
    for (const a of this.arenas.list) peak += a.peakBytes;
    return peak;
  }

  /** Granted and free bytes of the heap (census.ts): a walk of every chunk, for the fragmentation measures. */
  census(): HeapCensus {
    const cached = this.tcache.cachedChunks();
    const structs = this.tcache.structChunks();
    const r = { grantedBytes: 0, freeBytes: 0, largestFreeBytes: 0 };
    for (const a of this.arenas.list) {
      const c = mallocCensus(a, cached, structs);
      r.grantedBytes += c.grantedBytes;
      r.freeBytes += c.freeBytes;
      r.largestFreeBytes = Math.max(r.largestFreeBytes, c.largestFreeBytes);
    }
    return r;
  }

  /** Runs the heap checker (malloc_check.ts); throws HeapCorruption. */
  check(): void {
    mallocCheck(this.arenas.list, this.tcache);
  }
}

/** memsim's own malloc as a malloc layer: the default of `layers.malloc`. */
export const memsimMalloc: MallocLayer = (env) => new Malloc(env);
