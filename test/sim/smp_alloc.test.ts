import { describe, expect, it } from "vitest";
import { smpSection } from "../../sim/cli/report/smp_section.ts";
import { PAPER_HOARD, runSmpAlloc, speedupCurves } from "../../sim/smp_alloc.ts";
import { formatSmpTable, smpTableData } from "../../sim/smp_table.ts";

const SMALL = { objects: 512, rounds: 2, slots: 128, steps: 1024 };

describe("Hoard's benchmarks on simulated CPUs", () => {
  it("threadtest: the single-lock allocators stay near 1x at 8 CPUs, Hoard scales", () => {
    const [malloc, firstfit, hoard] = speedupCurves("threadtest", ["locked-malloc", "locked-firstfit", PAPER_HOARD], [1, 8], SMALL);
    // Shape first: one lock serialises every call (each holds it for its whole length), Hoard's per-CPU heaps do not.
    expect(malloc?.speedup[1]).toBeLessThan(1.2);
    expect(firstfit?.speedup[1]).toBeLessThan(1.2);
    expect(hoard?.speedup[1]).toBeGreaterThan(4);
    // Pinned for seed 1 (computed by this code, then fixed): any change of the cost model or the allocators shows here.
    // locked-malloc: one arena (M_ARENA_MAX 1) whose threads have tcaches since issue 17 (0.9488 before)
    expect(malloc?.speedup[1]).toBeCloseTo(0.9579, 4);
    expect(firstfit?.speedup[1]).toBeCloseTo(1.0064, 4);
    expect(hoard?.speedup[1]).toBeCloseTo(5.3126, 4);
  });

  it("larson: the single-lock free list does not scale, Hoard does despite frees into other CPUs' heaps", () => {
    // The bench's own sizes (512 slots per thread, 4096 steps): smaller working sets leave Hoard's heaps
    // trading superblocks with the global heap on most frees.
    const [firstfit, hoard] = speedupCurves("larson", ["locked-firstfit", PAPER_HOARD], [1, 8]);
    expect(firstfit?.speedup[1]).toBeLessThan(1.2);
    expect(hoard?.speedup[1]).toBeGreaterThan(3);
    expect(firstfit?.speedup[1]).toBeCloseTo(0.627, 4);
    expect(hoard?.speedup[1]).toBeCloseTo(4.1999, 4);
  });

  it("cache-thrash's loop: per thread, iterations x (malloc, repetitions / P passes, free); the scratch loops add one free", () => {
    // 2 CPUs, 3 iterations, 4 repetitions: 4 / 2 = 2 passes each, so a thread runs 3 x (1 + 2 + 1) = 12 operations, 24 in all;
    // cache-scratch and passive-false first free the object CPU 0 handed over: 13 each, 26 in all.
    const tiny = { iterations: 3, repetitions: 4 };
    expect(runSmpAlloc("cache-thrash", "locked-firstfit", 2, tiny).ops).toBe(24);
    expect(runSmpAlloc("active-false", PAPER_HOARD, 2, tiny).ops).toBe(24);
    expect(runSmpAlloc("cache-scratch", "locked-malloc", 2, tiny).ops).toBe(26);
    expect(runSmpAlloc("passive-false", PAPER_HOARD, 2, tiny).ops).toBe(26);
    // 5 repetitions on 2 CPUs round down to 2 passes, as the original's integer division does.
    expect(runSmpAlloc("cache-thrash", "locked-firstfit", 2, { iterations: 3, repetitions: 5 }).ops).toBe(24);
  });

  it("cache-scratch: the cache model's misses slow the single lock's passes, Hoard's per-CPU superblocks scale further", () => {
    const [firstfit, hoard] = speedupCurves("cache-scratch", ["locked-firstfit", PAPER_HOARD], [1, 8], { iterations: 16 });
    expect(firstfit?.speedup[1]).toBeLessThan(hoard?.speedup[1] as number);
    // Pinned for seed 1 (computed by this code, then fixed).
    expect(firstfit?.speedup[1]).toBeCloseTo(5.2387, 4);
    expect(hoard?.speedup[1]).toBeCloseTo(6.5191, 4);
    expect(firstfit?.cache[1]).toEqual({ activeLines: 4, passiveLines: 4, otherLines: 0, d1Misses: 5223, invalidations: 5210 });
    expect(hoard?.cache[1]).toEqual({ activeLines: 0, passiveLines: 0, otherLines: 2, d1Misses: 626, invalidations: 300 });
  });

  it("false sharing, two CPUs, one object each: first fit puts both in one line (active), Hoard's heaps do not", () => {
    // One iteration, one pass each. Round-robin: CPU 0 mallocs A, CPU 1 mallocs B (first fit: the next chunk,
    // in A's line), each writes its byte; the sample after the passes sees both live blocks, one line, active.
    const tiny = { iterations: 1, repetitions: 2 };
    const ff = runSmpAlloc("cache-thrash", "locked-firstfit", 2, tiny).cache;
    expect([ff?.activeLines, ff?.passiveLines, ff?.otherLines]).toEqual([1, 0, 0]);
    // Each CPU's heap has its own 8 KiB superblock: A and B are pages apart.
    const h = runSmpAlloc("cache-thrash", PAPER_HOARD, 2, tiny).cache;
    expect([h?.activeLines, h?.passiveLines, h?.otherLines]).toEqual([0, 0, 0]);
    // On one CPU nothing is shared and no line is ever invalidated.
    expect(runSmpAlloc("cache-thrash", "locked-firstfit", 1, tiny).cache?.invalidations).toBe(0);
    // Pinned (computed by this code): the misses and invalidations of the headers and the two bytes.
    expect([ff?.d1Misses, ff?.invalidations, h?.d1Misses, h?.invalidations]).toEqual([23, 13, 281, 5]);
  });

  it("passive false sharing: first fit hands CPU 0's freed neighbour to CPU 1, Hoard returns it to CPU 0's superblock", () => {
    // CPU 0 mallocs H0 and H1 (adjacent) before the run; CPU 0 frees H0, CPU 1 frees H1; CPU 0 mallocs and first fit
    // gives it H0 back (its own block), CPU 1 gets H1, a block CPU 0 allocated: both write their byte of the line.
    const tiny = { iterations: 1, repetitions: 2 };
    const ff = runSmpAlloc("passive-false", "locked-firstfit", 2, tiny).cache;
    expect([ff?.activeLines, ff?.passiveLines, ff?.otherLines]).toEqual([0, 1, 0]);
    // Hoard: H1 goes back to its superblock in CPU 0's heap; CPU 1 mallocs from its own.
    const h = runSmpAlloc("passive-false", PAPER_HOARD, 2, tiny).cache;
    expect([h?.activeLines, h?.passiveLines, h?.otherLines]).toEqual([0, 0, 0]);
  });

  it("active-false on 4 CPUs: both single-lock allocators share lines between CPUs, Hoard none", () => {
    const s = { iterations: 8, repetitions: 16 };
    // Pinned for seed 1 (computed by this code): the shape is active > 0 for one lock, 0 for Hoard.
    // locked-malloc is one arena behind a lock, but each thread keeps its own tcache, so most freed
    // objects come back to the thread that freed them: 1 line shared (8 before the tcache).
    expect(runSmpAlloc("active-false", "locked-malloc", 4, s).cache?.activeLines).toBe(1);
    expect(runSmpAlloc("active-false", "locked-firstfit", 4, s).cache?.activeLines).toBe(2);
    const h = runSmpAlloc("active-false", PAPER_HOARD, 4, s).cache;
    expect([h?.activeLines, h?.passiveLines]).toEqual([0, 0]);
  });

  it("bench smp's table and JSON fields: a speedup row per allocator, then the cache figures of each CPU count", () => {
    // The two-CPU tiny case above: 1 active line, 23 misses, 13 invalidations; one CPU: 4 misses, none invalidated.
    const curves = speedupCurves("cache-thrash", ["locked-firstfit"], [1, 2], { iterations: 1, repetitions: 2 });
    expect(formatSmpTable("cache-thrash", curves)).toEqual([
      "cache-thrash                     1 CPU  2 CPUs",
      "  locked-firstfit speedup        1.00x   1.32x",
      "    false-shared lines active        0       1",
      "    false-shared lines passive       0       0",
      "    L1 misses                        4      23",
      "    invalidations                    0      13",
    ]);
    const data = smpTableData("cache-thrash", curves);
    expect([data["cache-thrash/locked-firstfit/2/activeLines"], data["cache-thrash/locked-firstfit/2/invalidations"]]).toEqual([1, 13]);
    expect(data["cache-thrash/locked-firstfit/2/speedup"]).toBeCloseTo(1.3201, 4);
    // threadtest has no cache model: speedups only.
    expect(formatSmpTable("threadtest", speedupCurves("threadtest", ["locked-firstfit"], [1], { objects: 8, rounds: 1 }))).toEqual([
      "threadtest                       1 CPU",
      "  locked-firstfit speedup        1.00x",
    ]);
  });

  it("a run is deterministic, the single lock's waits are all pthread_mutex, and the checkers hold after every operation", () => {
    const a = runSmpAlloc("larson", "locked-firstfit", 4, SMALL);
    expect(runSmpAlloc("larson", "locked-firstfit", 4, SMALL)).toEqual(a);
    expect(Object.keys(a.waitNsByClass)).toEqual(["pthread_mutex"]);
    expect(a.cache).toBeNull();
    const c = runSmpAlloc("passive-false", "locked-malloc", 4, { iterations: 4, repetitions: 8 });
    expect(runSmpAlloc("passive-false", "locked-malloc", 4, { iterations: 4, repetitions: 8 })).toEqual(c);
    // The checkers read the heap through the MMU (they move the clock), so these runs only have to pass them.
    const tiny = { objects: 256, rounds: 1, slots: 32, steps: 256 };
    runSmpAlloc("larson", "locked-firstfit", 4, tiny, "every step");
    runSmpAlloc("larson", PAPER_HOARD, 4, tiny, "every step");
    runSmpAlloc("threadtest", PAPER_HOARD, 4, tiny, "every step");
    runSmpAlloc("cache-scratch", PAPER_HOARD, 4, { iterations: 4, repetitions: 8 }, "every step");
    runSmpAlloc("passive-false", "locked-malloc", 4, { iterations: 4, repetitions: 8 }, "every step");
  });

  it("report --smp draws a speedup line per allocator and the ideal, false-shared bars for cache benchmarks only", () => {
    // The tiny two-CPU cache-thrash of the table test: first fit 1 active line at 2 CPUs, Hoard none.
    const cache = speedupCurves("cache-thrash", ["locked-firstfit", PAPER_HOARD], [1, 2], { iterations: 1, repetitions: 2 });
    // threadtest's curve made by hand: 10 ops/s on one CPU, 15 on two, so 1.5x.
    const plain = [{ allocator: "x", cpus: [1, 2], opsPerSec: [10, 15], speedup: [1, 1.5], cache: [null, null] }];
    const html = smpSection([
      { bench: "cache-thrash", curves: cache },
      { bench: "threadtest", curves: plain },
    ]);
    // Lines: first fit, Hoard and the ideal for cache-thrash; x and the ideal for threadtest.
    expect(html.match(/<polyline/g)?.length).toBe(5);
    expect(html).toContain("<title>x at 2: 1.50x</title>");
    expect(html).toContain("<title>ideal at 2: 2.00x</title>");
    // One bar chart (cache-thrash's), a bar per allocator and CPU count, active + passive lines in each title.
    expect(html.match(/falsely shared lines \(active \+ passive\)"/g)?.length).toBe(1);
    expect(html).toContain("<title>locked-firstfit, 2 CPUs: 1</title>");
    expect(html).toContain("<title>hoard, 2 CPUs: 0</title>");
    // The bench's table under the charts.
    expect(html).toContain("    false-shared lines active        0       1");
  });
});
