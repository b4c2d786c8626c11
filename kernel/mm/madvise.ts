/**
 * madvise(2) (Linux mm/madvise.c): the advice is checked first, then the
 * range; the walk applies the advice to every mapped part and reports
 * -ENOMEM for holes after doing so.
 *
 * Supported: NORMAL, RANDOM, SEQUENTIAL, WILLNEED, DONTNEED, FREE, REMOVE,
 * DONTFORK, DOFORK, WIPEONFORK, KEEPONFORK, DONTDUMP, DODUMP, COLD, PAGEOUT,
 * POPULATE_READ, POPULATE_WRITE, DONTNEED_LOCKED, HUGEPAGE, NOHUGEPAGE
 * (VM_HUGEPAGE / VM_NOHUGEPAGE for transparent huge pages, huge_memory.ts).
 * memsim is configured without KSM, so MERGEABLE and UNMERGEABLE are
 * -EINVAL, as on such a Linux build.
 */
import { EACCES, EFAULT, EINVAL, ENOMEM, EOPNOTSUPP } from "../errno.ts";
import {
  MADV_COLD,
  MADV_DODUMP,
  MADV_DOFORK,
  MADV_DONTDUMP,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_DONTNEED_LOCKED,
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_KEEPONFORK,
  MADV_NOHUGEPAGE,
  MADV_NORMAL,
  MADV_PAGEOUT,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_RANDOM,
  MADV_REMOVE,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MADV_WIPEONFORK,
} from "../uapi/mman.ts";
import { isFileObject } from "./filemap_fault.ts";
import { type MemMap, PG_anon, PG_dirty, PG_lazyfree, PG_swapcache } from "./memmap.ts";
import { FAULT_OK, FAULT_SIGBUS } from "./memory.ts";
import { type MmStruct, PAGE } from "./mm.ts";
import {
  VM_DONTCOPY,
  VM_DONTDUMP,
  VM_DROPPABLE,
  VM_HUGEPAGE,
  VM_HUGETLB,
  VM_LOCKED,
  VM_NOHUGEPAGE,
  VM_RAND_READ,
  VM_READ,
  VM_SEQ_READ,
  VM_SHARED,
  VM_WIPEONFORK,
  VM_WRITE,
} from "./mm_types.ts";
import type { MmapContext } from "./mmap.ts";
import type { PageTable } from "./pgtable.ts";
import { type PteVisitor, walkRange } from "./pgtable_range.ts";
import { PTE_A, PTE_D, PTE_P, PTE_SPECIAL } from "./pgtable_types.ts";

/** The page-table work madvise needs. */
export interface MadvisePageOps {
  /** Unmaps [start, end) of a VMA now, releasing frames (MADV_DONTNEED). */
  zapRange(mm: MmStruct, vma: number, start: number, end: number): void;
  /** Marks the present, unshared pages of [start, end) lazily freeable (MADV_FREE). */
  lazyFree(mm: MmStruct, vma: number, start: number, end: number): void;
  /** Clears the accessed bits of the pages of [start, end) only this mapping uses (MADV_COLD, MADV_PAGEOUT without swap). */
  deactivate(mm: MmStruct, vma: number, start: number, end: number): void;
  /**
   * Swaps out the private anonymous pages of [start, end) only this mapping
   * uses (MADV_PAGEOUT). Returns false, doing nothing, when the machine has no swap.
   */
  pageout(mm: MmStruct, vma: number, start: number, end: number): boolean;
  /** Faults every page of [start, end) in as a read or a write would; a FAULT_* code (MADV_POPULATE_*). */
  populateChecked(mm: MmStruct, vma: number, start: number, end: number, access: "read" | "write"): number;
  /** Frees the shared object's pages behind [start, end) of a shared VMA, unmapping them everywhere (MADV_REMOVE). */
  removeShared(vma: number, start: number, end: number): void;
  /** Splits the 2 MiB leaves across either end of [start, end); false when out of memory. */
  splitHugeRange(mm: MmStruct, start: number, end: number): boolean;
}

const VALID = new Set([
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_DONTFORK,
  MADV_DOFORK,
  MADV_WIPEONFORK,
  MADV_KEEPONFORK,
  MADV_DONTDUMP,
  MADV_DODUMP,
  MADV_REMOVE,
  MADV_COLD,
  MADV_PAGEOUT,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_DONTNEED_LOCKED,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
]);

/** do_madvise. Returns 0, -EINVAL (advice, alignment, wrong kind of mapping) or -ENOMEM (holes). */
export function sysMadvise(ctx: MmapContext, mm: MmStruct, ops: MadvisePageOps, start: number, lenIn: number, advice: number): number {
  if (!VALID.has(advice)) return -EINVAL;
  if (!Number.isSafeInteger(start) || start < 0 || start % PAGE !== 0 || !Number.isSafeInteger(lenIn)) return -EINVAL;
  const len = Math.ceil(lenIn / PAGE) * PAGE;
  if (lenIn < 0 && len <= 0) return -EINVAL;
  const end = start + len;
  if (end < start) return -EINVAL;
  if (end === start) return 0;
  if (advice === MADV_POPULATE_READ || advice === MADV_POPULATE_WRITE) return madvisePopulate(ctx, mm, ops, start, end, advice);
  const vmas = ctx.vmas;
  const f = vmas.f;
  let unmapped = 0;
  let vma = vmas.findVma(mm, start);
  for (;;) {
    if (vma === 0) return -ENOMEM;
    if (start < f.start(vma)) {
      unmapped = -ENOMEM;
      start = f.start(vma);
      if (start >= end) break;
    }
    const tmp = Math.min(f.end(vma), end);
    const err = madviseVma(ctx, mm, ops, vma, start, tmp, advice);
    if (err < 0) return err;
    start = tmp;
    if (start >= end) break;
    vma = vmas.findVma(mm, start);
  }
  return unmapped;
}

/** Applies one advice to [start, end) inside one VMA. */
function madviseVma(ctx: MmapContext, mm: MmStruct, ops: MadvisePageOps, vma: number, start: number, end: number, advice: number): number {
  const flags = ctx.vmas.f.flags(vma);
  const file = isFileObject(ctx.vmas.f.shmem(vma));
  // memsim takes no advice on hugetlb memory but WILLNEED (its pages are never split, swapped or freed lazily).
  if (flags & VM_HUGETLB && advice !== MADV_WILLNEED) return -EINVAL;
  switch (advice) {
    case MADV_WILLNEED:
      return 0;
    case MADV_DONTNEED:
    case MADV_DONTNEED_LOCKED:
      if (advice === MADV_DONTNEED && flags & VM_LOCKED) return -EINVAL;
      if (!ops.splitHugeRange(mm, start, end)) return -ENOMEM;
      ops.zapRange(mm, vma, start, end);
      return 0;
    case MADV_COLD:
    case MADV_PAGEOUT:
      // With swap, paging out writes private anonymous pages out; shared anonymous memory
      // (not swappable here), droppable memory and a machine without swap only age them.
      if (flags & VM_LOCKED) return -EINVAL;
      if (advice === MADV_PAGEOUT && !(flags & (VM_SHARED | VM_DROPPABLE)) && ops.pageout(mm, vma, start, end)) return 0;
      ops.deactivate(mm, vma, start, end);
      return 0;
    case MADV_REMOVE:
      // Punches a hole in the object behind a shared mapping; private memory has none.
      // sfs cannot punch holes (fallocate is EOPNOTSUPP, as on ext2).
      if (flags & VM_LOCKED) return -EINVAL;
      if (file) return flags & VM_SHARED ? -EOPNOTSUPP : -EACCES;
      if (!(flags & VM_SHARED)) return -EINVAL;
      ops.removeShared(vma, start, end);
      return 0;
    case MADV_FREE:
      // Only anonymous memory may be freed lazily.
      if (file || flags & (VM_SHARED | VM_LOCKED)) return -EINVAL;
      ops.lazyFree(mm, vma, start, end);
      return 0;
    case MADV_WIPEONFORK:
      if (file || flags & VM_SHARED) return -EINVAL;
      return updateFlags(ctx, mm, vma, start, end, flags | VM_WIPEONFORK);
    case MADV_KEEPONFORK:
      // Any mapping may keep its pages on fork, except droppable memory, which never does.
      if (flags & VM_DROPPABLE) return -EINVAL;
      return updateFlags(ctx, mm, vma, start, end, flags & ~VM_WIPEONFORK);
    case MADV_DONTFORK:
      return updateFlags(ctx, mm, vma, start, end, flags | VM_DONTCOPY);
    case MADV_DOFORK:
      return updateFlags(ctx, mm, vma, start, end, flags & ~VM_DONTCOPY);
    case MADV_HUGEPAGE:
      // hugepage_madvise sets the flag on any VMA; memsim gives huge pages to private anonymous memory only (no shmem THP).
      return updateFlags(ctx, mm, vma, start, end, ((flags & ~VM_NOHUGEPAGE) | VM_HUGEPAGE) >>> 0);
    case MADV_NOHUGEPAGE:
      return updateFlags(ctx, mm, vma, start, end, ((flags & ~VM_HUGEPAGE) | VM_NOHUGEPAGE) >>> 0);
    case MADV_DONTDUMP:
      return updateFlags(ctx, mm, vma, start, end, flags | VM_DONTDUMP);
    case MADV_DODUMP:
      return updateFlags(ctx, mm, vma, start, end, flags & ~VM_DONTDUMP);
    case MADV_RANDOM:
      return updateFlags(ctx, mm, vma, start, end, (flags & ~VM_SEQ_READ) | VM_RAND_READ);
    case MADV_SEQUENTIAL:
      return updateFlags(ctx, mm, vma, start, end, (flags & ~VM_RAND_READ) | VM_SEQ_READ);
    default:
      return updateFlags(ctx, mm, vma, start, end, flags & ~(VM_SEQ_READ | VM_RAND_READ));
  }
}

/**
 * madvise_populate: faults [start, end) in, VMA by VMA, as reads or writes.
 * Returns 0; -ENOMEM at a hole or when memory runs out (the pages before
 * stay); -EINVAL when a VMA does not allow the access; -EFAULT when an access
 * would get SIGBUS.
 */
function madvisePopulate(ctx: MmapContext, mm: MmStruct, ops: MadvisePageOps, start: number, end: number, advice: number): number {
  const f = ctx.vmas.f;
  const write = advice === MADV_POPULATE_WRITE;
  while (start < end) {
    const vma = ctx.vmas.lookup(mm, start);
    if (vma === 0) return -ENOMEM;
    if (!(f.flags(vma) & (write ? VM_WRITE : VM_READ))) return -EINVAL;
    const tmp = Math.min(f.end(vma), end);
    const r = ops.populateChecked(mm, vma, start, tmp, write ? "write" : "read");
    if (r === FAULT_SIGBUS) return -EFAULT;
    if (r !== FAULT_OK) return -ENOMEM;
    start = tmp;
  }
  return 0;
}

/** madvise_update_vma: gives [start, end) new flags, splitting and merging as mprotect does. */
function updateFlags(ctx: MmapContext, mm: MmStruct, vma: number, start: number, end: number, newflags: number): number {
  const vmas = ctx.vmas;
  const f = vmas.f;
  if (f.flags(vma) === newflags) return 0;
  vma = vmas.isolate(mm, vma, start, end);
  if (vma === 0) return -ENOMEM;
  vmas.setFlags(mm, vma, newflags);
  vmas.mergeAround(mm, vma);
  return 0;
}

/** What MADV_FREE needs from the swap side (Memory implements it). */
export interface LazyFreeSwapOps {
  /** Clears the swap entry at `ptep` and drops its slot reference. */
  dropSwapPte(mm: MmStruct, va: number, ptep: number): void;
  /** Takes a page out of the swap cache when no swap entry names its slot; true when it is out. */
  tryFreeSwap(pfn: number): boolean;
}

/** A walk over the entries of [start, end) of one page table, flushing what it changed. */
abstract class RangeWalk implements PteVisitor {
  protected pt: PageTable | null = null;

  constructor(protected readonly memmap: MemMap) {}

  run(pt: PageTable, start: number, end: number): void {
    this.pt = pt;
    walkRange(pt, start, end, this);
    this.pt = null;
    pt.flushTlb();
  }

  abstract visitPte(va: number, ptep: number, level: number): void;
}

/**
 * madvise_free_pte_range: each present anonymous page of [start, end) is
 * marked lazily freeable and its entry made old and clean, so reclaim may
 * drop it until some mapping writes it again (the MMU sets D on that write,
 * which keeps it). A page shared with another process (after fork) is
 * marked too: only this mapping's entry is cleaned, and reclaim keeps the
 * page while any mapping's entry is dirty. A page already dirty as a whole
 * (PG_dirty) is skipped while shared, else cleaned. The zero page is skipped.
 * A swap entry is dropped (its data may be discarded); a page in the swap
 * cache is marked only when it can leave the cache (mapped here alone, its
 * slot named by no swap entry), else skipped.
 */
export class LazyFreeWalk extends RangeWalk {
  /** The address space walked (set by the caller around run()). */
  mm: MmStruct | null = null;

  constructor(
    memmap: MemMap,
    private readonly swap: LazyFreeSwapOps,
  ) {
    super(memmap);
  }

  visitPte(va: number, ptep: number, level: number): void {
    const pt = this.pt as PageTable;
    const flags = pt.pteFlags(ptep);
    if (level !== 1) return;
    if (!(flags & PTE_P)) {
      this.swap.dropSwapPte(this.mm as MmStruct, va, ptep);
      return;
    }
    if (flags & PTE_SPECIAL) return;
    const pfn = pt.ptePfn(ptep);
    const memmap = this.memmap;
    if (!memmap.testFlag(pfn, PG_anon)) return;
    if (memmap.testFlag(pfn, PG_swapcache) && (memmap.mapcount(pfn) !== 1 || !this.swap.tryFreeSwap(pfn))) return;
    if (memmap.testFlag(pfn, PG_dirty)) {
      if (memmap.mapcount(pfn) !== 1) return;
      memmap.clearFlag(pfn, PG_dirty);
    }
    memmap.setFlag(pfn, PG_lazyfree);
    if (flags & (PTE_A | PTE_D)) pt.setPte(va, ptep, pfn, (flags & ~(PTE_A | PTE_D)) >>> 0);
  }
}

/**
 * madvise_cold_or_pageout_pte_range, without swap: each present anonymous or
 * shared page of [start, end) that only this mapping uses loses its accessed
 * bit (it becomes the first to reclaim); pages stay resident.
 */
export class DeactivateWalk extends RangeWalk {
  /** Told of each page the walk deactivates: the LRU moves it to the inactive list (Reclaim.deactivate). */
  deactivate: ((pfn: number) => void) | null = null;

  visitPte(va: number, ptep: number, level: number): void {
    const pt = this.pt as PageTable;
    const flags = pt.pteFlags(ptep);
    if (level !== 1 || (flags & (PTE_P | PTE_SPECIAL)) !== PTE_P) return;
    const pfn = pt.ptePfn(ptep);
    if (this.memmap.mapcount(pfn) !== 1) return;
    if (flags & PTE_A) pt.setPte(va, ptep, pfn, (flags & ~PTE_A) >>> 0);
    this.deactivate?.(pfn);
  }
}
