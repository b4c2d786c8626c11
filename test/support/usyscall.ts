/**
 * xv6's USYSCALL page (the pgtbl lab's "speed up system calls"), written the
 * way a student writes it, with the kernel API `k` only: every process gets
 * a read-only page at a fixed user address holding its pid, so getpid() is
 * a load instead of a system call. onSpawn makes it (for spawned and forked
 * processes alike: the VMA is VM_DONTCOPY, each child gets its own);
 * onExit unmaps it and frees the frame.
 */
import type { KernelApi, LabTask, TaskHook } from "../../sim/index.ts";

/** Where xv6 puts it: below TRAPFRAME and TRAMPOLINE at the top of its 2^38-byte address space. */
export const USYSCALL = 0x3f_ffff_d000;

/** Writes `v` as 4 little-endian bytes of physical memory at `pa`. */
function write32(k: KernelApi, pa: number, v: number): void {
  for (let i = 0; i < 4; i++) k.write8(pa + i, (v >>> (8 * i)) & 0xff);
}

/** onSpawn: a read-only VMA for the page (never writable: no VM_MAYWRITE), a zeroed frame with the pid, mapped user read-only. */
export const usyscallSpawn: TaskHook = (p: LabTask, k: KernelApi) => {
  const vma = k.insertVma(p.mm, USYSCALL, USYSCALL + k.PAGE_SIZE, k.VM_READ | k.VM_MAYREAD | k.VM_DONTCOPY);
  if (vma === 0) throw new Error(`usyscall: no VMA for pid ${p.pid}`);
  const pfn = k.allocUserPage(p.mm, vma);
  if (pfn < 0) throw new Error(`usyscall: no frame for pid ${p.pid}`);
  write32(k, pfn * k.PAGE_SIZE, p.pid);
  if (k.mapPage(p.mm, USYSCALL, pfn, k.vmaPteFlags(vma, "read")) < 0) {
    k.putPage(p.mm, pfn);
    throw new Error(`usyscall: no page table for pid ${p.pid}`);
  }
};

/** onExit: the page out of the page table and its frame freed (proc_freepagetable's uvmunmap + kfree). */
export const usyscallExit: TaskHook = (p: LabTask, k: KernelApi) => {
  const pfn = k.unmapPage(p.mm, USYSCALL);
  if (pfn >= 0) k.putPage(p.mm, pfn);
};
