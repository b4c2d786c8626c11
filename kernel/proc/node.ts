/**
 * /sys/devices/system/node/nodeN/{meminfo,numastat} (Linux
 * drivers/base/node.c): one node's memory and its NUMA allocation counters,
 * in Linux's formats. meminfo lines are "Node N " then the field name padded
 * to 16 columns and the value in kB on 8; memsim shows the fields it keeps
 * per node: the node's managed, free and used frames.
 */
import type { Zone } from "../mm/mmzone.ts";

/** node N's meminfo from the buddy allocator's zones: free pages as MemFree counts them (per-CPU pages not free). */
export function renderNodeMeminfo(zones: readonly Zone[], nid: number): string {
  let total = 0;
  let free = 0;
  for (const z of zones) {
    if (z.nid !== nid) continue;
    total += z.managed;
    free += z.freePages;
  }
  const line = (name: string, pages: number) => `Node ${nid} ${`${name}:`.padEnd(16)}${String(pages * 4).padStart(8)} kB\n`;
  return line("MemTotal", total) + line("MemFree", free) + line("MemUsed", total - free);
}
