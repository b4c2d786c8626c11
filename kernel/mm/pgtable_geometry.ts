/**
 * MMU geometries (Linux arch/x86 and arch/riscv pgtable headers, xv6-riscv
 * riscv.h): how a user page table is laid out in RAM, chosen at boot with
 * `Machine.boot({ mmu: "sv39" })`. The kernel above this file speaks one
 * vocabulary, the x86-64 _flags word_ of pgtable_types.ts (PTE_P, PTE_RW,
 * PTE_US, PTE_NX, PTE_SOFT_COW ...); a geometry translates that word to and
 * from the entry bits its hardware defines, and tells the walkers how many
 * levels there are and which raw bits make an upper entry a leaf. The MMU
 * (mmu.ts) walks each geometry's tables with the geometry's own rules.
 *
 * A geometry also gives the table shape: the size of an entry (8 bytes, two
 * little-endian 32-bit words with lo at the lower address, on both x86-64 and
 * Sv39), the entries per 4 KiB table (512) and the index bits of each level
 * (9 above a 12-bit page offset). Every walker reads these through
 * geoIndex, geoEntryAddr, geoLevelBase, entryHi and writeEntry below, so a
 * geometry of 4-byte entries (no hi word) and 10-bit indexes fits the same
 * code.
 *
 * x86-64 (default): 4 levels, 48-bit addresses, user space below 2^47; the
 * entry is the one drawn in pgtable_types.ts.
 *
 * Sv39 (RISC-V, xv6-riscv): 3 levels, 39-bit addresses, user space below
 * 2^38 (xv6's MAXVA). A valid entry:
 *
 *    63 62 61 60    55 54  53                                  10 9  8  7 6 5 4 3 2 1 0
 *   +--+-----+--------+--+--------------------------------------+----+-+-+-+-+-+-+-+-+
 *   |N | PBMT|reserved|SP|        PPN (page frame number)       |RSW |D|A|G|U|X|W|R|V|
 *   +--+-----+--------+--+--------------------------------------+----+-+-+-+-+-+-+-+-+
 *   V valid   R/W/X read/write/execute: any of them set makes the entry a leaf
 *   (at level 1 a 4 KiB page, at level 2 a 2 MiB megapage); all three clear:
 *   a pointer to the next table   U user   G global   A accessed   D dirty
 *   RSW (software): bit 8 copy-on-write (PTE_SOFT_COW, as xv6's cow lab),
 *   bit 9 soft-dirty (PTE_SOFT_DIRTY). Bit 54 (SP) holds PTE_SPECIAL: the
 *   RISC-V spec reserves it; memsim's MMU ignores it, a real CPU would fault.
 *   N and PBMT are left zero. A pointer is V and the PPN only.
 *   In flags-word terms: a leaf reads as P, RW=W, US=U, NX=!X, A, D, G, plus
 *   PS at level 2; a pointer reads as the x86 table entry granting everything
 *   (P RW US A D), since Sv39 pointers carry no permissions. Every leaf has R
 *   (x86 has no present-but-unreadable page either). PWT, PCD, the protection
 *   key and the soft high bits 52..58 have no place and must stay clear.
 *   With V clear the hardware ignores the other bits: memsim stores a
 *   non-present entry (a swap entry) in the x86-64 layout of pgtable_types.ts
 *   unchanged, whose bit 0 is clear too.
 *
 *    38        30 29        21 20        12 11             0
 *   +------------+------------+------------+----------------+
 *   | VPN[2] (L3)| VPN[1] (L2)| VPN[0] (L1)|  page offset   |
 *   +------------+------------+------------+----------------+
 *
 * Only user page tables take the geometry: the kernel's own table (init_mm,
 * the direct map and vmalloc at x86-64 addresses) keeps the x86-64 layout on
 * every machine, as xv6-riscv's kernel has a page table of its own apart from
 * the processes'.
 */
import { panic } from "../panic.ts";
import { X86_32 as X86_32_ENTRY } from "./pgtable_geometry_x86_32.ts";
import {
  entryFlags,
  entryPfn,
  makeHi,
  makeLo,
  PTE_A,
  PTE_D,
  PTE_G,
  PTE_NX,
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
  USER_TABLE,
} from "./pgtable_types.ts";

/** The geometries `Machine.boot({ mmu })` accepts. */
export type MmuName = "x86-64" | "sv39" | "x86-32";

/** One MMU geometry: the levels, the address-space size and the entry encoding. */
export interface MmuGeometry {
  readonly name: MmuName;
  /** Level of the root table: 4 (PML4) on x86-64, 3 on Sv39. */
  readonly topLevel: number;
  /** Bits of a virtual address the walk translates. */
  readonly vaBits: number;
  /** The user address space ends here (exclusive): TASK_SIZE, xv6's MAXVA. */
  readonly taskSize: number;
  /** Where a new process's heap starts (below taskSize). */
  readonly startBrk: number;
  /** Raw lo-word bits that make a present entry above level 1 a leaf (x86 PS; Sv39 R|W|X). */
  readonly leafBits: number;
  /** Raw lo-word bits: accessed and dirty, set by the MMU. */
  readonly rawA: number;
  readonly rawD: number;
  /** Bytes per entry: 8 (a lo and a hi word) or 4 (a lo word alone; the hi word reads as 0). */
  readonly entrySize: 4 | 8;
  /** Entries in one 4 KiB table: 4096 / entrySize. */
  readonly entriesPerTable: number;
  /** Index bits of each level (index = level; [0] unused). */
  readonly indexBits: readonly number[];
  /** Bytes one entry maps at each level (index = level; [0] unused). */
  readonly levelSize: readonly number[];
  /** 1 / levelSize, so an index is a multiplication (exact: powers of two). */
  readonly levelInv: readonly number[];
  /** Entries of the root table that lie in the user half (x86-64: 256 of 512). */
  readonly userRootEntries: number;
  /** Whether huge leaves (THP, hugetlb) may be made: false on x86-32 (no PSE pages in memsim). */
  readonly hugePages: boolean;
  /** Names of the tables at each level (index = level), for explain. */
  readonly tableNames: readonly string[];
  /** The PFN field of an entry given its two words. */
  pfn(lo: number, hi: number): number;
  /** The flags word of an entry at `level` given its two words. */
  flags(lo: number, hi: number, level: number): number;
  /** The lo word of a leaf (or non-present entry) mapping `pfn` with flags word `flags`. */
  lo(pfn: number, flags: number): number;
  /** The hi word of the same entry. */
  hi(pfn: number, flags: number): number;
  /** The lo word of an upper-level entry pointing at table `pfn` (`flags`: the x86 table flags). */
  linkLo(pfn: number, flags: number): number;
  /** The hi word of the same entry. */
  linkHi(pfn: number, flags: number): number;
  /** The names of the raw bits set in a present entry, as the hardware manual names them. */
  bitNames(lo: number, hi: number): string;
}

function namesOf(lo: number, bits: ReadonlyArray<readonly [number, string]>): string[] {
  const out: string[] = [];
  for (const [bit, name] of bits) if ((lo & bit) !== 0) out.push(name);
  return out;
}

const X86_BITS: ReadonlyArray<readonly [number, string]> = [
  [PTE_P, "P"],
  [PTE_RW, "RW"],
  [PTE_US, "US"],
  [PTE_PWT, "PWT"],
  [PTE_PCD, "PCD"],
  [PTE_A, "A"],
  [PTE_D, "D"],
  [PTE_PS, "PS"],
  [PTE_G, "G"],
];

/** x86-64 four-level paging: the entry of pgtable_types.ts as it is. */
export const X86_64: MmuGeometry = {
  name: "x86-64",
  topLevel: 4,
  vaBits: 48,
  taskSize: 2 ** 47,
  startBrk: 0x555555559000,
  leafBits: PTE_PS,
  rawA: PTE_A,
  rawD: PTE_D,
  entrySize: 8,
  entriesPerTable: 512,
  indexBits: [0, 9, 9, 9, 9],
  levelSize: [0, 2 ** 12, 2 ** 21, 2 ** 30, 2 ** 39],
  levelInv: [0, 2 ** -12, 2 ** -21, 2 ** -30, 2 ** -39],
  userRootEntries: 256,
  hugePages: true,
  tableNames: ["", "PT", "PD", "PDPT", "PML4"],
  pfn: entryPfn,
  flags: (lo, hi) => entryFlags(lo, hi),
  lo: makeLo,
  hi: makeHi,
  linkLo: makeLo,
  linkHi: makeHi,
  bitNames: (lo, hi) => [...namesOf(lo, X86_BITS), ...((hi & 0x80000000) !== 0 ? ["NX"] : [])].join(" "),
};

/** Sv39 entry bits (RISC-V privileged spec). */
export const SV39_V = 1 << 0;
export const SV39_R = 1 << 1;
export const SV39_W = 1 << 2;
export const SV39_X = 1 << 3;
export const SV39_U = 1 << 4;
export const SV39_G = 1 << 5;
export const SV39_A = 1 << 6;
export const SV39_D = 1 << 7;
/** RSW bit 8: memsim's copy-on-write mark (xv6's cow lab uses it the same way). */
export const SV39_COW = 1 << 8;
/** RSW bit 9: soft-dirty. */
export const SV39_SOFT_DIRTY = 1 << 9;
/** Entry bit 54 (bit 22 of the hi word, reserved by the spec): PTE_SPECIAL. */
export const SV39_SPECIAL_HI = 1 << 22;
/** The PPN's first bit. */
export const SV39_PPN_SHIFT = 10;

const SV39_BITS: ReadonlyArray<readonly [number, string]> = [
  [SV39_V, "V"],
  [SV39_R, "R"],
  [SV39_W, "W"],
  [SV39_X, "X"],
  [SV39_U, "U"],
  [SV39_G, "G"],
  [SV39_A, "A"],
  [SV39_D, "D"],
  [SV39_COW, "RSW0(COW)"],
  [SV39_SOFT_DIRTY, "RSW1(SOFTDIRTY)"],
];

/** Flags-word bits Sv39 has no place for. */
const SV39_UNREPRESENTABLE = (PTE_PWT | PTE_PCD | PTE_PKEY_MASK | PTE_SOFT_HI_MASK) >>> 0;

function sv39Pfn(lo: number, hi: number): number {
  if ((lo & SV39_V) === 0) return entryPfn(lo, hi);
  return (lo >>> SV39_PPN_SHIFT) + (hi & 0x3fffff) * 4194304;
}

function sv39Flags(lo: number, hi: number, level: number): number {
  if ((lo & SV39_V) === 0) return entryFlags(lo, hi);
  if ((lo & (SV39_R | SV39_W | SV39_X)) === 0) return USER_TABLE;
  let f = PTE_P;
  if ((lo & SV39_W) !== 0) f |= PTE_RW;
  if ((lo & SV39_U) !== 0) f |= PTE_US;
  if ((lo & SV39_G) !== 0) f |= PTE_G;
  if ((lo & SV39_A) !== 0) f |= PTE_A;
  if ((lo & SV39_D) !== 0) f |= PTE_D;
  if ((lo & SV39_COW) !== 0) f |= PTE_SOFT_COW;
  if ((lo & SV39_SOFT_DIRTY) !== 0) f |= PTE_SOFT_DIRTY;
  if ((hi & SV39_SPECIAL_HI) !== 0) f |= PTE_SPECIAL;
  if (level > 1) f |= PTE_PS;
  if ((lo & SV39_X) === 0) f |= PTE_NX;
  return f >>> 0;
}

function sv39Lo(pfn: number, flags: number): number {
  if ((flags & PTE_P) === 0) return makeLo(pfn, flags);
  if ((flags & SV39_UNREPRESENTABLE) !== 0) panic(`sv39: flags 0x${(flags >>> 0).toString(16)} have bits Sv39 cannot hold`);
  let raw = SV39_V | SV39_R;
  if ((flags & PTE_RW) !== 0) raw |= SV39_W;
  if ((flags & PTE_NX) === 0) raw |= SV39_X;
  if ((flags & PTE_US) !== 0) raw |= SV39_U;
  if ((flags & PTE_G) !== 0) raw |= SV39_G;
  if ((flags & PTE_A) !== 0) raw |= SV39_A;
  if ((flags & PTE_D) !== 0) raw |= SV39_D;
  if ((flags & PTE_SOFT_COW) !== 0) raw |= SV39_COW;
  if ((flags & PTE_SOFT_DIRTY) !== 0) raw |= SV39_SOFT_DIRTY;
  return (((pfn & 0x3fffff) << SV39_PPN_SHIFT) | raw) >>> 0;
}

function sv39Hi(pfn: number, flags: number): number {
  if ((flags & PTE_P) === 0) return makeHi(pfn, flags);
  const special = (flags & PTE_SPECIAL) !== 0 ? SV39_SPECIAL_HI : 0;
  return ((Math.floor(pfn / 4194304) & 0x3fffff) | special) >>> 0;
}

/** RISC-V Sv39: three levels of 512 8-byte entries, the RISC-V entry bits. */
export const SV39: MmuGeometry = {
  name: "sv39",
  topLevel: 3,
  vaBits: 39,
  taskSize: 2 ** 38,
  // Two thirds of the way up the user space plus 16 KiB, as x86-64's 0x555555559000 is.
  startBrk: 0x2aaaaae000,
  leafBits: SV39_R | SV39_W | SV39_X,
  rawA: SV39_A,
  rawD: SV39_D,
  entrySize: 8,
  entriesPerTable: 512,
  indexBits: [0, 9, 9, 9],
  levelSize: [0, 2 ** 12, 2 ** 21, 2 ** 30],
  levelInv: [0, 2 ** -12, 2 ** -21, 2 ** -30],
  // User space is the low half of the 39-bit space: 256 of the root's 512 entries.
  userRootEntries: 256,
  hugePages: true,
  tableNames: ["", "L0", "L1", "L2"],
  pfn: sv39Pfn,
  flags: sv39Flags,
  lo: sv39Lo,
  hi: sv39Hi,
  linkLo: (pfn) => (((pfn & 0x3fffff) << SV39_PPN_SHIFT) | SV39_V) >>> 0,
  linkHi: (pfn) => Math.floor(pfn / 4194304) & 0x3fffff,
  bitNames: (lo, hi) => [...namesOf(lo, SV39_BITS), ...((hi & SV39_SPECIAL_HI) !== 0 ? ["SPECIAL"] : [])].join(" "),
};

/** x86-32 two-level paging without PAE (pgtable_geometry_x86_32.ts): 1024 4-byte entries per table. */
export const X86_32: MmuGeometry = X86_32_ENTRY;

/** The geometry named `name`. Returns null when memsim has no such geometry. */
export function mmuGeometry(name: string): MmuGeometry | null {
  if (name === "x86-64") return X86_64;
  if (name === "sv39") return SV39;
  if (name === "x86-32") return X86_32;
  return null;
}

/** The index into the level-`level` table of `geo` for `va`. */
export function geoIndex(geo: MmuGeometry, va: number, level: number): number {
  return Math.floor(va * (geo.levelInv[level] as number)) & (geo.entriesPerTable - 1);
}

/** The physical address of entry `index` of table frame `table` in `geo`. */
export function geoEntryAddr(geo: MmuGeometry, table: number, index: number): number {
  return table * 4096 + index * geo.entrySize;
}

/** The first address of the level-`level` slot of `geo` holding `va` (va rounded down to levelSize). */
export function geoLevelBase(geo: MmuGeometry, va: number, level: number): number {
  const size = geo.levelSize[level] as number;
  if (size <= 2 ** 31) return va - (va & (size - 1));
  return Math.floor(va * (geo.levelInv[level] as number)) * size;
}

/** The hi word of the entry whose lo word is `u32[w]`: the next word for 8-byte entries, 0 for 4-byte ones. */
export function entryHi(geo: MmuGeometry, u32: Uint32Array, w: number): number {
  return geo.entrySize === 8 ? (u32[w + 1] as number) : 0;
}

/** Stores an entry's words at `u32[w]` (the hi word only where the entry has one). */
export function writeEntry(geo: MmuGeometry, u32: Uint32Array, w: number, lo: number, hi: number): void {
  u32[w] = lo;
  if (geo.entrySize === 8) u32[w + 1] = hi;
}
