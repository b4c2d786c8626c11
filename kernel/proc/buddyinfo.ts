/**
 * /proc/buddyinfo: one line per zone, the number of free blocks of each
 * order, in Linux's format ("Node 0, zone %8s" then "%6lu " per order).
 */
import type { FramesZone } from "../mm/frames.ts";

/** Renders /proc/buddyinfo from a frames layer's zones. Per-CPU pages are not free blocks, as in Linux. */
export function renderBuddyinfo(zones: readonly FramesZone[], maxOrder: number): string {
  let out = "";
  for (const z of zones) {
    out += `Node 0, zone ${z.name.padStart(8)} `;
    for (let o = 0; o <= maxOrder; o++) out += `${String(z.nrFree[o]).padStart(6)} `;
    out += "\n";
  }
  return out;
}
