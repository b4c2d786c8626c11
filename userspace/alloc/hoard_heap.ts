/**
 * Hoard's heaps in the process's memory (hoard.ts is the policy, this file
 * the layout and the list operations): heap 0 is the global heap, heaps
 * 1..P serve the CPUs (CPU c uses heap 1 + c mod P). Every heap owns
 * superblocks of S bytes, S-aligned, each serving one size class, kept per
 * class in fullness groups; the global heap also keeps a list of empty
 * superblocks, which any class may take.
 *
 *   superblock (S-aligned)
 *   sb + 0  +---------------+---------------+
 *           | magic (u32)   | class (u32)   |
 *        8  | block size    | capacity      |   u32, u32
 *       16  | used          | group         |   u32, u32 (group: 0..G-1, FULL, EMPTY)
 *       24  | free list (u64): freed blocks, next pointer in each block's first word
 *       32  | carve (u64): first never-used block (blocks are handed out lazily)
 *       40  | next (u64)    | 48  prev (u64)   in its group's list
 *       56  | heap (u32): the owner heap | 60 spare
 *       64  +-------------------------------+
 *           | block 0 | block 1 | ... | block capacity-1 |
 *
 *   root + R_OWN + 0   heaps (u32, P + 1)     +4 empty superblocks (u32)
 *                  8   empty list (u64)
 *                 16   superblocks (u32, all heaps)
 *                 24   heap record 0 (global), then 1..P, each:
 *                      +0 mutex (u64: its address is the heap's lock)
 *                      +8 u: bytes in use (u64: used blocks x block size)
 *                     +16 a: bytes of block capacity (u64: capacity x block size, summed)
 *                     +24 superblocks owned (u32)   +28 last op was a free (u32)
 *                     +32 head[class][group 0 .. FULL] (u64 each)
 *
 * A per-CPU heap keeps an empty superblock in group 0 until the emptiness
 * invariant sends it to the global heap, where an empty one goes on the
 * empty list.
 */
import type { UserMemory } from "../env.ts";
import { load64, R_OWN, store64 } from "./heap.ts";

export const SB_MAGIC_VALUE = 0x4b4c4253; // "SBLK"
export const SB_MAGIC = 0;
export const SB_CLASS = 4;
export const SB_BSIZE = 8;
export const SB_CAP = 12;
export const SB_USED = 16;
export const SB_GROUP = 20;
export const SB_FREE = 24;
export const SB_CARVE = 32;
export const SB_NEXT = 40;
export const SB_PREV = 48;
export const SB_HEAP = 56;
export const SB_HDR = 64;

/** Fullness groups: 0..G-1 by used/capacity, then FULL, then EMPTY (the global heap's empty list). */
export const G = 4;
export const FULL = G;
export const EMPTY = G + 1;

const H_NHEAPS = R_OWN;
const H_NEMPTY = R_OWN + 4;
const H_EMPTY = R_OWN + 8;
const H_NSB = R_OWN + 16;
const H_RECS = R_OWN + 24;
const HR_MUTEX = 0;
const HR_USED = 8;
const HR_CAPACITY = 16;
const HR_COUNT = 24;
const HR_LASTFREE = 28;
const HR_HEADS = 32;

/** The global heap's index. */
export const GLOBAL = 0;

/** Root bytes for `heaps` heaps (global included) of `classes` classes. */
export function hoardRootBytes(heaps: number, classes: number): number {
  return H_RECS + heaps * (HR_HEADS + classes * (FULL + 1) * 8);
}

/** The heaps of one Hoard instance, read and written through the process's memory. */
export class HoardHeaps {
  private readonly recBytes: number;

  constructor(
    /** The process's memory the heaps live in. */
    readonly memory: UserMemory,
    private readonly root: number,
    readonly nHeaps: number,
    private readonly classes: number,
  ) {
    this.recBytes = HR_HEADS + classes * (FULL + 1) * 8;
  }

  /** Writes the heap count into a fresh (zeroed) root. */
  init(): void {
    this.memory.write32(this.root + H_NHEAPS, this.nHeaps);
  }

  rec(h: number): number {
    return this.root + H_RECS + h * this.recBytes;
  }

  /** The address of heap h's mutex word (sys.mutexHold takes it). */
  mutex(h: number): number {
    return this.rec(h) + HR_MUTEX;
  }

  /** The list head for class c, group g of heap h (EMPTY: the global empty list). */
  head(h: number, c: number, g: number): number {
    return g === EMPTY ? this.root + H_EMPTY : this.rec(h) + HR_HEADS + (c * (FULL + 1) + g) * 8;
  }

  /** u_h: bytes in use in heap h's superblocks. */
  used(h: number): number {
    return load64(this.memory, this.rec(h) + HR_USED);
  }

  addUsed(h: number, d: number): void {
    store64(this.memory, this.rec(h) + HR_USED, this.used(h) + d);
  }

  /** Superblocks heap h owns. */
  count(h: number): number {
    return this.memory.read32(this.rec(h) + HR_COUNT);
  }

  /** a_h: the block capacity of heap h's superblocks, in bytes (S less the header and the tail no block fits). */
  capacity(h: number): number {
    return load64(this.memory, this.rec(h) + HR_CAPACITY);
  }

  private addCount(h: number, d: number, capacityBytes: number): void {
    this.memory.write32(this.rec(h) + HR_COUNT, this.count(h) + d);
    store64(this.memory, this.rec(h) + HR_CAPACITY, this.capacity(h) + d * capacityBytes);
  }

  /** 1 when heap h's last operation was a free (the invariant must hold then). */
  lastFree(h: number): number {
    return this.memory.read32(this.rec(h) + HR_LASTFREE);
  }

  setLastFree(h: number, v: number): void {
    this.memory.write32(this.rec(h) + HR_LASTFREE, v);
  }

  /** Superblocks of every heap. */
  total(): number {
    return this.memory.read32(this.root + H_NSB);
  }

  addTotal(d: number): void {
    this.memory.write32(this.root + H_NSB, this.total() + d);
  }

  /** Empty superblocks on the global heap's empty list. */
  empties(): number {
    return this.memory.read32(this.root + H_NEMPTY);
  }

  /** The group a superblock of heap h with `used` of `cap` blocks belongs in. */
  groupOf(h: number, used: number, cap: number): number {
    if (used === 0) return h === GLOBAL ? EMPTY : 0;
    return used === cap ? FULL : Math.floor((used * G) / cap);
  }

  /** Puts `sb` at the head of heap h's list for its class and group g. */
  link(sb: number, h: number, g: number): void {
    const m = this.memory;
    const hd = this.head(h, m.read32(sb + SB_CLASS), g);
    const first = load64(m, hd);
    store64(m, sb + SB_NEXT, first);
    store64(m, sb + SB_PREV, 0);
    if (first !== 0) store64(m, first + SB_PREV, sb);
    store64(m, hd, sb);
    m.write32(sb + SB_GROUP, g);
    m.write32(sb + SB_HEAP, h);
    if (g === EMPTY) m.write32(this.root + H_NEMPTY, this.empties() + 1);
  }

  /** Takes `sb` off its list. */
  unlink(sb: number): void {
    const m = this.memory;
    const next = load64(m, sb + SB_NEXT);
    const prev = load64(m, sb + SB_PREV);
    const g = m.read32(sb + SB_GROUP);
    if (prev === 0) store64(m, this.head(m.read32(sb + SB_HEAP), m.read32(sb + SB_CLASS), g), next);
    else store64(m, prev + SB_NEXT, next);
    if (next !== 0) store64(m, next + SB_PREV, prev);
    if (g === EMPTY) m.write32(this.root + H_NEMPTY, this.empties() - 1);
  }

  /** Gives `sb` (on no list) to heap h: its used bytes and its S count there; linked in the group its fullness calls for. */
  adopt(sb: number, h: number): void {
    const m = this.memory;
    this.addUsed(h, m.read32(sb + SB_USED) * m.read32(sb + SB_BSIZE));
    this.addCount(h, 1, m.read32(sb + SB_CAP) * m.read32(sb + SB_BSIZE));
    this.link(sb, h, this.groupOf(h, m.read32(sb + SB_USED), m.read32(sb + SB_CAP)));
  }

  /** Takes `sb` off its list and out of its heap's counts. */
  release(sb: number): void {
    const m = this.memory;
    const h = m.read32(sb + SB_HEAP);
    this.unlink(sb);
    this.addUsed(h, -m.read32(sb + SB_USED) * m.read32(sb + SB_BSIZE));
    this.addCount(h, -1, m.read32(sb + SB_CAP) * m.read32(sb + SB_BSIZE));
  }

  /** The fullest superblock of heap h for class c that has a free block, or 0. */
  fullestNonFull(h: number, c: number): number {
    for (let g = G - 1; g >= 0; g--) {
      const sb = load64(this.memory, this.head(h, c, g));
      if (sb !== 0) return sb;
    }
    return 0;
  }

  /**
   * A superblock of heap h with at most `maxUsedFraction` of its blocks in
   * use (at least f empty), the emptiest groups searched first; 0 when none.
   */
  emptyEnough(h: number, maxUsedFraction: number): number {
    const m = this.memory;
    for (let g = 0; g < G; g++) {
      for (let c = 0; c < this.classes; c++) {
        for (let sb = load64(m, this.head(h, c, g)); sb !== 0; sb = load64(m, sb + SB_NEXT)) {
          if (m.read32(sb + SB_USED) <= maxUsedFraction * m.read32(sb + SB_CAP)) return sb;
        }
      }
    }
    return 0;
  }
}
