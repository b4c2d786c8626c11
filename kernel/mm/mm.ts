/**
 * mm_struct: one address space. It owns its VMAs (slab objects in RAM,
 * indexed by a VmaTree), its page table, the brk and stack bounds, and the
 * counters /proc/PID/status shows. The process layer owns the mm; the
 * syscalls in mmap.ts, mprotect.ts, madvise.ts and mremap.ts change it.
 *
 * Layout of a user address space (no randomisation, like a run with
 * ASLR off):
 *
 *   0x7ffffffff000  STACK_TOP: [stack] grows down from here (132 KiB at start)
 *   0x7ffff7fff000  mmap_base = STACK_TOP - max(128 MiB, RLIMIT_STACK + guard)
 *        ...        mmap areas, placed top-down below mmap_base
 *   0x555555559000  start_brk: [heap] grows up from here
 *   0x000000010000  mmap_min_addr: nothing may be mapped below
 */
import type { PageTable } from "./pgtable.ts";
import { VmaTree } from "./vma_tree.ts";

export const PAGE = 4096;
/** Top of the user stack and of mappable user space on x86-64 (an mm's own is `mm.stackTop`). */
export const STACK_TOP = 2 ** 47 - PAGE;

/** The size of a user address space (the MMU geometry's, pgtable_geometry.ts). */
export interface UserSpace {
  /** TASK_SIZE: the user space ends here (exclusive). */
  readonly taskSize: number;
  /** Where the heap starts. */
  readonly startBrk: number;
}

/** x86-64's user space. */
export const X86_64_SPACE: UserSpace = { taskSize: 2 ** 47, startBrk: 0x555555559000 }; // START_BRK
/** Pages of the stack VMA a new process starts with. */
export const INITIAL_STACK_PAGES = 33;
/** Where the heap starts. */
export const START_BRK = 0x555555559000;
/** vm.mmap_min_addr. */
export const MMAP_MIN_ADDR = 65536;
/** stack_guard_gap: 256 pages. */
export const STACK_GUARD_GAP = 256 * PAGE;
/** RLIM_INFINITY. */
export const RLIM_INFINITY = Number.POSITIVE_INFINITY;

/** Resource limits in bytes (soft values). */
export interface Rlimits {
  data: number;
  as: number;
  stack: number;
  memlock: number;
}

/** Linux's defaults: RLIMIT_STACK 8 MiB, the rest unlimited (memlock 8 MiB). */
export function defaultRlimits(): Rlimits {
  return { data: RLIM_INFINITY, as: RLIM_INFINITY, stack: 8 << 20, memlock: 8 << 20 };
}

/** mmap_base(): below the stack top by its rlimit plus guard, clamped to [128 MiB, 5/6 of the space]. */
export function mmapBase(rlimitStack: number, stackTop = STACK_TOP): number {
  let gap = Math.min(rlimitStack, 2 ** 46) + STACK_GUARD_GAP;
  gap = Math.max(gap, 128 << 20);
  gap = Math.min(gap, Math.floor(stackTop / 6) * 5);
  return Math.ceil((stackTop - gap) / PAGE) * PAGE;
}

/** One address space. */
export class MmStruct {
  readonly tree = new VmaTree();
  /** Top of the stack and of mappable space: TASK_SIZE - PAGE. */
  readonly stackTop: number;
  startBrk: number;
  brk: number;
  startStack: number;
  mmapBase: number;
  /** Pages in all VMAs (VmSize). */
  totalVm = 0;
  /** Pages in private writable, non-stack VMAs (VmData). */
  dataVm = 0;
  /** Pages in stack VMAs (VmStk). */
  stackVm = 0;
  /** Pages in executable VMAs (VmExe, here any VM_EXEC). */
  execVm = 0;
  /** Pages charged to commit on behalf of this mm's VMAs. */
  committed = 0;
  /** Resident anonymous pages (RssAnon) and shared-anonymous pages (RssShmem). */
  rssAnon = 0;
  rssShmem = 0;
  /** Resident page-cache pages mapped by file VMAs (RssFile). */
  rssFile = 0;
  /** Swap entries in this address space's page table (MM_SWAPENTS, VmSwap). */
  swapEnts = 0;
  hiwaterRss = 0;
  hiwaterVm = 0;
  /** def_flags: VMA flags every new mapping gets (mlockall(MCL_FUTURE) sets VM_LOCKED here; mlock.ts). */
  defFlags = 0;
  /**
   * The task memory policy (set_mempolicy; a mempolicy.ts word, 0 for
   * MPOL_DEFAULT). Linux keeps it per thread; memsim per address space,
   * shared by its threads and copied by fork.
   */
  mempolicy = 0;
  /** mm_users: the threads sharing this address space (kernel/thread.ts); it is torn down with the last. */
  users = 1;
  /** The memory cgroup new anonymous pages of this mm are charged to (0 = the root: none; memcontrol.ts). */
  memcg = 0;
  /** This address space's page table (set when the mm is made). */
  pt!: PageTable;

  constructor(
    /** Small integer naming this mm (stored in its VMAs). */
    readonly id: number,
    readonly rlimits: Rlimits,
    /** The size of the address space: the boot geometry's (x86-64 when absent). */
    space: UserSpace = X86_64_SPACE,
  ) {
    this.stackTop = space.taskSize - PAGE;
    this.startBrk = space.startBrk;
    this.brk = space.startBrk;
    this.startStack = this.stackTop - 0x1000 + 0xfe0;
    this.mmapBase = mmapBase(rlimits.stack, this.stackTop);
  }

  /** map_count: the number of VMAs. */
  get mapCount(): number {
    return this.tree.size;
  }

  /** Updates the high-water marks after RSS or VM size grew. */
  updateHiwater(): void {
    const rss = this.rssAnon + this.rssShmem + this.rssFile;
    if (rss > this.hiwaterRss) this.hiwaterRss = rss;
    if (this.totalVm > this.hiwaterVm) this.hiwaterVm = this.totalVm;
  }
}
