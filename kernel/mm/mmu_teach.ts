/**
 * A teaching address space: a small MMU of a teaching geometry
 * (pgtable_teach.ts) living inside the real machine. Its physical memory is
 * frames of memsim's RAM taken with alloc_pages, as any layer takes them; its
 * page directory and page tables are real bytes in those frames; a
 * translation is a walk of those bytes by the geometry's rules, with no TLB,
 * each step recorded (the entry's address, its raw value, valid or not).
 *
 * The teaching physical memory is `physBytes` long and backed one 4 KiB
 * frame at a time, on the first write to it: a 4 KiB OSTEP memory is one
 * frame, and paging-linear-translate's 512 MiB memory costs only the frames
 * its table lands in. Bytes never written read as zero (the frames come
 * zeroed, so the first write changes nothing else). `destroy()` gives every
 * frame back.
 *
 * Owns: its frames (the `backing` array, teaching byte >> 12 -> memsim pfn)
 * and the record of which teaching pages are tables. May call: the frames
 * layer through alloc_pages/__free_pages, physical RAM, the registry (its
 * checker runs in `m.check()` while it lives).
 *
 * Processes keep 4 KiB pages: everything above the MMU (the buddy allocator,
 * the page cache, swap, reclaim, rmap, THP) counts in 4 KiB frames, so a
 * whole machine of 32-byte pages is not what this is; it is the MMU half of
 * one, enough for the translation exercises.
 */
import { panic } from "../panic.ts";
import type { Registry } from "../registry.ts";
import { __GFP_ZERO, GFP_KERNEL } from "./gfp.ts";
import type { MemMap } from "./memmap.ts";
import { checkTeachSpace, insideTable } from "./mmu_teach_check.ts";
import {
  type TeachGeometry,
  teachEntry,
  teachIndex,
  teachPfn,
  teachTableBytes,
  teachValid,
  validateTeachGeometry,
} from "./pgtable_teach.ts";
import type { PhysMem } from "./physmem.ts";
import { PAGE_SIZE } from "./types.ts";

/** What a teaching address space takes from the kernel: the public frame interface, RAM, the registry. */
export interface TeachHost {
  allocPages(order: number, gfp?: number): number | null;
  freePages(pfn: number, order: number): void;
  readonly phys: PhysMem;
  readonly memmap: MemMap;
  readonly registry: Registry;
}

/** walk(): the VA is outside the geometry's address bits. */
export const TEACH_OUTSIDE = -100;
/** walk(): no root table has been set. */
export const TEACH_NO_ROOT = -101;

/** One frame of the teaching memory: where it starts in teaching bytes, and its memsim pfn. */
export interface TeachFrame {
  readonly base: number;
  readonly pfn: number;
}

/** A teaching address space over frames of memsim's RAM. */
export class TeachSpace {
  readonly geometry: TeachGeometry;
  /** Teaching pages of physical memory. */
  readonly nrPages: number;
  /** memsim pfn backing each 4 KiB of teaching memory, -1 while never written. */
  private readonly backing: Int32Array;
  private nrBacked = 0;
  /** Teaching pfn of each table -> its level. */
  private readonly tables = new Map<number, number>();
  /** Teaching pfn of each page a leaf maps -> how many leaves map it. */
  private readonly data = new Map<number, number>();
  private rootPfn = -1;
  private mapped = 0;
  private alive = true;
  private readonly checker = { name: "teach", run: () => this.check() };
  // The last walk, one slot per level: no objects per translation.
  private readonly stepAddr: Int32Array;
  private readonly stepRaws: Uint32Array;
  private readonly stepIdx: Int32Array;
  private steps = 0;

  /** Throws RangeError naming the problem when `geometry` is not a usable one. */
  constructor(
    private readonly host: TeachHost,
    geometry: TeachGeometry,
  ) {
    const why = validateTeachGeometry(geometry);
    if (why !== null) throw new RangeError(`teach: ${geometry.name}: ${why}`);
    this.geometry = geometry;
    this.nrPages = geometry.physBytes / 2 ** geometry.pageBits;
    this.backing = new Int32Array(Math.ceil(geometry.physBytes / PAGE_SIZE)).fill(-1);
    const levels = geometry.indexBits.length;
    this.stepAddr = new Int32Array(levels);
    this.stepRaws = new Uint32Array(levels);
    this.stepIdx = new Int32Array(levels);
    host.registry.checkers.push(this.checker);
  }

  /** The root table's teaching pfn (the PDBR or PTBR), -1 before setRoot. */
  get root(): number {
    return this.rootPfn;
  }

  /** What teaching page `pfn` is: part of a table, a page some leaf maps, or neither. */
  pageUse(pfn: number): "table" | "data" | "free" {
    if (insideTable(this.geometry, this.tables, pfn)) return "table";
    return this.data.has(pfn) ? "data" : "free";
  }

  /** Leaf entries made valid by map(). */
  get nrMapped(): number {
    return this.mapped;
  }

  /** The tables, as [teaching pfn, level] pairs in the order they were made. */
  tableList(): [number, number][] {
    return [...this.tables];
  }

  /** The frames holding teaching memory, in teaching-address order. */
  frames(): TeachFrame[] {
    const out: TeachFrame[] = [];
    for (let i = 0; i < this.backing.length; i++) if (this.backing[i]! >= 0) out.push({ base: i * PAGE_SIZE, pfn: this.backing[i]! });
    return out;
  }

  /** The memsim physical address of teaching byte `pa`, or -1 while its frame was never written. */
  physAddr(pa: number): number {
    const f = this.backing[Math.floor(pa / PAGE_SIZE)]!;
    return f < 0 ? -1 : f * PAGE_SIZE + (pa % PAGE_SIZE);
  }

  /** A byte of teaching memory (0 where never written). Panics when `pa` is outside it. */
  read8(pa: number): number {
    this.inside(pa, 1);
    const a = this.physAddr(pa);
    return a < 0 ? 0 : this.host.phys.read8(a);
  }

  /** Writes a byte of teaching memory. Returns false when its frame cannot be had (no free frame). Panics when `pa` is outside. */
  write8(pa: number, v: number): boolean {
    this.inside(pa, 1);
    if (!this.back(pa)) return false;
    this.host.phys.write8(this.physAddr(pa), v);
    return true;
  }

  /** The entry of `entryBytes` at teaching address `pa` (aligned), unsigned. */
  readEntry(pa: number): number {
    this.inside(pa, this.geometry.entryBytes);
    const a = this.physAddr(pa);
    if (a < 0) return 0;
    const size = this.geometry.entryBytes;
    return size === 1 ? this.host.phys.read8(a) : size === 2 ? this.host.phys.read16(a) : this.host.phys.read32(a);
  }

  /** Writes the entry at `pa`. Returns false when its frame cannot be had. */
  writeEntry(pa: number, raw: number): boolean {
    this.inside(pa, this.geometry.entryBytes);
    if (!this.back(pa)) return false;
    const a = this.physAddr(pa);
    const size = this.geometry.entryBytes;
    if (size === 1) this.host.phys.write8(a, raw);
    else if (size === 2) this.host.phys.write16(a, raw);
    else this.host.phys.write32(a, raw);
    return true;
  }

  /**
   * Makes teaching page `pfn` a table of `level`: every entry `emptyEntry`.
   * Returns false when a frame for it cannot be had. Panics when it runs
   * past the memory, over a table or over a page a leaf maps.
   */
  makeTable(pfn: number, level: number): boolean {
    const g = this.geometry;
    if (level < 0 || level >= g.indexBits.length) panic(`teach makeTable: no level ${level}`);
    const base = pfn * 2 ** g.pageBits;
    const bytes = teachTableBytes(g, level);
    this.inside(base, bytes);
    if (base % g.entryBytes !== 0) panic(`teach makeTable: page ${pfn} does not align a ${g.entryBytes}-byte entry`);
    for (let p = pfn; p * 2 ** g.pageBits < base + bytes; p++) {
      const use = this.pageUse(p);
      if (use !== "free") panic(`teach makeTable: page ${p} is ${use === "table" ? "already part of a table" : "mapped as data"}`);
    }
    for (let off = 0; off < bytes; off += g.entryBytes) if (!this.writeEntry(base + off, g.emptyEntry)) return false;
    this.tables.set(pfn, level);
    return true;
  }

  /** Sets the root register (PDBR / PTBR) to table `pfn`. Panics when it is not a top-level table. */
  setRoot(pfn: number): void {
    if (this.tables.get(pfn) !== 0) panic(`teach setRoot: page ${pfn} is not a top-level table`);
    this.rootPfn = pfn;
  }

  /**
   * Maps the page of `va` to teaching page `pfn`; a missing lower table is
   * made in the page `newTable(level)` returns, then linked. Returns false
   * when a frame cannot be had. Panics when there is no root, the page is
   * already mapped (xv6's "remap"), or `pfn` is outside the memory or part
   * of a table.
   */
  map(va: number, pfn: number, newTable: (level: number) => number): boolean {
    const g = this.geometry;
    if (this.rootPfn < 0) panic("teach map: no root table");
    if (pfn < 0 || pfn >= this.nrPages) panic(`teach map: pfn ${pfn} is outside the memory`);
    let table = this.rootPfn;
    const last = g.indexBits.length - 1;
    for (let level = 0; level < last; level++) {
      const at = this.entryAddr(table, va, level);
      const raw = this.readEntry(at);
      if (teachValid(g, raw)) {
        table = teachPfn(g, raw);
        continue;
      }
      const t = newTable(level + 1);
      if (!this.makeTable(t, level + 1) || !this.writeEntry(at, teachEntry(g, t))) return false;
      table = t;
    }
    const at = this.entryAddr(table, va, last);
    if (teachValid(g, this.readEntry(at))) panic(`teach map: remap of 0x${va.toString(16)}`);
    if (insideTable(g, this.tables, pfn)) panic(`teach map: page ${pfn} is part of a table`);
    if (!this.writeEntry(at, teachEntry(g, pfn))) return false;
    this.mapped++;
    this.data.set(pfn, (this.data.get(pfn) ?? 0) + 1);
    return true;
  }

  /**
   * Translates `va` by walking the tables in teaching memory, recording each
   * step (stepCount, stepEntryAddr, stepRaw, stepIndex). Returns the
   * teaching physical address, or -(level + 1) when the entry at `level`
   * (0 = top) is not valid or points past the memory, TEACH_OUTSIDE when `va` is past the address
   * bits, TEACH_NO_ROOT before setRoot.
   */
  walk(va: number): number {
    const g = this.geometry;
    this.steps = 0;
    if (!Number.isInteger(va) || va < 0 || va >= 2 ** g.vaBits) return TEACH_OUTSIDE;
    if (this.rootPfn < 0) return TEACH_NO_ROOT;
    let table = this.rootPfn;
    for (let level = 0; level < g.indexBits.length; level++) {
      const at = this.entryAddr(table, va, level);
      const raw = this.readEntry(at);
      this.stepAddr[level] = at;
      this.stepRaws[level] = raw;
      this.stepIdx[level] = teachIndex(g, va, level);
      this.steps = level + 1;
      if (!teachValid(g, raw)) return -(level + 1);
      table = teachPfn(g, raw);
      if (table >= this.nrPages) return -(level + 1);
    }
    return table * 2 ** g.pageBits + (va % 2 ** g.pageBits);
  }

  /** Steps the last walk took (entries read). */
  get stepCount(): number {
    return this.steps;
  }

  /** The teaching address of the entry read at step `i` (= level i). */
  stepEntryAddr(i: number): number {
    return this.stepAddr[i]!;
  }

  /** The raw entry read at step `i`. */
  stepRaw(i: number): number {
    return this.stepRaws[i]!;
  }

  /** The index into the table at step `i`. */
  stepIndex(i: number): number {
    return this.stepIdx[i]!;
  }

  /** Recounts the tables against the frames; throws InvariantViolation (TEACH-n). */
  check(): void {
    checkTeachSpace(this, this.backing, this.tables, { nrBacked: this.nrBacked, memmap: this.host.memmap });
  }

  /** Gives every frame back and leaves m.check(). Panics on a second call. */
  destroy(): void {
    if (!this.alive) panic("teach destroy: already destroyed");
    this.alive = false;
    for (let i = 0; i < this.backing.length; i++) {
      const f = this.backing[i]!;
      if (f < 0) continue;
      this.host.freePages(f, 0);
      this.backing[i] = -1;
    }
    this.nrBacked = 0;
    this.tables.clear();
    this.data.clear();
    this.rootPfn = -1;
    const list = this.host.registry.checkers;
    list.splice(list.indexOf(this.checker), 1);
  }

  /** The teaching address of `va`'s entry at `level` in the table at teaching page `table`. */
  private entryAddr(table: number, va: number, level: number): number {
    return table * 2 ** this.geometry.pageBits + teachIndex(this.geometry, va, level) * this.geometry.entryBytes;
  }

  private inside(pa: number, len: number): void {
    if (!this.alive) panic("teach: the address space was destroyed");
    if (!Number.isInteger(pa) || pa < 0 || pa + len > this.geometry.physBytes) panic(`teach: P0x${pa.toString(16)} is outside the memory`);
  }

  /** Gives the 4 KiB of `pa` a zeroed frame if it has none. Returns false when none is free. */
  private back(pa: number): boolean {
    const i = Math.floor(pa / PAGE_SIZE);
    if (this.backing[i]! >= 0) return true;
    const f = this.host.allocPages(0, GFP_KERNEL | __GFP_ZERO);
    if (f === null) return false;
    this.backing[i] = f;
    this.nrBacked++;
    return true;
  }
}
