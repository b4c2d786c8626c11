/** What the vmalloc layer shows: meminfo Vmalloc* and the `vmalloc` section of `m.stats()`. */
import type { MeminfoValues } from "../proc/meminfo.ts";
import { VMALLOC_END, VMALLOC_START } from "./types.ts";
import type { Vmalloc } from "./vmalloc.ts";

/** VmallocTotal (the range, Linux's inclusive end: 34359738367 kB), VmallocUsed (pages vmalloc holds), VmallocChunk (0 since Linux 5.3). */
export function vmallocMeminfo(v: Vmalloc, mi: MeminfoValues): void {
  mi.VmallocTotal = Math.floor((VMALLOC_END - 1 - VMALLOC_START) / 1024);
  mi.VmallocUsed = v.nrVmallocPages * 4;
  mi.VmallocChunk = 0;
}

/** Areas, pages and leaks. */
export function vmallocStats(v: Vmalloc): unknown {
  return { areas: v.tree.size, pages: v.nrVmallocPages, leakedPages: v.leakedPages };
}
