/**
 * The x86-64 page-table vocabulary, defined once (Linux
 * arch/x86/include/asm/pgtable_types.h, xv6 riscv.h): entry bits, levels,
 * index extraction, protections, and the accessors every other file uses to
 * read or build an entry. No other file knows where a bit lives, except
 * pgtable_geometry.ts, which maps these bits to another MMU's (Sv39) in user
 * page tables booted with that geometry.
 *
 * A table is one 4 KiB frame of 512 entries of 8 bytes. An entry is stored as
 * two little-endian 32-bit words, lo at the lower address:
 *
 *    63 62  59 58    52 51                              12 11  9 8  7  6 5  4   3  2  1  0
 *   +--+------+--------+----------------------------------+-----+-+--+-+-+---+---+--+--+-+
 *   |NX| pkey |  soft  |   PFN (page frame number)        |soft |G|PS|D|A|PCD|PWT|US|RW|P|
 *   +--+------+--------+----------------------------------+-----+-+--+-+-+---+---+--+--+-+
 *   hi word: [31] NX, [30:27] pkey (ignored), [26:20] soft bits 52..58, [19:0] PFN[39:20]
 *   lo word: [31:12] PFN[19:0], [11:9] soft bits, [8:0] hardware flags
 *
 *   P  present          RW writable         US user may access    PWT/PCD unused
 *   A  accessed (set by the MMU on every walk that uses the entry)
 *   D  dirty (set by the MMU on the first write through a leaf)
 *   PS page size: at level 2 the entry is a 2 MiB leaf (levels 3 and 4: reserved)
 *   G  global: the TLB keeps it across address-space flushes (kernel mappings)
 *   NX no execute (bit 63)
 *   soft bits, ignored by the MMU, owned by the layers above:
 *     9  PTE_SPECIAL     no struct-page accounting behind it (the zero page)
 *     10 PTE_SOFT_COW    copy-on-write: read-only now, copy (or reuse) on write
 *     11 PTE_SOFT_DIRTY  written since the soft-dirty bits were last cleared
 *     52..58             free (PTE_SOFT_HI_MASK)
 *   With P clear the MMU ignores every other bit: the PFN field and the flags
 *   of a non-present, non-zero entry belong to the layer above (swap entries).
 *
 * A swap entry (P clear), laid out as x86-64 Linux lays it out:
 *
 *    63   59 58                                                  9 8     1 0
 *   +-------+-----------------------------------------------------+-------+-+
 *   | type  |            ~offset (50 bits, inverted)              |   0   |0|
 *   +-------+-----------------------------------------------------+-------+-+
 *   The offset (the slot) is stored inverted, as Linux does against L1TF, so
 *   every swap entry, slot 0 of type 0 included, is non-zero. In memsim's
 *   terms: ~offset bits 0..2 are flags bits 9..11, bits 3..42 the PFN field,
 *   bits 43..49 flags bits 20..26; the type is flags bits 27..31. Any code
 *   that copies an entry as (PFN field, flags word) moves a swap entry whole.
 *
 * A virtual address (48 bits, stored form; DESIGN.md §3):
 *
 *    47        39 38        30 29        21 20        12 11             0
 *   +------------+------------+------------+------------+----------------+
 *   | level 4    | level 3    | level 2    | level 1    | page offset    |
 *   | PML4 (pgd) | PDPT (pud) | PD (pmd)   | PT (pte)   |                |
 *   +------------+------------+------------+------------+----------------+
 *
 * Words: table = a frame of entries; entry = one 8-byte slot; leaf = a present
 * entry that maps memory (level 1, or level 2 with PS); ptep = the physical
 * address of an entry (a number below 2^32, like Linux's pte_t *).
 *
 * Flags word: the 64-bit entry with its PFN field removed, folded into 32 bits:
 * bits 0..11 are entry bits 0..11 and bits 20..31 are entry bits 52..63. So
 * PTE_NX is bit 31 of a flags word (bit 31 of the hi word, bit 63 of the entry).
 */

export const PTE_P = 1 << 0;
export const PTE_RW = 1 << 1;
export const PTE_US = 1 << 2;
export const PTE_PWT = 1 << 3;
export const PTE_PCD = 1 << 4;
export const PTE_A = 1 << 5;
export const PTE_D = 1 << 6;
export const PTE_PS = 1 << 7;
export const PTE_G = 1 << 8;
export const PTE_SPECIAL = 1 << 9;
export const PTE_SOFT_COW = 1 << 10;
export const PTE_SOFT_DIRTY = 1 << 11;
/** Entry bits 52..58: free for the layers above. */
export const PTE_SOFT_HI_MASK = 0x7f << 20;
/** Entry bits 59..62 (protection key): kept, ignored. */
export const PTE_PKEY_MASK = 0xf << 27;
/** Entry bit 63, bit 31 of a flags word. */
export const PTE_NX = 0x80000000;

/** Flag bits of the lo word (entry bits 0..11). */
export const PTE_LO_FLAGS = 0xfff;
/** Flag bits of the hi word (entry bits 52..63), at the same place in a flags word. */
export const PTE_HI_FLAGS = 0xfff00000;
/** Bit numbers of the named bits, for documentation and dumps. */
export const _PAGE_BIT_NX = 63;

/** Upper-level entry of a user table: the leaf decides the permissions. */
export const USER_TABLE = PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D;
/** Upper-level entry of a kernel table (Linux _KERNPG_TABLE). */
export const KERNEL_TABLE = PTE_P | PTE_RW | PTE_A | PTE_D;
/** Kernel data: read-write, no execute, global (Linux PAGE_KERNEL). */
export const PAGE_KERNEL = (PTE_P | PTE_RW | PTE_A | PTE_D | PTE_G | PTE_NX) >>> 0;
/** Kernel read-only data (PAGE_KERNEL_RO). */
export const PAGE_KERNEL_RO = (PTE_P | PTE_A | PTE_G | PTE_NX) >>> 0;
/** Kernel text (PAGE_KERNEL_EXEC). */
export const PAGE_KERNEL_EXEC = PTE_P | PTE_RW | PTE_A | PTE_D | PTE_G;
/** A 2 MiB kernel data leaf (PAGE_KERNEL_LARGE). */
export const PAGE_KERNEL_LARGE = (PAGE_KERNEL | PTE_PS) >>> 0;

export const PTRS_PER_TABLE = 512;
export const ENTRY_SIZE = 8;
/** Bytes mapped by one entry at each level (index = level). */
export const LEVEL_SIZE = [0, 2 ** 12, 2 ** 21, 2 ** 30, 2 ** 39] as const;
/** Linux's names of the levels (index = level). */
export const LEVEL_NAMES = ["", "pte", "pmd", "pud", "pgd"] as const;
/** x86's names of the tables at each level. */
export const TABLE_NAMES = ["", "PT", "PD", "PDPT", "PML4"] as const;
/** Size of a 2 MiB leaf in 4 KiB pages. */
export const HPAGE_PAGES = 512;
export const HPAGE_SIZE = 2 ** 21;

/** 1 / LEVEL_SIZE: multiplying by a power of two is exact and, unlike a division or %, cheap. */
const LEVEL_INV = [0, 2 ** -12, 2 ** -21, 2 ** -30, 2 ** -39] as const;

/** The index into the level-`level` table for `va` (exact for 48-bit numbers). */
export function pxIndex(va: number, level: number): number {
  return Math.floor(va * (LEVEL_INV[level] as number)) & 511;
}

/**
 * The first address of the level-`level` slot holding `va` (va rounded down
 * to LEVEL_SIZE[level]). Bitwise masks keep the low 32 bits of a safe
 * integer exactly, so they serve up to level 3; level 4 multiplies.
 */
export function levelBase(va: number, level: number): number {
  if (level < 4) return va - (va & ((LEVEL_SIZE[level] as number) - 1));
  return Math.floor(va * 2 ** -39) * 2 ** 39;
}

/** The PFN field of an entry given its two words. */
export function entryPfn(lo: number, hi: number): number {
  return (lo >>> 12) + (hi & 0xfffff) * 1048576;
}

/** The flags word of an entry given its two words. */
export function entryFlags(lo: number, hi: number): number {
  return ((lo & PTE_LO_FLAGS) | (hi & PTE_HI_FLAGS)) >>> 0;
}

/** The lo word of an entry mapping `pfn` (below 2^40) with `flags`. */
export function makeLo(pfn: number, flags: number): number {
  return (((pfn & 0xfffff) << 12) | (flags & PTE_LO_FLAGS)) >>> 0;
}

/** The hi word of an entry mapping `pfn` (below 2^40) with `flags`. */
export function makeHi(pfn: number, flags: number): number {
  return ((Math.floor(pfn * 2 ** -20) & 0xfffff) | (flags & PTE_HI_FLAGS)) >>> 0;
}

/** The u32 index of an entry's lo word; its hi word follows. */
export function entryWord(ptep: number): number {
  return ptep >>> 2;
}

/** The physical address of entry `index` of table frame `pfn`. */
export function entryAddr(pfn: number, index: number): number {
  return pfn * 4096 + index * ENTRY_SIZE;
}

/** The table frame an entry lives in. */
export function entryTable(ptep: number): number {
  return ptep >>> 12;
}

/** A leaf at this level with these flags? (level 1, or PS at level 2). */
export function isLeaf(level: number, flags: number): boolean {
  return level === 1 || (level === 2 && (flags & PTE_PS) !== 0);
}

/** Bits of the offset field of a swap entry (entry bits 9..58). */
const SWP_OFFSET_BITS = 50;
const SWP_OFFSET_MAX = 2 ** SWP_OFFSET_BITS - 1;
/** Swap types (devices) a swap entry can name: 5 bits, entry bits 59..63. */
export const MAX_SWAPFILES = 32;

/** The PFN field of the swap entry for slot `offset` (below 2^50 - 1) of device `type`. */
export function swpEntryPfn(_type: number, offset: number): number {
  const inv = SWP_OFFSET_MAX - offset;
  return Math.floor(inv / 8) % 2 ** 40;
}

/** The flags word of the swap entry for slot `offset` of device `type` (P clear). */
export function swpEntryFlags(type: number, offset: number): number {
  const inv = SWP_OFFSET_MAX - offset;
  return (((inv & 7) << 9) | ((Math.floor(inv / 2 ** 43) & 0x7f) << 20) | ((type & 31) << 27)) >>> 0;
}

/** The device of the swap entry with PFN field `pfn` and flags word `flags`. */
export function swpType(flags: number): number {
  return flags >>> 27;
}

/** The slot of the swap entry with PFN field `pfn` and flags word `flags`. */
export function swpOffset(pfn: number, flags: number): number {
  const inv = ((flags >>> 9) & 7) + pfn * 8 + ((flags >>> 20) & 0x7f) * 2 ** 43;
  return SWP_OFFSET_MAX - inv;
}

/** True when an entry with this flags word, known to be non-zero, is a swap entry (not present). */
export function isSwapEntry(flags: number): boolean {
  return (flags & PTE_P) === 0;
}

const FLAG_LETTERS: ReadonlyArray<readonly [number, string]> = [
  [PTE_P, "P"],
  [PTE_RW, "RW"],
  [PTE_US, "US"],
  [PTE_PWT, "PWT"],
  [PTE_PCD, "PCD"],
  [PTE_A, "A"],
  [PTE_D, "D"],
  [PTE_PS, "PS"],
  [PTE_G, "G"],
  [PTE_SPECIAL, "SPECIAL"],
  [PTE_SOFT_COW, "COW"],
  [PTE_SOFT_DIRTY, "SOFTDIRTY"],
  [PTE_NX, "NX"],
];

/** "P RW US A D NX" style names of a flags word; soft high bits as "soft=0x..". */
export function formatPteFlags(flags: number): string {
  const out: string[] = [];
  for (const [bit, name] of FLAG_LETTERS) if ((flags & bit) !== 0) out.push(name);
  const soft = (flags & PTE_SOFT_HI_MASK) >>> 20;
  if (soft !== 0) out.push(`soft=0x${soft.toString(16)}`);
  return out.length ? out.join(" ") : "-";
}

/** The 16 hex digits of an entry, as Linux prints a pte_t. */
export function formatEntry(lo: number, hi: number): string {
  return hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
}

/*
 * #PF error-code bits (arch/x86/include/asm/trap_pf.h). An access is described
 * with the same bits, so a failed access's error code is its access bits plus
 * PF_PROT when the entry was present.
 */
/** The fault hit a present entry (a protection violation); clear: not present. */
export const PF_PROT = 1 << 0;
/** The access was a write. */
export const PF_WRITE = 1 << 1;
/** The access came from user mode. */
export const PF_USER = 1 << 2;
/** A reserved bit was set in an entry. */
export const PF_RSVD = 1 << 3;
/** The access was an instruction fetch. */
export const PF_INSTR = 1 << 4;

/** Access bits: a kernel read is 0; combine with OR. */
export const ACC_WRITE = PF_WRITE;
export const ACC_USER = PF_USER;
export const ACC_EXEC = PF_INSTR;
