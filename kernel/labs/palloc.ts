/**
 * Pintos's page allocator (threads/palloc.c) as a memsim frames layer: one
 * bit per frame, set when the frame is in use, kept in RAM at the start of
 * the first free range (as Pintos keeps its pool's bitmap in the pool's first
 * pages). An allocation is a first-fit scan for 2^order clear bits starting
 * at a multiple of 2^order. Written as a student would for a lab.
 *
 *   bitmap word i (little-endian u32) covers pfns [32 i, 32 i + 32)
 *   bit b of word i  1 = in use (or not RAM the allocator owns), 0 = free
 *   frames outside the free ranges, and the bitmap's own frames, stay 1.
 */
import type { FrameAllocator, FramesBoot } from "../mm/frames.ts";
import { invariant } from "../panic.ts";

const PAGE = 4096;
/** The largest order this allocator supports (1024 frames, as the buddy's default). */
const PALLOC_MAX_ORDER = 10;

/** The `frames` layer value: `Machine.boot({ layers: { frames: bitmapFrames } })`. */
export function bitmapFrames(boot: FramesBoot): FrameAllocator {
  return new Palloc(boot);
}

/** palloc_get_multiple / palloc_free_multiple over a bitmap in RAM. */
export class Palloc implements FrameAllocator {
  readonly name = "bitmap";
  readonly maxOrder: number;
  private readonly nwords: number;
  /** Index of word 0 of the bitmap in `ram.u32`. */
  private readonly base: number;
  private readonly u32: Uint32Array;
  private nfree = 0;
  private managed = 0;

  constructor(boot: FramesBoot) {
    this.maxOrder = Math.min(boot.maxOrder, PALLOC_MAX_ORDER);
    this.u32 = boot.ram.u32;
    this.nwords = Math.ceil(boot.ram.nrPages / 32);
    const first = boot.ranges[0];
    if (first === undefined) throw new Error("palloc: no free memory");
    const frames = Math.ceil((this.nwords * 4) / PAGE);
    boot.reserve(first.start, frames);
    this.base = (first.start * PAGE) >>> 2;
    this.u32.fill(0xffffffff, this.base, this.base + this.nwords);
    for (const r of boot.ranges) {
      const start = r === first ? r.start + frames : r.start;
      for (let pfn = start; pfn < r.end; pfn++) this.setBit(pfn, 0);
      this.managed += r.end - start;
    }
    this.nfree = this.managed;
  }

  /** First fit: the lowest free run of 2^order frames aligned to its size, or -1. */
  allocPages(order: number, _gfp: number): number {
    if (order > this.maxOrder) return -1;
    const pfn = order <= 5 ? this.scanInWord(1 << order) : this.scanWords((1 << order) / 32);
    if (pfn < 0) return -1;
    for (let p = pfn; p < pfn + (1 << order); p++) this.setBit(p, 1);
    this.nfree -= 1 << order;
    return pfn;
  }

  /** A run of n <= 32 bits: it lies inside one word. */
  private scanInWord(n: number): number {
    const mask = n === 32 ? 0xffffffff : (1 << n) - 1;
    for (let i = 0; i < this.nwords; i++) {
      const word = this.u32[this.base + i] as number;
      if (word === 0xffffffff) continue;
      for (let b = 0; b < 32; b += n) if (((word >>> b) & mask) === 0) return i * 32 + b;
    }
    return -1;
  }

  /** A run of n whole words, all clear. */
  private scanWords(n: number): number {
    for (let i = 0; i + n <= this.nwords; i += n) {
      let k = 0;
      while (k < n && this.u32[this.base + i + k] === 0) k++;
      if (k === n) return i * 32;
    }
    return -1;
  }

  /** palloc_free_multiple: clears the run's bits. */
  freePages(pfn: number, order: number): void {
    for (let p = pfn; p < pfn + (1 << order); p++) this.setBit(p, 0);
    this.nfree += 1 << order;
  }

  private bit(pfn: number): number {
    return ((this.u32[this.base + (pfn >>> 5)] as number) >>> (pfn & 31)) & 1;
  }

  private setBit(pfn: number, v: number): void {
    const i = this.base + (pfn >>> 5);
    const m = 1 << (pfn & 31);
    this.u32[i] = v ? ((this.u32[i] as number) | m) >>> 0 : ((this.u32[i] as number) & ~m) >>> 0;
  }

  nrFreePages(): number {
    return this.nfree;
  }

  nrManagedPages(): number {
    return this.managed;
  }

  /** Recounts the clear bits. IDs: PALLOC-1 the free count disagrees with the bitmap. */
  check(): void {
    let clear = 0;
    for (let pfn = 0; pfn < this.nwords * 32; pfn++) if (this.bit(pfn) === 0) clear++;
    invariant(clear === this.nfree, "PALLOC-1", `bitmap has ${clear} free frames, count says ${this.nfree}`);
  }
}
