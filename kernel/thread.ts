/**
 * Threads (Linux kernel/fork.c copy_process with CLONE_VM | CLONE_THREAD,
 * and glibc's pthread_create, in miniature). A thread shares its process's
 * address space, descriptors and signal handlers (CLONE_VM, CLONE_FILES,
 * CLONE_SIGHAND) and has its own tid, stack VMA and CPU affinity.
 *
 * The process's first thread is its leader (tid = pid, the [stack] VMA).
 * spawnThread maps a new stack the way glibc does (an mmap of the stack size
 * plus a PROT_NONE guard page below it, through the process's own syscalls)
 * and takes a tid from the pid space. mm_users counts the live threads: the
 * address space is torn down when the last one exits; one thread's exit
 * unmaps nothing (glibc, not the kernel, frees a joined thread's stack).
 * exit_group (`p.exit`) and a fatal signal end every thread at once.
 *
 * Words: thread = task; tid = its id; thread group = a process's threads.
 */
import { EINVAL, ESRCH } from "./errno.ts";
import type { MmStruct } from "./mm/mm.ts";
import type { MmuMemory } from "./mm/mmu_memory.ts";
import { MAP_ANONYMOUS, MAP_PRIVATE, MAP_STACK, PROT_NONE, PROT_READ, PROT_WRITE } from "./uapi/mman.ts";
import type { UserSyscalls } from "./uapi/process.ts";

/** The guard page glibc puts below a thread's stack. */
const GUARD_BYTES = 4096;

/** What a thread sees of its process (process.ts Process is one; named here so that this file needs no import of it). */
export interface ThreadGroup {
  readonly pid: number;
  readonly state: string;
  readonly mm: MmStruct;
  readonly mem: MmuMemory;
  readonly sys: UserSyscalls;
  readonly threads: Thread[];
  exit(status?: number): void;
}

/** What a thread is doing. */
export type ThreadState = "running" | "exited";

/** One thread of a process. */
export class Thread {
  state: ThreadState = "running";
  /** The CPU the thread last ran on, or is queued on (kernel/sched.ts). */
  cpu = 0;
  /** Cpus_allowed: bit c of word c >>> 5 (CPUs 0..31, 32..63). */
  readonly allowed = new Uint32Array(2);

  constructor(
    /** The process (thread group) the thread belongs to. */
    readonly group: ThreadGroup,
    readonly tid: number,
    readonly comm: string,
    /** Its stack VMA [stackStart, stackEnd). */
    readonly stackStart: number,
    readonly stackEnd: number,
    nrCpus: number,
  ) {
    for (let c = 0; c < nrCpus; c++) this.allow(c);
  }

  /** The thread group's memory: every thread sees the same address space. */
  get mem(): MmuMemory {
    return this.group.mem;
  }

  /** The thread group's system calls. */
  get sys(): UserSyscalls {
    return this.group.sys;
  }

  /** True when the thread may run on `cpu`. */
  allows(cpu: number): boolean {
    return (((this.allowed[cpu >>> 5] as number) >>> (cpu & 31)) & 1) === 1;
  }

  private allow(cpu: number): void {
    this.allowed[cpu >>> 5] = ((this.allowed[cpu >>> 5] as number) | (1 << (cpu & 31))) >>> 0;
  }

  /** The CPUs it may run on, in order. */
  allowedCpus(): number[] {
    const out: number[] = [];
    for (let c = 0; c < 64; c++) if (this.allows(c)) out.push(c);
    return out;
  }

  /**
   * sched_setaffinity for this thread: it may run only on `cpus` from now
   * on (the scheduler moves it at its next operation if its CPU is no longer
   * allowed). Returns 0, or -EINVAL when no listed CPU exists on a machine of
   * `nrCpus` (or one is not a whole number).
   */
  setAffinity(cpus: readonly number[], nrCpus: number): number {
    let lo = 0;
    let hi = 0;
    for (const c of cpus) {
      if (!Number.isInteger(c) || c < 0) return -EINVAL;
      if (c >= nrCpus) continue; // Linux ignores CPUs that are not online, as long as one is
      if (c < 32) lo |= 1 << c;
      else hi |= 1 << (c - 32);
    }
    if ((lo | hi) === 0) return -EINVAL;
    this.allowed[0] = lo >>> 0;
    this.allowed[1] = hi >>> 0;
    return 0;
  }

  /**
   * pthread_exit: this thread ends; its stack stays mapped. When it was the
   * last thread, the process exits with `status` and its address space goes.
   * Throws Error when the thread has already exited.
   */
  exit(status = 0): void {
    if (this.state !== "running") throw new Error(`thread ${this.tid} (${this.comm}) has already exited`);
    this.state = "exited";
    const mm = this.group.mm;
    mm.users--;
    if (mm.users === 0 && this.group.state === "running") this.group.exit(status);
  }
}

/** Options of {@link spawnThread}. */
export interface SpawnThreadOptions {
  /** Stack size in bytes, a multiple of 4096. Default: RLIMIT_STACK (8 MiB), as glibc picks. */
  readonly stackBytes?: number;
}

/**
 * pthread_create: a new thread of `p` named `name`, with a stack of its own
 * and a fresh tid, allowed on every CPU. Returns null when the stack cannot
 * be mapped (pthread_create's EAGAIN: no memory, commit or address space);
 * nothing is left behind then. Throws RangeError on a bad stack size.
 */
export function spawnThread(p: ThreadGroup, name: string, tid: () => number, nrCpus: number, opts: SpawnThreadOptions = {}): Thread | null {
  const stackBytes = opts.stackBytes ?? Math.min(p.mm.rlimits.stack, 8 << 20);
  if (!Number.isSafeInteger(stackBytes) || stackBytes <= 0 || stackBytes % 4096 !== 0)
    throw new RangeError(`spawnThread: stackBytes must be a positive multiple of 4096, got ${stackBytes}`);
  const total = stackBytes + GUARD_BYTES;
  const base = p.sys.mmap(0, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK);
  if (base < 0) return null;
  if (p.sys.mprotect(base, GUARD_BYTES, PROT_NONE) < 0) {
    p.sys.munmap(base, total);
    return null;
  }
  const t = new Thread(p, tid(), name, base + GUARD_BYTES, base + total, nrCpus);
  p.mm.users++;
  p.threads.push(t);
  return t;
}

/** The live thread of `p` with id `tid` (0 = the leader), or -ESRCH. */
export function findThread(p: ThreadGroup, tid: number): Thread | number {
  const want = tid === 0 ? p.pid : tid;
  const t = p.threads.find((x) => x.tid === want && x.state === "running");
  return t ?? -ESRCH;
}

/** Cpus_allowed of /proc/PID/status: the mask in hex, ceil(nrCpus / 4) digits, comma every 32 bits. */
export function cpusAllowedMask(t: Thread, nrCpus: number): string {
  let hex = "";
  for (let c = Math.ceil(nrCpus / 4) * 4 - 4; c >= 0; c -= 4) {
    let nib = 0;
    for (let b = 0; b < 4; b++) if (c + b < 64 && t.allows(c + b)) nib |= 1 << b;
    hex += nib.toString(16);
    if (c % 32 === 0 && c > 0) hex += ",";
  }
  return hex;
}

/** Cpus_allowed_list: ranges, "0-3" or "0,2-3". */
export function cpusAllowedList(t: Thread): string {
  const cpus = t.allowedCpus();
  const parts: string[] = [];
  for (let i = 0; i < cpus.length; ) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === (cpus[j] as number) + 1) j++;
    parts.push(i === j ? String(cpus[i]) : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}
