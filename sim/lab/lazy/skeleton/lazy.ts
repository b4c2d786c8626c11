/**
 * Lazy allocation: your page-fault handler. Read statement.md first.
 *
 * `fault` is { address, errorCode, vma, process, mm }; `k` is the kernel API
 * (walk, pteFlags, setPte, allocUserPage, findVma, vmaAllows, vmaPteFlags,
 * vmaFlags, FAULT_*, PAGE_SIZE, ...). `next(fault)` is memsim's own handler:
 * in this lab it refuses a fault on an empty entry of a private mapping.
 */
import type { PageFaultLayer } from "memsim";

// biome-ignore lint/correctness/noUnusedFunctionParameters: k is for the code you write
export const pageFault: PageFaultLayer = (fault, k, next) => {
  // TODO: when the fault is on an empty entry of a private VMA that allows the
  // access, allocate a zeroed frame for the page and map it; otherwise let
  // next(fault) decide. Return k.FAULT_OK when the access can be retried.
  return next(fault);
};
