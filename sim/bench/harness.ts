/**
 * The benchmark harness: every case is timed against a baseline measured in
 * the same process, so a ratio survives a noisy machine. Cases live in
 * sim/bench/cases/<layer>.ts and are listed in sim/bench/main.ts; main.ts
 * runs each case in a Node process of its own (sim/bench/child.ts), as a new
 * user's program would run, so no case inherits another's JIT state.
 */

/** One benchmark: `run(n)` performs n operations; `baseline` names a baseline case. */
export interface BenchCase {
  readonly name: string;
  /** Operations per timed run (0: nothing is timed, only `report` or `aggregate` runs). */
  readonly ops: number;
  /** Prepares state (not timed) and returns the function timed for `ops` operations. */
  readonly setup: () => (ops: number) => void;
  /** The baseline this case is compared with (a name from BASELINES). */
  readonly baseline?: string;
  /** A target ratio (case / baseline) the project holds itself to; reported, never asserted. */
  readonly target?: number;
  /** Extra figures to print after timing (utilisation, counts ...); may add targets of its own. */
  readonly report?: (r: BenchResult) => string;
  /** Runs before every timed round, untimed (e.g. unmapping what the last round faulted in). */
  readonly reset?: () => void;
  /** Timed rounds; the fastest counts. Default 5. */
  readonly rounds?: number;
  /**
   * A case made of other cases' results (a summary): runs in the main
   * process after them, with the results of every case so far; nothing is timed.
   */
  readonly aggregate?: (results: readonly BenchResult[], r: BenchResult) => string;
}

/** A figure held to a target: `value op target`. */
export interface BenchTarget {
  what: string;
  value: number;
  op: "<=" | ">=";
  target: number;
  met: boolean;
}

export interface BenchResult {
  name: string;
  nsPerOp: number;
  opsPerSec: number;
  baseline?: string;
  /** The baseline's ns per op, timed in the same process as the case. */
  baselineNsPerOp?: number;
  ratio?: number;
  target?: number;
  extra?: string;
  /** Targets beyond the ratio (e.g. throughput against another allocator). */
  targets?: BenchTarget[];
  /** Figures a summary case reads (per-trace times, utilisation ...). */
  data?: Record<string, number>;
}

/**
 * This process's CPU time (user + system) in ns. Cases are timed by it, not
 * by the wall clock: on a machine shared with other work, time spent waiting
 * for a core does not count, so the figures hold better under load. (System
 * time is in: the host's page faults are part of what some cases measure.)
 */
export function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

/** Times fn(ops) a few times and keeps the fastest run, in ns per op. `reset` runs untimed before each run. */
export function timeIt(fn: (ops: number) => void, ops: number, rounds = 5, reset?: () => void): number {
  reset?.();
  fn(Math.max(1, Math.floor(ops / 10)));
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rounds; r++) {
    reset?.();
    const t0 = cpuNs();
    fn(ops);
    const dt = cpuNs() - t0;
    best = Math.min(best, dt / ops);
  }
  return best;
}

/** Records a target on a result: `value op target`. */
export function addTarget(r: BenchResult, what: string, value: number, op: "<=" | ">=", target: number): void {
  const met = op === "<=" ? value <= target : value >= target;
  (r.targets ??= []).push({ what, value, op, target, met });
}

/** Times one baseline case. */
export function timeBaseline(b: BenchCase): BenchResult {
  const ns = timeIt(b.setup(), b.ops, b.rounds, b.reset);
  return { name: `baseline: ${b.name}`, nsPerOp: ns, opsPerSec: 1e9 / ns };
}

/** One timed run of fn(ops) after an untimed reset, in ns per op. */
function timeOnce(fn: (ops: number) => void, ops: number, reset?: () => void): number {
  reset?.();
  const t0 = cpuNs();
  fn(ops);
  return (cpuNs() - t0) / ops;
}

/**
 * Times one case and its baseline in this process, their rounds interleaved
 * (baseline, case, baseline, case ...) and the fastest of each kept, so that
 * a change of machine load hits both sides of the ratio.
 */
export function timeCase(c: BenchCase, baselines: readonly BenchCase[]): BenchResult {
  const b = c.baseline === undefined ? undefined : baselines.find((x) => x.name === c.baseline);
  const fb = b?.setup();
  const fc = c.ops > 0 ? c.setup() : undefined;
  if (b !== undefined && fb !== undefined) timeOnce(fb, Math.max(1, Math.floor(b.ops / 10)), b.reset);
  if (fc !== undefined) timeOnce(fc, Math.max(1, Math.floor(c.ops / 10)), c.reset);
  let baseNs = Number.POSITIVE_INFINITY;
  let ns = Number.POSITIVE_INFINITY;
  const rounds = Math.max(c.rounds ?? 5, b?.rounds ?? 5);
  for (let round = 0; round < rounds; round++) {
    if (b !== undefined && fb !== undefined) baseNs = Math.min(baseNs, timeOnce(fb, b.ops, b.reset));
    if (fc !== undefined && round < (c.rounds ?? 5)) ns = Math.min(ns, timeOnce(fc, c.ops, c.reset));
  }
  if (fc === undefined) ns = 0;
  const r: BenchResult = { name: c.name, nsPerOp: ns, opsPerSec: ns > 0 ? 1e9 / ns : 0 };
  if (b !== undefined && ns > 0) {
    r.baseline = b.name;
    r.baselineNsPerOp = baseNs;
    r.ratio = ns / baseNs;
    if (c.target !== undefined) addTarget(r, `ratio to ${b.name}`, r.ratio, "<=", c.target);
  }
  if (c.target !== undefined) r.target = c.target;
  if (c.report) r.extra = c.report(r);
  return r;
}

/** Called before each baseline and case is timed (for a progress bar). */
export type BenchProgress = (done: number, total: number, name: string) => void;

/** One line per result: name, ns/op, ops/s, ratio and target, then the extra figures. */
export function formatResults(results: readonly BenchResult[]): string {
  let out = "";
  for (const r of results) {
    let line = r.name.padEnd(62);
    if (r.nsPerOp > 0) {
      line += ` ${r.nsPerOp.toFixed(1).padStart(10)} ns/op ${Math.round(r.opsPerSec).toLocaleString("en-US").padStart(14)} ops/s`;
    }
    if (r.ratio !== undefined) line += `  ${r.ratio.toFixed(2)}x ${r.baseline} (${(r.baselineNsPerOp ?? 0).toFixed(1)} ns)`;
    if (r.target !== undefined) line += ` (target <= ${r.target}x${r.ratio !== undefined && r.ratio > r.target ? ", MISSED" : ""})`;
    out += `${line.trimEnd()}\n`;
    if (r.extra) out += `    ${r.extra}\n`;
  }
  return out;
}
