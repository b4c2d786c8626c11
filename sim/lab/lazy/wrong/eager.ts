/** Wrong (lazy lab): the first fault in a VMA maps every page of it, so sbrk is eager again after one touch. */
import type { PageFaultLayer } from "../../../../kernel/lab_layers.ts";

export const pageFault: PageFaultLayer = (fault, k, next) => {
  const { mm, vma } = fault;
  if (vma === 0 || k.vmaFlags(vma) & k.VM_SHARED || !k.vmaAllows(vma, fault.errorCode)) return next(fault);
  let mapped = false;
  for (let va = k.vmaStart(vma); va < k.vmaEnd(vma); va += k.PAGE_SIZE) {
    const ptep = k.walk(mm, va, "alloc");
    if (ptep < 0) return k.FAULT_OOM;
    if (k.pteFlags(mm, ptep) !== 0) continue;
    const pfn = k.allocUserPage(mm, vma);
    if (pfn < 0) return k.FAULT_OOM;
    k.setPte(mm, va, ptep, pfn, k.vmaPteFlags(vma, "write"));
    mapped = true;
  }
  return mapped ? k.FAULT_OK : next(fault);
};
