/**
 * Installing and removing runs of 4 KiB entries (Linux vmap_range /
 * vunmap_range, xv6 mappages): used by init_mm's direct map, vmalloc and vmap,
 * and by any layer that maps frames it already holds. The PageTable methods
 * of the same names call these.
 */
import { panic } from "../panic.ts";
import type { PageTable } from "./pgtable.ts";
import { entryHi, writeEntry } from "./pgtable_geometry.ts";
import type { ZapSink } from "./pgtable_range.ts";
import { PTE_P, PTE_PS } from "./pgtable_types.ts";
import { formatVa } from "./types.ts";

/**
 * Maps `npages` contiguous frames from `pfn` at `va` with `flags` (leaf
 * flags, PTE_P included). With `{ huge: true }` every 2 MiB-aligned piece
 * whose frames are 2 MiB-aligned too becomes one level-2 leaf.
 * Returns "nomem" when a table allocation failed; the entries this call
 * set are cleared again (tables it allocated stay, empty).
 * Panics when a slot is already in use (xv6 "mappages: remap").
 */
export function mapRange(pt: PageTable, va: number, pfn: number, npages: number, flags: number, opts?: { huge?: boolean }): "ok" | "nomem" {
  pt.checkRange("map_range", va, va + npages * 4096);
  const huge = opts?.huge === true;
  // A level-2 leaf maps one whole level-1 table's span (2 MiB of 512 pages on x86-64).
  const bigSize = pt.geo.levelSize[2] as number;
  const bigPages = pt.geo.entriesPerTable;
  let done = 0;
  while (done < npages) {
    const at = va + done * 4096;
    const p = pfn + done;
    const big = huge && (at & (bigSize - 1)) === 0 && (p & (bigPages - 1)) === 0 && npages - done >= bigPages;
    const ptep = pt.ensure(at, big ? 2 : 1);
    if (ptep < 0) {
      undoMap(pt, va, done);
      return "nomem";
    }
    if (!pt.pteNone(ptep)) panic(`map_range: remap at ${formatVa(at)}`);
    pt.setPte(at, ptep, p, big ? (flags | PTE_PS) >>> 0 : flags);
    done += big ? bigPages : 1;
  }
  return "ok";
}

/**
 * Maps the frames `pfns[0..count)` at consecutive pages from `va` (vmap).
 * Returns "nomem" like mapRange, with the same cleanup. Panics on a remap.
 */
export function mapPages(pt: PageTable, va: number, pfns: ArrayLike<number>, count: number, flags: number): "ok" | "nomem" {
  pt.checkRange("map_pages", va, va + count * 4096);
  const tableSpan = pt.geo.levelSize[2] as number;
  const step = pt.geo.entrySize;
  let ptep = -1;
  for (let i = 0; i < count; i++) {
    const at = va + i * 4096;
    // Within one level-1 table the next slot follows; a new table needs a walk.
    if (i === 0 || (at & (tableSpan - 1)) === 0) ptep = pt.ensure(at, 1);
    else ptep += step;
    if (ptep < 0) {
      undoMap(pt, va, i);
      return "nomem";
    }
    if (!pt.pteNone(ptep)) panic(`map_pages: remap at ${formatVa(at)}`);
    pt.setPte(at, ptep, pfns[i] as number, flags);
  }
  return "ok";
}

/**
 * vunmap_range: clears the `count` 4 KiB entries from `va` (a small range
 * such as a vmalloc area), handing each non-zero one to `sink`; one walk
 * per level-1 table instead of unmapRange's descent from the root for the
 * range. Returns how many entries were cleared; records the flush.
 * Panics on a bad range or a 2 MiB leaf in it.
 */
export function unmapPages(pt: PageTable, va: number, count: number, sink: ZapSink | null): number {
  pt.checkRange("unmap_pages", va, va + count * 4096);
  const u32 = pt.paging.u32;
  const geo = pt.geo;
  const tableSpan = geo.levelSize[2] as number;
  let n = 0;
  let ptep = -1;
  for (let i = 0; i < count; i++) {
    const at = va + i * 4096;
    if (i === 0 || (at & (tableSpan - 1)) === 0) {
      ptep = pt.lookup(at);
      if (ptep >= 0 && pt.leafLevel === 2) panic(`unmap_pages: ${formatVa(at)} lies in a 2 MiB leaf`);
    } else if (ptep >= 0) ptep += geo.entrySize;
    if (ptep < 0) continue;
    const w = ptep >>> 2;
    const lo = u32[w] as number;
    const hi = entryHi(geo, u32, w);
    if ((lo | hi) === 0) continue;
    writeEntry(geo, u32, w, 0, 0);
    pt.paging.adjustUsed(ptep, -1);
    if ((lo & PTE_P) !== 0) pt.recordFlush(at, at + 4096);
    sink?.zapPte(at, geo.pfn(lo, hi), geo.flags(lo, hi, 1), 1);
    n++;
  }
  pt.debugShootdown();
  return n;
}

/** Clears the entries a failed map set in [va, va + pages): nothing could have cached them yet. */
function undoMap(pt: PageTable, va: number, pages: number): void {
  let i = 0;
  while (i < pages) {
    const at = va + i * 4096;
    const ptep = pt.lookup(at);
    const step = pt.leafLevel === 2 ? pt.geo.entriesPerTable : 1;
    writeEntry(pt.geo, pt.paging.u32, ptep >>> 2, 0, 0);
    pt.paging.adjustUsed(ptep, -1);
    i += step;
  }
}
