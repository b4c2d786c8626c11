/**
 * The page-table lab: pgaccess, vmprint and the USYSCALL page (ugetpid).
 * Read statement.md first.
 */
import type { KernelApi, LabTask } from "memsim";

type MmStruct = LabTask["mm"];

/** Where the USYSCALL page lives: a read-only page holding the process's pid. */
export const USYSCALL = 0x3f_ffff_d000;

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

/**
 * The page table of `mm` in xv6's vmprint format, every line ending in "\n":
 * "page table 0x<root pa>", then each non-zero entry of each level.
 */
// biome-ignore lint/correctness/noUnusedFunctionParameters: the parameters are for the code you write
export function vmprint(k: KernelApi, mm: MmStruct): string {
  // TODO: start at k.pgd(mm) (level 4); for i in 0..511, ptep = k.tableEntry(mm, table, i);
  // print the non-zero entries (k.pteHi, k.pteLo, k.ptePfn) and go down into
  // present entries that are tables (level > 1, no k.PTE_PS).
  return "";
}

/** onSpawn: map the USYSCALL page of process `p` (read-only, holding p.pid). */
// biome-ignore lint/correctness/noUnusedFunctionParameters: the parameters are for the code you write
export function usyscall(p: LabTask, k: KernelApi): void {
  // TODO: a VMA with k.insertVma(p.mm, USYSCALL, USYSCALL + k.PAGE_SIZE, flags, "[usyscall]"),
  // a frame from k.allocUserPage, the pid written into it (k.write8), and k.mapPage.
}
