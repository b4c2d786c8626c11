/** Reference solution of the COW lab: the copy-on-write write fault, and fork sharing instead of copying. */
import type { ForkCopyLayer, PageFaultLayer } from "../../../kernel/lab_layers.ts";

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
  if (k.pageRef(old) === 1) {
    // The last reference: nobody else sees this frame any more, write it in place.
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

/** Pages one level-1 table maps (2 MiB): a missing table skips them all. */
const TABLE_SPAN = 512 * 4096;

/**
 * Fork's side (xv6's uvmcopy made copy-on-write): every present page of a
 * private VMA is shared with the child; a writable entry becomes read-only
 * with PTE_COW in both. The lab machine has no swap, so an entry that is
 * not present is an empty one.
 */
export const forkCopy: ForkCopyLayer = (c, k, next) => {
  if (c.flags & k.VM_SHARED) return next(c);
  for (let va = c.start; va < c.end; va += k.PAGE_SIZE) {
    const from = k.walk(c.parent, va, "lookup");
    if (from < 0) {
      va = va - (va % TABLE_SPAN) + TABLE_SPAN - k.PAGE_SIZE;
      continue;
    }
    let flags = k.pteFlags(c.parent, from);
    if (!(flags & k.PTE_P)) continue;
    const pfn = k.ptePfn(c.parent, from);
    if (!(flags & k.PTE_SPECIAL)) {
      if (flags & k.PTE_RW) {
        flags = (flags & ~k.PTE_RW) | k.PTE_COW;
        k.setPte(c.parent, va, from, pfn, flags);
      }
      k.getPage(c.child, pfn);
      k.clearAnonExclusive(pfn);
    }
    // The zero page (PTE_SPECIAL) is mapped as it is, never counted.
    if (k.mapPage(c.child, va, pfn, flags & ~k.PTE_A) < 0) {
      if (!(flags & k.PTE_SPECIAL)) k.putPage(c.child, pfn);
      return false;
    }
  }
  return true;
};
