/**
 * Small SVG and HTML helpers for the report: escaping, colours per owner,
 * a bar chart and a line chart. Everything is inline text; the page needs no
 * network and no script library.
 */
import type { Owner } from "../pageinfo.ts";

/** Escapes text for HTML and SVG. */
export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** The colour of a free block of `order` (light green for small, dark for large). */
export function freeColour(order: number, maxOrder: number): string {
  const l = 82 - Math.round((order / Math.max(1, maxOrder)) * 50);
  return `hsl(140, 50%, ${l}%)`;
}

/** A stable hue for a name (slab caches get one each). */
function hueOf(name: string): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return 15 + (h % 30);
}

const OWNER_COLOURS: Readonly<Record<Exclude<Owner, "free" | "slab">, string>> = {
  reserved: "#8d8d8d",
  pcp: "#8fd9d0",
  kernel: "#3f6fbf",
  pgtable: "#8a55c9",
  anon: "#d2453e",
  vmalloc: "#e0b422",
  unknown: "#000000",
};

/** The fill of a block. */
export function ownerColour(owner: Owner, order: number, maxOrder: number, detail: string): string {
  if (owner === "free") return freeColour(order, maxOrder);
  if (owner === "slab") return `hsl(${hueOf(detail)}, 85%, 55%)`;
  return OWNER_COLOURS[owner];
}

/** Legend entries: owner and label. */
export const LEGEND: ReadonlyArray<readonly [Owner, string]> = [
  ["free", "free (darker = larger order)"],
  ["pcp", "free, on a per-CPU list"],
  ["reserved", "reserved (firmware, kernel image, mem_map)"],
  ["kernel", "kernel (alloc_pages)"],
  ["slab", "slab (one hue per cache)"],
  ["pgtable", "page tables"],
  ["anon", "user anonymous"],
  ["vmalloc", "vmalloc"],
];

/** A vertical bar chart: one group per label, one bar per series. */
export function barChart(
  labels: readonly string[],
  series: ReadonlyArray<{ name: string; values: readonly number[]; colour: string }>,
  title: string,
): string {
  const w = 640;
  const h = 200;
  const pad = 36;
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const groupW = (w - pad - 10) / labels.length;
  const barW = Math.max(2, (groupW - 6) / series.length);
  let out = `<svg class="chart" width="${w}" height="${h + 40}" viewBox="0 0 ${w} ${h + 40}" role="img" aria-label="${esc(title)}">`;
  out += `<line x1="${pad}" y1="${h}" x2="${w - 5}" y2="${h}" stroke="#444"/>`;
  out += `<text x="${pad - 4}" y="14" text-anchor="end" class="axis">${max}</text><text x="${pad - 4}" y="${h}" text-anchor="end" class="axis">0</text>`;
  labels.forEach((label, i) => {
    const gx = pad + i * groupW;
    series.forEach((s, j) => {
      const v = s.values[i] ?? 0;
      const bh = Math.round((v / max) * (h - 20));
      out += `<rect x="${(gx + 3 + j * barW).toFixed(1)}" y="${h - bh}" width="${(barW - 1).toFixed(1)}" height="${bh}" fill="${s.colour}"><title>${esc(`${s.name}, ${label}: ${v}`)}</title></rect>`;
    });
    out += `<text x="${(gx + groupW / 2).toFixed(1)}" y="${h + 14}" text-anchor="middle" class="axis">${esc(label)}</text>`;
  });
  series.forEach((s, j) => {
    out += `<rect x="${pad + j * 110}" y="${h + 24}" width="10" height="10" fill="${s.colour}"/><text x="${pad + 14 + j * 110}" y="${h + 33}" class="axis">${esc(s.name)}</text>`;
  });
  return `${out}</svg>`;
}

/** A line chart of one series over the samples, with the step labels in tooltips. */
export function lineChart(title: string, unit: string, values: readonly number[], labels: readonly string[], colour: string): string {
  const w = 590;
  const h = 190;
  const pad = 64;
  const top = 30;
  const bottom = h - 22;
  const max = Math.max(...values);
  const min = Math.min(...values);
  const span = max - min || 1;
  const x = (i: number) => pad + (values.length > 1 ? (i / (values.length - 1)) * (w - pad - 12) : 0);
  const y = (v: number) => (max === min ? (top + bottom) / 2 : top + (1 - (v - min) / span) * (bottom - top));
  const pts = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  let out = `<svg class="chart" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(title)}">`;
  out += `<text x="4" y="16" class="lbl">${esc(title)} (${esc(unit)})</text>`;
  out += `<line x1="${pad}" y1="${bottom}" x2="${w - 8}" y2="${bottom}" stroke="#bbb"/><line x1="${pad}" y1="${top}" x2="${pad}" y2="${bottom}" stroke="#bbb"/>`;
  out += `<text x="${pad - 6}" y="${y(max) + 4}" text-anchor="end" class="axis">${max}</text>`;
  if (max !== min) out += `<text x="${pad - 6}" y="${y(min) + 4}" text-anchor="end" class="axis">${min}</text>`;
  out += `<text x="${w - 8}" y="${h - 6}" text-anchor="end" class="axis">${values.length} samples over the run</text>`;
  out += `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${pts}"/>`;
  values.forEach((v, i) => {
    out += `<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3.5" fill="${colour}"><title>${esc(`${labels[i] ?? ""}: ${v} ${unit}`)}</title></circle>`;
  });
  return `${out}</svg>`;
}

/** One line of a multi-line chart: its points (x, y) and colour. */
export interface ChartLine {
  readonly name: string;
  readonly colour: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
}

/** Several lines on shared axes (x from 0 to the largest x), a legend below; values in tooltips. */
export function multiLineChart(title: string, xLabel: string, lines: readonly ChartLine[], fmt: (v: number) => string): string {
  const w = 590;
  const h = 210;
  const pad = 64;
  const top = 26;
  const bottom = h - 44;
  const xs = lines.flatMap((l) => l.points.map((p) => p[0]));
  const ys = lines.flatMap((l) => l.points.map((p) => p[1]));
  const xMax = Math.max(1, ...xs);
  const yMax = Math.max(0, ...ys);
  const yMin = Math.min(0, ...ys);
  const span = yMax - yMin || 1;
  const x = (v: number) => pad + (v / xMax) * (w - pad - 12);
  const y = (v: number) => top + (1 - (v - yMin) / span) * (bottom - top);
  let out = `<svg class="chart" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(title)}">`;
  out += `<text x="4" y="16" class="lbl">${esc(title)}</text>`;
  out += `<line x1="${pad}" y1="${bottom}" x2="${w - 8}" y2="${bottom}" stroke="#bbb"/><line x1="${pad}" y1="${top}" x2="${pad}" y2="${bottom}" stroke="#bbb"/>`;
  out += `<text x="${pad - 6}" y="${y(yMax) + 4}" text-anchor="end" class="axis">${esc(fmt(yMax))}</text>`;
  out += `<text x="${pad - 6}" y="${y(yMin) + 4}" text-anchor="end" class="axis">${esc(fmt(yMin))}</text>`;
  out += `<text x="${w - 8}" y="${bottom + 14}" text-anchor="end" class="axis">${esc(`${xLabel}: ${xMax}`)}</text>`;
  lines.forEach((l, i) => {
    const pts = l.points.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(" ");
    out += `<polyline fill="none" stroke="${l.colour}" stroke-width="1.8" points="${pts}"><title>${esc(l.name)}</title></polyline>`;
    for (const [a, b] of l.points) {
      out += `<circle cx="${x(a).toFixed(1)}" cy="${y(b).toFixed(1)}" r="2.5" fill="${l.colour}"><title>${esc(`${l.name} at ${a}: ${fmt(b)}`)}</title></circle>`;
    }
    const lx = pad + (i % 5) * 104;
    const ly = bottom + 24 + Math.floor(i / 5) * 14;
    out += `<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${l.colour}"/><text x="${lx + 14}" y="${ly}" class="axis">${esc(l.name)}</text>`;
  });
  return `${out}</svg>`;
}
