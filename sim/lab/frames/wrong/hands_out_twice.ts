/** Wrong (frames lab): allocation reads the link after reusing the frame's first word, so the list loses its way. */
import type { FrameAllocator, FramesBoot, FramesLayer } from "../../../../kernel/mm/frames.ts";

const PAGE = 4096;

class FreeList implements FrameAllocator {
  readonly name = "freelist";
  readonly maxOrder = 0;
  private head = 0;
  private nfree = 0;
  private readonly managed: number;

  constructor(private readonly boot: FramesBoot) {
    let n = 0;
    for (const r of boot.ranges) {
      for (let pfn = r.start; pfn < r.end; pfn++) this.freePages(pfn, 0);
      n += r.end - r.start;
    }
    this.managed = n;
  }

  allocPages(order: number, _gfp: number): number {
    if (order !== 0 || this.head === 0) return -1;
    const pfn = this.head - 1;
    this.boot.ram.write32(pfn * PAGE, 0);
    this.head = this.boot.ram.read32(pfn * PAGE) || this.head;
    this.nfree--;
    return pfn;
  }

  freePages(pfn: number, _order: number): void {
    this.boot.ram.write32(pfn * PAGE, this.head);
    this.head = pfn + 1;
    this.nfree++;
  }

  nrFreePages(): number {
    return this.nfree;
  }

  nrManagedPages(): number {
    return this.managed;
  }

  check(): void {
    let n = 0;
    for (let h = this.head; h !== 0; h = this.boot.ram.read32((h - 1) * PAGE)) {
      const pfn = h - 1;
      if (!this.boot.ranges.some((r) => pfn >= r.start && pfn < r.end))
        throw new Error(`free list links to pfn ${pfn}, outside the free ranges`);
      if (++n > this.managed) throw new Error("free list has a cycle");
    }
    if (n !== this.nfree) throw new Error(`free list holds ${n} frames, the count says ${this.nfree}`);
  }
}

export const frames: FramesLayer = (boot) => new FreeList(boot);
