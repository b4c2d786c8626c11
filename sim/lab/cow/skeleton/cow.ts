/**
 * Copy-on-write fork: fork's side and the write fault. Read statement.md first.
 *
 * `forkCopy` is called for every VMA fork copies into the child; `next(copy)`
 * is memsim's own copy, which in this lab copies shared VMAs only.
 * `pageFault` is called for every user page fault; `next(fault)` is memsim's
 * own handler, which in this lab refuses a write to an entry marked k.PTE_COW.
 */
import type { ForkCopyLayer, PageFaultLayer } from "memsim";

export const forkCopy: ForkCopyLayer = (copy, k, next) => {
  if (copy.flags & k.VM_SHARED) return next(copy);
  // TODO: for each present page of copy.parent in [copy.start, copy.end),
  // map the same frame in copy.child instead of copying it: write-protect a
  // writable entry in both (without k.PTE_RW, with k.PTE_COW), count the
  // child's reference (k.getPage) and mark the frame shared
  // (k.clearAnonExclusive). Return false when a table cannot be had.
  return true;
};

// biome-ignore lint/correctness/noUnusedFunctionParameters: k is for the code you write
export const pageFault: PageFaultLayer = (fault, k, next) => {
  // TODO: on a write the VMA allows to a present entry marked k.PTE_COW, give
  // the process a writable page with the same bytes: its own copy while
  // others still reference the frame (k.pageRef), the frame itself when it
  // holds the last reference. Drop the reference the copy replaces.
  return next(fault);
};
