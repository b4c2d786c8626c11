/**
 * Migration of 2 MiB pages (Linux mm/migrate.c migrate_pages for a large
 * folio, with mm/huge_memory.c's PMD migration entries and mm/hugetlb.c's
 * alloc_migration_target and isolate_or_dissolve_huge_page): a transparent
 * huge page or a hugetlb pool page moves to another order-9 block while
 * every address space keeps reading the same bytes at the same address.
 *
 * What moves (the 4 KiB case is migrate.ts):
 *   1. the 512 frames of data (copied);
 *   2. the head's PG_anon / PG_anon_exclusive, its refcount, every frame's
 *      mapcount, the allocation site;
 *   3. every 2 MiB leaf that maps it (found by scanning the address spaces,
 *      as the THP split does) is pointed at the new head with the same
 *      flags, then the TLBs are flushed;
 *   4. for a hugetlb page, its place in the pool (hugetlb.ts replacePage):
 *      the pool keeps its size, the old block goes back to the buddy.
 * A free pool page has no data or mapping: it is only replaced (Linux's
 * alloc_and_dissolve_hugetlb_folio for a free hugetlb folio).
 *
 * A THP that finds no order-9 target is split (split_huge_page, as
 * Linux's migrate_pages_batch does on -ENOMEM for a THP: thp_migration_split)
 * into 512 order-0 anonymous pages; migration then puts them on the LRU
 * with their reverse-map words (Linux's split pages stay on the LRU) so that
 * migrate.ts can move them one by one. A THP held by someone besides its
 * leaves, or one whose split cannot get a page table, is refused
 * (thp_migration_fail). A hugetlb page with no target is skipped.
 *
 * Counting (as Linux): pgmigrate_success counts base pages, 512 for a whole
 * 2 MiB page; thp_migration_success counts THPs moved whole.
 *
 * Calls: struct page, huge_memory.ts (the leaf scan and the split),
 * hugetlb.ts (the pool), the LRU lists and reverse map of reclaim, the page allocator.
 */
import type { PageAllocator } from "./frames.ts";
import { HPAGE_ORDER, type HugeMemory } from "./huge_memory.ts";
import type { Hugetlb } from "./hugetlb.ts";
import { type MemMap, PG_anon, PG_anon_exclusive, SP_OWNER } from "./memmap.ts";
import type { PageTable } from "./pgtable.ts";
import { HPAGE_PAGES } from "./pgtable_types.ts";
import type { PhysMem } from "./physmem.ts";
import type { VmaOps } from "./vma.ts";
import type { Reclaim } from "./vmscan_shrink.ts";

/** The THP side of migration's counters (vmstat thp_migration_*). */
export class ThpMigrateStats {
  /** THPs moved whole (thp_migration_success). */
  thpMigrationSuccess = 0;
  /** THPs neither moved nor split (thp_migration_fail). */
  thpMigrationFail = 0;
  /** THPs split because no order-9 target was had (thp_migration_split). */
  thpMigrationSplit = 0;
}

/** What 2 MiB migration needs of the machine. */
export interface MigrateHugeDeps {
  readonly phys: PhysMem;
  readonly memmap: MemMap;
  readonly pages: PageAllocator;
  readonly huge: HugeMemory;
  readonly hugetlb: Hugetlb;
  readonly reclaim: Reclaim;
  readonly vmas: VmaOps;
  /** The base-page counters of migrate.ts (its MigrateStats: pgmigrate_success / fail). */
  readonly base: { pgmigrateSuccess: number; pgmigrateFail: number };
}

/** Why a 2 MiB migration did not move the page (as a negative value). */
export const MIGRATE_HUGE_BUSY = -2;
/** No order-9 target: a THP was split instead (its pages are movable one by one now). */
export const MIGRATE_HUGE_SPLIT = -4;
/** No order-9 target for a hugetlb page: it stays. */
export const MIGRATE_HUGE_SKIPPED = -5;

/** Migration of transparent huge pages and hugetlb pool pages. */
export class MigrateHuge {
  readonly stats = new ThpMigrateStats();

  constructor(private readonly d: MigrateHugeDeps) {}

  /** Whether `pfn` heads a mapped THP (an order-9 anonymous compound page). */
  isThp(pfn: number): boolean {
    return this.d.huge.isHugeHead(pfn);
  }

  /** Whether `pfn` heads a hugetlb pool page (free or in use). */
  isHugetlb(pfn: number): boolean {
    return pfn % HPAGE_PAGES === 0 && this.d.hugetlb.isHugetlbPage(pfn) && this.d.memmap.order(pfn) === HPAGE_ORDER;
  }

  /**
   * Moves THP `head` to order-9 compound block `to` (the caller allocated
   * it, refcount 1), or splits it when `to` is -1. Returns the new head,
   * MIGRATE_HUGE_SPLIT (split: its 512 pages are on the LRU now) or
   * MIGRATE_HUGE_BUSY (left as it was; `to` stays the caller's).
   */
  migrateThp(head: number, to: number): number {
    const mm = this.d.memmap;
    const k = mm.mapcount(head);
    const leaves = this.d.huge.leavesOf(head);
    if (mm.refcount(head) !== k || leaves.length !== 2 * k) return this.thpFail();
    if (to < 0) return this.splitThp(head, leaves);
    this.copyHuge(head, to, k);
    mm.setFlag(to, mm.flags(head) & (PG_anon | PG_anon_exclusive));
    mm.setRefcount(to, k);
    this.moveLeaves(leaves, to);
    this.freeOld(head, k);
    this.stats.thpMigrationSuccess++;
    this.d.base.pgmigrateSuccess += HPAGE_PAGES;
    return to;
  }

  private thpFail(): number {
    this.stats.thpMigrationFail++;
    this.d.base.pgmigrateFail += HPAGE_PAGES;
    return MIGRATE_HUGE_BUSY;
  }

  /**
   * split_huge_page for a THP with no target, then each of its 512 pages
   * joins the anonymous LRU with its reverse-map words (named after the
   * first leaf's VMA: every mapper's VMA has the same index there).
   */
  private splitThp(head: number, leaves: Array<PageTable | number>): number {
    const reclaim = this.d.reclaim;
    const pt = leaves[0] as PageTable;
    const haddr = leaves[1] as number;
    const owner = reclaim.addressSpaces().find((m) => m.pt === pt);
    const vma = owner === undefined ? 0 : this.d.vmas.lookup(owner, haddr);
    if (owner === undefined || vma === 0 || !this.d.huge.splitHugePage(owner, haddr, head)) return this.thpFail();
    for (let i = 0; i < HPAGE_PAGES; i++) reclaim.addNewAnon(head + i, vma, haddr + i * 4096);
    this.stats.thpMigrationSplit++;
    return MIGRATE_HUGE_SPLIT;
  }

  /**
   * Moves hugetlb pool page `head` to order-9 compound block `to` (fresh
   * from the buddy, refcount 1), or skips it when `to` is -1. A page in use
   * keeps its data and every leaf; a free one is only replaced. Returns the
   * new head, MIGRATE_HUGE_SKIPPED, or MIGRATE_HUGE_BUSY when someone
   * besides the pool and its leaves holds it.
   */
  migrateHugetlb(head: number, to: number): number {
    const mm = this.d.memmap;
    const k = mm.mapcount(head);
    const leaves = k === 0 ? [] : this.d.huge.leavesOf(head);
    if (mm.refcount(head) !== k + 1 || leaves.length !== 2 * k) {
      this.d.base.pgmigrateFail += HPAGE_PAGES;
      return MIGRATE_HUGE_BUSY;
    }
    if (to < 0) return MIGRATE_HUGE_SKIPPED;
    if (k > 0) this.copyHuge(head, to, k);
    mm.setRefcount(to, k + 1);
    this.moveLeaves(leaves, to);
    this.d.hugetlb.replacePage(head, to);
    this.freeOld(head, k);
    this.d.base.pgmigrateSuccess += HPAGE_PAGES;
    return to;
  }

  /** The data, every frame's mapcount and the allocation site of `head` on `to`. */
  private copyHuge(head: number, to: number, k: number): void {
    const mm = this.d.memmap;
    for (let i = 0; i < HPAGE_PAGES; i++) {
      this.d.phys.copyPage(to + i, head + i);
      mm.setMapcount(to + i, k);
    }
    mm.setUserWord(to, SP_OWNER, mm.userWord(head, SP_OWNER));
  }

  /** remove_migration_pmd for every leaf found: the new head with the same flags, TLBs flushed. */
  private moveLeaves(leaves: Array<PageTable | number>, to: number): void {
    for (let i = 0; i < leaves.length; i += 2) {
      const pt = leaves[i] as PageTable;
      const va = leaves[i + 1] as number;
      const pmdp = pt.lookup(va);
      pt.setPte(va, pmdp, to, pt.pteFlags(pmdp));
      pt.flushTlb();
    }
  }

  /** The old block, unmapped now, back to the buddy: mapcounts 0, one reference, no anonymous bits. */
  private freeOld(head: number, k: number): void {
    const mm = this.d.memmap;
    if (k > 0) for (let p = head; p < head + HPAGE_PAGES; p++) mm.setMapcount(p, 0);
    mm.clearFlag(head, PG_anon | PG_anon_exclusive);
    mm.setRefcount(head, 1);
    this.d.pages.freePages(head, HPAGE_ORDER);
  }
}
