import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Operation, Program, Schedule } from "../../../kernel/sched.ts";
import type { Thread } from "../../../kernel/thread.ts";
import { Machine } from "../../../sim/index.ts";
import { createHoard, type Hoard, type HoardOptions } from "../../../userspace/alloc/hoard.ts";

const S = 65536;
/** Block capacity of a superblock of 64-byte blocks: (65536 - 64) / 64 = 1023 blocks of 64 bytes. */
const CAP64 = 1023 * 64;

/** A machine of `cpus` CPUs, a process with one thread per CPU (thread i on CPU i), and Hoard in it. */
function setup(cpus: number, opts: HoardOptions = {}) {
  const m = Machine.boot({ ramBytes: 64 << 20, cpus, seed: 1 });
  const p = m.spawn("app");
  const threads: Thread[] = [p.threads[0] as Thread];
  for (let i = 1; i < cpus; i++) threads.push(p.spawnThread(`t${i}`, { stackBytes: 4096 }) as Thread);
  return { m, p, threads, a: createHoard(p, opts) };
}

function totalSuperblocks(a: Hoard): number {
  return a.heapCounts().reduce((n, h) => n + h.superblocks, 0);
}

/**
 * Producer/consumer rounds across `cpus` CPUs: in round r the thread on CPU
 * r mod P allocates `blocks` 64-byte blocks (batches of 100 per operation)
 * and the thread on the next CPU frees them all. Returns the most
 * superblocks mapped at any step and the most bytes in use (sum of u_i),
 * the checker run after every step.
 */
function producerConsumer(cpus: number, rounds: number, blocks: number, opts: HoardOptions) {
  const { m, threads, a } = setup(cpus, opts);
  const ops: Operation[][] = threads.map(() => []);
  const steps: Array<readonly [number, number]> = [];
  const batches: number[][] = [];
  for (let r = 0; r < rounds; r++) {
    const prod = r % cpus;
    const cons = (r + 1) % cpus;
    for (let b = 0; b < blocks / 100; b++) {
      (ops[prod] as Operation[]).push(() => batches.push(Array.from({ length: 100 }, () => a.malloc(64))));
      steps.push([prod, prod]);
    }
    for (let b = 0; b < blocks / 100; b++) {
      (ops[cons] as Operation[]).push(() => {
        for (const x of batches.shift() ?? []) a.free(x, 64);
      });
      steps.push([cons, cons]);
    }
  }
  let maxSb = 0;
  let peakU = 0;
  const programs: Program[] = threads.map((t, i) => ({ thread: t, ops: ops[i] as Operation[] }));
  const schedule: Schedule = { kind: "explicit", steps };
  m.run(programs, {
    schedule,
    afterStep: () => {
      a.check();
      maxSb = Math.max(maxSb, totalSuperblocks(a));
      peakU = Math.max(
        peakU,
        a.heapCounts().reduce((u, h) => u + h.usedBytes, 0),
      );
    },
  });
  return { maxSb, peakU, final: totalSuperblocks(a), heaps: a.heapCounts() };
}

describe("Hoard's per-CPU heaps", () => {
  it("a thread allocates from its CPU's heap; a free from another CPU goes back to the owner, which gives the emptied superblock to the global heap", () => {
    const { m, threads, a } = setup(2, { heaps: 2 });
    let x = 0;
    let y = 0;
    m.run(
      [
        { thread: threads[0] as Thread, ops: [() => (x = a.malloc(16))] },
        { thread: threads[1] as Thread, ops: [() => (y = a.malloc(16)), () => a.free(x, 16)] },
      ],
      { schedule: { kind: "explicit", steps: [0, 1, 1] }, afterStep: () => a.check() },
    );
    // Two superblocks, one per heap; x's (heap 1, CPU 0's) emptied by CPU 1's free: u 0 < (1 - 1/4) a, so it
    // moved to the global heap's empty list. Heap 2 keeps y: u 16, a = 4092 blocks x 16 = 65472.
    expect(y - (y % S)).not.toBe(x - (x % S));
    expect(a.heapCounts()).toEqual([
      { usedBytes: 0, capacityBytes: 65472, superblocks: 1 },
      { usedBytes: 0, capacityBytes: 0, superblocks: 0 },
      { usedBytes: 16, capacityBytes: 65472, superblocks: 1 },
    ]);
    // The next CPU 0 malloc takes the global heap's superblock back instead of mapping one.
    const heap = a.stats().heapBytes;
    m.run([{ thread: threads[0] as Thread, ops: [() => a.malloc(32)] }]);
    expect(a.stats().heapBytes).toBe(heap);
    expect(a.heapCounts().map((h) => h.superblocks)).toEqual([0, 1, 1]);
    a.check();
  });

  it("each heap's mutex is taken: mallocs on two CPUs into two heaps never wait, a free into the other CPU's heap does", () => {
    const { m, threads, a } = setup(2, { heaps: 2 });
    const xs: number[] = [];
    m.run(
      [
        { thread: threads[0] as Thread, ops: [() => xs.push(a.malloc(16)), () => xs.push(a.malloc(16))] },
        { thread: threads[1] as Thread, ops: [() => xs.push(a.malloc(16)), () => a.free(xs[0] as number, 16)] },
      ],
      { schedule: { kind: "explicit", steps: [0, 1, 0, 1] } },
    );
    const mutex = m.kernel.locks.classes.find((c) => c.name === "pthread_mutex");
    // The first malloc of each heap also takes the global heap's mutex (a new superblock): 3 + 3 + 1 acquisitions;
    // the cross-CPU free waits for CPU 0's second malloc on heap 1's mutex: 1 contention.
    expect([mutex?.acquisitions, mutex?.contentions]).toEqual([7, 1]);
  });
});

describe("Hoard's blowup bound", () => {
  // Bound checked (K = 0, one size class, P CPUs): a_total <= U_peak / (1 - f) + (P + 1) superblocks. Why: a
  // superblock is mapped only when the heap has no free block of the class and the global heap has no
  // superblock to give, so then every global superblock is full, each per-CPU heap holds at most
  // u_i / (1 - f) after its last free (the invariant, or no superblock f empty) plus one superblock its mallocs
  // fetched since, and the new one is one more. Moves between heaps keep the total; only mapping adds.
  it("producer/consumer over 4 CPUs: Hoard stays within U/(1-f) + (P+1) superblocks; heaps that never give back hold P times as much", () => {
    const hoard = producerConsumer(4, 8, 3000, {});
    const never = producerConsumer(4, 8, 3000, { release: "never" });
    // 3000 blocks of 64 bytes live at the peak: U = 192000 bytes, 3 superblocks' worth (1023 blocks each).
    expect(hoard.peakU).toBe(192000);
    const bound = Math.floor(hoard.peakU / (0.75 * CAP64)) + 4 + 1;
    expect(bound).toBe(8);
    expect(hoard.maxSb).toBeLessThanOrEqual(bound);
    // In fact never more than the live blocks need: ceil(3000 / 1023) = 3 (emptied superblocks go to the global heap,
    // which keeps one and unmaps the rest; the next producer fetches or maps).
    expect(hoard.maxSb).toBe(3);
    // Without the invariant each producer's heap keeps its 3 superblocks after they empty: 4 heaps x 3.
    expect(never.maxSb).toBe(12);
    expect(never.heaps.map((h) => h.superblocks)).toEqual([0, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });
});

describe("Hoard's checker on the heaps", () => {
  // With heaps: 1 the root is the whole brk heap: 64 (R_OWN) + 24 + 2 records x (32 + 36 classes x 5 groups x 8 = 1472)
  // = 3032 bytes, rounded to 3040. Heap 1's record is at root + 88 + 1472; u_i at +8, "last op was a free" at +28.
  const HEAP1 = 64 + 24 + 1472;

  it("HOARD-10: a heap's u_i that its superblocks contradict", () => {
    const { p, a } = setup(1, { heaps: 1 });
    const x = a.malloc(16);
    const root = p.sys.brk(0) - 3040;
    expect(p.mem.read32(root + HEAP1 + 8)).toBe(16);
    p.mem.write32(root + HEAP1 + 8, 48);
    expect(() => a.check()).toThrow(/^HOARD-10:/);
    p.mem.write32(root + HEAP1 + 8, 16);
    a.free(x, 16);
    a.check();
  });

  it("HOARD-11: a heap marked as last freed from that breaks the invariant while a superblock is f empty", () => {
    const { p, a } = setup(1, { heaps: 1 });
    a.malloc(16);
    // After a malloc the invariant is not owed: u 16 < 0.75 x 65472, but the last operation was no free.
    a.check();
    const root = p.sys.brk(0) - 3040;
    p.mem.write32(root + HEAP1 + 28, 1);
    expect(() => a.check()).toThrow(/^HOARD-11:/);
  });
});

describe("Hoard on 4 CPUs against a model (fast-check)", () => {
  // A command: a CPU and either a malloc of 1..3000 bytes or a free of the n-th live block (any CPU's).
  const command = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.constant(-1)), fc.nat());
  // f is 1/8, 1/4 or 1/2 (f4 / 8 with f4 in 1, 2, 4); K is 1 when f = 1/2, else 0.

  it("blocks never overlap, keep their bytes, and the checker (invariant included) holds after every step", () => {
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 120 }), fc.constantFrom(1, 2, 4), (cmds, f4) => {
        const { m, threads, a } = setup(4, { superblockBytes: 8192, slackSuperblocks: f4 === 4 ? 1 : 0, emptyFraction: f4 / 8 });
        const live: Array<{ p: number; size: number; tag: number }> = [];
        const ops: Operation[][] = threads.map(() => []);
        const steps: Array<readonly [number, number]> = [];
        let tag = 0;
        for (const [cpu, size, pick] of cmds) {
          (ops[cpu] as Operation[]).push(() => {
            if (size > 0 || live.length === 0) {
              const n = Math.max(size, 1);
              const p = a.malloc(n);
              expect(p % 16).toBe(0);
              a.proc.mem.write32(p, ++tag);
              live.push({ p, size: n, tag });
            } else {
              const [b] = live.splice(pick % live.length, 1);
              if (b === undefined) return;
              expect(a.proc.mem.read32(b.p)).toBe(b.tag);
              a.free(b.p, b.size);
            }
          });
          steps.push([cpu, cpu]);
        }
        m.run(
          threads.map((t, i) => ({ thread: t, ops: ops[i] as Operation[] })),
          {
            schedule: { kind: "explicit", steps },
            afterStep: () => {
              a.check();
              const sorted = [...live].sort((x, y) => x.p - y.p);
              for (let i = 1; i < sorted.length; i++) {
                const prev = sorted[i - 1] as { p: number; size: number };
                expect((sorted[i] as { p: number }).p).toBeGreaterThanOrEqual(prev.p + prev.size);
              }
            },
          },
        );
      }),
      { numRuns: 20, seed: 17 },
    );
  });
});
