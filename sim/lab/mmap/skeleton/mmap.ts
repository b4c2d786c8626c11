/**
 * mmap: your page-fault handler for file mappings. Read statement.md first.
 *
 * `fault` is { address, errorCode, vma, process, mm }; `k` is the kernel API
 * (walk, pteFlags, setPte, vmaIsFile, filePageIndex, filePage, mapFilePage,
 * putFilePage, allocUserPage, copyPage, vmaFlags, vmaAllows, vmaPteFlags,
 * FAULT_*, FILE_PAGE_SIGBUS, PAGE_SIZE, ...). `next(fault)` is memsim's own
 * handler: in this lab it refuses a fault on an empty entry of a file VMA.
 */
import type { PageFaultLayer } from "memsim";

// biome-ignore lint/correctness/noUnusedFunctionParameters: k is for the code you write
export const pageFault: PageFaultLayer = (fault, k, next) => {
  // TODO: when the fault is on an empty entry of a file VMA that allows the
  // access, get the file's page from the page cache (k.filePage) and either
  // map that page itself (k.mapFilePage: reads, and every access to a
  // MAP_SHARED mapping) or give a write to a MAP_PRIVATE mapping its own
  // copy (k.allocUserPage, k.copyPage, k.setPte), dropping the cache page's
  // reference (k.putFilePage). A page past the end of the file is SIGBUS.
  // Otherwise let next(fault) decide.
  return next(fault);
};
