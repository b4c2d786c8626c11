/**
 * Your page-replacement policy (statement.md): CLOCK with second chance.
 * memsim calls `replacement` once at boot with the kernel's side (`k`) and
 * then only the methods below. Fill in the TODOs.
 */
import type { ReplacementKernel, ReplacementLayer, ReplacementPolicy } from "memsim";

class Clock implements ReplacementPolicy {
  readonly name = "clock";
  // TODO: the circle of resident pages (typed arrays indexed by pfn: k.lru.memmap.nrPages entries),
  // a use bit per page, and the hand.

  constructor(private readonly k: ReplacementKernel) {}

  /** `pfn` came in (a fault, a swap-in): it joins the circle just behind the hand, its use bit set. */
  added(_pfn: number): void {
    // TODO
  }

  /** `pfn` is no longer yours (evicted, freed by munmap or exit): take it out of the circle; move the hand on if it was there. */
  removed(_pfn: number): void {
    // TODO
  }

  /** The kernel saw a reference to `pfn` (a fault mapped it again): set its use bit. */
  referenced(_pfn: number): void {
    // TODO
  }

  /**
   * The next page to evict: from the hand, a page whose use bit is set or whose accessed
   * bits are set (this.k.harvest(pfn) > 0 reads and clears them) loses its use bit and the
   * hand moves on; return the first page with neither (the hand stays on it). -1 when empty.
   */
  victim(): number {
    // TODO
    return -1;
  }

  /** The victim could not go now: move the hand past it. */
  keep(_pfn: number): void {
    // TODO
  }
}

export const replacement: ReplacementLayer = (k) => new Clock(k);
