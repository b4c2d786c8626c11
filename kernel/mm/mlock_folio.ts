/**
 * The page half of mlock (Linux mm/mlock.c: mlock_folio, munlock_folio,
 * mlock_vma_pages_range, mlock_future_ok): anonymous LRU pages of a range
 * move to the unevictable list when their VMA becomes VM_LOCKED, and back
 * to the inactive list (and the replacement policy) once no VM_LOCKED VMA
 * maps them, found through the reverse map. The syscalls are in mlock.ts;
 * mmap.ts uses this file for MAP_LOCKED, MCL_FUTURE and unmapping.
 *
 * Calls: the page-table walk, the reverse map, the reclaim layer's lists
 * and policy host, Memory's checked populate.
 */
import { ENOMEM } from "../errno.ts";
import { FAULT_OK } from "./fault_codes.ts";
import { type MemMap, PG2_lru, PG2_mlocked, PG2_unevictable } from "./memmap.ts";
import { type MmStruct, PAGE } from "./mm.ts";
import {
  VM_DONTEXPAND,
  VM_DROPPABLE,
  VM_EXEC,
  VM_LOCKED,
  VM_LOCKED_MASK,
  VM_LOCKONFAULT,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
} from "./mm_types.ts";
import { type PteVisitor, walkRange } from "./pgtable_range.ts";
import { PTE_P, PTE_SPECIAL } from "./pgtable_types.ts";
import type { RmapVisitor } from "./rmap.ts";
import { LRU_INACTIVE_ANON } from "./swap.ts";
import type { VmaOps } from "./vma.ts";
import type { Reclaim } from "./vmscan_shrink.ts";

/** What the page half uses of the user-memory layer (memory.ts Memory). */
export interface MlockMemory {
  readonly vmas: VmaOps;
  readonly reclaim: Reclaim | null;
  /** Faults in every page of [start, end) a read (or write) would fault on; FAULT_OK or the first failure. */
  populateChecked(mm: MmStruct, vma: number, start: number, end: number, access: "read" | "write"): number;
}

/** VMAs mlock leaves alone (VM_SPECIAL's one memsim has, and droppable memory): never locked, never counted. */
export const VM_NOLOCK = VM_DONTEXPAND | VM_DROPPABLE;

/** mm->locked_vm: pages of the VM_LOCKED VMAs of `mm` (VmLck), recounted from the VMAs. */
export function lockedVm(vmas: VmaOps, mm: MmStruct): number {
  const f = vmas.f;
  let pages = 0;
  for (let n = mm.tree.first(); n >= 0; n = mm.tree.next(n)) {
    const vma = mm.tree.value(n);
    if (f.flags(vma) & VM_LOCKED) pages += (f.end(vma) - f.start(vma)) / PAGE;
  }
  return pages;
}

/** mlock_future_ok: true when `bytes` more locked memory stays within RLIMIT_MEMLOCK. */
export function mlockFutureOk(vmas: VmaOps, mm: MmStruct, vmFlags: number, bytes: number): boolean {
  if (!(vmFlags & VM_LOCKED)) return true;
  return (lockedVm(vmas, mm) + bytes / PAGE) * PAGE <= mm.rlimits.memlock;
}

/**
 * The page side of mlock: walks the present entries of a range and moves
 * each anonymous LRU page to the unevictable list ("lock"), or back to the
 * inactive list when no VM_LOCKED VMA maps it any more ("unlock").
 */
export class MlockPages implements PteVisitor, RmapVisitor {
  private how: "lock" | "unlock" = "lock";
  /** The address space being walked. */
  private walking: MmStruct | null = null;
  private lockedMaps = 0;

  constructor(
    private readonly memmap: MemMap,
    private readonly memory: MlockMemory,
    /** The machine's address spaces (the reverse map walks them all). */
    private readonly mms: () => MmStruct[],
  ) {}

  /** mlock_vma_pages_range's page half: every present page of [start, end) of `mm` is locked or unlocked. */
  walk(mm: MmStruct, start: number, end: number, how: "lock" | "unlock"): void {
    if (this.memory.reclaim === null || end <= start) return;
    this.how = how;
    this.walking = mm;
    try {
      walkRange(mm.pt, start, end, this);
    } finally {
      this.walking = null;
    }
  }

  /**
   * Faults in every missing page of [start, end) of `vma` (populate_vma_page_range:
   * as a write for private writable memory, which breaks COW). A VMA without
   * access, or locked on fault, is left as it is. Returns 0 or -ENOMEM.
   */
  populate(mm: MmStruct, vma: number, start: number, end: number): number {
    const flags = this.memory.vmas.f.flags(vma);
    if (flags & VM_LOCKONFAULT || !(flags & (VM_READ | VM_WRITE | VM_EXEC))) return 0;
    const access = (flags & (VM_WRITE | VM_SHARED)) === VM_WRITE ? "write" : "read";
    return this.memory.populateChecked(mm, vma, start, end, access) === FAULT_OK ? 0 : -ENOMEM;
  }

  /** PteVisitor: one leaf of the range (2 MiB leaves map compound pages, which are on no list). */
  visitPte(_va: number, ptep: number, level: number): void {
    const mm = this.walking;
    if (level !== 1 || mm === null) return;
    const flags = mm.pt.pteFlags(ptep);
    if ((flags & (PTE_P | PTE_SPECIAL)) !== PTE_P) return;
    const pfn = mm.pt.ptePfn(ptep);
    if (!(this.memmap.flags2(pfn) & PG2_lru)) return;
    if (this.how === "lock") this.mlockPage(pfn);
    else this.munlockPage(pfn);
  }

  /** RmapVisitor: stops at the first VM_LOCKED VMA mapping the page. */
  rmapOne(_mm: MmStruct, vma: number): boolean {
    if (!(this.memory.vmas.f.flags(vma) & VM_LOCKED)) return true;
    this.lockedMaps++;
    return false;
  }

  /** mlock_folio for one present page of the range. */
  private mlockPage(pfn: number): void {
    this.memory.reclaim?.mlockFolio(pfn);
  }

  /** munlock_folio: an unevictable page that no VM_LOCKED VMA maps goes back to the inactive list and the policy. */
  munlockPage(pfn: number): void {
    const reclaim = this.memory.reclaim;
    const mm = this.memmap;
    if (reclaim === null || !(mm.flags2(pfn) & PG2_unevictable)) return;
    const saved = reclaim.rmap.mms;
    reclaim.rmap.mms = this.mms();
    this.lockedMaps = 0;
    try {
      reclaim.rmap.walk(pfn, this);
    } finally {
      reclaim.rmap.mms = saved;
    }
    if (this.lockedMaps !== 0) return;
    reclaim.lru.del(pfn);
    mm.clearFlags2(pfn, PG2_mlocked);
    reclaim.lru.add(pfn, LRU_INACTIVE_ANON);
    reclaim.host.added(pfn);
  }
}

/**
 * The flags a new mapping really gets (mmap_region): lock bits (MAP_LOCKED,
 * MCL_FUTURE) are dropped on a VMA mlock leaves alone.
 */
export function lockableFlags(vmFlags: number): number {
  return vmFlags & VM_NOLOCK ? vmFlags & ~VM_LOCKED_MASK : vmFlags;
}

/**
 * munlock_vma_pages for a VMA about to be unmapped (munmap, exit, a
 * MAP_FIXED or mremap over it): it loses VM_LOCKED first, so each of its
 * pages that no other locked VMA maps becomes evictable again.
 */
export function munlockVmaForUnmap(vmas: VmaOps, pages: MlockPages, mm: MmStruct, vma: number): void {
  const f = vmas.f;
  const flags = f.flags(vma);
  if (!(flags & VM_LOCKED)) return;
  vmas.setFlags(mm, vma, flags & ~VM_LOCKED_MASK);
  pages.walk(mm, f.start(vma), f.end(vma), "unlock");
}
