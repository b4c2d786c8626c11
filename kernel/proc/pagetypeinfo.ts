/**
 * /proc/pagetypeinfo: the page block size, free blocks per order for each
 * zone and migrate type, then the number of page blocks of each type, in
 * Linux's format (mm/vmstat.c pagetypeinfo_show). memsim models three types
 * (kernel/mm/pageblock.ts), so HighAtomic, CMA and Isolate rows are absent.
 */
import type { FramesZone } from "../mm/frames.ts";
import { MIGRATE_NAMES, MIGRATE_TYPES } from "../mm/pageblock.ts";

/**
 * Renders /proc/pagetypeinfo. Returns null when the frames layer's zones
 * keep no migrate types (a lab allocator).
 */
export function renderPagetypeinfo(zones: readonly FramesZone[], maxOrder: number): string | null {
  const first = zones[0];
  if (first?.pageblockOrder === undefined) return null;
  const pbo = first.pageblockOrder;
  let out = `Page block order: ${pbo}\nPages per block:  ${1 << pbo}\n\n`;
  out += `${"Free pages count per migrate type at order".padEnd(43)} `;
  for (let o = 0; o <= maxOrder; o++) out += `${String(o).padStart(6)} `;
  out += "\n";
  for (const z of zones) {
    for (let mt = 0; mt < MIGRATE_TYPES; mt++) {
      out += `Node ${String(z.nid ?? 0).padStart(4)}, zone ${z.name.padStart(8)}, type ${MIGRATE_NAMES[mt]?.padStart(12)} `;
      for (let o = 0; o <= maxOrder; o++) out += `${String(z.nrFreeMt?.[o * MIGRATE_TYPES + mt] ?? 0).padStart(6)} `;
      out += "\n";
    }
  }
  out += `\n${"Number of blocks type ".padEnd(23)}`;
  for (const name of MIGRATE_NAMES) out += `${name.padStart(12)} `;
  out += "\n";
  for (const z of zones) {
    const counts = new Array<number>(MIGRATE_TYPES).fill(0);
    const types = z.blockType ?? [];
    for (let i = 0; i < types.length; i++) counts[types[i] as number] = (counts[types[i] as number] as number) + 1;
    out += `Node ${z.nid ?? 0}, zone ${z.name.padStart(8)} `;
    for (const c of counts) out += `${String(c).padStart(12)} `;
    out += "\n";
  }
  return out;
}
