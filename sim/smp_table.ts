/**
 * `memsim bench smp`'s figures as text and as JSON fields: per benchmark, a
 * speedup row per allocator over the CPU counts, and for the cache
 * benchmarks the cache model's figures under it (false-shared lines, active
 * and passive as the detector classes them, L1 misses, coherence
 * invalidations). The curves come from sim/smp_alloc.ts.
 */
import type { SmpAllocBench, SpeedupCurve } from "./smp_alloc.ts";
import type { CacheFigures } from "./smp_cache.ts";

/** The cache rows: label and the figure each shows. */
const CACHE_ROWS: ReadonlyArray<readonly [string, (f: CacheFigures) => string]> = [
  ["false-shared lines active", (f) => String(f.activeLines)],
  ["false-shared lines passive", (f) => String(f.passiveLines)],
  ["L1 misses", (f) => String(f.d1Misses)],
  ["invalidations", (f) => String(f.invalidations)],
];

/**
 * The table of one benchmark: a header of CPU counts, then per allocator its
 * speedups and, for a cache benchmark, one row per cache figure.
 */
export function formatSmpTable(bench: SmpAllocBench, curves: readonly SpeedupCurve[]): string[] {
  const first = curves[0];
  if (first === undefined) return [];
  const cell = (s: string) => s.padStart(8);
  const label = (s: string) => s.padEnd(30);
  const out = [`${label(bench)}${first.cpus.map((n) => cell(`${n} CPU${n === 1 ? "" : "s"}`)).join("")}`];
  for (const c of curves) {
    out.push(`${label(`  ${c.allocator} speedup`)}${c.speedup.map((x) => cell(`${x.toFixed(2)}x`)).join("")}`);
    if (c.cache.some((f) => f === null)) continue;
    for (const [name, show] of CACHE_ROWS) out.push(`${label(`    ${name}`)}${c.cache.map((f) => cell(show(f as CacheFigures))).join("")}`);
  }
  return out;
}

/**
 * The same figures as flat JSON fields, named bench/allocator/cpus/figure
 * ("cache-thrash/hoard/8/speedup", ".../activeLines", ".../passiveLines",
 * ".../d1Misses", ".../invalidations", ".../opsPerSec").
 */
export function smpTableData(bench: SmpAllocBench, curves: readonly SpeedupCurve[]): Record<string, number> {
  const data: Record<string, number> = {};
  for (const c of curves) {
    c.cpus.forEach((n, i) => {
      const key = `${bench}/${c.allocator}/${n}`;
      data[`${key}/speedup`] = c.speedup[i] as number;
      data[`${key}/opsPerSec`] = c.opsPerSec[i] as number;
      const f = c.cache[i];
      if (f === null || f === undefined) return;
      data[`${key}/activeLines`] = f.activeLines;
      data[`${key}/passiveLines`] = f.passiveLines;
      data[`${key}/d1Misses`] = f.d1Misses;
      data[`${key}/invalidations`] = f.invalidations;
    });
  }
  return data;
}
