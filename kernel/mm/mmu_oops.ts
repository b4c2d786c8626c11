/**
 * What a page fault nobody fixed prints: the oops text of Linux's
 * show_fault_oops (arch/x86/mm/fault.c) and the KernelOops the MMU throws.
 * Split from mmu.ts, whose translation path it is not part of.
 */
import { KernelPanic } from "../panic.ts";
import { PF_INSTR, PF_PROT, PF_RSVD, PF_USER, PF_WRITE } from "./pgtable_types.ts";
import { formatVa, VA_BITS } from "./types.ts";

/** A fault handler that says "fixed" more often than this for one access is broken. */
export const MAX_FAULT_RETRIES = 8;
const VA_LIMIT = 2 ** VA_BITS;

/** A kernel oops from a page fault nobody fixed. The message is what Linux prints. */
export class KernelOops extends KernelPanic {
  constructor(
    /** The faulting address (stored form). */
    readonly address: number,
    /** x86 #PF error code. */
    readonly errorCode: number,
    text: string,
  ) {
    super(text);
  }
}

/** An address as %px prints it: 16 hex digits, kernel addresses sign-extended. */
export function formatPx(va: number): string {
  if (!(Number.isInteger(va) && va >= 0 && va < VA_LIMIT)) return String(va);
  return formatVa(va).padStart(16, "0");
}

/** The lines Linux's show_fault_oops prints for this fault. */
export function oopsText(va: number, errorCode: number, looping = false): string {
  const user = (errorCode & PF_USER) !== 0;
  const lines: string[] = [];
  if ((errorCode & (PF_INSTR | PF_PROT)) === (PF_INSTR | PF_PROT) && !user) {
    lines.push("kernel tried to execute NX-protected page - exploit attempt? (uid: 0)");
  }
  if (va >= 0 && va < 4096 && !user) lines.push(`BUG: kernel NULL pointer dereference, address: ${formatPx(va)}`);
  else lines.push(`BUG: unable to handle page fault for address: ${formatPx(va)}`);
  const kind = (errorCode & PF_INSTR) !== 0 ? "instruction fetch" : (errorCode & PF_WRITE) !== 0 ? "write access" : "read access";
  lines.push(`#PF: ${user ? "user" : "supervisor"} ${kind} in ${user ? "user" : "kernel"} mode`);
  const why =
    (errorCode & PF_PROT) === 0 ? "not-present page" : (errorCode & PF_RSVD) !== 0 ? "reserved bit violation" : "permissions violation";
  lines.push(`#PF: error_code(0x${errorCode.toString(16).padStart(4, "0")}) - ${why}`);
  if (looping) lines.push(`the fault handler reported this fault fixed ${MAX_FAULT_RETRIES} times in a row`);
  return lines.join("\n");
}
