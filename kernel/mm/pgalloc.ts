/**
 * Page-table frames and address spaces (Linux pgalloc.h, arch/x86/mm/pgtable.c
 * pgd_alloc/pgd_free): allocates zeroed table frames from the buddy
 * allocator, marks them PG_pgtable in struct page, hands out page tables with
 * their ASIDs, and keeps the set of live page tables for the checkers.
 *
 * Table frames overlay struct page words (memmap.ts) like this:
 *   word 0 owner bits [31:20]  level of the table (1 = PT .. 4 = PML4)
 *   word 2                     entries in use (non-zero), for O(1) "is empty"
 *   word 3                     ASID of the page table owning it
 * Boot tables come from reserved kernel-image frames (init.ts) and are never
 * freed; they count in neither MemTotal nor PageTables.
 */
import { panic } from "../panic.ts";
import type { PageAllocator } from "./frames.ts";
import { __GFP_ACCOUNT, __GFP_ZERO, GFP_KERNEL } from "./gfp.ts";
import { type MemMap, PG_pgtable, PG_reserved } from "./memmap.ts";
import { PageTable } from "./pgtable.ts";
import { entryHi, geoEntryAddr, type MmuGeometry, writeEntry, X86_64 } from "./pgtable_geometry.ts";
import type { PhysMem } from "./physmem.ts";
import { KERNEL_ASID, type Tlb } from "./tlb.ts";
import { formatVa } from "./types.ts";

/** What a page table asks of the other CPUs after a change (mm/tlbflush.ts implements it). */
export interface RemoteFlush {
  /** The range [start, end) of `asid` was flushed here: flush it on every other CPU that may cache it. */
  flushOthers(asid: number, start: number, end: number): void;
  /** `asid` is going back to the pool: every other CPU drops its entries. */
  asidFreed(asid: number): void;
}

const GFP_PGTABLE_KERNEL = GFP_KERNEL | __GFP_ZERO;
const GFP_PGTABLE_USER = GFP_PGTABLE_KERNEL | __GFP_ACCOUNT;

/** Table-frame allocation and the set of live page tables, shared by all address spaces. */
export class Paging {
  readonly u32: Uint32Array;
  /** Table frames taken from the buddy allocator (meminfo PageTables). */
  nrTablePages = 0;
  /** Every page table alive, in creation order. */
  readonly live = new Set<PageTable>();
  /**
   * Reserved frames (in the kernel image) that table allocations use before
   * the buddy allocator: the boot page tables, like Linux's init_top_pgt.
   */
  bootPool: number[] = [];
  private readonly scratch = new Int32Array(4);
  /** The layout of user page tables (Machine.boot's `mmu`); the kernel's table is always x86-64. */
  geometry: MmuGeometry = X86_64;

  constructor(
    readonly phys: PhysMem,
    readonly memmap: MemMap,
    readonly buddy: PageAllocator,
    /** The running CPU's TLB (kernel/smp.ts swaps it); flushes go here. */
    public tlb: Tlb,
    /** debugVm: 0 none, 1+ shoot down recorded ranges at once and catch forgotten flushes. */
    readonly debug: number,
  ) {
    this.u32 = phys.u32;
    this.asids = tlb;
  }

  /** The boot CPU's TLB, which owns the ASID pool whatever CPU runs. */
  readonly asids: Tlb;
  /** Flushes on the other CPUs (mm/tlbflush.ts); null on a machine with one CPU. */
  remote: RemoteFlush | null = null;

  /** A zeroed table frame for `level` owned by `asid`, or -1 when out of memory. */
  allocTable(level: number, asid: number): number {
    let pfn = this.bootPool.pop() ?? -1;
    const mm = this.memmap;
    if (pfn >= 0) {
      this.phys.fillPages(pfn, 1, 0);
      mm.setHead(pfn, PG_reserved | PG_pgtable, 0);
    } else {
      pfn = this.buddy.allocPages(0, asid === KERNEL_ASID ? GFP_PGTABLE_KERNEL : GFP_PGTABLE_USER);
      if (pfn < 0) return -1;
      mm.setFlag(pfn, PG_pgtable);
      this.nrTablePages++;
    }
    mm.setOwnerBits(pfn, level);
    mm.setWord(pfn, 2, 0);
    mm.setWord(pfn, 3, asid);
    return pfn;
  }

  /** `n` tables for levels top, top-1, ... into `scratch`; all or none. Returns false when out of memory. */
  allocTables(n: number, top: number, asid: number): Int32Array | null {
    const s = this.scratch;
    for (let i = 0; i < n; i++) {
      const pfn = this.allocTable(top - i, asid);
      if (pfn < 0) {
        for (let j = 0; j < i; j++) this.freeTable(s[j] as number);
        return null;
      }
      s[i] = pfn;
    }
    return s;
  }

  /** Gives a table frame back to the buddy allocator. Panics on a boot table or a table still in use. */
  freeTable(pfn: number): void {
    const mm = this.memmap;
    if (!mm.testFlag(pfn, PG_pgtable)) panic(`pagetable_free: pfn 0x${pfn.toString(16)} is not a page table`);
    if (mm.testFlag(pfn, PG_reserved)) panic(`pagetable_free: pfn 0x${pfn.toString(16)} is a boot page table`);
    if (mm.word(pfn, 2) !== 0) panic(`pagetable_free: pfn 0x${pfn.toString(16)} still has ${mm.word(pfn, 2)} entries`);
    mm.resetForFree(pfn);
    this.buddy.freePages(pfn, 0);
    this.nrTablePages--;
  }

  /** The level of table frame `pfn` (1..4). */
  tableLevel(pfn: number): number {
    return this.memmap.ownerBits(pfn);
  }

  /** Entries in use in table frame `pfn`. */
  tableUsed(pfn: number): number {
    return this.memmap.word(pfn, 2);
  }

  /** Adds `delta` to the in-use count of the table holding `ptep`. */
  adjustUsed(ptep: number, delta: number): void {
    const pfn = ptep >>> 12;
    this.memmap.setWord(pfn, 2, this.memmap.word(pfn, 2) + delta);
  }

  /**
   * pgd_alloc: an empty user page table with a fresh ASID.
   * Returns null when out of memory or when all 4095 user ASIDs are in use.
   */
  pgdAlloc(): PageTable | null {
    const asid = this.asids.allocAsid();
    if (asid < 0) return null;
    const root = this.allocTable(this.geometry.topLevel, asid);
    if (root < 0) {
      this.asids.freeAsid(asid);
      return null;
    }
    const pt = new PageTable(this, root, asid, "user");
    this.live.add(pt);
    return pt;
  }

  /** The kernel's page table (init_mm), ASID 0. Returns null when out of memory. */
  pgdAllocKernel(): PageTable | null {
    const root = this.allocTable(4, KERNEL_ASID);
    if (root < 0) return null;
    const pt = new PageTable(this, root, KERNEL_ASID, "kernel");
    this.live.add(pt);
    return pt;
  }

  /**
   * pgd_free: frees every table of a user page table and its ASID.
   * Panics when a leaf entry is still set (unmap first: xv6 "freewalk: leaf"),
   * when a flush is still pending, or on the kernel's page table.
   */
  pgdFree(pt: PageTable): void {
    if (pt.kind !== "user" || !this.live.has(pt)) panic("pgd_free: not a live user page table");
    if (pt.flushPending()) panic(`pgd_free: TLB flush pending for ${pt.describePending()}`);
    this.freeTree(pt, pt.root, pt.top, 0);
    this.live.delete(pt);
    this.remote?.asidFreed(pt.asid);
    this.asids.freeAsid(pt.asid);
  }

  private freeTree(pt: PageTable, table: number, level: number, base: number): void {
    const u32 = this.u32;
    const geo = pt.geo;
    const n = geo.entriesPerTable;
    for (let i = 0; i < n; i++) {
      const ptep = geoEntryAddr(geo, table, i);
      const w = ptep >>> 2;
      const lo = u32[w] as number;
      const hi = entryHi(geo, u32, w);
      if ((lo | hi) === 0) continue;
      const va = base + i * (geo.levelSize[level] as number);
      if (level === 1 || (lo & geo.leafBits) !== 0) panic(`pgd_free: leaf still mapped at ${formatVa(va)}`);
      this.freeTree(pt, geo.pfn(lo, hi), level - 1, va);
      writeEntry(geo, u32, w, 0, 0);
      this.adjustUsed(ptep, -1);
    }
    this.freeTable(table);
  }
}
