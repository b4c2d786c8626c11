/** Wrong (lazy lab): never asks whether the address is in a VMA (xv6: no `va >= p->sz` test), so a wild access gets a page. */
import type { PageFaultLayer } from "../../../../kernel/lab_layers.ts";

export const pageFault: PageFaultLayer = (fault, k, next) => {
  const { mm, vma, address } = fault;
  if (vma !== 0 && (k.vmaFlags(vma) & k.VM_SHARED || !k.vmaAllows(vma, fault.errorCode))) return next(fault);
  const page = address - (address % k.PAGE_SIZE);
  const ptep = k.walk(mm, page, "alloc");
  if (ptep < 0) return k.FAULT_OOM;
  if (k.pteFlags(mm, ptep) !== 0) return next(fault);
  const pfn = k.allocUserPage(mm, vma);
  if (pfn < 0) return k.FAULT_OOM;
  k.setPte(mm, page, ptep, pfn, k.PTE_P | k.PTE_RW | k.PTE_US | k.PTE_A | k.PTE_D);
  return k.FAULT_OK;
};
