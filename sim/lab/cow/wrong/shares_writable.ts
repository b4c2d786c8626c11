/** Wrong (COW lab): makes the shared frame writable in place, without asking who else references it. */
import type { PageFaultLayer } from "../../../../kernel/lab_layers.ts";

// Fork's side is right: the mistake is in the write fault.
export { forkCopy } from "../solution.ts";

export const pageFault: PageFaultLayer = (fault, k, next) => {
  const { mm, vma, address } = fault;
  if (vma === 0 || !(fault.errorCode & k.PF_WRITE) || !k.vmaAllows(vma, fault.errorCode)) return next(fault);
  const page = address - (address % k.PAGE_SIZE);
  const ptep = k.walk(mm, page, "lookup");
  if (ptep < 0) return next(fault);
  const flags = k.pteFlags(mm, ptep);
  if (!(flags & k.PTE_P) || !(flags & k.PTE_COW)) return next(fault);
  const old = k.ptePfn(mm, ptep);
  const writable = k.vmaPteFlags(vma, "write");
  if (k.pageRef(old) >= 1) {
    k.setPte(mm, page, ptep, old, writable);
    return k.FAULT_OK;
  }
  const pfn = k.allocUserPage(mm, vma);
  if (pfn < 0) return k.FAULT_OOM;
  k.copyPage(pfn, old);
  k.setPte(mm, page, ptep, pfn, writable);
  k.putPage(mm, old);
  return k.FAULT_OK;
};
