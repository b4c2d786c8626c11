/**
 * Teaching geometries: the small page tables of textbook exercises (OSTEP's
 * paging chapters), described the way pgtable_geometry.ts describes the
 * machine's own, but for a family that does not count in 4 KiB pages. A
 * geometry gives the address bits, the page bits, the index bits of each
 * level (top level first), the entry size in bytes, the valid bit and the
 * PFN field. A teaching address space (mmu_teach.ts) keeps its tables and
 * pages in frames of memsim's RAM and walks them with one of these.
 *
 * Words: a _teaching page_ is a page of the geometry (32 or 64 bytes, or
 * whatever the linear table's -P says); a _frame_ is one of memsim's 4 KiB
 * frames; a _teaching physical address_ is a byte offset in the teaching
 * address space's own physical memory, never a memsim physical address.
 *
 * Entries are little-endian integers of 1, 2 or 4 bytes. The valid bit is one
 * bit of the entry; the PFN is the field of bits pfnBits-1..0 below it; the
 * bits between are zero in a valid entry. An unused entry holds
 * `emptyEntry` (0x7f in OSTEP's multilevel simulator, whose unused entries
 * read as "not valid, PFN 127").
 *
 * ostep-multilevel (paging-multilevel-translate.py): 15-bit addresses,
 * 32-byte pages, a page directory and page-table pages of 32 one-byte entries,
 * 4 KiB of physical memory (128 pages, PFNs of 7 bits).
 *
 *      7   6                       0
 *     +---+-------------------------+
 *     | V |      PFN (7 bits)       |      PDE and PTE: one byte
 *     +---+-------------------------+
 *
 *     14       10 9         5 4         0
 *     +----------+-----------+-----------+
 *     | PDX (5)  |  PTX (5)  | offset (5)|
 *     +----------+-----------+-----------+
 *
 * ostep-16k (OSTEP chapter 20's example): a 16 KiB address space of 64-byte
 * pages (14-bit addresses), a page directory of 16 four-byte entries and
 * page-table pages of 16 entries (one 64-byte page each), 64 KiB of physical
 * memory (1024 pages).
 *
 *      31  30                                          0
 *     +---+--------------------------------------------+
 *     | V |                PFN (31 bits)               |   PDE and PTE: 4 bytes
 *     +---+--------------------------------------------+
 *
 *     13      10 9        6 5          0
 *     +---------+----------+------------+
 *     | PDX (4) | PTX (4)  | offset (6) |
 *     +---------+----------+------------+
 *
 * linear (paging-linear-translate.py): one level, a table of asize/pagesize
 * four-byte entries in the same layout as ostep-16k's (valid bit 31, the PFN
 * below), indexed by the whole VPN; {@link linearTeachGeometry} builds one
 * from the simulator's -a, -p and -P.
 */

/** The named teaching geometries. */
export type TeachGeometryName = "ostep-multilevel" | "ostep-16k";

/** A teaching MMU geometry. */
export interface TeachGeometry {
  readonly name: string;
  /** Bits of a virtual address (at most 31). */
  readonly vaBits: number;
  /** Bits of the page offset. */
  readonly pageBits: number;
  /** Index bits of each level, top level first; they sum to vaBits - pageBits. */
  readonly indexBits: readonly number[];
  /** Bytes per entry. */
  readonly entryBytes: 1 | 2 | 4;
  /** The bit of an entry that makes it valid. */
  readonly validBit: number;
  /** Width of the PFN field (bits pfnBits-1..0), at most validBit. */
  readonly pfnBits: number;
  /** What an unused entry holds. */
  readonly emptyEntry: number;
  /** Bytes of the teaching physical memory (a multiple of the page size, below 2^31). */
  readonly physBytes: number;
  /** The entry's name at each level ("PDE", "PTE"). */
  readonly entryNames: readonly string[];
  /** The index's name at each level ("PDX", "PTX"; "VPN" for a linear table). */
  readonly indexNames: readonly string[];
  /** The table's name at each level ("page directory", "page table"). */
  readonly tableNames: readonly string[];
}

const TWO_LEVEL_NAMES = {
  entryNames: ["PDE", "PTE"],
  indexNames: ["PDX", "PTX"],
  tableNames: ["page directory", "page table"],
} as const;

/** The named geometries (diagrams above). */
export const TEACH_GEOMETRIES: Readonly<Record<TeachGeometryName, TeachGeometry>> = {
  "ostep-multilevel": {
    name: "ostep-multilevel",
    vaBits: 15,
    pageBits: 5,
    indexBits: [5, 5],
    entryBytes: 1,
    validBit: 7,
    pfnBits: 7,
    emptyEntry: 0x7f,
    physBytes: 4096,
    ...TWO_LEVEL_NAMES,
  },
  "ostep-16k": {
    name: "ostep-16k",
    vaBits: 14,
    pageBits: 6,
    indexBits: [4, 4],
    entryBytes: 4,
    validBit: 31,
    pfnBits: 31,
    emptyEntry: 0,
    physBytes: 64 << 10,
    ...TWO_LEVEL_NAMES,
  },
};

/**
 * paging-linear-translate's table: `asize` bytes of address space in pages
 * of `pageSize`, one level of 4-byte entries (valid bit 31), over a teaching
 * physical memory of `physBytes` (the simulator's memory followed by room
 * for the table, which the caller places). Returns the reason as a string
 * when the sizes make no such geometry (not powers of two, too large).
 */
export function linearTeachGeometry(asize: number, pageSize: number, physBytes: number): TeachGeometry | string {
  const vaBits = Math.log2(asize);
  const pageBits = Math.log2(pageSize);
  if (!Number.isInteger(vaBits) || !Number.isInteger(pageBits) || pageBits > vaBits)
    return "sizes must be powers of two, the page no larger than the space";
  const g: TeachGeometry = {
    name: "linear",
    vaBits,
    pageBits,
    indexBits: [vaBits - pageBits],
    entryBytes: 4,
    validBit: 31,
    pfnBits: 31,
    emptyEntry: 0,
    physBytes,
    entryNames: ["PTE"],
    indexNames: ["VPN"],
    tableNames: ["page table"],
  };
  return validateTeachGeometry(g) ?? g;
}

/** Why `g` is not a usable geometry, or null when it is. */
export function validateTeachGeometry(g: TeachGeometry): string | null {
  const sum = g.indexBits.reduce((a, b) => a + b, 0);
  if (!Number.isInteger(g.vaBits) || g.vaBits < 1 || g.vaBits > 31) return `vaBits ${g.vaBits} is not in 1..31`;
  if (!Number.isInteger(g.pageBits) || g.pageBits < 0 || g.pageBits > g.vaBits) return `pageBits ${g.pageBits} is not in 0..vaBits`;
  if (g.indexBits.length < 1 || sum !== g.vaBits - g.pageBits)
    return `index bits ${g.indexBits.join("+")} do not make the ${g.vaBits - g.pageBits} VPN bits`;
  if (g.indexBits.length > 1 && 2 ** g.pageBits < g.entryBytes) return "a page smaller than an entry cannot hold a table";
  if (![1, 2, 4].includes(g.entryBytes)) return `entryBytes ${g.entryBytes} is not 1, 2 or 4`;
  if (g.validBit < 0 || g.validBit >= g.entryBytes * 8) return `validBit ${g.validBit} is outside a ${g.entryBytes}-byte entry`;
  if (g.pfnBits < 1 || g.pfnBits > g.validBit) return `pfnBits ${g.pfnBits} must fit below the valid bit`;
  if (g.physBytes < 2 ** g.pageBits || g.physBytes >= 2 ** 31 || g.physBytes % 2 ** g.pageBits !== 0)
    return `physBytes ${g.physBytes} is not a page multiple below 2^31`;
  if (g.entryNames.length !== g.indexBits.length || g.indexNames.length !== g.indexBits.length) return "a name is needed for each level";
  return null;
}

/** Whether raw entry `raw` has its valid bit set. */
export function teachValid(g: TeachGeometry, raw: number): boolean {
  return ((raw >>> g.validBit) & 1) === 1;
}

/** The PFN field of raw entry `raw`. */
export function teachPfn(g: TeachGeometry, raw: number): number {
  return (raw >>> 0) % 2 ** g.pfnBits;
}

/** The bits of a raw entry outside the valid bit and the PFN field. */
export function teachReserved(g: TeachGeometry, raw: number): number {
  return Math.floor((raw >>> 0) / 2 ** g.pfnBits) & ~(1 << (g.validBit - g.pfnBits));
}

/** A valid entry pointing at teaching page `pfn`. */
export function teachEntry(g: TeachGeometry, pfn: number): number {
  return ((1 << g.validBit) | pfn) >>> 0;
}

/** Bytes of one table at `level` (0 = top). */
export function teachTableBytes(g: TeachGeometry, level: number): number {
  return 2 ** (g.indexBits[level] as number) * g.entryBytes;
}

/** Teaching pages one table at `level` covers (a linear table may span many). */
export function teachTablePages(g: TeachGeometry, level: number): number {
  return Math.ceil(teachTableBytes(g, level) / 2 ** g.pageBits);
}

/** The index of `va` at `level`. */
export function teachIndex(g: TeachGeometry, va: number, level: number): number {
  let shift = g.pageBits;
  for (let l = g.indexBits.length - 1; l > level; l--) shift += g.indexBits[l] as number;
  return Math.floor(va / 2 ** shift) % 2 ** (g.indexBits[level] as number);
}
