/**
 * A kmemleak-style scan: which tracked kernel objects does no kernel memory
 * point to? Every allocated frame of RAM other than slab pages, and every
 * tracked object, is read as 8-byte aligned words (a conservative scan, as
 * kmemleak's); a word equal to an address inside an object, found outside
 * that object, references it. Free blocks, per-CPU pages and the free
 * objects of slab pages are not scanned, so stale pointers in freed memory
 * do not hide a leak; slab objects that were not tracked (allocated before
 * tracking, or not sampled) are not scanned either. A vmalloc area is an
 * object at its vmalloc address whose bytes are its frames (scanned with
 * the other allocated frames; a pointer into the area from its own pages
 * does not count, nor do the vmap_area objects' va_start and va_end, the
 * bookkeeping of every area: Linux asks two references of a vmalloc area
 * for the same reason). Pointers kept only by the kernel's JS side
 * (structures memsim keeps outside RAM) are invisible: an object reached
 * only from there is reported, as kmemleak reports an object reached only
 * through an untracked pointer.
 *
 *   unreferenced object 0xffff888000012340 (size 100):
 *     comm "swapper/0", pid 0, ts 5000 ns
 *     hex dump (first 32 bytes):
 *       de ad be ef 00 00 00 00 00 00 00 00 00 00 00 00  ................
 *     backtrace:
 *       <call site>
 */
import type { MemMap } from "./memmap.ts";
import { PG_buddy, PG_pcp, PG_slab } from "./memmap.ts";
import type { PhysMem } from "./physmem.ts";
import { PAGE_OFFSET, PAGE_SIZE, VMALLOC_END, VMALLOC_START } from "./types.ts";

/** A tracked kernel object. */
export interface KmemleakObject {
  /** Its kernel virtual address (direct map). */
  readonly ptr: number;
  readonly size: number;
  readonly site: string;
  readonly pid: number;
  readonly comm: string;
  readonly ts: number;
  /** A vmalloc area's frames, in order (its address is then a vmalloc address); absent for slab objects. */
  readonly pfns?: readonly number[];
  /** The kva of the object that records this one (a vmalloc area's vmap_area): pointers from such objects to vmalloc areas are no references. */
  readonly meta?: number;
}

/** Objects sorted by address, for bisection. */
function sortedByPtr(objs: readonly KmemleakObject[]): KmemleakObject[] {
  return [...objs].sort((a, b) => a.ptr - b.ptr);
}

/** The index of the object holding kva, or -1. */
function holder(sorted: readonly KmemleakObject[], kva: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as KmemleakObject).ptr <= kva) lo = mid + 1;
    else hi = mid;
  }
  const o = sorted[lo - 1];
  return o !== undefined && kva < o.ptr + Math.max(o.size, 1) ? lo - 1 : -1;
}

/**
 * Marks the objects the words of RAM [pa, end) point into, from outside the
 * object; `self` is the tracked object these bytes belong to (-1: none),
 * `bookkeeping` true when it is a vmap_area (it points to no vmalloc area).
 */
function scanRange(
  sorted: readonly KmemleakObject[],
  seen: Uint8Array,
  phys: PhysMem,
  pa: number,
  end: number,
  self = -1,
  bookkeeping = false,
): void {
  const u32 = phys.u32;
  const hiKva = PAGE_OFFSET + phys.bytes;
  for (let i = Math.ceil(pa / 8) * 2; i * 4 + 8 <= end; i += 2) {
    const v = (u32[i] as number) + (u32[i + 1] as number) * 4294967296;
    if ((v < PAGE_OFFSET || v >= hiKva) && (v < VMALLOC_START || v >= VMALLOC_END)) continue;
    const j = holder(sorted, v);
    if (j < 0 || j === self || (bookkeeping && (sorted[j] as KmemleakObject).pfns !== undefined)) continue;
    const at = PAGE_OFFSET + i * 4;
    const o = sorted[j] as KmemleakObject;
    if (at < o.ptr || at >= o.ptr + o.size) seen[j] = 1;
  }
}

/** Marks every object some allocated non-slab frame or tracked object points into. */
function markReferenced(sorted: readonly KmemleakObject[], phys: PhysMem, memmap: MemMap): Uint8Array {
  const seen = new Uint8Array(sorted.length);
  const owner = new Map<number, number>();
  sorted.forEach((o, j) => {
    for (const pfn of o.pfns ?? []) owner.set(pfn, j);
  });
  for (let pfn = 0; pfn < phys.nrPages; pfn++) {
    const f = memmap.flags(pfn);
    if (f & PG_buddy) pfn += (1 << memmap.order(pfn)) - 1;
    else if (!(f & (PG_pcp | PG_slab))) scanRange(sorted, seen, phys, pfn * PAGE_SIZE, (pfn + 1) * PAGE_SIZE, owner.get(pfn) ?? -1);
  }
  const metas = new Set(sorted.map((o) => o.meta ?? -1));
  sorted.forEach((o, j) => {
    if (o.pfns === undefined) scanRange(sorted, seen, phys, o.ptr - PAGE_OFFSET, o.ptr - PAGE_OFFSET + o.size, j, metas.has(o.ptr));
  });
  return seen;
}

/** The objects no allocated kernel memory points to, by address. */
export function kmemleakUnreferenced(objs: readonly KmemleakObject[], phys: PhysMem, memmap: MemMap): KmemleakObject[] {
  const sorted = sortedByPtr(objs);
  const seen = markReferenced(sorted, phys, memmap);
  return sorted.filter((_, i) => seen[i] === 0);
}

function hexDump(phys: PhysMem, o: KmemleakObject, n: number): string {
  const pa = o.pfns === undefined ? o.ptr - PAGE_OFFSET : (o.pfns[0] as number) * PAGE_SIZE;
  const lines: string[] = [];
  for (let off = 0; off < n; off += 16) {
    const bytes = Array.from(phys.u8.subarray(pa + off, pa + Math.min(n, off + 16)));
    const hex = bytes.map((b) => b.toString(16).padStart(2, "0")).join(" ");
    const text = bytes.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    lines.push(`    ${hex.padEnd(47)}  ${text}`);
  }
  return lines.join("\n");
}

/** Kernel addresses as kmemleak prints them, canonical: 0xffff888000012340. */
export function canonicalKva(kva: number): string {
  return `0xffff${kva.toString(16).padStart(12, "0")}`;
}

/** kmemleak's report of `objs` (the unreferenced ones), one block each. */
export function renderKmemleak(objs: readonly KmemleakObject[], phys: PhysMem): string {
  return objs
    .map((o) => {
      const n = Math.min(32, o.size);
      return (
        `unreferenced object ${canonicalKva(o.ptr)} (size ${o.size}):\n` +
        `  comm "${o.comm}", pid ${o.pid}, ts ${o.ts} ns\n` +
        `  hex dump (first ${n} bytes):\n${hexDump(phys, o, n)}\n` +
        `  backtrace:\n    ${o.site}\n`
      );
    })
    .join("");
}
