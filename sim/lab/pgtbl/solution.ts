/** Reference solution of the pgtbl lab: pgaccess, vmprint and the USYSCALL page (ugetpid), with `k` only. */

import type { LabTask } from "../../../kernel/lab_layers.ts";
import type { KernelApi } from "../../../kernel/mm/lab_api.ts";
import type { MmStruct } from "../../../kernel/mm/mm.ts";

/** Where the USYSCALL page lives (xv6's place, below its trampoline and trapframe). */
export const USYSCALL = 0x3f_ffff_d000;

export function pgaccess(k: KernelApi, mm: MmStruct, va: number, n: number): number {
  let mask = 0;
  for (let i = 0; i < n; i++) {
    const page = va + i * k.PAGE_SIZE;
    const ptep = k.walk(mm, page, "lookup");
    if (ptep < 0) continue;
    const flags = k.pteFlags(mm, ptep);
    if (!(flags & k.PTE_P) || !(flags & k.PTE_A)) continue;
    mask |= 1 << i;
    k.setPte(mm, page, ptep, k.ptePfn(mm, ptep), flags & ~k.PTE_A);
  }
  return mask >>> 0;
}

function hex16(hi: number, lo: number): string {
  return `0x${(hi >>> 0).toString(16).padStart(8, "0")}${(lo >>> 0).toString(16).padStart(8, "0")}`;
}

function printTable(k: KernelApi, mm: MmStruct, table: number, level: number, out: string[]): void {
  const dots = " ..".repeat(k.levels(mm) + 1 - level);
  for (let i = 0; i < k.PTRS_PER_TABLE; i++) {
    const ptep = k.tableEntry(mm, table, i);
    const lo = k.pteLo(mm, ptep);
    const hi = k.pteHi(mm, ptep);
    if ((lo | hi) === 0) continue;
    const pfn = k.ptePfn(mm, ptep);
    out.push(`${dots}${i}: pte ${hex16(hi, lo)} pa 0x${(pfn * k.PAGE_SIZE).toString(16).padStart(16, "0")}`);
    const flags = k.pteFlags(mm, ptep);
    if (level > 1 && flags & k.PTE_P && !(flags & k.PTE_PS)) printTable(k, mm, pfn, level - 1, out);
  }
}

export function vmprint(k: KernelApi, mm: MmStruct): string {
  const root = k.pgd(mm);
  const out = [`page table 0x${(root * k.PAGE_SIZE).toString(16).padStart(16, "0")}`];
  printTable(k, mm, root, k.levels(mm), out);
  return `${out.join("\n")}\n`;
}

export function usyscall(p: LabTask, k: KernelApi): void {
  const vma = k.insertVma(p.mm, USYSCALL, USYSCALL + k.PAGE_SIZE, k.VM_READ | k.VM_MAYREAD | k.VM_DONTCOPY, "[usyscall]");
  if (vma === 0) throw new Error(`usyscall: no VMA for pid ${p.pid}`);
  const pfn = k.allocUserPage(p.mm, vma);
  if (pfn < 0) throw new Error(`usyscall: no frame for pid ${p.pid}`);
  for (let i = 0; i < 4; i++) k.write8(pfn * k.PAGE_SIZE + i, (p.pid >>> (8 * i)) & 0xff);
  if (k.mapPage(p.mm, USYSCALL, pfn, k.vmaPteFlags(vma, "read")) < 0) {
    k.putPage(p.mm, pfn);
    throw new Error(`usyscall: no page table for pid ${p.pid}`);
  }
}
