/**
 * Transparent huge pages for private anonymous memory (Linux
 * mm/huge_memory.c): a fault in a 2 MiB-aligned range that lies inside an
 * eligible VMA gets an order-9 compound page mapped by one 2 MiB leaf (a PMD
 * entry); fork shares it write-protected; a write to a shared one, or a
 * change to part of one (munmap, mprotect, mremap, MADV_DONTNEED of less than
 * the whole), splits it into 512 4 KiB entries over the same frames.
 *
 * Owns: the THP fault, the huge-page COW decision, fork's copy of a 2 MiB
 * leaf, the zap of one, the split, and the THP counters. Calls: the page
 * allocator, page tables, memory.ts (anon accounting). Collapse
 * (khugepaged) lives in khugepaged.ts.
 *
 * A mapped huge page (PG_head | PG_anon, order 9):
 *   head refcount   = the 2 MiB leaves mapping it (one per address space)
 *   every subpage's mapcount (word 2, tails included) = that same number,
 *                     so the page-table checker's "a frame's mapcount is the
 *                     leaves mapping it" holds for every frame
 *   PG_anon_exclusive on the head while one address space maps it
 * memsim never maps part of a compound page with 4 KiB entries: a split of
 * the leaf splits the page itself at once (Linux's split_huge_pmd followed
 * by split_huge_page, which Linux may defer), in every address space mapping
 * it, so each frame becomes an order-0 anonymous page with refcount and
 * mapcount equal to the number of mappers. thp_split_pmd counts leaves
 * split, thp_split_page pages split.
 *
 * Choices (see kernel/LINUX.md): no huge zero page (a read fault allocates
 * the huge page, as Linux with use_zero_page off); huge pages are never
 * swapped (MADV_PAGEOUT, MADV_COLD and MADV_FREE skip 2 MiB leaves); the
 * defrag setting is kept and shown but memsim has no compaction, so an
 * order-9 allocation that fails falls back to 4 KiB pages at once.
 */
import { PFO_COW_REUSE, PFO_DEMAND_ZERO } from "../events_types.ts";
import { panic } from "../panic.ts";
import { FAULT_ACCERR, FAULT_OK, FAULT_OOM } from "./fault_codes.ts";
import type { PageAllocator } from "./frames.ts";
import { __GFP_COMP, __GFP_NOWARN, __GFP_ZERO, GFP_HIGHUSER_MOVABLE } from "./gfp.ts";
import type { MemMap } from "./memmap.ts";
import { PG_alloc, PG_anon, PG_anon_exclusive, PG_head } from "./memmap.ts";
import type { MmStruct } from "./mm.ts";
import { VM_DROPPABLE, VM_EXEC, VM_GROWSDOWN, VM_HUGEPAGE, VM_HUGETLB, VM_NOHUGEPAGE, VM_READ, VM_SHARED, VM_WRITE } from "./mm_types.ts";
import type { PageTable } from "./pgtable.ts";
import { entryHi, geoEntryAddr } from "./pgtable_geometry.ts";
import {
  entryAddr,
  HPAGE_PAGES,
  HPAGE_SIZE,
  PF_PROT,
  PF_WRITE,
  PTE_A,
  PTE_D,
  PTE_NX,
  PTE_P,
  PTE_PS,
  PTE_RW,
  PTE_SOFT_COW,
  PTE_US,
  USER_TABLE,
} from "./pgtable_types.ts";
import type { PhysMem } from "./physmem.ts";
import { TASK_SIZE } from "./types.ts";
import type { VmaOps } from "./vma.ts";

/** Order of a huge page (2 MiB of 4 KiB frames). */
export const HPAGE_ORDER = 9;
/** GFP_TRANSHUGE: a zeroed compound page; a failure is expected, not reported. */
export const GFP_TRANSHUGE = GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_ZERO | __GFP_NOWARN;

/** /sys/kernel/mm/transparent_hugepage/enabled. */
export type ThpEnabled = "always" | "madvise" | "never";
/** /sys/kernel/mm/transparent_hugepage/defrag (shown; memsim has no compaction to run). */
export type ThpDefrag = "always" | "defer" | "defer+madvise" | "madvise" | "never";

/** The thp_* lines of vmstat and nr_anon_transparent_hugepages. */
export class ThpStats {
  thpFaultAlloc = 0;
  thpFaultFallback = 0;
  thpCollapseAlloc = 0;
  thpSplitPage = 0;
  thpSplitPmd = 0;
  /** Huge pages allocated now (NR_ANON_THPS; AnonHugePages is this times 2 MiB). */
  nrAnonThps = 0;
}

/** What the huge-page side needs from user memory (memory.ts's Memory is one). */
export interface HugeHost {
  readonly phys: PhysMem;
  readonly memmap: MemMap;
  readonly buddy: PageAllocator;
  readonly vmas: VmaOps;
  /** Fault counters: a reused huge page counts in cowReuses. */
  readonly stats: { cowReuses: number };
  /** What the last fault did (PFO_*), for page_fault_user. */
  outcome: number;
  /** anon_vma_prepare. */
  anonVmaPrepare(vma: number): void;
}

/** The huge-page side of user memory. */
export class HugeMemory {
  enabled: ThpEnabled = "madvise";
  defrag: ThpDefrag = "madvise";
  readonly stats = new ThpStats();
  /** Every live address space (set at boot): the other mappers of a shared huge page are found among them. */
  allMms: () => readonly MmStruct[] = () => [];
  private readonly found: Array<PageTable | number> = [];

  constructor(private readonly mem: HugeHost) {}

  /**
   * Whether faults in `vma` may get huge pages (thp_vma_allowable_order):
   * private anonymous, not a stack, not droppable, not VM_NOHUGEPAGE, and
   * under "madvise" only with VM_HUGEPAGE.
   */
  vmaEligible(vma: number): boolean {
    const f = this.mem.vmas.f;
    const flags = f.flags(vma);
    if (this.enabled === "never" || flags & (VM_SHARED | VM_GROWSDOWN | VM_DROPPABLE | VM_NOHUGEPAGE | VM_HUGETLB) || f.shmem(vma) !== 0)
      return false;
    if (this.enabled === "madvise" && !(flags & VM_HUGEPAGE)) return false;
    return (flags & (VM_READ | VM_WRITE | VM_EXEC)) !== 0;
  }

  /** True when the aligned 2 MiB at `haddr` lies inside `vma`. */
  fits(vma: number, haddr: number): boolean {
    const f = this.mem.vmas.f;
    return haddr >= f.start(vma) && haddr + HPAGE_SIZE <= f.end(vma);
  }

  /**
   * The huge-page part of handle_mm_fault. Returns a FAULT_* code when it
   * handled the fault, or -1 when the 4 KiB path should (no 2 MiB leaf and
   * none to be had, or a shared huge page that was just split for a COW).
   */
  fault(mm: MmStruct, vma: number, va: number, ec: number): number {
    // No huge page anywhere and none allowed here: the 4 KiB path at the cost of a flags test.
    if (this.stats.nrAnonThps === 0 && !this.vmaEligible(vma)) return -1;
    const pt = mm.pt;
    // A geometry without huge leaves (x86-32: no PSE pages) never gets one, whatever `enabled` says.
    if (!pt.geo.hugePages) return -1;
    const haddr = va - (va & (HPAGE_SIZE - 1)); // va: an integer in a VMA; & is exact and no call into C, unlike %
    const pmdp = pt.lookup(va);
    if (pmdp >= 0 && pt.leafLevel === 2) return this.hugePmdFault(mm, vma, haddr, pmdp, ec);
    if (pmdp >= 0 || !this.vmaEligible(vma) || !this.fits(vma, haddr)) return -1;
    return this.doHugePmdAnonymousPage(mm, vma, haddr);
  }

  /** do_huge_pmd_anonymous_page: a zeroed huge page, mapped writable when the VMA is. */
  private doHugePmdAnonymousPage(mm: MmStruct, vma: number, haddr: number): number {
    const mem = this.mem;
    const head = mem.buddy.allocPages(HPAGE_ORDER, GFP_TRANSHUGE);
    if (head < 0) {
      this.stats.thpFaultFallback++;
      return -1;
    }
    const pmdp = mm.pt.ensure(haddr, 2);
    if (pmdp < 0) {
      mem.buddy.freePages(head, HPAGE_ORDER);
      return FAULT_OOM;
    }
    mem.anonVmaPrepare(vma);
    mem.memmap.setFlag(head, PG_anon | PG_anon_exclusive);
    this.addMapcount(head, 1);
    mm.rssAnon += HPAGE_PAGES;
    mm.updateHiwater();
    mm.pt.setPte(haddr, pmdp, head, hugeFlags(mem.vmas.f.flags(vma), { write: true }));
    this.stats.thpFaultAlloc++;
    this.stats.nrAnonThps++;
    mem.outcome = PFO_DEMAND_ZERO;
    return FAULT_OK;
  }

  /**
   * A fault on a present 2 MiB leaf. A read just retries. A write to a
   * read-only leaf (do_huge_pmd_wp_page) reuses the page when this address
   * space alone maps it; otherwise the page is split and -1 sends the fault
   * down the 4 KiB path, which copies only the 4 KiB written (as Linux does
   * since 5.8).
   */
  private hugePmdFault(mm: MmStruct, vma: number, haddr: number, pmdp: number, ec: number): number {
    const pt = mm.pt;
    const mem = this.mem;
    const flags = pt.pteFlags(pmdp);
    if (!(flags & PTE_P)) panic(`huge_pmd_fault: non-present 2 MiB leaf at 0x${haddr.toString(16)}`);
    if (!(ec & PF_WRITE)) return ec & PF_PROT ? FAULT_ACCERR : FAULT_OK;
    if (flags & PTE_RW) return FAULT_OK;
    const head = pt.ptePfn(pmdp);
    if (mem.memmap.testFlag(head, PG_anon_exclusive) || mem.memmap.refcount(head) === 1) {
      mem.memmap.setFlag(head, PG_anon_exclusive);
      pt.setPte(haddr, pmdp, head, hugeFlags(mem.vmas.f.flags(vma), { write: true }));
      pt.flushTlb();
      mem.stats.cowReuses++;
      mem.outcome = PFO_COW_REUSE;
      return FAULT_OK;
    }
    return this.splitHugePage(mm, haddr, head) ? -1 : FAULT_OOM;
  }

  /**
   * copy_huge_pmd for fork: the child maps the same huge page; both leaves
   * lose write (PTE_SOFT_COW marks them) when `cow`. Returns false when a
   * child table could not be had.
   */
  copyHugePmd(src: PageTable, dst: MmStruct, va: number, ptep: number, cow: boolean): boolean {
    const to = dst.pt.ensure(va, 2);
    if (to < 0) return false;
    const memmap = this.mem.memmap;
    const head = src.ptePfn(ptep);
    let flags = src.pteFlags(ptep);
    this.mem.buddy.getPage(head);
    this.addMapcount(head, 1);
    memmap.clearFlag(head, PG_anon_exclusive);
    if (cow && flags & PTE_RW) {
      flags = ((flags & ~PTE_RW) | PTE_SOFT_COW) >>> 0;
      src.setPte(va, ptep, head, flags);
    }
    dst.rssAnon += HPAGE_PAGES;
    dst.updateHiwater();
    dst.pt.setPte(va, to, head, (flags & ~PTE_A) >>> 0);
    return true;
  }

  /** zap_huge_pmd: one 2 MiB leaf of `mm` mapping `head` was cleared. */
  zapHugePmd(mm: MmStruct, head: number): void {
    this.addMapcount(head, -1);
    mm.rssAnon -= HPAGE_PAGES;
    if (this.mem.memmap.refcount(head) === 1) this.stats.nrAnonThps--;
    this.mem.buddy.freePages(head, HPAGE_ORDER);
  }

  /**
   * split_huge_pmd_address: when a 2 MiB leaf of `mm` covers `addr` and
   * `addr` is not 2 MiB aligned (a VMA boundary or range edge falls inside
   * it), splits it. Returns false when a table could not be had (nothing changed).
   */
  splitAt(mm: MmStruct, addr: number): boolean {
    if (addr % HPAGE_SIZE === 0 || addr <= 0 || addr >= TASK_SIZE) return true;
    const pt = mm.pt;
    const pmdp = pt.lookup(addr);
    if (pmdp < 0 || pt.leafLevel !== 2) return true;
    const haddr = addr - (addr % HPAGE_SIZE);
    return this.splitHugePage(mm, haddr, pt.ptePfn(pmdp));
  }

  /** splitAt for both ends of [start, end). */
  splitRange(mm: MmStruct, start: number, end: number): boolean {
    return this.splitAt(mm, start) && this.splitAt(mm, end);
  }

  /**
   * Before mremap moves [oldStart, oldStart + len) by `delta`: the leaves
   * across its ends are split, and every leaf when `delta` is not a multiple
   * of 2 MiB (a huge page cannot land unaligned). False when out of memory.
   */
  splitForMove(mm: MmStruct, oldStart: number, len: number, delta: number): boolean {
    if (!this.splitRange(mm, oldStart, oldStart + len)) return false;
    if (delta % HPAGE_SIZE === 0) return true;
    const pt = mm.pt;
    for (let va = oldStart - (oldStart % HPAGE_SIZE); va < oldStart + len; va += HPAGE_SIZE) {
      const pmdp = pt.lookup(va);
      if (pmdp >= 0 && pt.leafLevel === 2 && !this.splitHugePage(mm, va, pt.ptePfn(pmdp))) return false;
    }
    return true;
  }

  /**
   * split_huge_page of the page `head`, mapped by `mm` at `haddr` and
   * perhaps by other address spaces: every leaf mapping it becomes a table
   * of 512 entries with the leaf's flags over the same frames, and the page
   * becomes 512 order-0 pages. Returns false, changing nothing, when a table
   * could not be had. Panics when the mappers found do not match the mapcount.
   */
  splitHugePage(mm: MmStruct, haddr: number, head: number): boolean {
    const memmap = this.mem.memmap;
    const k = memmap.mapcount(head);
    const found = this.found;
    found.length = 0;
    if (k === 1) found.push(mm.pt, haddr);
    else for (const other of this.allMms()) findHugeLeaves(other.pt, head, found);
    if (found.length !== 2 * k || memmap.refcount(head) !== k)
      panic(`split_huge_page: pfn 0x${head.toString(16)} has mapcount ${k}, refcount ${memmap.refcount(head)}, ${found.length / 2} leaves`);
    const tables: number[] = [];
    for (let i = 0; i < found.length; i += 2) {
      const pt = found[i] as PageTable;
      const got = pt.paging.allocTables(1, 1, pt.asid);
      if (got === null) {
        for (let j = 0; j < tables.length; j++) (found[2 * j] as PageTable).paging.freeTable(tables[j] as number);
        return false;
      }
      tables.push(got[0] as number);
    }
    this.splitPage(head, k);
    for (let i = 0; i < found.length; i += 2) {
      const pt = found[i] as PageTable;
      remapAsTable(pt, found[i + 1] as number, tables[i / 2] as number, head);
      pt.flushTlb();
    }
    this.stats.thpSplitPmd += k;
    this.stats.thpSplitPage++;
    this.stats.nrAnonThps--;
    found.length = 0;
    return true;
  }

  /** The struct pages of a split: 512 order-0 anonymous pages, each held and mapped `k` times. */
  private splitPage(head: number, k: number): void {
    const memmap = this.mem.memmap;
    const keep = memmap.flags(head) & (PG_anon | PG_anon_exclusive);
    for (let p = head; p < head + HPAGE_PAGES; p++) {
      memmap.setHead(p, PG_alloc | keep, 0);
      memmap.setRefcount(p, k);
      memmap.setMapcount(p, k);
      memmap.setPrivate(p, 0);
    }
  }

  /**
   * Every 2 MiB leaf of every live address space that maps huge page
   * `head`, as (page table, address) pairs (the migration walk of a THP;
   * hugetlb pages are found the same way).
   */
  leavesOf(head: number): Array<PageTable | number> {
    const out: Array<PageTable | number> = [];
    for (const mm of this.allMms()) findHugeLeaves(mm.pt, head, out);
    return out;
  }

  /** Adds `d` to the mapcount of every frame of the huge page `head`. */
  addMapcount(head: number, d: number): void {
    const memmap = this.mem.memmap;
    for (let p = head; p < head + HPAGE_PAGES; p++) memmap.setMapcount(p, memmap.mapcount(p) + d);
  }

  /** True when `pfn` is the head of a huge anonymous page. */
  isHugeHead(pfn: number): boolean {
    const memmap = this.mem.memmap;
    return memmap.testFlag(pfn, PG_head) && memmap.testFlag(pfn, PG_anon) && memmap.order(pfn) === HPAGE_ORDER;
  }
}

/** The flags of a VMA's 2 MiB leaf (vmaPteFlags plus PS). */
export function hugeFlags(vmFlags: number, opts: { write: boolean }): number {
  let f = PTE_P | PTE_PS | PTE_US | PTE_A;
  if (!(vmFlags & VM_EXEC)) f |= PTE_NX;
  if (opts.write && vmFlags & VM_WRITE) f |= PTE_RW | PTE_D;
  return f >>> 0;
}

/** Pushes (pt, va) for every 2 MiB leaf of `pt` that maps `head`. */
function findHugeLeaves(pt: PageTable, head: number, out: Array<PageTable | number>): void {
  scanLevel(pt, pt.root, pt.top, 0, head, out);
}

function scanLevel(pt: PageTable, table: number, level: number, base: number, head: number, out: Array<PageTable | number>): void {
  const u32 = pt.paging.u32;
  const geo = pt.geo;
  const size = geo.levelSize[level] as number;
  const n = level === pt.top ? geo.userRootEntries : geo.entriesPerTable; // the user half of the root
  for (let i = 0; i < n; i++) {
    const w = geoEntryAddr(geo, table, i) >>> 2;
    const lo = u32[w] as number;
    if (!(lo & PTE_P)) continue;
    const pfn = geo.pfn(lo, entryHi(geo, u32, w));
    if (level === 2) {
      if (lo & pt.geo.leafBits && pfn === head) out.push(pt, base + i * size);
    } else scanLevel(pt, pfn, level - 1, base + i * size, head, out);
  }
}

/** Replaces the 2 MiB leaf at `haddr` by `table` holding 512 entries over the same frames. */
function remapAsTable(pt: PageTable, haddr: number, table: number, head: number): void {
  const pmdp = pt.lookup(haddr);
  if (pmdp < 0 || pt.leafLevel !== 2) panic(`split_huge_pmd: no 2 MiB leaf at 0x${haddr.toString(16)}`);
  const flags = (pt.pteFlags(pmdp) & ~PTE_PS) >>> 0;
  for (let i = 0; i < HPAGE_PAGES; i++) pt.setPte(haddr + i * 4096, entryAddr(table, i), head + i, flags);
  pt.setPte(haddr, pmdp, table, USER_TABLE);
  pt.nrTables++;
}
