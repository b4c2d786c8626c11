/** Wrong (COW lab): handles every write fault on a present entry, COW or not, allowed or not, and maps the copy with hard-coded writable flags. */
import type { PageFaultLayer } from "../../../../kernel/lab_layers.ts";

// Fork's side is right: the mistake is in the write fault.
export { forkCopy } from "../solution.ts";

export const pageFault: PageFaultLayer = (fault, k, next) => {
  const { mm, vma, address } = fault;
  if (vma === 0 || !(fault.errorCode & k.PF_WRITE)) return next(fault);
  const page = address - (address % k.PAGE_SIZE);
  const ptep = k.walk(mm, page, "lookup");
  if (ptep < 0) return next(fault);
  const flags = k.pteFlags(mm, ptep);
  if (!(flags & k.PTE_P)) return next(fault);
  const old = k.ptePfn(mm, ptep);
  const writable = k.PTE_P | k.PTE_RW | k.PTE_US | k.PTE_A | k.PTE_D;
  if (!(flags & k.PTE_SPECIAL) && k.pageRef(old) === 1) {
    k.setPte(mm, page, ptep, old, writable);
    return k.FAULT_OK;
  }
  const pfn = k.allocUserPage(mm, vma);
  if (pfn < 0) return k.FAULT_OOM;
  k.copyPage(pfn, old);
  k.setPte(mm, page, ptep, pfn, writable);
  if (!(flags & k.PTE_SPECIAL)) k.putPage(mm, old);
  return k.FAULT_OK;
};
