/**
 * The x86-32 MMU geometry (no PAE; JOS, xv6-x86): two levels of 1024
 * 4-byte entries, chosen with `Machine.boot({ mmu: "x86-32" })`. The shared
 * vocabulary (the flags word, the table-shape fields) is in
 * pgtable_geometry.ts, which re-exports this object as an MmuGeometry
 * (this file names no type of it, so the two files make no import cycle).
 */
import { panic } from "../panic.ts";
import {
  PTE_A,
  PTE_D,
  PTE_G,
  PTE_P,
  PTE_PCD,
  PTE_PKEY_MASK,
  PTE_PS,
  PTE_PWT,
  PTE_RW,
  PTE_SOFT_COW,
  PTE_SOFT_DIRTY,
  PTE_SOFT_HI_MASK,
  PTE_SPECIAL,
  PTE_US,
  swpEntryFlags,
  swpEntryPfn,
  swpOffset,
  swpType,
} from "./pgtable_types.ts";

/** x86-32 (no PAE): the 12 low bits of an entry, as x86-64's low bits (PTE_P .. PTE_G, software bits 9..11). */
const X86_32_FLAGS = 0xfff;
/** Flags-word bits a 4-byte entry has no place for, besides PTE_NX (dropped: no NX without PAE). */
const X86_32_UNREPRESENTABLE = (PTE_PKEY_MASK | PTE_SOFT_HI_MASK) >>> 0;
/** Swap slots a 4-byte swap entry can name: 24 bits (bits 8..31). */
export const X86_32_SWP_SLOTS = 2 ** 24;

/** JOS's names (mmu.h: PTE_P PTE_W PTE_U ...), the AVL bits by memsim's use. */
const X86_32_BITS: ReadonlyArray<readonly [number, string]> = [
  [PTE_P, "P"],
  [PTE_RW, "W"],
  [PTE_US, "U"],
  [PTE_PWT, "PWT"],
  [PTE_PCD, "PCD"],
  [PTE_A, "A"],
  [PTE_D, "D"],
  [PTE_PS, "PS"],
  [PTE_G, "G"],
  [PTE_SPECIAL, "AVL0(SPECIAL)"],
  [PTE_SOFT_COW, "AVL1(COW)"],
  [PTE_SOFT_DIRTY, "AVL2(SOFTDIRTY)"],
];

function x86_32Lo(pfn: number, flags: number): number {
  if ((flags & PTE_P) === 0) return x86_32SwapLo(pfn, flags);
  if ((flags & X86_32_UNREPRESENTABLE) !== 0) panic(`x86-32: flags 0x${(flags >>> 0).toString(16)} have bits a 4-byte entry cannot hold`);
  if (!(pfn < 2 ** 20)) panic(`x86-32: pfn 0x${pfn.toString(16)} beyond 4 GiB`);
  return ((pfn << 12) | (flags & X86_32_FLAGS)) >>> 0;
}

/** A non-present entry: zero stays zero; a swap entry (x86-64 layout in, see pgtable_types.ts) becomes type in bits 1..5, slot inverted in bits 8..31. */
function x86_32SwapLo(pfn: number, flags: number): number {
  if (pfn === 0 && flags === 0) return 0;
  const type = swpType(flags);
  const slot = swpOffset(pfn, flags);
  if (!(slot >= 0 && slot < X86_32_SWP_SLOTS)) panic(`x86-32: swap slot ${slot} does not fit a 4-byte swap entry`);
  return (((X86_32_SWP_SLOTS - 1 - slot) << 8) | ((type & 31) << 1)) >>> 0;
}

function x86_32Pfn(lo: number): number {
  if ((lo & PTE_P) !== 0 || lo === 0) return lo >>> 12;
  return swpEntryPfn((lo >>> 1) & 31, X86_32_SWP_SLOTS - 1 - (lo >>> 8));
}

function x86_32Flags(lo: number): number {
  if ((lo & PTE_P) !== 0) return lo & X86_32_FLAGS;
  if (lo === 0) return 0;
  return swpEntryFlags((lo >>> 1) & 31, X86_32_SWP_SLOTS - 1 - (lo >>> 8));
}

/**
 * x86-32 two-level paging without PAE (JOS, xv6-x86): a page directory and
 * page tables of 1024 4-byte entries, 10 index bits each, 32-bit addresses,
 * user space below 0xC0000000 (3 GiB: i386 Linux's TASK_SIZE; JOS puts its
 * ULIM higher, at 0xEF800000). The entry is x86-64's low word alone:
 *
 *    31                                   12 11  9 8 7 6 5 4 3 2 1 0
 *   +---------------------------------------+-----+-+-+-+-+-+-+-+-+-+
 *   |      PFN (page frame number)          | AVL |G|PS|D|A|PCD|PWT|U|W|P|
 *   +---------------------------------------+-----+-+-+-+-+-+-+-+-+-+
 *   AVL (software): bit 9 PTE_SPECIAL, bit 10 PTE_SOFT_COW, bit 11 PTE_SOFT_DIRTY.
 *
 * No NX bit (that needs PAE): every readable page is executable, PTE_NX is
 * dropped on write and never read back. No huge leaves: PS in a directory
 * entry (a 4 MiB PSE page) is never made, and the MMU treats it as a
 * reserved bit (CR4.PSE off), so THP stays off and MAP_HUGETLB is EINVAL.
 * A swap entry: P clear, type in bits 1..5, the slot inverted in bits 8..31
 * (so slot 0 is non-zero), 2^24 slots of 4 KiB (64 GiB) per device.
 *
 *    31        22 21        12 11             0
 *   +------------+------------+----------------+
 *   | PDX (dir)  | PTX (table)|  page offset   |
 *   +------------+------------+----------------+
 */
export const X86_32 = {
  name: "x86-32" as const,
  topLevel: 2,
  vaBits: 32,
  taskSize: 0xc0000000,
  // Where i386 Linux loads a PIE (0x56555000) plus 16 KiB, as x86-64's 0x555555559000 is.
  startBrk: 0x56559000,
  leafBits: PTE_PS,
  rawA: PTE_A,
  rawD: PTE_D,
  entrySize: 4 as const,
  entriesPerTable: 1024,
  indexBits: [0, 10, 10],
  levelSize: [0, 2 ** 12, 2 ** 22],
  levelInv: [0, 2 ** -12, 2 ** -22],
  // 0xC0000000 / 4 MiB: the directory's first 768 entries are user space.
  userRootEntries: 768,
  hugePages: false,
  tableNames: ["", "PT", "PD"],
  pfn: (lo: number) => x86_32Pfn(lo),
  flags: (lo: number) => x86_32Flags(lo),
  lo: x86_32Lo,
  hi: () => 0,
  linkLo: x86_32Lo,
  linkHi: () => 0,
  bitNames: (lo: number) =>
    X86_32_BITS.filter(([bit]) => (lo & bit) !== 0)
      .map(([, name]) => name)
      .join(" "),
};
