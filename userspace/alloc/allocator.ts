/**
 * The one interface every userspace allocator implements (the teaching
 * allocators and the default malloc), so traces, tests and pictures can
 * compare them. An allocator runs inside one process (its context) and gets
 * memory only through that process's brk/mmap.
 *
 * Sized free and a realloc given the old size let simple allocators (pool,
 * buddy, arena) work without per-block headers.
 */
import type { UserProcess } from "../env.ts";

/** Counters an allocator reports; bytes unless named otherwise. */
export interface AllocatorStats {
  /** Bytes currently obtained from the kernel (brk heap plus mmapped regions). */
  heapBytes: number;
  /** Highest heapBytes seen. */
  peakHeapBytes: number;
  /** Live payload bytes as requested by callers. */
  liveBytes: number;
  /** Calls into the kernel (brk, mmap, munmap, madvise ...). */
  syscalls: number;
}

/**
 * Where an allocator's heap bytes are, for the fragmentation measures
 * (sim/frag.ts): every byte of `heapBytes` is granted, free or overhead
 * (overhead = heapBytes - granted - free: headers, roots, bitmaps, padding).
 */
export interface HeapCensus {
  /** Bytes of the blocks callers hold: each block's usable size (what was asked plus rounding). */
  grantedBytes: number;
  /** Bytes the allocator could hand out without asking the kernel: free blocks (their headers included) and uncarved space. */
  freeBytes: number;
  /** The largest of those free blocks, in bytes (0 when nothing is free). */
  largestFreeBytes: number;
}

/** A userspace allocator. */
export interface Allocator {
  readonly name: string;
  /** The process it runs in. */
  readonly proc: UserProcess;
  /** A 16-byte-aligned block of at least `size` bytes, or 0 when out of memory. */
  malloc(size: number): number;
  /** Frees `ptr` (0 is a no-op). `size` is what was asked for at malloc/realloc. */
  free(ptr: number, size: number): void;
  /** Resizes `ptr` (asked as `oldSize`) to `newSize`, keeping the bytes; 0 on failure (ptr still valid). */
  realloc(ptr: number, oldSize: number, newSize: number): number;
  /** Recounts the heap from scratch; throws HeapCorruption naming what is wrong. */
  check(): void;
  stats(): AllocatorStats;
  /** Optional: walks the heap and counts granted and free bytes (a debug view, costs the whole heap). Returns null when the allocator cannot see its own heap. */
  census?(): HeapCensus | null;
}

/**
 * The fallback of every realloc that cannot resize in place: a new block of
 * `newSize`, the first min(oldSize, newSize) bytes copied over, the old block
 * freed. Returns 0 (the old block intact) when the new one cannot be had.
 */
export function reallocByMove(a: Allocator, p: number, oldSize: number, newSize: number): number {
  const q = a.malloc(newSize);
  if (q === 0) return 0;
  a.proc.mem.copy(q, p, Math.min(oldSize, newSize));
  a.free(p, oldSize);
  return q;
}

/** A heap checker found the heap inconsistent. `id` names the invariant. */
export class HeapCorruption extends Error {
  override readonly name = "HeapCorruption";
  constructor(
    readonly id: string,
    what: string,
  ) {
    super(`${id}: ${what}`);
  }
}
