/**
 * Segregated fit (CS:APP 9.9.14): boundary-tagged blocks (boundary_tag.ts)
 * with one free list per size class. A request searches its own class
 * first-fit, then takes the head of the next non-empty larger class (every
 * block there fits), found through a bitmap of non-empty classes. Splitting
 * and immediate coalescing keep the classes honest.
 *
 * Classes of block sizes (multiples of 16, >= 32):
 *   size < 512:  class = size / 16                  (one size per class)
 *   size >= 512: class = 32 + 4 * (fl - 9) + sl     fl = floor(log2 size),
 *                                                   sl = next two bits (TLSF's split)
 *
 *   root + R_OWN + 0   non-empty bitmap, 4 x u32 (bit c = class c has blocks)
 *                 16   head[0 .. 127] (u64 each)
 */
import type { UserProcess } from "../env.ts";
import type { Allocator } from "./allocator.ts";
import { HeapCorruption } from "./allocator.ts";
import { BoundaryTagHeap, type BoundaryTagOptions } from "./boundary_tag.ts";
import { hex, KIND_SEGREGATED, load64, R_OWN, store64 } from "./heap.ts";

const NCLASSES = 128;
const S_BITMAP = R_OWN;
const S_HEADS = R_OWN + 16;
const ROOT_BYTES = S_HEADS + NCLASSES * 8;

/** Options of {@link createSegregated}. */
export interface SegregatedOptions extends BoundaryTagOptions {
  /** Order inside a class: freed blocks first ("lifo", default) or by address. */
  order?: "lifo" | "address";
}

/** The size class of a block of `size` bytes. */
export function sizeClass(size: number): number {
  if (size < 512) return size >>> 4;
  const fl = 31 - Math.clz32(size);
  return 32 + 4 * (fl - 9) + ((size >>> (fl - 2)) & 3);
}

class SegregatedAllocator extends BoundaryTagHeap {
  private readonly order: "lifo" | "address";

  constructor(proc: UserProcess, opts: SegregatedOptions) {
    super(opts.order === "address" ? "segregated-address" : "segregated", proc, KIND_SEGREGATED, ROOT_BYTES, opts);
    this.order = opts.order ?? "lifo";
    if (this.order !== "lifo" && this.order !== "address") throw new RangeError(`segregated: unknown order "${this.order}"`);
  }

  private headAddr(c: number): number {
    return this.core.root + S_HEADS + c * 8;
  }

  /** Sets class c's non-empty bit to `bit`. */
  private setBit(c: number, bit: 0 | 1): void {
    const va = this.core.root + S_BITMAP + (c >>> 5) * 4;
    this.mem.write32(va, (this.mem.read32(va) & ~(1 << (c & 31))) | (bit << (c & 31)));
  }

  /** The lowest non-empty class above `c`, or -1. */
  private nextNonEmpty(c: number): number {
    for (let i = c + 1; i < NCLASSES; i = (i | 31) + 1) {
      const w = this.mem.read32(this.core.root + S_BITMAP + (i >>> 5) * 4) & (~0 << (i & 31));
      if (w !== 0) return (i & ~31) + 31 - Math.clz32(w & -w);
    }
    return -1;
  }

  protected findFit(asize: number): number {
    const c = sizeClass(asize);
    for (let b = load64(this.mem, this.headAddr(c)); b !== 0; b = this.next(b)) if (this.sizeOf(b) >= asize) return b;
    const d = this.nextNonEmpty(c);
    return d < 0 ? 0 : load64(this.mem, this.headAddr(d));
  }

  protected insertFree(b: number): void {
    const c = sizeClass(this.sizeOf(b));
    const h = this.headAddr(c);
    let prev = 0;
    let next = load64(this.mem, h);
    if (this.order === "address") {
      while (next !== 0 && next < b) {
        prev = next;
        next = this.next(next);
      }
    }
    this.setPrev(b, prev);
    this.setNext(b, next);
    if (prev === 0) store64(this.mem, h, b);
    else this.setNext(prev, b);
    if (next !== 0) this.setPrev(next, b);
    this.setBit(c, 1);
  }

  protected removeFree(b: number): void {
    const c = sizeClass(this.sizeOf(b));
    const prev = this.prev(b);
    const next = this.next(b);
    if (prev === 0) {
      store64(this.mem, this.headAddr(c), next);
      if (next === 0) this.setBit(c, 0);
    } else this.setNext(prev, next);
    if (next !== 0) this.setPrev(next, prev);
  }

  protected replaceFree(old: number, neu: number): void {
    this.removeFree(old);
    this.insertFree(neu);
  }

  protected checkLists(free: Set<number>): void {
    let listed = 0;
    for (let c = 0; c < NCLASSES; c++) {
      const head = load64(this.mem, this.headAddr(c));
      const bit = (this.mem.read32(this.core.root + S_BITMAP + (c >>> 5) * 4) >>> (c & 31)) & 1;
      if (bit !== (head === 0 ? 0 : 1))
        throw new HeapCorruption("SEG-1", `class ${c}: bitmap bit ${bit} but the list is ${head === 0 ? "empty" : "not empty"}`);
      let prev = 0;
      for (let b = head; b !== 0; b = this.next(b)) {
        if (!free.has(b)) throw new HeapCorruption("SEG-2", `class ${c} lists ${hex(b)}, which is not a free block`);
        if (sizeClass(this.sizeOf(b)) !== c)
          throw new HeapCorruption("SEG-3", `block ${hex(b)} of ${this.sizeOf(b)} bytes is on class ${c}`);
        if (this.prev(b) !== prev) throw new HeapCorruption("SEG-4", `free block ${hex(b)} has a bad prev link`);
        if (this.order === "address" && b <= prev) throw new HeapCorruption("SEG-5", `class ${c}: ${hex(b)} out of address order`);
        if (++listed > free.size) throw new HeapCorruption("SEG-6", "a class list loops or lists a block twice");
        prev = b;
      }
    }
    if (listed !== free.size) throw new HeapCorruption("SEG-7", `${free.size} free blocks in the heap, ${listed} on the class lists`);
  }
}

/** A segregated-fit allocator in `proc`'s brk heap. Throws RangeError naming a bad option. */
export function createSegregated(proc: UserProcess, opts: SegregatedOptions = {}): Allocator {
  return new SegregatedAllocator(proc, opts);
}
