/**
 * The default malloc on the CS:APP malloc-lab traces (issue 7's targets):
 * per trace, Kops/s of the default malloc replaying it inside a process, the
 * same trace replayed by @thi.ng/malloc on its own ArrayBuffer in this
 * process, their ratio, utilisation (peak live payload / peak brk heap plus
 * mmapped bytes) and the syscalls and page faults behind it; then the
 * summary: mean utilisation (target >= 90 %) and the throughput ratio over
 * all traces, total operations over total time as mdriver counts it (target
 * >= 10x). The timed loops write no payloads.
 *
 * Each replay runs in a fresh process of one machine (debugVm 0), so every
 * heap access goes through the MMU and every first touch is a page fault;
 * the process exits after the replay. The traces are read by sim/trace.
 */
import { MemPool } from "@thi.ng/malloc";
import { createMalloc } from "../../../userspace/malloc/index.ts";
import { Machine } from "../../machine.ts";
import { readMalloclab } from "../../trace/malloclab.ts";
import { replayCalls } from "../../trace/replay.ts";
import { OP_ALLOC, OP_FREE, OP_REALLOC, type Trace } from "../../trace/trace.ts";
import { type BenchCase, timeIt } from "../harness.ts";

/** Peak live payload bytes of a trace. */
function peakPayload(t: Trace): number {
  const sizes = new Float64Array(t.numIds);
  let live = 0;
  let peak = 0;
  for (let i = 0; i < t.numOps; i++) {
    const id = t.id[i] as number;
    if (t.kind[i] === OP_FREE) {
      if (id >= 0) live -= sizes[id] as number;
      continue;
    }
    live += (t.size[i] as number) - (sizes[id] as number);
    sizes[id] = t.size[i] as number;
    peak = Math.max(peak, live);
  }
  return peak;
}

/** What one replay of the default malloc left behind, for the report. */
interface MallocRun {
  peakHeap: number;
  syscalls: number;
  faults: number;
}

let machine: Machine | undefined;

/** Replays `t` once on a fresh process with the default malloc; the process exits after. */
function replayMalloc(t: Trace, ptrs: Float64Array, lens: Float64Array): MallocRun {
  machine ??= Machine.boot({ ramBytes: 256 << 20, debugVm: 0 });
  const proc = machine.spawn(t.name);
  const heap = createMalloc(proc);
  replayCalls(t, heap, ptrs, lens);
  const st = heap.stats();
  proc.exit(0);
  return { peakHeap: st.peakHeapBytes, syscalls: st.syscalls, faults: proc.minflt };
}

/** Replays `t` once with @thi.ng/malloc on `pool` (reset first). */
function replayThing(t: Trace, pool: MemPool, ptrs: Float64Array): void {
  pool.freeAll();
  const { kind, id, size } = t;
  for (let i = 0; i < t.numOps; i++) {
    const k = kind[i] as number;
    const b = id[i] as number;
    if (k === OP_ALLOC) ptrs[b] = pool.malloc(size[i] as number);
    else if (k === OP_REALLOC) ptrs[b] = pool.realloc(ptrs[b] as number, size[i] as number);
    else if (b >= 0) pool.free(ptrs[b] as number);
  }
}

let thingPool: MemPool | undefined;
function pool(): MemPool {
  thingPool ??= new MemPool({ size: 128 << 20, align: 16 });
  return thingPool;
}

const fmtK = (nsPerOp: number) => (1e6 / nsPerOp).toFixed(0);

/** Calls `replay` (one whole trace of `len` operations) until `ops` operations are done. */
function replayN(ops: number, len: number, replay: () => void): void {
  for (let done = 0; done < ops; done += len) replay();
}

/** Per-trace figures shared with the summary case. */
const summary: { util: number; mallocNs: number; thingNs: number; ops: number }[] = [];

function traceCase(t: Trace): BenchCase {
  const ptrs = new Float64Array(t.numIds);
  const lens = new Float64Array(t.numIds);
  let last: MallocRun | undefined;
  let mallocNs = 0;
  return {
    name: `malloc: ${t.name} replay (per op)`,
    ops: t.numOps * 4,
    setup() {
      mallocNs = Number.POSITIVE_INFINITY;
      return (ops) => {
        const t0 = process.hrtime.bigint();
        let done = 0;
        for (; done < ops; done += t.numOps) last = replayMalloc(t, ptrs, lens);
        mallocNs = Math.min(mallocNs, Number(process.hrtime.bigint() - t0) / done);
      };
    },
    report() {
      // Interleaved rounds, fastest of each, so that a change of machine load hits both sides.
      let thingNs = Number.POSITIVE_INFINITY;
      for (let round = 0; round < 3; round++) {
        mallocNs = Math.min(
          mallocNs,
          timeIt((ops) => replayN(ops, t.numOps, () => replayMalloc(t, ptrs, lens)), t.numOps * 2, 1),
        );
        thingNs = Math.min(
          thingNs,
          timeIt((ops) => replayN(ops, t.numOps, () => replayThing(t, pool(), ptrs)), t.numOps, 1),
        );
      }
      const run = last ?? replayMalloc(t, ptrs, lens);
      const util = peakPayload(t) / run.peakHeap;
      summary.push({ util, mallocNs, thingNs, ops: t.numOps });
      return (
        `${fmtK(mallocNs)} Kops/s vs @thi.ng/malloc ${fmtK(thingNs)} Kops/s: ${(thingNs / mallocNs).toFixed(1)}x; ` +
        `util ${(100 * util).toFixed(1)} %; per replay ${run.syscalls} syscalls, ${run.faults} page faults`
      );
    },
  };
}

/** The closing line: mean utilisation and throughput over all traces. */
function summaryCase(traces: Trace[]): BenchCase {
  return {
    name: `malloc: ${traces.length} CS:APP traces (summary, per op)`,
    ops: 1,
    setup: () => () => {},
    report() {
      const n = summary.length;
      if (n === 0) return "no trace cases ran (filtered out)";
      const ops = summary.reduce((s, r) => s + r.ops, 0);
      const mallocSecs = summary.reduce((s, r) => s + r.ops * r.mallocNs, 0);
      const thingSecs = summary.reduce((s, r) => s + r.ops * r.thingNs, 0);
      const util = summary.reduce((s, r) => s + r.util, 0) / n;
      const worst = Math.min(...summary.map((r) => r.thingNs / r.mallocNs));
      const best = Math.max(...summary.map((r) => r.thingNs / r.mallocNs));
      return (
        `mean util ${(100 * util).toFixed(1)} % (target >= 90 %); ${fmtK(mallocSecs / ops)} Kops/s vs @thi.ng/malloc ` +
        `${fmtK(thingSecs / ops)} Kops/s: ${(thingSecs / mallocSecs).toFixed(1)}x (target >= 10x; per trace ${worst.toFixed(1)}x .. ${best.toFixed(1)}x)`
      );
    },
  };
}

const TRACES = readMalloclab();

export const MALLOC_CASES: readonly BenchCase[] = TRACES.length === 0 ? [] : [...TRACES.map(traceCase), summaryCase(TRACES)];
