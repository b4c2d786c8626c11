/**
 * What a page fault came to (the fault handler's results: memory.ts,
 * huge_memory.ts and filemap_fault.ts), and the leaf flags a VMA's pages get. Kept apart so
 * both fault files can use them without importing each other.
 */
import { VM_EXEC, VM_WRITE } from "./mm_types.ts";
import { PTE_A, PTE_D, PTE_NX, PTE_P, PTE_RW, PTE_US } from "./pgtable_types.ts";

/** What a fault came to. */
export const FAULT_OK = 0;
export const FAULT_MAPERR = 1;
export const FAULT_ACCERR = 2;
export const FAULT_OOM = 3;
/** The access is past the end of the object a shared mapping maps (SIGBUS, BUS_ADRERR). */
export const FAULT_SIGBUS = 4;

/** The leaf flags a VMA's pages get (writable only when asked and allowed). */
export function vmaPteFlags(vmFlags: number, writable: boolean): number {
  let f = PTE_P | PTE_US | PTE_A;
  if (!(vmFlags & VM_EXEC)) f |= PTE_NX;
  if (writable && vmFlags & VM_WRITE) f |= PTE_RW | PTE_D;
  return f >>> 0;
}
