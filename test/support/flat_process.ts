/**
 * A test-only UserProcess: the address space of one process without a
 * kernel behind it, so userspace code (allocators, the trace replayer) can be
 * tested before the process layer exists, and in isolation after.
 *
 * Two areas of user virtual addresses, each backed by one Uint8Array that
 * grows as the area's mappings grow:
 *
 *   BRK_START                                      MMAP_TOP - mmapBytes      MMAP_TOP
 *   |[heap: brk grows up ...]      (brkBytes) |    |      (... mmaps placed top-down)|
 *
 * Every page has a protection byte (0 = unmapped, else MAPPED | PROT_*).
 * Accesses check the protection of every page they touch and throw
 * {@link SegmentationFault} (SEGV_MAPERR / SEGV_ACCERR, exact byte) like the
 * real MMU. The syscalls return raw Linux results: brk returns the new break,
 * or the old one on failure; the others return a value or -errno.
 *
 * Tests call {@link makeTestProcess}; switching a test to a real process is
 * the one line in that function.
 */
import { EBADF, EEXIST, EFAULT, EINVAL, ENOMEM, ENOSYS, EPERM } from "../../kernel/errno.ts";
import {
  MADV_DONTNEED,
  MADV_FREE,
  MADV_REMOVE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_TYPE,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_EXEC,
  PROT_GROWSDOWN,
  PROT_GROWSUP,
  PROT_READ,
  PROT_WRITE,
} from "../../kernel/uapi/mman.ts";
import { SEGV_ACCERR, SEGV_MAPERR, SIGABRT, SIGSEGV } from "../../kernel/uapi/signal.ts";
import type { UserMemory, UserProcess, UserSyscalls } from "../../userspace/env.ts";

const PAGE = 4096;
const MAPPED = 0x80;
const TASK_SIZE = 2 ** 47;
const MMAP_MIN_ADDR = 65536;

/** Where the heap starts (page aligned, above 2^32 so 32-bit truncation shows). */
export const BRK_START = 0x5555_5556_0000;
/** The top of the mmap area (mappings are placed top-down below it). */
export const MMAP_TOP = 0x7f00_0000_0000;

/** A bad user access: the process would die with SIGSEGV. */
export class SegmentationFault extends Error {
  override readonly name = "SegmentationFault";
  readonly signo = SIGSEGV;
  constructor(
    readonly code: number,
    readonly addr: number,
  ) {
    super(`SIGSEGV (${code === SEGV_MAPERR ? "SEGV_MAPERR" : "SEGV_ACCERR"}) at 0x${addr.toString(16)}`);
  }
}

/** abort(3) was called: the process would die with SIGABRT. */
export class ProcessAborted extends Error {
  override readonly name = "ProcessAborted";
  readonly signo = SIGABRT;
}

/** One area of the address space: a page protection map and its lazily grown backing. */
class Area {
  /** Per page: 0 unmapped, else MAPPED | prot. */
  readonly prot: Uint8Array;
  /** Bytes for area offsets [lo, lo + bytes.length). */
  bytes = new Uint8Array(0);
  view = new DataView(this.bytes.buffer);
  lo = 0;

  constructor(
    readonly base: number,
    readonly size: number,
  ) {
    this.prot = new Uint8Array(size / PAGE);
  }

  /** Grows the backing so offsets [from, to) exist; new bytes read zero. */
  back(from: number, to: number): void {
    const hi = this.lo + this.bytes.length;
    if (from >= this.lo && to <= hi) return;
    let nlo = Math.min(from, this.lo);
    let nhi = Math.max(to, hi);
    if (this.bytes.length === 0) {
      nlo = from;
      nhi = to;
    }
    // Doubling keeps growth amortised; top-down areas grow downwards.
    const want = Math.max(nhi - nlo, this.bytes.length * 2);
    if (nlo < this.lo || this.bytes.length === 0) nlo = Math.max(0, nhi - want);
    else nhi = Math.min(this.size, nlo + want);
    const next = new Uint8Array(nhi - nlo);
    if (this.bytes.length > 0) next.set(this.bytes, this.lo - nlo);
    this.bytes = next;
    this.view = new DataView(next.buffer);
    this.lo = nlo;
  }

  /** Unmaps pages [p0, p1) and zeroes their bytes. */
  unmap(p0: number, p1: number): void {
    this.prot.fill(0, p0, p1);
    const from = Math.max(p0 * PAGE - this.lo, 0);
    const to = Math.min(p1 * PAGE - this.lo, this.bytes.length);
    if (to > from) this.bytes.fill(0, from, to);
  }

  /** Maps pages [p0, p1) with `prot`. */
  map(p0: number, p1: number, prot: number): void {
    this.back(p0 * PAGE, p1 * PAGE);
    this.prot.fill(MAPPED | prot, p0, p1);
  }
}

/** Sizes of the two areas. */
export interface FlatProcessOptions {
  /** Most the break may grow (RLIMIT_DATA); default 256 MiB. */
  brkBytes?: number;
  /** Size of the mmap area; default 256 MiB. */
  mmapBytes?: number;
  pid?: number;
}

/** A process over a flat, lazily backed address space. */
export class FlatProcess implements UserProcess, UserMemory, UserSyscalls {
  readonly pid: number;
  readonly mem: UserMemory = this;
  readonly sys: UserSyscalls = this;
  readonly heap: Area;
  readonly mmapArea: Area;
  /** The current break (any byte value). */
  curBrk = BRK_START;
  /** What abort() was given, as the process's stderr. */
  stderr = "";
  /** Calls per syscall name. */
  readonly calls: Record<string, number> = { brk: 0, mmap: 0, munmap: 0, mprotect: 0, madvise: 0, mremap: 0 };
  private ix = 0;

  constructor(opts: FlatProcessOptions = {}) {
    const brkBytes = opts.brkBytes ?? 256 << 20;
    const mmapBytes = opts.mmapBytes ?? 256 << 20;
    if (brkBytes % PAGE !== 0 || mmapBytes % PAGE !== 0) throw new RangeError("flat process: area sizes must be page multiples");
    this.pid = opts.pid ?? 1;
    this.heap = new Area(BRK_START, brkBytes);
    this.mmapArea = new Area(MMAP_TOP - mmapBytes, mmapBytes);
  }

  abort(message: string): never {
    this.stderr += `${message}\n`;
    throw new ProcessAborted(message);
  }

  /** Bytes currently mapped in the mmap area. */
  mappedBytes(): number {
    let n = 0;
    for (const p of this.mmapArea.prot) if (p !== 0) n += PAGE;
    return n;
  }

  // --- memory -------------------------------------------------------------

  /** The area holding [va, va + len) with `need` allowed on every page; sets this.ix. Throws SegmentationFault. */
  private reach(va: number, len: number, need: number): Area {
    const a = va >= this.mmapArea.base ? this.mmapArea : this.heap;
    const off = va - a.base;
    if (off >= 0 && off + len <= a.size) {
      const p0 = Math.floor(off / PAGE);
      const p1 = Math.floor((off + len - 1) / PAGE);
      let p = p0;
      while (p <= p1 && ((a.prot[p] as number) & need) === need && (a.prot[p] as number) & MAPPED) p++;
      if (p > p1) {
        this.ix = off - a.lo;
        return a;
      }
      const code = a.prot[p] === 0 ? SEGV_MAPERR : SEGV_ACCERR;
      throw new SegmentationFault(code, Math.max(va, a.base + p * PAGE));
    }
    const bad = off < 0 || off >= a.size ? va : a.base + a.size;
    throw new SegmentationFault(SEGV_MAPERR, bad);
  }

  read8(va: number): number {
    return this.reach(va, 1, PROT_READ).bytes[this.ix] as number;
  }
  read16(va: number): number {
    return this.reach(va, 2, PROT_READ).view.getUint16(this.ix, true);
  }
  read32(va: number): number {
    return this.reach(va, 4, PROT_READ).view.getUint32(this.ix, true);
  }
  write8(va: number, v: number): void {
    this.reach(va, 1, PROT_WRITE).bytes[this.ix] = v;
  }
  write16(va: number, v: number): void {
    this.reach(va, 2, PROT_WRITE).view.setUint16(this.ix, v, true);
  }
  write32(va: number, v: number): void {
    this.reach(va, 4, PROT_WRITE).view.setUint32(this.ix, v >>> 0, true);
  }
  read(va: number, len: number): Uint8Array {
    if (len === 0) return new Uint8Array(0);
    const a = this.reach(va, len, PROT_READ);
    return a.bytes.slice(this.ix, this.ix + len);
  }
  write(va: number, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.reach(va, bytes.length, PROT_WRITE).bytes.set(bytes, this.ix);
  }
  fill(va: number, byte: number, len: number): void {
    if (len === 0) return;
    const a = this.reach(va, len, PROT_WRITE);
    a.bytes.fill(byte, this.ix, this.ix + len);
  }
  copy(dst: number, src: number, len: number): void {
    if (len === 0) return;
    const s = this.reach(src, len, PROT_READ);
    const si = this.ix;
    const d = this.reach(dst, len, PROT_WRITE);
    if (s === d) d.bytes.copyWithin(this.ix, si, si + len);
    else d.bytes.set(s.bytes.subarray(si, si + len), this.ix);
  }

  // --- syscalls -----------------------------------------------------------

  brk(addr: number): number {
    this.calls.brk!++;
    const h = this.heap;
    if (addr < BRK_START || addr > BRK_START + h.size) return this.curBrk;
    const oldEnd = Math.ceil((this.curBrk - BRK_START) / PAGE);
    const newEnd = Math.ceil((addr - BRK_START) / PAGE);
    if (newEnd > oldEnd) h.map(oldEnd, newEnd, PROT_READ | PROT_WRITE);
    else if (newEnd < oldEnd) h.unmap(newEnd, oldEnd);
    this.curBrk = addr;
    return addr;
  }

  mmap(addr: number, len: number, prot: number, flags: number, fd = -1, off = 0): number {
    this.calls.mmap!++;
    // The order of the checks is the kernel's (mmap.ts doMmap).
    if (!Number.isSafeInteger(len) || off % PAGE !== 0) return -EINVAL;
    if (!(flags & MAP_ANONYMOUS) || fd !== -1) return -EBADF;
    if (len <= 0) return -EINVAL;
    if (len > TASK_SIZE) return -ENOMEM;
    const type = flags & MAP_TYPE;
    if (type !== 1 && type !== 2 && type !== 3) return -EINVAL;
    const pages = Math.ceil(len / PAGE);
    const a = this.mmapArea;
    if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
      if (addr % PAGE !== 0) return -EINVAL;
      if (addr + pages * PAGE > TASK_SIZE) return -ENOMEM;
      if (addr < MMAP_MIN_ADDR) return -EPERM;
      const p0 = (addr - a.base) / PAGE;
      if (p0 < 0 || p0 + pages > a.prot.length) return -ENOMEM; // the flat process maps only in its mmap area
      if (flags & MAP_FIXED_NOREPLACE && !this.isFree(p0, pages)) return -EEXIST;
      a.unmap(p0, p0 + pages);
      a.map(p0, p0 + pages, prot & 7);
      return addr;
    }
    let p0 = Math.floor((addr - a.base) / PAGE);
    if (addr === 0 || p0 < 0 || p0 + pages > a.prot.length || !this.isFree(p0, pages)) p0 = this.findFree(pages);
    if (p0 < 0) return -ENOMEM;
    a.map(p0, p0 + pages, prot & 7);
    return a.base + p0 * PAGE;
  }

  munmap(addr: number, len: number): number {
    this.calls.munmap!++;
    if (addr % PAGE !== 0 || len === 0 || addr + len > TASK_SIZE || addr < 0) return -EINVAL;
    this.forPages(addr, len, (a, p0, p1) => a.unmap(p0, p1));
    return 0;
  }

  mprotect(addr: number, len: number, prot: number): number {
    this.calls.mprotect!++;
    if (addr % PAGE !== 0) return -EINVAL;
    if (len === 0) return 0;
    if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN | PROT_GROWSUP)) return -EINVAL;
    let hole = false;
    this.forPages(addr, len, (a, p0, p1) => {
      for (let p = p0; p < p1 && !hole; p++) {
        if (a.prot[p] === 0) hole = true;
        else a.prot[p] = MAPPED | (prot & 7);
      }
    });
    return hole || !this.allInAreas(addr, len) ? -ENOMEM : 0;
  }

  madvise(addr: number, len: number, advice: number): number {
    this.calls.madvise!++;
    if (!((advice >= 0 && advice <= 4) || (advice >= 8 && advice <= 19))) return -EINVAL;
    if (addr % PAGE !== 0) return -EINVAL;
    if (len === 0) return 0;
    let hole = !this.allInAreas(addr, len);
    this.forPages(addr, len, (a, p0, p1) => {
      for (let p = p0; p < p1; p++) {
        if (a.prot[p] === 0) hole = true;
        else if (advice === MADV_DONTNEED || advice === MADV_FREE || advice === MADV_REMOVE) {
          const i = p * PAGE - a.lo;
          if (i >= 0 && i < a.bytes.length) a.bytes.fill(0, i, i + PAGE);
        }
      }
    });
    return hole ? -ENOMEM : 0;
  }

  /** A flat process pages nothing, so it has no mlock family: -ENOSYS. */
  mlock(_addr: number, _len: number): number {
    return -ENOSYS;
  }

  mlock2(_addr: number, _len: number, _flags: number): number {
    return -ENOSYS;
  }

  munlock(_addr: number, _len: number): number {
    return -ENOSYS;
  }

  mlockall(_flags: number): number {
    return -ENOSYS;
  }

  munlockall(): number {
    return -ENOSYS;
  }

  mremap(oldAddr: number, oldLen: number, newLen: number, flags: number, newAddr = 0): number {
    this.calls.mremap!++;
    if (oldAddr % PAGE !== 0 || newLen === 0 || flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) return -EINVAL;
    if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) && !(flags & MREMAP_MAYMOVE)) return -EINVAL;
    const a = this.mmapArea;
    const p0 = (oldAddr - a.base) / PAGE;
    const oldPages = Math.ceil(oldLen / PAGE);
    const newPages = Math.ceil(newLen / PAGE);
    // The flat process remaps only inside its mmap area; the heap never moves.
    if (p0 < 0 || p0 + oldPages > a.prot.length || a.prot[p0] === 0) return -EFAULT;
    for (let p = p0; p < p0 + oldPages; p++) if (a.prot[p] !== a.prot[p0]) return -EFAULT;
    const prot = (a.prot[p0] as number) & 7;
    if (!(flags & MREMAP_FIXED)) {
      if (newPages <= oldPages) {
        a.unmap(p0 + newPages, p0 + oldPages);
        return oldAddr;
      }
      if (p0 + newPages <= a.prot.length && this.isFree(p0 + oldPages, newPages - oldPages)) {
        a.map(p0 + oldPages, p0 + newPages, prot);
        return oldAddr;
      }
      if (!(flags & MREMAP_MAYMOVE)) return -ENOMEM;
    }
    const dst = flags & MREMAP_FIXED ? newAddr : this.mmap(0, newPages * PAGE, prot, 0x22);
    if (dst < 0) return dst;
    if (flags & MREMAP_FIXED && this.mmap(dst, newPages * PAGE, prot, 0x32) < 0) return -ENOMEM;
    const n = Math.min(oldPages, newPages) * PAGE;
    a.bytes.copyWithin(dst - a.base - a.lo, oldAddr - a.base - a.lo, oldAddr - a.base - a.lo + n);
    if (!(flags & MREMAP_DONTUNMAP)) a.unmap(p0, p0 + oldPages);
    return dst;
  }

  /** Calls fn(area, p0, p1) for the part of [addr, addr + len) inside each area. */
  private forPages(addr: number, len: number, fn: (a: Area, p0: number, p1: number) => void): void {
    for (const a of [this.heap, this.mmapArea]) {
      const from = Math.max(addr, a.base);
      const to = Math.min(addr + len, a.base + a.size);
      if (to > from) fn(a, Math.floor((from - a.base) / PAGE), Math.ceil((to - a.base) / PAGE));
    }
  }

  private allInAreas(addr: number, len: number): boolean {
    return [this.heap, this.mmapArea].some((a) => addr >= a.base && addr + len <= a.base + a.size);
  }

  private isFree(p0: number, n: number): boolean {
    const prot = this.mmapArea.prot;
    for (let p = p0; p < p0 + n; p++) if (prot[p] !== 0) return false;
    return true;
  }

  /** The highest run of `n` unmapped pages, or -1. */
  private findFree(n: number): number {
    const prot = this.mmapArea.prot;
    let end = prot.length;
    while (end >= n) {
      let p = end - 1;
      while (p >= end - n && prot[p] === 0) p--;
      if (p < end - n) return end - n;
      end = p;
    }
    return -1;
  }
}
