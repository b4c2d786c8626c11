/**
 * The benchmark harness: every case is timed against a baseline measured in
 * the same process, so a ratio survives a noisy machine. Cases live in
 * sim/bench/cases/<layer>.ts and are listed in sim/bench/main.ts.
 */

/** One benchmark: `run(n)` performs n operations; `baseline` names a baseline case. */
export interface BenchCase {
  readonly name: string;
  /** Operations per timed run. */
  readonly ops: number;
  /** Prepares state (not timed) and returns the function timed for `ops` operations. */
  readonly setup: () => (ops: number) => void;
  /** The baseline this case is compared with (a name from BASELINES). */
  readonly baseline?: string;
  /** A target ratio (case / baseline) the project holds itself to; reported, never asserted. */
  readonly target?: number;
  /** Extra figures to print after timing (utilisation, counts ...). */
  readonly report?: () => string;
  /** Runs before every timed round, untimed (e.g. unmapping what the last round faulted in). */
  readonly reset?: () => void;
  /** Timed rounds; the fastest counts. Default 5. */
  readonly rounds?: number;
}

export interface BenchResult {
  name: string;
  nsPerOp: number;
  opsPerSec: number;
  baseline?: string;
  ratio?: number;
  target?: number;
  extra?: string;
}

/** Times fn(ops) a few times and keeps the fastest run, in ns per op. `reset` runs untimed before each run. */
export function timeIt(fn: (ops: number) => void, ops: number, rounds = 5, reset?: () => void): number {
  reset?.();
  fn(Math.max(1, Math.floor(ops / 10)));
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rounds; r++) {
    reset?.();
    const t0 = process.hrtime.bigint();
    fn(ops);
    const dt = Number(process.hrtime.bigint() - t0);
    best = Math.min(best, dt / ops);
  }
  return best;
}

/** Called before each baseline and case is timed (for a progress bar). */
export type BenchProgress = (done: number, total: number, name: string) => void;

/** Runs baselines first, then cases, and returns the results. */
export function runBenches(
  baselines: readonly BenchCase[],
  cases: readonly BenchCase[],
  filter?: RegExp,
  progress?: BenchProgress,
): BenchResult[] {
  const base = new Map<string, number>();
  const total = baselines.length + cases.filter((c) => !filter || filter.test(c.name)).length;
  let done = 0;
  for (const b of baselines) {
    progress?.(done++, total, b.name);
    base.set(b.name, timeIt(b.setup(), b.ops));
  }
  const results: BenchResult[] = [];
  for (const b of baselines) {
    const ns = base.get(b.name) as number;
    results.push({ name: `baseline: ${b.name}`, nsPerOp: ns, opsPerSec: 1e9 / ns });
  }
  for (const c of cases) {
    if (filter && !filter.test(c.name)) continue;
    progress?.(done++, total, c.name);
    const ns = timeIt(c.setup(), c.ops, c.rounds, c.reset);
    const b = c.baseline === undefined ? undefined : base.get(c.baseline);
    const r: BenchResult = { name: c.name, nsPerOp: ns, opsPerSec: 1e9 / ns };
    if (c.baseline !== undefined && b !== undefined) {
      r.baseline = c.baseline;
      r.ratio = ns / b;
    }
    if (c.target !== undefined) r.target = c.target;
    if (c.report) r.extra = c.report();
    results.push(r);
  }
  return results;
}

/** One line per result: name, ns/op, ops/s, ratio and target. */
export function formatResults(results: readonly BenchResult[]): string {
  let out = "";
  for (const r of results) {
    let line = `${r.name.padEnd(58)} ${r.nsPerOp.toFixed(1).padStart(10)} ns/op ${Math.round(r.opsPerSec).toLocaleString("en-US").padStart(14)} ops/s`;
    if (r.ratio !== undefined) line += `  ${r.ratio.toFixed(2)}x ${r.baseline}`;
    if (r.target !== undefined) line += ` (target <= ${r.target}x${r.ratio !== undefined && r.ratio > r.target ? ", MISSED" : ""})`;
    out += `${line}\n`;
    if (r.extra) out += `    ${r.extra}\n`;
  }
  return out;
}
