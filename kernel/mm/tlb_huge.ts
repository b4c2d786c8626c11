/**
 * The 2 MiB part of the TLB: a small fully associative array of 2 MiB
 * translations beside the 4 KiB sets (x86 keeps 2 MiB entries in their own
 * arrays too). The MMU (mmu.ts) fills it when a walk of a user page table
 * ends at a 2 MiB leaf, and looks in it only when the 4 KiB sets miss; a hit
 * here copies the 4 KiB piece into the sets and counts as a TLB hit, so
 * touching every page of a huge mapping costs one walk per 2 MiB instead of
 * one per 4 KiB. The kernel's direct map keeps its 4 KiB pieces (its counts
 * stay what they were).
 *
 * Entry j:
 *   keys[j]  Float64  2 MiB-aligned va + asid; NaN = invalid
 *   base[j]  Uint32   physical address of the first frame of the 2 MiB
 *   perm[j]  Uint8    TLB_* permission bits (tlb.ts), as the 4 KiB entries
 *
 * Every flush of the 4 KiB part (tlb.ts) also drops the entries here whose
 * 2 MiB overlaps the flushed range, so a split or unmapped huge page is never
 * reached through a stale entry.
 */

/** 2 MiB. */
export const HUGE_TLB_SPAN = 0x200000;
/** Entries of the 2 MiB array (x86's first-level 2 MiB DTLB holds 32). */
export const HUGE_TLB_ENTRIES = 32;

/** Counters of the 2 MiB array (vmstat tlb_huge_*). */
export class HugeTlbStats {
  /** 4 KiB misses the 2 MiB array answered without a walk. */
  hits = 0;
  /** 2 MiB translations cached after a walk. */
  fills = 0;
}

/** The 2 MiB array. */
export class HugeTlb {
  readonly keys = new Float64Array(HUGE_TLB_ENTRIES).fill(Number.NaN);
  readonly base = new Uint32Array(HUGE_TLB_ENTRIES);
  readonly perm = new Uint8Array(HUGE_TLB_ENTRIES);
  readonly stats = new HugeTlbStats();
  private victim = 0;
  /** Valid entries now: a 4 KiB miss with none (no THP mapped lately) skips the scan of the 32 keys. */
  private live = 0;

  /** The entry for the 2 MiB holding `pageVa` in `asid` that allows access `acc`, or -1. */
  lookup(pageVa: number, asid: number, acc: number): number {
    if (this.live === 0) return -1;
    const key = pageVa - (pageVa & 0x1fffff) + asid;
    const keys = this.keys;
    for (let j = 0; j < HUGE_TLB_ENTRIES; j++) {
      if (keys[j] === key) return ((this.perm[j] as number) & acc) === acc ? j : -1;
    }
    return -1;
  }

  /** Caches the 2 MiB at `hugeVa` (aligned) of `asid`, replacing its old entry or the next victim. */
  insert(hugeVa: number, asid: number, basePa: number, perm: number): void {
    const key = hugeVa + asid;
    let j = this.keys.indexOf(key);
    if (j < 0) {
      j = this.victim;
      this.victim = (j + 1) % HUGE_TLB_ENTRIES;
      if (Number.isNaN(this.keys[j] as number)) this.live++;
    }
    this.keys[j] = key;
    this.base[j] = basePa;
    this.perm[j] = perm;
    this.stats.fills++;
  }

  /** Drops the entries of `asid` whose 2 MiB overlaps [start, end); every entry's when `asid` is -1. Returns how many. */
  dropRange(start: number, end: number, asid: number): number {
    if (this.live === 0) return 0;
    let n = 0;
    const keys = this.keys;
    for (let j = 0; j < HUGE_TLB_ENTRIES; j++) {
      const k = keys[j] as number;
      if (Number.isNaN(k)) continue;
      const a = k % 4096;
      const va = k - a;
      if ((asid < 0 || a === asid) && va < end && va + HUGE_TLB_SPAN > start) {
        keys[j] = Number.NaN;
        n++;
      }
    }
    this.live -= n;
    return n;
  }

  /** Drops every entry of `asid`; every entry when `asid` is -1. Returns how many. */
  dropAsid(asid: number): number {
    return this.dropRange(0, Number.POSITIVE_INFINITY, asid);
  }

  /** Valid entries now. */
  nrValid(): number {
    return this.live;
  }
}
