/**
 * The cache model's reports (cache_model.ts): the counters for `m.stats()`
 * and a cachegrind-like text summary, per CPU and in total.
 */
import type { CacheCpuStats, CacheModel } from "./cache_model.ts";

/** The counters of every CPU and their totals, for `m.stats().cache`. */
export function cacheStats(model: CacheModel): Record<string, unknown> {
  const row = (s: CacheCpuStats) => ({
    dr: s.dr,
    dw: s.dw,
    d1mr: s.d1mr,
    d1mw: s.d1mw,
    dlmr: s.dlmr,
    dlmw: s.dlmw,
    invalidations: s.invalidations,
    writebacks: s.writebacks,
  });
  return { l1: model.config.l1, llc: model.config.llc, total: row(model.totals()), cpus: model.stats.map(row) };
}

/** misses / refs as cachegrind prints it: one decimal and a percent sign, 0.0% with no references. */
function rate(misses: number, refs: number): string {
  return `${refs === 0 ? "0.0" : ((100 * misses) / refs).toFixed(1)}%`;
}

/** cachegrind's five data-cache lines for one set of counters, plus the coherence lines. */
function block(s: CacheCpuStats): string[] {
  const w = (n: number) => String(n).padStart(10);
  return [
    `D   refs:     ${w(s.dr + s.dw)}  (${s.dr} rd + ${s.dw} wr)`,
    `D1  misses:   ${w(s.d1mr + s.d1mw)}  (${s.d1mr} rd + ${s.d1mw} wr)`,
    `LLd misses:   ${w(s.dlmr + s.dlmw)}  (${s.dlmr} rd + ${s.dlmw} wr)`,
    `D1  miss rate: ${rate(s.d1mr + s.d1mw, s.dr + s.dw).padStart(9)}  (${rate(s.d1mr, s.dr)} + ${rate(s.d1mw, s.dw)})`,
    `LLd miss rate: ${rate(s.dlmr + s.dlmw, s.dr + s.dw).padStart(9)}  (${rate(s.dlmr, s.dr)} + ${rate(s.dlmw, s.dw)})`,
    `coherence invalidations: ${s.invalidations}`,
    `write-backs: ${s.writebacks}`,
  ];
}

/**
 * The summary: the caches' shapes, then a block per CPU that made any
 * reference and the total, each with cachegrind's D refs, D1 misses, LLd
 * misses and miss-rate lines.
 */
export function cacheSummary(model: CacheModel): string {
  const { l1, llc } = model.config;
  const lines = [`D1 cache: ${l1.size} B, 64 B, ${l1.ways}-way associative (per CPU)`];
  lines.push(`LL cache: ${llc.size} B, 64 B, ${llc.ways}-way associative (shared)`);
  model.stats.forEach((s, c) => {
    if (s.dr + s.dw > 0) lines.push(`CPU ${c}`, ...block(s).map((l) => `  ${l}`));
  });
  lines.push("total", ...block(model.totals()).map((l) => `  ${l}`));
  return `${lines.join("\n")}\n`;
}
