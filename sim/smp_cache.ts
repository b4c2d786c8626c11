/**
 * Hoard's cache benchmarks for `memsim bench smp` (sim/smp_alloc.ts runs
 * them): the loops of the Hoard repository's benchmarks/cache-thrash and
 * benchmarks/cache-scratch, which the ASPLOS 2000 paper calls active-false
 * and passive-false (the repository's graphing script labels its
 * cache-thrash results "active-false" and cache-scratch "passive-false").
 *
 *   cache-thrash, active-false    each of P threads, `iterations` times:
 *        malloc an object of `objSize` bytes; `repetitions` / P times write
 *        every byte of it and read it back; free it. An allocator that puts
 *        two threads' objects in one 64-byte line makes them fight over it
 *        (active false sharing).
 *   cache-scratch, passive-false  before the threads start, the main thread
 *        (CPU 0) mallocs one object per thread and hands it over; each thread
 *        first frees its object, then runs cache-thrash's loop. An allocator
 *        that gives the freed block back to the thread that freed it hands
 *        neighbouring bytes of CPU 0's line to several threads (passive false
 *        sharing).
 *
 * Like the originals, `iterations` is per thread and the `repetitions` are
 * split over the threads, so the writes in total stay fixed while the
 * mallocs grow with P. The two names of each loop run with different object
 * sizes: the repository's suggested command line (`cache-thrash P 1000 1
 * 1000000`) uses 1-byte objects, the paper's text "small objects", for which
 * memsim uses 8 bytes. Each pass over an object is one operation of `m.run`,
 * so threads on different CPUs interleave between passes.
 *
 * Words: pass = one write-and-read-back of every byte of the object.
 */
import type { Operation } from "../kernel/sched.ts";
import type { Allocator } from "../userspace/alloc/allocator.ts";

/** The cache benchmarks: two loops under the repository's and the paper's names. */
export type CacheBench = "cache-thrash" | "cache-scratch" | "active-false" | "passive-false";

/** Sizes of a cache benchmark. */
export interface CacheSizes {
  /** Objects each thread allocates in turn (default 64). */
  readonly iterations?: number;
  /** Passes over each object, split over the threads (default 256: 16 passes each on 16 CPUs). */
  readonly repetitions?: number;
  /** Bytes per object (default 1 for cache-thrash/cache-scratch, 8 for active-false/passive-false). */
  readonly objSize?: number;
}

/** Whether `name` is one of the cache benchmarks. */
export function isCacheBench(name: string): name is CacheBench {
  return name === "cache-thrash" || name === "cache-scratch" || name === "active-false" || name === "passive-false";
}

/** The object size of `bench` unless `s` names one. */
export function cacheObjSize(bench: CacheBench, s: CacheSizes): number {
  return s.objSize ?? (bench === "cache-thrash" || bench === "cache-scratch" ? 1 : 8);
}

/** One thread's loop: free the handed object (0: none), then iterations of malloc, passes, free. */
function cacheWorker(a: Allocator, cpus: number, s: CacheSizes, objSize: number, handed: number): Operation[] {
  const iterations = s.iterations ?? 64;
  const passes = Math.floor((s.repetitions ?? 256) / cpus);
  const mem = a.proc.mem;
  let obj = 0;
  const ops: Operation[] = [];
  if (handed !== 0) ops.push(() => a.free(handed, objSize));
  const alloc = () => {
    obj = a.malloc(objSize);
  };
  // The original stores byte k as (char) k and reads it back through a volatile.
  const pass = () => {
    for (let k = 0; k < objSize; k++) {
      mem.write8(obj + k, k & 0xff);
      mem.read8(obj + k);
    }
  };
  const free = () => a.free(obj, objSize);
  for (let i = 0; i < iterations; i++) {
    ops.push(alloc);
    for (let j = 0; j < passes; j++) ops.push(pass);
    ops.push(free);
  }
  return ops;
}

/**
 * Each thread's operations for `bench` on `cpus` CPUs (thread i runs list i).
 * cache-scratch and passive-false malloc the handed objects now, on the
 * calling CPU (CPU 0 before `m.run`), as the original's main thread does.
 */
export function cacheBenchOps(bench: CacheBench, a: Allocator, cpus: number, s: CacheSizes): Operation[][] {
  const objSize = cacheObjSize(bench, s);
  const hands = bench === "cache-scratch" || bench === "passive-false";
  const handed = Array.from({ length: cpus }, () => (hands ? a.malloc(objSize) : 0));
  return handed.map((h) => cacheWorker(a, cpus, s, objSize, h));
}
