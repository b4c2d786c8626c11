/**
 * A page-frame allocator. Read statement.md first.
 *
 * boot.ranges: the free frames, [start, end) in pfns. boot.ram.read32(pa) /
 * write32(pa, v): physical memory (a frame's bytes start at pfn * 4096).
 * Keep your bookkeeping in RAM: in the free frames themselves (xv6's free
 * list) or in frames you boot.reserve(pfn, count) for a bitmap.
 */
import type { FrameAllocator, FramesBoot, FramesLayer } from "memsim";

class MyFrames implements FrameAllocator {
  readonly name = "mine";
  readonly maxOrder = 0;

  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: boot is for the code you write
  constructor(private readonly boot: FramesBoot) {
    // TODO: put every frame of every range in boot.ranges on your free list.
  }

  /** The first pfn of 2^order free frames aligned to 2^order, or -1 when there are none. */
  allocPages(_order: number, _gfp: number): number {
    // TODO
    return -1;
  }

  /** A run allocPages gave out comes back. */
  freePages(_pfn: number, _order: number): void {
    // TODO
  }

  /** Frames free now. */
  nrFreePages(): number {
    return 0; // TODO
  }

  /** Frames you manage (free or not): fixed at boot. */
  nrManagedPages(): number {
    return 0; // TODO
  }

  /** Recount your own state; throw an Error when it is broken. */
  check(): void {
    // TODO
  }
}

export const frames: FramesLayer = (boot) => new MyFrames(boot);
