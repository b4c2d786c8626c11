/**
 * A userspace binary buddy allocator (Knowlton; Knuth 2.5): blocks of 2^k
 * units (unit = 16 bytes, order k), split in halves on allocation and merged
 * with their buddy (offset XOR size) on free. It is headerless: the sized
 * free gives the order, and free blocks are known from per-order bitmaps, so
 * a 64-byte request uses a 64-byte block.
 *
 * The heap is a run of top blocks of order T (`topOrder`, default 16 =
 * 1 MiB) grown with brk. Each top block keeps its own bitmaps in its first
 * bytes, which stay allocated for good; requests of order >= T go to their
 * own mapping (large.ts).
 *
 *   heap:   [root][pad to a page][top 0][top 1] ... = break
 *
 *   top:    +0  bitmaps: order 0 (2^T bits), order 1 (2^(T-1) bits) ... order T (1 bit);
 *               bit i of order k set = a free block of order k starts at i << (k + 4)
 *           +2^(T-2) bytes (the metadata block, order T-6) ... blocks ...
 *
 *   free block:  +0 next free of its order (u64)   +8 prev (u64)
 *
 *   root + R_OWN + 0  base (u64)  first top block
 *                  8  tops (u32)  top blocks in the heap
 *                 16  head[0 .. T] (u64 each): free list per order
 */
import type { UserProcess } from "../env.ts";
import { type Allocator, type AllocatorStats, type HeapCensus, HeapCorruption, reallocByMove } from "./allocator.ts";
import { alignUp, HeapCore, hex, KIND_BUDDY, load64, PAGE_SIZE, R_OWN, store64 } from "./heap.ts";
import { largeAlloc, largeCheck, largeFree, largeRealloc } from "./large.ts";

const UNIT_SHIFT = 4;
const B_BASE = R_OWN;
const B_TOPS = R_OWN + 8;
const B_HEADS = R_OWN + 16;
const F_NEXT = 0;
const F_PREV = 8;

/** Options of {@link createBuddy}. */
export interface BuddyOptions {
  /** Order of a top block, in 16-byte units: 6..26 (default 16, 1 MiB). */
  topOrder?: number;
}

/** Bytes of an order-k block. */
function blockBytes(k: number): number {
  return 2 ** (k + UNIT_SHIFT);
}

/** The smallest order holding `n` bytes. */
export function orderFor(n: number): number {
  if (n <= 16) return 0;
  if (n <= 2 ** 31) return 32 - Math.clz32(n - 1) - UNIT_SHIFT;
  return Math.ceil(Math.log2(n)) - UNIT_SHIFT;
}

class BuddyAllocator implements Allocator {
  readonly name = "buddy";
  readonly proc: UserProcess;
  private readonly core: HeapCore;
  private readonly mem: UserProcess["mem"];
  private readonly T: number;
  private readonly topBytes: number;
  private readonly metaBytes: number;

  constructor(proc: UserProcess, opts: BuddyOptions) {
    this.T = opts.topOrder ?? 16;
    if (!Number.isInteger(this.T) || this.T < 6 || this.T > 26) throw new RangeError(`buddy: topOrder ${this.T} is not in 6..26`);
    this.proc = proc;
    this.core = new HeapCore(proc, "buddy", KIND_BUDDY, B_HEADS + (this.T + 1) * 8);
    this.mem = proc.mem;
    this.topBytes = blockBytes(this.T);
    this.metaBytes = 2 ** (this.T - 2);
  }

  // --- bitmaps and lists ---------------------------------------------------

  /** Bit index of the order-k block at offset `off` of its top block. */
  private bitIndex(k: number, off: number): number {
    return 2 ** (this.T + 1) - 2 ** (this.T - k + 1) + Math.floor(off / blockBytes(k));
  }

  private isFree(top: number, k: number, off: number): boolean {
    const i = this.bitIndex(k, off);
    return ((this.mem.read8(top + (i >>> 3)) >>> (i & 7)) & 1) === 1;
  }

  /** Sets the free bit of the order-k block at `off` to `bit` (1 free, 0 not). */
  private setFree(top: number, k: number, off: number, bit: 0 | 1): void {
    const i = this.bitIndex(k, off);
    const va = top + (i >>> 3);
    this.mem.write8(va, (this.mem.read8(va) & ~(1 << (i & 7))) | (bit << (i & 7)));
  }

  private head(k: number): number {
    return load64(this.mem, this.core.root + B_HEADS + k * 8);
  }

  /** Lists block top+off as free at order k. */
  private push(top: number, off: number, k: number): void {
    const b = top + off;
    const h = this.head(k);
    store64(this.mem, b + F_NEXT, h);
    store64(this.mem, b + F_PREV, 0);
    if (h !== 0) store64(this.mem, h + F_PREV, b);
    store64(this.mem, this.core.root + B_HEADS + k * 8, b);
    this.setFree(top, k, off, 1);
  }

  /** Takes free block top+off off the order-k list. */
  private unlink(top: number, off: number, k: number): void {
    const b = top + off;
    const next = load64(this.mem, b + F_NEXT);
    const prev = load64(this.mem, b + F_PREV);
    if (prev === 0) store64(this.mem, this.core.root + B_HEADS + k * 8, next);
    else store64(this.mem, prev + F_NEXT, next);
    if (next !== 0) store64(this.mem, next + F_PREV, prev);
    this.setFree(top, k, off, 0);
  }

  private base(): number {
    return load64(this.mem, this.core.root + B_BASE);
  }

  private tops(): number {
    return this.mem.read32(this.core.root + B_TOPS);
  }

  /** The top block holding `p`. */
  private topOf(p: number): number {
    const base = this.base();
    return base + Math.floor((p - base) / this.topBytes) * this.topBytes;
  }

  // --- growth --------------------------------------------------------------

  private init(): boolean {
    const c = this.core;
    if (!c.setup()) return false;
    store64(this.mem, c.root + B_BASE, alignUp(c.rootEnd(), PAGE_SIZE));
    return true;
  }

  /** Adds a top block: zeroed bitmaps, the metadata block allocated, the rest free. Returns false when brk fails. */
  private addTop(): boolean {
    const top = this.base() + this.tops() * this.topBytes;
    const brk = this.core.curbrk();
    if (this.core.sbrk(top + this.topBytes - brk) !== brk) return false;
    this.mem.fill(top, 0, this.metaBytes);
    for (let k = this.T - 6; k < this.T; k++) this.push(top, blockBytes(k), k);
    this.mem.write32(this.core.root + B_TOPS, this.tops() + 1);
    return true;
  }

  // --- malloc / free / realloc ---------------------------------------------

  malloc(size: number): number {
    if (this.core.root === 0 && !this.init()) return 0;
    const k = orderFor(size);
    const p = k >= this.T ? largeAlloc(this.core, size) : this.allocOrder(k);
    if (p !== 0) this.core.addLive(size);
    return p;
  }

  private allocOrder(k: number): number {
    let j = k;
    while (j < this.T && this.head(j) === 0) j++;
    if (j === this.T) {
      if (!this.addTop()) return 0;
      for (j = k; this.head(j) === 0; j++);
    }
    const b = this.head(j);
    const top = this.topOf(b);
    this.unlink(top, b - top, j);
    while (j > k) {
      j--;
      this.push(top, b - top + blockBytes(j), j);
    }
    return b;
  }

  /** Aborts the process unless `p` may be an allocated order-k block; returns its top block. */
  private validate(p: number, k: number): number {
    const c = this.core;
    const base = c.root === 0 ? 0 : this.base();
    if (c.root === 0 || p < base || p >= base + this.tops() * this.topBytes) this.proc.abort("buddy: free(): invalid pointer");
    const top = this.topOf(p);
    const off = p - top;
    if (off % blockBytes(k) !== 0 || off < this.metaBytes) this.proc.abort("buddy: free(): invalid pointer");
    if (this.isFree(top, k, off)) this.proc.abort("buddy: free(): double free detected");
    return top;
  }

  free(p: number, size: number): void {
    if (p === 0) return;
    let k = orderFor(size);
    if (k >= this.T) {
      if (this.core.root === 0) this.proc.abort("buddy: free(): invalid pointer");
      largeFree(this.core, p);
      this.core.addLive(-size);
      return;
    }
    const top = this.validate(p, k);
    this.core.addLive(-size);
    let off = p - top;
    while (k < this.T - 1) {
      const buddy = off ^ blockBytes(k);
      if (!this.isFree(top, k, buddy)) break;
      this.unlink(top, buddy, k);
      off = Math.min(off, buddy);
      k++;
    }
    this.push(top, off, k);
  }

  realloc(p: number, oldSize: number, newSize: number): number {
    if (p === 0) return this.malloc(newSize);
    const ko = orderFor(oldSize);
    const kn = orderFor(newSize);
    if (ko >= this.T && kn >= this.T) {
      const q = largeRealloc(this.core, p, oldSize, newSize);
      if (q !== 0) this.core.addLive(newSize - oldSize);
      return q;
    }
    if (ko < this.T && kn < this.T) {
      const top = this.validate(p, ko);
      if (kn <= ko) {
        for (let j = ko - 1; j >= kn; j--) this.push(top, p - top + blockBytes(j), j);
        this.core.addLive(newSize - oldSize);
        return p;
      }
      if (this.growInPlace(top, p - top, ko, kn)) {
        this.core.addLive(newSize - oldSize);
        return p;
      }
    }
    return reallocByMove(this, p, oldSize, newSize);
  }

  /** Grows block `off` from order ko to kn when it is the lower half at each level and every upper half is free. */
  private growInPlace(top: number, off: number, ko: number, kn: number): boolean {
    if (off % blockBytes(kn) !== 0) return false;
    for (let j = ko; j < kn; j++) if (!this.isFree(top, j, off + blockBytes(j))) return false;
    for (let j = ko; j < kn; j++) this.unlink(top, off + blockBytes(j), j);
    return true;
  }

  // --- checker -------------------------------------------------------------

  check(): void {
    const c = this.core;
    if (c.root === 0) return;
    const large = largeCheck(c);
    c.checkRoot(large.bytes);
    const base = this.base();
    const tops = this.tops();
    const end = tops === 0 ? c.rootEnd() : base + tops * this.topBytes;
    if (base !== alignUp(c.rootEnd(), PAGE_SIZE) || end !== c.curbrk())
      throw new HeapCorruption("BUDDY-1", `${tops} top blocks from ${hex(base)} do not end at the break`);
    const counts = new Array<number>(this.T + 1).fill(0);
    let freeBytes = 0;
    for (let t = 0; t < tops; t++) freeBytes += this.checkTop(base + t * this.topBytes, counts);
    for (let k = 0; k <= this.T; k++) this.checkList(k, counts[k] as number, base, end);
    c.checkLive(tops * (this.topBytes - this.metaBytes) - freeBytes + large.capacity);
  }

  /** Recounts one top block's bitmaps into `counts`; returns its free bytes. */
  private checkTop(top: number, counts: number[]): number {
    const bits = this.mem.read(top, this.metaBytes);
    const isSet = (k: number, off: number) => {
      const i = this.bitIndex(k, off);
      return ((bits[i >>> 3] as number) >>> (i & 7)) & 1;
    };
    let free = 0;
    for (let k = 0; k <= this.T; k++) {
      const size = blockBytes(k);
      const b0 = this.bitIndex(k, 0);
      const n = 2 ** (this.T - k);
      for (let i = 0; i < n; i++) {
        const bit = b0 + i;
        if ((bit & 7) === 0 && i + 8 <= n && bits[bit >>> 3] === 0) {
          i += 7; // a clear byte: eight blocks that are not free
          continue;
        }
        if (!(((bits[bit >>> 3] as number) >>> (bit & 7)) & 1)) continue;
        const off = i * size;
        if (k === this.T || off < this.metaBytes)
          throw new HeapCorruption("BUDDY-2", `free block ${hex(top + off)} of order ${k} overlaps the metadata`);
        if (isSet(k, off ^ size))
          throw new HeapCorruption(
            "BUDDY-3",
            `free buddies ${hex(top + off)} and ${hex(top + (off ^ size))} of order ${k} were not merged`,
          );
        for (let j = k + 1; j <= this.T; j++) {
          if (isSet(j, off - (off % blockBytes(j))))
            throw new HeapCorruption("BUDDY-4", `free block ${hex(top + off)} lies inside a free block of order ${j}`);
        }
        counts[k] = (counts[k] as number) + 1;
        free += size;
      }
    }
    return free;
  }

  private checkList(k: number, expected: number, base: number, end: number): void {
    let n = 0;
    let prev = 0;
    for (let b = this.head(k); b !== 0; b = load64(this.mem, b + F_NEXT)) {
      if (b < base || b >= end || (b - base) % blockBytes(k) !== 0)
        throw new HeapCorruption("BUDDY-5", `order-${k} list entry ${hex(b)} is not an order-${k} block`);
      const top = this.topOf(b);
      if (!this.isFree(top, k, b - top)) throw new HeapCorruption("BUDDY-5", `order-${k} list entry ${hex(b)} has no free bit`);
      if (load64(this.mem, b + F_PREV) !== prev) throw new HeapCorruption("BUDDY-6", `free block ${hex(b)} has a bad prev link`);
      if (++n > expected) break;
      prev = b;
    }
    if (n !== expected) throw new HeapCorruption("BUDDY-7", `order ${k}: ${expected} free bits, ${n} listed blocks`);
  }

  stats(): AllocatorStats {
    return this.core.stats();
  }

  /** Free: the blocks on the order lists; granted: the rest of the top blocks past their bitmaps, plus large mappings. */
  census(): HeapCensus {
    const c = this.core;
    const r = { grantedBytes: 0, freeBytes: 0, largestFreeBytes: 0 };
    if (c.root === 0) return r;
    for (let k = 0; k <= this.T; k++) {
      for (let b = this.head(k); b !== 0; b = load64(this.mem, b + F_NEXT)) r.freeBytes += blockBytes(k);
      if (this.head(k) !== 0) r.largestFreeBytes = blockBytes(k);
    }
    r.grantedBytes = this.tops() * (this.topBytes - this.metaBytes) - r.freeBytes + largeCheck(c).capacity;
    return r;
  }
}

/** A binary buddy allocator in `proc`'s brk heap. Throws RangeError naming a bad option. */
export function createBuddy(proc: UserProcess, opts: BuddyOptions = {}): Allocator {
  return new BuddyAllocator(proc, opts);
}
