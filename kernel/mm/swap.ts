/**
 * The LRU lists (Linux mm/swap.c, the lruvec of include/linux/mmzone.h):
 * every resident anonymous page that reclaim may find, and every page-cache
 * page, is on exactly one of five lists, linked through its struct page.
 *
 *   lists (one machine-wide lruvec; heads and counts are five integers each)
 *
 *     inactive anon  head -> [pfn] <-> [pfn] <-> ... <-> [pfn] <- tail
 *     active anon    head -> ...                           <- tail
 *     unevictable    head -> ...                           <- tail
 *     inactive file  head -> ...                           <- tail
 *     active file    head -> ...                           <- tail
 *
 *   struct page of a page on a list (memmap.ts):
 *     flags2  PG2_lru, plus PG2_active (an active list) or PG2_unevictable;
 *             PG_file (word 0) tells a file list from an anon one
 *     word 5  lru.next: pfn + 1 of the next page towards the tail (0 = none)
 *     word 6  lru.prev: pfn + 1 of the previous page (0 = none)
 *
 * New pages enter at the head; reclaim takes from the tail. Which list a
 * page sits on is the replacement policy's business (replacement.ts): the
 * default two-list policy moves pages between inactive and active, the
 * others leave every evictable page on the inactive list and keep their own
 * order. The unevictable list is the kernel's (mlock.ts). The two file lists
are the kernel's too (vmscan_file.ts): the page cache adds its pages there
and reclaim scans them before the anonymous ones.
 *
 * Calls: struct page only.
 */
import { panic } from "../panic.ts";
import { type MemMap, PG_file, PG2_active, PG2_lru, PG2_unevictable, SP_LRU_NEXT, SP_LRU_PREV } from "./memmap.ts";

/** List numbers (enum lru_list; memsim numbers the file lists after the unevictable one). */
export const LRU_INACTIVE_ANON = 0;
export const LRU_ACTIVE_ANON = 1;
export const LRU_UNEVICTABLE = 2;
export const LRU_INACTIVE_FILE = 3;
export const LRU_ACTIVE_FILE = 4;
/** Lists of the lruvec. */
export const NR_LRU_LISTS = 5;

/** The flags2 bits of a page on list `lru`. */
function listBits(lru: number): number {
  if (lru === LRU_UNEVICTABLE) return PG2_lru | PG2_unevictable;
  return lru === LRU_ACTIVE_ANON || lru === LRU_ACTIVE_FILE ? PG2_lru | PG2_active : PG2_lru;
}

/** The five LRU lists, linked through struct page. */
export class LruLists {
  /** pfn + 1 of each list's first page (0 = empty). */
  readonly head = new Int32Array(NR_LRU_LISTS);
  /** pfn + 1 of each list's last page (0 = empty). */
  readonly tail = new Int32Array(NR_LRU_LISTS);
  /** Pages on each list. */
  readonly count = new Int32Array(NR_LRU_LISTS);

  constructor(readonly memmap: MemMap) {}

  /** The list a page with PG2_lru is on (by its flags2 bits and PG_file). */
  listOf(pfn: number): number {
    const f = this.memmap.flags2(pfn);
    if (f & PG2_unevictable) return LRU_UNEVICTABLE;
    if (this.memmap.testFlag(pfn, PG_file)) return f & PG2_active ? LRU_ACTIVE_FILE : LRU_INACTIVE_FILE;
    return f & PG2_active ? LRU_ACTIVE_ANON : LRU_INACTIVE_ANON;
  }

  /** Panics when `pfn` cannot go on `lru`: already on a list, or a file page on an anon list (or the reverse). */
  private checkAdd(pfn: number, lru: number): void {
    const mm = this.memmap;
    if (mm.flags2(pfn) & PG2_lru) panic(`lru_add: pfn 0x${pfn.toString(16)} is already on an LRU list`);
    if (lru !== LRU_UNEVICTABLE && lru >= LRU_INACTIVE_FILE !== mm.testFlag(pfn, PG_file))
      panic(`lru_add: pfn 0x${pfn.toString(16)} ${mm.testFlag(pfn, PG_file) ? "is" : "is not"} a page-cache page (list ${lru})`);
  }

  /** Whether the page is on a list. */
  onLru(pfn: number): boolean {
    return (this.memmap.flags2(pfn) & PG2_lru) !== 0;
  }

  /** lru_cache_add: puts a page at the head of list `lru`. Panics when it is on a list already. */
  add(pfn: number, lru: number): void {
    const mm = this.memmap;
    this.checkAdd(pfn, lru);
    mm.setFlags2(pfn, listBits(lru));
    const first = this.head[lru] as number;
    mm.setUserWord(pfn, SP_LRU_NEXT, first);
    mm.setUserWord(pfn, SP_LRU_PREV, 0);
    if (first !== 0) mm.setUserWord(first - 1, SP_LRU_PREV, pfn + 1);
    else this.tail[lru] = pfn + 1;
    this.head[lru] = pfn + 1;
    this.count[lru] = (this.count[lru] as number) + 1;
  }

  /** Puts a page at the tail of list `lru` (where reclaim looks first). */
  addTail(pfn: number, lru: number): void {
    const mm = this.memmap;
    this.checkAdd(pfn, lru);
    mm.setFlags2(pfn, listBits(lru));
    const last = this.tail[lru] as number;
    mm.setUserWord(pfn, SP_LRU_PREV, last);
    mm.setUserWord(pfn, SP_LRU_NEXT, 0);
    if (last !== 0) mm.setUserWord(last - 1, SP_LRU_NEXT, pfn + 1);
    else this.head[lru] = pfn + 1;
    this.tail[lru] = pfn + 1;
    this.count[lru] = (this.count[lru] as number) + 1;
  }

  /** lruvec_del_folio: takes a page off its list and clears its list bits. Panics when it is on none. */
  del(pfn: number): void {
    const mm = this.memmap;
    if (!(mm.flags2(pfn) & PG2_lru)) panic(`lru_del: pfn 0x${pfn.toString(16)} is on no LRU list`);
    const lru = this.listOf(pfn);
    const next = mm.userWord(pfn, SP_LRU_NEXT);
    const prev = mm.userWord(pfn, SP_LRU_PREV);
    if (prev !== 0) mm.setUserWord(prev - 1, SP_LRU_NEXT, next);
    else this.head[lru] = next;
    if (next !== 0) mm.setUserWord(next - 1, SP_LRU_PREV, prev);
    else this.tail[lru] = prev;
    mm.setUserWord(pfn, SP_LRU_NEXT, 0);
    mm.setUserWord(pfn, SP_LRU_PREV, 0);
    mm.clearFlags2(pfn, PG2_lru | PG2_active | PG2_unevictable);
    this.count[lru] = (this.count[lru] as number) - 1;
  }

  /** Moves a page to the head of list `lru` (activation, rotation, deactivation). */
  move(pfn: number, lru: number): void {
    this.del(pfn);
    this.add(pfn, lru);
  }

  /** The last page of list `lru`, or -1 when it is empty. */
  last(lru: number): number {
    return (this.tail[lru] as number) - 1;
  }

  /** The first page of list `lru`, or -1 when it is empty. */
  first(lru: number): number {
    return (this.head[lru] as number) - 1;
  }

  /** The page after `pfn` towards the tail, or -1. */
  next(pfn: number): number {
    return this.memmap.userWord(pfn, SP_LRU_NEXT) - 1;
  }

  /** The page before `pfn` towards the head, or -1. */
  prev(pfn: number): number {
    return this.memmap.userWord(pfn, SP_LRU_PREV) - 1;
  }
}
