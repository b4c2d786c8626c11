/**
 * Page tables in RAM (Linux mm/pgtable-generic.c, mm/memory.c's walkers,
 * xv6 vm.c): one PageTable per address space, a 4-level tree of table frames
 * taken from the buddy allocator, and the operations the kernel changes it
 * with. The entry format lives in pgtable_types.ts; range operations (unmap,
 * change protection, free empty tables) in pgtable_range.ts.
 *
 * Owns: the entries of a tree and its pending-flush record. Calls: the
 * table-frame allocator (pgalloc.ts), memmap, the TLB.
 *
 * TLB coherence: every change that could leave a stale translation (a present
 * entry changed or cleared) records the range in the page table's pending
 * flush; the caller performs it with flushTlb() before anything can access
 * that range again (Linux: flush_tlb_range after the change, mmu_gather). With
 * debugVm >= 1 the recorded range is shot down at once and an access to it
 * while the flush is still pending panics, so a forgotten flush is caught at
 * the first access instead of silently using a stale entry; the checker also
 * reports pending flushes. Writing a table's entries any other way than
 * through this file is caught by the TLB checker (pgtable_check.ts).
 *
 * The MMU caches leaf translations only (no paging-structure cache), so
 * installing an entry where there was none and freeing an empty table need no
 * flush.
 */
import { panic } from "../panic.ts";
import { explain, ptdump, vmprint } from "./dump_pagetables.ts";
import { PG_pgtable } from "./memmap.ts";
import type { Paging } from "./pgalloc.ts";
import { entryHi, geoEntryAddr, geoIndex, type MmuGeometry, writeEntry, X86_64 } from "./pgtable_geometry.ts";
import { mapPages, mapRange, unmapPages } from "./pgtable_map.ts";
import {
  type ChangeProtOptions,
  changeProtection,
  freeEmptyTables,
  type PteVisitor,
  unmapRange,
  walkRange,
  type ZapSink,
} from "./pgtable_range.ts";
import { KERNEL_TABLE, PTE_P, PTE_PS, USER_TABLE } from "./pgtable_types.ts";
import { formatVa, TASK_SIZE, VA_BITS } from "./types.ts";

/** A failed translation, handed to the address space's fault handler. */
export interface PageFault {
  readonly pt: PageTable;
  /** The exact byte address that faulted (stored form). */
  readonly address: number;
  /** x86 #PF error-code bits: PF_PROT, PF_WRITE, PF_USER, PF_RSVD, PF_INSTR. */
  readonly errorCode: number;
}

/**
 * Fixes a fault or refuses it. Returns true when the fault was fixed (the
 * access is retried), false when it cannot be (the MMU oopses); may throw
 * instead (a SIGSEGV for a user fault).
 */
export type FaultHandler = (fault: PageFault) => boolean;

/** Which half of the address space a page table may map. */
export type PgtableKind = "kernel" | "user";

const KERNEL_END = 2 ** VA_BITS;

/** One address space's page table: root frame, ASID, fault hook, pending flush. */
export class PageTable {
  /** Handles failed translations; set by the layer that owns the address space. */
  faultHandler: FaultHandler | null = null;
  /** Table frames in this tree, root included. */
  nrTables = 1;
  /** Level of the entry the last lookup() or ensure() returned (1, or 2 for a 2 MiB leaf). */
  leafLevel = 0;
  /** Pending TLB flush [flushStart, flushEnd); nothing pending when flushEnd <= flushStart. */
  flushStart = 0;
  flushEnd = 0;
  /** Lowest and highest address (exclusive) this table may map. */
  readonly vaStart: number;
  readonly vaEnd: number;
  /** The entry layout and levels of this tree (pgtable_geometry.ts): the boot geometry for user tables, x86-64 for the kernel's. */
  readonly geo: MmuGeometry;
  /** Level of the root table (4 on x86-64, 3 on Sv39). */
  readonly top: number;
  private readonly u32: Uint32Array;
  private readonly tableFlags: number;

  constructor(
    readonly paging: Paging,
    /** Frame of the level-4 table (CR3). */
    public root: number,
    /** Tag of this address space's TLB entries. */
    public asid: number,
    readonly kind: PgtableKind,
  ) {
    this.u32 = paging.u32;
    this.tableFlags = kind === "user" ? USER_TABLE : KERNEL_TABLE;
    this.geo = kind === "user" ? paging.geometry : X86_64;
    this.top = this.geo.topLevel;
    this.vaStart = kind === "user" ? 0 : TASK_SIZE;
    this.vaEnd = kind === "user" ? this.geo.taskSize : KERNEL_END;
  }

  /**
   * After pgd_free: points the table at `emptyRoot`, an all-zero frame that
   * is never written (the zero page), so a walk through a stale reference
   * finds nothing present and faults instead of reading a reused frame.
   */
  retire(emptyRoot: number): void {
    this.root = emptyRoot;
    // No TLB key can match a fractional ASID, so a reused ASID's entries stay out of reach.
    this.asid = 0.5;
    this.nrTables = 0;
  }

  /** Panics unless [start, end) is page aligned and inside this table's half. */
  checkRange(what: string, start: number, end: number): void {
    const ok = Number.isInteger(start) && Number.isInteger(end) && ((start | end) & 4095) === 0;
    if (!(ok && start >= this.vaStart && end <= this.vaEnd && start <= end)) {
      panic(`${what}: bad range ${formatVa(start)}-${formatVa(end)} for a ${this.kind} page table`);
    }
  }

  /**
   * Walks to the entry mapping `va` without allocating. Returns the entry's
   * address (ptep): the level-1 entry when the tables down to level 1 exist
   * (it may be zero), or a level-2 entry that is a 2 MiB leaf; `leafLevel`
   * says which. Returns -1 when an upper-level entry is not present.
   */
  lookup(va: number): number {
    const u32 = this.u32;
    const geo = this.geo;
    let table = this.root;
    for (let level = this.top; level > 1; level--) {
      const ptep = geoEntryAddr(geo, table, geoIndex(geo, va, level));
      const lo = u32[ptep >>> 2] as number;
      if ((lo & PTE_P) === 0) return -1;
      if (level === 2 && (lo & geo.leafBits) !== 0) {
        this.leafLevel = 2;
        return ptep;
      }
      table = geo.pfn(lo, entryHi(geo, u32, ptep >>> 2));
    }
    this.leafLevel = 1;
    return geoEntryAddr(geo, table, geoIndex(geo, va, 1));
  }

  /**
   * Walks to the level-`leafLevel` entry for `va` (1: a 4 KiB slot, 2: a
   * 2 MiB slot), allocating the missing tables. Returns the entry's address,
   * or -1 when a table allocation failed; then nothing was changed (the
   * tables are allocated before any is linked).
   * Panics when `va` is outside this table's half or lies in a 2 MiB leaf
   * while a level-1 slot is wanted.
   */
  ensure(va: number, leafLevel: 1 | 2 = 1): number {
    if (!(va >= this.vaStart && va < this.vaEnd)) panic(`ensure: ${formatVa(va)} outside the ${this.kind} half`);
    const u32 = this.u32;
    const geo = this.geo;
    let table = this.root;
    let level = this.top;
    for (; level > leafLevel; level--) {
      const w = geoEntryAddr(geo, table, geoIndex(geo, va, level)) >>> 2;
      const lo = u32[w] as number;
      if ((lo & PTE_P) === 0) {
        if ((lo | entryHi(geo, u32, w)) !== 0) panic(`ensure: non-present level-${level} entry for ${formatVa(va)} is not zero`);
        break;
      }
      if ((lo & geo.leafBits) !== 0) panic(`ensure: ${formatVa(va)} lies in a 2 MiB leaf`);
      table = geo.pfn(lo, entryHi(geo, u32, w));
    }
    this.leafLevel = leafLevel;
    if (level === leafLevel) return geoEntryAddr(geo, table, geoIndex(geo, va, leafLevel));
    const n = level - leafLevel;
    const got = this.paging.allocTables(n, level - 1, this.asid);
    if (got === null) return -1;
    for (let i = 0; i < n; level--, i++) {
      const child = got[i] as number;
      const ptep = geoEntryAddr(geo, table, geoIndex(geo, va, level));
      writeEntry(geo, u32, ptep >>> 2, geo.linkLo(child, this.tableFlags), geo.linkHi(child, this.tableFlags));
      this.paging.adjustUsed(ptep, 1);
      table = child;
    }
    this.nrTables += n;
    return geoEntryAddr(geo, table, geoIndex(geo, va, leafLevel));
  }

  /** The PFN field of the entry at `ptep`. */
  ptePfn(ptep: number): number {
    return this.geo.pfn(this.u32[ptep >>> 2] as number, entryHi(this.geo, this.u32, ptep >>> 2));
  }

  /** The flags word of the entry at `ptep` (pgtable_types.ts), whatever the geometry's own bits. */
  pteFlags(ptep: number): number {
    const level = this.geo === X86_64 ? 1 : this.paging.tableLevel(ptep >>> 12);
    return this.geo.flags(this.u32[ptep >>> 2] as number, entryHi(this.geo, this.u32, ptep >>> 2), level);
  }

  /** True when the entry at `ptep` is all zero (pte_none). */
  pteNone(ptep: number): boolean {
    return ((this.u32[ptep >>> 2] as number) | entryHi(this.geo, this.u32, ptep >>> 2)) === 0;
  }

  /**
   * set_pte_at: writes the entry at `ptep` (from lookup or ensure for `va`)
   * to map `pfn` with `flags`; flags 0 and pfn 0 clear it. When the old
   * entry was present the range it mapped is recorded for a TLB flush.
   * Panics when a present entry names a frame beyond RAM, or (debugVm >= 1)
   * when `ptep` is not the slot of `va` in this table.
   */
  setPte(va: number, ptep: number, pfn: number, flags: number): void {
    const u32 = this.u32;
    const w = ptep >>> 2;
    const oldLo = u32[w] as number;
    const oldHi = entryHi(this.geo, u32, w);
    if (this.paging.debug !== 0) this.checkSlot(va, ptep);
    if ((flags & PTE_P) !== 0 && !(pfn >= 0 && pfn < this.paging.phys.nrPages)) {
      panic(`set_pte_at: pfn ${pfn} beyond RAM for ${formatVa(va)}`);
    }
    const geo = this.geo;
    // A present entry without PS above level 1 points at a table; only x86-64 writes it as it writes a leaf.
    const link = geo !== X86_64 && (flags & PTE_P) !== 0 && (flags & PTE_PS) === 0 && this.paging.tableLevel(ptep >>> 12) > 1;
    const lo = link ? geo.linkLo(pfn, flags) : geo.lo(pfn, flags);
    const hi = link ? geo.linkHi(pfn, flags) : geo.hi(pfn, flags);
    writeEntry(geo, u32, w, lo, hi);
    const wasNone = (oldLo | oldHi) === 0;
    if (wasNone !== ((lo | hi) === 0)) this.paging.adjustUsed(ptep, wasNone ? 1 : -1);
    if ((oldLo & PTE_P) !== 0) {
      const huge = (oldLo & this.geo.leafBits) !== 0 && (this.geo === X86_64 || this.paging.tableLevel(ptep >>> 12) === 2);
      const size = huge ? (geo.levelSize[2] as number) : 4096;
      const start = va - (va & (size - 1));
      this.recordFlush(start, start + size);
      this.debugShootdown();
    }
  }

  /** Clears the entry at `ptep` (pte_clear); records a flush when it was present. */
  clearPte(va: number, ptep: number): void {
    this.setPte(va, ptep, 0, 0);
  }

  private checkSlot(va: number, ptep: number): void {
    const table = Math.floor(ptep / 4096);
    const mm = this.paging.memmap;
    const level = mm.ownerBits(table);
    const ok =
      mm.testFlag(table, PG_pgtable) &&
      mm.word(table, 3) === this.asid &&
      (level === 1 || level === 2) &&
      (ptep & 4095) / this.geo.entrySize === geoIndex(this.geo, va, level) &&
      va >= this.vaStart &&
      va < this.vaEnd;
    if (!ok) panic(`set_pte_at: entry 0x${ptep.toString(16)} is not the slot of ${formatVa(va)} in this page table`);
  }

  /** Adds [start, end) to the pending flush. */
  recordFlush(start: number, end: number): void {
    if (this.flushEnd <= this.flushStart) {
      this.flushStart = start;
      this.flushEnd = end;
      return;
    }
    if (start < this.flushStart) this.flushStart = start;
    if (end > this.flushEnd) this.flushEnd = end;
  }

  /** debugVm >= 1: drops the pending range from the TLB now, so only a walk can reach it (and see the pending flush). */
  debugShootdown(): void {
    if (this.paging.debug !== 0 && this.flushEnd > this.flushStart) {
      this.paging.tlb.shootdown(this.flushStart, this.flushEnd, this.asid);
    }
  }

  /** True while a recorded flush has not been performed. */
  flushPending(): boolean {
    return this.flushEnd > this.flushStart;
  }

  /** True when `va` lies in the pending flush range. */
  pendingCovers(va: number): boolean {
    return va >= this.flushStart && va < this.flushEnd;
  }

  /** "ffff...-ffff..." of the pending range, for messages. */
  describePending(): string {
    return `${formatVa(this.flushStart)}-${formatVa(this.flushEnd)}`;
  }

  /**
   * Performs the pending TLB flush (flush_tlb_range / flush_tlb_kernel_range):
   * page by page when small, the whole ASID (all entries for the kernel)
   * when large. Does nothing when nothing is pending.
   */
  flushTlb(): void {
    if (this.flushEnd <= this.flushStart) return;
    const tlb = this.paging.tlb;
    const pages = (this.flushEnd - this.flushStart) / 4096;
    if (pages === 1) tlb.invlpg(this.flushStart, this.asid);
    else tlb.flushRange(this.flushStart, this.flushEnd, this.asid);
    this.paging.remote?.flushOthers(this.asid, this.flushStart, this.flushEnd);
    this.flushStart = 0;
    this.flushEnd = 0;
  }

  /**
   * Maps `npages` contiguous frames from `pfn` at `va` (see {@link mapRange}
   * in pgtable_map.ts). Returns "nomem" when a table allocation failed.
   */
  mapRange(va: number, pfn: number, npages: number, flags: number, opts?: { huge?: boolean }): "ok" | "nomem" {
    return mapRange(this, va, pfn, npages, flags, opts);
  }

  /** Maps the frames `pfns[0..count)` at consecutive pages from `va` (see {@link mapPages}). */
  mapPages(va: number, pfns: ArrayLike<number>, count: number, flags: number): "ok" | "nomem" {
    return mapPages(this, va, pfns, count, flags);
  }

  /** Clears `count` 4 KiB entries from `va` (see {@link unmapPages}). */
  unmapPages(va: number, count: number, sink: ZapSink | null): number {
    return unmapPages(this, va, count, sink);
  }

  /** See {@link unmapRange} in pgtable_range.ts. */
  unmapRange(start: number, end: number, sink: ZapSink | null): number {
    return unmapRange(this, start, end, sink);
  }

  /** See {@link changeProtection} in pgtable_range.ts. */
  changeProtection(start: number, end: number, set: number, clear: number, opts?: ChangeProtOptions): number {
    return changeProtection(this, start, end, set, clear, opts);
  }

  /** See {@link freeEmptyTables} in pgtable_range.ts. */
  freeEmptyTables(start: number, end: number): number {
    return freeEmptyTables(this, start, end);
  }

  /** See {@link walkRange} in pgtable_range.ts. */
  walkRange(start: number, end: number, visitor: PteVisitor): void {
    walkRange(this, start, end, visitor);
  }

  /** The tree entry by entry, xv6 vmprint style (dump_pagetables.ts). */
  vmprint(): string {
    return vmprint(this);
  }

  /** The mapped ranges labelled by virtual address, Linux ptdump style (dump_pagetables.ts). */
  ptdump(): string {
    return ptdump(this);
  }

  /** The walk for `va` level by level, down to the frame or the fault (dump_pagetables.ts). */
  explain(va: number): string {
    return explain(this, va);
  }
}
