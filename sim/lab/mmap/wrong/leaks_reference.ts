/**
 * Wrong: the private copy is right, but the reference k.filePage took on the
 * cache page is never dropped, so that page can never be freed.
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
  const write = (fault.errorCode & k.PF_WRITE) !== 0;
  if (!write || k.vmaFlags(vma) & k.VM_SHARED) return k.mapFilePage(mm, vma, page, ptep, pfn, write ? "write" : "read");
  const copy = k.allocUserPage(mm, vma);
  if (copy < 0) return k.FAULT_OOM;
  k.copyPage(copy, pfn);
  k.setPte(mm, page, ptep, copy, k.vmaPteFlags(vma, "write"));
  return k.FAULT_OK;
};
