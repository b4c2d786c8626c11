/** Wrong (pgtbl lab): masks with PTE_A instead of ~PTE_A, so clearing the bit wipes the entry. */
import type { KernelApi } from "../../../../kernel/mm/lab_api.ts";
import type { MmStruct } from "../../../../kernel/mm/mm.ts";

// vmprint and usyscall are right: the mistake is in pgaccess.
export { USYSCALL, usyscall, vmprint } from "../solution.ts";

export function pgaccess(k: KernelApi, mm: MmStruct, va: number, n: number): number {
  let mask = 0;
  for (let i = 0; i < n; i++) {
    const page = va + i * k.PAGE_SIZE;
    const ptep = k.walk(mm, page, "lookup");
    if (ptep < 0) continue;
    const flags = k.pteFlags(mm, ptep);
    if (!(flags & k.PTE_P) || !(flags & k.PTE_A)) continue;
    mask |= 1 << i;
    k.setPte(mm, page, ptep, k.ptePfn(mm, ptep), flags & k.PTE_A);
  }
  return mask >>> 0;
}
