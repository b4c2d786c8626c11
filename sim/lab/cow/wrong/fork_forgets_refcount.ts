/**
 * Wrong (cow lab): fork maps the parent's frame in the child without k.getPage, so the
 * frame counts one reference for two mappings and is freed while the other
 * process still maps it.
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
        flags = (flags & ~k.PTE_RW) | k.PTE_COW;
        k.setPte(c.parent, va, from, pfn, flags);
      }
      // The mistake: no k.getPage(c.child, pfn) for the child's mapping.
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
