/**
 * pgaccess: which pages were used since the last call. Read statement.md first.
 */
import type { KernelApi, LabTask } from "memsim";

type MmStruct = LabTask["mm"];

/**
 * Bit i of the result is set when page `va + i * 4096` (i < n <= 32) was
 * accessed since the previous call; the accessed bits are cleared.
 */
// biome-ignore lint/correctness/noUnusedFunctionParameters: the parameters are for the code you write
export function pgaccess(k: KernelApi, mm: MmStruct, va: number, n: number): number {
  // TODO: for each page, find its entry (k.walk(mm, page, "lookup"), -1 when
  // a table is missing), test k.PTE_A in k.pteFlags(mm, ptep), and clear it
  // with k.setPte(mm, page, ptep, k.ptePfn(mm, ptep), flags without PTE_A).
  return 0;
}
