/**
 * SMP benchmarks (issue 17): a TLB hit on another CPU costs what it costs on
 * CPU 0 (the switch rebinds the view; nothing is added per access), what
 * the scheduler adds per operation of `m.run`, and the speedup curves of
 * Hoard's paper benchmarks.
 */
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../../kernel/uapi/mman.ts";
import { Machine } from "../../machine.ts";
import { SMP_ALLOCATORS, SMP_BENCHES, SMP_CPU_COUNTS, speedupCurves } from "../../smp_alloc.ts";
import { formatSmpTable, smpTableData } from "../../smp_table.ts";
import type { BenchCase } from "../harness.ts";

let sink = 0;

/** p.mem.read32 on one touched page, with CPU 2 of 4 running: every access a hit in CPU 2's TLB. */
const userHitCpu2: BenchCase = {
  name: "smp: user read32 through CPU 2's TLB on a 4-CPU machine",
  ops: 10_000_000,
  baseline: "uint32 load",
  target: 2.5,
  setup() {
    const m = Machine.boot({ ramBytes: 64 << 20, seed: 1, cpus: 4 });
    const p = m.spawn("bench");
    const heap = p.sys.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    const mem = p.mem;
    m.kernel.smp.switchTo(2, mem, p.mm.pt.asid);
    mem.write32(heap, 1);
    return (ops) => {
      let x = 0;
      for (let i = 0; i < ops; i++) x ^= mem.read32(heap + ((i * 28) & 4092));
      sink ^= x;
    };
  },
};

/** m.run of two threads' one-store operations, random schedule: the scheduler's cost per operation. */
const runStep: BenchCase = {
  name: "smp: m.run, one operation (a store) scheduled on 4 CPUs",
  ops: 20_000,
  rounds: 3,
  setup() {
    const m = Machine.boot({ ramBytes: 64 << 20, seed: 1, cpus: 4 });
    const p = m.spawn("bench");
    const t = p.spawnThread("t", { stackBytes: 16384 });
    const heap = p.sys.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p.mem.write32(heap, 1);
    const store = () => p.mem.write32(heap, 2);
    return (ops) => {
      const half = Array.from({ length: ops >> 1 }, () => store);
      m.run(
        [
          { thread: p, ops: half },
          { thread: t ?? p, ops: half },
        ],
        { schedule: { kind: "random", seed: 1 } },
      );
      sink ^= p.mem.read32(heap);
    };
  },
};

/**
 * Hoard's benchmarks (sim/smp_alloc.ts) on 1..16 simulated CPUs: speedup on
 * the cost clock of the default malloc and a free list behind one lock, and
 * of Hoard, and on the cache benchmarks the cache model's false-shared
 * lines, L1 misses and invalidations (sim/smp_table.ts: a table in the
 * text, flat fields in --json's `data`). Nothing is timed on the host: the
 * figures are the clock's.
 */
const speedups: BenchCase = {
  name: "smp: threadtest, larson, cache-thrash/scratch, active/passive-false speedup on 1..16 CPUs, cost clock (figures only)",
  ops: 0,
  setup: () => () => {},
  report: (r) => {
    const lines: string[] = [];
    r.data = {};
    for (const b of SMP_BENCHES) {
      const curves = speedupCurves(b, SMP_ALLOCATORS, SMP_CPU_COUNTS);
      lines.push(...formatSmpTable(b, curves));
      Object.assign(r.data, smpTableData(b, curves));
    }
    return lines.join("\n    ");
  },
};

export const SMP_CASES: readonly BenchCase[] = [userHitCpu2, runStep, speedups];

/** What the cases' loops computed (kept observable). */
export function smpSink(): number {
  return sink;
}
