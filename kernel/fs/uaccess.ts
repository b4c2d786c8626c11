/**
 * copy_to_user and copy_from_user (Linux arch/x86/lib/usercopy, with the
 * exception-table fixup): the kernel moves bytes between RAM and a user
 * buffer through the process's page table, page by page. A page not yet
 * faulted in is faulted in by the kernel: a #PF from kernel mode on a user
 * address (the error code without the U bit), handled by the process's mm
 * like any fault. A fault that cannot be handled ends the copy: the caller
 * gets the bytes not copied, never a signal and never an exception.
 */
import { FAULT_OK } from "../mm/memory.ts";
import { MAX_FAULT_RETRIES } from "../mm/mmu.ts";
import { ACC_USER, ACC_WRITE, PF_USER } from "../mm/pgtable_types.ts";
import { TASK_SIZE } from "../mm/types.ts";
import type { FsTask } from "./task.ts";

/** access_ok: the whole range lies in the user half. */
export function accessOk(va: number, len: number): boolean {
  return Number.isSafeInteger(va) && Number.isSafeInteger(len) && va >= 0 && len >= 0 && va + len <= TASK_SIZE;
}

/**
 * The physical address of user `va` for a kernel load ("read") or store
 * ("write"), faulting the page in if needed; -1 when it cannot be had.
 */
export function userPa(p: FsTask, va: number, access: "read" | "write"): number {
  const mmu = p.mem.mmu;
  const pt = p.mem.pt;
  // ACC_USER makes the walk insist on the U bit (a kernel page is never a user buffer).
  const acc = ACC_USER | (access === "write" ? ACC_WRITE : 0);
  for (let tries = 0; tries < MAX_FAULT_RETRIES; tries++) {
    const i = mmu.fill(pt, va, acc);
    if (i >= 0) return (mmu.tlb.base[i] as number) + (va & 4095);
    const ec = ~i & ~PF_USER;
    mmu.stats.faults++;
    if (p.tasks.handleMmFault(p, va, ec) !== FAULT_OK) return -1;
  }
  return -1;
}

/** copy_to_user: `len` bytes of RAM from `srcPa` to user `va`. Returns the bytes NOT copied. */
export function copyToUser(p: FsTask, va: number, srcPa: number, len: number): number {
  const u8 = p.mem.mmu.phys.u8;
  for (let done = 0; done < len; ) {
    const at = va + done;
    const chunk = Math.min(len - done, 4096 - (at & 4095));
    const pa = userPa(p, at, "write");
    if (pa < 0) return len - done;
    u8.copyWithin(pa, srcPa + done, srcPa + done + chunk);
    done += chunk;
  }
  return 0;
}

/** copy_from_user: `len` bytes from user `va` to RAM at `dstPa`. Returns the bytes NOT copied. */
export function copyFromUser(p: FsTask, dstPa: number, va: number, len: number): number {
  const u8 = p.mem.mmu.phys.u8;
  for (let done = 0; done < len; ) {
    const at = va + done;
    const chunk = Math.min(len - done, 4096 - (at & 4095));
    const pa = userPa(p, at, "read");
    if (pa < 0) return len - done;
    u8.copyWithin(dstPa + done, pa, pa + chunk);
    done += chunk;
  }
  return 0;
}
