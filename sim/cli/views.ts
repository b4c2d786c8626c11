/**
 * Views: the text a person reads about a machine, shaped like the Linux tool
 * or /proc file it imitates. `memsim run` prints the default ones after its
 * scenario; the shell and scripts print any of them by name. A view whose
 * layer has not landed is simply not listed.
 */
import { PAGE_SIZE } from "../../kernel/mm/types.ts";
import { renderZonePagesets } from "../../kernel/proc/zoneinfo.ts";
import type { Machine } from "../machine.ts";
import { renderSlabtop } from "./toolviews.ts";

/** One view of a whole machine. */
export interface View {
  readonly name: string;
  /** The heading `memsim run` prints ("/proc/meminfo"). */
  readonly title: string;
  readonly help: string;
  /** Printed by `memsim run` after its scenario. */
  readonly inRun: boolean;
  render(m: Machine): string;
}

/** The per-zone free-list table: /proc/buddyinfo plus free pages and per-CPU pages per zone. */
function renderZones(m: Machine): string {
  const b = m.kernel.buddy;
  let out = "zone     start    end      managed  free     pcp   min    low    high\n";
  for (const z of b.zones) {
    const pcp = z.pcp.reduce((n, p) => n + p.count, 0);
    const name = b.numa.nrNodes > 1 ? `${z.nid}:${z.name}` : z.name;
    const cells = [name.padEnd(8), hex(z.startPfn).padEnd(8), hex(z.endPfn).padEnd(8)];
    cells.push(String(z.managed).padEnd(8), String(z.freePages).padEnd(8), String(pcp).padEnd(5));
    cells.push(String(z.wmarkMin).padEnd(6), String(z.wmarkLow).padEnd(6), String(z.wmarkHigh));
    out += `${cells.join(" ")}\n`;
  }
  // More than one CPU: the per-CPU lists and vmstat thresholds as /proc/zoneinfo prints them.
  const v = m.kernel.smp.vmstat;
  return v === null ? out : `${out}\n${renderZonePagesets(b.zones, v)}`;
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** Every view, in the order `memsim run` prints them. */
export const VIEWS: View[] = [
  { name: "buddyinfo", title: "/proc/buddyinfo", help: "free blocks per order and zone", inRun: true, render: (m) => m.proc.buddyinfo() },
  {
    name: "pagetypeinfo",
    title: "/proc/pagetypeinfo",
    help: "free blocks per order, zone and migrate type; page blocks per type",
    inRun: false,
    render: (m) => m.proc.pagetypeinfo(),
  },
  {
    name: "unusable_index",
    title: "extfrag/unusable_index",
    help: "per order, the share of free memory too fragmented to serve it",
    inRun: false,
    render: (m) => m.proc.unusableIndex(),
  },
  {
    name: "extfrag_index",
    title: "extfrag/extfrag_index",
    help: "per order, whether a failing allocation fails from fragmentation (1) or want of memory (0)",
    inRun: false,
    render: (m) => m.proc.extfragIndex(),
  },
  { name: "zoneinfo", title: "zones", help: "zone spans, free and per-CPU pages, watermarks", inRun: true, render: renderZones },
  { name: "meminfo", title: "/proc/meminfo", help: "memory usage in Linux's format", inRun: true, render: (m) => m.proc.meminfo() },
  { name: "slabinfo", title: "/proc/slabinfo", help: "slab caches in Linux's format", inRun: true, render: (m) => m.proc.slabinfo() },
  { name: "slabtop", title: "slabtop", help: "slab caches by object count, slabtop style", inRun: false, render: renderSlabtop },
  { name: "vmallocinfo", title: "/proc/vmallocinfo", help: "vmalloc and vmap areas", inRun: true, render: (m) => m.proc.vmallocinfo() },
  { name: "vmstat", title: "/proc/vmstat", help: "event counters", inRun: true, render: (m) => m.proc.vmstat() },
  { name: "swaps", title: "/proc/swaps", help: "the swap area: size and slots in use", inRun: false, render: (m) => m.proc.swaps() },
];

/** A view by name; null when no landed layer provides it. */
export function findView(name: string): View | null {
  return VIEWS.find((v) => v.name === name) ?? null;
}

/** Bytes as "16 KiB" / "4 MiB" for narration. */
export function humanBytes(bytes: number): string {
  for (const [unit, f] of [
    ["GiB", 2 ** 30],
    ["MiB", 2 ** 20],
    ["KiB", 2 ** 10],
  ] as const) {
    if (bytes >= f && bytes % f === 0) return `${bytes / f} ${unit}`;
  }
  return `${bytes} B`;
}

/** Pages as bytes, for narration. */
export function pagesToBytes(pages: number): number {
  return pages * PAGE_SIZE;
}
