/**
 * Page migration (Linux mm/migrate.c, migrate_pages for one folio): moves a
 * movable user page to another frame while every address space keeps
 * reading the same bytes at the same address.
 *
 * What moves with an anonymous page (migrate_folio + remove_migration_ptes):
 *   1. the 4 KiB of data (copied);
 *   2. struct page: PG_* flags (anon, exclusive, dirty, swap cache, lazy
 *      free), refcount, mapcount, private (the swap slot), flags2 (LRU
 *      state), the reverse-map words (mapping, index), the memcg charge and
 *      the allocation site; the LRU position is taken and the new page put
 *      at the head of the same list (the replacement policy hears removed +
 *      added, as Linux's putback does);
 *   3. the swap cache's slot -> frame entry;
 *   4. every page-table entry that maps it (found through the reverse map)
 *      is rewritten to the new frame with the same flags, then the TLBs are
 *      flushed (a shootdown on every CPU that may cache the mm);
 * then the old frame, its users' words cleared, is freed.
 *
 * What moves with a page-cache page (migrate_folio's mapping half,
 * folio_migrate_mapping for a file folio): the data, PG_file and PG_dirty
 * (so a dirty page is written back from its new frame later), refcount,
 * mapcount, the mapping and index words, the LRU position on the file
 * lists; the page cache's index entry is pointed at the new frame
 * (FileMigrateHost.replaceCachePage, xas_store of the new folio), and every
 * entry that maps it is found on its inode's i_mmap list and rewritten.
 *
 * A page is refused (pgmigrate_fail, and the caller keeps it) when it is not
 * an order-0 anonymous or page-cache page on an LRU list, when someone
 * besides its mappings, the swap cache or the page cache holds a reference
 * (a fault, a fork or a read() copying it is using it: Linux's
 * folio_migrate_mapping refcount check, which is also what refuses a locked
 * page in MIGRATE_ASYNC; memsim's writeback is synchronous, so no page is
 * ever under writeback), or when a reverse-map walk does not find every
 * mapping. A page-cache page is refused on a machine without a file layer.
 *
 * Calls: struct page, the reverse map and LRU lists of reclaim, the swap
 * cache, page tables, the page allocator.
 */
import type { PageAllocator } from "./frames.ts";
import { GFP_HIGHUSER_MOVABLE } from "./gfp.ts";
import {
  type MemMap,
  PG_alloc,
  PG_anon,
  PG_file,
  PG_head,
  PG_swapcache,
  PG_tail,
  PG2_lru,
  PG2_unevictable,
  SP_FLAGS2,
  SP_INDEX,
  SP_MAPPING,
  SP_MEMCG,
  SP_OWNER,
} from "./memmap.ts";
import type { MigrateHuge } from "./migrate_huge.ts";
import type { MmStruct } from "./mm.ts";
import type { PhysMem } from "./physmem.ts";
import type { RmapVisitor } from "./rmap.ts";
import type { Shmem } from "./shmem.ts";
import type { SwapCache } from "./swap_state.ts";
import type { Reclaim } from "./vmscan_shrink.ts";

/** The users' words that move with the page (flags2 is rebuilt by the LRU add). */
const USER_WORDS = [SP_MAPPING, SP_INDEX, SP_MEMCG, SP_OWNER] as const;

/** Why migratePage refused a page (as a negative value). */
export const MIGRATE_NOT_MOVABLE = -1;
/** Someone besides the mappings and the swap cache holds the page (Linux -EAGAIN). */
export const MIGRATE_BUSY = -2;
/** No frame for the copy (Linux -ENOMEM). */
export const MIGRATE_NOMEM = -3;

/** The vmstat counters of migration. */
export class MigrateStats {
  /** Pages moved (pgmigrate_success). */
  pgmigrateSuccess = 0;
  /** Pages refused (pgmigrate_fail). */
  pgmigrateFail = 0;
}

/** What migration needs of the machine. */
export interface MigrateDeps {
  readonly phys: PhysMem;
  readonly memmap: MemMap;
  readonly pages: PageAllocator;
  readonly reclaim: Reclaim;
  readonly swap: SwapCache | null;
  readonly shmem: Shmem;
}

/**
 * What migration needs of the file layer (kernel/fs, set when it boots):
 * the i_mmap walk and the page cache's index.
 */
export interface FileMigrateHost {
  /** The present entries that map page-cache page `pfn`, found through its inode's i_mmap list. */
  countMappings(pfn: number): number;
  /** Points every entry that maps page-cache page `pfn` at frame `to` (same flags), flushing the TLBs. Returns the entries rewritten. */
  moveMappings(pfn: number, to: number): number;
  /** Makes frame `to` (its struct page already a copy of `pfn`'s) stand for `pfn` in the page cache's index. */
  replaceCachePage(pfn: number, to: number): void;
}

/** The kind of page a migration moves: an anonymous page, a page-cache page, a shmem page, or one it cannot move. */
type PageKind = "anon" | "file" | "shmem" | "none";

/** Page migration over the machine's reverse map. */
export class Migrate implements RmapVisitor {
  readonly stats = new MigrateStats();
  /** The 2 MiB side (migrate_huge.ts: THPs and hugetlb pages), set at boot. */
  huge!: MigrateHuge;
  /** The file layer's side, set when it boots (null: page-cache pages are not movable). */
  file: FileMigrateHost | null = null;
  /** The walk in progress: "count" counts the mappings, "move" rewrites them to `target`. */
  private mode: "count" | "move" = "count";
  private target = -1;

  constructor(private readonly d: MigrateDeps) {}

  /**
   * Whether `pfn` is a page migration can move now: an order-0 anonymous or
   * page-cache page on an LRU list, held only by its mappings and the swap
   * cache or the page cache.
   */
  movable(pfn: number): boolean {
    const kind = this.kindOf(pfn);
    return kind !== "none" && this.d.memmap.refcount(pfn) === this.expectedRefs(pfn, kind);
  }

  /** An allocated order-0 page on an LRU list, anonymous or in the page cache (only with a file layer). */
  private kindOf(pfn: number): PageKind {
    const mm = this.d.memmap;
    if (!(pfn >= 0 && pfn < mm.nrPages)) return "none";
    const f = mm.flags(pfn) & (PG_alloc | PG_anon | PG_file | PG_head | PG_tail);
    // shmem pages are on no LRU list (memsim never reclaims them); their mapping word names the object.
    if (f === PG_alloc && this.d.shmem.isShmemPage(pfn)) return "shmem";
    if (mm.order(pfn) !== 0 || (mm.flags2(pfn) & PG2_lru) === 0) return "none";
    if (f === (PG_alloc | PG_anon)) return "anon";
    return f === (PG_alloc | PG_file) && this.file !== null ? "file" : "none";
  }

  /** The references a page nobody else uses holds: one per mapping, plus the swap cache's or the page cache's. */
  private expectedRefs(pfn: number, kind: PageKind): number {
    const mm = this.d.memmap;
    if (kind === "file" || kind === "shmem") return mm.mapcount(pfn) + 1;
    return mm.mapcount(pfn) + (mm.testFlag(pfn, PG_swapcache) ? 1 : 0);
  }

  /**
   * Moves page `pfn` to a new frame: `target`, an order-0 page the caller
   * allocated (refcount 1, nothing else set), or a frame allocated here when
   * target is -1. Returns the new pfn, or MIGRATE_NOT_MOVABLE, MIGRATE_BUSY
   * or MIGRATE_NOMEM (the page and the target are left as they were).
   */
  migratePage(pfn: number, target: number): number {
    const why = this.refusal(pfn);
    if (why < 0) {
      this.stats.pgmigrateFail++;
      return why;
    }
    const to = target >= 0 ? target : this.d.pages.allocPages(0, GFP_HIGHUSER_MOVABLE);
    // The allocation may have reclaimed: the page may be gone or busy now.
    if (to < 0 || this.refusal(pfn) < 0) {
      if (to >= 0 && target < 0) this.d.pages.freePages(to, 0);
      this.stats.pgmigrateFail++;
      return to < 0 ? MIGRATE_NOMEM : MIGRATE_BUSY;
    }
    this.move(pfn, to, this.kindOf(pfn));
    this.stats.pgmigrateSuccess++;
    return to;
  }

  /** 0 when the page can move now, else why not. */
  private refusal(pfn: number): number {
    const mm = this.d.memmap;
    const kind = this.kindOf(pfn);
    if (kind === "none") return MIGRATE_NOT_MOVABLE;
    if (mm.refcount(pfn) !== this.expectedRefs(pfn, kind)) return MIGRATE_BUSY;
    this.mode = "count";
    const found = kind === "file" ? (this.file as FileMigrateHost).countMappings(pfn) : this.walk(pfn, kind);
    return found === mm.mapcount(pfn) ? 0 : MIGRATE_BUSY;
  }

  private walk(pfn: number, kind: PageKind): number {
    const rmap = this.d.reclaim.rmap;
    const saved = rmap.mms;
    rmap.mms = this.d.reclaim.addressSpaces();
    try {
      return kind === "shmem" ? rmap.walkShmem(pfn, this) : rmap.walk(pfn, this);
    } finally {
      rmap.mms = saved;
    }
  }

  /** The move itself: data, struct page, LRU, swap cache, page cache or shmem slot, page-table entries; then the old frame goes. */
  private move(pfn: number, to: number, kind: PageKind): void {
    const { memmap: mm, reclaim } = this.d;
    this.d.phys.copyPage(to, pfn);
    // The replacement policy tracks anonymous pages only (file pages live on the file lists alone; shmem on none).
    const tracked = kind === "anon" && (mm.flags2(pfn) & PG2_unevictable) === 0;
    const list = kind === "shmem" ? -1 : reclaim.lru.listOf(pfn);
    if (tracked) reclaim.host.removed(pfn);
    if (list >= 0) reclaim.lru.del(pfn);
    copyStructPage(mm, pfn, to);
    // The walks find the entries through the old page's mapping words: they are cleared after them.
    this.moveMappings(pfn, to, kind);
    for (const k of USER_WORDS) mm.setUserWord(pfn, k, 0);
    mm.setUserWord(pfn, SP_FLAGS2, 0);
    if (list >= 0) reclaim.lru.add(to, list);
    if (tracked) reclaim.host.added(to);
    if (mm.testFlag(to, PG_swapcache)) (this.d.swap as SwapCache).dev.setCache(mm.private_(to), to);
    mm.setHead(pfn, PG_alloc, 0);
    mm.setRefcount(pfn, 1);
    mm.setMapcount(pfn, 0);
    mm.setPrivate(pfn, 0);
    this.d.pages.freePages(pfn, 0);
  }

  /** remove_migration_ptes plus the owner's index: every entry, and the page cache or shmem slot, names `to`. */
  private moveMappings(pfn: number, to: number, kind: PageKind): void {
    if (kind === "file") {
      const host = this.file as FileMigrateHost;
      host.moveMappings(pfn, to);
      host.replaceCachePage(pfn, to);
      return;
    }
    this.target = to;
    this.mode = "move";
    this.walk(pfn, kind);
    if (kind === "shmem") this.d.shmem.replacePage(pfn, to);
  }

  /** RmapVisitor: counts the entries that map the page, or points them at the new frame. */
  rmapOne(mm: MmStruct, _vma: number, va: number, ptep: number): boolean {
    if (this.mode === "count") return true;
    const pt = mm.pt;
    pt.setPte(va, ptep, this.target, pt.pteFlags(ptep));
    pt.flushTlb();
    return true;
  }
}

/** migrate_folio's struct page half: flags, counts, private, flags2 and the users' words of `pfn` copied to `to`. */
function copyStructPage(mm: MemMap, pfn: number, to: number): void {
  mm.setHead(to, mm.flags(pfn) & 0xffff, 0);
  mm.setRefcount(to, mm.refcount(pfn));
  mm.setMapcount(to, mm.mapcount(pfn));
  mm.setPrivate(to, mm.private_(pfn));
  mm.setUserWord(to, SP_FLAGS2, mm.flags2(pfn));
  for (const k of USER_WORDS) mm.setUserWord(to, k, mm.userWord(pfn, k));
}
