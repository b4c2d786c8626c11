/**
 * What paging shows: meminfo PageTables and DirectMap*, the TLB and MMU
 * counters in vmstat, and the `mmu` section of `m.stats()`.
 */
import type { MeminfoValues } from "../proc/meminfo.ts";
import type { PagingParts } from "./init.ts";

const KB_PER_PAGE = 4;

/** PageTables (buddy-allocated table frames), DirectMap4k, DirectMap2M. */
export function pagingMeminfo(p: PagingParts, v: MeminfoValues): void {
  v.PageTables = p.paging.nrTablePages * KB_PER_PAGE;
  v.DirectMap4k = p.directMap4k * KB_PER_PAGE;
  v.DirectMap2M = p.directMap2M * KB_PER_PAGE;
}

/** nr_page_table_pages, Linux's TLB flush counters, and memsim's hit/miss/walk counters. */
export function pagingVmstat(p: PagingParts, out: Array<[string, number]>): void {
  const t = p.tlb.stats;
  out.push(["nr_page_table_pages", p.paging.nrTablePages]);
  out.push(["nr_tlb_local_flush_all", t.flushAll + t.flushAsid]);
  out.push(["nr_tlb_local_flush_one", t.flushOne]);
  out.push(["tlb_hit", t.hits]);
  out.push(["tlb_miss", t.misses]);
  out.push(["pgtable_walk", p.mmu.stats.walks]);
}

/** JSON-able TLB shape and counters, MMU counters, table counts. */
export function pagingStats(p: PagingParts): unknown {
  const t = p.tlb.stats;
  return {
    tlb: {
      entries: p.tlb.entries,
      ways: p.tlb.ways,
      valid: p.tlb.nrValid(),
      hits: t.hits,
      misses: t.misses,
      flushOne: t.flushOne,
      flushRange: t.flushRange,
      flushAsid: t.flushAsid,
      flushAll: t.flushAll,
      entriesFlushed: t.entriesFlushed,
      asidsInUse: p.tlb.nrAsids,
    },
    walks: p.mmu.stats.walks,
    faults: p.mmu.stats.faults,
    oopses: p.mmu.stats.oopses,
    pageTables: p.paging.live.size,
    tablePages: p.paging.nrTablePages,
    kernelTables: p.initMm.nrTables,
  };
}
