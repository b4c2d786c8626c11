/**
 * checkVmalloc: recounts the vmalloc layer from scratch: the area index, the
 * area objects, the kernel page table over the vmalloc range, and the pages.
 *
 * IDs:
 *   VMALLOC-1 the index is broken, or an area object disagrees with it
 *             (magic, bounds, alignment, outside the vmalloc range)
 *   VMALLOC-2 a page of an area is not mapped, a vmalloc area's page is not
 *             PG_vmalloc, or a guard page is mapped
 *   VMALLOC-3 a leaf in the vmalloc range belongs to no area
 *   VMALLOC-4 VmallocUsed disagrees with the areas or with PG_vmalloc frames
 */
import { invariant } from "../panic.ts";
import { PG_vmalloc } from "./memmap.ts";
import type { PteVisitor } from "./pgtable_range.ts";
import { PTE_P } from "./pgtable_types.ts";
import { formatVa, PAGE_SIZE, VMALLOC_END, VMALLOC_START } from "./types.ts";
import type { Vmalloc } from "./vmalloc.ts";
import { VM_ALLOC, VMAP_AREA_MAGIC } from "./vmap_area.ts";

/** Throws InvariantViolation (VMALLOC-n) at the first broken invariant. */
export function checkVmalloc(v: Vmalloc): void {
  const problem = v.tree.validate();
  invariant(problem === null, "VMALLOC-1", `area index: ${problem}`);
  let pages = 0;
  v.tree.forEach((n) => {
    pages += checkArea(v, v.tree.start(n), v.tree.end(n), v.tree.value(n));
  });
  const pt = v.d.initMm;
  const stray: PteVisitor = {
    visitPte(va) {
      const n = v.tree.lookup(va);
      invariant(n >= 0 && va < v.tree.end(n) - PAGE_SIZE, "VMALLOC-3", `leaf at ${formatVa(va)} belongs to no vmalloc area`);
    },
  };
  pt.walkRange(VMALLOC_START, VMALLOC_END, stray);
  invariant(
    pages + v.leakedPages === v.nrVmallocPages,
    "VMALLOC-4",
    `areas hold ${pages} pages (+${v.leakedPages} leaked by vunmap), VmallocUsed counts ${v.nrVmallocPages}`,
  );
  const mm = v.d.memmap;
  let marked = 0;
  for (let pfn = 0; pfn < mm.nrPages; pfn++) if (mm.testFlag(pfn, PG_vmalloc)) marked++;
  invariant(marked === v.nrVmallocPages, "VMALLOC-4", `${marked} frames are PG_vmalloc, VmallocUsed counts ${v.nrVmallocPages}`);
}

/** Checks one area; returns the vmalloc pages it holds. */
function checkArea(v: Vmalloc, start: number, end: number, area: number): number {
  const f = v.fields;
  const where = `area ${formatVa(start)}-${formatVa(end)}`;
  invariant(f.magic(area) === VMAP_AREA_MAGIC, "VMALLOC-1", `${where}: object ${formatVa(area)} has magic 0x${f.magic(area).toString(16)}`);
  invariant(
    f.start(area) === start && f.end(area) === end,
    "VMALLOC-1",
    `${where}: object says ${formatVa(f.start(area))}-${formatVa(f.end(area))}`,
  );
  invariant(
    start % PAGE_SIZE === 0 && end % PAGE_SIZE === 0 && start >= VMALLOC_START && end <= VMALLOC_END && end - start >= 2 * PAGE_SIZE,
    "VMALLOC-1",
    `${where}: misaligned, too small or outside the vmalloc range`,
  );
  const pt = v.d.initMm;
  const alloc = (f.flags(area) & VM_ALLOC) !== 0;
  const mapped = (end - start) / PAGE_SIZE - 1;
  invariant(!alloc || f.nrPages(area) === mapped, "VMALLOC-1", `${where}: nr_pages ${f.nrPages(area)} for ${mapped} mapped pages`);
  for (let va = start; va < end - PAGE_SIZE; va += PAGE_SIZE) {
    const ptep = pt.lookup(va);
    invariant(ptep >= 0 && (pt.pteFlags(ptep) & PTE_P) !== 0, "VMALLOC-2", `${where}: page ${formatVa(va)} is not mapped`);
    const pfn = pt.ptePfn(ptep);
    invariant(
      !alloc || v.d.memmap.testFlag(pfn, PG_vmalloc),
      "VMALLOC-2",
      `${where}: frame 0x${pfn.toString(16)} at ${formatVa(va)} is not PG_vmalloc`,
    );
  }
  const guard = pt.lookup(end - PAGE_SIZE);
  invariant(guard < 0 || pt.pteNone(guard), "VMALLOC-2", `${where}: guard page ${formatVa(end - PAGE_SIZE)} is mapped`);
  return alloc ? mapped : 0;
}
