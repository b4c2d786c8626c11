/**
 * Wrong (pgtbl lab): vmprint returns from a table as soon as it has printed
 * the first table below it, so only the first branch of each level shows.
 */
import type { KernelApi } from "../../../../kernel/mm/lab_api.ts";
import type { MmStruct } from "../../../../kernel/mm/mm.ts";

// pgaccess and usyscall are right: the mistake is in vmprint.
export { pgaccess, USYSCALL, usyscall } from "../solution.ts";

function hex16(hi: number, lo: number): string {
  return `0x${(hi >>> 0).toString(16).padStart(8, "0")}${(lo >>> 0).toString(16).padStart(8, "0")}`;
}

function printTable(k: KernelApi, mm: MmStruct, table: number, level: number, out: string[]): void {
  const dots = " ..".repeat(5 - level);
  for (let i = 0; i < k.PTRS_PER_TABLE; i++) {
    const ptep = k.tableEntry(mm, table, i);
    const lo = k.pteLo(mm, ptep);
    const hi = k.pteHi(mm, ptep);
    if ((lo | hi) === 0) continue;
    const pfn = k.ptePfn(mm, ptep);
    out.push(`${dots}${i}: pte ${hex16(hi, lo)} pa 0x${(pfn * k.PAGE_SIZE).toString(16).padStart(16, "0")}`);
    const flags = k.pteFlags(mm, ptep);
    // The mistake: the return ends this table's loop after its first subtable.
    if (level > 1 && flags & k.PTE_P && !(flags & k.PTE_PS)) {
      printTable(k, mm, pfn, level - 1, out);
      return;
    }
  }
}

export function vmprint(k: KernelApi, mm: MmStruct): string {
  const root = k.pgd(mm);
  const out = [`page table 0x${(root * k.PAGE_SIZE).toString(16).padStart(16, "0")}`];
  printTable(k, mm, root, 4, out);
  return `${out.join("\n")}\n`;
}
