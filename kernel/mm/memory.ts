/**
 * User memory behind the page tables (Linux mm/memory.c): the page-fault
 * handler (demand-zero pages, the shared zero page, copy-on-write, shared
 * anonymous pages, swap-in), and the page-table work the mmap family asks
 * for (zap a range, free empty tables, change protection, drop swap
 * entries, lazily freed pages). Population (MAP_POPULATE, MADV_POPULATE_*) and stack growth
 * are in gup.ts; the methods here hand them on.
 *
 * Owns: the frames of user memory (PG_anon, refcount = mappings + other
 * holders, mapcount = page-table entries naming it). Calls: the buddy
 * allocator, page tables and their range walks, shmem.ts, vma.ts, the swap
 * cache (swap_state.ts) for swap entries.
 *
 * Words: anon page = a private page of one or more (after fork, COW)
 * address spaces; zero page = the one shared all-zero frame mapped
 * read-only for reads of untouched memory.
 */

import {
  PFO_COW_COPY,
  PFO_COW_REUSE,
  PFO_DEMAND_ZERO,
  PFO_NONE,
  PFO_SHARED,
  PFO_SWAP_CACHE,
  PFO_SWAP_IN,
  PFO_WP_SHARED,
  PFO_ZERO_PAGE,
  PFO_ZERO_PAGE_COPY,
} from "../events_types.ts";
import { panic } from "../panic.ts";
import type { CommitAccounting } from "./commit.ts";
import { FAULT_ACCERR, FAULT_MAPERR, FAULT_OK, FAULT_OOM, FAULT_SIGBUS, vmaPteFlags } from "./fault_codes.ts";
import { FileFault, isFileObject } from "./filemap_fault.ts";
import type { PageAllocator } from "./frames.ts";
import { __GFP_ZERO, GFP_HIGHUSER_MOVABLE } from "./gfp.ts";
import { expandStack, populate, populateChecked } from "./gup.ts";
import { HugeMemory } from "./huge_memory.ts";
import { Hugetlb } from "./hugetlb.ts";
import { MemcgController } from "./memcontrol.ts";
import { type MemMap, PG_anon, PG_anon_exclusive, PG_dirty, PG_swapcache } from "./memmap.ts";
import type { MemPolicy } from "./mempolicy_alloc.ts";
import type { MmStruct } from "./mm.ts";
import { PAGE } from "./mm.ts";
import { VM_EXEC, VM_HUGETLB, VM_LOCKED, VM_READ, VM_SHARED, VM_WRITE } from "./mm_types.ts";
import { ChangeProt } from "./mprotect.ts";
import type { NumaBalancing } from "./numa_balancing.ts";
import { freeEmptyTables, unmapRange, type ZapSink } from "./pgtable_range.ts";
import { PF_INSTR, PF_PROT, PF_WRITE, PTE_D, PTE_P, PTE_RW, PTE_SPECIAL, PTE_US, swpOffset, swpType } from "./pgtable_types.ts";
import type { PhysMem } from "./physmem.ts";
import type { Shmem } from "./shmem.ts";
import { SWAPIN_EIO, SWAPIN_NOMEM, type SwapCache } from "./swap_state.ts";
import type { VmaOps } from "./vma.ts";
import type { Reclaim } from "./vmscan_shrink.ts";

export { FAULT_ACCERR, FAULT_MAPERR, FAULT_OK, FAULT_OOM, FAULT_SIGBUS, vmaPteFlags } from "./fault_codes.ts";

/** Counters shown in vmstat. */
export class FaultStats {
  pgfault = 0;
  pgmajfault = 0;
  cowCopies = 0;
  cowReuses = 0;
  zeroPageMaps = 0;
  lazyFreed = 0;
}

/**
 * access_error, inverted: whether a VMA with `vmFlags` permits the access
 * described by #PF error-code bits `ec` (x86: any access right allows reads).
 */
export function vmaAllows(vmFlags: number, ec: number): boolean {
  if (ec & PF_WRITE) return (vmFlags & VM_WRITE) !== 0;
  if (ec & PF_INSTR) return (vmFlags & VM_EXEC) !== 0;
  return (vmFlags & (VM_READ | VM_WRITE | VM_EXEC)) !== 0;
}

/** The user-memory side of the kernel. */
export class Memory implements ZapSink {
  readonly stats = new FaultStats();
  /** What the last fault did (PFO_*) and whether it grew a stack, for page_fault_user. */
  outcome = PFO_NONE;
  stackGrew = false;
  /** The mm a zap is running for (ZapSink has no room for it). */
  private zapMm: MmStruct | null = null;
  /** The swap cache over the swap device; null when the machine has no swap. */
  swap: SwapCache | null = null;
  /** LRU lists, reverse map and reclaim (vmscan_shrink.ts); set once at boot by tasks_init. */
  reclaim: Reclaim | null = null;
  /** munlock_vma_folio (mlock_folio.ts): a COW copy in a locked VMA unmapped the old page there. Set at boot. */
  munlockFolio: ((pfn: number) => void) | null = null;
  /** Memory policies (mempolicy.ts): where a VMA or task with a policy gets its anonymous pages. Set at boot. */
  policy: MemPolicy | null = null;
  /** NUMA balancing's hinting faults (numa_balancing.ts), set at boot when memory tiering is on. */
  numaHint: NumaBalancing | null = null;
  private readonly prot: ChangeProt;
  private readonly w: Uint32Array;
  /** Transparent huge pages (huge_memory.ts): the 2 MiB side of faults, fork, zap and splits. */
  readonly huge: HugeMemory;
  /** The hugetlb pool and MAP_HUGETLB faults (hugetlb.ts). */
  readonly hugetlb: Hugetlb;
  /** Faults and unmaps of file pages (filemap_fault.ts). */
  readonly file: FileFault;
  /** The memory cgroups new anonymous pages are charged to (memcontrol.ts). */
  readonly memcg: MemcgController;

  constructor(
    readonly phys: PhysMem,
    readonly memmap: MemMap,
    readonly buddy: PageAllocator,
    readonly vmas: VmaOps,
    readonly shmem: Shmem,
    readonly commit: CommitAccounting,
    /** The shared zero page. */
    readonly zeroPfn: number,
  ) {
    this.w = memmap.w;
    this.memcg = new MemcgController(memmap);
    this.prot = new ChangeProt(memmap, vmas);
    this.huge = new HugeMemory(this);
    this.hugetlb = new Hugetlb(this);
    this.file = new FileFault(this, memmap);
  }

  /**
   * handle_mm_fault for a user access at `va` with x86 error code `ec`.
   * Returns FAULT_OK when the access can be retried, FAULT_MAPERR /
   * FAULT_ACCERR for SIGSEGV, FAULT_SIGBUS for a shared page past its
   * object's end, FAULT_OOM when a frame could not be had.
   */
  handleMmFault(mm: MmStruct, va: number, ec: number): number {
    this.stats.pgfault++;
    const reclaim = this.reclaim;
    if (reclaim === null) return this.handleFault(mm, va, ec);
    reclaim.safe++;
    let r: number;
    try {
      r = this.handleFault(mm, va, ec);
    } finally {
      reclaim.safe--;
    }
    // kswapd's safe point: the fault is done and holds no page.
    if (this.outcome !== PFO_NONE) reclaim.afterFault();
    return r;
  }

  /** handleMmFault without the pgfault count: the default a lab's pageFault layer reaches with next(). */
  handleFault(mm: MmStruct, va: number, ec: number): number {
    this.outcome = PFO_NONE;
    this.stackGrew = false;
    let vma = this.vmas.lookup(mm, va);
    if (vma === 0) {
      vma = this.expandStack(mm, va);
      if (vma === 0) return FAULT_MAPERR;
    }
    const flags = this.vmas.f.flags(vma);
    if (!vmaAllows(flags, ec)) return FAULT_ACCERR;
    if (flags & VM_HUGETLB) return this.hugetlb.fault(mm, vma, va, ec);
    if (!(flags & VM_SHARED)) {
      const r = this.huge.fault(mm, vma, va, ec);
      if (r >= 0) return r;
    }
    // va is a non-negative integer inside a VMA: its low bits under & are exact, and & is no call
    // into C as V8's optimised % of a double past 2^31 is.
    const page = va - (va & (PAGE - 1));
    const pt = mm.pt;
    const ptep = pt.ensure(page);
    if (ptep < 0) return FAULT_OOM;
    if (pt.pteNone(ptep)) {
      if (isFileObject(this.vmas.f.shmem(vma))) return this.file.fault(mm, vma, page, ptep, ec);
      return flags & VM_SHARED ? this.doSharedFault(mm, vma, page, ptep, ec) : this.doAnonymousPage(mm, vma, page, ptep, ec);
    }
    if (!(pt.pteFlags(ptep) & PTE_P)) return this.doSwapPage(mm, vma, page, ptep, ec);
    // A present entry without PTE_US in a VMA that allows the access: a NUMA hinting entry (numa_balancing.ts).
    if (!(pt.pteFlags(ptep) & PTE_US) && this.numaHint !== null) {
      this.numaHint.fault(mm, page, ptep);
      return FAULT_OK;
    }
    if (ec & PF_WRITE) return this.doWpPage(mm, vma, page, ptep);
    // A present entry the MMU refused for a read: permissions changed under it; let the walk retry.
    return ec & PF_PROT ? FAULT_ACCERR : FAULT_OK;
  }

  /** do_anonymous_page: the zero page for a read, a fresh zeroed frame for a write. */
  private doAnonymousPage(mm: MmStruct, vma: number, page: number, ptep: number, ec: number): number {
    const pt = mm.pt;
    const flags = this.vmas.f.flags(vma);
    if (!(ec & PF_WRITE)) {
      pt.setPte(page, ptep, this.zeroPfn, (vmaPteFlags(flags, false) | PTE_SPECIAL) >>> 0);
      this.stats.zeroPageMaps++;
      this.outcome = PFO_ZERO_PAGE;
      return FAULT_OK;
    }
    this.reclaim?.beforeAlloc();
    if (mm.memcg !== 0 && !this.memcg.tryCharge(mm.memcg)) return FAULT_OOM;
    const pfn = this.allocUserPage(mm, vma, page, GFP_HIGHUSER_MOVABLE | __GFP_ZERO);
    if (pfn < 0) return FAULT_OOM;
    this.anonVmaPrepare(vma);
    this.newAnonPage(mm, pfn);
    this.reclaim?.addNewAnon(pfn, vma, page);
    pt.setPte(page, ptep, pfn, vmaPteFlags(flags, true));
    this.outcome = PFO_DEMAND_ZERO;
    return FAULT_OK;
  }

  /**
   * do_swap_page: the entry holds a swap entry. The slot's page comes from
   * the swap cache (a minor fault) or is read from the device (a major
   * fault, pgmajfault). When this entry was the slot's last user and no one
   * else maps the page, it is this address space's alone: mapped writable
   * if the VMA is (clean unless the fault was a write, which also takes it
   * out of the cache); otherwise read-only, and a write then copies it.
   * A read error gives FAULT_SIGBUS, as Linux's VM_FAULT_SIGBUS.
   */
  private doSwapPage(mm: MmStruct, vma: number, page: number, ptep: number, ec: number): number {
    const swap = this.swap;
    const pt = mm.pt;
    const pfnField = pt.ptePfn(ptep);
    const entry = pt.pteFlags(ptep);
    if (swap === null || swpType(entry) !== 0) panic(`do_swap_page: bad swap entry at 0x${page.toString(16)}`);
    const slot = swpOffset(pfnField, entry);
    // A page read from the device is charged to the faulting mm's group; the slot's charge goes (kernel/LINUX.md).
    const memcg = swap.dev.cachePfn(slot) >= 0 ? 0 : mm.memcg;
    if (memcg !== 0 && !this.memcg.tryCharge(memcg)) return FAULT_OOM;
    const pfn = swap.swapin(slot);
    if (pfn === SWAPIN_NOMEM) return FAULT_OOM;
    if (pfn === SWAPIN_EIO) return FAULT_SIGBUS;
    if (swap.major) this.memcg.swapinCharge(memcg, pfn, swap.dev.clearSwapCgroup(slot));
    if (swap.major) this.stats.pgmajfault++;
    this.outcome = swap.major ? PFO_SWAP_IN : PFO_SWAP_CACHE;
    const memmap = this.memmap;
    const exclusive = memmap.mapcount(pfn) === 0 && swap.dev.count(slot) === 1;
    const write = (ec & PF_WRITE) !== 0;
    const flags = this.vmas.f.flags(vma);
    this.anonVmaPrepare(vma);
    memmap.setMapcount(pfn, memmap.mapcount(pfn) + 1);
    mm.rssAnon++;
    mm.swapEnts--;
    mm.updateHiwater();
    let pte = vmaPteFlags(flags, exclusive && write);
    if (exclusive) {
      memmap.setFlag(pfn, PG_anon_exclusive);
      if (flags & VM_WRITE) pte |= PTE_RW;
    }
    pt.setPte(page, ptep, pfn, pte >>> 0);
    this.reclaim?.mapped(pfn, vma, page, slot, swap.major);
    swap.freeSwapAndCache(slot);
    if (exclusive && write) swap.tryFreeSwap(pfn);
    else if (!exclusive && write) return this.doWpPage(mm, vma, page, ptep);
    return FAULT_OK;
  }

  /** anon_vma_prepare: the VMA's private pages get a group id on the first one (fork copies only VMAs with one). */
  anonVmaPrepare(vma: number): void {
    if (this.vmas.f.anon(vma) === 0) this.vmas.f.setAnon(vma, this.vmas.newAnonId());
  }

  /** Accounts a fresh frame as one anonymous page of `mm` (page_add_new_anon_rmap): exclusive, mapped once, in RSS. */
  newAnonPage(mm: MmStruct, pfn: number): void {
    this.memmap.setFlag(pfn, PG_anon | PG_anon_exclusive);
    this.memmap.setMapcount(pfn, 1);
    this.memcg.charge(mm.memcg, pfn);
    mm.rssAnon++;
    mm.updateHiwater();
  }

  /** A fault in shared anonymous memory: the object's page at this offset, made if missing. */
  private doSharedFault(mm: MmStruct, vma: number, page: number, ptep: number, ec: number): number {
    const f = this.vmas.f;
    const index = f.pgoff(vma) + (page - f.start(vma)) / PAGE;
    if (index >= this.shmem.size(f.shmem(vma))) return FAULT_SIGBUS;
    const pfn = this.shmem.getPage(f.shmem(vma), index);
    if (pfn < 0) return FAULT_OOM;
    this.buddy.getPage(pfn);
    this.memmap.setMapcount(pfn, this.memmap.mapcount(pfn) + 1);
    mm.rssShmem++;
    mm.updateHiwater();
    // A shared writable mapping needs no write notification: a read maps the
    // page writable but clean, and the MMU sets D on the first store. A write
    // fault dirties the page itself (fault_dirty_shared_page).
    const flags = f.flags(vma);
    let pte = vmaPteFlags(flags, (ec & PF_WRITE) !== 0);
    if (ec & PF_WRITE) this.memmap.setFlag(pfn, PG_dirty);
    else if (flags & VM_WRITE) pte = (pte | PTE_RW) >>> 0;
    mm.pt.setPte(page, ptep, pfn, pte);
    this.outcome = PFO_SHARED;
    return FAULT_OK;
  }

  /**
   * do_wp_page: a write to a present read-only entry in a writable VMA. The
   * zero page is replaced by a fresh frame; a COW page is reused when this
   * mapping is its only user, else copied; a shared page is made writable.
   */
  private doWpPage(mm: MmStruct, vma: number, page: number, ptep: number): number {
    const pt = mm.pt;
    const flags = this.vmas.f.flags(vma);
    const old = pt.ptePfn(ptep);
    const pteFlags = pt.pteFlags(ptep);
    if (flags & VM_SHARED) {
      if (this.file.isFilePage(old)) return this.file.wpShared(mm, vma, page, ptep, old);
      this.memmap.setFlag(old, PG_dirty);
      this.outcome = PFO_WP_SHARED;
      pt.setPte(page, ptep, old, vmaPteFlags(flags, true));
      pt.flushTlb();
      return FAULT_OK;
    }
    if (!(pteFlags & PTE_SPECIAL) && this.file.isFilePage(old)) return this.file.wpPrivate(mm, vma, page, ptep, old);
    // wp_can_reuse_anon_folio: an exclusive page, or one no one else holds, is written in place;
    // a page in the swap cache whose slot no one else names leaves the cache first.
    if (!(pteFlags & PTE_SPECIAL) && this.swap !== null && this.memmap.testFlag(old, PG_swapcache) && this.memmap.mapcount(old) === 1)
      this.swap.tryFreeSwap(old);
    if (!(pteFlags & PTE_SPECIAL) && (this.memmap.testFlag(old, PG_anon_exclusive) || this.memmap.refcount(old) === 1)) {
      // A lazily freed page stays so: the entry becomes dirty, which keeps it at reclaim.
      this.stats.cowReuses++;
      this.outcome = PFO_COW_REUSE;
      this.memmap.setFlag(old, PG_anon_exclusive);
      pt.setPte(page, ptep, old, vmaPteFlags(flags, true));
      pt.flushTlb();
      return FAULT_OK;
    }
    if (mm.memcg !== 0 && !this.memcg.tryChargeHolding(mm.memcg, pteFlags & PTE_SPECIAL ? -1 : old, this.buddy)) return FAULT_OOM;
    const pfn = this.allocCopyTarget(mm, vma, page, old, pteFlags);
    if (pfn < 0) return FAULT_OOM;
    this.anonVmaPrepare(vma);
    this.outcome = pteFlags & PTE_SPECIAL ? PFO_ZERO_PAGE_COPY : PFO_COW_COPY;
    if (pteFlags & PTE_SPECIAL) this.phys.fillPages(pfn, 1, 0);
    else {
      this.phys.copyPage(pfn, old);
      this.stats.cowCopies++;
      this.releaseAnon(mm, old);
    }
    this.newAnonPage(mm, pfn);
    this.reclaim?.addNewAnon(pfn, vma, page);
    pt.setPte(page, ptep, pfn, vmaPteFlags(flags, true));
    pt.flushTlb();
    if (flags & VM_LOCKED && !(pteFlags & PTE_SPECIAL)) this.munlockFolio?.(old);
    return FAULT_OK;
  }

  /**
   * The new frame of a COW copy. The page being copied is held by an extra
   * reference while the allocation may reclaim, so reclaim leaves it mapped.
   */
  private allocCopyTarget(mm: MmStruct, vma: number, page: number, old: number, pteFlags: number): number {
    if (this.reclaim === null || pteFlags & PTE_SPECIAL) return this.allocUserPage(mm, vma, page, GFP_HIGHUSER_MOVABLE);
    this.buddy.getPage(old);
    this.reclaim.beforeAlloc();
    const pfn = this.allocUserPage(mm, vma, page, GFP_HIGHUSER_MOVABLE);
    this.buddy.freePages(old, 0);
    return pfn;
  }

  /** An anonymous page for `page` of `vma`: where the VMA's or the task's memory policy says (mempolicy.ts), else allocPages. */
  private allocUserPage(mm: MmStruct, vma: number, page: number, gfp: number): number {
    const word = this.vmas.policy(vma) || mm.mempolicy;
    if (word === 0 || this.policy === null) return this.buddy.allocPages(0, gfp);
    return this.policy.alloc(word, vma, page, gfp);
  }

  /** Drops one mapping of an anonymous page (page_remove_rmap + put_page). */
  releaseAnon(mm: MmStruct, pfn: number): void {
    this.memmap.setMapcount(pfn, this.memmap.mapcount(pfn) - 1);
    mm.rssAnon--;
    if (this.memmap.testFlag(pfn, PG_swapcache)) (this.swap as SwapCache).unmapped(pfn);
    this.buddy.freePages(pfn, 0);
  }

  /** expand_stack (gup.ts): grows a grows-down VMA down to `va`; the VMA, or 0. */
  private expandStack(mm: MmStruct, va: number): number {
    const vma = expandStack(this.vmas, this.commit, mm, va);
    if (vma !== 0) this.stackGrew = true;
    return vma;
  }

  /** zap_page_range for one VMA's part [start, end): entries cleared, frames released, TLB flushed. */
  zapRange(mm: MmStruct, _vma: number, start: number, end: number): void {
    // A 2 MiB leaf across an end is split first (the callers split beforehand when that can fail: munmap at the VMA split, MADV_DONTNEED).
    if (!this.huge.splitRange(mm, start, end)) panic("zap_page_range: a 2 MiB leaf across the range could not be split");
    this.zapMm = mm;
    unmapRange(mm.pt, start, end, this);
    this.zapMm = null;
    mm.pt.flushTlb();
  }

  /** ZapSink: one cleared leaf. */
  zapPte(_va: number, pfn: number, flags: number, pages: number): void {
    const mm = this.zapMm as MmStruct;
    if (pages !== 1 && flags & PTE_P) {
      if (this.hugetlb.isHugetlbPage(pfn)) this.hugetlb.zap(pfn);
      else this.huge.zapHugePmd(mm, pfn);
      return;
    }
    if (!(flags & PTE_P)) {
      this.swapEntryGone(mm, pfn, flags);
      return;
    }
    if (flags & PTE_SPECIAL) return;
    if (this.file.isFilePage(pfn)) {
      this.file.unmapFilePage(mm, pfn, flags);
      return;
    }
    const mmap = this.memmap;
    mmap.setMapcount(pfn, mmap.mapcount(pfn) - 1);
    if (mmap.testFlag(pfn, PG_anon)) {
      mm.rssAnon--;
      if (mmap.testFlag(pfn, PG_swapcache)) (this.swap as SwapCache).unmapped(pfn);
    } else {
      // A written shared page stays dirty after its entry goes (folio_mark_dirty in zap).
      if (flags & PTE_D) mmap.setFlag(pfn, PG_dirty);
      mm.rssShmem--;
    }
    this.buddy.freePages(pfn, 0);
  }

  /** A swap entry of `mm` (PFN field `pfnField`, flags word `entry`) was cleared: its slot loses a reference. */
  swapEntryGone(mm: MmStruct, pfnField: number, entry: number): void {
    if (this.swap === null || swpType(entry) !== 0) panic(`zap_pte_range: bad swap entry (pfn field 0x${pfnField.toString(16)})`);
    mm.swapEnts--;
    this.swap.freeSwapAndCache(swpOffset(pfnField, entry));
  }

  /** MADV_FREE on a swap entry: the entry is cleared and its slot loses a reference (the data is discardable). */
  dropSwapPte(mm: MmStruct, va: number, ptep: number): void {
    const pfnField = mm.pt.ptePfn(ptep);
    const entry = mm.pt.pteFlags(ptep);
    mm.pt.clearPte(va, ptep);
    this.swapEntryGone(mm, pfnField, entry);
  }

  /** folio_free_swap for MADV_FREE: see SwapCache.tryFreeSwap; true without swap. */
  tryFreeSwap(pfn: number): boolean {
    return this.swap === null || this.swap.tryFreeSwap(pfn);
  }

  /** free_pgtables over [start, end). */
  freePgtables(mm: MmStruct, start: number, end: number): void {
    freeEmptyTables(mm.pt, start, end);
  }

  /** Drops up to `want` lazily freeable pages (MADV_FREE, VM_DROPPABLE) by Reclaim.reclaimLazy (`mms` unused); frames freed. */
  reclaimLazy(_mms: readonly MmStruct[], want: number): number {
    return this.reclaim === null ? 0 : this.reclaim.reclaimLazy(want);
  }

  /** MADV_POPULATE_READ / _WRITE (gup.ts populateChecked): FAULT_OK, or the first failure. */
  populateChecked(mm: MmStruct, _vma: number, start: number, end: number, access: "read" | "write"): number {
    return populateChecked(this, mm, start, end, access);
  }

  /** A shared anonymous object for a new MAP_SHARED mapping (see Shmem.create). */
  shmemCreate(pages: number, charge: boolean): number {
    return this.shmem.create(pages, charge);
  }

  /** MAP_POPULATE / MADV_POPULATE (gup.ts populate): faults missing pages in, stopping quietly at the first failure. */
  populate(mm: MmStruct, vma: number, start: number, end: number): void {
    populate(this, mm, vma, start, end);
  }

  /** change_protection for mprotect (see ChangeProt in mprotect.ts). */
  changeProt(mm: MmStruct, vma: number, start: number, end: number): void {
    this.prot.run(mm, vma, start, end);
  }
}
