/**
 * The malloc-lab driver (CS:APP mdriver) for any registered allocator. Each
 * trace is replayed twice in fresh processes:
 *
 * 1. the checked run: every payload must be 16-byte aligned, lie inside the
 *    heap (the brk heap or a mapping the allocator made, as HeapWatch saw
 *    them), overlap no live payload, and keep its bytes: each payload is
 *    filled through the process memory and verified before free and after
 *    realloc (the kept bytes). It also measures utilisation = peak live payload bytes / peak
 *    heap bytes (brk heap plus mapped bytes).
 * 2. the timed run(s): the same calls, no writes, no checks; throughput =
 *    ops / seconds of the fastest run.
 *
 * The first error stops a trace, which is then invalid (util and secs 0,
 * as mdriver reports it).
 */

import type { Allocator } from "../../userspace/alloc/allocator.ts";
import { type AllocatorFactory, createAllocator } from "../../userspace/alloc/index.ts";
import type { UserProcess } from "../../userspace/env.ts";
import { HeapWatch, type SyscallCounts } from "./heap_watch.ts";
import { LiveRanges, PayloadPattern } from "./payload.ts";
import { OP_ALLOC, OP_FREE, type Trace } from "./trace.ts";

/** mdriver's config.h: libc's throughput on the reference machine, and the weight of utilisation. */
export const AVG_LIBC_THRUPUT = 600e3;
export const UTIL_WEIGHT = 0.6;

/** How to replay. */
export interface ReplayOptions {
  /** A registered allocator name, or a factory. */
  allocator: string | AllocatorFactory;
  /** A fresh process per run; when it counts page faults (`minflt`, as a kernel process does), the result reports them. */
  spawn: () => UserProcess & { readonly minflt?: number };
  /** Called with each run's process when the run is over (to exit it). */
  release?: (proc: UserProcess) => void;
  /** Timed runs per trace, fastest kept (default 1; 0 = no timing, secs and kops are 0). */
  timedRuns?: number;
  /** When to run the allocator's heap checker in the checked run (default "end"). */
  checkHeap?: "never" | "end" | "every";
}

/** One trace's outcome; the JSON fields mdriver's table shows, plus the counts behind them. */
export interface TraceResult {
  name: string;
  valid: boolean;
  /** Peak live payload / peak heap, 0..1 (0 when invalid). */
  util: number;
  ops: number;
  secs: number;
  kops: number;
  errors: string[];
  peakLive: number;
  peakHeap: number;
  /** Syscalls the allocator made in the checked run (the timed run makes the same calls). */
  syscalls: SyscallCounts;
  /** Minor page faults of the fastest timed run (null when the process does not count them or nothing was timed). */
  faults: number | null;
}

/** A whole run, with mdriver's totals. */
export interface TraceSetResult {
  allocator: string;
  traces: TraceResult[];
  meanUtil: number;
  /** Total ops / total secs / 1000 over valid traces. */
  kops: number;
  /** mdriver's performance index (0 when any trace is invalid). */
  perfIndex: number;
  utilPoints: number;
  thruPoints: number;
}

function factoryOf(a: string | AllocatorFactory): AllocatorFactory {
  return typeof a === "string" ? (p) => createAllocator(a, p) : a;
}

/** Replays one trace. Never throws for an allocator's fault: errors land in the result. */
export function replayTrace(trace: Trace, opts: ReplayOptions): TraceResult {
  const create = factoryOf(opts.allocator);
  const checked = checkedRun(trace, create, opts);
  const r: TraceResult = {
    name: trace.name,
    valid: checked.errors.length === 0,
    util: 0,
    ops: trace.numOps,
    secs: 0,
    kops: 0,
    errors: checked.errors,
    peakLive: checked.peakLive,
    peakHeap: checked.peakHeap,
    syscalls: checked.syscalls,
    faults: null,
  };
  if (!r.valid) return r;
  r.util = checked.peakHeap === 0 ? 0 : checked.peakLive / checked.peakHeap;
  const runs = opts.timedRuns ?? 1;
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs && r.valid; i++) {
    try {
      const proc = opts.spawn();
      try {
        const secs = timedRun(trace, create(proc));
        if (secs < best) {
          best = secs;
          r.faults = proc.minflt ?? null;
        }
      } finally {
        opts.release?.(proc);
      }
    } catch (e) {
      r.valid = false;
      r.util = 0;
      r.errors.push(`${trace.name}: timed run: ${describe(e)}`);
    }
  }
  if (r.valid && runs > 0) {
    r.secs = best;
    r.kops = best > 0 ? trace.numOps / best / 1e3 : 0;
  }
  return r;
}

/** Replays every trace and computes mdriver's totals. */
export function replayTraces(traces: readonly Trace[], opts: ReplayOptions): TraceSetResult {
  const results = traces.map((t) => replayTrace(t, opts));
  const n = results.length;
  const meanUtil = n === 0 ? 0 : results.reduce((s, r) => s + r.util, 0) / n;
  let ops = 0;
  let secs = 0;
  for (const r of results) {
    if (!r.valid) continue;
    ops += r.ops;
    secs += r.secs;
  }
  const kops = secs > 0 ? ops / secs / 1e3 : 0;
  const index = results.every((r) => r.valid) ? perfIndex(meanUtil, ops, secs) : { util: 0, thru: 0, total: 0 };
  const name = typeof opts.allocator === "string" ? opts.allocator : "custom";
  return { allocator: name, traces: results, meanUtil, kops, perfIndex: index.total, utilPoints: index.util, thruPoints: index.thru };
}

/**
 * mdriver's performance index, in points of 100: UTIL_WEIGHT of the mean
 * utilisation, plus the rest scaled by throughput up to AVG_LIBC_THRUPUT.
 */
export function perfIndex(meanUtil: number, ops: number, secs: number): { util: number; thru: number; total: number } {
  const util = UTIL_WEIGHT * meanUtil * 100;
  const thru = secs > 0 ? (1 - UTIL_WEIGHT) * Math.min(1, ops / secs / AVG_LIBC_THRUPUT) * 100 : 0;
  return { util, thru, total: util + thru };
}

/**
 * Replays a trace's calls against `a`, nothing else: no payload writes, no
 * checks. `ptr` and `len` (numIds long) hold each id's block and size. The
 * loop the driver times, and the benchmarks too.
 */
export function replayCalls(trace: Trace, a: Allocator, ptr: Float64Array, len: Float64Array): void {
  const { kind, id, size } = trace;
  for (let i = 0; i < trace.numOps; i++) {
    const k = id[i] as number;
    const op = kind[i] as number;
    if (op === OP_ALLOC) {
      ptr[k] = a.malloc(size[i] as number);
      len[k] = size[i] as number;
    } else if (op === OP_FREE) {
      if (k < 0) a.free(0, 0);
      else a.free(ptr[k] as number, len[k] as number);
    } else {
      ptr[k] = a.realloc(ptr[k] as number, len[k] as number, size[i] as number);
      len[k] = size[i] as number;
    }
  }
}

/** The calls alone, timed; returns seconds. */
function timedRun(trace: Trace, a: Allocator): number {
  const ptr = new Float64Array(trace.numIds);
  const len = new Float64Array(trace.numIds);
  const t0 = performance.now();
  replayCalls(trace, a, ptr, len);
  return (performance.now() - t0) / 1e3;
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function hex(v: number): string {
  return `0x${v.toString(16)}`;
}

/** The checked run: every check, the utilisation measures, the syscall counts. */
function checkedRun(trace: Trace, create: AllocatorFactory, opts: ReplayOptions) {
  const errors: string[] = [];
  let watch: HeapWatch | undefined;
  const out = (peakLive: number) => ({
    errors,
    peakLive,
    peakHeap: watch?.peakHeap ?? 0,
    syscalls: watch?.counts ?? { brk: 0, mmap: 0, munmap: 0, mremap: 0, other: 0 },
  });
  let r: Replayer;
  const proc = opts.spawn();
  try {
    watch = new HeapWatch(proc);
    r = new Replayer(trace, create(watch.proc), watch, opts.checkHeap ?? "end");
  } catch (e) {
    errors.push(`${trace.name}: setting up: ${describe(e)}`);
    opts.release?.(proc);
    return out(0);
  }
  for (let i = 0; i < trace.numOps && errors.length === 0; i++) {
    try {
      const what = r.step(i);
      if (what) errors.push(`${trace.name} line ${trace.line[i]}: ${what}`);
    } catch (e) {
      errors.push(`${trace.name} line ${trace.line[i]}: ${r.opText(i)} crashed: ${describe(e)}`);
    }
  }
  const counts = { ...(watch?.counts ?? { brk: 0, mmap: 0, munmap: 0, mremap: 0, other: 0 }) }; // before the checker's own brk(0)
  if (errors.length === 0 && opts.checkHeap !== "never") {
    try {
      r.alloc.check();
    } catch (e) {
      errors.push(`${trace.name}: heap check at the end: ${describe(e)}`);
    }
  }
  opts.release?.(proc);
  return { ...out(r.peakLive), syscalls: counts };
}

/** Replays ops one at a time with every check; step() returns an error text or "". */
class Replayer {
  private readonly ptr: Float64Array;
  private readonly len: Float64Array;
  private readonly live = new LiveRanges();
  private readonly pattern = new PayloadPattern(0x5eed);
  private liveBytes = 0;
  peakLive = 0;

  constructor(
    private readonly trace: Trace,
    readonly alloc: Allocator,
    private readonly watch: HeapWatch,
    private readonly checkHeap: "never" | "end" | "every",
  ) {
    this.ptr = new Float64Array(trace.numIds);
    this.len = new Float64Array(trace.numIds);
  }

  opText(i: number): string {
    const t = this.trace;
    const k = t.id[i] as number;
    const op = t.kind[i] as number;
    if (op === OP_ALLOC) return `malloc(${t.size[i]}) for id ${k}`;
    if (op === OP_FREE) return k < 0 ? "free(NULL)" : `free(${hex(this.ptr[k] as number)}) of id ${k}`;
    return `realloc(${hex(this.ptr[k] as number)}, ${t.size[i]}) of id ${k}`;
  }

  step(i: number): string {
    const t = this.trace;
    const k = t.id[i] as number;
    const op = t.kind[i] as number;
    const err =
      op === OP_ALLOC ? this.malloc(k, t.size[i] as number) : op === OP_FREE ? this.free(k) : this.realloc(k, t.size[i] as number);
    if (err === "" && this.checkHeap === "every") this.alloc.check();
    return err;
  }

  private malloc(k: number, n: number): string {
    const p = this.alloc.malloc(n);
    if (p === 0) return `malloc(${n}) for id ${k} returned NULL`;
    const bad = this.place(k, p, n);
    if (bad) return `malloc(${n}) for id ${k}: ${bad}`;
    this.pattern.fill(this.alloc.proc.mem, p, k, 0, n);
    this.account(n);
    return "";
  }

  private free(k: number): string {
    if (k < 0) {
      this.alloc.free(0, 0);
      return "";
    }
    const p = this.ptr[k] as number;
    const n = this.len[k] as number;
    const off = this.pattern.verify(this.alloc.proc.mem, p, k, n);
    if (off >= 0) return `payload of id ${k} at ${hex(p)} was overwritten before its free (byte +${off})`;
    this.live.remove(p);
    this.alloc.free(p, n);
    this.account(-n);
    return "";
  }

  private realloc(k: number, n: number): string {
    const p = this.ptr[k] as number;
    const old = this.len[k] as number;
    const mem = this.alloc.proc.mem;
    this.live.remove(p);
    const q = this.alloc.realloc(p, old, n);
    if (q === 0) return `realloc(${hex(p)}, ${n}) of id ${k} returned NULL`;
    const bad = this.place(k, q, n);
    if (bad) return `realloc(${hex(p)}, ${n}) of id ${k}: ${bad}`;
    const lost = this.pattern.verify(mem, q, k, Math.min(old, n));
    // One check covers both: mdriver's (the copy kept the bytes) and ours (nothing overwrote them before).
    if (lost >= 0)
      return `realloc(${hex(p)}, ${n}) of id ${k} to ${hex(q)}: payload byte +${lost} differs (not kept by realloc, or overwritten earlier)`;
    if (n > old) this.pattern.fill(mem, q, k, old, n);
    this.account(n - old);
    return "";
  }

  /** Checks payload [p, p + n) of id k and records it live; returns what is wrong or "". */
  private place(k: number, p: number, n: number): string {
    const len = Math.max(n, 1);
    if (p % 16 !== 0) return `payload ${hex(p)} is not 16-byte aligned`;
    if (!this.watch.contains(p, len)) return `payload [${hex(p)}, ${hex(p + n)}) lies outside the heap`;
    const other = this.live.insert(p, len, k);
    if (other >= 0) {
      const [a, b] = this.live.rangeOf(other);
      return `payload [${hex(p)}, ${hex(p + n)}) overlaps id ${other} at [${hex(a)}, ${hex(b)})`;
    }
    this.ptr[k] = p;
    this.len[k] = n;
    return "";
  }

  private account(delta: number): void {
    this.liveBytes += delta;
    if (this.liveBytes > this.peakLive) this.peakLive = this.liveBytes;
  }
}
