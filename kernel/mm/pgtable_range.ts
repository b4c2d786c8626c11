/**
 * Range operations on a page table (Linux zap_page_range in mm/memory.c,
 * change_protection in mm/mprotect.c, free_pgtables): each walks only the
 * tables that exist, so a sparse range of any size costs what it maps.
 *
 * Every present entry changed or cleared is recorded in the page table's
 * pending flush (pgtable.ts); the caller performs it with pt.flushTlb().
 * A 2 MiB leaf must be covered whole: these operations never split one.
 */
import { panic } from "../panic.ts";
import { PG_reserved } from "./memmap.ts";
import type { PageTable } from "./pgtable.ts";
import { entryHi, geoEntryAddr, geoIndex, geoLevelBase, writeEntry } from "./pgtable_geometry.ts";
import { PTE_P, PTE_RW } from "./pgtable_types.ts";
import { formatVa } from "./types.ts";

/** Receives each entry unmapRange clears (after it is cleared). */
export interface ZapSink {
  /**
   * `va` is the first byte the entry mapped, `pages` 1 or 512 (a 2 MiB
   * leaf). `flags` has PTE_P clear for a non-present (swap) entry; then
   * `pfn` is its PFN field, whatever the owner stored there.
   */
  zapPte(va: number, pfn: number, flags: number, pages: number): void;
}

/** Receives each non-zero leaf entry walkRange finds. */
export interface PteVisitor {
  visitPte(va: number, ptep: number, level: number): void;
}

/** Options of changeProtection. */
export interface ChangeProtOptions {
  /** Entries with any of these flag bits never get PTE_RW set (e.g. PTE_SOFT_COW). */
  readonly readOnlyIf?: number;
}

function partialHuge(what: string, va: number): never {
  panic(`${what}: range covers part of the 2 MiB leaf at ${formatVa(va)}`);
}

/**
 * Clears every non-zero leaf entry in [start, end), handing each to `sink`.
 * Returns how many entries were cleared. Tables stay (see freeEmptyTables).
 * Panics when the range is unaligned, outside the table's half, or covers
 * part of a 2 MiB leaf.
 */
export function unmapRange(pt: PageTable, start: number, end: number, sink: ZapSink | null): number {
  pt.checkRange("unmap_range", start, end);
  if (end === start) return 0;
  const n = zapLevel(pt, pt.root, pt.top, start, end, sink);
  pt.debugShootdown();
  return n;
}

function zapLevel(pt: PageTable, table: number, level: number, start: number, end: number, sink: ZapSink | null): number {
  const u32 = pt.paging.u32;
  const geo = pt.geo;
  const size = geo.levelSize[level] as number;
  let n = 0;
  for (let va = start; va < end; ) {
    const slot = geoLevelBase(geo, va, level);
    const next = Math.min(slot + size, end);
    const ptep = geoEntryAddr(geo, table, geoIndex(geo, va, level));
    const w = ptep >>> 2;
    const lo = u32[w] as number;
    const hi = entryHi(geo, u32, w);
    if ((lo | hi) !== 0) {
      if (level === 1 || (level === 2 && (lo & geo.leafBits) !== 0)) {
        if (va !== slot || next !== slot + size) partialHuge("unmap_range", slot);
        writeEntry(geo, u32, w, 0, 0);
        pt.paging.adjustUsed(ptep, -1);
        if ((lo & PTE_P) !== 0) pt.recordFlush(slot, slot + size);
        sink?.zapPte(slot, geo.pfn(lo, hi), geo.flags(lo, hi, level), size / 4096);
        n++;
      } else if ((lo & PTE_P) !== 0) {
        n += zapLevel(pt, geo.pfn(lo, hi), level - 1, va, next, sink);
      } else {
        panic(`unmap_range: non-present level-${level} entry at ${formatVa(slot)} is not zero`);
      }
    }
    va = next;
  }
  return n;
}

/**
 * change_protection: sets `set` and clears `clear` in every present leaf in
 * [start, end) (PTE_P may not be in either). Returns how many entries
 * changed; each changed entry is recorded for a TLB flush.
 * Panics on a bad range, on PTE_P in set/clear, or on part of a 2 MiB leaf.
 */
export function changeProtection(pt: PageTable, start: number, end: number, set: number, clear: number, opts?: ChangeProtOptions): number {
  pt.checkRange("change_protection", start, end);
  if (((set | clear) & PTE_P) !== 0) panic("change_protection: PTE_P cannot be changed, unmap instead");
  const n = protLevel(pt, pt.root, pt.top, start, end, set >>> 0, clear >>> 0, opts?.readOnlyIf ?? 0);
  pt.debugShootdown();
  return n;
}

function protLevel(
  pt: PageTable,
  table: number,
  level: number,
  start: number,
  end: number,
  set: number,
  clear: number,
  roIf: number,
): number {
  const u32 = pt.paging.u32;
  const geo = pt.geo;
  const size = geo.levelSize[level] as number;
  let n = 0;
  for (let va = start; va < end; ) {
    const slot = geoLevelBase(geo, va, level);
    const next = Math.min(slot + size, end);
    const w = geoEntryAddr(geo, table, geoIndex(geo, va, level)) >>> 2;
    const lo = u32[w] as number;
    const hi = entryHi(geo, u32, w);
    if ((lo & PTE_P) !== 0) {
      if (level === 1 || (level === 2 && (lo & geo.leafBits) !== 0)) {
        if (va !== slot || next !== slot + size) partialHuge("change_protection", slot);
        const old = geo.flags(lo, hi, level);
        let flags = ((old & ~clear) | set) >>> 0;
        if ((old & roIf) !== 0) flags = (flags & ~PTE_RW) >>> 0;
        if (flags !== old) {
          const pfn = geo.pfn(lo, hi);
          writeEntry(geo, u32, w, geo.lo(pfn, flags), geo.hi(pfn, flags));
          pt.recordFlush(slot, slot + size);
          n++;
        }
      } else {
        n += protLevel(pt, geo.pfn(lo, hi), level - 1, va, next, set, clear, roIf);
      }
    }
    va = next;
  }
  return n;
}

/**
 * free_pgtables: frees every table below the root that maps nothing and is
 * reached from [start, end), bottom up, so a parent emptied by it goes too.
 * An empty table maps nothing, so no flush is needed. Returns how many
 * tables were freed.
 */
export function freeEmptyTables(pt: PageTable, start: number, end: number): number {
  pt.checkRange("free_pgtables", start, end);
  if (end === start) return 0;
  const n = freeLevel(pt, pt.root, pt.top, start, end);
  pt.nrTables -= n;
  return n;
}

function freeLevel(pt: PageTable, table: number, level: number, start: number, end: number): number {
  const paging = pt.paging;
  const u32 = paging.u32;
  const geo = pt.geo;
  const size = geo.levelSize[level] as number;
  let n = 0;
  for (let va = start; va < end; ) {
    const slot = geoLevelBase(geo, va, level);
    const next = Math.min(slot + size, end);
    const ptep = geoEntryAddr(geo, table, geoIndex(geo, va, level));
    const w = ptep >>> 2;
    const lo = u32[w] as number;
    if (level > 1 && (lo & PTE_P) !== 0 && (lo & geo.leafBits) === 0) {
      const child = geo.pfn(lo, entryHi(geo, u32, w));
      if (level > 2) n += freeLevel(pt, child, level - 1, va, next);
      if (paging.tableUsed(child) === 0 && !paging.memmap.testFlag(child, PG_reserved)) {
        writeEntry(geo, u32, w, 0, 0);
        paging.adjustUsed(ptep, -1);
        paging.freeTable(child);
        n++;
      }
    }
    va = next;
  }
  return n;
}

/** Calls `visitor` for every non-zero leaf entry in [start, end), in address order. Panics on a bad range. */
export function walkRange(pt: PageTable, start: number, end: number, visitor: PteVisitor): void {
  pt.checkRange("walk_range", start, end);
  if (end > start) visitLevel(pt, pt.root, pt.top, start, end, visitor);
}

function visitLevel(pt: PageTable, table: number, level: number, start: number, end: number, visitor: PteVisitor): void {
  const u32 = pt.paging.u32;
  const geo = pt.geo;
  const size = geo.levelSize[level] as number;
  for (let va = start; va < end; ) {
    const slot = geoLevelBase(geo, va, level);
    const next = Math.min(slot + size, end);
    const ptep = geoEntryAddr(geo, table, geoIndex(geo, va, level));
    const lo = u32[ptep >>> 2] as number;
    const hi = entryHi(geo, u32, ptep >>> 2);
    if ((lo | hi) !== 0) {
      if (level === 1 || (level === 2 && (lo & geo.leafBits) !== 0)) visitor.visitPte(slot, ptep, level);
      else if ((lo & PTE_P) !== 0) visitLevel(pt, geo.pfn(lo, hi), level - 1, va, next, visitor);
    }
    va = next;
  }
}
