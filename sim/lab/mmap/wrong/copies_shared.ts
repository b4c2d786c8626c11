/**
 * Wrong: xv6's first try at mmap without the munmap half. Every fault copies
 * the file's page into a page of the process's own, MAP_SHARED included, so
 * nothing written to a shared mapping ever reaches the file or another mapping.
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
  const copy = k.allocUserPage(mm, vma);
  if (copy >= 0) {
    k.copyPage(copy, pfn);
    k.setPte(mm, page, ptep, copy, k.vmaPteFlags(vma, "write"));
  }
  k.putFilePage(pfn);
  return copy < 0 ? k.FAULT_OOM : k.FAULT_OK;
};
