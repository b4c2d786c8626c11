/**
 * Every benchmark case, each as a ratio against a baseline measured in this
 * process; `memsim bench [pattern]` (and so `make bench`) runs them.
 */

import { BASELINES, baselineSink } from "./cases/baselines.ts";
import { EVENT_CASES, eventsSink } from "./cases/events.ts";
import { MALLOC_CASES } from "./cases/malloc.ts";
import { MMU_CASES, mmuSink } from "./cases/mmu.ts";
import { PAGE_ALLOC_CASES } from "./cases/page_alloc.ts";
import { PROCESS_CASES } from "./cases/process.ts";
import { SLAB_CASES } from "./cases/slab.ts";
import { UALLOC_CASES } from "./cases/ualloc.ts";
import { type BenchProgress, type BenchResult, formatResults, runBenches } from "./harness.ts";

const CASES = [...PAGE_ALLOC_CASES, ...SLAB_CASES, ...MMU_CASES, ...PROCESS_CASES, ...MALLOC_CASES, ...UALLOC_CASES, ...EVENT_CASES];

/** Names of every case, baselines first. */
export function benchNames(): string[] {
  return [...BASELINES, ...CASES].map((c) => c.name);
}

/** Runs the baselines and the cases whose name matches `filter`. */
export function benchMain(filter?: RegExp, progress?: BenchProgress): BenchResult[] {
  const results = runBenches(BASELINES, CASES, filter, progress);
  // Keeps the baselines' work observable so the JIT cannot drop it.
  if (baselineSink() === 0.5 || mmuSink() === 0.5 || eventsSink() === 0.5) results.push({ name: "sink", nsPerOp: 0, opsPerSec: 0 });
  return results;
}
