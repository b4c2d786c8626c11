/** Wrong (replacement lab): trusts `referenced` alone and never reads the accessed bits, so a page used only through TLB hits looks unused: CLOCK turns into FIFO. */
import type { ReplacementKernel, ReplacementLayer, ReplacementPolicy } from "../../../../kernel/mm/replacement.ts";

class Clock implements ReplacementPolicy {
  readonly name = "clock";
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly use: Uint8Array;
  private readonly on: Uint8Array;
  /** The page under the hand, or -1 when no page is resident. */
  private hand = -1;

  constructor(k: ReplacementKernel) {
    const n = k.lru.memmap.nrPages;
    this.next = new Int32Array(n);
    this.prev = new Int32Array(n);
    this.use = new Uint8Array(n);
    this.on = new Uint8Array(n);
  }

  added(pfn: number): void {
    this.on[pfn] = 1;
    this.use[pfn] = 1;
    if (this.hand < 0) {
      this.next[pfn] = pfn;
      this.prev[pfn] = pfn;
      this.hand = pfn;
      return;
    }
    const behind = this.prev[this.hand] as number;
    this.next[behind] = pfn;
    this.prev[pfn] = behind;
    this.next[pfn] = this.hand;
    this.prev[this.hand] = pfn;
  }

  removed(pfn: number): void {
    if (this.on[pfn] === 0) return;
    this.on[pfn] = 0;
    const n = this.next[pfn] as number;
    if (n === pfn) {
      this.hand = -1;
      return;
    }
    const p = this.prev[pfn] as number;
    this.next[p] = n;
    this.prev[n] = p;
    if (this.hand === pfn) this.hand = n;
  }

  referenced(pfn: number): void {
    if (this.on[pfn] !== 0) this.use[pfn] = 1;
  }

  victim(): number {
    if (this.hand < 0) return -1;
    for (;;) {
      const pfn = this.hand;
      const accessed = false;
      if (this.use[pfn] === 0 && !accessed) return pfn;
      this.use[pfn] = 0;
      this.hand = this.next[pfn] as number;
    }
  }

  keep(pfn: number): void {
    if (this.hand === pfn) this.hand = this.next[pfn] as number;
  }
}

export const replacement: ReplacementLayer = (k) => new Clock(k);
