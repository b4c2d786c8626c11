/**
 * mprotect(2) (Linux mm/mprotect.c): checks in Linux's order, a walk over
 * the VMAs of the range that changes each in turn (no rollback when a hole
 * stops it), splits and merges, commit for newly writable private memory.
 */
import { EACCES, EINVAL, ENOMEM } from "../errno.ts";
import { PROT_EXEC, PROT_GROWSDOWN, PROT_GROWSUP, PROT_READ, PROT_SEM, PROT_WRITE } from "../uapi/mman.ts";
import { isFileObject } from "./filemap_fault.ts";
import { hugetlbRangeCheck } from "./hugetlb_mmap.ts";
import { type MemMap, PG_anon_exclusive } from "./memmap.ts";
import { type MmStruct, PAGE } from "./mm.ts";
import { VM_ACCESS_FLAGS, VM_ACCOUNT, VM_EXEC, VM_GROWSDOWN, VM_NORESERVE, VM_READ, VM_SHARED, VM_WRITE } from "./mm_types.ts";
import type { MmapContext } from "./mmap.ts";
import type { PageTable } from "./pgtable.ts";
import { changeProtection, type PteVisitor, walkRange } from "./pgtable_range.ts";
import { PTE_NX, PTE_P, PTE_RW, PTE_SPECIAL, PTE_US } from "./pgtable_types.ts";
import type { VmaOps } from "./vma.ts";

/** Changes the page-table protection of [start, end) to match the VMA's new flags. */
export type ChangeProtection = (mm: MmStruct, vma: number, start: number, end: number) => void;

function protBits(prot: number): number {
  return (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0) | (prot & PROT_EXEC ? VM_EXEC : 0);
}

/**
 * do_mprotect_pkey. Returns 0; -EINVAL for an unaligned start or unknown
 * prot bits; -ENOMEM when the first page or a page inside is unmapped (the
 * VMAs before the hole stay changed) or commit is refused; -EACCES when the
 * new protection exceeds what the mapping may have.
 */
export function sysMprotect(
  ctx: MmapContext,
  mm: MmStruct,
  changeProt: ChangeProtection,
  start: number,
  len: number,
  prot: number,
): number {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(len) || !Number.isSafeInteger(prot)) return -EINVAL;
  const grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
  if (grows === (PROT_GROWSDOWN | PROT_GROWSUP)) return -EINVAL;
  if (start < 0 || start % PAGE !== 0) return -EINVAL;
  if (len === 0) return 0;
  const alen = Math.ceil(len / PAGE) * PAGE;
  const end = start + alen;
  // TASK_SIZE is the stack top: a range ending above it is refused before anything changes.
  if (len < 0 || end <= start || end > mm.stackTop) return -ENOMEM;
  // PROT_SEM is accepted and means nothing on x86.
  if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM | PROT_GROWSDOWN | PROT_GROWSUP)) return -EINVAL;
  const vmas = ctx.vmas;
  const f = vmas.f;
  if (hugetlbRangeCheck(vmas, mm, start, end) < 0) return -EINVAL;
  let vma = vmas.findVma(mm, start);
  if (vma === 0 || f.start(vma) >= end) return -ENOMEM;
  if (grows & PROT_GROWSDOWN) {
    // The change reaches down to the start of the grows-down VMA.
    if (!(f.flags(vma) & VM_GROWSDOWN)) return -EINVAL;
    start = f.start(vma);
  } else if (f.start(vma) > start) return -ENOMEM;
  if (grows & PROT_GROWSUP) return -EINVAL;
  const want = protBits(prot);
  let nstart = start;
  for (;;) {
    const flags = f.flags(vma);
    const newflags = (flags & ~VM_ACCESS_FLAGS) | want;
    if (newflags & ~(newflags >>> 4) & VM_ACCESS_FLAGS) return -EACCES;
    const tmp = Math.min(f.end(vma), end);
    const done = mprotectFixup(ctx, mm, changeProt, vma, nstart, tmp, newflags);
    if (done < 0) return done;
    // The changed piece may have merged with the next VMA, which had these flags already.
    nstart = Math.max(tmp, f.end(done));
    if (nstart >= end) return 0;
    vma = vmas.findVma(mm, nstart);
    if (vma === 0 || f.start(vma) !== nstart) return -ENOMEM;
  }
}

/**
 * mprotect_fixup: gives [start, end) of `vma` the flags `newflags`, splitting
 * at the edges and merging afterwards. Charges commit when private memory
 * becomes writable; uncharges an anonymous mapping that loses write before
 * it was ever written (Linux 6.5+). Returns the VMA now covering the range
 * (merged with its neighbours), or -ENOMEM.
 */
function mprotectFixup(
  ctx: MmapContext,
  mm: MmStruct,
  changeProt: ChangeProtection,
  vma: number,
  start: number,
  end: number,
  newflags: number,
): number {
  const vmas = ctx.vmas;
  const f = vmas.f;
  const oldflags = f.flags(vma);
  if (newflags === oldflags) return vma;
  const pages = (end - start) / PAGE;
  let charged = 0;
  let uncharge = 0;
  if (newflags & VM_WRITE) {
    if (!(oldflags & (VM_ACCOUNT | VM_WRITE | VM_SHARED | VM_NORESERVE))) {
      if (!ctx.commit.charge(pages)) return -ENOMEM;
      charged = pages;
      newflags |= VM_ACCOUNT;
    }
  } else if (oldflags & VM_ACCOUNT && !(oldflags & VM_SHARED) && f.anon(vma) === 0) {
    newflags &= ~VM_ACCOUNT;
    uncharge = pages;
  }
  vma = vmas.isolate(mm, vma, start, end);
  if (vma === 0) {
    if (charged) ctx.commit.uncharge(charged);
    return -ENOMEM;
  }
  mm.committed += charged - uncharge;
  if (uncharge) ctx.commit.uncharge(uncharge);
  vmas.setFlags(mm, vma, newflags);
  changeProt(mm, vma, start, end);
  return vmas.mergeAround(mm, vma);
}

/**
 * change_protection for mprotect: the present entries of [start, end) get
 * the VMA's new access bits; pages of a VMA without any access lose the
 * user bit, so every access faults and is refused. A shared anonymous
 * mapping's entries become writable with it (a shared file mapping's stay
 * read-only until their first store faults). A private mapping's entries lose write,
 * and only exclusive anonymous pages get it back (can_change_pte_writable):
 * a page shared since fork, or the zero page, stays read-only so that the
 * first write faults and copies. Swap entries keep their slot untouched.
 */
export class ChangeProt implements PteVisitor {
  private pt: PageTable | null = null;

  constructor(
    private readonly memmap: MemMap,
    private readonly vmas: VmaOps,
  ) {}

  run(mm: MmStruct, vma: number, start: number, end: number): void {
    const flags = this.vmas.f.flags(vma);
    const any = (flags & (VM_READ | VM_WRITE | VM_EXEC)) !== 0;
    const shared = (flags & VM_SHARED) !== 0;
    const write = (flags & VM_WRITE) !== 0;
    // A shared file mapping made writable keeps its read-only entries so (write notify): the
    // first store faults, and the page gets its disk block before it can be dirtied.
    const notify = shared && isFileObject(this.vmas.f.shmem(vma));
    const set = (shared && write && !notify ? PTE_RW : 0) | (flags & VM_EXEC ? 0 : PTE_NX) | (any ? PTE_US : 0);
    const clear = (shared && write ? 0 : PTE_RW) | (flags & VM_EXEC ? PTE_NX : 0) | (any ? 0 : PTE_US);
    changeProtection(mm.pt, start, end, set >>> 0, clear >>> 0, { readOnlyIf: PTE_SPECIAL });
    if (write && !shared) {
      this.pt = mm.pt;
      walkRange(mm.pt, start, end, this);
      this.pt = null;
    }
    mm.pt.flushTlb();
  }

  /** The write upgrade of a private mapping: only exclusive anonymous pages become writable. */
  visitPte(va: number, ptep: number, level: number): void {
    const pt = this.pt as PageTable;
    const flags = pt.pteFlags(ptep);
    // A 2 MiB leaf (level 2) is one exclusive huge page or none: its head's flag decides.
    if (level > 2 || (flags & (PTE_P | PTE_US | PTE_RW | PTE_SPECIAL)) !== (PTE_P | PTE_US)) return;
    const pfn = pt.ptePfn(ptep);
    if (!this.memmap.testFlag(pfn, PG_anon_exclusive)) return;
    pt.setPte(va, ptep, pfn, (flags | PTE_RW) >>> 0);
  }
}
