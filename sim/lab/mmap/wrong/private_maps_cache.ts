/**
 * Wrong: maps the page-cache page for every fault, a write to a MAP_PRIVATE
 * mapping included, so the process's private writes leak into the file.
 */
import type { PageFaultLayer } from "../../../../kernel/lab_layers.ts";

export const pageFault: PageFaultLayer = (fault, k, next) => {
  const { mm, vma, address } = fault;
  if (vma === 0 || !k.vmaIsFile(vma) || !k.vmaAllows(vma, fault.errorCode)) return next(fault);
  const page = address - (address % k.PAGE_SIZE);
  const ptep = k.walk(mm, page, "alloc");
  if (ptep < 0) return k.FAULT_OOM;
  if (k.pteFlags(mm, ptep) !== 0) return next(fault);
  const pfn = k.filePage(vma, k.filePageIndex(vma, page));
  if (pfn === k.FILE_PAGE_SIGBUS) return k.FAULT_SIGBUS;
  if (pfn < 0) return k.FAULT_OOM;
  return k.mapFilePage(mm, vma, page, ptep, pfn, fault.errorCode & k.PF_WRITE ? "write" : "read");
};
