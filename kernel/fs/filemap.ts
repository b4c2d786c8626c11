/**
 * The page cache (Linux mm/filemap.c and mm/page-writeback.c, reduced): per
 * inode an ordered index from page index (file offset / 4096) to a frame
 * from the page allocator. The bytes live in those RAM frames; JS keeps only
 * the index. read and write go through it; fsync and sync write dirty pages
 * back to their disk blocks; drop_caches frees the clean ones.
 *
 * Each cached frame carries PG_file in struct page and PG_dirty while it
 * holds bytes the disk has not, and sits on the file LRU lists
 * (mm/vmscan_file.ts): new pages start on the inactive list, a second use
 * moves a page to the active one (mark_page_accessed), and reclaim takes
 * clean pages back from the inactive tail (a dirty one is written first).
 *
 * Dirty thresholds, simplified: with `dirtyable` = free pages + cached pages,
 * passing vm.dirty_background_ratio (10%) of it writes every dirty page back
 * (the flusher, run at once since there is one CPU and no scheduler);
 * vm.dirty_ratio (20%) is counted as a throttle of the writer. Writeback is
 * synchronous, so the Writeback field of meminfo is always 0.
 */
import type { PageAllocator } from "../mm/frames.ts";
import { GFP_HIGHUSER_MOVABLE } from "../mm/gfp.ts";
import { type MemMap, PG_dirty, PG_file, SP_INDEX, SP_MAPPING } from "../mm/memmap.ts";
import type { PhysMem } from "../mm/physmem.ts";
import type { FileLru } from "../mm/vmscan_file.ts";
import { panic } from "../panic.ts";
import { BLOCK_SIZE, type BlockDevice } from "./blockdev.ts";
import type { Sfs } from "./sfs.ts";

/** getPage's mode: a read needs the block's bytes; a write that covers the whole page does not. */
export type FillMode = "read" | "overwrite";

/** Counters of the page cache (vmstat and stats). */
export class PageCacheStats {
  /** Pages read from disk into the cache (vmstat pgpgin, in pages). */
  pgpgin = 0;
  /** Pages written from the cache to disk (vmstat pgpgout, in pages). */
  pgpgout = 0;
  /** Background writebacks started by dirty_background_ratio. */
  backgroundFlushes = 0;
  /** Writes throttled by dirty_ratio. */
  throttled = 0;
}

/** The machine's page cache. */
export class PageCache {
  /** ino -> (page index -> pfn). */
  private readonly inodes = new Map<number, Map<number, number>>();
  /** ino -> (page index -> shadow): where reclaim evicted a page (workingset_eviction's shadow entry). */
  private readonly shadows = new Map<number, Map<number, number>>();
  readonly stats = new PageCacheStats();
  nrPages = 0;
  nrDirty = 0;
  /** The file LRU lists, set at boot (reclaim's FileLru); null for a cache outside a machine. */
  lru: FileLru | null = null;
  /**
   * Reclaim's safe-point count (Reclaim.safe), set at boot: a cache page's
   * allocation holds no page, so direct reclaim (and, from a system call,
   * the OOM killer) may run inside it. Null for a cache outside a machine.
   */
  reclaimPoint: { safe: number } | null = null;
  /** Whether the last getPage read its page from disk (a fault on it is major). */
  lastRead = false;
  /** Cached pages some process maps (meminfo Mapped; kept by file_mmap.ts). */
  nrMapped = 0;
  /**
   * Called before the writeback of pages [first, last] of an inode: moves
   * the dirty bits of its shared mappings of those pages into the cache
   * (file_mmap.ts).
   */
  beforeWriteback: ((ino: number, first: number, last: number) => void) | null = null;
  /** vm.dirty_background_ratio and vm.dirty_ratio (percent). */
  dirtyBackgroundRatio = 10;
  dirtyRatio = 20;
  private readonly u8: Uint8Array;

  constructor(
    phys: PhysMem,
    private readonly memmap: MemMap,
    private readonly pages: PageAllocator,
    private readonly dev: BlockDevice,
    /** The mounted filesystem (replaced by a remount). */
    public fs: Sfs,
  ) {
    this.u8 = phys.u8;
  }

  /** The frame caching page `index` of `ino`, or -1. */
  find(ino: number, index: number): number {
    return this.inodes.get(ino)?.get(index) ?? -1;
  }

  /**
   * The frame of page `index` of `ino`, read from its block on a miss
   * (zeroed for a hole, or when `mode` is "overwrite"). Returns -1 when no
   * frame could be had (ENOMEM).
   */
  getPage(ino: number, index: number, mode: FillMode): number {
    this.lastRead = false;
    const pfn = this.find(ino, index);
    if (pfn >= 0) {
      this.lru?.accessed(pfn);
      return pfn;
    }
    const nf = this.allocCachePage();
    if (nf < 0) return -1;
    const at = nf * BLOCK_SIZE;
    const blk = mode === "read" ? this.fs.bmap(ino, index, "lookup") : 0;
    if (blk > 0) {
      this.dev.readBlock(blk, this.u8, at);
      this.stats.pgpgin++;
      this.lastRead = true;
    } else this.u8.fill(0, at, at + BLOCK_SIZE);
    this.insert(ino, index, nf);
    return nf;
  }

  /** A frame for a new cache page (GFP_HIGHUSER_MOVABLE, the mapping default): reclaim and the OOM killer may run, as the page is not held yet. */
  private allocCachePage(): number {
    const point = this.reclaimPoint;
    if (point === null) return this.pages.allocPages(0, GFP_HIGHUSER_MOVABLE);
    point.safe++;
    try {
      return this.pages.allocPages(0, GFP_HIGHUSER_MOVABLE);
    } finally {
      point.safe--;
    }
  }

  private insert(ino: number, index: number, pfn: number): void {
    let m = this.inodes.get(ino);
    if (m === undefined) {
      m = new Map();
      this.inodes.set(ino, m);
    }
    m.set(index, pfn);
    this.memmap.setFlag(pfn, PG_file);
    // struct page names its file and offset (page->mapping, page->index), PG_file telling them from anon_vma words.
    this.memmap.setUserWord(pfn, SP_MAPPING, ino);
    this.memmap.setUserWord(pfn, SP_INDEX, index);
    this.nrPages++;
    const shadow = this.takeShadow(ino, index);
    if (shadow < 0) this.lru?.add(pfn);
    else this.lru?.refault(pfn, shadow);
  }

  /** The shadow reclaim left at page `index` of `ino`, removed; -1 when there is none. */
  private takeShadow(ino: number, index: number): number {
    const s = this.shadows.get(ino);
    const shadow = s?.get(index);
    if (s === undefined || shadow === undefined) return -1;
    s.delete(index);
    if (s.size === 0) this.shadows.delete(ino);
    return shadow;
  }

  /** Forgets the shadows of `ino` from page index `first` on (a truncate; 0 for an inode that goes). */
  private forgetShadows(ino: number, first: number): void {
    const s = this.shadows.get(ino);
    if (s === undefined) return;
    for (const index of [...s.keys()]) if (index >= first) s.delete(index);
    if (s.size === 0) this.shadows.delete(ino);
  }

  /** Forgets every shadow (a remount: the cache starts from nothing). */
  forgetAllShadows(): void {
    this.shadows.clear();
  }

  /** Shadow entries left by reclaim, for the checker and tests. */
  nrShadows(): number {
    let n = 0;
    for (const s of this.shadows.values()) n += s.size;
    return n;
  }

  /**
   * get_page on cache page `pfn` while a syscall copies to or from it: the
   * copy may fault, and a fault's reclaim leaves a page someone else holds.
   * Undo with `put`.
   */
  hold(pfn: number): void {
    this.pages.getPage(pfn);
  }

  /** put_page after `hold` (the cache's own reference stays). */
  put(pfn: number): void {
    this.pages.putPage(pfn);
  }

  /** Pages on the active file list. */
  nrActive(): number {
    return this.lru === null ? 0 : this.lru.nrActive();
  }

  /** set_page_dirty. */
  markDirty(pfn: number): void {
    if (this.memmap.testFlag(pfn, PG_dirty)) return;
    this.memmap.setFlag(pfn, PG_dirty);
    this.nrDirty++;
  }

  /** Writes one dirty page of `ino` back to its block. Panics (via bmap's caller) never: a dirty page always has a block. */
  private writePage(ino: number, index: number, pfn: number): void {
    const blk = this.fs.bmap(ino, index, "lookup");
    if (blk > 0) {
      this.dev.writeBlock(blk, this.u8, pfn * BLOCK_SIZE);
      this.stats.pgpgout++;
    }
    this.memmap.clearFlag(pfn, PG_dirty);
    this.nrDirty--;
  }

  /** Writes back every dirty page of `ino` (fsync). Returns the pages written. */
  writebackInode(ino: number): number {
    return this.writebackRange(ino, 0, Number.MAX_SAFE_INTEGER);
  }

  /**
   * filemap_write_and_wait_range: writes back the dirty pages of `ino`
   * with index in [first, last], after their dirty PTEs moved into the
   * cache (vfs_fsync_range, as msync MS_SYNC calls it). Returns the pages
   * written.
   */
  writebackRange(ino: number, first: number, last: number): number {
    const m = this.inodes.get(ino);
    if (m === undefined) return 0;
    this.beforeWriteback?.(ino, first, last);
    let n = 0;
    for (const index of [...m.keys()].sort((a, b) => a - b)) {
      const pfn = m.get(index) as number;
      if (index < first || index > last || !this.memmap.testFlag(pfn, PG_dirty)) continue;
      this.writePage(ino, index, pfn);
      n++;
    }
    return n;
  }

  /** sync: every dirty page of every file. Returns the pages written. */
  writebackAll(): number {
    let n = 0;
    for (const ino of [...this.inodes.keys()].sort((a, b) => a - b)) n += this.writebackInode(ino);
    return n;
  }

  /**
   * balance_dirty_pages, simplified: past the background threshold every
   * dirty page is written back at once; past dirty_ratio the writer is
   * counted as throttled. Called after each write.
   */
  balanceDirty(): void {
    const dirtyable = this.pages.nrFreePages() + this.nrPages;
    if (this.nrDirty * 100 <= dirtyable * this.dirtyBackgroundRatio) return;
    if (this.nrDirty * 100 > dirtyable * this.dirtyRatio) this.stats.throttled++;
    this.stats.backgroundFlushes++;
    this.writebackAll();
  }

  /** truncate_inode_pages: drops every page of `ino` from index `first` on, dirty or not. */
  truncate(ino: number, first: number): void {
    this.forgetShadows(ino, first);
    const m = this.inodes.get(ino);
    if (m === undefined) return;
    for (const [index, pfn] of [...m]) {
      if (index < first) continue;
      m.delete(index);
      this.release(pfn);
    }
    if (m.size === 0) this.inodes.delete(ino);
  }

  /** drop_caches 1: frees every clean page no process maps (mapped pages stay, as invalidate_mapping_pages leaves them). Returns the pages freed. */
  dropClean(): number {
    let n = 0;
    for (const [ino, m] of [...this.inodes]) {
      for (const [index, pfn] of [...m]) {
        if (this.memmap.testFlag(pfn, PG_dirty) || this.memmap.mapcount(pfn) !== 0) continue;
        m.delete(index);
        this.release(pfn);
        n++;
      }
      if (m.size === 0) this.inodes.delete(ino);
    }
    return n;
  }

  /**
   * Reclaim's __remove_mapping for unmapped cache page `pfn`: a dirty page
   * is written to its block first, then the page leaves the cache and RAM,
   * `shadow` staying at its index until the page comes back (a refault) or
   * a truncate forgets it. Returns false when it is still mapped.
   */
  evict(pfn: number, shadow: number): boolean {
    const mm = this.memmap;
    if (mm.mapcount(pfn) !== 0) return false;
    const ino = mm.userWord(pfn, SP_MAPPING);
    const index = mm.userWord(pfn, SP_INDEX);
    const m = this.inodes.get(ino);
    if (m === undefined || m.get(index) !== pfn)
      panic(`filemap evict: pfn 0x${pfn.toString(16)} is not cached as inode ${ino} page ${index}`);
    if (mm.testFlag(pfn, PG_dirty)) this.writePage(ino, index, pfn);
    m.delete(index);
    if (m.size === 0) this.inodes.delete(ino);
    this.release(pfn);
    let s = this.shadows.get(ino);
    if (s === undefined) {
      s = new Map();
      this.shadows.set(ino, s);
    }
    s.set(index, shadow);
    return true;
  }

  /**
   * Migration's half of the cache (folio_migrate_mapping): frame `to`,
   * whose struct page migration made a copy of `pfn`'s (inode, index,
   * PG_file, PG_dirty), takes `pfn`'s place in the index. The dirty count
   * does not change: the dirty bit moved with the page. Panics when `pfn`
   * is not cached where its struct page says.
   */
  replacePage(pfn: number, to: number): void {
    const ino = this.memmap.userWord(pfn, SP_MAPPING);
    const index = this.memmap.userWord(pfn, SP_INDEX);
    const m = this.inodes.get(ino);
    if (m === undefined || m.get(index) !== pfn)
      panic(`filemap replacePage: pfn 0x${pfn.toString(16)} is not cached as inode ${ino} page ${index}`);
    m.set(index, to);
  }

  /** Panics when the page is still mapped (the caller forgot unmap_mapping_range). */
  private release(pfn: number): void {
    const mm = this.memmap;
    if (mm.mapcount(pfn) !== 0) panic(`truncate_inode_pages: pfn 0x${pfn.toString(16)} is still mapped ${mm.mapcount(pfn)} times`);
    this.lru?.del(pfn);
    mm.setUserWord(pfn, SP_MAPPING, 0);
    mm.setUserWord(pfn, SP_INDEX, 0);
    if (mm.testFlag(pfn, PG_dirty)) this.nrDirty--;
    mm.clearFlag(pfn, PG_file | PG_dirty);
    this.nrPages--;
    this.pages.freePages(pfn, 0);
  }

  /** The inodes with cached pages and their indexes (a copy: callers may truncate while iterating). */
  inodeIndexes(): Array<[number, number[]]> {
    return [...this.inodes].map(([ino, m]) => [ino, [...m.keys()]]);
  }

  /** Every cached page as [ino, index, pfn], for the checker. */
  entries(): Array<[number, number, number]> {
    const out: Array<[number, number, number]> = [];
    for (const [ino, m] of this.inodes) for (const [index, pfn] of m) out.push([ino, index, pfn]);
    return out;
  }
}
