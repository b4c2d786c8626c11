/**
 * kalloc.ts: per-CPU free lists. Read statement.md first.
 *
 * boot.nrCpus: the machine's CPUs; boot.thisCpu(): the CPU running now.
 * boot.acquire(i): say you take your lock i (declare how many in `locks`).
 * boot.ram.read32(pa) / write32(pa, v): physical memory; frame pfn starts
 * at pfn * 4096, so a free frame can hold the link to the next one.
 */
import type { FrameAllocator, FramesBoot, FramesLayer } from "memsim";

class PerCpuFrames implements FrameAllocator {
  readonly name = "mine";
  readonly maxOrder = 0;
  /** One lock per CPU: lock i guards CPU i's list. */
  readonly locks: number;

  constructor(private readonly boot: FramesBoot) {
    this.locks = boot.nrCpus;
    // TODO: a free list per CPU; put every frame of boot.ranges on the list
    // of the CPU running now (boot.thisCpu(), 0 at boot), as kinit does.
  }

  /** A free frame's pfn, or -1. Your CPU's list first; when it is empty, steal from another CPU's. */
  allocPages(order: number, _gfp: number): number {
    if (order !== 0) return -1;
    this.boot.acquire(this.boot.thisCpu());
    // TODO
    return -1;
  }

  /** The frame goes on the list of the CPU running now. */
  freePages(_pfn: number, _order: number): void {
    // TODO
  }

  /** Free frames on every CPU's list. */
  nrFreePages(): number {
    // TODO
    return 0;
  }

  /** Every frame of boot.ranges, free or not: fixed at boot. */
  nrManagedPages(): number {
    // TODO
    return 0;
  }

  /** Recount every list; throw an Error when a list and its count disagree. */
  check(): void {}
}

export const frames: FramesLayer = (boot) => new PerCpuFrames(boot);
