/** Reference solution of the lazy lab: demand-zero pages for private VMAs. */
import type { PageFaultLayer } from "../../../kernel/lab_layers.ts";

export const pageFault: PageFaultLayer = (fault, k, next) => {
  const { mm, vma, address } = fault;
  if (vma === 0 || k.vmaFlags(vma) & k.VM_SHARED || !k.vmaAllows(vma, fault.errorCode)) return next(fault);
  const page = address - (address % k.PAGE_SIZE);
  const ptep = k.walk(mm, page, "alloc");
  if (ptep < 0) return k.FAULT_OOM;
  if (k.pteFlags(mm, ptep) !== 0) return next(fault);
  const pfn = k.allocUserPage(mm, vma);
  if (pfn < 0) return k.FAULT_OOM;
  k.setPte(mm, page, ptep, pfn, k.vmaPteFlags(vma, "write"));
  return k.FAULT_OK;
};
