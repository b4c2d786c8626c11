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
 * Each replay calls p.libc's malloc, free and realloc in a fresh process of
 * one machine booted with the default options, so every heap access goes
 * through the MMU and every first touch is a page fault; the process exits
 * after the replay. When the host has a C compiler, the same trace replayed
 * by the host's glibc (sim/bench/native/replay.c) is a second baseline
 * (target: memsim >= 0.25x its speed). The traces are read by sim/trace.
 */
import { MemPool } from "@thi.ng/malloc";
import type { Malloc } from "../../../userspace/malloc/malloc.ts";
import { Machine } from "../../machine.ts";
import { readMalloclab } from "../../trace/malloclab.ts";
import { OP_ALLOC, OP_FREE, OP_REALLOC, type Trace } from "../../trace/trace.ts";
import { addTarget, type BenchCase, cpuNs, timeIt } from "../harness.ts";
import { NATIVE_ENV, nativeNsPerOp } from "../native.ts";

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

/**
 * Replays `t` once through p.libc (malloc, free, realloc) on a fresh process
 * of a machine booted with the default options; the process exits after.
 */
function replayMalloc(t: Trace, ptrs: Float64Array): MallocRun {
  machine ??= Machine.boot({ ramBytes: 256 << 20, seed: 1 });
  const proc = machine.spawn(t.name);
  const libc = proc.libc;
  const { kind, id, size } = t;
  for (let i = 0; i < t.numOps; i++) {
    const k = kind[i] as number;
    const b = id[i] as number;
    if (k === OP_ALLOC) ptrs[b] = libc.malloc(size[i] as number);
    else if (k === OP_REALLOC) ptrs[b] = libc.realloc(ptrs[b] as number, size[i] as number);
    else if (b >= 0) libc.free(ptrs[b] as number);
  }
  const run = { peakHeap: (libc.heap as Malloc).peakHeapBytes(), syscalls: libc.syscalls, faults: proc.minflt };
  proc.exit(0);
  return run;
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

function traceCase(t: Trace): BenchCase {
  const ptrs = new Float64Array(t.numIds);
  let last: MallocRun | undefined;
  let mallocNs = 0;
  return {
    name: `malloc: ${t.name} replay through p.libc (per op) [default config]`,
    ops: t.numOps * 4,
    setup() {
      mallocNs = Number.POSITIVE_INFINITY;
      return (ops) => {
        const t0 = cpuNs();
        let done = 0;
        for (; done < ops; done += t.numOps) last = replayMalloc(t, ptrs);
        mallocNs = Math.min(mallocNs, (cpuNs() - t0) / done);
      };
    },
    report(r) {
      // Interleaved rounds, fastest of each (best of 3), so that a change of machine load hits both sides.
      let thingNs = Number.POSITIVE_INFINITY;
      for (let round = 0; round < 3; round++) {
        mallocNs = Math.min(
          mallocNs,
          timeIt((ops) => replayN(ops, t.numOps, () => replayMalloc(t, ptrs)), t.numOps * 2, 1),
        );
        thingNs = Math.min(
          thingNs,
          timeIt((ops) => replayN(ops, t.numOps, () => replayThing(t, pool(), ptrs)), t.numOps, 1),
        );
      }
      const exe = process.env[NATIVE_ENV];
      const nativeNs = exe === undefined ? null : nativeNsPerOp(exe, t, 3, "warm");
      const coldNs = exe === undefined ? null : nativeNsPerOp(exe, t, 3, "cold");
      const run = last ?? replayMalloc(t, ptrs);
      const util = peakPayload(t) / run.peakHeap;
      r.data = { util, mallocNs, thingNs, nativeNs: nativeNs ?? 0, coldNs: coldNs ?? 0, ops: t.numOps };
      const native =
        nativeNs === null || coldNs === null
          ? "native glibc skipped (no cc)"
          : `native glibc warm ${fmtK(nativeNs)} Kops/s: ${(nativeNs / mallocNs).toFixed(2)}x (cold ${fmtK(coldNs)} Kops/s)`;
      return (
        `${fmtK(mallocNs)} Kops/s vs @thi.ng/malloc ${fmtK(thingNs)} Kops/s: ${(thingNs / mallocNs).toFixed(1)}x; ${native}; ` +
        `util ${(100 * util).toFixed(1)} %; per replay ${run.syscalls} syscalls, ${run.faults} page faults`
      );
    },
  };
}

/** The closing line: mean utilisation and throughput over all traces (total ops / total time, as mdriver counts). */
function summaryCase(traces: Trace[]): BenchCase {
  return {
    name: `malloc: ${traces.length} CS:APP traces through p.libc (summary) [default config]`,
    ops: 0,
    setup: () => () => {},
    aggregate(results, r) {
      const rows = results
        .filter((x) => x.name.startsWith("malloc: ") && x.data !== undefined)
        .map((x) => x.data as Record<string, number>);
      const n = rows.length;
      if (n === 0) return "no trace cases ran (filtered out)";
      const sum = (f: (d: Record<string, number>) => number) => rows.reduce((s, d) => s + f(d), 0);
      const ops = sum((d) => d.ops as number);
      const mallocSecs = sum((d) => (d.ops as number) * (d.mallocNs as number));
      const thingSecs = sum((d) => (d.ops as number) * (d.thingNs as number));
      const nativeSecs = sum((d) => (d.ops as number) * (d.nativeNs as number));
      const coldSecs = sum((d) => (d.ops as number) * (d.coldNs as number));
      const haveNative = rows.every((d) => (d.nativeNs as number) > 0 && (d.coldNs as number) > 0);
      const util = sum((d) => d.util as number) / n;
      const vsThing = thingSecs / mallocSecs;
      addTarget(r, "mean utilisation", util, ">=", 0.9);
      addTarget(r, "throughput / @thi.ng/malloc's", vsThing, ">=", 10);
      const parts = [
        `mean util ${(100 * util).toFixed(1)} % (target >= 90 %)`,
        `${fmtK(mallocSecs / ops)} Kops/s vs @thi.ng/malloc ${fmtK(thingSecs / ops)} Kops/s: ${vsThing.toFixed(1)}x (target >= 10x${vsThing < 10 ? ", MISSED" : ""})`,
      ];
      if (haveNative) {
        const vsNative = nativeSecs / mallocSecs;
        addTarget(r, "throughput / native glibc's", vsNative, ">=", 0.25);
        parts.push(
          `vs native glibc, warm, ${fmtK(nativeSecs / ops)} Kops/s: ${vsNative.toFixed(2)}x (target >= 0.25x${vsNative < 0.25 ? ", MISSED" : ""}; ` +
            `cold, host page faults included, ${fmtK(coldSecs / ops)} Kops/s: ${(coldSecs / mallocSecs).toFixed(2)}x)`,
        );
      } else {
        parts.push("vs native glibc: skipped (no C compiler)");
      }
      return parts.join("; ");
    },
  };
}

const TRACES = readMalloclab();

export const MALLOC_CASES: readonly BenchCase[] = TRACES.length === 0 ? [] : [...TRACES.map(traceCase), summaryCase(TRACES)];
