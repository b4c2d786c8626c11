/**
 * The memory system calls of one process, as a program sees them: raw Linux
 * results (a value or -errno; brk returns the break). Wild arguments (NaN,
 * negative, fractional, huge) become the errno Linux gives for a bad value,
 * never an exception. At debug level 2 and above every invariant checker
 * runs at syscall exit. Each one counts the locks Linux would take for it
 * (mmap_lock, the page-table lock) for the scheduler's lock model.
 */

import { EV_BRK, EV_MADVISE, EV_MMAP, EV_MPROTECT, EV_MREMAP, EV_MUNMAP } from "./events_types.ts";
import { FileSyscalls } from "./fs/fs_syscalls.ts";
import { userPa } from "./fs/uaccess.ts";
import { type PolicyUserAccess, sysGetMempolicy, sysMbind, sysSetMempolicy } from "./mm/mempolicy.ts";
import { sysMlock2, sysMlockall, sysMunlock, sysMunlockall } from "./mm/mlock.ts";
import type { Process } from "./process.ts";
import type { UserSyscalls } from "./uapi/process.ts";

/** The syscall table entries for memory (and, inherited, for files: fs/fs_syscalls.ts), bound to one process. */
export class Syscalls extends FileSyscalls implements UserSyscalls {
  constructor(private readonly p: Process) {
    super(p);
  }

  /** sched_getcpu(3): the running CPU (the scheduler's choice for the calling thread). */
  getcpu(): number {
    return this.p.tasks.currentCpu();
  }

  /** get_nprocs(3): the machine's CPU count. */
  nprocs(): number {
    return this.p.tasks.nrCpus;
  }

  /** gettid(2): the thread the scheduler runs now when it is one of this process's, else the leader (tid = pid). */
  gettid(): number {
    const t = this.p.tasks.currentTid;
    if (t === 0) return this.p.pid;
    const threads = this.p.threads;
    for (let i = 0; i < threads.length; i++) if ((threads[i] as { tid: number }).tid === t) return t;
    return this.p.pid;
  }

  /** Records that the running operation holds the user mutex at `uaddr` (kernel/uapi/process.ts). Returns 0. */
  mutexHold(uaddr: number): number {
    const locks = this.p.tasks.syscallLocks;
    if (locks.recordUserMutexes) locks.userMutexes.push(uaddr);
    return 0;
  }

  brk(addr: number): number {
    const p = this.p;
    p.enter();
    const locks = p.tasks.syscallLocks;
    locks.mmapWrite++;
    const r = p.tasks.sysBrk(p, addr);
    if (p.tasks.ev.active[EV_BRK] !== 0) p.tasks.ev.sysBrk(addr, r);
    p.leave();
    return r;
  }

  mmap(addr: number, len: number, prot: number, flags: number, fd = -1, off = 0): number {
    const p = this.p;
    p.enter();
    const locks = p.tasks.syscallLocks;
    locks.mmapWrite++;
    const r = p.tasks.sysMmap(p, addr, len, prot, flags, fd, off);
    if (p.tasks.ev.active[EV_MMAP] !== 0) p.tasks.ev.sysMmap(addr, len, prot, flags, fd, off, r);
    p.leave();
    return r;
  }

  munmap(addr: number, len: number): number {
    const p = this.p;
    p.enter();
    const locks = p.tasks.syscallLocks;
    locks.mmapWrite++;
    locks.ptl++;
    const r = p.tasks.sysMunmap(p, addr, len);
    if (p.tasks.ev.active[EV_MUNMAP] !== 0) p.tasks.ev.sysMunmap(addr, len, r);
    p.leave();
    return r;
  }

  mprotect(addr: number, len: number, prot: number): number {
    const p = this.p;
    p.enter();
    const locks = p.tasks.syscallLocks;
    locks.mmapWrite++;
    locks.ptl++;
    const r = p.tasks.sysMprotect(p, addr, len, prot);
    if (p.tasks.ev.active[EV_MPROTECT] !== 0) p.tasks.ev.sysMprotect(addr, len, prot, r);
    p.leave();
    return r;
  }

  madvise(addr: number, len: number, advice: number): number {
    const p = this.p;
    p.enter();
    const locks = p.tasks.syscallLocks;
    locks.mmapRead++;
    locks.ptl++;
    const r = p.tasks.sysMadvise(p, addr, len, advice);
    if (p.tasks.ev.active[EV_MADVISE] !== 0) p.tasks.ev.sysMadvise(addr, len, advice, r);
    p.leave();
    return r;
  }

  mremap(oldAddr: number, oldLen: number, newLen: number, flags: number, newAddr = 0): number {
    const p = this.p;
    p.enter();
    const locks = p.tasks.syscallLocks;
    locks.mmapWrite++;
    locks.ptl++;
    const r = p.tasks.sysMremap(p, oldAddr, oldLen, newLen, flags, newAddr);
    if (p.tasks.ev.active[EV_MREMAP] !== 0) p.tasks.ev.sysMremap(oldAddr, oldLen, newLen, flags, newAddr, r);
    p.leave();
    return r;
  }

  mlock(addr: number, len: number): number {
    return this.mlock2(addr, len, 0);
  }

  mlock2(addr: number, len: number, flags: number): number {
    const p = this.p;
    p.enter();
    p.tasks.syscallLocks.mmapWrite++;
    const r = sysMlock2(p.tasks.mmapContext(), p.mm, addr, len, flags);
    p.leave();
    return r;
  }

  munlock(addr: number, len: number): number {
    const p = this.p;
    p.enter();
    p.tasks.syscallLocks.mmapWrite++;
    const r = sysMunlock(p.tasks.mmapContext(), p.mm, addr, len);
    p.leave();
    return r;
  }

  mlockall(flags: number): number {
    const p = this.p;
    p.enter();
    p.tasks.syscallLocks.mmapWrite++;
    const r = sysMlockall(p.tasks.mmapContext(), p.mm, flags);
    p.leave();
    return r;
  }

  munlockall(): number {
    const p = this.p;
    p.enter();
    p.tasks.syscallLocks.mmapWrite++;
    const r = sysMunlockall(p.tasks.mmapContext(), p.mm);
    p.leave();
    return r;
  }

  setMempolicy(mode: number, nmask: number, maxnode: number): number {
    const p = this.p;
    p.enter();
    const r = sysSetMempolicy(p.tasks.policy, this.policyUser(), p.mm, mode, nmask, maxnode);
    p.leave();
    return r;
  }

  getMempolicy(policy: number, nmask: number, maxnode: number, addr: number, flags: number): number {
    const p = this.p;
    p.enter();
    p.tasks.syscallLocks.mmapRead++;
    const r = sysGetMempolicy(p.tasks.policy, this.policyUser(), p.mm, policy, nmask, maxnode, addr, flags);
    p.leave();
    return r;
  }

  mbind(addr: number, len: number, mode: number, nmask: number, maxnode: number, flags: number): number {
    const p = this.p;
    p.enter();
    p.tasks.syscallLocks.mmapWrite++;
    const pol = p.tasks.policy;
    const r = sysMbind(pol, this.policyUser(), p.mm, { start: addr, len }, mode, nmask, maxnode, flags, pol);
    p.leave();
    return r;
  }

  /** The user words the policy syscalls read and write (get_user, put_user), through the process's page table. */
  private policyUser(): PolicyUserAccess {
    const p = this.p;
    const phys = p.mem.mmu.phys;
    const numa = p.tasks.policy.numa;
    return {
      read32: (va) => {
        let v = 0;
        for (let i = 0; i < 4; i++) {
          const pa = userPa(p, va + i, "read");
          if (pa < 0) return -1;
          v |= (phys.u8[pa] as number) << (8 * i);
        }
        return v >>> 0;
      },
      write32: (va, v) => {
        for (let i = 0; i < 4; i++) {
          const pa = userPa(p, va + i, "write");
          if (pa < 0) return false;
          phys.u8[pa] = (v >>> (8 * i)) & 0xff;
        }
        return true;
      },
      nodeAt: (va) => {
        const pa = userPa(p, va, "read");
        return pa < 0 ? -1 : numa.nodeOf(Math.floor(pa / 4096));
      },
    };
  }
}
