/**
 * The task list (Linux kernel/fork.c and kernel/exit.c, reduced to memory):
 * spawn a process with an empty address space and a stack, fork one with
 * copy-on-write (dup_mmap + copy_page_range), tear one down at exit, and
 * route its system calls and page faults to the mm layer. The page
 * operations madvise and mremap run on a range live in mm/madvise_ops.ts.
 */
import { EINVAL } from "./errno.ts";
import type { KernelEvents } from "./events.ts";
import {
  EV_PAGE_FAULT_USER,
  EV_SCHED_PROCESS_EXIT,
  EV_SCHED_PROCESS_FORK,
  EV_SIGNAL_DELIVER,
  EV_SIGNAL_GENERATE,
  EV_TASK_NEWTASK,
} from "./events_types.ts";
import type { FsTask } from "./fs/task.ts";
import type { Vfs } from "./fs/vfs.ts";
import { type ForkCopy, LabLayers, type TaskLayers } from "./lab_layers.ts";
import { SyscallLocks } from "./locking/lock_stat.ts";
import { sysBrk } from "./mm/brk.ts";
import { CopyPageRange } from "./mm/copy_page_range.ts";
import type { KernelApi } from "./mm/lab_api.ts";
import { sysMadvise } from "./mm/madvise.ts";
import { MadviseOps } from "./mm/madvise_ops.ts";
import type { MemCgroup } from "./mm/memcontrol.ts";
import { FAULT_ACCERR, FAULT_MAPERR, FAULT_OK, FAULT_OOM, type Memory, vmaAllows } from "./mm/memory.ts";
import type { MemPolicy } from "./mm/mempolicy_alloc.ts";
import { defaultRlimits, INITIAL_STACK_PAGES, MmStruct, PAGE } from "./mm/mm.ts";
import {
  VM_ACCOUNT,
  VM_DONTCOPY,
  VM_GROWSDOWN,
  VM_HUGETLB_RESV,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYWRITE,
  VM_READ,
  VM_WIPEONFORK,
  VM_WRITE,
} from "./mm/mm_types.ts";
import { doMmap, type MmapContext, sysMunmap, unmapVma } from "./mm/mmap.ts";
import type { Mmu } from "./mm/mmu.ts";
import { type ChangeProtection, sysMprotect } from "./mm/mprotect.ts";
import { sysMremap } from "./mm/mremap.ts";
import { sysMsync } from "./mm/msync.ts";
import { OomKiller, oomBadness, oomScore } from "./mm/oom_kill.ts";
import type { Paging } from "./mm/pgalloc.ts";
import { freeEmptyTables } from "./mm/pgtable_range.ts";
import { PF_INSTR, PF_WRITE } from "./mm/pgtable_types.ts";
import type { Printk } from "./printk.ts";
import { PidProc } from "./proc/pid.ts";
import { Process } from "./process.ts";
import { SEGV_ACCERR, SEGV_MAPERR, SIGCHLD, SIGKILL } from "./uapi/signal.ts";

/** The stack VMA's flags: rw-p, grows down, accounted. */
const STACK_FLAGS = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_GROWSDOWN | VM_ACCOUNT;

/** Everything the task list works with. */
export interface TasksDeps {
  readonly ctx: MmapContext;
  readonly memory: Memory;
  readonly paging: Paging;
  readonly mmu: Mmu;
  readonly printk: Printk;
  /** The zero page: also the empty root a dead page table is pointed at. */
  readonly zeroPfn: number;
  /** Names the task on whose behalf the kernel runs (for reports). */
  setComm(comm: string): void;
  /** Runs every checker (debug level >= 2 at syscall exit). */
  check(): void;
  readonly debugVm: number;
  /** The lab's process-side layers (kernel/LAYERS.md) and the API they are handed. */
  readonly layers: TaskLayers;
  readonly k: KernelApi;
  /** The machine's event bus (kernel/main.ts hands it over). */
  readonly events: KernelEvents;
}

/** All processes of a machine. */
export class Tasks {
  private readonly byPid = new Map<number, Process>();
  /** Called after every successful fork, like pthread_atfork's child handlers (the C library keeps its state this way). */
  readonly forkHooks: Array<(parent: Process, child: Process) => void> = [];
  /** Called at exit before the address space goes (the file layer closes the descriptors here). */
  readonly exitHooks: Array<(p: Process) => void> = [];
  /** The file layer (fs/vfs.ts), set at boot. */
  vfs: Vfs | null = null;
  private nextPid = 1;
  /** The process in a system call (setCurrent), or null. */
  private current: Process | null = null;
  /** Faults being handled (handleMmFault); the allocator's OOM step leaves them to their own path. */
  private faulting = 0;
  /** The locks the memory syscalls took so far (kernel/locking/lock_stat.ts, read by the scheduler). */
  readonly syscallLocks = new SyscallLocks();
  /** The machine's CPU count (kernel/smp.ts): threads are allowed on all of them at first. */
  nrCpus = 1;
  /** The thread whose operation the scheduler runs now (sched.ts), 0 between operations: gettid. */
  currentTid = 0;
  /** The running CPU (kernel/main.ts points it at smp.current): sched_getcpu. */
  currentCpu: () => number = () => 0;
  /** The machine's event bus (process, fault, syscall and signal events). */
  readonly ev: KernelEvents;
  private nextMmId = 1;
  /** madvise's and mremap's page operations (mm/madvise_ops.ts). */
  private readonly pageOps: MadviseOps;
  private readonly copier: CopyPageRange;
  private readonly makeProc = (p: Process) =>
    new PidProc(p, this.d.ctx.vmas, this.d.memory.memmap, this.d.memory.swap?.dev ?? null, (vma) => this.d.memory.huge.vmaEligible(vma));
  /** The lab's layers, or null when every one is memsim's own. */
  private readonly lab: LabLayers | null;
  private readonly copyDefault = (c: ForkCopy): boolean =>
    this.copier.run(c.parent.pt, c.child, c.start, c.end, c.flags, this.d.ctx.vmas.f.anon(c.vma));
  private readonly changeProt: ChangeProtection = (mm, vma, start, end) => this.d.memory.changeProt(mm, vma, start, end);
  /** The OOM killer (mm/oom_kill.ts). */
  readonly oom: OomKiller;

  constructor(private readonly d: TasksDeps) {
    this.ev = d.events;
    const m = d.memory;
    const swapPages = () => m.swap?.dev.nrSlots ?? 0;
    this.oom = new OomKiller(
      d.printk,
      () => this.list(),
      () => m.buddy.nrManagedPages() + swapPages(),
      swapPages,
      m.memcg,
    );
    this.pageOps = new MadviseOps(d.ctx, d.memory, this.byPid);
    this.copier = new CopyPageRange(d.memory.memmap, d.memory.buddy, () => d.memory.swap?.dev ?? null, d.memory.huge, d.memory.hugetlb);
    const l = d.layers;
    const any = l.pageFault ?? l.forkCopy ?? l.onSpawn ?? l.onExit;
    this.lab = any === undefined ? null : new LabLayers(l, d.k, d.memory, this.copyDefault);
  }

  /** The memory policies (mm/mempolicy.ts): the context of set_mempolicy, get_mempolicy and mbind. */
  get policy(): MemPolicy {
    return this.d.memory.policy as MemPolicy;
  }

  /** A fresh id from the pid space (a thread's tid). */
  allocPid(): number {
    return this.nextPid++;
  }

  /** Live processes, by pid order. */
  list(): Process[] {
    return [...this.byPid.values()];
  }

  /** The process with `pid`, if it is alive. */
  get(pid: number): Process | undefined {
    return this.byPid.get(pid);
  }

  /**
   * A new process: an empty address space with its own page table and ASID
   * and a 132 KiB [stack]. Throws Error naming what ran out when there is no
   * memory (or no ASID) for it.
   */
  spawn(comm: string, ppid = 0): Process {
    const mm = this.newMm();
    if (this.d.k.insertVma(mm, mm.stackTop - INITIAL_STACK_PAGES * PAGE, mm.stackTop, STACK_FLAGS) === 0) {
      this.d.paging.pgdFree(mm.pt);
      throw new Error(`spawn ${comm}: out of memory for the stack`);
    }
    const p = this.register(comm, ppid, mm);
    if (this.ev.active[EV_TASK_NEWTASK] !== 0) this.ev.taskNewtask(p.pid, comm, 0);
    this.lab?.hook("onSpawn", p);
    return p;
  }

  private newMm(): MmStruct {
    const pt = this.d.paging.pgdAlloc();
    if (pt === null) throw new Error("spawn: out of memory (or address-space ids) for a page table");
    const mm = new MmStruct(this.nextMmId++, defaultRlimits(), pt.geo);
    mm.pt = pt;
    return mm;
  }

  private register(comm: string, ppid: number, mm: MmStruct): Process {
    const pid = this.nextPid++;
    const p = new Process(this, pid, ppid, comm, mm, this.d.mmu.view(mm.pt, "user"), this.makeProc);
    this.byPid.set(pid, p);
    return p;
  }

  /**
   * fork: a child with a copy of the parent's VMAs and page tables. Private
   * writable pages are shared copy-on-write; shared anonymous memory stays
   * shared; VM_DONTCOPY VMAs are left out and VM_WIPEONFORK ones start empty.
   * The child's accounted memory is charged to commit; layers.onSpawn then
   * runs for the child. Returns null (and leaves nothing behind) when
   * memory, commit or an ASID runs out.
   */
  fork(parent: Process): Process | null {
    let mm: MmStruct;
    try {
      mm = this.newMm();
    } catch {
      return null;
    }
    const pm = parent.mm;
    Object.assign(mm.rlimits, pm.rlimits);
    mm.memcg = pm.memcg;
    mm.mempolicy = pm.mempolicy;
    mm.startBrk = pm.startBrk;
    mm.brk = pm.brk;
    mm.startStack = pm.startStack;
    mm.mmapBase = pm.mmapBase;
    if (!this.dupMmap(pm, mm)) {
      this.releaseMm(mm);
      return null;
    }
    mm.hiwaterRss = mm.rssAnon + mm.rssShmem + mm.rssFile;
    mm.hiwaterVm = mm.totalVm;
    const child = this.register(parent.comm, parent.pid, mm);
    child.setOomScoreAdj(parent.oomScoreAdj);
    if (this.ev.active[EV_TASK_NEWTASK] !== 0) this.ev.taskNewtask(child.pid, child.comm, SIGCHLD, child.oomScoreAdj);
    if (this.ev.active[EV_SCHED_PROCESS_FORK] !== 0) this.ev.processFork(parent.comm, parent.pid, child.comm, child.pid);
    this.lab?.hook("onSpawn", child);
    for (const hook of this.forkHooks) hook(parent, child);
    return child;
  }

  /** dup_mmap: every VMA copied in address order, with its pages. False on any failure. */
  private dupMmap(pm: MmStruct, mm: MmStruct): boolean {
    const ctx = this.d.ctx;
    const f = ctx.vmas.f;
    for (let n = pm.tree.first(); n >= 0; n = pm.tree.next(n)) {
      const vma = pm.tree.value(n);
      const flags = f.flags(vma);
      if (flags & VM_DONTCOPY) continue;
      const pages = (f.end(vma) - f.start(vma)) / PAGE;
      const nv = ctx.vmas.dup(mm, vma, "fork");
      if (nv === 0) return false;
      // The child's hugetlb VMA owns no reservation (reset_vma_resv_huge_pages).
      if (flags & VM_HUGETLB_RESV) f.setFlags(nv, flags & ~VM_HUGETLB_RESV);
      if (flags & VM_ACCOUNT) {
        if (!ctx.commit.charge(pages)) {
          ctx.vmas.freeDup(nv);
          return false;
        }
        mm.committed += pages;
      }
      ctx.vmas.insert(mm, nv);
      if (flags & VM_WIPEONFORK) continue;
      if (this.lab === null || this.d.layers.forkCopy === undefined) {
        if (!this.copier.run(pm.pt, mm, f.start(vma), f.end(vma), flags, f.anon(vma))) return false;
      } else if (!this.lab.forkCopy({ parent: pm, child: mm, vma, start: f.start(vma), end: f.end(vma), flags })) return false;
    }
    return true;
  }

  /** Tears down an address space that never became a process (a failed fork). */
  private releaseMm(mm: MmStruct): void {
    const ctx = this.d.ctx;
    for (let n = mm.tree.first(); n >= 0; n = mm.tree.first()) unmapVma(ctx, mm, mm.tree.value(n));
    freeEmptyTables(mm.pt, 0, mm.pt.vaEnd);
    mm.pt.flushTlb();
    this.d.paging.pgdFree(mm.pt);
  }

  /** exit_mm: every VMA unmapped (frames, commit, objects), every table freed, the ASID released. */
  exitMm(p: Process): void {
    const ev = this.ev;
    const pid = ev.pid;
    const comm = ev.comm;
    ev.setTask(p.pid, p.comm);
    if (ev.active[EV_SCHED_PROCESS_EXIT] !== 0) ev.processExit(p.comm, p.pid);
    this.lab?.hook("onExit", p);
    for (const hook of this.exitHooks) hook(p);
    p.mem.detach();
    this.releaseMm(p.mm);
    p.mm.pt.retire(this.d.zeroPfn);
    this.byPid.delete(p.pid);
    ev.setTask(pid, comm);
  }

  /**
   * signal_generate and signal_deliver of `sig` to `p`, stamped with `p`:
   * `handler` 1 when p's own handler runs, 0 for the default action.
   */
  signalEvents(p: Process, sig: number, code: number, handler: number): void {
    const ev = this.ev;
    if (ev.active[EV_SIGNAL_GENERATE] === 0 && ev.active[EV_SIGNAL_DELIVER] === 0) return;
    const pid = ev.pid;
    const comm = ev.comm;
    ev.setTask(p.pid, p.comm);
    ev.signal(sig, code, p.comm, p.pid, handler);
    ev.setTask(pid, comm);
  }

  /**
   * The page allocator's OOM step (FramePages.oomKiller, after reclaim
   * failed) for a kernel allocation made by the current process's system
   * call at a point where reclaim may run (the page cache's allocation):
   * the OOM killer runs over the machine for it. Returns true when a victim
   * other than the caller was killed (its memory is free: the allocation is
   * tried again). A fault's allocation is left to the fault's own OOM path
   * (FAULT_OOM, outOfMemory); fork, exit and other points where reclaim
   * may not run fail the allocation instead, as does a caller already
   * chosen (it dies as its call returns).
   */
  oomFromAlloc(order: number, gfp: number): boolean {
    const p = this.current;
    const reclaim = this.d.memory.reclaim;
    if (p === null || this.faulting !== 0 || reclaim === null || reclaim.safe === 0 || p.killPending) return false;
    const victim = this.oom.outOfMemory(p, null, { gfp, order });
    return victim !== null && victim !== p;
  }

  /**
   * A fault of `p` could not have a frame (FAULT_OOM): the OOM killer runs,
   * over p's memory cgroup when a charge there failed, else over the
   * machine, and kills the process with the highest badness. Returns true
   * when p is still running (the fault is retried, as Linux retries the
   * allocation once the victim's memory is freed); when nothing could be
   * killed, p itself is killed (Linux would panic or loop).
   */
  outOfMemory(p: Process): boolean {
    const memcg = this.d.memory.memcg;
    const group = memcg.oomPending === 0 ? null : memcg.byId(memcg.oomPending);
    memcg.oomPending = 0;
    if (this.oom.outOfMemory(p, group) === null) p.kill(SIGKILL);
    return p.state === "running";
  }

  /** Moves `p` to memory cgroup `g` (echo PID > cgroup.procs): its new pages are charged there. Throws RangeError when `g` is another machine's. */
  setCgroup(p: Process, g: MemCgroup): void {
    const memcg = this.d.memory.memcg;
    if (g !== memcg.root && memcg.lookup(g.name) !== g) throw new RangeError(`cgroup ${g.path} is not a group of this machine`);
    p.mm.memcg = g.id;
  }

  /** The memory cgroup of `p`. */
  cgroupOf(p: Process): MemCgroup {
    return this.d.memory.memcg.byId(p.mm.memcg);
  }

  /** /proc/PID/oom_score of `p`. */
  oomScore(p: Process): number {
    const total = this.oom.totalPages();
    return oomScore(oomBadness(p, total), total);
  }

  setCurrent(p: Process | null): void {
    this.current = p;
    this.d.setComm(p === null ? "swapper/0" : p.comm);
    this.ev.setTask(p === null ? 0 : p.pid, p === null ? "swapper/0" : p.comm);
  }

  syscallExitChecks(): void {
    if (this.d.debugVm >= 2) this.d.check();
  }

  /**
   * handle_mm_fault for process `p`, with mm_account_fault's count: a fault
   * that read its page from swap or disk (pgmajfault moved) is one of the
   * process's majflt, any other that succeeded one of its minflt.
   */
  handleMmFault(p: Process, va: number, ec: number): number {
    const majors = this.d.memory.stats.pgmajfault;
    this.d.memory.memcg.oomPending = 0;
    this.faulting++;
    this.d.setComm(p.comm);
    this.ev.setTask(p.pid, p.comm);
    let r: number;
    try {
      r =
        this.lab === null || this.d.layers.pageFault === undefined
          ? this.d.memory.handleMmFault(p.mm, va, ec)
          : this.lab.pageFault(p, va, ec);
    } finally {
      this.faulting--;
    }
    if (this.ev.active[EV_PAGE_FAULT_USER] !== 0) this.faultEvent(va, ec, r);
    this.d.setComm("swapper/0");
    this.ev.setTask(0, "swapper/0");
    if (r === FAULT_OK) {
      if (this.d.memory.stats.pgmajfault !== majors) p.majflt++;
      else p.minflt++;
      if (this.d.debugVm >= 3) this.d.check();
    }
    return r;
  }

  /** A user access to a kernel address: SEGV_MAPERR, with its page_fault_user event. */
  kernelAddressFault(p: Process, va: number, ec: number): number {
    if (this.ev.active[EV_PAGE_FAULT_USER] !== 0) {
      this.ev.setTask(p.pid, p.comm);
      this.ev.pageFaultUser(va, ec, 0, false, SEGV_MAPERR, 0);
      this.ev.setTask(0, "swapper/0");
    }
    return FAULT_MAPERR;
  }

  private faultEvent(va: number, ec: number, r: number): void {
    const m = this.d.memory;
    const code = r === FAULT_MAPERR ? SEGV_MAPERR : r === FAULT_ACCERR ? SEGV_ACCERR : 0;
    this.ev.pageFaultUser(va, ec, m.outcome, m.stackGrew, code, r === FAULT_OOM ? 1 : 0);
  }

  /** True when an access of this kind at `va` would still be refused (no VMA, or no permission). */
  wouldSegv(p: Process, va: number, access: "read" | "write" | "exec"): boolean {
    const vmas = this.d.ctx.vmas;
    const vma = vmas.lookup(p.mm, va);
    if (vma === 0) return true;
    return !vmaAllows(vmas.f.flags(vma), access === "write" ? PF_WRITE : access === "exec" ? PF_INSTR : 0);
  }

  sysBrk(p: Process, addr: number): number {
    return sysBrk(this.d.ctx, p.mm, addr);
  }

  sysMmap(p: Process, addr: number, len: number, prot: number, flags: number, fd: number, off: number): number {
    const files = this.vfs?.mappings ?? null;
    if (files === null) return doMmap(this.d.ctx, p.mm, addr, len, prot, flags, fd, off);
    let obj = 0;
    const r = doMmap(this.d.ctx, p.mm, addr, len, prot, flags, fd, off, (n) => {
      const file = files.resolve(p.pid, n);
      if (file !== null) obj = file.obj;
      return file;
    });
    if (obj !== 0) files.dropUnused(obj);
    return r;
  }

  /** msync: MS_SYNC writes back the file pages each shared file mapping of the range maps (their dirty PTEs harvested first). */
  sysMsync(p: FsTask, start: number, len: number, flags: number): number {
    const mm = (p as Process).mm;
    const vfs = this.vfs;
    return sysMsync(this.d.ctx.vmas, mm, start, len, flags, (obj, first, last) => {
      if (vfs?.mappings) vfs.cache.writebackRange(vfs.mappings.ino(obj), first, last);
    });
  }

  sysMunmap(p: Process, addr: number, len: number): number {
    return sysMunmap(this.d.ctx, p.mm, addr, len);
  }

  sysMprotect(p: Process, addr: number, len: number, prot: number): number {
    return sysMprotect(this.d.ctx, p.mm, this.changeProt, addr, len, prot);
  }

  sysMadvise(p: Process, addr: number, len: number, advice: number): number {
    return sysMadvise(this.d.ctx, p.mm, this.pageOps, addr, len, advice);
  }

  /** The machine's mmap context (the mlock family works on it: mm/mlock.ts). */
  mmapContext(): MmapContext {
    return this.d.ctx;
  }

  sysMremap(p: Process, addr: number, oldLen: number, newLen: number, flags: number, newAddr: number): number {
    if (!Number.isSafeInteger(newAddr)) return -EINVAL;
    return sysMremap(this.d.ctx, p.mm, this.pageOps, addr, oldLen, newLen, flags, newAddr);
  }

  /**
   * Reclaims lazily freed pages (MADV_FREE) that were not written since:
   * their entries are cleared and their frames freed. A shrinker under
   * memory pressure, and `m.kernel.reclaimLazyFree()`. Returns pages freed.
   */
  reclaimLazyFree(want = Number.POSITIVE_INFINITY): number {
    return this.d.memory.reclaimLazy(
      [...this.byPid.values()].map((p) => p.mm),
      want,
    );
  }
}
