/**
 * xv6's uvmcopy as a forkCopy layer: fork copies the address space eagerly.
 * Every present page of a private VMA gets a frame of its own in the child,
 * with the parent's bytes and the parent's entry flags (writable where the
 * parent's is); nothing is shared, so no write ever copies later. Shared
 * VMAs keep memsim's own copy (their pages come from the shared object).
 * Written as a student would, with the kernel API `k` only.
 */
import type { ForkCopyLayer } from "../lab_layers.ts";

/** Pages one level-1 table maps (2 MiB): a missing table skips them all. */
const TABLE_SPAN = 512 * 4096;

/** The eager fork copy (xv6 kernel/vm.c uvmcopy). Returns false when a frame or table runs out. */
export const uvmcopy: ForkCopyLayer = (c, k, next) => {
  if (c.flags & k.VM_SHARED) return next(c);
  for (let va = c.start; va < c.end; va += k.PAGE_SIZE) {
    const from = k.walk(c.parent, va, "lookup");
    if (from < 0) {
      va = va - (va % TABLE_SPAN) + TABLE_SPAN - k.PAGE_SIZE;
      continue;
    }
    const flags = k.pteFlags(c.parent, from);
    if (!(flags & k.PTE_P)) continue;
    const src = k.ptePfn(c.parent, from);
    if (flags & k.PTE_SPECIAL) {
      // The shared zero page: mapped as it is, never copied or counted.
      if (k.mapPage(c.child, va, src, flags) < 0) return false;
      continue;
    }
    const pfn = k.allocUserPage(c.child, 0);
    if (pfn < 0) return false;
    k.copyPage(pfn, src);
    if (k.mapPage(c.child, va, pfn, flags) < 0) {
      k.putPage(c.child, pfn);
      return false;
    }
  }
  return true;
};
