/**
 * Which arena serves which thread (glibc's arena_get, arena_get2,
 * reused_arena and arena_for_chunk). The process's first thread (tid =
 * pid) uses the main arena on the brk heap. Any other thread, at its first
 * call that needs an arena, gets a new arena on a heap of its own
 * (arena_heap.ts) while the process has fewer than the arena limit (8 per
 * CPU on 64-bit, or M_ARENA_MAX); past the limit it shares an existing one,
 * taken round-robin (glibc takes the next one it finds unlocked; in memsim
 * an operation runs whole, so no arena is ever found locked). A thread
 * keeps its arena (glibc's TLS variable thread_arena: the map from tid).
 *
 * A chunk goes back to the arena it came from, whoever frees it: the brk
 * heap's range names the main arena, and any other chunk's heap is its
 * address rounded down to HEAP_MAX_SIZE. Every call that works on an arena
 * holds its mutex (`mutexHold` at the arena header's VA, where glibc's
 * malloc_state keeps its mutex), so the scheduler charges the waits of
 * threads that share one; a tcache hit takes no lock.
 */
import type { MallocEnv } from "../libc/malloc_layer.ts";
import type { Arena } from "./arena.ts";
import { ARENAS_PER_CORE, HEAP_MAX_SIZE, newArena } from "./arena_heap.ts";

/** The arenas of one process and the threads' choice among them. */
export class Arenas {
  /** Every arena, the main one first, then in creation order (glibc's ring from main_arena.next). */
  readonly list: Arena[];
  /** heap VA -> its arena (heap_for_ptr(c)->ar_ptr). */
  readonly byHeap = new Map<number, Arena>();
  /** tid -> the thread's arena (thread_arena). */
  readonly byTid = new Map<number, Arena>();
  /** M_ARENA_MAX; 0 = 8 per CPU. */
  arenaMax = 0;
  /** A thread other than the process's first has called malloc (glibc's SINGLE_THREAD_P is false). */
  threaded = false;
  private nextToUse = 0;
  private lastTid = -1;
  declare private lastArena: Arena;
  declare readonly main: Arena;
  declare readonly env: MallocEnv;

  constructor(main: Arena, env: MallocEnv) {
    this.main = main;
    this.env = env;
    this.list = [main];
    this.lastArena = main;
  }

  /** The arena limit: M_ARENA_MAX, else 8 per CPU. */
  limit(): number {
    return this.arenaMax > 0 ? this.arenaMax : ARENAS_PER_CORE * Math.max(1, this.env.nprocs());
  }

  /**
   * The calling thread's tid (gettid), noting when it is not the process's
   * first thread: from then on the process is multi-threaded (glibc's
   * SINGLE_THREAD_P turns false) and arena calls take their mutex.
   */
  self(): number {
    const tid = this.env.gettid();
    if (tid !== this.env.pid) this.threaded = true;
    return tid;
  }

  /** arena_get: thread `tid`'s arena (the caller's), chosen at its first call. */
  current(tid: number): Arena {
    if (tid === this.lastTid) return this.lastArena;
    const a = this.byTid.get(tid) ?? this.attach(tid);
    this.lastTid = tid;
    this.lastArena = a;
    return a;
  }

  /** arena_get2: a new arena under the limit, else reused_arena; the main one for the first thread. */
  private attach(tid: number): Arena {
    let a: Arena | null = null;
    if (tid === this.env.pid) a = this.main;
    else if (this.list.length < this.limit()) {
      a = newArena(this.main);
      if (a !== null) this.add(a);
    }
    if (a === null) {
      this.nextToUse = (this.nextToUse + 1) % this.list.length;
      a = this.list[this.nextToUse] as Arena;
    }
    this.byTid.set(tid, a);
    return a;
  }

  /** Adds a thread arena to the ring and the heap index. */
  add(a: Arena): void {
    this.list.push(a);
    this.byHeap.set(a.heap, a);
  }

  /** After fork: the forking thread's arena is the child's only thread's (tid = the child's pid). */
  adopt(tid: number, a: Arena): void {
    this.byTid.set(tid, a);
  }

  /** arena_for_chunk: the arena chunk `c` belongs to (the main arena for mmapped chunks and stray pointers). */
  forChunk(c: number): Arena {
    const main = this.main;
    if (this.list.length === 1 || (c >= main.base && c < main.end)) return main;
    return this.byHeap.get(Math.floor(c / HEAP_MAX_SIZE) * HEAP_MAX_SIZE) ?? main;
  }

  /**
   * Holds arena `a`'s mutex for the running operation once a thread other
   * than the first has called malloc; before that, as glibc does for a
   * single-threaded process, no lock is taken.
   */
  lock(a: Arena): void {
    if (this.threaded) this.env.mutexHold(a.base);
  }
}
