/**
 * checkPgtable and checkTlb: recount page-table and TLB state from scratch.
 *
 * IDs:
 *   PGTABLE-1 a table frame is not marked PG_pgtable, has the wrong level or
 *             owner, or a marked frame belongs to no live page table (leak)
 *   PGTABLE-2 a table's in-use count differs from its non-zero entries
 *   PGTABLE-3 a present leaf points beyond RAM, at a free frame, or at a
 *             reserved frame without PTE_SPECIAL (user tables)
 *   PGTABLE-4 a frame's mapcount differs from the user leaves mapping it, or
 *             its refcount is below that count
 *   PGTABLE-5 the direct map does not map every frame at PAGE_OFFSET + pa
 *   PGTABLE-6 a bad upper-level entry (non-present but not zero, PS above
 *             level 2, a table beyond RAM) or a table reached twice
 *   PGTABLE-7 a TLB flush is still pending (a change was never flushed)
 *   PGTABLE-8 table counts (per page table, PageTables) differ from the recount
 *   TLB-1     a TLB entry disagrees with the page tables (stale translation)
 *   TLB-2     a TLB entry belongs to no live address space
 *   (both also for the 2 MiB entries of tlb_huge.ts)
 */
import { invariant } from "../panic.ts";
import { PG_alloc, PG_pgtable, PG_reserved, PG_slab, PG_tail } from "./memmap.ts";
import type { Mmu } from "./mmu.ts";
import type { Paging } from "./pgalloc.ts";
import type { PageTable } from "./pgtable.ts";
import { entryHi, geoEntryAddr } from "./pgtable_geometry.ts";
import { isLeaf, PTE_P, PTE_SPECIAL } from "./pgtable_types.ts";
import { TLB_EXEC, TLB_GLOBAL, TLB_USER, TLB_WRITE, type Tlb } from "./tlb.ts";
import { formatVa, PAGE_OFFSET } from "./types.ts";

const FREE = 0;
const ALLOCATED = 1;
const RESERVED = 2;

/** What the checker learns while walking every table. */
interface Census {
  readonly frame: Uint8Array;
  readonly seen: Uint8Array;
  readonly mapped: Uint32Array;
  buddyTables: number;
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** Frame states from the struct page array: free, inside an allocated block, or reserved. */
function frameStates(paging: Paging): Uint8Array {
  const mm = paging.memmap;
  const out = new Uint8Array(mm.nrPages);
  for (let pfn = 0; pfn < mm.nrPages; ) {
    const f = mm.flags(pfn);
    if (f & PG_reserved) {
      out[pfn++] = RESERVED;
      continue;
    }
    const n = f & PG_alloc ? 1 << mm.order(pfn) : 1;
    if (f & PG_alloc) out.fill(ALLOCATED, pfn, Math.min(pfn + n, mm.nrPages));
    pfn += n;
  }
  return out;
}

/** Throws InvariantViolation (PGTABLE-n) at the first broken invariant of any live page table. */
export function checkPgtable(paging: Paging): void {
  const mm = paging.memmap;
  const census: Census = {
    frame: frameStates(paging),
    seen: new Uint8Array(mm.nrPages),
    mapped: new Uint32Array(mm.nrPages),
    buddyTables: 0,
  };
  for (const pt of paging.live) {
    if (pt.flushPending()) invariant(false, "PGTABLE-7", `ASID ${pt.asid}: TLB flush of ${pt.describePending()} still pending`);
    const tables = checkTable(paging, pt, pt.root, pt.top, 0, census);
    if (!(tables === pt.nrTables))
      invariant(false, "PGTABLE-8", `ASID ${pt.asid}: ${tables} tables counted, page table says ${pt.nrTables}`);
  }
  if (!(census.buddyTables === paging.nrTablePages))
    invariant(false, "PGTABLE-8", `${census.buddyTables} buddy-allocated tables counted, PageTables says ${paging.nrTablePages}`);
  for (let pfn = 0; pfn < mm.nrPages; pfn++) {
    if (!(!mm.testFlag(pfn, PG_pgtable) || census.seen[pfn] === 1))
      invariant(false, "PGTABLE-1", `table frame ${hex(pfn)} belongs to no live page table`);
    checkMapcount(paging, pfn, census.mapped[pfn] as number);
  }
}

/** Checks one table and everything below it; returns the number of tables in the subtree. */
function checkTable(paging: Paging, pt: PageTable, table: number, level: number, base: number, c: Census): number {
  const mm = paging.memmap;
  const where = `ASID ${pt.asid} level-${level} table ${hex(table)}`;
  if (!(c.seen[table] === 0)) invariant(false, "PGTABLE-6", `${where} reached twice`);
  c.seen[table] = 1;
  if (!mm.testFlag(table, PG_pgtable)) invariant(false, "PGTABLE-1", `${where} is not marked PG_pgtable`);
  if (!(mm.ownerBits(table) === level && mm.word(table, 3) === pt.asid))
    invariant(false, "PGTABLE-1", `${where} has level ${mm.ownerBits(table)}, owner ${mm.word(table, 3)}`);
  if (!mm.testFlag(table, PG_reserved)) c.buddyTables++;
  const u32 = paging.u32;
  let used = 0;
  let tables = 1;
  const geo = pt.geo;
  for (let i = 0; i < geo.entriesPerTable; i++) {
    const w = geoEntryAddr(geo, table, i) >>> 2;
    const lo = u32[w] as number;
    const hi = entryHi(geo, u32, w);
    if ((lo | hi) === 0) continue;
    used++;
    const va = base + i * (geo.levelSize[level] as number);
    const flags = pt.geo.flags(lo, hi, level);
    if (isLeaf(level, flags)) {
      if ((lo & PTE_P) !== 0) checkLeaf(paging, pt, va, level, pt.geo.pfn(lo, hi), flags, c);
      continue;
    }
    if (!((lo & PTE_P) !== 0)) invariant(false, "PGTABLE-6", `${where} entry ${i} (${formatVa(va)}) is not present but not zero`);
    if (!((lo & pt.geo.leafBits) === 0)) invariant(false, "PGTABLE-6", `${where} entry ${i} has PS at level ${level}`);
    const child = pt.geo.pfn(lo, hi);
    if (!(child < mm.nrPages)) invariant(false, "PGTABLE-6", `${where} entry ${i} points beyond RAM (${hex(child)})`);
    tables += checkTable(paging, pt, child, level - 1, va, c);
  }
  if (!(used === paging.tableUsed(table)))
    invariant(false, "PGTABLE-2", `${where} has ${used} entries in use, its count says ${paging.tableUsed(table)}`);
  return tables;
}

function checkLeaf(paging: Paging, pt: PageTable, va: number, level: number, pfn: number, flags: number, c: Census): void {
  const pages = level === 2 ? pt.geo.entriesPerTable : 1;
  const nr = paging.memmap.nrPages;
  if (!(pfn + pages <= nr)) invariant(false, "PGTABLE-3", `leaf at ${formatVa(va)} points beyond RAM (pfn ${hex(pfn)})`);
  const direct = pt.kind === "kernel" && va >= PAGE_OFFSET && va < PAGE_OFFSET + nr * 4096;
  if (direct) {
    if (!(pfn === (va - PAGE_OFFSET) / 4096)) invariant(false, "PGTABLE-5", `direct map at ${formatVa(va)} maps pfn ${hex(pfn)}`);
    return;
  }
  for (let p = pfn; p < pfn + pages; p++) {
    const state = c.frame[p];
    const ok = state === ALLOCATED || (state === RESERVED && (pt.kind === "kernel" || (flags & PTE_SPECIAL) !== 0));
    if (!ok) invariant(false, "PGTABLE-3", `leaf at ${formatVa(va)} points at ${state === FREE ? "free" : "reserved"} frame ${hex(p)}`);
    if (pt.kind === "user" && (flags & PTE_SPECIAL) === 0) c.mapped[p] = (c.mapped[p] as number) + 1;
  }
}

/** A frame's mapcount must equal the user leaves mapping it; its (head's) refcount must cover them. */
function checkMapcount(paging: Paging, pfn: number, mapped: number): void {
  const mm = paging.memmap;
  const f = mm.flags(pfn);
  if (f & (PG_slab | PG_pgtable | PG_reserved)) {
    if (!(mapped === 0 || (f & PG_reserved) !== 0))
      invariant(false, "PGTABLE-4", `frame ${hex(pfn)} (${mm.describeFlags(pfn)}) is mapped by user leaves`);
    return;
  }
  // A huge page's tails keep their own mapcount (huge_memory.ts), like order-0 pages.
  const mc = f & (PG_alloc | PG_tail) ? mm.mapcount(pfn) : 0;
  if (!(mc === mapped)) invariant(false, "PGTABLE-4", `frame ${hex(pfn)} has mapcount ${mc}, ${mapped} user leaves map it`);
  if (mapped > 0) {
    const head = mm.compoundHead(pfn);
    if (!(mm.refcount(head) >= mapped))
      invariant(false, "PGTABLE-4", `frame ${hex(pfn)} has refcount ${mm.refcount(head)} below its ${mapped} mappings`);
  }
}

/**
 * Throws InvariantViolation (TLB-n) when a valid entry of `tlb` (the running
 * CPU's by default) belongs to no live
 * address space or grants something the page tables no longer do.
 */
export function checkTlb(mmu: Mmu, tlb: Tlb = mmu.tlb): void {
  const byAsid = new Map<number, PageTable>();
  for (const pt of mmu.paging.live) byAsid.set(pt.asid, pt);
  checkHugeTlb(mmu, byAsid);
  for (let i = 0; i < tlb.entries; i++) {
    const key = tlb.keys[i] as number;
    if (Number.isNaN(key)) continue;
    const asid = key & 4095;
    const page = key - asid;
    const pt = byAsid.get(asid);
    if (!(pt !== undefined)) invariant(false, "TLB-2", `entry ${i} for ${formatVa(page)} has ASID ${asid}, which no live page table uses`);
    const now = mmu.peek(pt, page);
    const perm = tlb.perm[i] as number;
    const grants = perm & (TLB_WRITE | TLB_USER | TLB_EXEC | TLB_GLOBAL);
    const stale = now < 0 || now - (now % 4096) !== tlb.base[i] || (grants & ~(now % 4096)) !== 0;
    if (stale)
      invariant(
        false,
        "TLB-1",
        `entry ${i} for ${formatVa(page)} ASID ${asid} is stale: TLB has frame ${hex(tlb.base[i] as number)} perm ${hex(perm)}, tables say ${now < 0 ? "not mapped" : `${hex(now - (now % 4096))} perm ${hex(now % 4096)}`}`,
      );
  }
}

/** TLB-1 / TLB-2 for the 2 MiB array (tlb_huge.ts): each entry must match a 2 MiB leaf of a live page table. */
function checkHugeTlb(mmu: Mmu, byAsid: Map<number, PageTable>): void {
  const huge = mmu.tlb.huge;
  for (let j = 0; j < huge.keys.length; j++) {
    const key = huge.keys[j] as number;
    if (Number.isNaN(key)) continue;
    const asid = key % 4096;
    const va = key - asid;
    const pt = byAsid.get(asid);
    if (pt === undefined) invariant(false, "TLB-2", `2 MiB entry ${j} for ${formatVa(va)} has ASID ${asid}, which no live page table uses`);
    const ptep = pt.lookup(va);
    const now = mmu.peek(pt, va);
    const grants = (huge.perm[j] as number) & (TLB_WRITE | TLB_USER | TLB_EXEC);
    const stale = ptep < 0 || pt.leafLevel !== 2 || now < 0 || now - (now % 4096) !== huge.base[j] || (grants & ~(now % 4096)) !== 0;
    if (stale)
      invariant(false, "TLB-1", `2 MiB entry ${j} for ${formatVa(va)} ASID ${asid} is stale (frame ${hex(huge.base[j] as number)})`);
  }
}
