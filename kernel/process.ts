/**
 * Processes (Linux kernel/fork.c, kernel/exit.c, in miniature): a task with
 * a pid, an address space, rlimits, fault counters, signal handlers and an
 * exit state. User accesses go through the MMU in user mode; faults come
 * back here, become page-fault handling, or SIGSEGV.
 *
 * Words: task = process; mm = its address space. A process has one thread
 * (its leader) until spawnThread adds more (thread.ts); they share the mm.
 */

import { EINVAL } from "./errno.ts";
import type { Tasks } from "./fork.ts";
import type { MemCgroup } from "./mm/memcontrol.ts";
import { FAULT_MAPERR, FAULT_OK, FAULT_OOM, FAULT_SIGBUS } from "./mm/memory.ts";
import { INITIAL_STACK_PAGES, type MmStruct, PAGE, type Rlimits } from "./mm/mm.ts";
import type { MmuMemory } from "./mm/mmu_memory.ts";
import { OOM_SCORE_ADJ_MAX, OOM_SCORE_ADJ_MIN } from "./mm/oom_kill.ts";
import type { PageFault } from "./mm/pgtable.ts";
import { PF_INSTR, PF_USER, PF_WRITE } from "./mm/pgtable_types.ts";
import { TASK_SIZE, VA_BITS } from "./mm/types.ts";
import type { PidProc } from "./proc/pid.ts";
import { BusError, ProcessKilled, SegmentationFault, type SigInfo, type SignalHandler, signalName } from "./signal.ts";
import { Syscalls } from "./syscalls.ts";
import { findThread, type SpawnThreadOptions, spawnThread, Thread } from "./thread.ts";
import type { UserProcess } from "./uapi/process.ts";
import { BUS_ADRERR, SEGV_ACCERR, SEGV_MAPERR, SI_KERNEL, SIGABRT, SIGBUS, SIGKILL, SIGSEGV } from "./uapi/signal.ts";

const VA_LIMIT = 2 ** VA_BITS;

export type ProcessState = "running" | "exited" | "killed";

/** A process that has ended was used: a bug in the caller, named clearly. */
export class ProcessGone extends Error {
  override readonly name = "ProcessGone";
}

/** One process. */
export class Process implements UserProcess {
  state: ProcessState = "running";
  /** Inside one of its system calls (between enter and leave). */
  private inSyscall = false;
  /** A signal that killed it inside a system call, delivered as it leaves (0: none). */
  private pendingKill = 0;
  exitStatus: number | null = null;
  exitSignal: number | null = null;
  /** Minor and major faults (/proc/PID/stat minflt, majflt). */
  minflt = 0;
  majflt = 0;
  /** What the process wrote to stderr (abort messages). */
  stderr = "";
  readonly sys: Syscalls;
  /** /proc/PID: maps, smaps, status. */
  readonly proc: PidProc;
  /** Its threads, the leader (tid = pid) first; exited ones stay listed with state "exited". */
  readonly threads: Thread[];
  private readonly handlers = new Map<number, SignalHandler>();
  private adj = 0;
  private retryAddr = -1;
  private retryStreak = 0;

  constructor(
    readonly tasks: Tasks,
    readonly pid: number,
    readonly ppid: number,
    readonly comm: string,
    readonly mm: MmStruct,
    /** This process's memory, user mode, through the MMU. */
    readonly mem: MmuMemory,
    makeProc: (p: Process) => PidProc,
  ) {
    this.sys = new Syscalls(this);
    this.threads = [new Thread(this, pid, comm, mm.stackTop - INITIAL_STACK_PAGES * PAGE, mm.stackTop, tasks.nrCpus)];
    this.proc = makeProc(this);
    mm.pt.faultHandler = (fault) => this.pageFault(fault);
  }

  /** Resource limits (soft values, bytes). */
  get rlimits(): Rlimits {
    return this.mm.rlimits;
  }

  /**
   * setrlimit for the memory resources. Throws RangeError naming the
   * resource or value when either is bad.
   */
  setrlimit(resource: "data" | "as" | "stack" | "memlock", bytes: number): void {
    if (!(resource in this.mm.rlimits)) throw new RangeError(`setrlimit: unknown resource '${resource}'`);
    if (!(bytes >= 0) || !(Number.isSafeInteger(bytes) || bytes === Number.POSITIVE_INFINITY)) {
      throw new RangeError(`setrlimit: ${resource} must be a whole number of bytes or Infinity, got ${bytes}`);
    }
    this.mm.rlimits[resource] = bytes;
  }

  /** oom_score_adj: -1000 (never chosen by the OOM killer) to 1000 (chosen first); inherited at fork. */
  get oomScoreAdj(): number {
    return this.adj;
  }

  /** echo N > /proc/PID/oom_score_adj. Returns 0, or -EINVAL when `n` is not an integer in -1000..1000. */
  setOomScoreAdj(n: number): number {
    if (!Number.isInteger(n) || n < OOM_SCORE_ADJ_MIN || n > OOM_SCORE_ADJ_MAX) return -EINVAL;
    this.adj = n;
    return 0;
  }

  /** The memory cgroup the process's new pages are charged to (the root unless moved; a child starts in its parent's). */
  get cgroup(): MemCgroup {
    return this.tasks.cgroupOf(this);
  }

  /** Moves the process to another memory cgroup of its machine (cgroup.procs). Throws RangeError for a group of another machine. */
  set cgroup(g: MemCgroup) {
    this.tasks.setCgroup(this, g);
  }

  /** Installs a handler for `signo` (SIGSEGV or SIGBUS), or removes it with null. */
  onSignal(signo: number, handler: SignalHandler | null): void {
    if (handler === null) this.handlers.delete(signo);
    else this.handlers.set(signo, handler);
  }

  /** True while a signal that killed it inside its system call waits for the call to end. */
  get killPending(): boolean {
    return this.pendingKill !== 0;
  }

  /** Enters a system call: checks the process is alive and names it in kernel reports. */
  enter(): void {
    if (this.state !== "running")
      throw new ProcessGone(`process ${this.pid} (${this.comm}) has ${this.state}; it cannot make system calls`);
    this.tasks.setCurrent(this);
    this.inSyscall = true;
  }

  /** Leaves a system call: a pending SIGKILL takes effect, then the checkers run at debug level 2 and above. */
  leave(): void {
    this.inSyscall = false;
    this.tasks.setCurrent(null);
    const sig = this.pendingKill;
    this.pendingKill = 0;
    if (sig !== 0) this.kill(sig);
    this.tasks.syscallExitChecks();
  }

  /**
   * fork(2): a child sharing this process's memory copy-on-write. Returns
   * null when there is not enough memory, commit or address-space ids for it
   * (fork's -ENOMEM / -EAGAIN); nothing is left behind then.
   */
  fork(): Process | null {
    this.enter();
    const child = this.tasks.fork(this);
    this.leave();
    return child;
  }

  /** exit(2), which is exit_group: every thread ends, the address space is torn down, the process ends with `status`. */
  exit(status = 0): void {
    if (this.state !== "running") throw new ProcessGone(`process ${this.pid} (${this.comm}) has already ${this.state}`);
    this.exitStatus = status & 0xff;
    this.state = "exited";
    this.endThreads();
    this.tasks.exitMm(this);
  }

  /**
   * pthread_create: a thread sharing this address space, with its own tid
   * and stack (kernel/thread.ts). Returns null when its stack cannot be
   * mapped. Throws ProcessGone when the process has ended.
   */
  spawnThread(name: string, opts: SpawnThreadOptions = {}): Thread | null {
    if (this.state !== "running") throw new ProcessGone(`process ${this.pid} (${this.comm}) has ${this.state}; it cannot start threads`);
    return spawnThread(this, name, () => this.tasks.allocPid(), this.tasks.nrCpus, opts);
  }

  /** Live threads (Threads: in /proc/PID/status). */
  get nrThreads(): number {
    let n = 0;
    for (const t of this.threads) if (t.state === "running") n++;
    return n;
  }

  /**
   * sched_setaffinity(tid, cpus): thread `tid` of this process (0 = the
   * leader) may run only on `cpus`. Returns 0, -ESRCH for no such live
   * thread, -EINVAL when no listed CPU exists.
   */
  schedSetaffinity(tid: number, cpus: readonly number[]): number {
    const t = findThread(this, tid);
    if (typeof t === "number") return t;
    return t.setAffinity(cpus, this.tasks.nrCpus);
  }

  /** Every thread ends with the process (exit_group, a fatal signal). */
  private endThreads(): void {
    for (const t of this.threads) t.state = "exited";
    this.mm.users = 0;
  }

  /** Kills the process with `signo` (si_code `code`, SI_KERNEL by default) and tears its address space down. */
  kill(signo: number, code: number = SI_KERNEL): void {
    if (this.state !== "running") return;
    // Killed in the middle of its own system call (the OOM killer chose it from a kernel
    // allocation): the signal is pending and the process dies as it leaves the kernel.
    if (this.inSyscall) {
      this.pendingKill = signo;
      return;
    }
    this.tasks.signalEvents(this, signo, code, 0);
    this.exitSignal = signo;
    this.state = "killed";
    this.endThreads();
    this.tasks.exitMm(this);
  }

  /** abort(3): the message to stderr, then death by SIGABRT thrown out of the caller. */
  abort(message: string): never {
    this.stderr += `${message}\n`;
    this.kill(SIGABRT);
    throw new ProcessKilled(this.pid, SIGABRT, `pid ${this.pid}: ${message} (SIGABRT)`);
  }

  /** The fault hook of this process's page table: fix, deliver a signal, or kill. */
  private pageFault(fault: PageFault): boolean {
    const va = fault.address;
    const ec = fault.errorCode;
    if (this.state !== "running") throw new ProcessGone(`process ${this.pid} (${this.comm}) has ${this.state}; its memory is gone`);
    if (!(ec & PF_USER)) return false;
    const access = ec & PF_WRITE ? "write" : ec & PF_INSTR ? "exec" : "read";
    // [2^47, 2^48) is the kernel half in stored form (canonical: a page
    // fault, SEGV_MAPERR). Anything outside the 48-bit space is not canonical:
    // x86-64 raises a general protection fault, SIGSEGV with SI_KERNEL and si_addr 0.
    if (va < 0 || va >= VA_LIMIT) return this.deliverSegv(0, SI_KERNEL, access);
    const r = va >= TASK_SIZE ? this.tasks.kernelAddressFault(this, va, ec) : this.tasks.handleMmFault(this, va, ec);
    if (r === FAULT_OK) {
      this.retryStreak = 0;
      return true;
    }
    if (r === FAULT_OOM) {
      // The OOM killer chose another process, whose memory is now free: retry the access.
      if (this.tasks.outOfMemory(this)) return true;
      throw new ProcessKilled(this.pid, SIGKILL, `pid ${this.pid}: out of memory in a page fault at ${va.toString(16)}: killed (SIGKILL)`);
    }
    if (r === FAULT_SIGBUS) {
      if (this.userHandlerRetries(SIGBUS, va, BUS_ADRERR, access)) return true;
      this.kill(SIGBUS, BUS_ADRERR);
      throw new BusError(this.pid, BUS_ADRERR, va, access);
    }
    return this.deliverSegv(va, r === FAULT_MAPERR ? SEGV_MAPERR : SEGV_ACCERR, access);
  }

  /** SIGSEGV with si_code `code` and si_addr `addr`: the handler may retry, else the process dies. */
  private deliverSegv(addr: number, code: number, access: SigInfo["access"]): boolean {
    if (this.userHandlerRetries(SIGSEGV, addr, code, access)) return true;
    this.kill(SIGSEGV, code);
    throw new SegmentationFault(this.pid, code, addr, access);
  }

  /**
   * Runs the handler of `signo` (SIGSEGV or SIGBUS), if any. True when it
   * asked for a retry and has not already retried twice in a row at this
   * address without fixing it.
   */
  private userHandlerRetries(signo: number, va: number, code: number, access: SigInfo["access"]): boolean {
    const handler = this.handlers.get(signo);
    if (!handler) return false;
    if (va === this.retryAddr && this.retryStreak >= 2) return false;
    if (va !== this.retryAddr) this.retryStreak = 0;
    this.tasks.signalEvents(this, signo, code, 1);
    const answer = handler({ signo, code, addr: va, access });
    if (this.state !== "running") throw new ProcessGone(`process ${this.pid} (${this.comm}) ended inside its signal handler`);
    if (answer !== "retry") return false;
    this.retryAddr = va;
    // A handler that fixed the cause starts a new streak; one that did not is counted.
    this.retryStreak = this.tasks.wouldSegv(this, va, access) ? this.retryStreak + 1 : 0;
    return true;
  }

  /** "killed by SIGSEGV", "exited with 0", "running". */
  describe(): string {
    if (this.state === "running") return "running";
    if (this.state === "exited") return `exited with ${this.exitStatus}`;
    return `killed by ${signalName(this.exitSignal ?? 0)}`;
  }
}
