/**
 * Wrong: takes every failure of k.filePage for a lack of memory, so a page
 * past the end of the file kills the process with SIGKILL instead of SIGBUS.
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
  if (pfn < 0) return k.FAULT_OOM;
  const write = (fault.errorCode & k.PF_WRITE) !== 0;
  if (!write || k.vmaFlags(vma) & k.VM_SHARED) return k.mapFilePage(mm, vma, page, ptep, pfn, write ? "write" : "read");
  const copy = k.allocUserPage(mm, vma);
  if (copy >= 0) {
    k.copyPage(copy, pfn);
    k.setPte(mm, page, ptep, copy, k.vmaPteFlags(vma, "write"));
  }
  k.putFilePage(pfn);
  return copy < 0 ? k.FAULT_OOM : k.FAULT_OK;
};
