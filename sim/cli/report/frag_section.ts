/**
 * The report's "Fragmentation over time" section: one bundled malloc-lab
 * trace replayed with the allocators the classic comparisons set side by
 * side (first vs best fit, segregated fit, buddy, a slab-like pool and
 * Hoard, a bump arena, and the C library's malloc), each measure a chart
 * with a line per allocator (sim/frag.ts defines the measures).
 */

import { join } from "node:path";
import { FRAG_MEASURES, type FragSeries } from "../../frag.ts";
import { traceFragSeries } from "../../frag_user.ts";
import { Machine } from "../../machine.ts";
import { MALLOCLAB_DIR } from "../../trace/malloclab.ts";
import { readTrace } from "../../trace/read.ts";
import { esc, multiLineChart } from "./svg.ts";

/** The trace the section replays and the allocators it compares. */
export const REPORT_FRAG_TRACE = "random-bal.rep";
export const REPORT_FRAG_ALLOCATORS: readonly string[] = ["firstfit", "bestfit", "segregated", "buddy", "pool", "hoard", "arena", "malloc"];
const SAMPLES = 24;
const COLOURS = ["#3f6fbf", "#d2453e", "#2e8b57", "#8a55c9", "#e0b422", "#16a085", "#f08a24", "#444444"];

/** The series the section draws (a machine of its own, not the scenario's). */
export function reportFragSeries(): FragSeries[] {
  const trace = readTrace(join(MALLOCLAB_DIR, REPORT_FRAG_TRACE));
  const m = Machine.boot({ ramBytes: 64 << 20, debugVm: 0 });
  let n = 0;
  return traceFragSeries(trace, {
    allocators: REPORT_FRAG_ALLOCATORS,
    interval: Math.ceil(trace.numOps / SAMPLES),
    spawn: () => m.spawn(`frag${n++}`),
    release: (p) => (p as ReturnType<Machine["spawn"]>).exit(0),
  });
}

function fmt(key: string): (v: number) => string {
  if (key === "external" || key === "utilisation") return (v) => v.toFixed(2);
  return (v) => (Math.abs(v) >= 10240 ? `${Math.round(v / 1024)} KiB` : `${v} B`);
}

/** The section's HTML. */
export function fragSection(): string {
  const series = reportFragSeries();
  const charts = FRAG_MEASURES.map((meas) =>
    multiLineChart(
      meas.label,
      "operations",
      series.map((s, i) => ({
        name: s.name,
        colour: COLOURS[i % COLOURS.length] as string,
        points: s.samples.map((x) => [x.t, x[meas.key]] as const),
      })),
      fmt(meas.key),
    ),
  );
  const note = `The bundled trace ${REPORT_FRAG_TRACE} replayed with each allocator in a process of its own, sampled every ${Math.ceil((series[0]?.samples.at(-1)?.t ?? 0) / SAMPLES)} operations. internal = granted - requested bytes; external = 1 - largest free block / free bytes; overhead = heap - granted - free; utilisation = requested / heap. \`memsim frag\` prints the same series for any trace or script.`;
  return `<p>${esc(note)}</p><div class="charts">${charts.join("")}</div>`;
}
