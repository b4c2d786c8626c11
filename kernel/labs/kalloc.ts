/**
 * xv6's page allocator (kernel/kalloc.c) as a memsim frames layer: a free
 * list of single frames whose links live inside the free frames themselves.
 * Written as a student would write it for a lab; `maxOrder` is 0, so every
 * request for more than one frame fails and the kernel copes.
 *
 *   free frame (its first word is the link)
 *   0            4                                   4096
 *   +------------+-----------------------------------+
 *   | next pfn+1 |  (poison or old bytes)            |
 *   +------------+-----------------------------------+
 *   0 ends the list; `head` (xv6's kmem.freelist) is the first free pfn + 1.
 */
import type { FrameAllocator, FramesBoot } from "../mm/frames.ts";
import { invariant } from "../panic.ts";

const PAGE = 4096;

/** The `frames` layer value: `Machine.boot({ layers: { frames: xv6Frames } })`. */
export function xv6Frames(boot: FramesBoot): FrameAllocator {
  return new Kalloc(boot);
}

/** kalloc/kfree over the free ranges boot hands out. */
export class Kalloc implements FrameAllocator {
  readonly name = "xv6";
  readonly maxOrder = 0;
  private head = 0;
  private nfree = 0;
  private readonly managed: number;
  private readonly u32: Uint32Array;

  constructor(private readonly boot: FramesBoot) {
    this.u32 = boot.ram.u32;
    let n = 0;
    // freerange(): every frame of every range onto the list, highest address last popped.
    for (const r of boot.ranges) {
      for (let pfn = r.start; pfn < r.end; pfn++) this.kfree(pfn);
      n += r.end - r.start;
    }
    this.managed = n;
  }

  /** kalloc: pops the head of the list; -1 when it is empty or more than one frame is asked for. */
  allocPages(order: number, _gfp: number): number {
    if (order !== 0 || this.head === 0) return -1;
    const pfn = this.head - 1;
    this.head = this.next(pfn);
    this.nfree--;
    return pfn;
  }

  /** kfree: pushes the frame on the list. */
  freePages(pfn: number, _order: number): void {
    this.kfree(pfn);
  }

  private kfree(pfn: number): void {
    this.u32[(pfn * PAGE) >>> 2] = this.head;
    this.head = pfn + 1;
    this.nfree++;
  }

  private next(pfn: number): number {
    return this.u32[(pfn * PAGE) >>> 2] as number;
  }

  nrFreePages(): number {
    return this.nfree;
  }

  nrManagedPages(): number {
    return this.managed;
  }

  /**
   * Walks the list. IDs: KALLOC-1 a link leaves the free ranges,
   * KALLOC-2 the list is longer than the frames (a cycle), KALLOC-3 the count is wrong.
   */
  check(): void {
    let n = 0;
    for (let h = this.head; h !== 0; h = this.next(h - 1)) {
      invariant(this.inRange(h - 1), "KALLOC-1", `free list links to pfn ${h - 1}, outside the free ranges`);
      n++;
      invariant(n <= this.managed, "KALLOC-2", "free list has a cycle");
    }
    invariant(n === this.nfree, "KALLOC-3", `free list holds ${n} frames, count says ${this.nfree}`);
  }

  private inRange(pfn: number): boolean {
    return this.boot.ranges.some((r) => pfn >= r.start && pfn < r.end);
  }
}
