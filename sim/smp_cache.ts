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
import type { UserSiteHook } from "./alloc_sites.ts";
import { falseSharingEntries } from "./false_sharing.ts";
import type { Machine } from "./machine.ts";

/** The cache benchmarks: two loops under the repository's and the paper's names. */
export type CacheBench = "cache-thrash" | "cache-scratch" | "active-false" | "passive-false";

/** Sizes of a cache benchmark. */
export interface CacheSizes {
  /** Objects each thread allocates in turn (default 32). */
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
  const iterations = s.iterations ?? 32;
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

/** What the cache model saw during one run of a cache benchmark. */
export interface CacheFigures {
  /** Falsely shared lines the detector classed active (the allocator split a line between CPUs' blocks). */
  readonly activeLines: number;
  /** ... and passive (a block freed towards another CPU and reused there). */
  readonly passiveLines: number;
  /** ... and neither (the program's own hand-over, or bytes of no tracked block such as headers). */
  readonly otherLines: number;
  /** L1 data misses, reads and writes, over every CPU. */
  readonly d1Misses: number;
  /** L1 lines invalidated by another CPU's write, over every CPU. */
  readonly invalidations: number;
}

/**
 * A view of `a` that reports each block to allocation-site tracking, as the
 * libc's malloc watch does (sim/malloc_watch.ts), so the false-sharing
 * report knows the CPU that allocated each block and the CPU that freed it.
 */
export function trackedAllocator(a: Allocator, sites: UserSiteHook, pid: number): Allocator {
  return {
    name: a.name,
    proc: a.proc,
    malloc(size) {
      const p = a.malloc(size);
      if (p !== 0) sites.userAlloc(pid, p, size);
      return p;
    },
    free(ptr, size) {
      if (ptr !== 0) sites.userFree(pid, ptr);
      a.free(ptr, size);
    },
    realloc: (ptr, oldSize, newSize) => a.realloc(ptr, oldSize, newSize),
    check: () => a.check(),
    stats: () => a.stats(),
  };
}

/**
 * The operation indices (in every thread's list) after which each thread's
 * object of one iteration is allocated and written and not yet freed: the
 * moments the false-sharing detector can name the owners of the bytes
 * (it knows live blocks only, and every block is freed by the end).
 */
export function cacheSnapshotOps(bench: CacheBench, cpus: number, s: CacheSizes): ReadonlySet<number> {
  const passes = Math.floor((s.repetitions ?? 256) / cpus);
  const base = bench === "cache-scratch" || bench === "passive-false" ? 1 : 0;
  const out = new Set<number>();
  for (let i = 0; i < (s.iterations ?? 32); i++) out.add(base + i * (passes + 2) + passes);
  return out;
}

/** Falsely shared lines seen at the snapshots, by kind, each line counted once per kind. */
export class FalseSharingSamples {
  private readonly seen = { active: new Set<number>(), passive: new Set<number>(), other: new Set<number>() };

  /** Classifies the lines the detector reports now on `m` (booted with the cache model and user allocation sites). */
  take(m: Machine): void {
    const model = m.kernel.smp.cache;
    if (model === null) throw new Error("FalseSharingSamples: the machine was booted without the cache option");
    for (const e of falseSharingEntries(model.falseSharing.report(), m.allocSites)) {
      const kind = e.kind === "active" || e.kind === "passive" ? e.kind : "other";
      this.seen[kind].add(e.pa);
    }
  }

  /** The run's figures: these lines and the cache model's totals. Throws Error when `m` has no cache model. */
  figures(m: Machine): CacheFigures {
    const model = m.kernel.smp.cache;
    if (model === null) throw new Error("FalseSharingSamples: the machine was booted without the cache option");
    const t = model.totals();
    return {
      activeLines: this.seen.active.size,
      passiveLines: this.seen.passive.size,
      otherLines: this.seen.other.size,
      d1Misses: t.d1mr + t.d1mw,
      invalidations: t.invalidations,
    };
  }
}
