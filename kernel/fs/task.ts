/**
 * What the file layer needs of a process, as an interface: its pid, its
 * memory view (the MMU and page table the kernel copies through), its fault
 * counters, the kernel entry and exit, and the task list's fault handler.
 * A kernel Process satisfies it; naming it here keeps kernel/fs out of the
 * process <-> syscalls import circle.
 */
import type { MmuMemory } from "../mm/mmu_memory.ts";
import type { Vfs } from "./vfs.ts";

/** A process as the file layer sees it. */
export interface FsTask {
  readonly pid: number;
  readonly mem: MmuMemory;
  /** Minor and major faults; the task list's handleMmFault counts them. */
  minflt: number;
  majflt: number;
  readonly tasks: {
    /** handle_mm_fault for this process: FAULT_OK or why not. */
    handleMmFault(p: FsTask, va: number, ec: number): number;
    /** msync(2) on this process's address space (kernel/mm/msync.ts). */
    sysMsync(p: FsTask, start: number, len: number, flags: number): number;
    readonly vfs: Vfs | null;
  };
  /** Enters a system call (throws when the process is gone). */
  enter(): void;
  /** Leaves it (checkers at debug level 2 and above). */
  leave(): void;
}
