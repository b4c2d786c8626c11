/**
 * Wrong (pgtbl lab): the USYSCALL page is mapped writable (VM_WRITE and a
 * writable entry), so a process can overwrite the pid the kernel gave it.
 */
import type { LabTask } from "../../../../kernel/lab_layers.ts";
import type { KernelApi } from "../../../../kernel/mm/lab_api.ts";
import { USYSCALL } from "../solution.ts";

// pgaccess and vmprint are right: the mistake is in usyscall.
export { pgaccess, USYSCALL, vmprint } from "../solution.ts";

export function usyscall(p: LabTask, k: KernelApi): void {
  const flags = k.VM_READ | k.VM_WRITE | k.VM_MAYREAD | k.VM_MAYWRITE | k.VM_DONTCOPY;
  const vma = k.insertVma(p.mm, USYSCALL, USYSCALL + k.PAGE_SIZE, flags, "[usyscall]");
  if (vma === 0) throw new Error(`usyscall: no VMA for pid ${p.pid}`);
  const pfn = k.allocUserPage(p.mm, vma);
  if (pfn < 0) throw new Error(`usyscall: no frame for pid ${p.pid}`);
  for (let i = 0; i < 4; i++) k.write8(pfn * k.PAGE_SIZE + i, (p.pid >>> (8 * i)) & 0xff);
  if (k.mapPage(p.mm, USYSCALL, pfn, k.vmaPteFlags(vma, "write")) < 0) {
    k.putPage(p.mm, pfn);
    throw new Error(`usyscall: no page table for pid ${p.pid}`);
  }
}
