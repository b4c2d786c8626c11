/**
 * A kmemleak-style scan: which tracked kernel objects does no kernel memory
 * point to? Every allocated frame of RAM other than slab pages, and every
 * tracked object, is read as 8-byte aligned words (a conservative scan, as
 * kmemleak's); a word equal to an address inside an object, found outside
 * that object, references it. Free blocks, per-CPU pages and the free
 * objects of slab pages are not scanned, so stale pointers in freed memory
 * do not hide a leak; slab objects that were not tracked (allocated before
 * tracking, or not sampled) are not scanned either. Pointers kept only by the kernel's JS side
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
import { PAGE_OFFSET, PAGE_SIZE } from "./types.ts";

/** A tracked kernel object. */
export interface KmemleakObject {
  /** Its kernel virtual address (direct map). */
  readonly ptr: number;
  readonly size: number;
  readonly site: string;
  readonly pid: number;
  readonly comm: string;
  readonly ts: number;
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

/** Marks the objects the words of RAM [pa, end) point into, from outside the object. */
function scanRange(sorted: readonly KmemleakObject[], seen: Uint8Array, phys: PhysMem, pa: number, end: number): void {
  const u32 = phys.u32;
  const hiKva = PAGE_OFFSET + phys.bytes;
  for (let i = Math.ceil(pa / 8) * 2; i * 4 + 8 <= end; i += 2) {
    const v = (u32[i] as number) + (u32[i + 1] as number) * 4294967296;
    if (v < PAGE_OFFSET || v >= hiKva) continue;
    const j = holder(sorted, v);
    if (j < 0) continue;
    const at = PAGE_OFFSET + i * 4;
    const o = sorted[j] as KmemleakObject;
    if (at < o.ptr || at >= o.ptr + o.size) seen[j] = 1;
  }
}

/** Marks every object some allocated non-slab frame or tracked object points into. */
function markReferenced(sorted: readonly KmemleakObject[], phys: PhysMem, memmap: MemMap): Uint8Array {
  const seen = new Uint8Array(sorted.length);
  for (let pfn = 0; pfn < phys.nrPages; pfn++) {
    const f = memmap.flags(pfn);
    if (f & PG_buddy) pfn += (1 << memmap.order(pfn)) - 1;
    else if (!(f & (PG_pcp | PG_slab))) scanRange(sorted, seen, phys, pfn * PAGE_SIZE, (pfn + 1) * PAGE_SIZE);
  }
  for (const o of sorted) scanRange(sorted, seen, phys, o.ptr - PAGE_OFFSET, o.ptr - PAGE_OFFSET + o.size);
  return seen;
}

/** The objects no allocated kernel memory points to, by address. */
export function kmemleakUnreferenced(objs: readonly KmemleakObject[], phys: PhysMem, memmap: MemMap): KmemleakObject[] {
  const sorted = sortedByPtr(objs);
  const seen = markReferenced(sorted, phys, memmap);
  return sorted.filter((_, i) => seen[i] === 0);
}

function hexDump(phys: PhysMem, kva: number, n: number): string {
  const pa = kva - PAGE_OFFSET;
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
        `  hex dump (first ${n} bytes):\n${hexDump(phys, o.ptr, n)}\n` +
        `  backtrace:\n    ${o.site}\n`
      );
    })
    .join("");
}
