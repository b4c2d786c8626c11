/**
 * A minimal flat user process for testing userspace code (libc, malloc)
 * before the real process layer lands: a sparse map of 4 KiB pages (one
 * Uint8Array each), VMAs for the brk heap and anonymous mmaps, demand-zero
 * pages counted as faults, permission checks, and brk / mmap / munmap /
 * mprotect / madvise / mremap returning what Linux returns (raw: a value or
 * -errno). It is not an MMU: no page tables, no TLB, no commit accounting.
 *
 * A bad access throws the kernel's SegmentationFault; abort() throws
 * ProcessKilled with SIGABRT, as the real process layer does. Words: pn =
 * page number (va / 4096), vma = [start, end) with its prot.
 */
import { EEXIST, EFAULT, EINVAL, ENOMEM, EPERM, errnoName } from "../../kernel/errno.ts";
import { ProcessKilled, SegmentationFault } from "../../kernel/signal.ts";
import {
  MADV_DONTNEED,
  MADV_FREE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_READ,
  PROT_WRITE,
} from "../../kernel/uapi/mman.ts";
import { SEGV_ACCERR, SEGV_MAPERR, SIGABRT } from "../../kernel/uapi/signal.ts";
import type { UserMemory, UserProcess, UserSyscalls } from "../../userspace/env.ts";

const PAGE = 4096;
const CACHE = 64;
/** Where the heap starts (the initial break), page aligned. */
export const TINY_HEAP_START = 0x555555559000;
/** mmap_base: top-down mmaps are placed below this. */
export const TINY_MMAP_BASE = 0x7ffff7fff000;
const TASK_SIZE = 2 ** 47;
const MMAP_MIN_ADDR = 65536;

interface Vma {
  start: number;
  end: number;
  prot: number;
}

interface Page {
  bytes: Uint8Array;
  view: DataView;
  prot: number;
}

/** Counters of what the process asked of its "kernel". */
export interface TinyStats {
  faults: number;
  brk: number;
  mmap: number;
  munmap: number;
  mprotect: number;
  madvise: number;
  mremap: number;
}

const pageAlign = (n: number) => Math.ceil(n / PAGE) * PAGE;

/** A flat process: see the file comment. */
export class TinyProcess implements UserProcess, UserMemory, UserSyscalls {
  readonly pid: number;
  readonly mem: UserMemory = this;
  /** The process's system calls: this object, or a recorder in front of it (see syscallLog). */
  readonly sys: UserSyscalls;
  /** With `{ log: true }`: every call made through `sys`, as "brk(0x555555559000) = 0x555555559000". */
  readonly syscallLog: string[] = [];
  readonly stats: TinyStats = { faults: 0, brk: 0, mmap: 0, munmap: 0, mprotect: 0, madvise: 0, mremap: 0 };
  /** Everything abort() wrote, as the process's stderr. */
  stderr = "";
  state: "running" | "killed" = "running";
  exitSignal = 0;
  /** Growth of the heap is refused beyond this many bytes (RLIMIT_DATA). */
  rlimitData = 1 << 30;
  private readonly pages = new Map<number, Page>();
  private vmas: Vma[] = [];
  private curBrk = TINY_HEAP_START;
  /** A direct-mapped cache of recent pages (a TLB of sorts): tags and pages by pn % 64, for loads and stores. */
  private readonly rTag = new Float64Array(CACHE).fill(-1);
  private readonly rPages: Array<Page | undefined> = new Array(CACHE).fill(undefined);
  private readonly wTag = new Float64Array(CACHE).fill(-1);
  private readonly wPages: Array<Page | undefined> = new Array(CACHE).fill(undefined);

  constructor(pid = 1, opts: { log?: boolean } = {}) {
    this.pid = pid;
    this.sys = opts.log ? this.recorder() : this;
  }

  private recorder(): UserSyscalls {
    const arg = (v: number) => (v >= 4096 ? `0x${v.toString(16)}` : String(v));
    const fmt = (v: number) => (v < 0 ? `-${errnoName(v)}` : arg(v));
    const rec =
      (name: keyof UserSyscalls) =>
      (...args: number[]): number => {
        const ret = (this[name] as (...a: number[]) => number)(...args);
        this.syscallLog.push(`${name}(${args.map(arg).join(", ")}) = ${fmt(ret)}`);
        return ret;
      };
    return {
      brk: rec("brk"),
      mmap: rec("mmap"),
      munmap: rec("munmap"),
      mprotect: rec("mprotect"),
      madvise: rec("madvise"),
      mremap: rec("mremap"),
    };
  }

  abort(message: string): never {
    this.stderr += `${message}\n`;
    this.state = "killed";
    this.exitSignal = SIGABRT;
    throw new ProcessKilled(this.pid, SIGABRT, message);
  }

  /** Pages present (resident), in bytes. */
  rssBytes(): number {
    return this.pages.size * PAGE;
  }

  /** The VMAs as [start, end, prot] triples, sorted. */
  maps(): Array<[number, number, number]> {
    return this.vmas.map((v) => [v.start, v.end, v.prot]);
  }

  /** True when the page holding `va` is present. */
  isPresent(va: number): boolean {
    return this.pages.has(Math.floor(va / PAGE));
  }

  // ---- memory -------------------------------------------------------------

  private page(pn: number, need: number, va: number): Page {
    let p = this.pages.get(pn);
    if (p === undefined) {
      const v = this.findVma(pn * PAGE);
      if (v === undefined) throw new SegmentationFault(this.pid, SEGV_MAPERR, va, need === PROT_WRITE ? "write" : "read");
      const bytes = new Uint8Array(PAGE);
      p = { bytes, view: new DataView(bytes.buffer), prot: v.prot };
      this.pages.set(pn, p);
      this.stats.faults++;
    }
    if ((p.prot & need) !== need) throw new SegmentationFault(this.pid, SEGV_ACCERR, va, need === PROT_WRITE ? "write" : "read");
    const slot = pn % CACHE;
    if (need === PROT_WRITE) {
      this.wTag[slot] = pn;
      this.wPages[slot] = p;
    } else {
      this.rTag[slot] = pn;
      this.rPages[slot] = p;
    }
    return p;
  }

  private forget(): void {
    this.rTag.fill(-1);
    this.wTag.fill(-1);
  }

  read8(va: number): number {
    const pn = Math.floor(va / PAGE);
    const p = this.rTag[pn % CACHE] === pn ? (this.rPages[pn % CACHE] as Page) : this.page(pn, PROT_READ, va);
    return p.bytes[va - pn * PAGE] as number;
  }

  read16(va: number): number {
    const pn = Math.floor(va / PAGE);
    const off = va - pn * PAGE;
    if (off > PAGE - 2) return this.read8(va) | (this.read8(va + 1) << 8);
    const p = this.rTag[pn % CACHE] === pn ? (this.rPages[pn % CACHE] as Page) : this.page(pn, PROT_READ, va);
    return p.view.getUint16(off, true);
  }

  read32(va: number): number {
    const pn = Math.floor(va / PAGE);
    const off = va - pn * PAGE;
    if (off > PAGE - 4) return (this.read16(va) | (this.read16(va + 2) << 16)) >>> 0;
    const p = this.rTag[pn % CACHE] === pn ? (this.rPages[pn % CACHE] as Page) : this.page(pn, PROT_READ, va);
    return p.view.getUint32(off, true);
  }

  write8(va: number, v: number): void {
    const pn = Math.floor(va / PAGE);
    const p = this.wTag[pn % CACHE] === pn ? (this.wPages[pn % CACHE] as Page) : this.page(pn, PROT_WRITE, va);
    p.bytes[va - pn * PAGE] = v;
  }

  write16(va: number, v: number): void {
    const pn = Math.floor(va / PAGE);
    const off = va - pn * PAGE;
    if (off > PAGE - 2) {
      this.write8(va, v & 0xff);
      this.write8(va + 1, (v >>> 8) & 0xff);
      return;
    }
    const p = this.wTag[pn % CACHE] === pn ? (this.wPages[pn % CACHE] as Page) : this.page(pn, PROT_WRITE, va);
    p.view.setUint16(off, v, true);
  }

  write32(va: number, v: number): void {
    const pn = Math.floor(va / PAGE);
    const off = va - pn * PAGE;
    if (off > PAGE - 4) {
      this.write16(va, v & 0xffff);
      this.write16(va + 2, (v >>> 16) & 0xffff);
      return;
    }
    const p = this.wTag[pn % CACHE] === pn ? (this.wPages[pn % CACHE] as Page) : this.page(pn, PROT_WRITE, va);
    p.view.setUint32(off, v >>> 0, true);
  }

  read(va: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    for (let done = 0; done < len; ) {
      const pn = Math.floor((va + done) / PAGE);
      const off = va + done - pn * PAGE;
      const n = Math.min(PAGE - off, len - done);
      out.set(this.page(pn, PROT_READ, va + done).bytes.subarray(off, off + n), done);
      done += n;
    }
    return out;
  }

  write(va: number, bytes: Uint8Array): void {
    for (let done = 0; done < bytes.length; ) {
      const pn = Math.floor((va + done) / PAGE);
      const off = va + done - pn * PAGE;
      const n = Math.min(PAGE - off, bytes.length - done);
      this.page(pn, PROT_WRITE, va + done).bytes.set(bytes.subarray(done, done + n), off);
      done += n;
    }
  }

  fill(va: number, byte: number, len: number): void {
    for (let done = 0; done < len; ) {
      const pn = Math.floor((va + done) / PAGE);
      const off = va + done - pn * PAGE;
      const n = Math.min(PAGE - off, len - done);
      this.page(pn, PROT_WRITE, va + done).bytes.fill(byte, off, off + n);
      done += n;
    }
  }

  copy(dst: number, src: number, len: number): void {
    if (len <= 0 || dst === src) return;
    this.write(dst, this.read(src, len));
  }

  // ---- system calls ---------------------------------------------------------

  private findVma(va: number): Vma | undefined {
    for (const v of this.vmas) if (va >= v.start && va < v.end) return v;
    return undefined;
  }

  private overlaps(start: number, end: number): boolean {
    return this.vmas.some((v) => v.start < end && start < v.end);
  }

  /** Removes [start, end) from every VMA (splitting) and drops its pages. */
  private unmapRange(start: number, end: number): void {
    const out: Vma[] = [];
    for (const v of this.vmas) {
      if (v.end <= start || v.start >= end) out.push(v);
      else {
        if (v.start < start) out.push({ start: v.start, end: start, prot: v.prot });
        if (v.end > end) out.push({ start: end, end: v.end, prot: v.prot });
      }
    }
    this.vmas = out;
    this.dropPages(start, end);
  }

  private dropPages(start: number, end: number): void {
    for (let pn = start / PAGE; pn < end / PAGE; pn++) this.pages.delete(pn);
    this.forget();
  }

  private insertVma(v: Vma): void {
    this.vmas.push(v);
    this.vmas.sort((a, b) => a.start - b.start);
  }

  private fullyMapped(start: number, end: number): boolean {
    let at = start;
    for (const v of this.vmas) if (v.start <= at && v.end > at) at = v.end;
    return at >= end;
  }

  brk(addr: number): number {
    this.stats.brk++;
    if (addr < TINY_HEAP_START) return this.curBrk;
    const oldEnd = pageAlign(this.curBrk);
    const newEnd = pageAlign(addr);
    if (newEnd > oldEnd) {
      if (addr - TINY_HEAP_START > this.rlimitData || this.overlaps(oldEnd, newEnd + PAGE)) return this.curBrk;
    }
    this.vmas = this.vmas.filter((v) => v.start !== TINY_HEAP_START);
    if (newEnd < oldEnd) this.dropPages(newEnd, oldEnd);
    if (newEnd > TINY_HEAP_START) this.insertVma({ start: TINY_HEAP_START, end: newEnd, prot: PROT_READ | PROT_WRITE });
    this.curBrk = addr;
    return addr;
  }

  private findGap(len: number, hint: number): number {
    if (hint >= MMAP_MIN_ADDR && hint + len <= TASK_SIZE && !this.overlaps(hint, hint + len)) return hint;
    let top = TINY_MMAP_BASE;
    const below = this.vmas.filter((v) => v.start < TINY_MMAP_BASE).sort((a, b) => b.start - a.start);
    for (const v of below) {
      if (v.end <= top - len) {
        if (!this.overlaps(top - len, top)) return top - len;
      }
      top = Math.min(top, v.start);
    }
    return top - len >= pageAlign(this.curBrk) + PAGE ? top - len : -ENOMEM;
  }

  mmap(addr: number, len: number, prot: number, flags: number, _fd = -1, off = 0): number {
    this.stats.mmap++;
    const type = flags & 0x0f;
    if (len === 0 || (type !== MAP_PRIVATE && type !== MAP_SHARED) || off % PAGE !== 0) return -EINVAL;
    if ((flags & MAP_ANONYMOUS) === 0) return -EINVAL;
    const size = pageAlign(len);
    if (size > TASK_SIZE) return -ENOMEM;
    let at: number;
    if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
      if (addr % PAGE !== 0) return -EINVAL;
      if (addr + size > TASK_SIZE) return -ENOMEM;
      if (addr < MMAP_MIN_ADDR) return -EPERM;
      if (flags & MAP_FIXED_NOREPLACE && this.overlaps(addr, addr + size)) return -EEXIST;
      this.unmapRange(addr, addr + size);
      at = addr;
    } else {
      at = this.findGap(size, Math.floor(addr / PAGE) * PAGE);
      if (at < 0) return at;
    }
    this.insertVma({ start: at, end: at + size, prot });
    return at;
  }

  munmap(addr: number, len: number): number {
    this.stats.munmap++;
    if (addr % PAGE !== 0 || len === 0) return -EINVAL;
    this.unmapRange(addr, addr + pageAlign(len));
    return 0;
  }

  mprotect(addr: number, len: number, prot: number): number {
    this.stats.mprotect++;
    if (addr % PAGE !== 0) return -EINVAL;
    const end = addr + pageAlign(len);
    if (!this.fullyMapped(addr, end)) return -ENOMEM;
    const inside = this.vmas.filter((v) => v.start < end && addr < v.end);
    this.unmapRangeKeepPages(addr, end);
    for (const v of inside) this.insertVma({ start: Math.max(v.start, addr), end: Math.min(v.end, end), prot });
    for (let pn = addr / PAGE; pn < end / PAGE; pn++) {
      const p = this.pages.get(pn);
      if (p) p.prot = prot;
    }
    this.forget();
    return 0;
  }

  private unmapRangeKeepPages(start: number, end: number): void {
    const keep = new Map(this.pages);
    this.unmapRange(start, end);
    for (const [pn, p] of keep) if (pn >= start / PAGE && pn < end / PAGE) this.pages.set(pn, p);
  }

  madvise(addr: number, len: number, advice: number): number {
    this.stats.madvise++;
    if (addr % PAGE !== 0) return -EINVAL;
    const end = addr + pageAlign(len);
    if (!this.fullyMapped(addr, end)) return -ENOMEM;
    if (advice === MADV_DONTNEED || advice === MADV_FREE) this.dropPages(addr, end);
    return 0;
  }

  mremap(oldAddr: number, oldLen: number, newLen: number, flags: number, newAddr = 0): number {
    this.stats.mremap++;
    if (oldAddr % PAGE !== 0 || newLen === 0 || flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED)) return -EINVAL;
    const oldSize = pageAlign(oldLen);
    const newSize = pageAlign(newLen);
    const vma = this.findVma(oldAddr);
    if (vma === undefined || vma.end < oldAddr + oldSize) return -EFAULT;
    if (newSize <= oldSize) {
      this.unmapRange(oldAddr + newSize, oldAddr + oldSize);
      return oldAddr;
    }
    if (vma.end === oldAddr + oldSize && !this.overlaps(oldAddr + oldSize, oldAddr + newSize)) {
      vma.end = oldAddr + newSize;
      return oldAddr;
    }
    if ((flags & MREMAP_MAYMOVE) === 0) return -ENOMEM;
    const to = flags & MREMAP_FIXED ? newAddr : this.findGap(newSize, 0);
    if (to < 0) return to;
    const moved: Array<[number, Page]> = [];
    for (let i = 0; i < oldSize / PAGE; i++) {
      const p = this.pages.get(oldAddr / PAGE + i);
      if (p) moved.push([to / PAGE + i, p]);
    }
    this.unmapRange(oldAddr, oldAddr + oldSize);
    this.unmapRange(to, to + newSize);
    this.insertVma({ start: to, end: to + newSize, prot: vma.prot });
    for (const [pn, p] of moved) this.pages.set(pn, p);
    return to;
  }
}
