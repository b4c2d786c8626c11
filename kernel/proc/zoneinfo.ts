/**
 * /proc/zoneinfo's lines for the per-CPU state of a machine with more than
 * one CPU, in Linux 6.1's format: per zone its header, "pages free" (the
 * global NR_FREE_PAGES counter, which lags the exact count by the CPUs'
 * diffs, mm/vmstat.ts) and the "pagesets" section, one block per CPU with
 * its per-CPU list (count, high, batch) and its `vm stats threshold:`.
 *
 *   Node 0, zone   Normal
 *     pages free     4091
 *     pagesets
 *       cpu: 0
 *                 count: 2
 *                 high:  113
 *                 batch: 1
 *     vm stats threshold: 4
 *       cpu: 1
 *       ...
 */
import type { Zone } from "../mm/mmzone.ts";
import type { ZoneVmStat } from "../mm/vmstat.ts";

/** The zones' per-CPU blocks, each under its node. */
export function renderZonePagesets(zones: readonly Zone[], v: ZoneVmStat): string {
  let out = "";
  for (const z of zones) {
    out += `Node ${z.nid}, zone ${z.name.padStart(8)}\n  pages free     ${v.zonePageState(z.index)}\n  pagesets\n`;
    z.pcp.forEach((p, c) => {
      out += `    cpu: ${c}\n              count: ${p.count}\n              high:  ${p.high}\n              batch: ${p.batch}\n`;
      out += `  vm stats threshold: ${v.threshold[z.index]}\n`;
    });
  }
  return out;
}
