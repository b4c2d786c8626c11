/**
 * vm_area_struct: one mapping of an address space, stored as a slab object
 * in RAM, read and written only through the accessors below. The mm's
 * VmaTree indexes the objects by range; every other field lives here only.
 *
 *   struct vm_area_struct (40 bytes, 8-aligned, little-endian words)
 *   0         8         16        20        28        32        36      40
 *   +---------+---------+---------+---------+---------+---------+-------+
 *   | vm_start| vm_end  | vm_flags| vm_pgoff| anon id | shmem id| mm id |
 *   | lo | hi | lo | hi |   u32   | lo | hi |   u32   |   u32   |  u32  |
 *   +---------+---------+---------+---------+---------+---------+-------+
 *   vm_end is exclusive. vm_pgoff is the page offset of vm_start in the
 *   backing object (anonymous: vm_start >> 12 when the VMA was created, so
 *   neighbours that grew from one mapping stay mergeable). anon id names the
 *   anon_vma-like group of private pages (0 = none yet; bit 31 set: the
 *   group was made by fork under the parent's, see vma.ts); shmem id names the
 *   object the VMA maps: a shared anonymous object, or with bit 30 set
 *   (VMA_FILE, filemap_fault.ts) an open file; 0 = anonymous private. mm id is the owning address
 *   space's id (a check that a VMA is where the index says it is).
 *   /proc names ([heap], [stack]) come from the addresses, as in Linux.
 */
import { ObjectFields } from "./kmem.ts";

export const VMA_SIZE = 40;

const O_START = 0;
const O_END = 8;
const O_FLAGS = 16;
const O_PGOFF = 20;
const O_ANON = 28;
const O_SHMEM = 32;
const O_MM = 36;

// vm_flags, with Linux's values (include/linux/mm.h).
export const VM_READ = 0x1;
export const VM_WRITE = 0x2;
export const VM_EXEC = 0x4;
export const VM_SHARED = 0x8;
export const VM_MAYREAD = 0x10;
export const VM_MAYWRITE = 0x20;
export const VM_MAYEXEC = 0x40;
export const VM_MAYSHARE = 0x80;
export const VM_GROWSDOWN = 0x100;
export const VM_LOCKED = 0x2000;
export const VM_SEQ_READ = 0x8000;
export const VM_RAND_READ = 0x10000;
export const VM_DONTCOPY = 0x20000;
export const VM_DONTEXPAND = 0x40000;
/** mlock2(MLOCK_ONFAULT) / MCL_ONFAULT: locked, but pages come in only as they fault. */
export const VM_LOCKONFAULT = 0x80000;
/** The bits mlock, munlock and mlockall set and clear together. */
export const VM_LOCKED_MASK = VM_LOCKED | VM_LOCKONFAULT;
export const VM_ACCOUNT = 0x100000;
export const VM_NORESERVE = 0x200000;
/** A MAP_HUGETLB mapping (Linux's value): 2 MiB pages from the hugetlb pool (hugetlb.ts); smaps shows "ht". */
export const VM_HUGETLB = 0x400000;
/**
 * This hugetlb VMA owns its pool reservations (Linux keeps HPAGE_RESV_OWNER
 * in vm_private_data; memsim uses bit 9, Linux's VM_UFFD_MISSING, unused
 * here). fork clears it in the child. No smaps mnemonic.
 */
export const VM_HUGETLB_RESV = 0x200;
export const VM_WIPEONFORK = 0x2000000;
export const VM_DONTDUMP = 0x4000000;
/**
 * MAP_DROPPABLE memory (Linux 6.11): its pages may be dropped under pressure,
 * written or not. Linux keeps it in bit 40; memsim's 32-bit flags word uses
 * bit 30 (VM_MERGEABLE's, unused in a kernel without KSM). smaps prints no
 * mnemonic for it, as in Linux.
 */
export const VM_DROPPABLE = 0x40000000;
/** MADV_HUGEPAGE marked this VMA (Linux's value): transparent huge pages even under "madvise". */
export const VM_HUGEPAGE = 0x20000000;
/**
 * MADV_NOHUGEPAGE marked this VMA: never transparent huge pages. Linux keeps
 * it in bit 30, which memsim gives to VM_DROPPABLE; bit 31 (Linux's
 * VM_MERGEABLE, unused without KSM) holds it here.
 */
export const VM_NOHUGEPAGE = 0x80000000;

export const VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;
/** Flags that mprotect/madvise may change without making two VMAs unmergeable for good. */
export const VM_MAY_ALL = VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;

/** The two-letter names smaps prints in VmFlags, by bit (show_smap_vma_flags). */
export const VMFLAG_MNEMONICS: ReadonlyArray<readonly [number, string]> = [
  [VM_READ, "rd"],
  [VM_WRITE, "wr"],
  [VM_EXEC, "ex"],
  [VM_SHARED, "sh"],
  [VM_MAYREAD, "mr"],
  [VM_MAYWRITE, "mw"],
  [VM_MAYEXEC, "me"],
  [VM_MAYSHARE, "ms"],
  [VM_GROWSDOWN, "gd"],
  [VM_LOCKED, "lo"],
  [VM_SEQ_READ, "sr"],
  [VM_RAND_READ, "rr"],
  [VM_DONTCOPY, "dc"],
  [VM_DONTEXPAND, "de"],
  [VM_ACCOUNT, "ac"],
  [VM_NORESERVE, "nr"],
  [VM_HUGETLB, "ht"],
  [VM_WIPEONFORK, "wf"],
  [VM_DONTDUMP, "dd"],
  [VM_HUGEPAGE, "hg"],
  [VM_NOHUGEPAGE, "nh"],
];

/** Field access to VMA objects by kva. One instance per machine. */
export class VmaFields extends ObjectFields {
  start(vma: number): number {
    return this.get64(vma, O_START);
  }
  setStart(vma: number, v: number): void {
    this.set64(vma, O_START, v);
  }
  end(vma: number): number {
    return this.get64(vma, O_END);
  }
  setEnd(vma: number, v: number): void {
    this.set64(vma, O_END, v);
  }
  flags(vma: number): number {
    return this.u32[this.w(vma, O_FLAGS)] as number;
  }
  setFlags(vma: number, v: number): void {
    this.u32[this.w(vma, O_FLAGS)] = v;
  }
  pgoff(vma: number): number {
    return this.get64(vma, O_PGOFF);
  }
  setPgoff(vma: number, v: number): void {
    this.set64(vma, O_PGOFF, v);
  }
  anon(vma: number): number {
    return this.u32[this.w(vma, O_ANON)] as number;
  }
  setAnon(vma: number, v: number): void {
    this.u32[this.w(vma, O_ANON)] = v;
  }
  shmem(vma: number): number {
    return this.u32[this.w(vma, O_SHMEM)] as number;
  }
  setShmem(vma: number, v: number): void {
    this.u32[this.w(vma, O_SHMEM)] = v;
  }
  mm(vma: number): number {
    return this.u32[this.w(vma, O_MM)] as number;
  }
  setMm(vma: number, v: number): void {
    this.u32[this.w(vma, O_MM)] = v;
  }

  /** Writes every field of a fresh VMA object. */
  init(vma: number, mm: number, start: number, end: number, flags: number, pgoff: number): void {
    this.setStart(vma, start);
    this.setEnd(vma, end);
    this.setFlags(vma, flags);
    this.setPgoff(vma, pgoff);
    this.setAnon(vma, 0);
    this.setShmem(vma, 0);
    this.u32[this.w(vma, O_MM)] = mm;
  }

  /** Copies every field of `src` into `dst` (vm_area_dup). */
  copy(dst: number, src: number): void {
    const s = this.w(src, 0);
    this.u32.copyWithin(this.w(dst, 0), s, s + VMA_SIZE / 4);
  }
}

/** The smaps VmFlags line's value: "rd wr mr mw me ac " (each mnemonic followed by a space). */
export function vmFlagsString(flags: number): string {
  let out = "";
  for (const [bit, name] of VMFLAG_MNEMONICS) if (flags & bit) out += `${name} `;
  return out;
}
