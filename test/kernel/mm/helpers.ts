/** Shared pieces of the page-table and MMU tests: a demand-paging fault handler and a zap sink that frees frames. */
import {
  __GFP_ZERO,
  GFP_HIGHUSER,
  type Machine,
  type PageFault,
  type PageTable,
  PF_PROT,
  PTE_NX,
  PTE_P,
  PTE_RW,
  PTE_US,
  type ZapSink,
} from "../../../sim/index.ts";

/** User read-write data: what a private anonymous page gets after a write fault. */
export const USER_RW = (PTE_P | PTE_RW | PTE_US | PTE_NX) >>> 0;
export const USER_RO = (PTE_P | PTE_US | PTE_NX) >>> 0;

/**
 * The smallest handle_mm_fault: a not-present fault anywhere in the user
 * half gets a zeroed frame mapped read-write (mapcount 1); protection
 * faults are refused. Records every fault it sees.
 */
export function demandPaging(m: Machine, pt: PageTable, seen: PageFault[] = []): PageFault[] {
  const k = m.kernel;
  pt.faultHandler = (f) => {
    seen.push(f);
    if (f.errorCode & PF_PROT || f.address >= 2 ** 47) return false;
    const va = f.address - (f.address % 4096);
    const ptep = pt.ensure(va);
    if (ptep < 0) return false;
    const pfn = k.allocPages(0, GFP_HIGHUSER | __GFP_ZERO);
    if (pfn === null) return false;
    k.memmap.setMapcount(pfn, 1);
    pt.setPte(va, ptep, pfn, USER_RW);
    return true;
  };
  return seen;
}

/** A sink that drops the mapcount of every present page it gets and frees it. */
export function freeingSink(m: Machine): ZapSink & { zapped: number[] } {
  const k = m.kernel;
  const zapped: number[] = [];
  return {
    zapped,
    zapPte(va, pfn, flags) {
      zapped.push(va);
      if ((flags & PTE_P) === 0) return;
      k.memmap.setMapcount(pfn, 0);
      k.freePages(pfn, 0);
    },
  };
}

/** Frames the buddy allocator and its per-CPU lists hold: free memory as the allocator sees it. */
export function freeFrames(m: Machine): number {
  return m.kernel.buddy.nrFreePages() + m.kernel.buddy.nrPcpPages();
}
