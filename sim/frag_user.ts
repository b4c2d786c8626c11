/**
 * Fragmentation series of userspace allocators: a trace replayed with one
 * allocator in a fresh process, its heap census taken every `interval`
 * operations (and after the last), the requested bytes counted by the
 * replay itself. The clock is the number of operations done.
 */
import type { Allocator } from "../userspace/alloc/allocator.ts";
import { createAllocator } from "../userspace/alloc/index.ts";
import type { UserProcess } from "../userspace/env.ts";
import { type FragSample, type FragSeries, fragSample } from "./frag.ts";
import { OP_ALLOC, OP_FREE, type Trace } from "./trace/trace.ts";

/** How to sample a trace. */
export interface TraceFragOptions {
  /** Registered allocator names, each replayed in its own process. */
  allocators: readonly string[];
  /** A sample every `interval` operations (>= 1). */
  interval: number;
  /** A fresh process per allocator. */
  spawn: () => UserProcess;
  /** Called with each process when its replay is over. */
  release?: (proc: UserProcess) => void;
}

/** One sample of `a` at clock `t`, `requested` live bytes. Throws Error when the allocator has no census. */
export function allocatorSample(t: number, a: Allocator, requested: number): FragSample {
  const census = a.census?.() ?? null;
  if (census === null) throw new Error(`${a.name}: the allocator has no heap census (census())`);
  return fragSample(t, { heapBytes: a.stats().heapBytes, requestedBytes: requested, census });
}

/**
 * Replays `trace` on a fresh allocator of each name and returns one series
 * per allocator. Throws Error when an allocator runs out of memory or has no
 * census (the trace is then no fair comparison).
 */
export function traceFragSeries(trace: Trace, opts: TraceFragOptions): FragSeries[] {
  return opts.allocators.map((name) => {
    const proc = opts.spawn();
    try {
      return {
        name,
        kind: "user" as const,
        workload: trace.name,
        samples: sampleReplay(trace, createAllocator(name, proc), opts.interval),
      };
    } finally {
      opts.release?.(proc);
    }
  });
}

function sampleReplay(trace: Trace, a: Allocator, interval: number): FragSample[] {
  const ptr = new Float64Array(trace.numIds);
  const len = new Float64Array(trace.numIds);
  const samples = [allocatorSample(0, a, 0)];
  let requested = 0;
  for (let i = 0; i < trace.numOps; i++) {
    requested += step(trace, i, a, ptr, len);
    if ((i + 1) % interval === 0 || i + 1 === trace.numOps) samples.push(allocatorSample(i + 1, a, requested));
  }
  return samples;
}

/** Does op i; returns the change in requested bytes. Throws Error when the allocator fails a request. */
function step(trace: Trace, i: number, a: Allocator, ptr: Float64Array, len: Float64Array): number {
  const k = trace.id[i] as number;
  const op = trace.kind[i] as number;
  const n = trace.size[i] as number;
  if (op === OP_FREE) {
    if (k < 0) return 0;
    a.free(ptr[k] as number, len[k] as number);
    return -(len[k] as number);
  }
  const old = op === OP_ALLOC ? 0 : (len[k] as number);
  const p = op === OP_ALLOC ? a.malloc(n) : a.realloc(ptr[k] as number, old, n);
  if (p === 0) throw new Error(`${a.name}: ${trace.name} line ${trace.line[i]}: out of memory`);
  ptr[k] = p;
  len[k] = n;
  return n - old;
}
