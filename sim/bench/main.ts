/**
 * Every benchmark case, each as a ratio against a baseline measured in the
 * same process; `memsim bench [pattern]` (and so `make bench`) runs them.
 * Each case runs in a fresh Node process (sim/bench/child.ts), as a new
 * user's program would; summary cases are computed here from their results.
 */

import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { ALLOC_SITES_CASES } from "./cases/alloc_sites.ts";
import { BASELINES, baselineSink } from "./cases/baselines.ts";
import { EVENT_CASES, eventsSink } from "./cases/events.ts";
import { MALLOC_CASES } from "./cases/malloc.ts";
import { MESH_CASES } from "./cases/mesh.ts";
import { MMU_CASES, mmuSink } from "./cases/mmu.ts";
import { PAGE_ALLOC_CASES } from "./cases/page_alloc.ts";
import { PROCESS_CASES } from "./cases/process.ts";
import { RECLAIM_CASES } from "./cases/reclaim.ts";
import { SLAB_CASES } from "./cases/slab.ts";
import { SMP_CASES, smpSink } from "./cases/smp.ts";
import { UALLOC_CASES } from "./cases/ualloc.ts";
import type { BenchCase, BenchProgress, BenchResult } from "./harness.ts";
import { buildNativeReplay, NATIVE_ENV } from "./native.ts";

/** Every case, in the order they run. */
export const BENCH_CASES: readonly BenchCase[] = [
  ...PAGE_ALLOC_CASES,
  ...SLAB_CASES,
  ...MMU_CASES,
  ...PROCESS_CASES,
  ...RECLAIM_CASES,
  ...MALLOC_CASES,
  ...UALLOC_CASES,
  ...MESH_CASES,
  ...EVENT_CASES,
  ...ALLOC_SITES_CASES,
  ...SMP_CASES,
];

/** What the baselines' and cases' loops computed (kept observable). */
export function sinks(): number {
  return baselineSink() + mmuSink() + eventsSink() + smpSink();
}

/** Names of every case, baselines first. */
export function benchNames(): string[] {
  return [...BASELINES, ...BENCH_CASES].map((c) => c.name);
}

const require = createRequire(import.meta.url);
const TSX_LOADER = pathToFileURL(join(dirname(require.resolve("tsx/package.json")), "dist", "loader.mjs")).href;
const CHILD = join(import.meta.dirname, "child.ts");

/** Runs child.ts for `name` in a fresh Node process and returns its results. Throws when the child fails. */
function runChild(name: string, env: NodeJS.ProcessEnv): BenchResult[] {
  const r = spawnSync(process.execPath, ["--import", TSX_LOADER, CHILD, name], {
    encoding: "utf8",
    env,
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`bench case '${name}' failed (exit ${r.status}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as BenchResult[];
}

/** Runs the baselines and the cases whose name matches `filter`, each in its own process. */
export function benchMain(filter?: RegExp, progress?: BenchProgress): BenchResult[] {
  const cases = BENCH_CASES.filter((c) => !filter || filter.test(c.name));
  const env = { ...process.env };
  if (cases.some((c) => c.name.startsWith("malloc:"))) {
    const exe = buildNativeReplay();
    if (exe !== null) env[NATIVE_ENV] = exe;
    else delete env[NATIVE_ENV];
  }
  const total = cases.length + 1;
  progress?.(0, total, "baselines");
  const results = runChild("baselines", env);
  let done = 1;
  for (const c of cases) {
    progress?.(done++, total, c.name);
    if (c.aggregate) {
      const r: BenchResult = { name: c.name, nsPerOp: 0, opsPerSec: 0 };
      r.extra = c.aggregate(results, r);
      results.push(r);
    } else {
      results.push(...runChild(c.name, env));
    }
  }
  return results;
}
