/**
 * Commit accounting (Linux mm/util.c __vm_enough_memory and the
 * vm.overcommit_* sysctls): how much private memory the kernel has promised,
 * and whether it may promise more.
 *
 * Words: "charge" = add pages to Committed_AS when a mapping that could need
 * them is made (private writable, brk, stack growth, shared anonymous,
 * mprotect to writable, mremap growth); "uncharge" = give them back (munmap,
 * brk shrink, mremap shrink, exit). Faults never charge: the promise was made
 * at map time, so a fault can only fail for lack of frames, not of commit.
 */
import { ENOMEM } from "../errno.ts";
import { type KernelEvents, NO_EVENTS } from "../events.ts";
import { EV_VM_ENOUGH_MEMORY, EV_VM_UNACCT_MEMORY } from "../events_types.ts";

/** vm.overcommit_memory values. */
export const OVERCOMMIT_GUESS = 0;
export const OVERCOMMIT_ALWAYS = 1;
export const OVERCOMMIT_NEVER = 2;

/** The machine-wide commit state. */
export class CommitAccounting {
  /** Committed_AS in pages. */
  committed = 0;
  /** Requests refused since boot. */
  refused = 0;

  constructor(
    /** 0 heuristic, 1 always, 2 never. */
    readonly mode: number,
    /** vm.overcommit_ratio, percent. */
    readonly ratio: number,
    /** Usable RAM pages (MemTotal). */
    private readonly totalRamPages: () => number,
    /** Swap pages. */
    readonly swapPages: number,
    /** The machine's event bus (vm_enough_memory, vm_unacct_memory). */
    readonly ev: KernelEvents = NO_EVENTS,
  ) {}

  /** CommitLimit in pages: RAM * ratio / 100 + swap. */
  commitLimit(): number {
    return Math.floor((this.totalRamPages() * this.ratio) / 100) + this.swapPages;
  }

  /**
   * __vm_enough_memory: charges `pages` when the policy allows it.
   * Returns false (and charges nothing) when mode 2 would pass CommitLimit,
   * or mode 0 sees a single request larger than RAM plus swap.
   */
  charge(pages: number): boolean {
    if (pages <= 0) return true;
    if (this.mode === OVERCOMMIT_GUESS && pages > this.totalRamPages() + this.swapPages) {
      this.refused++;
      if (this.ev.active[EV_VM_ENOUGH_MEMORY] !== 0) this.ev.vmEnoughMemory(pages, -ENOMEM, this.committed);
      return false;
    }
    if (this.mode === OVERCOMMIT_NEVER && this.committed + pages > this.commitLimit()) {
      this.refused++;
      if (this.ev.active[EV_VM_ENOUGH_MEMORY] !== 0) this.ev.vmEnoughMemory(pages, -ENOMEM, this.committed);
      return false;
    }
    this.committed += pages;
    if (this.ev.active[EV_VM_ENOUGH_MEMORY] !== 0) this.ev.vmEnoughMemory(pages, 0, this.committed);
    return true;
  }

  /** vm_unacct_memory: gives `pages` back. */
  uncharge(pages: number): void {
    this.committed -= pages;
    if (this.ev.active[EV_VM_UNACCT_MEMORY] !== 0 && pages !== 0) this.ev.vmUnacctMemory(pages, this.committed);
  }
}
