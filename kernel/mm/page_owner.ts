/**
 * page_owner's text (Linux's /sys/kernel/debug/page_owner): for every
 * allocated block whose owner was recorded, who allocated it, when, with
 * which gfp mask, and from which call site. memsim keeps the site's handle
 * in struct page (SP_OWNER, site id + 1, head page only; FramePages clears
 * it when the block is freed) and the rest of the record beside it; the
 * recorder is sim/alloc_sites.ts. A block whose SP_OWNER no longer matches
 * its record (freed and reused without a record) is not printed.
 *
 *   Page allocated via order 0, mask 0xcc0(GFP_KERNEL), pid 1, tgid 1 (init), ts 5000 ns
 *   PFN 0x1a2 type Unmovable Block 0 type Unmovable Flags 0x8(alloc)
 *    <call site>
 *   (blank line)
 */
import { formatGfp } from "./gfp.ts";
import type { MemMap } from "./memmap.ts";
import { SP_OWNER } from "./memmap.ts";

/** Linux's pageblock_order on x86-64 (a PMD's worth of pages): the "Block" column. */
export const PAGEBLOCK_ORDER = 9;

/** Migrate types by number, as Linux names them. */
const MIGRATETYPE_NAMES = ["Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate"];

/** What the recorder keeps of one allocated block. */
export interface PageOwnerRecord {
  readonly pfn: number;
  readonly order: number;
  readonly gfp: number;
  readonly migratetype: number;
  readonly pid: number;
  readonly comm: string;
  /** The logical clock of the allocation, ns. */
  readonly ts: number;
  /** The site handle written in SP_OWNER (site id + 1). */
  readonly handle: number;
  readonly site: string;
}

function mtName(mt: number): string {
  return MIGRATETYPE_NAMES[mt] ?? String(mt);
}

/** One record in page_owner's format (three lines and a blank one). */
export function formatPageOwner(r: PageOwnerRecord, memmap: MemMap): string {
  const mask = `0x${r.gfp.toString(16)}(${formatGfp(r.gfp)})`;
  const flags = `0x${memmap.flags(r.pfn).toString(16)}(${memmap.describeFlags(r.pfn)})`;
  return (
    `Page allocated via order ${r.order}, mask ${mask}, pid ${r.pid}, tgid ${r.pid} (${r.comm}), ts ${r.ts} ns\n` +
    `PFN 0x${r.pfn.toString(16)} type ${mtName(r.migratetype)} Block ${r.pfn >>> PAGEBLOCK_ORDER} type ${mtName(r.migratetype)} Flags ${flags}\n` +
    ` ${r.site}\n\n`
  );
}

/** page_owner's whole text: the records still owning their block, by pfn. */
export function renderPageOwner(records: Iterable<PageOwnerRecord>, memmap: MemMap): string {
  const live = [...records].filter((r) => memmap.userWord(r.pfn, SP_OWNER) === r.handle).sort((a, b) => a.pfn - b.pfn);
  return live.map((r) => formatPageOwner(r, memmap)).join("");
}
