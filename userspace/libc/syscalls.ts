/**
 * The system-call wrappers of the C library, as glibc gives them: a raw
 * result of -errno becomes -1 (or MAP_FAILED) with `errno` set; success
 * leaves errno alone. brk/sbrk keep the break in `curbrk`, as glibc's
 * __curbrk does. Everything here calls UserSyscalls and nothing else.
 */
import { ENOMEM, ENOSYS } from "../../kernel/errno.ts";
import { MAP_FAILED } from "../../kernel/uapi/mman.ts";
import type { UserProcess, UserSyscalls } from "../env.ts";

/** How many times each system call was made through these wrappers. */
export interface SyscallCounts {
  brk: number;
  mmap: number;
  munmap: number;
  mprotect: number;
  madvise: number;
  mremap: number;
}

/** errno plus the memory system calls of one process. */
export class LibcSyscalls {
  /** The C library's errno: set by a failing call, never cleared by a successful one. */
  errno = 0;
  /** The break as libc last saw it (glibc's __curbrk); 0 until the first brk. */
  curbrk = 0;
  readonly counts: SyscallCounts = { brk: 0, mmap: 0, munmap: 0, mprotect: 0, madvise: 0, mremap: 0 };
  declare private readonly sys: UserSyscalls;

  constructor(proc: UserProcess) {
    this.sys = proc.sys;
  }

  /** Calls made through these wrappers, all kinds together. */
  get syscalls(): number {
    const c = this.counts;
    return c.brk + c.mmap + c.munmap + c.mprotect + c.madvise + c.mremap;
  }

  /** Maps a raw result to the C convention: -1 with errno, or the value. */
  protected ret(raw: number): number {
    if (raw < 0) {
      this.errno = -raw;
      return -1;
    }
    return raw;
  }

  /** brk(2) with the raw result: the new break, or the old one when refused. Keeps `curbrk`. */
  rawBrk(addr: number): number {
    this.counts.brk++;
    this.curbrk = this.sys.brk(addr);
    return this.curbrk;
  }

  /**
   * brk(2): sets the break to `addr`. Returns 0, or -1 with errno ENOMEM
   * when the kernel left the break below `addr` (Linux reports failure by
   * returning the old break).
   */
  brk(addr: number): number {
    if (this.rawBrk(addr) < addr) {
      this.errno = ENOMEM;
      return -1;
    }
    return 0;
  }

  /**
   * sbrk with a raw result: the old break, or -ENOMEM when the kernel
   * refuses or the new break would leave [0, 2^64). errno is left alone.
   */
  rawSbrk(increment: number): number {
    if (this.curbrk === 0) this.rawBrk(0);
    if (increment === 0) return this.curbrk;
    const old = this.curbrk;
    if (old + increment < 0 || !Number.isSafeInteger(old + increment)) return -ENOMEM;
    if (this.rawBrk(old + increment) < old + increment) return -ENOMEM;
    return old;
  }

  /**
   * sbrk(3): moves the break by `increment` bytes and returns the old break.
   * Returns -1 ((void *) -1) with errno ENOMEM when the kernel refuses or
   * the new break would leave [0, 2^64).
   */
  sbrk(increment: number): number {
    const old = this.rawSbrk(increment);
    return old < 0 ? this.ret(old) : old;
  }

  /** mmap(2) with the raw result: the address, or -errno. */
  rawMmap(addr: number, len: number, prot: number, flags: number, fd = -1, off = 0): number {
    this.counts.mmap++;
    return this.sys.mmap(addr, len, prot, flags, fd, off);
  }

  /** munmap(2) with the raw result: 0, or -errno. */
  rawMunmap(addr: number, len: number): number {
    this.counts.munmap++;
    return this.sys.munmap(addr, len);
  }

  /** madvise(2) with the raw result: 0, or -errno. */
  rawMadvise(addr: number, len: number, advice: number): number {
    this.counts.madvise++;
    return this.sys.madvise(addr, len, advice);
  }

  /** mprotect(2) with the raw result: 0, or -errno. */
  rawMprotect(addr: number, len: number, prot: number): number {
    this.counts.mprotect++;
    return this.sys.mprotect(addr, len, prot);
  }

  /** mremap(2) with the raw result: the new address, or -errno. */
  rawMremap(oldAddr: number, oldLen: number, newLen: number, flags: number, newAddr = 0): number {
    this.counts.mremap++;
    return this.sys.mremap(oldAddr, oldLen, newLen, flags, newAddr);
  }

  /** mmap(2): the mapping's address, or MAP_FAILED (-1) with errno. */
  mmap(addr: number, len: number, prot: number, flags: number, fd = -1, off = 0): number {
    const raw = this.rawMmap(addr, len, prot, flags, fd, off);
    return raw < 0 ? this.failMap(raw) : raw;
  }

  /** munmap(2): 0, or -1 with errno. */
  munmap(addr: number, len: number): number {
    return this.ret(this.rawMunmap(addr, len));
  }

  /** mprotect(2): 0, or -1 with errno. */
  mprotect(addr: number, len: number, prot: number): number {
    return this.ret(this.rawMprotect(addr, len, prot));
  }

  /** madvise(2): 0, or -1 with errno. */
  madvise(addr: number, len: number, advice: number): number {
    return this.ret(this.rawMadvise(addr, len, advice));
  }

  /** mremap(2): the new address, or MAP_FAILED (-1) with errno. */
  mremap(oldAddr: number, oldLen: number, newLen: number, flags: number, newAddr = 0): number {
    const raw = this.rawMremap(oldAddr, oldLen, newLen, flags, newAddr);
    return raw < 0 ? this.failMap(raw) : raw;
  }

  /** mlock(2): 0, or -1 with errno (EINVAL, ENOMEM, EPERM). Not counted in `counts`. */
  mlock(addr: number, len: number): number {
    return this.ret(this.sys.mlock(addr, len));
  }

  /** mlock2(2) with flags 0 or MLOCK_ONFAULT: 0, or -1 with errno. */
  mlock2(addr: number, len: number, flags: number): number {
    return this.ret(this.sys.mlock2(addr, len, flags));
  }

  /** munlock(2): 0, or -1 with errno. */
  munlock(addr: number, len: number): number {
    return this.ret(this.sys.munlock(addr, len));
  }

  /** mlockall(2) with MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT: 0, or -1 with errno. */
  mlockall(flags: number): number {
    return this.ret(this.sys.mlockall(flags));
  }

  /** munlockall(2): 0. */
  munlockall(): number {
    return this.ret(this.sys.munlockall());
  }

  /** set_mempolicy(2) (libnuma's numaif.h wrapper): 0, or -1 with errno; ENOSYS on a host without it. */
  setMempolicy(mode: number, nmask: number, maxnode: number): number {
    return this.ret(this.sys.setMempolicy?.(mode, nmask, maxnode) ?? -ENOSYS);
  }

  /** get_mempolicy(2): 0, or -1 with errno; ENOSYS on a host without it. */
  getMempolicy(policy: number, nmask: number, maxnode: number, addr: number, flags: number): number {
    return this.ret(this.sys.getMempolicy?.(policy, nmask, maxnode, addr, flags) ?? -ENOSYS);
  }

  /** mbind(2): 0, or -1 with errno; ENOSYS on a host without it. */
  mbind(addr: number, len: number, mode: number, nmask: number, maxnode: number, flags: number): number {
    return this.ret(this.sys.mbind?.(addr, len, mode, nmask, maxnode, flags) ?? -ENOSYS);
  }

  private failMap(raw: number): number {
    this.errno = -raw;
    return MAP_FAILED;
  }
}
