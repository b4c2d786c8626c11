/**
 * The report's "Allocators on many CPUs" section (`memsim report --smp`):
 * the figures of `memsim bench smp` (sim/smp_alloc.ts) drawn. Per benchmark
 * a speedup curve per allocator over the CPU counts, with the ideal
 * (speedup = CPUs) as a grey reference line; for the cache benchmarks a bar
 * chart of the falsely shared lines the detector found (active + passive)
 * per allocator and CPU count; under them the bench's own table
 * (sim/smp_table.ts), which splits active from passive.
 */
import {
  SMP_ALLOCATORS,
  SMP_BENCHES,
  SMP_CPU_COUNTS,
  type SmpAllocBench,
  type SmpAllocSizes,
  type SpeedupCurve,
  speedupCurves,
} from "../../smp_alloc.ts";
import { formatSmpTable } from "../../smp_table.ts";
import { barChart, type ChartLine, esc, multiLineChart } from "./svg.ts";

/** One benchmark's curves. */
export interface SmpBenchFigures {
  readonly bench: SmpAllocBench;
  readonly curves: readonly SpeedupCurve[];
}

const COLOURS = ["#d2453e", "#e0b422", "#2e8b57", "#3f6fbf", "#8a55c9"];

/** Runs every benchmark of `memsim bench smp` (its sizes unless `sizes` names others) over `cpuCounts`. */
export function smpBenchFigures(sizes: SmpAllocSizes = {}, cpuCounts: readonly number[] = SMP_CPU_COUNTS): SmpBenchFigures[] {
  return SMP_BENCHES.map((bench) => ({ bench, curves: speedupCurves(bench, SMP_ALLOCATORS, cpuCounts, sizes) }));
}

/** The speedup chart of one benchmark: a line per allocator and the ideal. */
function speedupChart(f: SmpBenchFigures): string {
  const cpus = f.curves[0]?.cpus ?? [];
  const lines: ChartLine[] = f.curves.map((c, i) => ({
    name: c.allocator,
    colour: COLOURS[i % COLOURS.length] as string,
    points: c.cpus.map((n, k) => [n, c.speedup[k] as number] as const),
  }));
  lines.push({ name: "ideal", colour: "#bbbbbb", points: cpus.map((n) => [n, n] as const) });
  return multiLineChart(`${f.bench}: speedup over 1 CPU`, "CPUs", lines, (v) => `${v.toFixed(2)}x`);
}

/** The false-sharing bars of a cache benchmark (null for the others). */
function falseSharingChart(f: SmpBenchFigures): string | null {
  if (f.curves.some((c) => c.cache.some((x) => x === null))) return null;
  const labels = (f.curves[0]?.cpus ?? []).map((n) => `${n} CPU${n === 1 ? "" : "s"}`);
  const series = f.curves.map((c, i) => ({
    name: c.allocator,
    colour: COLOURS[i % COLOURS.length] as string,
    values: c.cache.map((x) => (x === null ? 0 : x.activeLines + x.passiveLines)),
  }));
  return barChart(labels, series, `${f.bench}: falsely shared lines (active + passive)`);
}

/** The section's HTML for figures already run. */
export function smpSection(figs: readonly SmpBenchFigures[]): string {
  const parts = figs.map((f) => {
    const charts = [speedupChart(f), falseSharingChart(f)].filter((x) => x !== null).join("");
    const table = formatSmpTable(f.bench, f.curves).join("\n");
    return `<h3>${esc(f.bench)}</h3><div class="charts">${charts}</div><pre>${esc(table)}</pre>`;
  });
  const note =
    "Hoard's paper benchmarks as `memsim bench smp` runs them: one thread per simulated CPU, throughput on the cost clock relative to one CPU (the grey line is the ideal, speedup = CPUs). The cache benchmarks run the cache model; their bars count the distinct 64-byte lines the false-sharing detector found shared between CPUs' blocks, active (the allocator split a line) plus passive (a freed block reused on another CPU); the table under each splits them and adds L1 misses and invalidations.";
  return `<p>${esc(note)}</p>${parts.join("")}`;
}
