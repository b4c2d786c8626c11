/**
 * Malloc layers written the way a student writes them in a malloc lab, with
 * the MallocEnv only: CS:APP's implicit free list (boundary tags, first
 * fit, immediate coalescing, memory from sbrk alone), and wrong allocators
 * the C library and the kernel must catch.
 *
 * The implicit list, 16-byte aligned (8-byte words, as CS:APP's 64-bit
 * variant with DSIZE = 16):
 *
 *   base: | pad 8 | prologue hdr 16/1 | prologue ftr 16/1 | block ... | epilogue hdr 0/1 |
 *                                     ^ heapListp                        ^ end - 8
 *   block: | hdr size/alloc | payload (16-aligned) ... | ftr size/alloc |
 *
 * A header or footer word is size | alloc; sizes are multiples of 16. Its
 * JS state (heapListp, end) is what a C program keeps in globals:
 * fork copies it into the child's heap.
 */
import type { MallocEnv, MallocHeap, MallocLayer } from "../../sim/index.ts";

const WSIZE = 8;
const DSIZE = 16;
const CHUNKSIZE = 4096;

/** CS:APP's implicit free list as a malloc layer. */
export class ImplicitList implements MallocHeap {
  readonly name = "implicit";

  constructor(
    private readonly env: MallocEnv,
    /** The prologue's payload address; 0 before the first malloc. */
    private heapListp = 0,
    /** The break this heap last saw (its epilogue ends here). */
    private end = 0,
  ) {}

  fork(child: MallocEnv): ImplicitList {
    return new ImplicitList(child, this.heapListp, this.end);
  }

  // --- the words (GET, PUT, PACK, HDRP, FTRP, NEXT_BLKP, PREV_BLKP)

  private get(p: number): number {
    return (this.env.mem.read32(p) >>> 0) + (this.env.mem.read32(p + 4) >>> 0) * 2 ** 32;
  }

  private put(p: number, v: number): void {
    this.env.mem.write32(p, v % 2 ** 32);
    this.env.mem.write32(p + 4, Math.floor(v / 2 ** 32));
  }

  private sizeAt(p: number): number {
    const v = this.get(p);
    return v - (v % DSIZE);
  }

  private allocAt(p: number): number {
    return this.get(p) % 2;
  }

  private hdrp(bp: number): number {
    return bp - WSIZE;
  }

  private ftrp(bp: number): number {
    return bp + this.sizeAt(this.hdrp(bp)) - DSIZE;
  }

  private nextBlkp(bp: number): number {
    return bp + this.sizeAt(bp - WSIZE);
  }

  private prevBlkp(bp: number): number {
    return bp - this.sizeAt(bp - DSIZE);
  }

  private mark(bp: number, size: number, alloc: number): void {
    this.put(this.hdrp(bp), size + alloc);
    this.put(bp + size - DSIZE, size + alloc);
  }

  // --- mm_init, extend_heap, coalesce, find_fit, place

  /** mm_init: the prologue and epilogue. Returns false when sbrk fails. */
  private init(): boolean {
    const start = this.env.sbrk(0);
    if (start < 0) return false;
    const pad = (DSIZE - (start % DSIZE)) % DSIZE;
    if (this.env.sbrk(pad + 4 * WSIZE) < 0) return false;
    const base = start + pad;
    this.put(base, 0);
    this.put(base + WSIZE, DSIZE + 1);
    this.put(base + 2 * WSIZE, DSIZE + 1);
    this.put(base + 3 * WSIZE, 1);
    this.heapListp = base + 2 * WSIZE;
    this.end = base + 4 * WSIZE;
    return true;
  }

  /** extend_heap: a free block of `bytes` at the end. Returns its payload, or 0 when sbrk fails or someone else moved the break. */
  private extendHeap(bytes: number): number {
    const size = Math.ceil(bytes / DSIZE) * DSIZE;
    const bp = this.env.sbrk(size);
    if (bp < 0) return 0;
    if (bp !== this.end) {
      this.env.sbrk(-size);
      return 0;
    }
    this.end = bp + size;
    this.mark(bp, size, 0);
    this.put(this.end - WSIZE, 1);
    return this.coalesce(bp);
  }

  private coalesce(bp: number): number {
    const prevAlloc = this.allocAt(bp - DSIZE);
    const next = this.nextBlkp(bp);
    const nextAlloc = this.allocAt(this.hdrp(next));
    let size = this.sizeAt(this.hdrp(bp));
    if (!nextAlloc) size += this.sizeAt(this.hdrp(next));
    if (!prevAlloc) {
      bp = this.prevBlkp(bp);
      size += this.sizeAt(this.hdrp(bp));
    }
    this.mark(bp, size, 0);
    return bp;
  }

  /** First fit from the start of the heap; one header load per block passed. */
  private findFit(asize: number): number {
    for (let bp = this.heapListp; ; ) {
      const h = this.get(this.hdrp(bp));
      const size = h - (h % DSIZE);
      if (size === 0) return 0;
      if (h % 2 === 0 && asize <= size) return bp;
      bp += size;
    }
  }

  private place(bp: number, asize: number): void {
    const csize = this.sizeAt(this.hdrp(bp));
    if (csize - asize >= 2 * DSIZE) {
      this.mark(bp, asize, 1);
      this.mark(bp + asize, csize - asize, 0);
    } else {
      this.mark(bp, csize, 1);
    }
  }

  // --- mm_malloc, mm_free, mm_realloc

  malloc(n: number): number {
    if (this.heapListp === 0 && !this.init()) return 0;
    const asize = Math.max(2 * DSIZE, Math.ceil((n + DSIZE) / DSIZE) * DSIZE);
    let bp = this.findFit(asize);
    if (bp === 0) {
      bp = this.extendHeap(Math.max(asize, CHUNKSIZE));
      if (bp === 0) return 0;
    }
    this.place(bp, asize);
    return bp;
  }

  free(bp: number): void {
    this.mark(bp, this.sizeAt(this.hdrp(bp)), 0);
    this.coalesce(bp);
  }

  /** mm_realloc, the naive one: malloc, copy, free. */
  realloc(bp: number, n: number): number {
    const q = this.malloc(n);
    if (q === 0) return 0;
    this.env.mem.copy(q, bp, Math.min(n, this.usableSize(bp)));
    this.free(bp);
    return q;
  }

  usableSize(bp: number): number {
    return this.sizeAt(this.hdrp(bp)) - DSIZE;
  }

  /** mm_checkheap: prologue, headers equal to footers, alignment, no two free blocks in a row, the epilogue at the break. */
  check(): void {
    if (this.heapListp === 0) return;
    if (this.get(this.hdrp(this.heapListp)) !== DSIZE + 1) throw new Error("implicit: bad prologue header");
    let prevFree = false;
    let bp = this.nextBlkp(this.heapListp);
    for (; this.sizeAt(this.hdrp(bp)) > 0; bp = this.nextBlkp(bp)) {
      if (bp % DSIZE !== 0) throw new Error(`implicit: block 0x${bp.toString(16)} is not 16-byte aligned`);
      if (this.get(this.hdrp(bp)) !== this.get(this.ftrp(bp)))
        throw new Error(`implicit: block 0x${bp.toString(16)}: header and footer differ`);
      const free = this.allocAt(this.hdrp(bp)) === 0;
      if (free && prevFree) throw new Error(`implicit: two free blocks in a row at 0x${bp.toString(16)}`);
      prevFree = free;
    }
    if (bp !== this.end) throw new Error(`implicit: the epilogue is at 0x${(bp - WSIZE).toString(16)}, not at the end of the heap`);
  }
}

/** The implicit list as a layer: `Machine.boot({ layers: { malloc: implicitList } })`. */
export const implicitList: MallocLayer = (env) => new ImplicitList(env);

/** A bump allocator over sbrk, the base of the wrong layers below: `step` decides where the next block goes. */
class Bump implements MallocHeap {
  private next = 0;

  constructor(
    readonly name: string,
    private readonly env: MallocEnv,
    private readonly answer: (bump: number, n: number, calls: number) => number,
    private calls = 0,
  ) {}

  fork(child: MallocEnv): Bump {
    const b = new Bump(this.name, child, this.answer, this.calls);
    b.next = this.next;
    return b;
  }

  malloc(n: number): number {
    if (this.next === 0) {
      const base = this.env.sbrk(1 << 20);
      if (base < 0) return 0;
      this.next = base;
    }
    const p = this.answer(this.next, n, this.calls++);
    this.next += Math.ceil(Math.max(n, 1) / 16) * 16;
    return p;
  }

  free(_p: number): void {}

  realloc(p: number, n: number): number {
    const q = this.malloc(n);
    if (q !== 0) this.env.mem.copy(q, p, n);
    return q;
  }
}

/** Wrong: the third block starts 16 bytes into the first, which is still live. */
export const overlappingMalloc: MallocLayer = (env) =>
  new Bump("overlapper", env, (bump, _n, calls) => (calls === 2 ? bump - 2 * 112 + 16 : bump));

/** Wrong: every malloc throws. */
export const throwingMalloc: MallocLayer = (env) =>
  new Bump("thrower", env, () => {
    throw new Error("out of ideas");
  });

/** Wrong: hands out a fixed address below the heap, where nothing is mapped. */
export const wildMalloc: MallocLayer = (env) => new Bump("wild", env, () => 0x10000);

/** Wrong: blocks 8 bytes off the 16-byte alignment malloc promises. */
export const misalignedMalloc: MallocLayer = (env) => new Bump("misaligned", env, (bump) => bump + 8);

/** Wrong: answers with a fraction. */
export const fractionMalloc: MallocLayer = (env) => new Bump("fraction", env, (bump) => bump + 0.5);

/** Wrong: hands out memory past the break it asked for (the heap is 1 MiB; the block starts 2 MiB in). */
export const pastBreakMalloc: MallocLayer = (env) => new Bump("pastbreak", env, (bump) => bump + (2 << 20));

/** Wrong: the factory itself throws. */
export const brokenFactory: MallocLayer = function broken() {
  throw new TypeError("cannot read the heap");
};

/** Wrong: the factory forgets fork (as a layer written with one process in mind might). */
export const noForkMalloc: MallocLayer = (env) => {
  const heap = new ImplicitList(env);
  const forkless = {
    name: "forkless",
    malloc: (n: number) => heap.malloc(n),
    free: (p: number) => heap.free(p),
    realloc: (p: number, n: number) => heap.realloc(p, n),
  };
  return forkless as unknown as MallocHeap;
};
