/**
 * Faulting user pages in outside a user access (Linux mm/gup.c:
 * populate_vma_page_range, faultin_page_range): `populate` for
 * MAP_POPULATE, `populateChecked` for MADV_POPULATE_READ / _WRITE and
 * mlock; and the stack growth a fault below a grows-down VMA asks for
 * (expand_stack, Linux mm/mmap.c).
 *
 * Cold code moved out of memory.ts: each page goes through the same
 * handleMmFault a user access takes (memory.ts), which stays where it is.
 */

import type { CommitAccounting } from "./commit.ts";
import { FAULT_OK } from "./fault_codes.ts";
import { isFileObject } from "./filemap_fault.ts";
import type { MmStruct } from "./mm.ts";
import { PAGE, STACK_GUARD_GAP } from "./mm.ts";
import { VM_ACCOUNT, VM_EXEC, VM_GROWSDOWN, VM_READ, VM_SHARED, VM_WRITE } from "./mm_types.ts";
import { PF_USER, PF_WRITE, PTE_P, PTE_RW } from "./pgtable_types.ts";
import type { VmaOps } from "./vma.ts";

/** What population needs of the fault handler (memory.ts Memory implements it). */
export interface FaultIn {
  readonly vmas: VmaOps;
  /** handle_mm_fault: FAULT_OK, or why the page could not be had. */
  handleMmFault(mm: MmStruct, va: number, ec: number): number;
}

/**
 * MADV_POPULATE_READ / _WRITE: faults in every page of [start, end) that a
 * read (or write) would fault on. Returns FAULT_OK, or the first failure.
 */
export function populateChecked(fi: FaultIn, mm: MmStruct, start: number, end: number, access: "read" | "write"): number {
  const need = access === "write" ? PTE_P | PTE_RW : PTE_P;
  const ec = PF_USER | (access === "write" ? PF_WRITE : 0);
  for (let va = start; va < end; va += PAGE) {
    const ptep = mm.pt.lookup(va);
    if (ptep >= 0 && (mm.pt.pteFlags(ptep) & need) === need) continue;
    const r = fi.handleMmFault(mm, va, ec);
    if (r !== FAULT_OK) return r;
  }
  return FAULT_OK;
}

/**
 * MAP_POPULATE / MADV_POPULATE: faults every missing page of [start, end)
 * in, as a write when the VMA is writable. Stops quietly at the first
 * page that cannot be had: population never fails the call.
 */
export function populate(fi: FaultIn, mm: MmStruct, vma: number, start: number, end: number): void {
  const flags = fi.vmas.f.flags(vma);
  if (!(flags & (VM_READ | VM_WRITE | VM_EXEC))) return;
  // A shared file mapping is populated by reads (populate_vma_page_range writes only private memory): nothing is dirtied.
  const fileShared = flags & VM_SHARED && isFileObject(fi.vmas.f.shmem(vma));
  const ec = PF_USER | (flags & VM_WRITE && !fileShared ? PF_WRITE : 0);
  for (let va = start; va < end; va += PAGE) {
    const ptep = mm.pt.lookup(va);
    if (ptep >= 0 && !mm.pt.pteNone(ptep)) continue;
    if (fi.handleMmFault(mm, va, ec) !== FAULT_OK) return;
  }
}

/**
 * expand_stack: `va` lies below a grows-down VMA within RLIMIT_STACK and
 * clear of the guard gap above the previous mapping: the VMA grows down to
 * it (charged to commit). Returns the VMA, or 0 when it may not grow.
 */
export function expandStack(vmas: VmaOps, commit: CommitAccounting, mm: MmStruct, va: number): number {
  const f = vmas.f;
  const next = vmas.findVma(mm, va);
  if (next === 0 || !(f.flags(next) & VM_GROWSDOWN)) return 0;
  const start = va - (va % PAGE);
  const grow = (f.start(next) - start) / PAGE;
  if (f.end(next) - start > mm.rlimits.stack) return 0;
  if ((mm.totalVm + grow) * PAGE > mm.rlimits.as) return 0;
  // The guard gap keeps the stack off an accessible mapping below; a
  // PROT_NONE one (itself a guard) or another grows-down VMA may be met.
  const prev = vmas.prev(mm, next);
  if (prev !== 0 && start < f.end(prev)) return 0;
  if (
    prev !== 0 &&
    !(f.flags(prev) & VM_GROWSDOWN) &&
    f.flags(prev) & (VM_READ | VM_WRITE | VM_EXEC) &&
    start - STACK_GUARD_GAP < f.end(prev)
  )
    return 0;
  if (f.flags(next) & VM_ACCOUNT) {
    if (!commit.charge(grow)) return 0;
    mm.committed += grow;
  }
  vmas.setStart(mm, next, start);
  return next;
}
