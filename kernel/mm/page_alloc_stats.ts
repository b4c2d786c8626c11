/**
 * What the page allocator shows: its meminfo fields, vmstat counters and the
 * `buddy` section of `m.stats()`.
 */
import type { MeminfoValues } from "../proc/meminfo.ts";
import type { PerCpuPages } from "./mmzone.ts";
import type { BuddyAllocator } from "./page_alloc.ts";

const KB_PER_PAGE = 4;

/** MemTotal, MemFree, MemAvailable (free minus the reserves the kernel keeps), DirectMap4k. */
export function buddyMeminfo(b: BuddyAllocator, v: MeminfoValues): void {
  let reserve = 0;
  for (const z of b.zones) reserve += z.wmarkHigh + z.lowmemReserve;
  const free = b.nrFreePages();
  v.MemTotal = b.nrManagedPages() * KB_PER_PAGE;
  v.MemFree = free * KB_PER_PAGE;
  v.MemAvailable = (v.MemAvailable ?? 0) + Math.max(0, free - reserve) * KB_PER_PAGE;
  v.DirectMap4k = b.mem.nrPages * KB_PER_PAGE;
}

/** nr_free_pages, pgalloc_*, pgfree, and memsim's split/merge counters. */
export function buddyVmstat(b: BuddyAllocator, out: Array<[string, number]>): void {
  out.push(["nr_free_pages", b.nrFreePages()]);
  for (const z of b.zones) out.push([`pgalloc_${z.name.toLowerCase()}`, z.pgalloc]);
  out.push(["pgfree", b.pgfree]);
  out.push(["allocstall", 0]);
  out.push(["buddy_alloc_fail", b.stats.allocFailures]);
}

/** Blocks on each order's per-CPU list, counted by walking the lists. */
function pcpBlocksByOrder(b: BuddyAllocator, pcp: PerCpuPages): number[] {
  const out: number[] = [];
  for (let order = 0; order < pcp.head.length; order++) {
    let n = 0;
    for (let h = pcp.head[order] as number; h !== 0; h = b.memmap.word(h - 1, 1)) n++;
    out.push(n);
  }
  return out;
}

/** JSON-able state: per zone free counts by order and watermarks, splits, merges, pcp. */
export function buddyStats(b: BuddyAllocator): unknown {
  return {
    zones: b.zones.map((z) => ({
      name: z.name,
      startPfn: z.startPfn,
      endPfn: z.endPfn,
      managed: z.managed,
      freePages: z.freePages,
      freeByOrder: Array.from(z.nrFree),
      watermarks: { min: z.wmarkMin, low: z.wmarkLow, high: z.wmarkHigh },
      lowmemReserve: z.lowmemReserve,
      pgalloc: z.pgalloc,
      pcp: z.pcp.map((p) => ({ count: p.count, high: p.high, batch: p.batch, byOrder: pcpBlocksByOrder(b, p) })),
    })),
    pgalloc: b.zones.reduce((n, z) => n + z.pgalloc, 0),
    pgfree: b.pgfree,
    allocFailures: b.stats.allocFailures,
    splits: Array.from(b.stats.splits),
    merges: Array.from(b.stats.merges),
    pcpRefills: b.stats.pcpRefills,
    pcpDrains: b.stats.pcpDrains,
  };
}
