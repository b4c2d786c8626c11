/**
 * `make bench` / `memsim bench [pattern]`: every benchmark case, each as a
 * ratio against a baseline measured in this process.
 */

import { BASELINES, baselineSink } from "./cases/baselines.ts";
import { MALLOC_CASES } from "./cases/malloc.ts";
import { MMU_CASES, mmuSink } from "./cases/mmu.ts";
import { PAGE_ALLOC_CASES } from "./cases/page_alloc.ts";
import { PROCESS_CASES } from "./cases/process.ts";
import { SLAB_CASES } from "./cases/slab.ts";
import { UALLOC_CASES } from "./cases/ualloc.ts";
import { formatResults, runBenches } from "./harness.ts";

const CASES = [...PAGE_ALLOC_CASES, ...SLAB_CASES, ...MMU_CASES, ...PROCESS_CASES, ...MALLOC_CASES, ...UALLOC_CASES];

const pattern = process.argv[2];
const results = runBenches(BASELINES, CASES, pattern ? new RegExp(pattern) : undefined);
process.stdout.write(formatResults(results));
if (baselineSink() === 0.5 || mmuSink() === 0.5) process.stdout.write("\n");
