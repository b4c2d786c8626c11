/**
 * /proc/buddyinfo: one line per zone, the number of free blocks of each
 * order, in Linux's format ("Node %d, zone %8s" then "%6lu " per order), node by node.
 */
import type { FramesZone } from "../mm/frames.ts";

/** Renders /proc/buddyinfo from a frames layer's zones. Per-CPU pages are not free blocks, as in Linux. */
export function renderBuddyinfo(zones: readonly FramesZone[], maxOrder: number): string {
  let out = "";
  for (const z of zones) {
    out += `Node ${z.nid ?? 0}, zone ${z.name.padStart(8)} `;
    for (let o = 0; o <= maxOrder; o++) out += `${String(z.nrFree[o]).padStart(6)} `;
    out += "\n";
  }
  return out;
}
