/**
 * Wrong (pgtbl lab): xv6's way, a frame mapped with k.mapPage alone and no
 * VMA. In memsim every user page belongs to a VMA: the page is outside all
 * of them, so the kernel's checker flags it, maps does not show it, and a
 * write is a fault on an address with no mapping (SEGV_MAPERR).
 */
import type { LabTask } from "../../../../kernel/lab_layers.ts";
import type { KernelApi } from "../../../../kernel/mm/lab_api.ts";
import { USYSCALL } from "../solution.ts";

// pgaccess and vmprint are right: the mistake is in usyscall.
export { pgaccess, USYSCALL, vmprint } from "../solution.ts";

export function usyscall(p: LabTask, k: KernelApi): void {
  const pfn = k.allocUserPage(p.mm, 0);
  if (pfn < 0) throw new Error(`usyscall: no frame for pid ${p.pid}`);
  for (let i = 0; i < 4; i++) k.write8(pfn * k.PAGE_SIZE + i, (p.pid >>> (8 * i)) & 0xff);
  if (k.mapPage(p.mm, USYSCALL, pfn, k.PTE_P | k.PTE_US | k.PTE_A) < 0) {
    k.putPage(p.mm, pfn);
    throw new Error(`usyscall: no page table for pid ${p.pid}`);
  }
}
