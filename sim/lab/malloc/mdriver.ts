/**
 * The malloc lab's mdriver: a student's mm.ts (mm_init, mm_malloc, mm_free,
 * mm_realloc over a MemLib) run as an Allocator of the trace driver
 * (sim/trace/replay.ts), which checks every payload (16-byte aligned,
 * inside the heap, no overlap, bytes kept, realloc keeps the data) and
 * measures utilisation. Throughput comes from the machine's cost clock
 * (m.clock, simulated nanoseconds), never the wall clock, so the
 * performance index is the same on every computer.
 *
 * The lab's constants (mdriver's config.h, chosen for memsim):
 *   UTIL_WEIGHT = 0.6: the index is 60 * mean util + 40 * min(1, thru / THRU_TARGET);
 *   THRU_TARGET = 1,200 Kops per simulated second (the reference solution, an
 *   explicit free list, reaches 1,305; an implicit list about a third of it).
 */
import type { Allocator } from "../../../userspace/alloc/allocator.ts";
import type { UserProcess } from "../../../userspace/env.ts";
import { Machine } from "../../machine.ts";
import { readMalloclab } from "../../trace/malloclab.ts";
import { replayCalls, replayTrace, type TraceResult } from "../../trace/replay.ts";
import type { Trace } from "../../trace/trace.ts";
import { MemLib, processHost } from "./memlib.ts";

/** What a malloc-lab submission (mm.ts) exports. */
export interface MallocSubmission {
  readonly mm_init: (lib: MemLib) => number;
  readonly mm_malloc: (size: number) => number;
  readonly mm_free: (ptr: number) => void;
  readonly mm_realloc: (ptr: number, size: number) => number;
}

export const UTIL_WEIGHT = 0.6;
/** Operations per simulated second that earn the whole throughput share. */
export const THRU_TARGET = 1_200_000;
/** RAM of the lab's machine: the 20 MiB heap limit fits with room to spare. */
const RAM = 64 << 20;

/** The student's mm as the trace driver's Allocator, in `proc`; mm_init runs first. */
function mmAllocator(sub: MallocSubmission, proc: UserProcess): Allocator {
  const lib = new MemLib(processHost(proc));
  if (sub.mm_init(lib) < 0) throw new Error("mm_init returned -1");
  let live = 0;
  return {
    name: "mm",
    proc,
    malloc: (n) => sub.mm_malloc(n),
    free: (p) => sub.mm_free(p),
    realloc: (p, _old, n) => sub.mm_realloc(p, n),
    check: () => {},
    stats: () => ({ heapBytes: lib.mem_heapsize(), peakHeapBytes: (live = Math.max(live, lib.mem_heapsize())), liveBytes: 0, syscalls: 0 }),
  };
}

/** One trace's row: mdriver's checks and util, and throughput on the cost clock. */
export interface MdriverRow extends TraceResult {
  /** Simulated nanoseconds of the timed run (mm_init and the trace's calls). */
  ns: number;
}

/** The lab machine: 64 MiB, seed 1, no debug checks beyond the default. */
export function mallocMachine(): Machine {
  return Machine.boot({ ramBytes: RAM, seed: 1 });
}

/** Runs trace `t` like mdriver: the checked run (correctness, util), then a timed run on m.clock. */
export function runTrace(sub: MallocSubmission, t: Trace, m: Machine = mallocMachine()): MdriverRow {
  let n = 0;
  const spawn = () => m.spawn(`mdriver${n++}`);
  const release = (p: UserProcess) => {
    const q = p as ReturnType<typeof spawn>;
    if (q.state === "running") q.exit(0);
  };
  const r = replayTrace(t, { allocator: (p) => mmAllocator(sub, p), spawn, release, timedRuns: 0, checkHeap: "never" });
  const row: MdriverRow = { ...r, ns: 0 };
  if (!r.valid) return row;
  const p = spawn();
  try {
    const t0 = m.clock.now();
    const a = mmAllocator(sub, p);
    replayCalls(t, a, new Float64Array(t.numIds), new Float64Array(t.numIds));
    row.ns = m.clock.now() - t0;
  } catch (e) {
    row.valid = false;
    row.util = 0;
    row.errors.push(`${t.name}: timed run: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    return row;
  } finally {
    release(p);
  }
  row.secs = row.ns / 1e9;
  row.kops = row.ns > 0 ? t.numOps / row.secs / 1e3 : 0;
  return row;
}

/** The whole run: every row, mean util, throughput, mdriver's index. */
export interface MdriverResult {
  rows: MdriverRow[];
  valid: boolean;
  meanUtil: number;
  ops: number;
  secs: number;
  /** Operations per simulated second over all traces. */
  thru: number;
  utilPoints: number;
  thruPoints: number;
  perfIndex: number;
}

/** Runs the eleven traces (or `traces`) and computes mdriver's totals. */
export function runMdriver(sub: MallocSubmission, traces: readonly Trace[] = readMalloclab()): MdriverResult {
  const m = mallocMachine();
  const rows = traces.map((t) => runTrace(sub, t, m));
  const valid = rows.every((r) => r.valid);
  const meanUtil = rows.reduce((s, r) => s + r.util, 0) / rows.length;
  const ops = rows.reduce((s, r) => s + r.ops, 0);
  const secs = rows.reduce((s, r) => s + r.secs, 0);
  const thru = secs > 0 ? ops / secs : 0;
  const utilPoints = valid ? UTIL_WEIGHT * meanUtil * 100 : 0;
  const thruPoints = valid ? (1 - UTIL_WEIGHT) * Math.min(1, thru / THRU_TARGET) * 100 : 0;
  return { rows, valid, meanUtil, ops, secs, thru, utilPoints, thruPoints, perfIndex: utilPoints + thruPoints };
}

/** mdriver's table: one row per trace, the total, the performance index. */
export function mdriverTable(r: MdriverResult): string[] {
  const lines = ["trace  valid  util     ops      secs(sim)  Kops  name"];
  for (const [i, row] of r.rows.entries()) {
    lines.push(
      `${String(i).padStart(2)}      ${row.valid ? "yes" : " no"}   ${(row.util * 100).toFixed(0).padStart(3)}%  ${String(row.ops).padStart(6)}  ${row.secs.toFixed(6)}  ${row.kops.toFixed(0).padStart(6)}  ${row.name}`,
    );
  }
  lines.push(
    `Total          ${(r.meanUtil * 100).toFixed(0).padStart(3)}%  ${String(r.ops).padStart(6)}  ${r.secs.toFixed(6)}  ${(r.thru / 1e3).toFixed(0).padStart(6)}`,
  );
  lines.push(`Perf index = ${r.utilPoints.toFixed(0)} (util) + ${r.thruPoints.toFixed(0)} (thru) = ${r.perfIndex.toFixed(0)}/100`);
  return lines;
}
