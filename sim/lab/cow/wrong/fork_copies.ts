/**
 * Wrong (cow lab): fork copies every page (xv6's uvmcopy before the lab)
 * instead of sharing it: correct, but a fork costs a frame per page, so a
 * parent holding over half of memory cannot fork at all.
 */
import type { ForkCopyLayer } from "../../../../kernel/lab_layers.ts";

// The write fault is right: the mistake is in fork's side.
export { pageFault } from "../solution.ts";

/** Pages one level-1 table maps (2 MiB): a missing table skips them all. */
const TABLE_SPAN = 512 * 4096;

export const forkCopy: ForkCopyLayer = (c, k, next) => {
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
      if (k.mapPage(c.child, va, src, flags) < 0) return false;
      continue;
    }
    // The mistake: a new frame and a copy for every page.
    const pfn = k.allocUserPage(c.child, c.vma);
    if (pfn < 0) return false;
    k.copyPage(pfn, src);
    if (k.mapPage(c.child, va, pfn, flags) < 0) {
      k.putPage(c.child, pfn);
      return false;
    }
  }
  return true;
};
