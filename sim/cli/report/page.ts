/**
 * The report page: one self-contained HTML file (inline CSS, inline SVG, a
 * few lines of inline script for the hover tooltip). Sections come from
 * REPORT_SECTIONS; a layer adds its own (slab table, VMA map, page-table
 * tree) by pushing one, and it appears in the page.
 */
import { ZONE_NAMES } from "../../../kernel/mm/mmzone.ts";
import type { Process } from "../../../kernel/process.ts";
import type { Machine } from "../../machine.ts";
import { formatSize } from "../../units.ts";
import { type EventCounts, formatCounts } from "../event_tally.ts";
import { type Block, type Owner, ramBlocks } from "../pageinfo.ts";
import type { Recorder } from "../scenario.ts";
import { fragSection } from "./frag_section.ts";
import { busiestChunk, chunkZoomSvg, ramMapSvg } from "./rammap.ts";
import { pagetableSection, processSection, slabSection, vmallocSection } from "./sections.ts";
import { type SmpBenchFigures, smpSection } from "./smp_section.ts";
import { barChart, esc, freeColour, LEGEND, lineChart, ownerColour } from "./svg.ts";

/** What a report is drawn from: the machine after the scenario and the run's record. */
export interface ReportInput {
  readonly m: Machine;
  readonly rec: Recorder;
  readonly scenario: string;
  readonly blocks: readonly Block[];
  /** The address whose page-table walk is drawn (default: the first resident user page). */
  readonly walk?: { readonly p: Process; readonly va: number };
  /** `memsim bench smp`'s figures, drawn when given (`report --smp`). */
  readonly smp?: readonly SmpBenchFigures[];
}

/** One section of the page; render returns null when it has nothing to show. */
export interface ReportSection {
  readonly id: string;
  readonly title: string;
  render(r: ReportInput): string | null;
}

function ownerSummary(blocks: readonly Block[], maxOrder: number): string {
  const pages = new Map<Owner, number>();
  for (const b of blocks) pages.set(b.owner, (pages.get(b.owner) ?? 0) + (1 << b.order));
  const rows = LEGEND.map(([owner, label]) => {
    const swatch = owner === "free" ? freeColour(maxOrder, maxOrder) : ownerColour(owner, 0, maxOrder, "kmalloc-64");
    const n = pages.get(owner) ?? 0;
    return `<tr><td><span class="sw" style="background:${swatch}"></span>${esc(label)}</td><td class="num">${n}</td><td class="num">${formatSize(n * 4096)}</td></tr>`;
  });
  return `<table class="legend"><tr><th>owner</th><th>pages</th><th>bytes</th></tr>${rows.join("")}</table>`;
}

function ramSection(r: ReportInput): string {
  const k = r.m.kernel;
  const note = `${r.blocks.length} blocks over ${k.phys.nrPages} frames; each square of ${1 << k.buddy.maxOrder} frames is laid out in Z-order, so every buddy block is one rectangle. Hover a block for its pfn range, order and owner.`;
  const snaps = r.rec.snapshots.map(
    (s, i) =>
      `<h3>After step ${s.step}: ${esc(s.label)} (${s.blocks.length} blocks)</h3>${ramMapSvg(s.blocks, k.phys.nrPages, k.buddy.maxOrder, `rammap-${i + 1}`)}`,
  );
  const final = `<div class="mapwrap">${ramMapSvg(r.blocks, k.phys.nrPages, k.buddy.maxOrder, "rammap")}${ownerSummary(r.blocks, k.buddy.maxOrder)}</div>`;
  const chunk = busiestChunk(r.blocks, k.buddy.maxOrder);
  const span = `pfn 0x${(chunk << k.buddy.maxOrder).toString(16)}-0x${(((chunk + 1) << k.buddy.maxOrder) - 1).toString(16)}`;
  const zoom = `<h3>Zoom: the busiest square (${span})</h3>${chunkZoomSvg(r.blocks, chunk, k.buddy.maxOrder, "rammap-zoom")}`;
  return `<p>${esc(note)}</p><h3>At the end of the run</h3>${final}${zoom}${snaps.join("")}`;
}

function buddySection(r: ReportInput): string {
  const b = r.m.kernel.buddy;
  const labels = Array.from({ length: b.maxOrder + 1 }, (_, o) => String(o));
  const colours = ["#7cb6e8", "#3f6fbf"];
  const series = b.zones.map((z, i) => ({ name: `zone ${z.name}`, values: Array.from(z.nrFree), colour: colours[i % 2] as string }));
  const head = `<tr><th>zone</th>${labels.map((l) => `<th>${l}</th>`).join("")}</tr>`;
  const rows = b.zones.map((z) => `<tr><td>${esc(z.name)}</td>${Array.from(z.nrFree, (n) => `<td class="num">${n}</td>`).join("")}</tr>`);
  return `${barChart(labels, series, "free blocks per order")}<table class="data">${head}${rows.join("")}</table><p>Free blocks per order (x axis), as /proc/buddyinfo counts them; per-CPU pages are not counted.</p>`;
}

/** The series drawn over the run: a label, where the value is, and its unit. */
const SERIES: ReadonlyArray<{ title: string; unit: string; get: (s: Recorder["samples"][number]) => number | undefined; colour: string }> =
  [
    { title: "MemFree", unit: "kB", get: (s) => s.meminfo.MemFree, colour: "#2e8b57" },
    { title: "RSS (AnonPages)", unit: "kB", get: (s) => s.meminfo.AnonPages, colour: "#d2453e" },
    { title: "Committed_AS", unit: "kB", get: (s) => s.meminfo.Committed_AS, colour: "#8a55c9" },
    { title: "page faults (pgfault)", unit: "faults", get: (s) => s.vmstat.pgfault, colour: "#e0b422" },
    { title: "Slab", unit: "kB", get: (s) => s.meminfo.Slab, colour: "#f08a24" },
    // Running totals counted from the event stream.
    { title: "pages allocated (mm_page_alloc events)", unit: "pages", get: (s) => s.events.pagesAllocated, colour: "#3f6fbf" },
    { title: "pages freed (mm_page_free events)", unit: "pages", get: (s) => s.events.pagesFreed, colour: "#7cb6e8" },
    { title: "copy-on-write copies (page_fault_user)", unit: "faults", get: (s) => s.events.faults.cow_copy ?? 0, colour: "#c0392b" },
    { title: "TLB flushes (tlb_flush events)", unit: "flushes", get: (s) => s.events.kinds.tlb_flush ?? 0, colour: "#16a085" },
  ];

function seriesSection(r: ReportInput): string {
  const samples = r.rec.samples;
  const labels = samples.map((s) => s.label);
  const charts: string[] = [];
  const waiting: string[] = [];
  for (const s of SERIES) {
    const vals = samples.map(s.get);
    if (vals.some((v) => v === undefined)) waiting.push(s.title);
    else charts.push(lineChart(s.title, s.unit, vals as number[], labels, s.colour));
  }
  const note = waiting.length ? `<p class="muted">Not counted by this build yet: ${esc(waiting.join(", "))}.</p>` : "";
  return `<div class="charts">${charts.join("")}</div>${note}`;
}

/** The effective access time of each step of a scenario that measures it (thrash), on a log scale: it spans orders of magnitude. */
function eatSection(r: ReportInput): string | null {
  const eat = r.rec.eat;
  if (eat.length === 0) return null;
  const labels = eat.map((e) => `step ${e.step}, ${e.label}: ${e.accesses} accesses in ${e.ns} ns, EAT ${e.eatNs.toFixed(1)} ns`);
  const log10 = eat.map((e) => Math.round(Math.log10(Math.max(1, e.eatNs)) * 100) / 100);
  const chart = lineChart("effective access time per step, log10", "log10 ns", log10, labels, "#c0392b");
  const rows = eat.map(
    (e) =>
      `<tr><td>${e.step}</td><td>${esc(e.label)}</td><td class="num">${e.accesses}</td><td class="num">${e.ns}</td><td class="num">${e.eatNs.toFixed(1)}</td></tr>`,
  );
  const head = "<tr><th>step</th><th>what</th><th>accesses</th><th>ns</th><th>EAT ns</th></tr>";
  return `<p>Nanoseconds of the cost clock (m.clock) spent in each step divided by the memory accesses made in it. Hover a point for its figures.</p>${chart}<table class="data">${head}${rows.join("")}</table>`;
}

function stepsSection(r: ReportInput): string {
  const items = r.rec.steps.map((s, i) => {
    const what = formatCounts(r.rec.happened[i] as EventCounts);
    return `<li>${esc(s)}<br><span class="muted">events: ${esc(what)}</span></li>`;
  });
  return `<ol>${items.join("")}</ol><p class="muted">Under each step: what the event stream recorded during it (kernel/EVENTS.md names every kind).</p>`;
}

/** Every section, in page order. */
export const REPORT_SECTIONS: ReportSection[] = [
  { id: "steps", title: "What the scenario did", render: stepsSection },
  { id: "ram", title: "Physical RAM", render: ramSection },
  { id: "buddy", title: "Buddy free lists", render: buddySection },
  { id: "slab", title: "Slab caches", render: slabSection },
  { id: "vmalloc", title: "vmalloc areas", render: vmallocSection },
  { id: "processes", title: "Processes and their VMAs", render: processSection },
  { id: "pagetable", title: "Page-table walk", render: pagetableSection },
  { id: "series", title: "Over the run", render: seriesSection },
  { id: "eat", title: "Effective access time per step", render: eatSection },
  { id: "frag", title: "Fragmentation over time, allocator by allocator", render: () => fragSection() },
  { id: "smp", title: "Allocators on many CPUs", render: (r) => (r.smp === undefined ? null : smpSection(r.smp)) },
];

const CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.muted{color:#777}.mapwrap{display:flex;gap:24px;align-items:flex-start;flex-wrap:wrap}
table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}
.num{text-align:right;font-variant-numeric:tabular-nums}.sw{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-2px;border:1px solid #0003}
.axis{font-size:11px;fill:#555}.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(590px,1fr));gap:10px 24px}.lbl{font-size:12px;font-weight:600;fill:#222}.pfns{font-family:monospace;font-size:11px;max-width:640px}pre{font-size:12px;background:#f2f2f2;padding:6px 8px;overflow-x:auto}svg.chart{display:block;margin:6px 0}h3{font-size:14px;margin:14px 0 6px}.rammap .blk:hover{stroke:#fff;stroke-width:0.6}
#tip{position:fixed;pointer-events:none;background:#222;color:#fff;padding:4px 8px;border-radius:4px;font-size:12px;display:none;max-width:520px}`;

const SCRIPT = `(function(){var tip=document.getElementById("tip");
document.addEventListener("mouseover",function(e){var t=e.target;var ti=t&&t.querySelector&&t.querySelector("title");
if(!ti){tip.style.display="none";return;}tip.textContent=ti.textContent;tip.style.display="block";});
document.addEventListener("mousemove",function(e){tip.style.left=(e.clientX+14)+"px";tip.style.top=(e.clientY+14)+"px";});})();`;

/** The whole page. */
export function renderReport(r: ReportInput): string {
  const c = r.m.config;
  const head = `<h1>memsim report</h1><p class="muted">scenario=${esc(r.scenario)} ram=${formatSize(c.ramBytes)} seed=${c.seed} zones=${ZONE_NAMES.slice(0, r.m.kernel.buddy.zones.length).join(",")} max order=${r.m.kernel.buddy.maxOrder}</p>`;
  const body = REPORT_SECTIONS.map((s) => {
    const html = s.render(r);
    return html === null ? "" : `<section id="${s.id}"><h2>${esc(s.title)}</h2>${html}</section>`;
  })
    .filter((html) => html !== "")
    .join("\n");
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>memsim report: ${esc(r.scenario)}</title><style>${CSS}</style></head>\n<body>${head}\n${body}\n<div id="tip"></div><script>${SCRIPT}</script></body></html>\n`;
}

/** Collects the blocks after a run and renders the page. */
export function buildReport(
  m: Machine,
  rec: Recorder,
  scenario: string,
  walk?: { p: Process; va: number },
  smp?: readonly SmpBenchFigures[],
): { html: string; input: ReportInput } {
  const input: ReportInput = { m, rec, scenario, blocks: ramBlocks(m), ...(walk ? { walk } : {}), ...(smp ? { smp } : {}) };
  return { html: renderReport(input), input };
}
