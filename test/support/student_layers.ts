/**
 * Layers written in tests the way a student writes them in a lab, with the
 * kernel API `k` only: a lazy (demand-zero) page-fault handler, and wrong
 * versions of it and of fork's copy that the kernel must catch.
 */
import type { ForkCopyLayer, PageFaultLayer } from "../../sim/index.ts";

/**
 * The lazy-allocation lab: a fault on an empty entry of a private VMA that
 * allows the access gets a fresh zeroed frame, mapped with the VMA's
 * permissions. Everything else (COW writes, shared memory, stack growth,
 * refusals) goes to the default handler.
 */
export const lazyAlloc: PageFaultLayer = (fault, k, next) => {
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

/** Wrong: allocates and accounts the frame but never maps it, so the access faults again. */
export const lazyForgetsToMap: PageFaultLayer = (fault, k, next) => {
  const { mm, vma } = fault;
  if (vma === 0 || k.vmaFlags(vma) & k.VM_SHARED) return next(fault);
  if (k.allocUserPage(mm, vma) < 0) return k.FAULT_OOM;
  return k.FAULT_OK;
};

/** Wrong: maps the page to a frame it never allocated (the frame after the page table's). */
export const lazyWrongFrame: PageFaultLayer = (fault, k, next) => {
  const { mm, vma, address } = fault;
  if (vma === 0 || k.vmaFlags(vma) & k.VM_SHARED) return next(fault);
  const page = address - (address % k.PAGE_SIZE);
  const ptep = k.walk(mm, page, "alloc");
  if (ptep < 0) return k.FAULT_OOM;
  k.setPte(mm, page, ptep, Math.floor(ptep / k.PAGE_SIZE), k.vmaPteFlags(vma, "write"));
  return k.FAULT_OK;
};

/** Wrong: a use after free. Allocates the frame, frees it again (it goes back on a per-CPU list), then maps it. */
export const lazyMapsFreedFrame: PageFaultLayer = (fault, k, next) => {
  const { mm, vma, address } = fault;
  if (vma === 0 || k.vmaFlags(vma) & k.VM_SHARED) return next(fault);
  const page = address - (address % k.PAGE_SIZE);
  const ptep = k.walk(mm, page, "alloc");
  const pfn = k.allocUserPage(mm, vma);
  if (ptep < 0 || pfn < 0) return k.FAULT_OOM;
  k.putPage(mm, pfn);
  k.setPte(mm, page, ptep, pfn, k.vmaPteFlags(vma, "write"));
  return k.FAULT_OK;
};

/** Wrong COW: shares every private page read-only but forgets the child's reference (no k.getPage). */
export const cowForgetsRefcount: ForkCopyLayer = (c, k, next) => shareAll(c, k, next, "no-ref");

/** Wrong COW: counts the share but maps the parent's frame writable in the child. */
export const cowChildWritable: ForkCopyLayer = (c, k, next) => shareAll(c, k, next, "writable");

function shareAll(
  c: Parameters<ForkCopyLayer>[0],
  k: Parameters<ForkCopyLayer>[1],
  next: Parameters<ForkCopyLayer>[2],
  bug: "no-ref" | "writable",
): boolean {
  if (c.flags & k.VM_SHARED) return next(c);
  for (let va = c.start; va < c.end; va += k.PAGE_SIZE) {
    const from = k.walk(c.parent, va, "lookup");
    if (from < 0) continue;
    const flags = k.pteFlags(c.parent, from);
    if (!(flags & k.PTE_P) || flags & k.PTE_SPECIAL) continue;
    const pfn = k.ptePfn(c.parent, from);
    const ro = flags & ~k.PTE_RW;
    k.setPte(c.parent, va, from, pfn, ro);
    if (bug === "writable") k.getPage(c.child, pfn);
    if (k.mapPage(c.child, va, pfn, bug === "writable" ? flags : ro) < 0) return false;
  }
  return true;
}
