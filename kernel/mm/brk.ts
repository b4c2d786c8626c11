/**
 * brk(2) and do_brk_flags (the brk half of Linux mm/mmap.c): the heap's
 * break moves inside its page, shrinks through doMunmap, or grows the heap
 * VMA under RLIMIT_DATA, max_map_count and commit. sysBrk returns the
 * break, as the syscall does.
 *
 * Calls: mmap.ts for the munmap walk and may_expand_vm, vma.ts for the
 * heap VMA, commit.ts (through MmapContext) to charge.
 */
import { ENOMEM } from "../errno.ts";
import { type MmStruct, PAGE } from "./mm.ts";
import { VM_ACCOUNT, VM_MAYEXEC, VM_MAYREAD, VM_MAYWRITE, VM_READ, VM_WRITE } from "./mm_types.ts";
import { doMunmap, isAddr, type MmapContext, mayExpandVm } from "./mmap.ts";
import { pageAlign } from "./types.ts";
import { vmStartGap } from "./vma.ts";

/**
 * brk(2) with Linux 6.x's rules: below start_brk or over RLIMIT_DATA returns
 * the current break; shrinking unmaps above PAGE_ALIGN(new); growth needs a
 * page (or the stack guard gap) clear below the next mapping and commit.
 * Returns the new break, or the old one on failure.
 */
export function sysBrk(ctx: MmapContext, mm: MmStruct, brk: number): number {
  const orig = mm.brk;
  if (!isAddr(brk) || brk < mm.startBrk || brk > mm.stackTop) return orig;
  if (brk - mm.startBrk > mm.rlimits.data) return orig;
  const newbrk = pageAlign(brk);
  const oldbrk = pageAlign(mm.brk);
  if (newbrk === oldbrk) {
    mm.brk = brk;
    return brk;
  }
  if (brk <= mm.brk) {
    mm.brk = brk;
    if (doMunmap(ctx, mm, newbrk, oldbrk - newbrk) < 0) {
      mm.brk = orig;
      return orig;
    }
    return brk;
  }
  const next = ctx.vmas.findVma(mm, oldbrk);
  if (next !== 0 && newbrk + PAGE > vmStartGap(ctx.vmas.f.start(next), ctx.vmas.f.flags(next))) return orig;
  if (doBrkFlags(ctx, mm, oldbrk, newbrk - oldbrk) < 0) return orig;
  mm.brk = brk;
  return brk;
}

/** The heap VMA's flags: rw-p, accounted (VM_DATA_DEFAULT_FLAGS | VM_ACCOUNT). */
const BRK_FLAGS = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT;

/** do_brk_flags: extends the heap VMA ending at addr, or makes one. */
function doBrkFlags(ctx: MmapContext, mm: MmStruct, addr: number, len: number): number {
  const pages = len / PAGE;
  if (!mayExpandVm(mm, BRK_FLAGS, pages)) return -ENOMEM;
  const vmas = ctx.vmas;
  const prev = addr > mm.startBrk ? vmas.lookup(mm, addr - PAGE) : 0;
  const extend = prev !== 0 && vmas.f.end(prev) === addr && vmas.f.flags(prev) === BRK_FLAGS && vmas.f.shmem(prev) === 0;
  if (!extend && mm.mapCount >= ctx.maxMapCount) return -ENOMEM;
  if (!ctx.commit.charge(pages)) return -ENOMEM;
  mm.committed += pages;
  if (extend) {
    vmas.setEnd(mm, prev, addr + len);
    return 0;
  }
  const vma = vmas.alloc(mm, addr, addr + len, BRK_FLAGS, addr / PAGE);
  if (vma === 0) {
    ctx.commit.uncharge(pages);
    mm.committed -= pages;
    return -ENOMEM;
  }
  vmas.insert(mm, vma);
  return 0;
}
