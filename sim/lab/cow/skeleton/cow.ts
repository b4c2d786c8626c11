/**
 * Copy-on-write fork: your write-fault handler. Read statement.md first.
 *
 * After fork, parent and child share every private page read-only, with
 * k.PTE_COW set in the entry and one reference per process on the frame.
 * `next(fault)` is memsim's own handler: in this lab it refuses a write to
 * an entry marked k.PTE_COW.
 */
import type { PageFaultLayer } from "memsim";

// biome-ignore lint/correctness/noUnusedFunctionParameters: k is for the code you write
export const pageFault: PageFaultLayer = (fault, k, next) => {
  // TODO: on a write the VMA allows to a present entry marked k.PTE_COW, give
  // the process a writable page with the same bytes: its own copy while
  // others still reference the frame (k.pageRef), the frame itself when it
  // holds the last reference. Drop the reference the copy replaces.
  return next(fault);
};
