/**
 * mmap and munmap (Linux mm/mmap.c): argument checks in Linux's order,
 * get_unmapped_area, mmap_region and the munmap walk, with commit
 * accounting. Every function returns what the syscall returns: an address,
 * 0, or -errno. brk, mm/mmap.c's other syscall, is in brk.ts.
 *
 * Calls: vma.ts for VMA bookkeeping, PageTableOps (memory.ts) to zap,
 * populate and free page tables, commit.ts to charge and uncharge.
 */
import { EACCES, EAGAIN, EBADF, EEXIST, EINVAL, ENODEV, ENOMEM, EOVERFLOW, EPERM } from "../errno.ts";
import {
  MAP_ANONYMOUS,
  MAP_DROPPABLE,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_HUGETLB,
  MAP_LOCKED,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MAP_TYPE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from "../uapi/mman.ts";
import { type CommitAccounting, OVERCOMMIT_NEVER } from "./commit.ts";
import type { Hugetlb } from "./hugetlb.ts";
import { hugetlbRangeCheck, mmapHugetlb } from "./hugetlb_mmap.ts";
import { lockableFlags, type MlockPages, mlockFutureOk, munlockVmaForUnmap } from "./mlock_folio.ts";
import { MMAP_MIN_ADDR, type MmStruct, PAGE } from "./mm.ts";
import {
  VM_ACCOUNT,
  VM_DONTDUMP,
  VM_DROPPABLE,
  VM_EXEC,
  VM_GROWSDOWN,
  VM_HUGETLB,
  VM_HUGETLB_RESV,
  VM_LOCKED,
  VM_LOCKONFAULT,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_NORESERVE,
  VM_READ,
  VM_SHARED,
  VM_WIPEONFORK,
  VM_WRITE,
} from "./mm_types.ts";
import { HPAGE_SIZE } from "./pgtable_types.ts";
import { pageAlign } from "./types.ts";
import { type VmaOps, vmStartGap } from "./vma.ts";

/** What mmap.ts needs from the page-table side (memory.ts). */
export interface PageTableOps {
  /** Unmaps [start, end) of one VMA's pages, releasing frames. */
  zapRange(mm: MmStruct, vma: number, start: number, end: number): void;
  /** Frees page-table pages wholly inside [start, end) that map nothing now. */
  freePgtables(mm: MmStruct, start: number, end: number): void;
  /** Faults in every page of [start, end) as a write or read would (MAP_POPULATE). */
  populate(mm: MmStruct, vma: number, start: number, end: number): void;
  /** A new shared anonymous object of `pages` pages, charged to commit when asked; its id, or 0 (no memory) / -1 (commit refused). */
  shmemCreate(pages: number, charge: boolean): number;
}

/** An open file as mmap sees it (the fd resolved by the caller, kernel/fs/file_mmap.ts). */
export interface MmapFile {
  /** The VMA object word naming the open file (VMA_FILE set); the VMA takes its own reference. */
  readonly obj: number;
  /** FMODE_READ and FMODE_WRITE of the open file. */
  readonly readable: boolean;
  readonly writable: boolean;
  /** False for a file type without an mmap operation (a directory): ENODEV. */
  readonly mappable: boolean;
}

/** Machine-wide context the mmap family works in. */
export interface MmapContext {
  readonly vmas: VmaOps;
  readonly pt: PageTableOps;
  readonly commit: CommitAccounting;
  readonly maxMapCount: number;
  /** The hugetlb pool MAP_HUGETLB draws from; without it MAP_HUGETLB is -ENOMEM. */
  readonly hugetlb?: Hugetlb;
  /** The page side of mlock (mlock.ts): locked pages go to and leave the unevictable list. */
  readonly mlock: MlockPages;
}

/** calc_vm_prot_bits + the MAY bits every mapping starts with. */
export function protToVmFlags(prot: number): number {
  let f = VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
  if (prot & PROT_READ) f |= VM_READ;
  if (prot & PROT_WRITE) f |= VM_WRITE;
  if (prot & PROT_EXEC) f |= VM_EXEC;
  return f;
}

/** accountable_mapping: private writable memory is charged, unless NORESERVE or hugetlb (the pool reserves it). */
export function accountable(flags: number): boolean {
  return (flags & (VM_NORESERVE | VM_SHARED | VM_WRITE | VM_HUGETLB)) === VM_WRITE;
}

/** True for a safe integer usable as an address or length. */
export function isAddr(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/**
 * get_unmapped_area: a free range of len bytes. A hint is used when the
 * range is free and clear of guard gaps; otherwise top-down below mmap_base.
 * Returns the address, -ENOMEM when nothing fits, or (MAP_FIXED) -EINVAL /
 * -ENOMEM / -EPERM for a bad fixed address.
 */
export function getUnmappedArea(ctx: MmapContext, mm: MmStruct, addr: number, len: number, flags: number): number {
  if (len > mm.stackTop) return -ENOMEM;
  if (flags & MAP_FIXED) {
    if (addr % PAGE !== 0) return -EINVAL;
    if (addr > mm.stackTop - len) return -ENOMEM;
    if (addr < MMAP_MIN_ADDR) return -EPERM;
    return addr;
  }
  if (addr) {
    addr = pageAlign(addr);
    if (addr <= mm.stackTop - len && addr >= MMAP_MIN_ADDR && rangeFree(ctx, mm, addr, len)) return addr;
  }
  const low = Math.max(PAGE, MMAP_MIN_ADDR);
  const found = mm.tree.topDownGap(len, low, mm.mmapBase);
  if (found >= 0) return found;
  // Linux falls back to a bottom-up search; the top-down search over all of
  // user space covers the same ranges.
  const any = mm.tree.topDownGap(len, low, mm.stackTop);
  return any >= 0 ? any : -ENOMEM;
}

/** True when [addr, addr + len) touches no VMA and no VMA's guard gap. */
function rangeFree(ctx: MmapContext, mm: MmStruct, addr: number, len: number): boolean {
  const f = ctx.vmas.f;
  const next = ctx.vmas.findVma(mm, addr);
  if (next !== 0 && addr + len > vmStartGap(f.start(next), f.flags(next))) return false;
  const prevN = next === 0 ? mm.tree.last() : mm.tree.prev(mm.tree.lookup(f.start(next)));
  return prevN < 0 || mm.tree.end(prevN) <= addr;
}

/**
 * do_mmap. Checks run in Linux's order: offset alignment, file descriptor,
 * length, address, type flags (and the open file's mode), limits, commit.
 * `files` resolves a descriptor (null when it names no open file); without
 * it every file mapping is -EBADF.
 */
export function doMmap(
  ctx: MmapContext,
  mm: MmStruct,
  addr: number,
  len: number,
  prot: number,
  flags: number,
  fd: number,
  off: number,
  files: ((fd: number) => MmapFile | null) | null = null,
): number {
  if (!isAddr(addr) || !Number.isInteger(len) || !Number.isSafeInteger(prot) || !Number.isSafeInteger(flags)) return -EINVAL;
  if (!Number.isSafeInteger(off) || off % PAGE !== 0) return -EINVAL;
  // An anonymous mapping with a descriptor other than -1 is refused as before (memsim's rule).
  if (flags & MAP_ANONYMOUS && fd !== -1) return -EBADF;
  const file = flags & MAP_ANONYMOUS || files === null ? null : files(fd);
  if (!(flags & MAP_ANONYMOUS) && file === null) return -EBADF;
  if (len === 0) return -EINVAL;
  // len is a size_t: a negative one, or one PAGE_ALIGN takes past 2^64, is too large.
  if (len < 0 || len > mm.stackTop) return -ENOMEM;
  if (flags & MAP_FIXED_NOREPLACE) flags |= MAP_FIXED;
  if (!(flags & MAP_FIXED)) {
    // round_hint_to_min: a hint is rounded down to a page, and lifted to mmap_min_addr.
    addr = Math.floor(addr / PAGE) * PAGE;
    if (addr !== 0 && addr < MMAP_MIN_ADDR) addr = MMAP_MIN_ADDR;
  }
  len = pageAlign(len);
  if (len > mm.stackTop) return -ENOMEM;
  if (off / PAGE + len / PAGE > 2 ** 52) return -EOVERFLOW;
  if (file !== null) return mmapFile(ctx, mm, addr, len, prot, flags, file, off);
  // Anonymous memory knows MAP_SHARED, MAP_PRIVATE and MAP_DROPPABLE; MAP_SHARED_VALIDATE is for files.
  const type = flags & MAP_TYPE;
  if (type !== MAP_SHARED && type !== MAP_PRIVATE && type !== MAP_DROPPABLE) return -EINVAL;
  const shared = type === MAP_SHARED;
  if (shared && flags & MAP_GROWSDOWN) return -EINVAL;
  if (type === MAP_DROPPABLE && flags & (MAP_LOCKED | MAP_HUGETLB | MAP_GROWSDOWN)) return -EINVAL;
  if (flags & MAP_HUGETLB) return doMmapHugetlb(ctx, mm, addr, len, prot, flags);
  const at = getUnmappedArea(ctx, mm, addr, len, flags);
  if (at < 0) return at;
  if (flags & MAP_FIXED_NOREPLACE) {
    const hit = ctx.vmas.findVma(mm, at);
    if (hit !== 0 && ctx.vmas.f.start(hit) < at + len) return -EEXIST;
  }
  let vmFlags = protToVmFlags(prot);
  if (shared) vmFlags |= VM_SHARED | VM_MAYSHARE;
  if (flags & MAP_GROWSDOWN) vmFlags |= VM_GROWSDOWN;
  if (flags & MAP_NORESERVE && ctx.commit.mode !== OVERCOMMIT_NEVER) vmFlags |= VM_NORESERVE;
  // Droppable pages are never reserved, and go neither to a child nor to a core dump.
  if (type === MAP_DROPPABLE) vmFlags |= VM_DROPPABLE | VM_NORESERVE | VM_WIPEONFORK | VM_DONTDUMP;
  if (flags & MAP_LOCKED) vmFlags |= VM_LOCKED;
  vmFlags = lockableFlags(vmFlags | mm.defFlags);
  if (!mlockFutureOk(ctx.vmas, mm, vmFlags, len)) return -EAGAIN;
  const r = mmapRegion(ctx, mm, at, len, vmFlags);
  if (r < 0) return r;
  if (populates(flags, vmFlags)) populateRange(ctx, mm, at, at + len);
  return at;
}

/** do_mmap for MAP_HUGETLB (hugetlb_mmap.ts), populated when asked. */
function doMmapHugetlb(ctx: MmapContext, mm: MmStruct, addr: number, len: number, prot: number, flags: number): number {
  const hugetlb = ctx.hugetlb;
  // A geometry without huge leaves (x86-32: no PSE pages) has no page size MAP_HUGETLB could ask for.
  if (!mm.pt.geo.hugePages) return -EINVAL;
  if (hugetlb === undefined || flags & MAP_FIXED_NOREPLACE) return hugetlb === undefined ? -ENOMEM : -EINVAL;
  const ops = {
    hugetlb,
    vmas: ctx.vmas,
    region: (a: number, l: number, v: number) => mmapRegion(ctx, mm, a, l, v),
    unmappedArea: (a: number, l: number, f: number) => getUnmappedArea(ctx, mm, a, l, f),
  };
  const vmFlags = protToVmFlags(prot) | (flags & MAP_LOCKED ? VM_LOCKED : 0);
  const at = mmapHugetlb(ops, mm, addr, len, vmFlags, flags);
  // A shared mapping is populated at once (hugetlb_mmap.ts).
  if (at >= 0 && flags & (MAP_POPULATE | MAP_LOCKED | MAP_SHARED))
    populateRange(ctx, mm, at, at + Math.ceil(len / HPAGE_SIZE) * HPAGE_SIZE);
  return at;
}

/**
 * do_mmap's file half: the mapping type against the open file's mode
 * (EACCES for a shared writable mapping of a file not open for writing, or
 * any mapping of one not open for reading; ENODEV for a directory), then
 * the range, then mmap_region with the file as the VMA's object. A shared
 * mapping of a read-only file loses VM_MAYWRITE and VM_SHARED (it keeps
 * VM_MAYSHARE, so maps shows "s"), and mprotect may never make it writable.
 */
function mmapFile(
  ctx: MmapContext,
  mm: MmStruct,
  addr: number,
  len: number,
  prot: number,
  flags: number,
  file: MmapFile,
  off: number,
): number {
  const type = flags & MAP_TYPE;
  let vmFlags = protToVmFlags(prot);
  if (type === MAP_SHARED || type === MAP_SHARED_VALIDATE) {
    if (prot & PROT_WRITE && !file.writable) return -EACCES;
    vmFlags |= VM_SHARED | VM_MAYSHARE;
    if (!file.writable) vmFlags &= ~(VM_MAYWRITE | VM_SHARED);
  } else if (type !== MAP_PRIVATE) return -EINVAL;
  if (!file.readable) return -EACCES;
  if (!file.mappable) return -ENODEV;
  if (flags & MAP_GROWSDOWN) return -EINVAL;
  if (flags & MAP_HUGETLB) return -ENOMEM;
  const at = getUnmappedArea(ctx, mm, addr, len, flags);
  if (at < 0) return at;
  if (flags & MAP_FIXED_NOREPLACE) {
    const hit = ctx.vmas.findVma(mm, at);
    if (hit !== 0 && ctx.vmas.f.start(hit) < at + len) return -EEXIST;
  }
  if (flags & MAP_NORESERVE && ctx.commit.mode !== OVERCOMMIT_NEVER) vmFlags |= VM_NORESERVE;
  if (flags & MAP_LOCKED) vmFlags |= VM_LOCKED;
  vmFlags |= mm.defFlags;
  if (!mlockFutureOk(ctx.vmas, mm, vmFlags, len)) return -EAGAIN;
  const r = mmapRegion(ctx, mm, at, len, vmFlags, { obj: file.obj, pgoff: off / PAGE });
  if (r < 0) return r;
  if (populates(flags, vmFlags)) populateRange(ctx, mm, at, at + len);
  return at;
}

/** A new mapping is populated at once (mm_populate) with MAP_POPULATE, or when locked (MAP_LOCKED, MCL_FUTURE) but not on fault. */
function populates(flags: number, vmFlags: number): boolean {
  return (flags & MAP_POPULATE) !== 0 || (vmFlags & (VM_LOCKED | VM_LOCKONFAULT)) === VM_LOCKED;
}

/** may_expand_vm: RLIMIT_AS and RLIMIT_DATA. */
export function mayExpandVm(mm: MmStruct, flags: number, pages: number): boolean {
  if ((mm.totalVm + pages) * PAGE > mm.rlimits.as) return false;
  if ((flags & (VM_WRITE | VM_SHARED | VM_GROWSDOWN)) === VM_WRITE && (mm.dataVm + pages) * PAGE > mm.rlimits.data) return false;
  return true;
}

/**
 * mmap_region: unmaps what the range overlaps (MAP_FIXED), charges commit,
 * then extends a neighbour or makes a new VMA. `file` (a file mapping)
 * names the object the VMA maps and the page offset of its start.
 * Returns 0 or -ENOMEM.
 */
export function mmapRegion(
  ctx: MmapContext,
  mm: MmStruct,
  addr: number,
  len: number,
  vmFlags: number,
  file: { obj: number; pgoff: number } | null = null,
): number {
  const pages = len / PAGE;
  const overlap = overlappingPages(ctx, mm, addr, addr + len);
  if (!mayExpandVm(mm, vmFlags, pages - overlap)) return -ENOMEM;
  if (overlap > 0) {
    const err = doMunmap(ctx, mm, addr, len);
    if (err < 0) return err;
  }
  // Never more than max_map_count VMAs: a new VMA that will not merge needs room.
  const accountFlags = accountable(vmFlags) ? vmFlags | VM_ACCOUNT : vmFlags;
  if (
    mm.mapCount >= ctx.maxMapCount &&
    (vmFlags & VM_SHARED || file !== null || ctx.vmas.mergeNewRange(mm, addr, addr + len, accountFlags, "probe") === 0)
  ) {
    return -ENOMEM;
  }
  // Private writable memory is charged to the VMA (VM_ACCOUNT); shared
  // anonymous memory to its shmem object, for as long as the object lives.
  const charge = accountable(vmFlags);
  if (charge) {
    if (!ctx.commit.charge(pages)) return -ENOMEM;
    mm.committed += pages;
    vmFlags |= VM_ACCOUNT;
  }
  if (file !== null) return insertFileVma(ctx, mm, addr, len, vmFlags, file, charge);
  // A private range next to a compatible VMA extends it; no new object is needed.
  if (!(vmFlags & VM_SHARED) && ctx.vmas.mergeNewRange(mm, addr, addr + len, vmFlags, "merge") !== 0) return 0;
  const vma = ctx.vmas.alloc(mm, addr, addr + len, vmFlags, addr / PAGE);
  // Shared anonymous memory gets a shmem object; shared hugetlb memory is its pool pages alone.
  const needsShmem = (vmFlags & (VM_SHARED | VM_HUGETLB)) === VM_SHARED;
  const shmem = vma !== 0 && needsShmem ? ctx.pt.shmemCreate(pages, (vmFlags & VM_NORESERVE) === 0) : 0;
  if (vma === 0 || (needsShmem && shmem <= 0)) {
    if (vma !== 0) ctx.vmas.freeObject(vma);
    if (charge) {
      ctx.commit.uncharge(pages);
      mm.committed -= pages;
    }
    return -ENOMEM;
  }
  if (shmem !== 0) {
    ctx.vmas.f.setShmem(vma, shmem);
    ctx.vmas.f.setPgoff(vma, 0);
  }
  ctx.vmas.insert(mm, vma);
  ctx.vmas.mergeAround(mm, vma);
  return 0;
}

/** The new VMA of a file mapping: it holds a reference on the file and merges with a neighbour mapping the file contiguously. */
function insertFileVma(
  ctx: MmapContext,
  mm: MmStruct,
  addr: number,
  len: number,
  vmFlags: number,
  file: { obj: number; pgoff: number },
  charged: boolean,
): number {
  const vma = ctx.vmas.alloc(mm, addr, addr + len, vmFlags, file.pgoff);
  if (vma === 0) {
    if (charged) {
      ctx.commit.uncharge(len / PAGE);
      mm.committed -= len / PAGE;
    }
    return -ENOMEM;
  }
  ctx.vmas.setObject(vma, file.obj);
  ctx.vmas.insert(mm, vma);
  ctx.vmas.mergeAround(mm, vma);
  return 0;
}

/** Pages of [start, end) already covered by VMAs. */
function overlappingPages(ctx: MmapContext, mm: MmStruct, start: number, end: number): number {
  const f = ctx.vmas.f;
  let n = 0;
  for (let v = ctx.vmas.findVma(mm, start); v !== 0 && f.start(v) < end; v = ctx.vmas.next(mm, v)) {
    n += (Math.min(end, f.end(v)) - Math.max(start, f.start(v))) / PAGE;
  }
  return n;
}

/** MAP_POPULATE: faults every page of the range in; never fails the mmap. */
function populateRange(ctx: MmapContext, mm: MmStruct, start: number, end: number): void {
  const f = ctx.vmas.f;
  for (let v = ctx.vmas.findVma(mm, start); v !== 0 && f.start(v) < end; v = ctx.vmas.next(mm, v)) {
    ctx.pt.populate(mm, v, Math.max(start, f.start(v)), Math.min(end, f.end(v)));
  }
}

/**
 * munmap's checks, then doMunmap. Returns 0, -EINVAL for an unaligned start,
 * zero length or a range beyond user space, -ENOMEM when a split would pass
 * max_map_count.
 */
export function sysMunmap(ctx: MmapContext, mm: MmStruct, start: number, len: number): number {
  if (!isAddr(start) || !Number.isSafeInteger(len) || start % PAGE !== 0) return -EINVAL;
  if (start > mm.stackTop || len < 0 || len > mm.stackTop - start) return -EINVAL;
  if (pageAlign(len) === 0) return -EINVAL;
  const cut = hugetlbRangeCheck(ctx.vmas, mm, start, start + pageAlign(len));
  if (cut < 0) return cut;
  return doMunmap(ctx, mm, start, pageAlign(len));
}

/**
 * do_vmi_munmap: removes every page of [start, start + len), splitting VMAs
 * at the edges; uncharges accounted pages. A range with holes, or with no
 * mapping at all, is not an error. A range beyond user space is -EINVAL.
 */
export function doMunmap(ctx: MmapContext, mm: MmStruct, start: number, len: number): number {
  if (start > mm.stackTop || len > mm.stackTop - start) return -EINVAL;
  const end = start + len;
  const vmas = ctx.vmas;
  const f = vmas.f;
  let vma = vmas.findVma(mm, start);
  if (vma === 0 || f.start(vma) >= end) return 0;
  if (f.start(vma) < start) {
    if (end < f.end(vma) && mm.mapCount >= ctx.maxMapCount) return -ENOMEM;
    const upper = vmas.split(mm, vma, start, "may-exceed");
    if (upper === 0) return -ENOMEM;
    vma = upper;
  }
  const last = vmas.findVma(mm, end - 1);
  if (last !== 0 && f.start(last) < end && f.end(last) > end) {
    if (vmas.split(mm, last, end, "may-exceed") === 0) return -ENOMEM;
  }
  while (vma !== 0 && f.start(vma) < end) {
    const next = vmas.next(mm, vma);
    unmapVma(ctx, mm, vma);
    vma = next;
  }
  ctx.pt.freePgtables(mm, start, end);
  return 0;
}

/** Zaps a whole VMA's pages (munlocked first when locked), uncharges it and removes it. */
export function unmapVma(ctx: MmapContext, mm: MmStruct, vma: number): void {
  const f = ctx.vmas.f;
  munlockVmaForUnmap(ctx.vmas, ctx.mlock, mm, vma);
  const start = f.start(vma);
  const end = f.end(vma);
  if (f.flags(vma) & VM_HUGETLB_RESV) ctx.hugetlb?.closeRange(mm, start, end);
  ctx.pt.zapRange(mm, vma, start, end);
  if (f.flags(vma) & VM_ACCOUNT) {
    ctx.commit.uncharge((end - start) / PAGE);
    mm.committed -= (end - start) / PAGE;
  }
  ctx.vmas.remove(mm, vma);
}
