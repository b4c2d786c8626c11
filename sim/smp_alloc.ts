/**
 * Hoard's benchmarks on simulated CPUs (issue 17): threadtest and larson
 * (Berger et al., ASPLOS 2000, section 5), run with `m.run` on a machine of
 * P CPUs, one thread per CPU, each malloc and free one operation. Time is
 * the cost clock's: every CPU has its timeline, an operation lasts what the
 * clock counted while it ran plus the scheduler's base cost, and waits for
 * the locks it held (an allocator's mutexes, `sys.mutexHold`, and the
 * kernel's). Throughput is operations per simulated second of the slowest
 * CPU; speedup is throughput on P CPUs over throughput on one. Everything
 * is deterministic: same seed, same figures.
 *
 *   threadtest  each of P threads allocates and frees `objects` / P blocks
 *               of 8 bytes in batches of `batch`, for `rounds` rounds: the
 *               total work is fixed, split over the threads
 *   larson      each thread keeps `slots` blocks of 10..100 bytes (seeded)
 *               and replaces a random one per step, for `steps` / P steps;
 *               every `handoff` steps its slots pass to the next thread,
 *               which frees blocks another thread allocated (a server whose
 *               connections move between threads)
 *   cache-thrash, active-false, cache-scratch, passive-false
 *               the Hoard repository's cache-thrash and cache-scratch loops
 *               under their own and the paper's names (sim/smp_cache.ts)
 */
import { Prandom } from "../kernel/lib/random.ts";
import type { Operation, Program } from "../kernel/sched.ts";
import type { Thread } from "../kernel/thread.ts";
import type { Allocator } from "../userspace/alloc/allocator.ts";
import { createHoard } from "../userspace/alloc/hoard.ts";
import { createAllocator } from "../userspace/alloc/index.ts";
import type { UserProcess } from "../userspace/env.ts";
import { Machine } from "./machine.ts";
import {
  type CacheBench,
  type CacheFigures,
  type CacheSizes,
  cacheBenchOps,
  cacheSnapshotOps,
  FalseSharingSamples,
  isCacheBench,
  trackedAllocator,
} from "./smp_cache.ts";

/** The benchmarks. */
export type SmpAllocBench = "threadtest" | "larson" | CacheBench;

/** Sizes of a run (defaults: what `memsim bench smp` uses). */
export interface SmpAllocSizes extends CacheSizes {
  /** threadtest: blocks over all threads per round (default 1024). */
  readonly objects?: number;
  /** threadtest: rounds (default 4). */
  readonly rounds?: number;
  /** threadtest: blocks allocated before they are freed (default 64). */
  readonly batch?: number;
  /** larson: blocks each thread holds (default 512). */
  readonly slots?: number;
  /** larson: replacement steps over all threads (default 4096). */
  readonly steps?: number;
  /** larson: steps between handing the slots to the next thread (default 64). */
  readonly handoff?: number;
  /** Seed of larson's sizes and slot choices, and of the machine (default 1). */
  readonly seed?: number;
}

/** What one run measured. */
export interface SmpAllocRun {
  readonly ops: number;
  /** The slowest CPU's timeline at the end, simulated ns. */
  readonly makespanNs: number;
  /** Simulated ns the CPUs waited for locks. */
  readonly waitNs: number;
  /** Of those, per lock class that waited at all ("pthread_mutex", "&mm->page_table_lock" ...). */
  readonly waitNsByClass: Readonly<Record<string, number>>;
  /** The cache model's figures: cache benchmarks only (their machines boot with `cache`), else null. */
  readonly cache: CacheFigures | null;
}

/** An allocator by registry name, or a name and a maker (a configured one). */
export type AllocatorSpec = string | { readonly name: string; readonly create: (p: UserProcess) => Allocator };

/**
 * The machine, one thread per CPU (thread i on CPU i) and the allocator in
 * the process. A cache benchmark's machine runs the cache model and tracks
 * the user blocks, which the allocator reports (trackedAllocator), so the
 * false-sharing detector can name the kind of each line. A run samples the
 * detector once per iteration, while every thread's object is live.
 */
function machine(
  bench: SmpAllocBench,
  cpus: number,
  allocator: AllocatorSpec,
  seed: number,
): { m: Machine; threads: Thread[]; a: Allocator } {
  const cache = isCacheBench(bench);
  const m = Machine.boot({ ramBytes: 64 << 20, cpus, seed, cache, allocSites: cache ? { sampleBytes: 1, scope: "user" } : null });
  const p = m.spawn("bench");
  const threads: Thread[] = [p.threads[0] as Thread];
  for (let i = 1; i < cpus; i++) {
    const t = p.spawnThread(`t${i}`, { stackBytes: 4096 });
    if (t === null) throw new Error("smp bench: no memory for a thread");
    threads.push(t);
  }
  const a = typeof allocator === "string" ? createAllocator(allocator, p) : allocator.create(p);
  return { m, threads, a: cache ? trackedAllocator(a, m.allocSites, p.pid) : a };
}

/** threadtest's operations for thread `i` of `cpus`. */
function threadtestOps(a: Allocator, cpus: number, s: SmpAllocSizes): Operation[] {
  const per = Math.floor((s.objects ?? 1024) / cpus);
  const batch = Math.min(s.batch ?? 64, per);
  const held: number[] = [];
  const ops: Operation[] = [];
  const alloc = () => held.push(a.malloc(8));
  const free = () => a.free(held.pop() ?? 0, 8);
  for (let r = 0; r < (s.rounds ?? 4); r++) {
    for (let done = 0; done < per; done += batch) {
      const n = Math.min(batch, per - done);
      for (let k = 0; k < n; k++) ops.push(alloc);
      for (let k = 0; k < n; k++) ops.push(free);
    }
  }
  return ops;
}

/** larson's operations for every thread: slot sets that move from thread to thread. */
function larsonOps(a: Allocator, cpus: number, s: SmpAllocSizes): Operation[][] {
  const slots = s.slots ?? 512;
  const per = Math.floor((s.steps ?? 4096) / cpus);
  const handoff = s.handoff ?? 64;
  const rng = new Prandom(s.seed ?? 1);
  // sets[k]: slot set k's blocks and sizes; thread i works on set (i + epoch) mod P.
  const sets = Array.from({ length: cpus }, () => ({ ptr: new Array<number>(slots).fill(0), size: new Array<number>(slots).fill(0) }));
  return Array.from({ length: cpus }, (_, i) => {
    const ops: Operation[] = [];
    for (let k = 0; k < slots; k++) {
      const size = 10 + rng.below(91);
      ops.push(() => {
        const set = sets[i] as { ptr: number[]; size: number[] };
        set.ptr[k] = a.malloc(size);
        set.size[k] = size;
      });
    }
    for (let step = 0; step < per; step++) {
      const k = rng.below(slots);
      const size = 10 + rng.below(91);
      const epoch = Math.floor(step / handoff);
      const set = () => sets[(i + epoch) % cpus] as { ptr: number[]; size: number[] };
      ops.push(() => a.free(set().ptr[k] as number, set().size[k] as number));
      ops.push(() => {
        set().ptr[k] = a.malloc(size);
        set().size[k] = size;
      });
    }
    return ops;
  });
}

/** Each thread's operations for `bench`. */
function benchOps(bench: SmpAllocBench, a: Allocator, cpus: number, s: SmpAllocSizes): Operation[][] {
  if (bench === "larson") return larsonOps(a, cpus, s);
  if (isCacheBench(bench)) return cacheBenchOps(bench, a, cpus, s);
  return Array.from({ length: cpus }, () => threadtestOps(a, cpus, s));
}

/**
 * Runs `bench` with `allocator` on `cpus` CPUs, round-robin, and returns
 * its operations, makespan and lock waits. `check` runs the allocator's
 * checker after every operation (tests). Throws when the allocator
 * reports corruption.
 */
export function runSmpAlloc(
  bench: SmpAllocBench,
  allocator: AllocatorSpec,
  cpus: number,
  sizes: SmpAllocSizes = {},
  check: "every step" | "at the end" = "at the end",
): SmpAllocRun {
  const { m, threads, a } = machine(bench, cpus, allocator, sizes.seed ?? 1);
  const lists = benchOps(bench, a, cpus, sizes);
  const programs: Program[] = threads.map((t, i) => ({ thread: t, ops: lists[i] as Operation[] }));
  const samples = isCacheBench(bench) ? new FalseSharingSamples() : null;
  const snapAt = isCacheBench(bench) ? cacheSnapshotOps(bench, cpus, sizes) : new Set<number>();
  const r = m.run(programs, {
    afterStep: (step) => {
      if (check === "every step") a.check();
      // Round-robin over equal lists: when the last thread has done op k, every thread has.
      if (samples !== null && step.program === cpus - 1 && snapAt.has(step.op)) samples.take(m);
    },
  });
  a.check();
  const waitNsByClass: Record<string, number> = {};
  for (const c of m.kernel.locks.classes) if (c.waitTotal > 0) waitNsByClass[c.name] = c.waitTotal;
  const cache = samples === null ? null : samples.figures(m);
  return { ops: r.steps.length, makespanNs: Math.max(...r.cpuNs), waitNs: m.kernel.locks.waitNs, waitNsByClass, cache };
}

/**
 * Hoard as the paper ran it: 8 KiB superblocks, f = 1/4, K = 4 superblocks
 * of slack per heap (the registry's `hoard` keeps 64 KiB and K = 0).
 */
export const PAPER_HOARD: AllocatorSpec = {
  name: "hoard",
  create: (p) => createHoard(p, { superblockBytes: 8192, slackSuperblocks: 4 }),
};

/**
 * The allocators `memsim bench smp` compares: the default malloc as it is
 * (a tcache and an arena per thread), the same malloc and a free list behind
 * one lock, and Hoard.
 */
export const SMP_ALLOCATORS: readonly AllocatorSpec[] = ["malloc", "locked-malloc", "locked-firstfit", PAPER_HOARD];

/** The benchmarks `memsim bench smp` runs. */
export const SMP_BENCHES: readonly SmpAllocBench[] = [
  "threadtest",
  "larson",
  "cache-thrash",
  "cache-scratch",
  "active-false",
  "passive-false",
];

/** The CPU counts of the curves. */
export const SMP_CPU_COUNTS: readonly number[] = [1, 2, 4, 8, 16];

/** One allocator's speedup curve: throughput on each CPU count over throughput on the first. */
export interface SpeedupCurve {
  readonly allocator: string;
  readonly cpus: readonly number[];
  /** Operations per simulated second at each CPU count. */
  readonly opsPerSec: readonly number[];
  readonly speedup: readonly number[];
  /** The cache model's figures at each CPU count (cache benchmarks; null for the others). */
  readonly cache: ReadonlyArray<CacheFigures | null>;
}

/** Speedup curves of `bench` for each allocator over `cpuCounts` (the first is the base, normally 1). */
export function speedupCurves(
  bench: SmpAllocBench,
  allocators: readonly AllocatorSpec[],
  cpuCounts: readonly number[],
  sizes: SmpAllocSizes = {},
): SpeedupCurve[] {
  return allocators.map((allocator) => {
    const runs = cpuCounts.map((c) => runSmpAlloc(bench, allocator, c, sizes));
    const opsPerSec = runs.map((r) => (r.ops * 1e9) / r.makespanNs);
    const base = opsPerSec[0] as number;
    const name = typeof allocator === "string" ? allocator : allocator.name;
    const cache = runs.map((r) => r.cache);
    return { allocator: name, cpus: cpuCounts, opsPerSec, speedup: opsPerSec.map((t) => t / base), cache };
  });
}
