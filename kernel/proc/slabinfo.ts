/**
 * /proc/slabinfo, version 2.1, in SLUB's format: one row per cache,
 * `%-17s %6lu %6lu %6u %4u %4d : tunables %4u %4u %4u : slabdata %6lu %6lu %6lu`,
 * with the tunables and sharedavail SLUB does not have printed as 0.
 */

/** One cache's figures, as get_slabinfo() gathers them. */
export interface SlabinfoRow {
  readonly name: string;
  readonly activeObjs: number;
  readonly numObjs: number;
  /** The stride (s->size), metadata included. */
  readonly objSize: number;
  readonly objPerSlab: number;
  readonly pagesPerSlab: number;
  readonly activeSlabs: number;
  readonly numSlabs: number;
}

const HEADER =
  "slabinfo - version: 2.1\n" +
  "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>" +
  " : tunables <limit> <batchcount> <sharedfactor>" +
  " : slabdata <active_slabs> <num_slabs> <sharedavail>\n";

const r = (n: number, width: number) => String(n).padStart(width);

/** Renders the file from rows in display order. */
export function renderSlabinfo(rows: readonly SlabinfoRow[]): string {
  let out = HEADER;
  for (const row of rows) {
    out +=
      `${row.name.padEnd(17)} ${r(row.activeObjs, 6)} ${r(row.numObjs, 6)} ${r(row.objSize, 6)} ${r(row.objPerSlab, 4)} ${r(row.pagesPerSlab, 4)}` +
      ` : tunables ${r(0, 4)} ${r(0, 4)} ${r(0, 4)}` +
      ` : slabdata ${r(row.activeSlabs, 6)} ${r(row.numSlabs, 6)} ${r(0, 6)}\n`;
  }
  return out;
}
