/**
 * The page-table half of `k`, the kernel API a lab's layer is handed
 * (kernel/LAYERS.md, "The kernel API"): the entry bits, xv6's walk() and
 * mappages for one page, a table's entries read as the hardware sees them,
 * an entry written, one TLB entry flushed (invlpg), accessed bits read and
 * cleared. KernelApi (lab_api.ts) adds the VMAs, page references, user
 * frames and file pages on top of it; a lab sees one object.
 *
 * Numbers only: an address space is its MmStruct, an entry its address in
 * RAM (ptep), a frame its pfn. No call makes an object.
 */

import type { MemMap } from "./memmap.ts";
import { PG_pgtable } from "./memmap.ts";
import type { Memory } from "./memory.ts";
import type { MmStruct } from "./mm.ts";
import { PAGE } from "./mm.ts";
import { PTE_A, PTE_D, PTE_NX, PTE_P, PTE_PS, PTE_RW, PTE_SOFT_COW, PTE_SPECIAL, PTE_US } from "./pgtable_types.ts";
import type { PhysMem } from "./physmem.ts";

/** How k.walk treats missing tables: "lookup" stops at them (-1), "alloc" allocates them. */
export type WalkMode = "lookup" | "alloc";

/** The page-table functions and entry bits of the kernel API `k` (KernelApi extends it). */
export class KernelApiPgtable {
  /** Entry bits (x86-64, pgtable_types.ts). */
  readonly PTE_P = PTE_P;
  readonly PTE_RW = PTE_RW;
  readonly PTE_US = PTE_US;
  readonly PTE_A = PTE_A;
  readonly PTE_D = PTE_D;
  readonly PTE_NX = PTE_NX;
  /** An upper-level entry that is itself a leaf (a 2 MiB page at level 2), not a table. */
  readonly PTE_PS = PTE_PS;
  /** Entries in one table on x86-64 and Sv39 (one 4 KiB frame of 8-byte entries); ptrsPerTable(mm) gives any geometry's. */
  readonly PTRS_PER_TABLE = 512;
  /** Software bit: the entry maps the shared zero page (never counted, never freed). */
  readonly PTE_SPECIAL = PTE_SPECIAL;
  /** Software bit: the entry was write-protected for copy-on-write (xv6's PTE_COW). */
  readonly PTE_COW = PTE_SOFT_COW;
  readonly PAGE_SIZE = PAGE;
  protected readonly memmap: MemMap;
  protected readonly phys: PhysMem;

  constructor(memory: Memory) {
    this.memmap = memory.memmap;
    this.phys = memory.phys;
  }

  /**
   * xv6's walk(): the level-1 entry for `va` in `mm`'s page table. With
   * "alloc" the missing tables are allocated. Returns the entry's address
   * (ptep; the entry may be zero), or -1 when a table is missing ("lookup")
   * or could not be allocated ("alloc").
   */
  walk(mm: MmStruct, va: number, mode: WalkMode): number {
    return mode === "alloc" ? mm.pt.ensure(va) : mm.pt.lookup(va);
  }

  /** The frame of `mm`'s root table (CR3, satp; xv6's p->pagetable): where a walk of any level starts. */
  pgd(mm: MmStruct): number {
    return mm.pt.root;
  }

  /** The level of `mm`'s root table: 4 on x86-64, 3 on Sv39 (Machine.boot's `mmu`); level 1 holds 4 KiB leaves. */
  levels(mm: MmStruct): number {
    return mm.pt.top;
  }

  /** Entries in one table of `mm`'s page table: 512 of 8 bytes on x86-64 and Sv39, 1024 of 4 bytes on x86-32. */
  ptrsPerTable(mm: MmStruct): number {
    return mm.pt.geo.entriesPerTable;
  }

  /** Bytes in one entry of `mm`'s page table: 8 on x86-64 and Sv39, 4 on x86-32 (pteHi is then always 0). */
  pteSize(mm: MmStruct): number {
    return mm.pt.geo.entrySize;
  }

  /**
   * The address of entry `index` (0..ptrsPerTable-1) of table frame `table`, a table of
   * `mm`'s page table at any level (the root from pgd, a lower one from the
   * ptePfn of a present entry without PTE_PS above level 1). Read it with
   * pteFlags, ptePfn, pteLo and pteHi.
   * Throws RangeError when `table` is not one of `mm`'s table frames or
   * `index` is not 0..ptrsPerTable-1.
   */
  tableEntry(mm: MmStruct, table: number, index: number): number {
    this.checkTable(mm, table, "k.tableEntry");
    const geo = mm.pt.geo;
    if (!(Number.isInteger(index) && index >= 0 && index < geo.entriesPerTable)) {
      throw new RangeError(`k.tableEntry: index ${index} is not 0..${geo.entriesPerTable - 1}`);
    }
    return table * PAGE + index * geo.entrySize;
  }

  /**
   * Bits 0..31 of the entry at `ptep` as the hardware sees them (low pfn
   * bits and the low flags); with pteHi, the 64-bit entry xv6 prints with %p.
   * Throws RangeError when `ptep` is not an entry of `mm`'s page table.
   */
  pteLo(mm: MmStruct, ptep: number): number {
    this.checkTable(mm, Math.floor(ptep / PAGE), "k.pteLo");
    const size = mm.pt.geo.entrySize;
    return this.phys.read32(ptep - (ptep % size));
  }

  /** Bits 32..63 of the entry at `ptep` (high pfn bits, NX at bit 31 of this word); 0 for a 4-byte entry (x86-32). Throws as pteLo. */
  pteHi(mm: MmStruct, ptep: number): number {
    this.checkTable(mm, Math.floor(ptep / PAGE), "k.pteHi");
    if (mm.pt.geo.entrySize === 4) return 0;
    return this.phys.read32(ptep - (ptep % 8) + 4);
  }

  /** Throws RangeError unless frame `table` is a page-table frame of `mm` (PG_pgtable, tagged with its ASID). */
  private checkTable(mm: MmStruct, table: number, who: string): void {
    const ok =
      Number.isInteger(table) &&
      table >= 0 &&
      table < this.phys.nrPages &&
      this.memmap.testFlag(table, PG_pgtable) &&
      this.memmap.word(table, 3) === mm.pt.asid;
    if (!ok) throw new RangeError(`${who}: frame ${table} is not a page-table frame of this address space`);
  }

  /** The flags of the entry at `ptep` (PTE_* bits; 0 for an empty entry). */
  pteFlags(mm: MmStruct, ptep: number): number {
    return mm.pt.pteFlags(ptep);
  }

  /** The frame the entry at `ptep` names. */
  ptePfn(mm: MmStruct, ptep: number): number {
    return mm.pt.ptePfn(ptep);
  }

  /**
   * Writes the entry at `ptep` (the slot of `va`): `pfn` with `flags`; pfn 0
   * and flags 0 clear it. A present entry overwritten is flushed from the TLB.
   * Counts nothing: pair it with allocUserPage / getPage.
   * Panics when `ptep` is not the slot of `va`, or `pfn` is beyond RAM.
   */
  setPte(mm: MmStruct, va: number, ptep: number, pfn: number, flags: number): void {
    mm.pt.setPte(va, ptep, pfn, flags >>> 0);
    mm.pt.flushTlb();
  }

  /**
   * xv6's mappages for one page: maps `pfn` at page `va` with `flags`
   * (PTE_P added). Returns 0, or -1 when a table could not be allocated.
   */
  mapPage(mm: MmStruct, va: number, pfn: number, flags: number): number {
    const page = va - (va % PAGE);
    const ptep = mm.pt.ensure(page);
    if (ptep < 0) return -1;
    this.setPte(mm, page, ptep, pfn, (flags | PTE_P) >>> 0);
    return 0;
  }

  /**
   * Clears the entry of page `va` and flushes it. Returns the frame it
   * mapped (still allocated: free it with freeUserPage or putPage), or -1
   * when nothing was mapped there.
   */
  unmapPage(mm: MmStruct, va: number): number {
    const page = va - (va % PAGE);
    const ptep = mm.pt.lookup(page);
    if (ptep < 0 || !(mm.pt.pteFlags(ptep) & PTE_P)) return -1;
    const pfn = mm.pt.ptePfn(ptep);
    this.setPte(mm, page, ptep, 0, 0);
    return pfn;
  }

  /** invlpg: drops `mm`'s TLB entry for page `va`. */
  flushTlbPage(mm: MmStruct, va: number): void {
    const page = va - (va % PAGE);
    mm.pt.recordFlush(page, page + PAGE);
    mm.pt.flushTlb();
  }

  /**
   * xv6's pgaccess for one page: 1 when page `va` was accessed since the
   * last call (its PTE_A is set), then clears the bit and flushes the TLB
   * entry so the next access sets it again; 0 when not accessed or not mapped.
   */
  testAndClearAccessed(mm: MmStruct, va: number): number {
    const page = va - (va % PAGE);
    const ptep = mm.pt.lookup(page);
    if (ptep < 0) return 0;
    const flags = mm.pt.pteFlags(ptep);
    if (!(flags & PTE_P) || !(flags & PTE_A)) return 0;
    this.setPte(mm, page, ptep, mm.pt.ptePfn(ptep), (flags & ~PTE_A) >>> 0);
    return 1;
  }
}
