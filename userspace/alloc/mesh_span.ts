/**
 * The span records of the Mesh allocator (mesh.ts): one 64-byte record per
 * page index of the arena, kept in a private mapping of the process. Index i
 * names two things at once: the virtual span at arena + i * 4096 (a "slot")
 * and page i of the shared object behind the arena (a "physical span",
 * Mesh's MiniHeap). Unmeshed, slot i maps page i; after meshing, several
 * slots map one physical span and the others' pages are punched out.
 *
 *   rec = meta + i * 64
 *   +0   phys        (u32) the physical span slot i maps; NONE when slot i is unused
 *   +4   next alias  (u32) the next slot mapping the same physical span
 *   +8   class + 1   (u32) of physical span i; 0 when page i holds no span
 *   +12  live        (u32) objects allocated in physical span i
 *   +16  alias head  (u32) the first slot mapping physical span i
 *   +20  next        (u32) in the class's list of partly full spans, or the free-index stack
 *   +24  prev        (u32) in the class's list
 *   +28  aliases     (u32) slots mapping physical span i
 *   +32  bitmap      8 x u32: bit k set = object k (at offset k * class size) is live
 *   +64
 *
 * Index i is free (on the stack) exactly when slot i is unused; then page i
 * holds no span either, since a span's own slot maps it until it empties.
 */
import type { UserMemory } from "../env.ts";

/** The size classes: at least four objects per span. */
export const MESH_CLASSES: readonly number[] = [
  16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896, 1024,
];
/** "No index". */
export const NONE = 0xffffffff;
/** Bytes per span record. */
export const REC_BYTES = 64;
/** Objects a span may hold at most (4096 / 16). */
export const MAX_OBJECTS = 256;
const BITMAP_WORDS = MAX_OBJECTS / 32;

const S_PHYS = 0;
const S_NEXT_ALIAS = 4;
const S_CLASS = 8;
const S_LIVE = 12;
const S_ALIAS_HEAD = 16;
const S_NEXT = 20;
const S_PREV = 24;
const S_ALIASES = 28;
const S_BITMAP = 32;

/** Named accessors of the span records at `meta`. */
export class SpanRecords {
  meta = 0;
  constructor(private readonly mem: UserMemory) {}

  private at(i: number, field: number): number {
    return this.meta + i * REC_BYTES + field;
  }
  phys(i: number): number {
    return this.mem.read32(this.at(i, S_PHYS));
  }
  setPhys(i: number, v: number): void {
    this.mem.write32(this.at(i, S_PHYS), v);
  }
  nextAlias(i: number): number {
    return this.mem.read32(this.at(i, S_NEXT_ALIAS));
  }
  setNextAlias(i: number, v: number): void {
    this.mem.write32(this.at(i, S_NEXT_ALIAS), v);
  }
  /** The size class of physical span i, or -1 when page i holds none. */
  cls(i: number): number {
    return this.mem.read32(this.at(i, S_CLASS)) - 1;
  }
  setCls(i: number, c: number): void {
    this.mem.write32(this.at(i, S_CLASS), c + 1);
  }
  live(i: number): number {
    return this.mem.read32(this.at(i, S_LIVE));
  }
  setLive(i: number, v: number): void {
    this.mem.write32(this.at(i, S_LIVE), v);
  }
  aliasHead(i: number): number {
    return this.mem.read32(this.at(i, S_ALIAS_HEAD));
  }
  setAliasHead(i: number, v: number): void {
    this.mem.write32(this.at(i, S_ALIAS_HEAD), v);
  }
  aliases(i: number): number {
    return this.mem.read32(this.at(i, S_ALIASES));
  }
  setAliases(i: number, v: number): void {
    this.mem.write32(this.at(i, S_ALIASES), v);
  }
  next(i: number): number {
    return this.mem.read32(this.at(i, S_NEXT));
  }
  setNext(i: number, v: number): void {
    this.mem.write32(this.at(i, S_NEXT), v);
  }
  prev(i: number): number {
    return this.mem.read32(this.at(i, S_PREV));
  }
  setPrev(i: number, v: number): void {
    this.mem.write32(this.at(i, S_PREV), v);
  }

  /** Word w (0..7) of span i's bitmap. */
  word(i: number, w: number): number {
    return this.mem.read32(this.at(i, S_BITMAP + w * 4));
  }
  setWord(i: number, w: number, v: number): void {
    this.mem.write32(this.at(i, S_BITMAP + w * 4), v >>> 0);
  }
  bit(i: number, k: number): boolean {
    return ((this.word(i, k >>> 5) >>> (k & 31)) & 1) !== 0;
  }
  flipBit(i: number, k: number): void {
    const w = k >>> 5;
    this.setWord(i, w, this.word(i, w) ^ (1 << (k & 31)));
  }

  /** Clears record i (a fresh span: no class, no objects, no aliases). */
  clear(i: number): void {
    this.mem.fill(this.meta + i * REC_BYTES, 0, REC_BYTES);
  }

  /** True when spans a and b have no live object at the same index (Mesh's meshability test). */
  disjoint(a: number, b: number): boolean {
    for (let w = 0; w < BITMAP_WORDS; w++) if ((this.word(a, w) & this.word(b, w)) !== 0) return false;
    return true;
  }

  /** Objects set in span i's bitmap, counted. */
  popcount(i: number): number {
    let n = 0;
    for (let w = 0; w < BITMAP_WORDS; w++) {
      let v = this.word(i, w);
      while (v !== 0) {
        v &= v - 1;
        n++;
      }
    }
    return n;
  }

  /** True when a bit at index `cap` or above is set (no object lies there). */
  beyond(i: number, cap: number): boolean {
    for (let k = cap; k < MAX_OBJECTS; k++) if (this.bit(i, k)) return true;
    return false;
  }

  /** The index of the r-th clear bit (r from 0) below `cap`, or -1. */
  nthFree(i: number, r: number, cap: number): number {
    for (let w = 0; w * 32 < cap; w++) {
      const v = this.word(i, w);
      for (let b = 0; b < 32 && w * 32 + b < cap; b++) {
        if (((v >>> b) & 1) === 0 && r-- === 0) return w * 32 + b;
      }
    }
    return -1;
  }
}

/** One step of xorshift32 (never 0 from a non-zero state). */
export function xorshift32(x: number): number {
  let s = x >>> 0;
  s ^= s << 13;
  s >>>= 0;
  s ^= s >>> 17;
  s ^= s << 5;
  return s >>> 0;
}
