/**
 * Wrong (cow lab): fork write-protects the child's entry but leaves the parent's
 * writable, so the parent's writes reach the child.
 */
import type { ForkCopyLayer } from "../../../../kernel/lab_layers.ts";

// The write fault is right: the mistake is in fork's side.
export { pageFault } from "../solution.ts";

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
        // The mistake: only the child's copy of the entry is write-protected.
        flags = (flags & ~k.PTE_RW) | k.PTE_COW;
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
