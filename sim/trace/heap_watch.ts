/**
 * The driver's own view of the heap, like mdriver's memlib: a UserProcess
 * wrapper whose syscalls pass through unchanged but are recorded, so the
 * replay knows what the allocator got from the kernel without trusting the
 * allocator: the brk heap [start, break) and every mapped range. From these
 * come "payload inside the heap" and the heap size that utilisation divides by.
 */
import { MREMAP_DONTUNMAP } from "../../kernel/uapi/mman.ts";
import type { UserMemory, UserProcess, UserSyscalls } from "../../userspace/env.ts";

const PAGE = 4096;

/** Syscalls seen, by name. */
export interface SyscallCounts {
  brk: number;
  mmap: number;
  munmap: number;
  mremap: number;
  other: number;
}

/** Records the heap extent of the process it wraps. */
export class HeapWatch implements UserSyscalls {
  /** The process to hand the allocator. */
  readonly proc: UserProcess;
  readonly brkStart: number;
  brkCur: number;
  /** Disjoint mapped ranges [starts[i], ends[i]), sorted. */
  private starts: number[] = [];
  private ends: number[] = [];
  mmappedBytes = 0;
  peakHeap = 0;
  readonly counts: SyscallCounts = { brk: 0, mmap: 0, munmap: 0, mremap: 0, other: 0 };

  constructor(private readonly inner: UserProcess) {
    this.brkStart = inner.sys.brk(0);
    this.brkCur = this.brkStart;
    const mem: UserMemory = inner.mem;
    this.proc = { pid: inner.pid, mem, sys: this, abort: (msg: string) => inner.abort(msg) };
  }

  /** Bytes the allocator holds from the kernel now. */
  heapBytes(): number {
    return this.brkCur - this.brkStart + this.mmappedBytes;
  }

  /** True when [p, p + len) lies inside the brk heap or inside one mapped range. */
  contains(p: number, len: number): boolean {
    if (p >= this.brkStart && p + len <= this.brkCur) return true;
    const i = this.rangeAt(p);
    return i >= 0 && p + len <= (this.ends[i] as number);
  }

  /** Index of the range holding `p`, or -1. */
  private rangeAt(p: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((this.starts[mid] as number) > p) hi = mid - 1;
      else if ((this.ends[mid] as number) <= p) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  private notePeak(): void {
    const h = this.heapBytes();
    if (h > this.peakHeap) this.peakHeap = h;
  }

  /** Adds [a, b) to the mapped ranges, merging. */
  private addRange(a: number, b: number): void {
    this.subRange(a, b);
    let i = 0;
    while (i < this.starts.length && (this.starts[i] as number) < a) i++;
    this.starts.splice(i, 0, a);
    this.ends.splice(i, 0, b);
    this.mmappedBytes += b - a;
    if (i + 1 < this.starts.length && this.starts[i + 1] === b) {
      this.ends[i] = this.ends[i + 1] as number;
      this.starts.splice(i + 1, 1);
      this.ends.splice(i + 1, 1);
    }
    if (i > 0 && this.ends[i - 1] === a) {
      this.ends[i - 1] = this.ends[i] as number;
      this.starts.splice(i, 1);
      this.ends.splice(i, 1);
    }
  }

  /** Removes [a, b) from the mapped ranges, splitting. */
  private subRange(a: number, b: number): void {
    const s: number[] = [];
    const e: number[] = [];
    for (let i = 0; i < this.starts.length; i++) {
      const x = this.starts[i] as number;
      const y = this.ends[i] as number;
      if (y <= a || x >= b) {
        s.push(x);
        e.push(y);
        continue;
      }
      this.mmappedBytes -= Math.min(y, b) - Math.max(x, a);
      if (x < a) {
        s.push(x);
        e.push(a);
      }
      if (y > b) {
        s.push(b);
        e.push(y);
      }
    }
    this.starts = s;
    this.ends = e;
  }

  // --- the syscalls, passed through ---------------------------------------

  brk(addr: number): number {
    this.counts.brk++;
    const r = this.inner.sys.brk(addr);
    if (r >= this.brkStart) this.brkCur = r;
    this.notePeak();
    return r;
  }

  mmap(addr: number, len: number, prot: number, flags: number, fd = -1, off = 0): number {
    this.counts.mmap++;
    const r = this.inner.sys.mmap(addr, len, prot, flags, fd, off);
    if (r >= 0) {
      this.addRange(r, r + Math.ceil(len / PAGE) * PAGE);
      this.notePeak();
    }
    return r;
  }

  munmap(addr: number, len: number): number {
    this.counts.munmap++;
    const r = this.inner.sys.munmap(addr, len);
    if (r === 0) this.subRange(addr, addr + Math.ceil(len / PAGE) * PAGE);
    return r;
  }

  mremap(oldAddr: number, oldLen: number, newLen: number, flags: number, newAddr?: number): number {
    this.counts.mremap++;
    const r = this.inner.sys.mremap(oldAddr, oldLen, newLen, flags, newAddr);
    if (r >= 0) {
      if (r === oldAddr || !(flags & MREMAP_DONTUNMAP)) this.subRange(oldAddr, oldAddr + Math.ceil(oldLen / PAGE) * PAGE);
      this.addRange(r, r + Math.ceil(newLen / PAGE) * PAGE);
      this.notePeak();
    }
    return r;
  }

  mprotect(addr: number, len: number, prot: number): number {
    this.counts.other++;
    return this.inner.sys.mprotect(addr, len, prot);
  }

  madvise(addr: number, len: number, advice: number): number {
    this.counts.other++;
    return this.inner.sys.madvise(addr, len, advice);
  }

  mlock(addr: number, len: number): number {
    this.counts.other++;
    return this.inner.sys.mlock(addr, len);
  }

  mlock2(addr: number, len: number, flags: number): number {
    this.counts.other++;
    return this.inner.sys.mlock2(addr, len, flags);
  }

  munlock(addr: number, len: number): number {
    this.counts.other++;
    return this.inner.sys.munlock(addr, len);
  }

  mlockall(flags: number): number {
    this.counts.other++;
    return this.inner.sys.mlockall(flags);
  }

  munlockall(): number {
    this.counts.other++;
    return this.inner.sys.munlockall();
  }
}
