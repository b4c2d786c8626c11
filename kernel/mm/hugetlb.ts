/**
 * hugetlbfs-style huge pages (Linux mm/hugetlb.c): a pool of 2 MiB pages
 * (order-9 compound pages taken from the buddy allocator and kept) that
 * MAP_HUGETLB mappings draw from. The pool is sized at boot
 * (`hugePages`) and at run time (setNrHugepages, vm.nr_hugepages).
 *
 * Owns: the pool (free list, totals, reservations), the hugetlb fault and
 * COW, fork's copy of a hugetlb leaf, the zap of one. Calls: the page
 * allocator, page tables.
 *
 * A pool page (PG_alloc | PG_head, order 9, never PG_anon):
 *   free in the pool  refcount 1 (the pool's hold), mapcount 0
 *   in use            refcount 1 + the 2 MiB leaves mapping it, and every
 *                     frame's mapcount = those leaves (as a THP page)
 * When its last leaf goes, the page returns to the pool, not to the buddy.
 *
 * Reservations (HugePages_Rsvd): a private mapping reserves one page per
 * 2 MiB at mmap time and owns the reservation (VM_HUGETLB_RESV). The owner's
 * first fault at an address consumes one; munmap of an owner range gives
 * back the reservations of the addresses never faulted. Every other fault
 * (a fork child's, a MAP_NORESERVE mapping's, a COW copy) takes a page only
 * from free-minus-reserved, and gets SIGBUS when there is none.
 *
 * Choices (kernel/LINUX.md): no surplus pages (nr_overcommit_hugepages is
 * 0: HugePages_Surp is always 0); shrinking frees only pages neither in use
 * nor needed by reservations; a MAP_SHARED mapping is populated at mmap (no
 * hugetlbfs file holds its pages) and fork shares its leaves as they are; a
 * COW that finds the pool empty gives the writer SIGBUS, where Linux would
 * let the reservation owner steal the page from its children.
 */
import { PFO_COW_COPY, PFO_COW_REUSE, PFO_DEMAND_ZERO } from "../events_types.ts";
import { invariant, panic } from "../panic.ts";
import { FAULT_ACCERR, FAULT_OK, FAULT_OOM, FAULT_SIGBUS } from "./fault_codes.ts";
import type { PageAllocator } from "./frames.ts";
import { __GFP_COMP, __GFP_NOWARN, GFP_HIGHUSER_MOVABLE } from "./gfp.ts";
import { HPAGE_ORDER, hugeFlags } from "./huge_memory.ts";
import { type MemMap, PG_alloc, PG_anon, PG_head } from "./memmap.ts";
import type { MmStruct } from "./mm.ts";
import { VM_HUGETLB_RESV, VM_SHARED } from "./mm_types.ts";
import type { PageTable } from "./pgtable.ts";
import { HPAGE_PAGES, HPAGE_SIZE, PF_PROT, PF_WRITE, PTE_A, PTE_P, PTE_RW } from "./pgtable_types.ts";
import type { PhysMem } from "./physmem.ts";
import type { VmaOps } from "./vma.ts";

/** Where a 2 MiB block of physical memory stands with the pool (one byte per 512 frames). */
const SLOT_NONE = 0;
const SLOT_FREE = 1;
const SLOT_USED = 2;

/** GFP for a pool page: a movable compound page (htlb_alloc_mask: 2 MiB pages can migrate), whose failure is expected. */
const GFP_HUGETLB = GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOWARN;

/** Counters of the hugetlb side. */
export class HugetlbStats {
  /** Pages handed out by faults (first touch). */
  faults = 0;
  /** 2 MiB COW copies. */
  cowCopies = 0;
  /** Faults that found no page to take (SIGBUS). */
  sigbus = 0;
}

/** What the hugetlb side needs from user memory. */
export interface HugetlbHost {
  readonly phys: PhysMem;
  readonly memmap: MemMap;
  readonly buddy: PageAllocator;
  readonly vmas: VmaOps;
  /** What the last fault did (PFO_*), for page_fault_user. */
  outcome: number;
}

/** The huge page pool and MAP_HUGETLB memory. */
export class Hugetlb {
  /** HugePages_Total. */
  total = 0;
  /** HugePages_Free: pool pages no leaf maps. */
  free = 0;
  /** HugePages_Rsvd: free pages promised to private mappings. */
  rsvd = 0;
  readonly stats = new HugetlbStats();
  private readonly freeList: number[] = [];
  private readonly slot: Uint8Array;

  constructor(private readonly host: HugetlbHost) {
    this.slot = new Uint8Array(Math.ceil(host.memmap.nrPages / HPAGE_PAGES));
  }

  /**
   * vm.nr_hugepages: grows the pool with order-9 blocks from the buddy
   * while it has them, or shrinks it by freeing pages that are neither in
   * use nor reserved. Returns the pool size reached (the sysctl reads back
   * what it got, as Linux's does).
   */
  setNrHugepages(n: number): number {
    if (!Number.isSafeInteger(n) || n < 0) return this.total;
    while (this.total < n) {
      const head = this.host.buddy.allocPages(HPAGE_ORDER, GFP_HUGETLB);
      if (head < 0) break;
      this.slot[head / HPAGE_PAGES] = SLOT_FREE;
      this.freeList.push(head);
      this.total++;
      this.free++;
    }
    while (this.total > n && this.free > this.rsvd) {
      const head = this.freeList.pop() as number;
      this.slot[head / HPAGE_PAGES] = SLOT_NONE;
      this.total--;
      this.free--;
      this.host.buddy.freePages(head, HPAGE_ORDER);
    }
    return this.total;
  }

  /** True when `pfn` is a frame of a pool page. */
  isHugetlbPage(pfn: number): boolean {
    return this.slot[Math.floor(pfn / HPAGE_PAGES)] !== SLOT_NONE;
  }

  /** Whether `pfn` heads a pool page no leaf maps (on the free list). */
  isFreePoolPage(pfn: number): boolean {
    return pfn % HPAGE_PAGES === 0 && this.slot[pfn / HPAGE_PAGES] === SLOT_FREE;
  }

  /**
   * Migration's half of the pool (move_hugetlb_state, and the free-page
   * case of alloc_and_dissolve_hugetlb_folio): order-9 block `to`, fresh
   * from the buddy, takes pool page `head`'s place (free or in use, on the
   * free list when it was), and `head` leaves the pool; the caller moved the
   * data and the mappings and frees `head`. The pool's size does not
   * change. Panics when `head` is not a pool page or `to` already is one.
   */
  replacePage(head: number, to: number): void {
    const was = this.slot[head / HPAGE_PAGES] as number;
    if (head % HPAGE_PAGES !== 0 || was === SLOT_NONE || this.slot[to / HPAGE_PAGES] !== SLOT_NONE)
      panic(`hugetlb replacePage: 0x${head.toString(16)} -> 0x${to.toString(16)} is not a pool page moving to a fresh block`);
    this.slot[to / HPAGE_PAGES] = was;
    this.slot[head / HPAGE_PAGES] = SLOT_NONE;
    if (was === SLOT_FREE) this.freeList[this.freeList.indexOf(head)] = to;
  }

  /** hugetlb_reserve_pages: promises `n` free pages. Returns false when free minus reserved cannot cover them. */
  reserve(n: number): boolean {
    if (this.free - this.rsvd < n) return false;
    this.rsvd += n;
    return true;
  }

  /** Gives back `n` reservations. Panics when more are given back than were made. */
  unreserve(n: number): void {
    if (n > this.rsvd) panic(`hugetlb: ${n} reservations given back, ${this.rsvd} held`);
    this.rsvd -= n;
  }

  /**
   * A pool page for a fault, zeroed: a reserved one when `reserved` (the
   * reservation is consumed), else one beyond the reservations. Returns -1
   * when none is left.
   */
  private take(reserved: boolean): number {
    if (reserved) {
      if (this.rsvd === 0) panic("hugetlb: a reserved page taken with no reservation");
      this.rsvd--;
    } else if (this.free - this.rsvd <= 0) return -1;
    const head = this.freeList.pop() as number;
    this.free--;
    this.slot[head / HPAGE_PAGES] = SLOT_USED;
    this.host.phys.fillPages(head, HPAGE_PAGES, 0);
    return head;
  }

  /** Adds `d` to the mapcount of every frame of `head`. */
  private addMapcount(head: number, d: number): void {
    const memmap = this.host.memmap;
    for (let p = head; p < head + HPAGE_PAGES; p++) memmap.setMapcount(p, memmap.mapcount(p) + d);
  }

  /** Maps pool page `head` at `haddr` of `mm` with one more leaf. */
  private mapLeaf(mm: MmStruct, vma: number, haddr: number, pmdp: number, head: number): void {
    this.host.buddy.getPage(head);
    this.addMapcount(head, 1);
    mm.pt.setPte(haddr, pmdp, head, hugeFlags(this.host.vmas.f.flags(vma), { write: true }));
  }

  /**
   * hugetlb_fault for a fault at `va` in the hugetlb VMA `vma`: a missing
   * leaf gets a pool page (reserved for the owner of the mapping), a write
   * to a read-only leaf reuses or copies the page. Returns FAULT_OK,
   * FAULT_SIGBUS when the pool has no page to give, FAULT_OOM when a page
   * table could not be had.
   */
  fault(mm: MmStruct, vma: number, va: number, ec: number): number {
    const haddr = va - (va % HPAGE_SIZE);
    const pt = mm.pt;
    const pmdp = pt.ensure(haddr, 2);
    if (pmdp < 0) return FAULT_OOM;
    if (!pt.pteNone(pmdp)) return this.wpFault(mm, vma, haddr, pmdp, ec);
    const f = this.host.vmas.f;
    const owner = (f.flags(vma) & VM_HUGETLB_RESV) !== 0;
    const head = this.take(owner);
    if (head < 0) {
      this.stats.sigbus++;
      return FAULT_SIGBUS;
    }
    // An anon group, so that fork copies the VMA's leaves (copy_page_range skips VMAs without one).
    if (f.anon(vma) === 0) f.setAnon(vma, this.host.vmas.newAnonId());
    this.mapLeaf(mm, vma, haddr, pmdp, head);
    this.stats.faults++;
    this.host.outcome = PFO_DEMAND_ZERO;
    return FAULT_OK;
  }

  /** hugetlb_wp: a write to a read-only leaf reuses the page when this leaf alone maps it, else copies it from the pool. */
  private wpFault(mm: MmStruct, vma: number, haddr: number, pmdp: number, ec: number): number {
    const pt = mm.pt;
    const flags = pt.pteFlags(pmdp);
    if (!(flags & PTE_P)) panic(`hugetlb_fault: non-present 2 MiB leaf at 0x${haddr.toString(16)}`);
    if (!(ec & PF_WRITE) || flags & PTE_RW) return ec & PF_PROT && !(ec & PF_WRITE) ? FAULT_ACCERR : FAULT_OK;
    const old = pt.ptePfn(pmdp);
    if (this.host.memmap.refcount(old) === 2 || this.host.vmas.f.flags(vma) & VM_SHARED) {
      pt.setPte(haddr, pmdp, old, hugeFlags(this.host.vmas.f.flags(vma), { write: true }));
      pt.flushTlb();
      this.host.outcome = PFO_COW_REUSE;
      return FAULT_OK;
    }
    const head = this.take(false);
    if (head < 0) {
      this.stats.sigbus++;
      return FAULT_SIGBUS;
    }
    for (let i = 0; i < HPAGE_PAGES; i++) this.host.phys.copyPage(head + i, old + i);
    this.release(old);
    this.mapLeaf(mm, vma, haddr, pmdp, head);
    pt.flushTlb();
    this.stats.cowCopies++;
    this.host.outcome = PFO_COW_COPY;
    return FAULT_OK;
  }

  /** One leaf mapping `head` went: the page returns to the pool with its last leaf. */
  private release(head: number): void {
    this.addMapcount(head, -1);
    this.host.buddy.freePages(head, HPAGE_ORDER);
    if (this.host.memmap.refcount(head) !== 1) return;
    this.slot[head / HPAGE_PAGES] = SLOT_FREE;
    this.freeList.push(head);
    this.free++;
  }

  /** zap for a hugetlb leaf of `head`. */
  zap(head: number): void {
    this.release(head);
  }

  /**
   * copy_hugetlb_page_range for one leaf at fork: the child maps the same
   * page; a private writable one loses write in both (COW). Returns false
   * when a child table could not be had.
   */
  copyLeaf(src: PageTable, dst: MmStruct, va: number, ptep: number, cow: boolean): boolean {
    const to = dst.pt.ensure(va, 2);
    if (to < 0) return false;
    const head = src.ptePfn(ptep);
    let flags = src.pteFlags(ptep);
    this.host.buddy.getPage(head);
    this.addMapcount(head, 1);
    if (cow && flags & PTE_RW) {
      flags = (flags & ~PTE_RW) >>> 0;
      src.setPte(va, ptep, head, flags);
    }
    dst.pt.setPte(va, to, head, (flags & ~PTE_A) >>> 0);
    return true;
  }

  /**
   * hugetlb_vm_op_close for [start, end) of an owner VMA about to be
   * unmapped: the reservations of the 2 MiB pages never faulted go back.
   */
  closeRange(mm: MmStruct, start: number, end: number): void {
    let unused = 0;
    for (let va = start; va < end; va += HPAGE_SIZE) {
      const pmdp = mm.pt.lookup(va);
      if (pmdp < 0 || mm.pt.pteNone(pmdp)) unused++;
    }
    this.unreserve(unused);
  }

  /**
   * The `hugetlb` checker.
   *   HUGETLB-1 free + in use differs from HugePages_Total, or the free list from HugePages_Free
   *   HUGETLB-2 reservations exceed the free pages
   *   HUGETLB-3 a pool page is not an allocated order-9 head, or is anonymous
   *   HUGETLB-4 a free pool page is held or mapped
   */
  check(): void {
    const memmap = this.host.memmap;
    let free = 0;
    let used = 0;
    for (let i = 0; i < this.slot.length; i++) {
      const s = this.slot[i] as number;
      if (s === SLOT_NONE) continue;
      const head = i * HPAGE_PAGES;
      const f = memmap.flags(head);
      invariant(
        (f & (PG_alloc | PG_head | PG_anon)) === (PG_alloc | PG_head) && memmap.order(head) === HPAGE_ORDER,
        "HUGETLB-3",
        `pool page 0x${head.toString(16)} is ${memmap.describeFlags(head)}, order ${memmap.order(head)}`,
      );
      if (s === SLOT_FREE) {
        free++;
        invariant(
          memmap.refcount(head) === 1 && memmap.mapcount(head) === 0,
          "HUGETLB-4",
          `free pool page 0x${head.toString(16)} has refcount ${memmap.refcount(head)}, mapcount ${memmap.mapcount(head)}`,
        );
      } else used++;
    }
    invariant(
      free === this.free && free === this.freeList.length && free + used === this.total,
      "HUGETLB-1",
      `pool: total ${this.total}, free ${this.free} (list ${this.freeList.length}), counted free ${free} + in use ${used}`,
    );
    invariant(this.rsvd >= 0 && this.rsvd <= this.free, "HUGETLB-2", `pool: ${this.rsvd} reserved, ${this.free} free`);
  }
}
