/**
 * /proc/buddyinfo: one line per zone, the number of free blocks of each
 * order, in Linux's format ("Node 0, zone %8s" then "%6lu " per order).
 */
import type { BuddyAllocator } from "../mm/page_alloc.ts";

/** Renders /proc/buddyinfo. Per-CPU pages are not free blocks, as in Linux. */
export function renderBuddyinfo(buddy: BuddyAllocator): string {
  let out = "";
  for (const z of buddy.zones) {
    out += `Node 0, zone ${z.name.padStart(8)} `;
    for (let o = 0; o <= buddy.maxOrder; o++) out += `${String(z.nrFree[o]).padStart(6)} `;
    out += "\n";
  }
  return out;
}
