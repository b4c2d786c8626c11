/**
 * A Hoard-style superblock allocator (Berger et al., ASPLOS 2000), single
 * heap: memory comes in superblocks of S bytes (`superblockBytes`, default
 * 64 KiB) mapped with mmap and aligned to S, so free() finds a block's
 * superblock by rounding its address down to S. Each superblock serves one
 * size class. A class keeps its superblocks in fullness groups; malloc takes
 * from the fullest non-full superblock, which packs live blocks together and
 * lets the emptiest drain. An empty superblock goes to the empty list (Hoard's
 * global heap), reusable by any class; beyond `keepEmpty` of them it is
 * unmapped. Requests above the largest class go to their own mapping.
 *
 *   superblock (S-aligned)
 *   sb + 0  +---------------+---------------+
 *           | magic (u32)   | class (u32)   |
 *        8  | block size    | capacity      |   u32, u32
 *       16  | used          | group         |   u32, u32 (group: 0..G-1, FULL, EMPTY)
 *       24  | free list (u64): freed blocks, next pointer in each block's first word
 *       32  | carve (u64): first never-used block (blocks are handed out lazily)
 *       40  | next (u64)    | 48  prev (u64)   in its group's list
 *       64  +-------------------------------+
 *           | block 0 | block 1 | ... | block capacity-1 |
 *
 *   root + R_OWN + 0  superblocks (u32)   +4 empty superblocks (u32)
 *                  8  empty list (u64)
 *                 16  head[class][group 0 .. FULL] (u64 each)
 *
 * Size classes: 16..128 by 16, then four per doubling up to S/4.
 */
import type { UserProcess } from "../env.ts";
import { type Allocator, type AllocatorStats, type HeapCensus, HeapCorruption, reallocByMove } from "./allocator.ts";
import { alignUp, HeapCore, hex, KIND_HOARD, load64, R_OWN, store64 } from "./heap.ts";
import { largeAlloc, largeCheck, largeFree, largeRealloc } from "./large.ts";

const SB_MAGIC_VALUE = 0x4b4c4253; // "SBLK"
const SB_MAGIC = 0;
const SB_CLASS = 4;
const SB_BSIZE = 8;
const SB_CAP = 12;
const SB_USED = 16;
const SB_GROUP = 20;
const SB_FREE = 24;
const SB_CARVE = 32;
const SB_NEXT = 40;
const SB_PREV = 48;
const SB_HDR = 64;

/** Fullness groups: 0..G-1 by used/capacity, then FULL, then EMPTY. */
const G = 4;
const FULL = G;
const EMPTY = G + 1;

const H_NSB = R_OWN;
const H_NEMPTY = R_OWN + 4;
const H_EMPTY = R_OWN + 8;
const H_HEADS = R_OWN + 16;

/** Options of {@link createHoard}. */
export interface HoardOptions {
  /** Superblock size, a power of two from 8 KiB to 1 MiB (default 64 KiB). */
  superblockBytes?: number;
  /** Empty superblocks kept for reuse before unmapping (default 1). */
  keepEmpty?: number;
}

/** Block sizes of the classes for superblocks of `s` bytes. */
export function hoardClasses(s: number): number[] {
  const sizes: number[] = [];
  for (let b = 16; b <= 128; b += 16) sizes.push(b);
  for (let base = 128; base < s / 4; base *= 2) for (let i = 1; i <= 4; i++) sizes.push(base + (base / 4) * i);
  return sizes;
}

class HoardAllocator implements Allocator {
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

  constructor(proc: UserProcess, opts: HoardOptions) {
    this.S = opts.superblockBytes ?? 64 << 10;
    if (this.S < 8192 || this.S > 1 << 20 || (this.S & (this.S - 1)) !== 0)
      throw new RangeError(`hoard: superblockBytes ${this.S} is not a power of two in 8 KiB..1 MiB`);
    this.keepEmpty = opts.keepEmpty ?? 1;
    if (!Number.isInteger(this.keepEmpty) || this.keepEmpty < 0) throw new RangeError(`hoard: keepEmpty ${this.keepEmpty} is not a count`);
    this.sizes = hoardClasses(this.S);
    this.maxSmall = this.sizes[this.sizes.length - 1] as number;
    this.classOf = new Uint8Array((this.maxSmall >> 4) + 1);
    for (let u = 0, c = 0; u < this.classOf.length; u++) {
      while ((this.sizes[c] as number) < u * 16) c++;
      this.classOf[u] = c;
    }
    this.proc = proc;
    this.mem = proc.mem;
    this.core = new HeapCore(proc, "hoard", KIND_HOARD, H_HEADS + this.sizes.length * (FULL + 1) * 8);
  }

  private cls(size: number): number {
    return this.classOf[(Math.max(size, 1) + 15) >> 4] as number;
  }

  /** The address of the list head for class c, group g (EMPTY: the empty list). */
  private headAddr(c: number, g: number): number {
    return g === EMPTY ? this.core.root + H_EMPTY : this.core.root + H_HEADS + (c * (FULL + 1) + g) * 8;
  }

  private groupOf(used: number, cap: number): number {
    if (used === 0) return EMPTY;
    return used === cap ? FULL : Math.floor((used * G) / cap);
  }

  private link(sb: number, g: number): void {
    const m = this.mem;
    const h = this.headAddr(m.read32(sb + SB_CLASS), g);
    const first = load64(m, h);
    store64(m, sb + SB_NEXT, first);
    store64(m, sb + SB_PREV, 0);
    if (first !== 0) store64(m, first + SB_PREV, sb);
    store64(m, h, sb);
    m.write32(sb + SB_GROUP, g);
  }

  private unlink(sb: number): void {
    const m = this.mem;
    const next = load64(m, sb + SB_NEXT);
    const prev = load64(m, sb + SB_PREV);
    if (prev === 0) store64(m, this.headAddr(m.read32(sb + SB_CLASS), m.read32(sb + SB_GROUP)), next);
    else store64(m, prev + SB_NEXT, next);
    if (next !== 0) store64(m, next + SB_PREV, prev);
  }

  /** Moves `sb` to the group its fullness calls for; an empty one goes to the empty list or back to the kernel. */
  private regroup(sb: number): void {
    const m = this.mem;
    const g = this.groupOf(m.read32(sb + SB_USED), m.read32(sb + SB_CAP));
    if (g === m.read32(sb + SB_GROUP)) return;
    this.unlink(sb);
    if (g !== EMPTY) {
      this.link(sb, g);
      return;
    }
    const root = this.core.root;
    if (m.read32(root + H_NEMPTY) >= this.keepEmpty) {
      m.write32(sb + SB_MAGIC, 0);
      m.write32(root + H_NSB, m.read32(root + H_NSB) - 1);
      this.core.munmap(sb, this.S);
      return;
    }
    m.write32(root + H_NEMPTY, m.read32(root + H_NEMPTY) + 1);
    this.link(sb, EMPTY);
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

  /** A superblock for class c in group 0: an empty one reused, or a new mapping. 0 when mmap fails. */
  private newSuperblock(c: number): number {
    const m = this.mem;
    const root = this.core.root;
    let sb = load64(m, root + H_EMPTY);
    if (sb !== 0) {
      this.unlink(sb);
      m.write32(root + H_NEMPTY, m.read32(root + H_NEMPTY) - 1);
    } else {
      sb = this.mapAligned();
      if (sb === 0) return 0;
      m.write32(root + H_NSB, m.read32(root + H_NSB) + 1);
    }
    const bsize = this.sizes[c] as number;
    m.write32(sb + SB_MAGIC, SB_MAGIC_VALUE);
    m.write32(sb + SB_CLASS, c);
    m.write32(sb + SB_BSIZE, bsize);
    m.write32(sb + SB_CAP, Math.floor((this.S - SB_HDR) / bsize));
    m.write32(sb + SB_USED, 0);
    store64(m, sb + SB_FREE, 0);
    store64(m, sb + SB_CARVE, sb + SB_HDR);
    this.link(sb, 0);
    return sb;
  }

  malloc(size: number): number {
    if (this.core.root === 0 && !this.core.setup()) return 0;
    if (size > this.maxSmall) {
      const p = largeAlloc(this.core, size);
      if (p !== 0) this.core.addLive(size);
      return p;
    }
    const c = this.cls(size);
    let sb = 0;
    for (let g = G - 1; g >= 0 && sb === 0; g--) sb = load64(this.mem, this.headAddr(c, g));
    if (sb === 0) sb = this.newSuperblock(c);
    if (sb === 0) return 0;
    const m = this.mem;
    let p = load64(m, sb + SB_FREE);
    if (p !== 0) store64(m, sb + SB_FREE, load64(m, p));
    else {
      p = load64(m, sb + SB_CARVE);
      store64(m, sb + SB_CARVE, p + m.read32(sb + SB_BSIZE));
    }
    m.write32(sb + SB_USED, m.read32(sb + SB_USED) + 1);
    this.regroup(sb);
    this.core.addLive(size);
    return p;
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
    const m = this.mem;
    this.core.addLive(-size);
    store64(m, p, load64(m, sb + SB_FREE));
    store64(m, sb + SB_FREE, p);
    m.write32(sb + SB_USED, m.read32(sb + SB_USED) - 1);
    this.regroup(sb);
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
    const c = this.core;
    if (c.root === 0) return;
    const m = this.mem;
    const large = largeCheck(c);
    const nsb = m.read32(c.root + H_NSB);
    c.checkRoot(large.bytes + nsb * this.S);
    let seen = 0;
    let capacity = large.capacity;
    for (let k = 0; k < this.sizes.length; k++) {
      for (let g = 0; g <= FULL; g++) {
        const r = this.checkGroup(k, g, nsb - seen);
        seen += r.count;
        capacity += r.capacity;
      }
    }
    const empties = this.checkGroup(-1, EMPTY, nsb - seen).count;
    if (empties !== m.read32(c.root + H_NEMPTY))
      throw new HeapCorruption("HOARD-9", `${empties} empty superblocks listed, the root counts ${m.read32(c.root + H_NEMPTY)}`);
    if (seen + empties !== nsb) throw new HeapCorruption("HOARD-9", `${seen + empties} superblocks on the lists, the root counts ${nsb}`);
    c.checkLive(capacity);
  }

  /** Walks one group list (class -1: the empty list); returns superblocks seen and their used bytes. */
  private checkGroup(k: number, g: number, budget: number): { count: number; capacity: number } {
    const m = this.mem;
    let count = 0;
    let capacity = 0;
    let prev = 0;
    for (let sb = load64(m, this.headAddr(k, g)); sb !== 0; sb = load64(m, sb + SB_NEXT)) {
      if (++count > budget) throw new HeapCorruption("HOARD-8", "a superblock list loops or holds more superblocks than exist");
      if (sb % this.S !== 0 || m.read32(sb + SB_MAGIC) !== SB_MAGIC_VALUE)
        throw new HeapCorruption("HOARD-1", `${hex(sb)} on a list is not an aligned superblock`);
      if (load64(m, sb + SB_PREV) !== prev) throw new HeapCorruption("HOARD-8", `superblock ${hex(sb)} has a bad prev link`);
      const cls = m.read32(sb + SB_CLASS);
      const bsize = m.read32(sb + SB_BSIZE);
      const cap = m.read32(sb + SB_CAP);
      if ((k >= 0 && cls !== k) || this.sizes[cls] !== bsize || cap !== Math.floor((this.S - SB_HDR) / bsize)) {
        throw new HeapCorruption("HOARD-3", `superblock ${hex(sb)} (class ${cls}, ${bsize} B x ${cap}) is on the list of class ${k}`);
      }
      const used = this.recountUsed(sb, bsize, cap);
      if (used !== m.read32(sb + SB_USED))
        throw new HeapCorruption("HOARD-6", `superblock ${hex(sb)} counts ${m.read32(sb + SB_USED)} used blocks, recount says ${used}`);
      if (this.groupOf(used, cap) !== g || m.read32(sb + SB_GROUP) !== g)
        throw new HeapCorruption("HOARD-7", `superblock ${hex(sb)} with ${used}/${cap} used is in group ${g}`);
      capacity += used * bsize;
      prev = sb;
    }
    return { count, capacity };
  }

  /** Carved blocks minus the free list, walking the list with a visited map. */
  private recountUsed(sb: number, bsize: number, cap: number): number {
    const m = this.mem;
    const carve = load64(m, sb + SB_CARVE);
    const carved = (carve - sb - SB_HDR) / bsize;
    if (!Number.isInteger(carved) || carved < 0 || carved > cap)
      throw new HeapCorruption("HOARD-4", `superblock ${hex(sb)} has a bad carve pointer ${hex(carve)}`);
    const seen = new Uint8Array(carved);
    let free = 0;
    for (let p = load64(m, sb + SB_FREE); p !== 0; p = load64(m, p)) {
      const i = (p - sb - SB_HDR) / bsize;
      if (!Number.isInteger(i) || i < 0 || i >= carved)
        throw new HeapCorruption("HOARD-4", `free entry ${hex(p)} is not a carved block of ${hex(sb)}`);
      if (seen[i]) throw new HeapCorruption("HOARD-5", `block ${hex(p)} is on its superblock's free list twice`);
      seen[i] = 1;
      free++;
    }
    return carved - free;
  }

  stats(): AllocatorStats {
    return this.core.stats();
  }

  /**
   * Granted: used blocks times their class size, plus large mappings; free:
   * the unused blocks of each superblock and the empty superblocks past
   * their header. The largest free block is the largest class with a free
   * slot (any class when a superblock is empty).
   */
  census(): HeapCensus {
    const c = this.core;
    if (c.root === 0) return { grantedBytes: 0, freeBytes: 0, largestFreeBytes: 0 };
    const r = { grantedBytes: largeCheck(c).capacity, freeBytes: 0, largestFreeBytes: 0 };
    const m = this.mem;
    for (let k = 0; k < this.sizes.length; k++) {
      for (let g = 0; g <= FULL; g++) {
        for (let sb = load64(m, this.headAddr(k, g)); sb !== 0; sb = load64(m, sb + SB_NEXT)) {
          const bsize = m.read32(sb + SB_BSIZE);
          const used = m.read32(sb + SB_USED);
          r.grantedBytes += used * bsize;
          r.freeBytes += (m.read32(sb + SB_CAP) - used) * bsize;
          if (used < m.read32(sb + SB_CAP) && bsize > r.largestFreeBytes) r.largestFreeBytes = bsize;
        }
      }
    }
    for (let sb = load64(m, this.headAddr(-1, EMPTY)); sb !== 0; sb = load64(m, sb + SB_NEXT)) {
      r.freeBytes += this.S - SB_HDR;
      r.largestFreeBytes = this.maxSmall;
    }
    return r;
  }
}

/** A Hoard-style superblock allocator in `proc`'s memory. Throws RangeError naming a bad option. */
export function createHoard(proc: UserProcess, opts: HoardOptions = {}): Allocator {
  return new HoardAllocator(proc, opts);
}
