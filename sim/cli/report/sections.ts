/**
 * Report sections of the layers above the buddy allocator: the slab caches,
 * each process's VMA map, and the page-table walk of one address. Each reads
 * what the layer shows (/proc/slabinfo rows, /proc/PID/smaps, the page
 * table's own explain()) and draws it.
 */
import { slabinfoRows } from "../../../kernel/mm/slab_stats.ts";
import { formatVa } from "../../../kernel/mm/types.ts";
import type { Process } from "../../../kernel/process.ts";
import { formatSize } from "../../units.ts";
import { renderChunkMap } from "../heapmap.ts";
import { heapChunks } from "../heapwalk.ts";
import { type PmapRow, pmapRows } from "../toolviews.ts";
import type { ReportInput } from "./page.ts";
import { esc, ownerColour } from "./svg.ts";

/** The slab caches that hold objects, as a table with a usage bar each. */
export function slabSection(r: ReportInput): string | null {
  const rows = slabinfoRows(r.m.kernel.slab)
    .filter((x) => x.numObjs > 0)
    .sort((a, b) => b.numObjs - a.numObjs || a.name.localeCompare(b.name));
  if (rows.length === 0) return null;
  const body = rows.map((x) => {
    const pct = Math.round((x.activeObjs / x.numObjs) * 100);
    const colour = ownerColour("slab", 0, 0, x.name);
    const bar = `<svg width="120" height="12"><rect width="120" height="12" fill="#eee"/><rect class="use" width="${(pct * 1.2).toFixed(1)}" height="12" fill="${colour}"><title>${esc(`${x.name}: ${x.activeObjs} of ${x.numObjs} objects in use`)}</title></rect></svg>`;
    const cells = [x.numObjs, x.activeObjs, x.objSize, x.objPerSlab, x.numSlabs, formatSize(x.numSlabs * x.pagesPerSlab * 4096)];
    return `<tr><td><span class="sw" style="background:${colour}"></span>${esc(x.name)}</td>${cells.map((c) => `<td class="num">${c}</td>`).join("")}<td>${bar} ${pct}%</td></tr>`;
  });
  const head =
    "<tr><th>cache</th><th>objs</th><th>active</th><th>obj size</th><th>obj/slab</th><th>slabs</th><th>memory</th><th>in use</th></tr>";
  return `<p>Caches holding objects, by object count (slabtop's order); each hue matches the cache's slabs in the RAM map.</p><table class="data">${head}${body.join("")}</table>`;
}

const PERM_COLOURS: Readonly<Record<string, string>> = {
  "rw-": "#d2453e",
  "r--": "#5b8def",
  "r-x": "#3aa16b",
  "---": "#999999",
  rwx: "#e08a00",
};

/** Width of a VMA box: grows with the logarithm of its size, so 4 KiB and 1 GiB both fit. */
function boxWidth(kb: number): number {
  return Math.round(120 + 12 * Math.log2(Math.max(1, kb / 4)));
}

function vmaStrip(p: Process): string {
  const rows: PmapRow[] = pmapRows(p.proc.smaps());
  const h = 60;
  let x = 4;
  let out = "";
  let prevEnd = -1;
  for (const row of rows) {
    if (prevEnd >= 0 && row.start > prevEnd) {
      out += `<text x="${x + 2}" y="${h / 2 + 4}" class="axis">⋯<title>${esc(`gap of ${formatSize(row.start - prevEnd)}`)}</title></text>`;
      x += 16;
    }
    const w = boxWidth(row.kbytes);
    const fill = PERM_COLOURS[row.mode.slice(0, 3)] ?? "#777";
    const resident = row.kbytes ? Math.round((row.rss / row.kbytes) * (h - 2)) : 0;
    const tip = `0x${formatVa(row.start)} ${row.mode} ${row.mapping}: ${row.kbytes} kB, RSS ${row.rss} kB, dirty ${row.dirty} kB`;
    out += `<g class="vma"><title>${esc(tip)}</title><rect x="${x}" y="1" width="${w}" height="${h - 2}" fill="#fff" stroke="${fill}"/>`;
    out += `<rect x="${x}" y="${h - 1 - resident}" width="${w}" height="${resident}" fill="${fill}" opacity="0.75"/>`;
    out += `<text x="${x + 4}" y="14" class="lbl">${esc(row.name || "anon")}</text><text x="${x + 4}" y="30" class="axis">${formatVa(row.start)}</text>`;
    out += `<text x="${x + 4}" y="${h - 7}" class="axis">${formatSize(row.kbytes * 1024)}, RSS ${formatSize(row.rss * 1024)}</text></g>`;
    x += w + 4;
    prevEnd = row.start + row.kbytes * 1024;
  }
  return `<svg class="vmas" width="${x + 4}" height="${h}" role="img" aria-label="${esc(`VMAs of pid ${p.pid}`)}">${out}</svg>`;
}

/** One strip per live process: its VMAs in address order, filled up to the resident fraction. */
export function processSection(r: ReportInput): string | null {
  const procs = r.m.processes().filter((p) => p.state === "running");
  if (procs.length === 0) return null;
  const legend = Object.entries(PERM_COLOURS)
    .map(([perm, c]) => `<span class="sw" style="background:${c}"></span>${perm} `)
    .join(" ");
  const strips = procs.map((p) => {
    const chunks = heapChunks(p);
    const heap = chunks.length
      ? `<details><summary>malloc heap: ${chunks.length} chunks</summary><pre>${esc(renderChunkMap(chunks))}</pre></details>`
      : "";
    return `<h3>pid ${p.pid} (${esc(p.comm)})</h3>${vmaStrip(p)}<pre>${esc(p.proc.maps())}</pre>${heap}`;
  });
  return `<p>Each box is a VMA (width grows with the logarithm of its size), filled to the part that is resident; ⋯ marks a gap. ${legend}</p>${strips.join("")}`;
}

/** One level of a walk as the page table's explain() prints it. */
interface WalkStep {
  readonly level: number;
  readonly table: string;
  readonly pfn: string;
  readonly index: string;
  readonly entry: string;
  readonly rest: string;
}

function parseWalk(text: string): WalkStep[] {
  const steps: WalkStep[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s+L(\d) (\S+)\s+pfn (0x[0-9a-f]+) \[\s*(\d+)\] = (0x[0-9a-f]+) (.*)$/.exec(line);
    if (m)
      steps.push({
        level: Number(m[1]),
        table: m[2] as string,
        pfn: m[3] as string,
        index: m[4] as string,
        entry: m[5] as string,
        rest: m[6] as string,
      });
  }
  return steps;
}

/** The address the report walks: the first resident page of the first process, or a given one. */
export function defaultWalkAddress(r: ReportInput): { p: Process; va: number } | null {
  for (const p of r.m.processes()) {
    if (p.state !== "running") continue;
    const row = pmapRows(p.proc.smaps()).find((x) => x.rss > 0);
    if (row) return { p, va: row.start };
  }
  return null;
}

/** The walk of one user address through the four levels, boxes and arrows, with explain()'s text below. */
export function pagetableSection(r: ReportInput): string | null {
  const target = r.walk ?? defaultWalkAddress(r);
  if (!target) return null;
  const text = target.p.mm.pt.explain(target.va);
  const steps = parseWalk(text);
  const bw = 196;
  const gap = 34;
  let out = "";
  steps.forEach((s, i) => {
    const x = 4 + i * (bw + gap);
    const leafOrStop = i === steps.length - 1;
    out += `<g class="level"><title>${esc(`${s.table} at pfn ${s.pfn}, entry [${s.index}] = ${s.entry} ${s.rest}`)}</title>`;
    out += `<rect x="${x}" y="4" width="${bw}" height="78" rx="4" fill="#f3f0fa" stroke="#8a55c9"/>`;
    out += `<text x="${x + 8}" y="22" class="lbl">${esc(s.table)} (L${s.level}) at pfn ${esc(s.pfn)}</text>`;
    out += `<text x="${x + 8}" y="42" class="axis">index [${esc(s.index)}]</text>`;
    out += `<text x="${x + 8}" y="58" class="axis">${esc(s.entry)}</text>`;
    out += `<text x="${x + 8}" y="74" class="axis">${esc(s.rest.replace(/ ->.*$/, "").slice(0, 26))}</text></g>`;
    if (!leafOrStop) out += `<line x1="${x + bw}" y1="43" x2="${x + bw + gap - 4}" y2="43" stroke="#555" marker-end="url(#arrow)"/>`;
  });
  const last = steps[steps.length - 1];
  const frame = last ? /frame pfn (0x[0-9a-f]+)/.exec(last.rest) : null;
  const fx = 4 + steps.length * (bw + gap);
  if (frame && last) {
    out += `<line x1="${fx - gap}" y1="43" x2="${fx - 4}" y2="43" stroke="#555" marker-end="url(#arrow)"/>`;
    out += `<g class="frame"><title>${esc(`data page: frame ${frame[1]}`)}</title><rect x="${fx}" y="14" width="120" height="58" rx="4" fill="#fdeceb" stroke="#d2453e"/><text x="${fx + 8}" y="38" class="lbl">frame ${esc(frame[1] as string)}</text><text x="${fx + 8}" y="56" class="axis">the data page</text></g>`;
  }
  const width = fx + (frame ? 130 : 0);
  const defs = `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" fill="#555"/></marker></defs>`;
  const head = `<p>The walk of 0x${formatVa(target.va)} in pid ${target.p.pid} (${esc(target.p.comm)}): 9 bits of the address index each table.</p>`;
  return `${head}<svg id="ptwalk" width="${width}" height="90">${defs}${out}</svg><pre>${esc(text)}</pre>`;
}

/** "0x1a0-0x1af, 0x300" from frame numbers in page order. */
function pfnRanges(pfns: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < pfns.length; ) {
    let j = i;
    while (j + 1 < pfns.length && (pfns[j + 1] as number) === (pfns[j] as number) + 1) j++;
    const a = pfns[i] as number;
    parts.push(j === i ? `0x${a.toString(16)}` : `0x${a.toString(16)}-0x${(pfns[j] as number).toString(16)}`);
    i = j + 1;
  }
  return parts.join(", ");
}

/** The vmalloc areas: each virtual range and the frames behind its pages, in page order. */
export function vmallocSection(r: ReportInput): string | null {
  const areas = r.m.kernel.vmallocLayer.areas();
  if (areas.length === 0) return null;
  const rows = areas.map((a) => {
    const pfns: number[] = [];
    for (let i = 0; i < a.nrPages; i++) {
      const pfn = r.m.kernel.vmallocToPfn(a.start + i * 4096);
      if (pfn !== null) pfns.push(pfn);
    }
    const cells = [`0x${formatVa(a.start)}-0x${formatVa(a.end)}`, formatSize(a.end - a.start), a.caller, String(a.nrPages)];
    return `<tr>${cells.map((c) => `<td>${esc(c)}</td>`).join("")}<td class="pfns">${esc(pfnRanges(pfns))}</td></tr>`;
  });
  const head = "<tr><th>area</th><th>size (with guard page)</th><th>caller</th><th>pages</th><th>frames, in page order</th></tr>";
  return `<p>Contiguous in virtual memory, scattered in RAM: the frames behind each area's pages, as its page-table entries name them.</p><table class="data">${head}${rows.join("")}</table>`;
}
