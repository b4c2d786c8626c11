/**
 * Hoard (Berger et al., ASPLOS 2000): per-CPU heaps over a global heap.
 * Memory comes in superblocks of S bytes (`superblockBytes`, default
 * 64 KiB) mapped with mmap and aligned to S, so free() finds a block's
 * superblock by rounding its address down to S; each serves one size class
 * and belongs to one heap (hoard_heap.ts draws the layout). A thread on CPU
 * c allocates from heap 1 + c mod P (`sys.getcpu`; heap 1 without CPUs),
 * from the fullest superblock of the class that is not full; when the heap
 * has none it takes one from the global heap (heap 0: one of the class with
 * a free block, else an empty one) before it maps a new one. A free goes
 * back to the heap that owns the block's superblock. Each heap has a mutex
 * (`sys.mutexHold`), so threads on different CPUs contend only when they
 * meet on a heap or on the global heap.
 *
 * The emptiness invariant bounds blowup: with u_i the bytes in use in heap
 * i and a_i the block capacity of its superblocks, after a free leaves
 * u_i < (1 - f) a_i and u_i < a_i - K S, the heap moves superblocks that
 * are at least f empty (emptiest first) to the global heap until the
 * invariant holds again or none is that empty (`emptyFraction` f, default
 * 1/4; `slackSuperblocks` K, default 0). The global heap keeps `keepEmpty`
 * empty superblocks and unmaps the rest. `release: "never"` turns the
 * invariant off (private heaps that never give memory back, for comparison).
 *
 * Size classes: 16..128 by 16, then four per doubling up to S/4. Requests
 * above the largest class go to their own mapping.
 */
import type { UserProcess } from "../env.ts";
import { type Allocator, type AllocatorStats, type HeapCensus, reallocByMove } from "./allocator.ts";
import { alignUp, HeapCore, KIND_HOARD, load64, store64 } from "./heap.ts";
import { checkHoard, hoardCensus } from "./hoard_check.ts";
import {
  EMPTY,
  GLOBAL,
  HoardHeaps,
  hoardRootBytes,
  SB_BSIZE,
  SB_CAP,
  SB_CARVE,
  SB_CLASS,
  SB_FREE,
  SB_GROUP,
  SB_HDR,
  SB_HEAP,
  SB_MAGIC,
  SB_MAGIC_VALUE,
  SB_USED,
} from "./hoard_heap.ts";
import { largeAlloc, largeFree, largeRealloc } from "./large.ts";

/** Options of {@link createHoard}. */
export interface HoardOptions {
  /** Superblock size, a power of two from 8 KiB to 1 MiB (default 64 KiB). */
  superblockBytes?: number;
  /** Empty superblocks the global heap keeps for reuse before unmapping (default 1). */
  keepEmpty?: number;
  /** Per-CPU heaps P, 1..64 (default 16): CPU c uses heap 1 + c mod P. */
  heaps?: number;
  /** f of the emptiness invariant, in (0, 1) (default 0.25). */
  emptyFraction?: number;
  /** K of the emptiness invariant: superblocks of slack a heap may hold (default 0). */
  slackSuperblocks?: number;
  /** "invariant" (default) keeps the emptiness invariant; "never" lets heaps keep every superblock. */
  release?: "invariant" | "never";
}

/** What {@link Hoard.heapCounts} reports of one heap. */
export interface HoardHeapCounts {
  /** u_i: bytes in use (used blocks x block size). */
  usedBytes: number;
  /** a_i: block capacity of its superblocks, bytes. */
  capacityBytes: number;
  superblocks: number;
}

/** The Hoard allocator, with its per-heap counts for tests and benchmarks. */
export interface Hoard extends Allocator {
  /** Heap 0 (global) first, then the per-CPU heaps; empty before the first malloc. */
  heapCounts(): HoardHeapCounts[];
}

/** Block sizes of the classes for superblocks of `s` bytes. */
export function hoardClasses(s: number): number[] {
  const sizes: number[] = [];
  for (let b = 16; b <= 128; b += 16) sizes.push(b);
  for (let base = 128; base < s / 4; base *= 2) for (let i = 1; i <= 4; i++) sizes.push(base + (base / 4) * i);
  return sizes;
}

class HoardAllocator implements Hoard {
  readonly name = "hoard";
  readonly proc: UserProcess;
  private readonly core: HeapCore;
  private readonly mem: UserProcess["mem"];
  private readonly S: number;
  private readonly keepEmpty: number;
  private readonly sizes: number[];
  /** Class of a request, by (size + 15) >> 4. */
  private readonly classOf: Uint8Array;
  private readonly maxSmall: number;
  private readonly P: number;
  private readonly f: number;
  private readonly K: number;
  private readonly release: "invariant" | "never";
  private heaps: HoardHeaps | null = null;

  constructor(proc: UserProcess, opts: HoardOptions) {
    this.S = opts.superblockBytes ?? 64 << 10;
    if (this.S < 8192 || this.S > 1 << 20 || (this.S & (this.S - 1)) !== 0)
      throw new RangeError(`hoard: superblockBytes ${this.S} is not a power of two in 8 KiB..1 MiB`);
    this.keepEmpty = opts.keepEmpty ?? 1;
    if (!Number.isInteger(this.keepEmpty) || this.keepEmpty < 0) throw new RangeError(`hoard: keepEmpty ${this.keepEmpty} is not a count`);
    this.P = opts.heaps ?? 16;
    if (!Number.isInteger(this.P) || this.P < 1 || this.P > 64) throw new RangeError(`hoard: heaps ${this.P} is not in 1..64`);
    this.f = opts.emptyFraction ?? 0.25;
    if (!(this.f > 0 && this.f < 1)) throw new RangeError(`hoard: emptyFraction ${this.f} is not in (0, 1)`);
    this.K = opts.slackSuperblocks ?? 0;
    if (!Number.isInteger(this.K) || this.K < 0) throw new RangeError(`hoard: slackSuperblocks ${this.K} is not a count`);
    this.release = opts.release ?? "invariant";
    this.sizes = hoardClasses(this.S);
    this.maxSmall = this.sizes[this.sizes.length - 1] as number;
    this.classOf = new Uint8Array((this.maxSmall >> 4) + 1);
    for (let u = 0, c = 0; u < this.classOf.length; u++) {
      while ((this.sizes[c] as number) < u * 16) c++;
      this.classOf[u] = c;
    }
    this.proc = proc;
    this.mem = proc.mem;
    this.core = new HeapCore(proc, "hoard", KIND_HOARD, hoardRootBytes(this.P + 1, this.sizes.length));
  }

  private cls(size: number): number {
    return this.classOf[(Math.max(size, 1) + 15) >> 4] as number;
  }

  /** The heaps, set up (the root made) on first use; null when brk fails. */
  private ready(): HoardHeaps | null {
    if (this.heaps !== null) return this.heaps;
    if (!this.core.setup()) return null;
    this.heaps = new HoardHeaps(this.mem, this.core.root, this.P + 1, this.sizes.length);
    this.heaps.init();
    return this.heaps;
  }

  /** The running thread's heap: 1 + CPU mod P. */
  private myHeap(): number {
    const sys = this.proc.sys;
    return 1 + ((sys.getcpu === undefined ? 0 : sys.getcpu()) % this.P);
  }

  private lock(h: number): void {
    this.proc.sys.mutexHold?.((this.heaps as HoardHeaps).mutex(h));
  }

  /** An S-aligned mapping of S bytes: map 2S, unmap the misaligned ends. 0 when mmap fails. */
  private mapAligned(): number {
    const a = this.core.mmap(2 * this.S);
    if (a === 0) return 0;
    const sb = alignUp(a, this.S);
    if (sb > a) this.core.munmap(a, sb - a);
    if (a + this.S > sb) this.core.munmap(sb + this.S, a + this.S - sb);
    return sb;
  }

  /** Writes a fresh header for class c (no block in use). */
  private format(sb: number, c: number): void {
    const m = this.mem;
    const bsize = this.sizes[c] as number;
    m.write32(sb + SB_MAGIC, SB_MAGIC_VALUE);
    m.write32(sb + SB_CLASS, c);
    m.write32(sb + SB_BSIZE, bsize);
    m.write32(sb + SB_CAP, Math.floor((this.S - SB_HDR) / bsize));
    m.write32(sb + SB_USED, 0);
    store64(m, sb + SB_FREE, 0);
    store64(m, sb + SB_CARVE, sb + SB_HDR);
  }

  /**
   * A superblock of class c for heap h, under the global heap's lock: one of
   * the global heap's with a free block, else an empty one reformatted, else
   * a new mapping. 0 when mmap fails.
   */
  private fetch(hs: HoardHeaps, h: number, c: number): number {
    this.lock(GLOBAL);
    let sb = hs.fullestNonFull(GLOBAL, c);
    if (sb !== 0) hs.release(sb);
    else {
      sb = load64(this.mem, hs.head(GLOBAL, 0, EMPTY));
      if (sb !== 0) hs.release(sb);
      else {
        sb = this.mapAligned();
        if (sb === 0) return 0;
        hs.addTotal(1);
      }
      this.format(sb, c);
    }
    hs.adopt(sb, h);
    return sb;
  }

  malloc(size: number): number {
    const hs = this.ready();
    if (hs === null) return 0;
    if (size > this.maxSmall) {
      const p = largeAlloc(this.core, size);
      if (p !== 0) this.core.addLive(size);
      return p;
    }
    const h = this.myHeap();
    this.lock(h);
    const c = this.cls(size);
    let sb = hs.fullestNonFull(h, c);
    if (sb === 0) sb = this.fetch(hs, h, c);
    if (sb === 0) return 0;
    const m = this.mem;
    const bsize = m.read32(sb + SB_BSIZE);
    let p = load64(m, sb + SB_FREE);
    if (p !== 0) store64(m, sb + SB_FREE, load64(m, p));
    else {
      p = load64(m, sb + SB_CARVE);
      store64(m, sb + SB_CARVE, p + bsize);
    }
    m.write32(sb + SB_USED, m.read32(sb + SB_USED) + 1);
    hs.addUsed(h, bsize);
    this.regroup(hs, sb);
    hs.setLastFree(h, 0);
    this.core.addLive(size);
    return p;
  }

  /** Moves `sb` to the group its fullness calls for; past `keepEmpty` empty ones on the global heap, unmaps it. */
  private regroup(hs: HoardHeaps, sb: number): void {
    const m = this.mem;
    const h = m.read32(sb + SB_HEAP);
    const g = hs.groupOf(h, m.read32(sb + SB_USED), m.read32(sb + SB_CAP));
    if (g !== m.read32(sb + SB_GROUP)) {
      hs.unlink(sb);
      hs.link(sb, h, g);
    }
    if (g === EMPTY && hs.empties() > this.keepEmpty) {
      hs.release(sb);
      hs.addTotal(-1);
      m.write32(sb + SB_MAGIC, 0);
      this.core.munmap(sb, this.S);
    }
  }

  /** Aborts the process unless `p` is a handed-out block of class `c`; returns its superblock. */
  private validate(p: number, c: number): number {
    const m = this.mem;
    const sb = p - (p % this.S);
    if (this.core.root === 0 || p - sb < SB_HDR || m.read32(sb + SB_MAGIC) !== SB_MAGIC_VALUE)
      this.proc.abort("hoard: free(): invalid pointer");
    if (m.read32(sb + SB_CLASS) !== c) this.proc.abort("hoard: free(): size does not match the block's size class");
    if ((p - sb - SB_HDR) % m.read32(sb + SB_BSIZE) !== 0 || p >= load64(m, sb + SB_CARVE))
      this.proc.abort("hoard: free(): invalid pointer");
    return sb;
  }

  free(p: number, size: number): void {
    if (p === 0) return;
    if (size > this.maxSmall) {
      if (this.core.root === 0) this.proc.abort("hoard: free(): invalid pointer");
      largeFree(this.core, p);
      this.core.addLive(-size);
      return;
    }
    const sb = this.validate(p, this.cls(size));
    const hs = this.heaps as HoardHeaps;
    const m = this.mem;
    const h = m.read32(sb + SB_HEAP);
    this.lock(h);
    this.core.addLive(-size);
    store64(m, p, load64(m, sb + SB_FREE));
    store64(m, sb + SB_FREE, p);
    m.write32(sb + SB_USED, m.read32(sb + SB_USED) - 1);
    hs.addUsed(h, -m.read32(sb + SB_BSIZE));
    this.regroup(hs, sb);
    if (h === GLOBAL) return;
    hs.setLastFree(h, 1);
    if (this.release === "invariant") this.restoreInvariant(hs, h);
  }

  /** True when heap h breaks the emptiness invariant: u < (1 - f) a and u < a - K S. */
  private violates(hs: HoardHeaps, h: number): boolean {
    const u = hs.used(h);
    const a = hs.capacity(h);
    return u < (1 - this.f) * a && u < a - this.K * this.S;
  }

  /** Moves superblocks at least f empty from heap h to the global heap until the invariant holds or none is left. */
  private restoreInvariant(hs: HoardHeaps, h: number): void {
    while (this.violates(hs, h)) {
      const sb = hs.emptyEnough(h, 1 - this.f);
      if (sb === 0) return;
      this.lock(GLOBAL);
      hs.release(sb);
      hs.adopt(sb, GLOBAL);
      this.regroup(hs, sb);
    }
  }

  realloc(p: number, oldSize: number, newSize: number): number {
    if (p === 0) return this.malloc(newSize);
    const oldBig = oldSize > this.maxSmall;
    const newBig = newSize > this.maxSmall;
    if (oldBig && newBig) {
      const q = largeRealloc(this.core, p, oldSize, newSize);
      if (q !== 0) this.core.addLive(newSize - oldSize);
      return q;
    }
    if (!oldBig && !newBig && this.cls(oldSize) === this.cls(newSize)) {
      this.validate(p, this.cls(oldSize));
      this.core.addLive(newSize - oldSize);
      return p;
    }
    return reallocByMove(this, p, oldSize, newSize);
  }

  check(): void {
    if (this.heaps === null) return;
    checkHoard(this.core, this.heaps, {
      S: this.S,
      sizes: this.sizes,
      f: this.f,
      K: this.K,
      release: this.release,
      keepEmpty: this.keepEmpty,
    });
  }

  stats(): AllocatorStats {
    return this.core.stats();
  }

  census(): HeapCensus {
    if (this.heaps === null) return { grantedBytes: 0, freeBytes: 0, largestFreeBytes: 0 };
    return hoardCensus(this.core, this.heaps, this.sizes, this.S);
  }

  heapCounts(): HoardHeapCounts[] {
    const hs = this.heaps;
    if (hs === null) return [];
    return Array.from({ length: hs.nHeaps }, (_, h) => ({
      usedBytes: hs.used(h),
      capacityBytes: hs.capacity(h),
      superblocks: hs.count(h),
    }));
  }
}

/** Hoard in `proc`'s memory. Throws RangeError naming a bad option. */
export function createHoard(proc: UserProcess, opts: HoardOptions = {}): Hoard {
  return new HoardAllocator(proc, opts);
}
