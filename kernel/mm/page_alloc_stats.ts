/**
 * What the buddy allocator shows beyond what every frames layer shows
 * (frame_pages.ts): the `buddy` section of `m.stats()`.
 */
import type { FramesCounters } from "./frames.ts";
import type { BuddyLists, PerCpuPages } from "./mmzone.ts";
import { MIGRATE_TYPES } from "./pageblock.ts";

/** Blocks on each order's per-CPU lists (every migrate type's), counted by walking the lists. */
function pcpBlocksByOrder(b: BuddyLists, pcp: PerCpuPages): number[] {
  const out = new Array<number>(pcp.head.length / MIGRATE_TYPES).fill(0);
  for (let li = 0; li < pcp.head.length; li++) {
    let n = 0;
    for (let h = pcp.head[li] as number; h !== 0; h = b.memmap.word(h - 1, 1)) n++;
    const order = (li / MIGRATE_TYPES) | 0;
    out[order] = (out[order] as number) + n;
  }
  return out;
}

/** JSON-able state: per zone free counts by order and watermarks, the kernel's counters, splits, merges, pcp. */
export function buddyStats(b: BuddyLists, counters: FramesCounters): unknown {
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
    pgfree: counters.pgfree,
    allocFailures: counters.allocFailures,
    splits: Array.from(b.stats.splits),
    merges: Array.from(b.stats.merges),
    pcpRefills: b.stats.pcpRefills,
    pcpDrains: b.stats.pcpDrains,
    // A one-CPU machine shows what it always did.
    ...(b.nrCpus > 1 ? { drainAll: b.stats.drainAll, drainWork: b.stats.drainWork } : {}),
  };
}
