/**
 * CS:APP's memlib for the malloc lab, over a memsim process: the heap is
 * the process's brk heap, grown by mem_sbrk alone (no mmap), up to
 * MAX_HEAP bytes; its bytes are reached through the process's MMU
 * (`mem`), so every load and store costs simulated time on m.clock. The
 * process is reached through a MemLibHost: a UserProcess's brk for mdriver,
 * a MallocEnv's when the mm is the process's libc malloc (mm_layer.ts).
 */
import type { UserMemory, UserProcess } from "../../../userspace/env.ts";

/** What memlib needs of a process: its memory and brk(2) (the new break, or the old one when refused). */
export interface MemLibHost {
  readonly mem: UserMemory;
  brk(addr: number): number;
}

/** A process's memory and brk as a MemLibHost. */
export function processHost(proc: UserProcess): MemLibHost {
  return { mem: proc.mem, brk: (addr) => proc.sys.brk(addr) };
}

/** memlib's MAX_HEAP: 20 MiB. */
export const MAX_HEAP = 20 << 20;

/** The memory model an mm.ts sees (CS:APP memlib.h), plus the heap's bytes. */
export class MemLib {
  /** Loads and stores of the process's memory (read8/16/32, write8/16/32, copy, fill). */
  readonly mem: UserMemory;
  private readonly lo: number;
  private brk: number;

  constructor(private readonly host: MemLibHost) {
    this.mem = host.mem;
    this.lo = host.brk(0);
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
    if (incr > 0 && this.host.brk(old + incr) !== old + incr) return -1;
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
