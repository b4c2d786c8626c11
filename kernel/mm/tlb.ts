/**
 * The TLB: a set-associative cache of leaf translations, tagged with an
 * address-space id (ASID, like x86's 12-bit PCID) so that switching between
 * address spaces needs no flush. The MMU (mmu.ts) fills it after a walk and
 * reads it on every access; page-table changes invalidate it through the
 * flushes that pgtable.ts records (Linux arch/x86/mm/tlb.c).
 *
 * Entry i of the arrays (set s holds entries s*ways .. s*ways + ways - 1):
 *
 *   keys[i]  Float64  page va + asid (page va is a multiple of 4096 below
 *                     2^48, asid < 4096, so the sum is exact and unique);
 *                     NaN = invalid (NaN equals nothing, not even a NaN key)
 *   base[i]  Uint32   physical address of the 4 KiB frame
 *   perm[i]  Uint8    what the entry allows without a walk:
 *                     TLB_WRITE  writable AND the leaf's D bit already set
 *                     TLB_USER   user mode may access
 *                     TLB_EXEC   instruction fetch allowed
 *                     TLB_GLOBAL the leaf had G: survives ASID flushes
 *
 * The perm bits sit where the matching #PF error-code bits sit, so an access
 * described by its error-code bits `acc` may use entry i when
 * (perm & acc) === acc. So that a hit costs one compare, each kind of access
 * also has its own key array, holding keys[i] where entry i allows that
 * access and NaN elsewhere (keysFor(acc)); keys itself serves kernel reads.
 * A 2 MiB leaf of the kernel's direct map is cached as the 4 KiB pieces
 * that are used; a 2 MiB leaf of a user page table (a transparent huge page)
 * also gets an entry in the 2 MiB array (tlb_huge.ts), which answers a 4 KiB
 * miss inside it without a walk. Flushes of a 2 MiB leaf cover its whole range.
 *
 * ASID 0 belongs to the kernel's page table (init_mm); global entries are
 * tagged with it. Other address spaces take ids 1..4095 from a pool.
 */
import { type KernelEvents, NO_EVENTS } from "../events.ts";
import { EV_TLB_FLUSH, TLB_FLUSH_ALL, TLB_LOCAL_MM_SHOOTDOWN, TLB_LOCAL_SHOOTDOWN } from "../events_types.ts";
import { panic } from "../panic.ts";
import { HugeTlb } from "./tlb_huge.ts";

/** The perm bits as an enum: each use in refill compiles to its number, not a read of a module binding. */
enum Perm {
  WRITE = 2,
  USER = 4,
  EXEC = 16,
  GLOBAL = 128,
}
export const TLB_WRITE = Perm.WRITE;
export const TLB_USER = Perm.USER;
export const TLB_EXEC = Perm.EXEC;
export const TLB_GLOBAL = Perm.GLOBAL;

/** Number of ASIDs (12-bit PCID); ASID 0 is the kernel's. */
export const NR_ASIDS = 4096;
export const KERNEL_ASID = 0;
/** Range flushes of more pages than this flush the whole ASID (Linux tlb_single_page_flush_ceiling). */
export const FLUSH_CEILING_PAGES = 33;

/** Shape of the TLB. */
export interface TlbConfig {
  /** Total entries, a power of two from 1 to 65536. */
  readonly entries: number;
  /** Entries per set, a power of two dividing `entries` (entries = fully associative). */
  readonly ways: number;
}

export const DEFAULT_TLB: TlbConfig = { entries: 256, ways: 4 };

/** Counters (vmstat and m.stats()). */
export class TlbStats {
  hits = 0;
  misses = 0;
  /** Pages flushed one by one: invlpg, and each page of a range at or below the ceiling (Linux nr_tlb_local_flush_one). */
  flushOne = 0;
  /** Range flushes (each one counts once, whatever its size). */
  flushRange = 0;
  /** Whole-ASID flushes: a range above the ceiling, an address space going away. */
  flushAsid = 0;
  /** Full flushes, global entries included. */
  flushAll = 0;
  /** Valid entries dropped by any flush. */
  entriesFlushed = 0;
}

/** True when `n` is a power of two in [1, 65536]. */
function isPow2(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65536 && (n & (n - 1)) === 0;
}

/** The TLB and the ASID pool. */
export class Tlb {
  readonly entries: number;
  readonly ways: number;
  readonly sets: number;
  /** Set index mask applied to (va >>> 12). */
  readonly setMask: number;
  readonly waysShift: number;
  readonly keys: Float64Array;
  readonly base: Uint32Array;
  readonly perm: Uint8Array;
  readonly stats = new TlbStats();
  /** The 2 MiB entries (tlb_huge.ts), consulted on a 4 KiB miss; every flush below covers them too. */
  readonly huge = new HugeTlb();
  /** The machine's event bus (tlb_flush). */
  readonly ev: KernelEvents;
  /** Key arrays of kernel writes, user reads, user writes, kernel fetches, user fetches (kernel reads use keys). */
  private readonly kw: Float64Array;
  private readonly ur: Float64Array;
  private readonly uw: Float64Array;
  private readonly kx: Float64Array;
  private readonly ux: Float64Array;
  /** Round-robin victim of each set. */
  private readonly victim: Uint16Array;
  private readonly asidUsed = new Uint8Array(NR_ASIDS);
  private asidHint = 1;
  /** ASIDs handed out and not yet freed. */
  nrAsids = 0;

  /**
   * `events` is the machine's event bus (kernel/main.ts hands it over).
   * Throws RangeError naming the bad field when the shape is not two powers of two with ways <= entries.
   */
  constructor(config: TlbConfig = DEFAULT_TLB, events: KernelEvents = NO_EVENTS) {
    this.ev = events;
    const { entries, ways } = config;
    if (!isPow2(entries)) throw new RangeError(`tlb: entries must be a power of two from 1 to 65536, got ${entries}`);
    if (!isPow2(ways) || ways > entries)
      throw new RangeError(`tlb: ways must be a power of two from 1 to entries (${entries}), got ${ways}`);
    this.entries = entries;
    this.ways = ways;
    this.sets = entries / ways;
    this.setMask = this.sets - 1;
    this.waysShift = Math.log2(ways);
    this.keys = new Float64Array(entries).fill(Number.NaN);
    this.kw = new Float64Array(entries).fill(Number.NaN);
    this.ur = new Float64Array(entries).fill(Number.NaN);
    this.uw = new Float64Array(entries).fill(Number.NaN);
    this.kx = new Float64Array(entries).fill(Number.NaN);
    this.ux = new Float64Array(entries).fill(Number.NaN);
    this.base = new Uint32Array(entries);
    this.perm = new Uint8Array(entries);
    this.victim = new Uint16Array(this.sets);
    this.asidUsed[KERNEL_ASID] = 1;
  }

  /** The key array of access `acc`: keys of the entries that allow it, NaN elsewhere. Panics on an unknown access. */
  keysFor(acc: number): Float64Array {
    switch (acc) {
      case 0:
        return this.keys;
      case TLB_WRITE:
        return this.kw;
      case TLB_USER:
        return this.ur;
      case TLB_USER | TLB_WRITE:
        return this.uw;
      case TLB_EXEC:
        return this.kx;
      case TLB_EXEC | TLB_USER:
        return this.ux;
      default:
        return panic(`tlb: no key array for access bits ${acc}`);
    }
  }

  /** The first entry of the set `va` falls in. */
  setOf(va: number): number {
    return ((va >>> 12) & this.setMask) << this.waysShift;
  }

  /** The entry caching page `pageVa` for `asid`, or -1. */
  find(pageVa: number, asid: number): number {
    const key = pageVa + asid;
    const keys = this.keys;
    const first = this.setOf(pageVa);
    for (let i = first; i < first + this.ways; i++) if (keys[i] === key) return i;
    return -1;
  }

  /** Caches a translation, replacing the entry for the same page and ASID or the set's next victim. Returns its index. */
  insert(pageVa: number, asid: number, framePa: number, perm: number): number {
    return this.refill(this.find(pageVa, asid), pageVa, asid, framePa, perm);
  }

  /**
   * insert() for a caller that has just looked: `i` is find(pageVa, asid)
   * with no change to the TLB since (the MMU's miss path, which looked
   * before walking), so the set is not searched twice. Returns the entry.
   */
  refill(i: number, pageVa: number, asid: number, framePa: number, perm: number): number {
    if (i < 0) {
      const set = (pageVa >>> 12) & this.setMask;
      const v = this.victim[set] as number;
      this.victim[set] = (v + 1) & (this.ways - 1);
      i = (set << this.waysShift) + v;
    }
    const key = pageVa + asid;
    const no = Number.NaN;
    this.keys[i] = key;
    this.kw[i] = (perm & Perm.WRITE) !== 0 ? key : no;
    this.ur[i] = (perm & Perm.USER) !== 0 ? key : no;
    this.uw[i] = (perm & (Perm.USER | Perm.WRITE)) === (Perm.USER | Perm.WRITE) ? key : no;
    this.kx[i] = (perm & Perm.EXEC) !== 0 ? key : no;
    this.ux[i] = (perm & (Perm.USER | Perm.EXEC)) === (Perm.USER | Perm.EXEC) ? key : no;
    this.base[i] = framePa;
    this.perm[i] = perm;
    return i;
  }

  /** Invalidates entry i in every key array. */
  private invalidate(i: number): void {
    const no = Number.NaN;
    this.keys[i] = no;
    this.kw[i] = no;
    this.ur[i] = no;
    this.uw[i] = no;
    this.kx[i] = no;
    this.ux[i] = no;
  }

  private drop(i: number): void {
    this.invalidate(i);
    this.stats.entriesFlushed++;
  }

  /** invlpg: drops the entries for page `pageVa` of `asid` and the global one. */
  invlpg(pageVa: number, asid: number): void {
    this.stats.flushOne++;
    this.stats.entriesFlushed += this.dropPage(pageVa, asid) + this.huge.dropRange(pageVa, pageVa + 4096, asid);
    if (this.ev.active[EV_TLB_FLUSH] !== 0) this.ev.tlbFlush(1, TLB_LOCAL_MM_SHOOTDOWN);
  }

  private dropPage(pageVa: number, asid: number): number {
    const keys = this.keys;
    const first = this.setOf(pageVa);
    let n = 0;
    for (let i = first; i < first + this.ways; i++) {
      const k = keys[i] as number;
      if (k === pageVa + asid || (k === pageVa && (this.perm[i] as number) & TLB_GLOBAL)) {
        this.invalidate(i);
        n++;
      }
    }
    return n;
  }

  /**
   * flush_tlb_range: drops the entries of `asid` (and global ones) for the
   * pages of [start, end). Small ranges go page by page; a range above the
   * ceiling scans every entry.
   */
  flushRange(start: number, end: number, asid: number): void {
    if (end <= start) return;
    const st = this.stats;
    const pages = (end - start) / 4096;
    st.flushRange++;
    if (pages <= FLUSH_CEILING_PAGES) st.flushOne += pages;
    else st.flushAsid++;
    st.entriesFlushed += this.dropRange(start, end, asid);
    if (this.ev.active[EV_TLB_FLUSH] !== 0) this.ev.tlbFlush(pages <= FLUSH_CEILING_PAGES ? pages : TLB_FLUSH_ALL, TLB_LOCAL_MM_SHOOTDOWN);
  }

  /** Like flushRange but not counted: the debug shootdown of a range whose flush is pending. */
  shootdown(start: number, end: number, asid: number): void {
    this.dropRange(start, end, asid);
  }

  private dropRange(start: number, end: number, asid: number): number {
    let n = this.huge.dropRange(start, end, asid);
    if ((end - start) / 4096 <= FLUSH_CEILING_PAGES) {
      for (let va = start; va < end; va += 4096) n += this.dropPage(va, asid);
      return n;
    }
    const keys = this.keys;
    for (let i = 0; i < this.entries; i++) {
      const k = keys[i] as number;
      if (Number.isNaN(k)) continue;
      const a = k & 4095;
      const page = k - a;
      if (page >= start && page < end && (a === asid || (this.perm[i] as number) & TLB_GLOBAL)) {
        this.invalidate(i);
        n++;
      }
    }
    return n;
  }

  /** Drops every non-global entry of `asid` (INVPCID single-context). */
  flushAsid(asid: number): void {
    this.stats.flushAsid++;
    if (this.ev.active[EV_TLB_FLUSH] !== 0) this.ev.tlbFlush(TLB_FLUSH_ALL, TLB_LOCAL_MM_SHOOTDOWN);
    this.stats.entriesFlushed += this.huge.dropAsid(asid);
    const keys = this.keys;
    for (let i = 0; i < this.entries; i++) {
      const k = keys[i] as number;
      if (!Number.isNaN(k) && (k & 4095) === asid && ((this.perm[i] as number) & TLB_GLOBAL) === 0) this.drop(i);
    }
  }

  /** Drops every entry, global ones included (flush_tlb_all). */
  flushAll(): void {
    this.stats.flushAll++;
    if (this.ev.active[EV_TLB_FLUSH] !== 0) this.ev.tlbFlush(TLB_FLUSH_ALL, TLB_LOCAL_SHOOTDOWN);
    this.stats.entriesFlushed += this.huge.dropAsid(-1);
    const keys = this.keys;
    for (let i = 0; i < this.entries; i++) if (!Number.isNaN(keys[i] as number)) this.drop(i);
  }

  /** Valid entries now. */
  nrValid(): number {
    let n = 0;
    for (let i = 0; i < this.entries; i++) if (!Number.isNaN(this.keys[i] as number)) n++;
    return n;
  }

  /** A fresh ASID in 1..4095, or -1 when all are in use. */
  allocAsid(): number {
    let a = this.asidHint;
    for (let n = 1; n < NR_ASIDS; n++, a++) {
      if (a >= NR_ASIDS) a = 1;
      if (this.asidUsed[a] === 0) {
        this.asidUsed[a] = 1;
        this.asidHint = a + 1;
        this.nrAsids++;
        return a;
      }
    }
    return -1;
  }

  /** Returns an ASID to the pool after dropping its entries. Panics on the kernel's ASID or one not in use. */
  freeAsid(asid: number): void {
    if (asid === KERNEL_ASID || this.asidUsed[asid] !== 1) panic(`tlb: freeing ASID ${asid} that is not in use`);
    this.flushAsid(asid);
    this.asidUsed[asid] = 0;
    this.nrAsids--;
  }
}
