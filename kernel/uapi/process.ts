/**
 * What code running inside a process sees of it: its memory (every access
 * goes through the MMU, with the user bit) and its system calls (raw Linux
 * results: a value or -errno). This is the whole contract between userspace/
 * and the kernel; a process object from the kernel satisfies it.
 *
 * Words: va = user virtual address (a number below 2^47).
 */

/** Loads and stores at user virtual addresses. A bad access delivers SIGSEGV (throws SegmentationFault). */
export interface UserMemory {
  read8(va: number): number;
  read16(va: number): number;
  read32(va: number): number;
  write8(va: number, v: number): void;
  write16(va: number, v: number): void;
  write32(va: number, v: number): void;
  /** Copies `len` bytes out of the process. */
  read(va: number, len: number): Uint8Array;
  /** Copies `bytes` into the process. */
  write(va: number, bytes: Uint8Array): void;
  /** Sets `len` bytes at `va` to `byte`. */
  fill(va: number, byte: number, len: number): void;
  /** Copies `len` bytes from `src` to `dst` inside the process (memmove semantics). */
  copy(dst: number, src: number, len: number): void;
}

/** The memory system calls, returning what Linux returns (raw: value or -errno; brk returns the break). */
export interface UserSyscalls {
  brk(addr: number): number;
  mmap(addr: number, len: number, prot: number, flags: number, fd?: number, off?: number): number;
  munmap(addr: number, len: number): number;
  mprotect(addr: number, len: number, prot: number): number;
  madvise(addr: number, len: number, advice: number): number;
  mremap(oldAddr: number, oldLen: number, newLen: number, flags: number, newAddr?: number): number;
  mlock(addr: number, len: number): number;
  /** mlock2: `flags` 0 or MLOCK_ONFAULT. */
  mlock2(addr: number, len: number, flags: number): number;
  munlock(addr: number, len: number): number;
  /** mlockall: MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT. */
  mlockall(flags: number): number;
  munlockall(): number;
  /**
   * set_mempolicy(2): the process's NUMA policy (kernel/uapi/mempolicy.ts
   * modes), `nmask` the user address of a node mask of `maxnode` bits (0:
   * none). Absent on a host without the kernel's memory (unit-test processes).
   */
  setMempolicy?(mode: number, nmask: number, maxnode: number): number;
  /** get_mempolicy(2): writes the mode (an int) at `policy` and the node mask at `nmask`, each when non-zero. Absent as setMempolicy. */
  getMempolicy?(policy: number, nmask: number, maxnode: number, addr: number, flags: number): number;
  /** mbind(2): the NUMA policy of the VMAs of [addr, addr + len). Absent as setMempolicy. */
  mbind?(addr: number, len: number, mode: number, nmask: number, maxnode: number, flags: number): number;
  /**
   * sched_getcpu(3): the CPU the calling thread runs on (0 on a one-CPU
   * machine). Absent on a host without CPUs (unit-test processes): callers
   * take CPU 0.
   */
  getcpu?(): number;
  /**
   * gettid(2): the calling thread's id (the pid for the process's leader,
   * and whenever no scheduler runs an operation). Absent on a host without
   * threads (unit-test processes): callers take the pid.
   */
  gettid?(): number;
  /** get_nprocs(3): the machine's CPUs. Absent on a host without CPUs: callers take 1. */
  nprocs?(): number;
  /**
   * The pthread mutex at `uaddr` is held by the running operation until it
   * ends. memsim runs an operation whole, so lock and unlock are this one
   * call: the scheduler places the hold on the CPU timelines and an
   * operation on another CPU that holds the same mutex waits for it, the
   * wait charged on the cost clock (lock_stat class `pthread_mutex`, as a
   * futex wait would be). Returns 0. Absent on a host without CPUs.
   */
  mutexHold?(uaddr: number): number;
}

/** A process as userspace code sees it. */
export interface UserProcess {
  readonly pid: number;
  readonly mem: UserMemory;
  readonly sys: UserSyscalls;
  /**
   * abort(3): writes `message` to the process's stderr and kills it with
   * SIGABRT. Never returns (throws the kill out of the user code).
   */
  abort(message: string): never;
}
