/**
 * mremap(2) (Linux mm/mremap.c): shrink in place, grow in place when the
 * space after is free, otherwise move (MREMAP_MAYMOVE) by moving page-table
 * entries, never copying frames. MREMAP_FIXED moves to a given address;
 * MREMAP_DONTUNMAP leaves the old VMA mapped and empty.
 */
import { EFAULT, EINVAL, ENOMEM } from "../errno.ts";
import { panic } from "../panic.ts";
import { MAP_FIXED, MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE } from "../uapi/mman.ts";
import { type MmStruct, PAGE } from "./mm.ts";
import { VM_ACCOUNT, VM_DONTEXPAND, VM_GROWSDOWN, VM_HUGETLB, VM_MAYSHARE, VM_SHARED, VM_WRITE } from "./mm_types.ts";
import { doMunmap, getUnmappedArea, type MmapContext } from "./mmap.ts";
import type { PageTable } from "./pgtable.ts";
import { entryHi, geoEntryAddr, geoIndex } from "./pgtable_geometry.ts";
import { freeEmptyTables, type PteVisitor, walkRange } from "./pgtable_range.ts";
import { HPAGE_SIZE, PTE_P, PTE_PS } from "./pgtable_types.ts";

/** The page-table work mremap needs. */
export interface MremapPageOps {
  /** Moves the entries of [oldStart, oldStart + len) to newStart; frames stay. False when out of memory (nothing moved). */
  movePageTables(mm: MmStruct, oldStart: number, newStart: number, len: number): boolean;
}

const pageAlign = (n: number) => Math.ceil(n / PAGE) * PAGE;

/** sys_mremap. Returns the (possibly new) address or -errno. */
export function sysMremap(
  ctx: MmapContext,
  mm: MmStruct,
  ops: MremapPageOps,
  addr: number,
  oldLenIn: number,
  newLenIn: number,
  flags: number,
  newAddr: number,
): number {
  if (![addr, oldLenIn, newLenIn, flags, newAddr].every(Number.isSafeInteger)) return -EINVAL;
  if (flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP)) return -EINVAL;
  if (flags & MREMAP_FIXED && !(flags & MREMAP_MAYMOVE)) return -EINVAL;
  if (flags & MREMAP_DONTUNMAP && (!(flags & MREMAP_MAYMOVE) || oldLenIn !== newLenIn)) return -EINVAL;
  if (addr < 0 || addr % PAGE !== 0 || oldLenIn < 0 || newLenIn < 0) return -EINVAL;
  const oldLen = pageAlign(oldLenIn);
  const newLen = pageAlign(newLenIn);
  if (newLen === 0) return -EINVAL;
  if (newLen > mm.stackTop) return -ENOMEM;
  const vmas = ctx.vmas;
  const vma = vmas.lookup(mm, addr);
  if (vma === 0) return -EFAULT;
  // memsim does not move or resize hugetlb mappings.
  if (vmas.f.flags(vma) & VM_HUGETLB) return -EINVAL;
  // old_len 0 duplicates a shared mapping; of a private one it would make an unrelated new mapping.
  if (oldLen === 0 && !(vmas.f.flags(vma) & (VM_SHARED | VM_MAYSHARE))) return -EINVAL;
  if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) return mremapTo(ctx, mm, ops, addr, oldLen, newAddr, newLen, flags);
  if (oldLen >= newLen) {
    if (oldLen === newLen) return addr;
    const r = doMunmap(ctx, mm, addr + newLen, oldLen - newLen);
    return r < 0 ? r : addr;
  }
  const err = checkResizable(ctx, mm, vma, addr, oldLen, newLen);
  if (err < 0) return err;
  const f = vmas.f;
  if (oldLen === f.end(vma) - addr && expandable(ctx, mm, vma, newLen - oldLen)) {
    const grow = (newLen - oldLen) / PAGE;
    if (f.flags(vma) & VM_ACCOUNT) {
      if (!ctx.commit.charge(grow)) return -ENOMEM;
      mm.committed += grow;
    }
    vmas.setEnd(mm, vma, addr + newLen);
    return addr;
  }
  if (!(flags & MREMAP_MAYMOVE)) return -ENOMEM;
  const to = getUnmappedArea(ctx, mm, 0, newLen, 0);
  if (to < 0) return to;
  return moveVma(ctx, mm, ops, vma, addr, oldLen, newLen, to, flags);
}

/** vma_to_resize: the old range must sit inside one VMA that may grow. */
function checkResizable(ctx: MmapContext, mm: MmStruct, vma: number, addr: number, oldLen: number, newLen: number): number {
  const f = ctx.vmas.f;
  if (oldLen > f.end(vma) - addr) return -EFAULT;
  if (newLen === oldLen) return 0;
  if (f.flags(vma) & VM_DONTEXPAND) return -EFAULT;
  const grow = (newLen - oldLen) / PAGE;
  if ((mm.totalVm + grow) * PAGE > mm.rlimits.as) return -ENOMEM;
  if ((f.flags(vma) & (VM_WRITE | VM_SHARED | VM_GROWSDOWN)) === VM_WRITE && (mm.dataVm + grow) * PAGE > mm.rlimits.data) return -ENOMEM;
  return 0;
}

/**
 * vma_expandable: the `delta` bytes after the VMA are free and inside user
 * space. Up to the next VMA's start, even a grows-down one's: its guard gap
 * is enforced when the stack grows, not here.
 */
function expandable(ctx: MmapContext, mm: MmStruct, vma: number, delta: number): boolean {
  const f = ctx.vmas.f;
  const end = f.end(vma) + delta;
  if (end > mm.stackTop || end < f.end(vma)) return false;
  const next = ctx.vmas.next(mm, vma);
  return next === 0 || f.start(next) >= end;
}

/** mremap_to: MREMAP_FIXED / MREMAP_DONTUNMAP. */
function mremapTo(
  ctx: MmapContext,
  mm: MmStruct,
  ops: MremapPageOps,
  addr: number,
  oldLen: number,
  newAddr: number,
  newLen: number,
  flags: number,
): number {
  if (flags & MREMAP_FIXED) {
    if (newAddr % PAGE !== 0 || newAddr < 0) return -EINVAL;
    if (newLen > mm.stackTop || newAddr > mm.stackTop - newLen) return -EINVAL;
    if (addr + oldLen > newAddr && newAddr + newLen > addr) return -EINVAL;
    const r = doMunmap(ctx, mm, newAddr, newLen);
    if (r < 0) return r;
  }
  if (oldLen > newLen) {
    const r = doMunmap(ctx, mm, addr + newLen, oldLen - newLen);
    if (r < 0) return r;
    oldLen = newLen;
  }
  const vma = ctx.vmas.lookup(mm, addr);
  if (vma === 0) return -EFAULT;
  const err = checkResizable(ctx, mm, vma, addr, oldLen, newLen);
  if (err < 0) return err;
  const to = flags & MREMAP_FIXED ? getUnmappedArea(ctx, mm, newAddr, newLen, MAP_FIXED) : getUnmappedArea(ctx, mm, 0, newLen, 0);
  if (to < 0) return to;
  return moveVma(ctx, mm, ops, vma, addr, oldLen, newLen, to, flags);
}

/**
 * move_vma: a new VMA at `to` with the old one's flags, the page-table
 * entries moved over, then the old range unmapped (its commit charge moves
 * with it, so only growth is charged) unless MREMAP_DONTUNMAP.
 */
function moveVma(
  ctx: MmapContext,
  mm: MmStruct,
  ops: MremapPageOps,
  vma: number,
  addr: number,
  oldLen: number,
  newLen: number,
  to: number,
  flags: number,
): number {
  const vmas = ctx.vmas;
  const f = vmas.f;
  if (mm.mapCount >= ctx.maxMapCount - 3) return -ENOMEM;
  const vmFlags = f.flags(vma);
  const dontUnmap = (flags & MREMAP_DONTUNMAP) !== 0;
  const charge = vmFlags & VM_ACCOUNT ? (dontUnmap ? newLen : Math.max(0, newLen - oldLen)) / PAGE : 0;
  if (charge && !ctx.commit.charge(charge)) return -ENOMEM;
  const pgoff = f.pgoff(vma) + (addr - f.start(vma)) / PAGE;
  const nv = vmas.dup(mm, vma);
  if (nv === 0) {
    if (charge) ctx.commit.uncharge(charge);
    return -ENOMEM;
  }
  f.setStart(nv, to);
  f.setEnd(nv, to + newLen);
  f.setPgoff(nv, pgoff);
  if (!ops.movePageTables(mm, addr, to, Math.min(oldLen, newLen))) {
    vmas.freeDup(nv);
    if (charge) ctx.commit.uncharge(charge);
    return -ENOMEM;
  }
  mm.committed += charge;
  vmas.insert(mm, nv);
  if (!dontUnmap && oldLen > 0) {
    // The old range's charge now belongs to the new VMA: hide VM_ACCOUNT while unmapping it.
    if (vmFlags & VM_ACCOUNT) releaseWithoutUncharge(ctx, mm, addr, oldLen);
    else doMunmap(ctx, mm, addr, oldLen);
  }
  vmas.mergeAround(mm, nv);
  return to;
}

/** Unmaps [addr, addr + len) of an accounted VMA without giving its commit back. */
function releaseWithoutUncharge(ctx: MmapContext, mm: MmStruct, addr: number, len: number): void {
  const pages = len / PAGE;
  ctx.commit.committed += pages;
  mm.committed += pages;
  doMunmap(ctx, mm, addr, len);
}

/**
 * move_page_tables: moves every entry of [oldStart, oldStart + len) to the
 * same offset from newStart. Where source and destination are both 2 MiB
 * aligned and a whole 2 MiB piece moves, the page table itself is moved by
 * one level-2 entry (Linux move_normal_pmd), so the cost does not grow with
 * the pages it maps. All new tables are allocated first: a failure changes
 * nothing. Returns false when a table could not be had.
 */
export class MovePageTables implements PteVisitor {
  private pt: PageTable | null = null;
  private delta = 0;
  private ok = true;
  private phase: "ensure" | "move" = "ensure";

  run(pt: PageTable, oldStart: number, newStart: number, len: number): boolean {
    this.pt = pt;
    this.delta = newStart - oldStart;
    this.ok = true;
    this.phase = "ensure";
    this.eachChunk(pt, oldStart, oldStart + len);
    if (this.ok) {
      this.phase = "move";
      this.eachChunk(pt, oldStart, oldStart + len);
      pt.flushTlb();
    } else {
      freeEmptyTables(pt, newStart, newStart + len);
    }
    this.pt = null;
    return this.ok;
  }

  /** Each 2 MiB piece of the range: a whole-table move where it can be, entry by entry otherwise. */
  private eachChunk(pt: PageTable, start: number, end: number): void {
    // The span of one level-1 table: 2 MiB on x86-64 and Sv39.
    const span = pt.geo.levelSize[2] as number;
    const aligned = this.delta % span === 0;
    for (let va = start; va < end && this.ok; ) {
      const next = Math.min(end, va - (va % span) + span);
      if (!(aligned && va % span === 0 && next - va === span && this.moveTable(pt, va))) walkRange(pt, va, next, this);
      va = next;
    }
  }

  /**
   * Moves the level-1 table mapping the 2 MiB at `va` (ensure phase: makes
   * sure the destination's upper tables exist). False when this piece must
   * move entry by entry: no table at the source, or one at the destination.
   */
  private moveTable(pt: PageTable, va: number): boolean {
    const src = pmdLookup(pt, va);
    if (src < 0) return false;
    const flags = pt.pteFlags(src);
    if (!(flags & PTE_P)) return false;
    if (flags & PTE_PS) return this.moveHugePmd(pt, va, src, flags);
    const dstVa = va + this.delta;
    const dst = pt.ensure(dstVa, 2);
    if (dst < 0) {
      this.ok = false;
      return true;
    }
    if (!pt.pteNone(dst)) return false;
    if (this.phase === "move") {
      pt.setPte(dstVa, dst, pt.ptePfn(src), flags);
      pt.clearPte(va, src);
      pt.recordFlush(va, va + (pt.geo.levelSize[2] as number));
    }
    return true;
  }

  /**
   * move_huge_pmd: a 2 MiB leaf (a transparent huge page) moves as one
   * entry; the destination's empty table, left by the unmap before, goes
   * first (ensure phase). The caller split every leaf that cannot move whole.
   */
  private moveHugePmd(pt: PageTable, va: number, src: number, flags: number): boolean {
    const dstVa = va + this.delta;
    if (this.phase === "ensure") freeEmptyTables(pt, dstVa, dstVa + HPAGE_SIZE);
    const dst = pt.ensure(dstVa, 2);
    if (dst < 0) {
      this.ok = false;
      return true;
    }
    if (!pt.pteNone(dst)) panic(`move_huge_pmd: the destination 0x${dstVa.toString(16)} is not empty`);
    if (this.phase === "move") {
      const pfn = pt.ptePfn(src);
      pt.clearPte(va, src);
      pt.setPte(dstVa, dst, pfn, flags);
    }
    return true;
  }

  visitPte(va: number, ptep: number, level: number): void {
    const pt = this.pt as PageTable;
    if (level !== 1) panic("move_page_tables: a 2 MiB leaf across a range end (not split)");
    if (this.phase === "ensure") {
      if (this.ok && pt.ensure(va + this.delta) < 0) this.ok = false;
      return;
    }
    const to = pt.ensure(va + this.delta);
    pt.setPte(va + this.delta, to, pt.ptePfn(ptep), pt.pteFlags(ptep));
    pt.clearPte(va, ptep);
  }
}

/** The level-2 entry (pmd) for `va`, without allocating; -1 when an upper level is missing. */
function pmdLookup(pt: PageTable, va: number): number {
  const u32 = pt.paging.u32;
  const geo = pt.geo;
  let table = pt.root;
  for (let level = pt.top; level > 2; level--) {
    const w = geoEntryAddr(geo, table, geoIndex(geo, va, level)) >>> 2;
    const lo = u32[w] as number;
    if (!(lo & PTE_P)) return -1;
    table = geo.pfn(lo, entryHi(geo, u32, w));
  }
  return geoEntryAddr(geo, table, geoIndex(geo, va, 2));
}
