/**
 * The file LRU lists and their reclaim (Linux mm/swap.c
 * folio_add_lru / folio_mark_accessed for page-cache folios, and the file
 * half of mm/vmscan.c shrink_list / shrink_folio_list).
 *
 * Every page-cache page is on the inactive or the active file list
 * (swap.ts), one truth for "active": PG2_active of the LRU.
 *   - a new cache page enters the inactive head with PG2_referenced (the
 *     read or write that brought it in is its first use);
 *   - mark_page_accessed: a later use of an inactive page that is
 *     referenced promotes it to the active list, else it becomes referenced;
 *   - reclaim takes from the inactive tail; when the inactive list is
 *     shorter than the active one, the active tail is moved to the
 *     inactive head first (its referenced state cleared).
 *
 * One victim (the inactive tail):
 *   - someone besides the cache and the mappings holds it (a fault in the
 *     middle of copying it): rotated to the inactive head, kept;
 *   - mapped: the accessed bits of its entries are read and cleared; a
 *     young page gets a second chance (referenced, inactive head) or, when
 *     already referenced or young in two entries, goes active; a page a
 *     VM_LOCKED VMA maps goes active. Otherwise every entry is zapped
 *     (a dirty entry dirties the page), and its next access is a major fault
 *     that reads it back from disk;
 *   - unmapped: a dirty page is written back to its block first (memsim's
 *     writeback is synchronous), then the page leaves the cache and RAM.
 *
 * Workingset detection (mm/workingset.c, simplified): `age` counts file
 * evictions and activations (nonresident_age). A page reclaim evicts
 * leaves a shadow in the cache's index: the age at its eviction and whether
 * it was part of the workingset (PG_workingset: it had been active, set when
 * the active list let it go). When the page comes back into the cache there,
 * that is a refault (workingset_refault_file); its refault distance (the
 * age now minus the shadow's) no larger than the active file list means it
 * would have stayed had it been active, so it starts on the active list
 * (workingset_activate_file, and workingset_restore_file when it was in the
 * workingset). Linux adds the anonymous lists to that size when swap is on;
 * memsim compares with the active file list alone. drop_caches and truncate
 * leave no shadow; truncate and a remount forget them.
 *
 * Balance with the anonymous lists (Linux weighs both by vm.swappiness),
 * simplified: reclaim scans the file lists first and the anonymous lists
 * only for what the file lists could not give. So clean cache goes before
 * any anonymous page is swapped.
 *
 * Memory tiering: a fast node's reclaim (shrinkRange) takes only its own
 * frames' pages and offers each victim to demotion before dropping it.
 *
 * Calls: the LRU lists, the page cache's side (FileCacheReclaim), demotion
 * (FileDemotion) in a node's reclaim.
 */
import { type MemMap, PG_dirty, PG2_active, PG2_lru, PG2_referenced, PG2_workingset } from "./memmap.ts";
import { LRU_ACTIVE_FILE, LRU_INACTIVE_FILE, type LruLists } from "./swap.ts";

/** Who is reclaiming: counted apart in vmstat. */
export type ReclaimWho = "kswapd" | "direct";

/** Demotion for a fast node's file reclaim under memory tiering (memory_tiers.ts MemoryTiers). */
export interface FileDemotion {
  /** Moves page-cache page `pfn` to its node's demotion target; false when it cannot (it takes the normal path). */
  demote(pfn: number, who: ReclaimWho): boolean;
}

/** What file reclaim needs of the file layer (kernel/fs/file_mmap.ts and filemap.ts). */
export interface FileCacheReclaim {
  /**
   * folio_referenced for a page-cache page: clears the accessed bit of every
   * entry that maps `pfn` and returns how many had it set; -1 when a
   * VM_LOCKED VMA maps it.
   */
  referenced(pfn: number): number;
  /** try_to_unmap: zaps every entry that maps `pfn`. Returns the mappings left (0 when all went). */
  unmap(pfn: number): number;
  /**
   * __remove_mapping: writes `pfn` back when dirty, then drops it from the
   * cache, leaves `shadow` in its place (workingset_eviction) and frees it.
   * Returns false when it stays.
   */
  evict(pfn: number, shadow: number): boolean;
}

/** The file lists' vmstat counters. */
export class FileReclaimStats {
  /** Inactive file pages reclaim looked at (pgscan_file). */
  pgscanFile = 0;
  /** File pages reclaim freed (pgsteal_file). */
  pgstealFile = 0;
  /** Dirty file pages reclaim wrote back before freeing them (nr_vmscan_write). */
  vmscanWrite = 0;
  /** Pages that came back into the cache where reclaim had evicted them (workingset_refault_file). */
  workingsetRefaultFile = 0;
  /** Refaults close enough to start on the active list (workingset_activate_file). */
  workingsetActivateFile = 0;
  /** Activated refaults of pages that had been in the workingset (workingset_restore_file). */
  workingsetRestoreFile = 0;
}

/** The machine's file LRU lists and their reclaim. */
export class FileLru {
  readonly stats = new FileReclaimStats();
  /** The file layer, set when it boots (a machine without files has empty file lists). */
  cache: FileCacheReclaim | null = null;
  /** Pages the last shrink looked at. */
  scanned = 0;
  /** nonresident_age: file evictions and activations so far. */
  private age = 0;

  constructor(
    private readonly memmap: MemMap,
    readonly lru: LruLists,
  ) {}

  /** folio_add_lru for a new page-cache page: the inactive head, referenced once. */
  add(pfn: number): void {
    this.lru.add(pfn, LRU_INACTIVE_FILE);
    this.memmap.setFlags2(pfn, PG2_referenced);
  }

  /**
   * workingset_refault for page-cache page `pfn`, new in the cache where
   * reclaim left `shadow`: counted, and put on the active list when its
   * refault distance fits in the active file list, else added as a new page.
   */
  refault(pfn: number, shadow: number): void {
    this.stats.workingsetRefaultFile++;
    if (this.age - Math.floor(shadow / 2) > this.nrActive()) {
      this.add(pfn);
      return;
    }
    this.lru.add(pfn, LRU_ACTIVE_FILE);
    this.age++;
    this.stats.workingsetActivateFile++;
    if (shadow & 1) {
      this.memmap.setFlags2(pfn, PG2_workingset);
      this.stats.workingsetRestoreFile++;
    }
  }

  /** folio_mark_accessed: an inactive referenced page is promoted (workingset_activation), an unreferenced one becomes referenced. */
  accessed(pfn: number): void {
    const f2 = this.memmap.flags2(pfn);
    if (f2 & PG2_active) return;
    if (f2 & PG2_referenced) {
      this.memmap.clearFlags2(pfn, PG2_referenced);
      this.lru.move(pfn, LRU_ACTIVE_FILE);
      this.age++;
    } else this.memmap.setFlags2(pfn, PG2_referenced);
  }

  /** Takes a page-cache page off its list (before the cache lets it go). */
  del(pfn: number): void {
    if (this.memmap.flags2(pfn) & PG2_lru) this.lru.del(pfn);
    this.memmap.clearFlags2(pfn, PG2_referenced | PG2_workingset);
  }

  /** Pages on the two file lists. */
  nrPages(): number {
    return (this.lru.count[LRU_INACTIVE_FILE] as number) + (this.lru.count[LRU_ACTIVE_FILE] as number);
  }

  /** Pages on the active file list. */
  nrActive(): number {
    return this.lru.count[LRU_ACTIVE_FILE] as number;
  }

  /**
   * Reclaims up to `want` file pages. Sets `scanned`. Returns the pages
   * freed. A memory cgroup's reclaim (`memcg` not 0) finds none: page-cache
   * pages carry no charge (memcontrol.ts charges anonymous pages only).
   */
  shrink(want: number, memcg: number): number {
    this.scanned = 0;
    if (this.cache === null || memcg !== 0) return 0;
    const lru = this.lru;
    const budget = 2 * this.nrPages() + 1;
    let stolen = 0;
    while (stolen < want && this.scanned < budget) {
      if ((lru.count[LRU_INACTIVE_FILE] as number) < (lru.count[LRU_ACTIVE_FILE] as number)) this.deactivate(lru.last(LRU_ACTIVE_FILE));
      const pfn = lru.last(LRU_INACTIVE_FILE);
      if (pfn < 0) break;
      this.scanned++;
      if (this.reclaimOne(pfn, null, "kswapd")) stolen++;
    }
    this.stats.pgscanFile += this.scanned;
    this.stats.pgstealFile += stolen;
    return stolen;
  }

  /**
   * A fast node's file reclaim under memory tiering (Reclaim.shrinkRange):
   * only the pages in frames [start, end) are taken, the others left where
   * they are on the lists. Two passes: each first deactivates the range's
   * pages nearest the active tail while the inactive list is the shorter,
   * then walks the inactive list once from its tail (the pages it held
   * then), and each page reclaim would free is first migrated to the
   * demotion target (`tiers`, counted there as `who`), else unmapped and
   * dropped (written back first when dirty) as in shrink. A mapped page
   * used since the last look is rotated or activated by the first pass and
   * can go in the second. Sets `scanned`. Returns the pages that left the
   * range.
   */
  shrinkRange(want: number, start: number, end: number, tiers: FileDemotion, who: ReclaimWho): number {
    this.scanned = 0;
    if (this.cache === null) return 0;
    const lru = this.lru;
    let stolen = 0;
    for (let pass = 0; pass < 2 && stolen < want; pass++) {
      this.deactivateRange(start, end);
      let pfn = lru.last(LRU_INACTIVE_FILE);
      for (let n = lru.count[LRU_INACTIVE_FILE] as number; n > 0 && pfn >= 0 && stolen < want; n--) {
        const prev = lru.prev(pfn);
        if (pfn >= start && pfn < end) {
          this.scanned++;
          if (this.reclaimOne(pfn, tiers, who)) stolen++;
        }
        pfn = prev;
      }
    }
    this.stats.pgscanFile += this.scanned;
    this.stats.pgstealFile += stolen;
    return stolen;
  }

  /** shrink_active_list of one node: its pages at the active tail go inactive while the inactive list is the shorter. */
  private deactivateRange(start: number, end: number): void {
    const lru = this.lru;
    for (let pfn = lru.last(LRU_ACTIVE_FILE); pfn >= 0; ) {
      if ((lru.count[LRU_INACTIVE_FILE] as number) >= (lru.count[LRU_ACTIVE_FILE] as number)) return;
      const prev = lru.prev(pfn);
      if (pfn >= start && pfn < end) this.deactivate(pfn);
      pfn = prev;
    }
  }

  /** shrink_active_list for one file page: to the inactive head, its referenced state cleared, marked workingset. */
  private deactivate(pfn: number): void {
    this.memmap.clearFlags2(pfn, PG2_referenced);
    this.memmap.setFlags2(pfn, PG2_workingset);
    this.lru.move(pfn, LRU_INACTIVE_FILE);
  }

  private rotate(pfn: number): false {
    this.lru.move(pfn, LRU_INACTIVE_FILE);
    return false;
  }

  /**
   * shrink_folio_list for one inactive file page; with `tiers` (a node's
   * reclaim under tiering) a page that would go is first offered to
   * demotion (demote_folio_list), mapped or not. Returns true when it left
   * RAM or its node.
   */
  private reclaimOne(pfn: number, tiers: FileDemotion | null, who: ReclaimWho): boolean {
    const mm = this.memmap;
    const cache = this.cache as FileCacheReclaim;
    // The cache's reference and one per mapping; anything more is a user in the middle of it.
    if (mm.refcount(pfn) !== 1 + mm.mapcount(pfn)) return this.rotate(pfn);
    if (mm.mapcount(pfn) > 0) {
      const young = cache.referenced(pfn);
      if (young !== 0) return this.referencedPage(pfn, young);
    }
    if (tiers?.demote(pfn, who)) return true;
    if (mm.mapcount(pfn) > 0 && cache.unmap(pfn) !== 0) return this.rotate(pfn);
    const dirty = mm.testFlag(pfn, PG_dirty);
    // workingset_eviction: the age before this eviction, and whether the page was in the workingset.
    if (!cache.evict(pfn, this.age * 2 + (mm.flags2(pfn) & PG2_workingset ? 1 : 0))) return this.rotate(pfn);
    this.age++;
    if (dirty) this.stats.vmscanWrite++;
    return true;
  }

  /** folio_check_references for a mapped page some entry used (`young` entries; -1 = mlocked). */
  private referencedPage(pfn: number, young: number): false {
    const mm = this.memmap;
    if (young < 0 || young > 1 || mm.flags2(pfn) & PG2_referenced) {
      mm.clearFlags2(pfn, PG2_referenced);
      this.lru.move(pfn, LRU_ACTIVE_FILE);
      return false;
    }
    mm.setFlags2(pfn, PG2_referenced);
    return this.rotate(pfn);
  }
}
