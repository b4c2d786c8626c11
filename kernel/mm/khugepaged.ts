/**
 * khugepaged (Linux mm/khugepaged.c): a scan of the address spaces that
 * turns each 2 MiB-aligned range of an eligible VMA whose 512 entries all
 * map private anonymous pages of this address space alone into one huge
 * page: a fresh order-9 page gets a copy of the 512 pages, the old pages and
 * their table are freed, and one 2 MiB leaf maps the copy
 * (collapse_huge_page; thp_collapse_alloc counts each).
 *
 * memsim runs the scan when asked (`m.kernel.khugepaged()`), not from a
 * thread, and collapses only ranges with no empty entry, no swap entry and
 * no zero page (Linux's max_ptes_none, max_ptes_swap and max_ptes_shared
 * set to 0).
 *
 * Owns: the scan and the collapse. Calls: huge_memory.ts (eligibility,
 * accounting), the page allocator, page tables.
 */
import { GFP_TRANSHUGE, HPAGE_ORDER, type HugeHost, type HugeMemory, hugeFlags } from "./huge_memory.ts";
import { PG_alloc, PG_anon, PG_anon_exclusive, PG_lazyfree, PG_swapcache } from "./memmap.ts";
import type { MmStruct } from "./mm.ts";
import { entryAddr, HPAGE_PAGES, HPAGE_SIZE, PTE_P, PTE_RW, PTE_SPECIAL } from "./pgtable_types.ts";

/** Collapses every range it can in `mms`. Returns how many huge pages it made. */
export function khugepagedScan(mem: HugeHost, huge: HugeMemory, mms: readonly MmStruct[]): number {
  if (huge.enabled === "never") return 0;
  let made = 0;
  for (const mm of mms) {
    if (!mm.pt.geo.hugePages) continue; // x86-32: no huge leaves to collapse into
    for (let n = mm.tree.first(); n >= 0; n = mm.tree.next(n)) {
      const vma = mm.tree.value(n);
      if (!huge.vmaEligible(vma)) continue;
      const f = mem.vmas.f;
      const first = Math.ceil(f.start(vma) / HPAGE_SIZE) * HPAGE_SIZE;
      for (let haddr = first; haddr + HPAGE_SIZE <= f.end(vma); haddr += HPAGE_SIZE) {
        const r = collapseHugePage(mem, huge, mm, vma, haddr);
        if (r === "nomem") return made;
        if (r === "collapsed") made++;
      }
    }
  }
  return made;
}

/**
 * collapse_huge_page for the 2 MiB at `haddr` of `mm`. Returns "skip" when
 * the range does not qualify, "nomem" when no huge page could be had.
 */
function collapseHugePage(mem: HugeHost, huge: HugeMemory, mm: MmStruct, vma: number, haddr: number): "collapsed" | "skip" | "nomem" {
  const pt = mm.pt;
  const first = pt.lookup(haddr);
  if (first < 0 || pt.leafLevel !== 1) return "skip";
  const table = Math.floor(first / 4096);
  let writable = true;
  for (let i = 0; i < HPAGE_PAGES; i++) {
    const ptep = entryAddr(table, i);
    const flags = pt.pteFlags(ptep);
    if (!(flags & PTE_P) || flags & PTE_SPECIAL || !exclusiveAnon(mem, pt.ptePfn(ptep))) return "skip";
    if (!(flags & PTE_RW)) writable = false;
  }
  const head = mem.buddy.allocPages(HPAGE_ORDER, GFP_TRANSHUGE);
  if (head < 0) return "nomem";
  // The upper tables exist (a level-1 table hangs below them): this finds the level-2 slot without allocating.
  const pmdp = pt.ensure(haddr, 2);
  for (let i = 0; i < HPAGE_PAGES; i++) {
    const ptep = entryAddr(table, i);
    const va = haddr + i * 4096;
    const old = pt.ptePfn(ptep);
    mem.phys.copyPage(head + i, old);
    pt.clearPte(va, ptep);
    mem.memmap.setMapcount(old, 0);
    mem.buddy.freePages(old, 0);
  }
  mem.memmap.setFlag(head, PG_anon | PG_anon_exclusive);
  huge.addMapcount(head, 1);
  // The emptied table goes; the leaf takes its slot (pmdp_collapse_flush, then set_pmd_at).
  pt.setPte(haddr, pmdp, head, hugeFlags(mem.vmas.f.flags(vma), { write: writable }));
  pt.paging.freeTable(table);
  pt.nrTables--;
  pt.flushTlb();
  huge.stats.thpCollapseAlloc++;
  huge.stats.nrAnonThps++;
  return "collapsed";
}

/** A private anonymous page only this mapping holds (not in the swap cache, not lazily freeable). */
function exclusiveAnon(mem: HugeHost, pfn: number): boolean {
  const m = mem.memmap;
  return (
    m.testFlag(pfn, PG_alloc) &&
    m.testFlag(pfn, PG_anon) &&
    m.testFlag(pfn, PG_anon_exclusive) &&
    !m.testFlag(pfn, PG_swapcache) &&
    !m.testFlag(pfn, PG_lazyfree) &&
    m.order(pfn) === 0 &&
    m.mapcount(pfn) === 1 &&
    m.refcount(pfn) === 1
  );
}
