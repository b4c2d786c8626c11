/**
 * CS:APP's memlib for the malloc lab, over a memsim process: the heap is
 * the process's brk heap, grown by mem_sbrk alone (no mmap), up to
 * MAX_HEAP bytes; its bytes are reached through the process's MMU
 * (`mem`), so every load and store costs simulated time on m.clock.
 */
import type { UserMemory, UserProcess } from "../../../userspace/env.ts";

/** memlib's MAX_HEAP: 20 MiB. */
export const MAX_HEAP = 20 << 20;

/** The memory model an mm.ts sees (CS:APP memlib.h), plus the heap's bytes. */
export class MemLib {
  /** Loads and stores of the process's memory (read8/16/32, write8/16/32, copy, fill). */
  readonly mem: UserMemory;
  private readonly lo: number;
  private brk: number;

  constructor(private readonly proc: UserProcess) {
    this.mem = proc.mem;
    this.lo = proc.sys.brk(0);
    this.brk = this.lo;
  }

  /**
   * Extends the heap by `incr` bytes (>= 0) and returns the old break, the
   * first new byte; returns -1 (CS:APP's (void *)-1) when incr is negative
   * or the heap would pass MAX_HEAP or the kernel refuses.
   */
  mem_sbrk(incr: number): number {
    if (!Number.isInteger(incr) || incr < 0 || this.brk + incr > this.lo + MAX_HEAP) return -1;
    const old = this.brk;
    if (incr > 0 && this.proc.sys.brk(old + incr) !== old + incr) return -1;
    this.brk = old + incr;
    return old;
  }

  /** The heap's first byte. */
  mem_heap_lo(): number {
    return this.lo;
  }

  /** The heap's last byte (lo - 1 when empty). */
  mem_heap_hi(): number {
    return this.brk - 1;
  }

  /** Bytes in the heap. */
  mem_heapsize(): number {
    return this.brk - this.lo;
  }

  /** The page size: 4096. */
  mem_pagesize(): number {
    return 4096;
  }
}
