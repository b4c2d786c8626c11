/**
 * The default malloc behind the Allocator interface, so traces, tests and
 * pictures can compare it with the teaching allocators. Register it as
 * "malloc": `createMalloc(proc)`. The sized free's size and realloc's old
 * size are only used for the live-bytes counter; malloc itself ignores them.
 */
import type { Allocator, AllocatorStats } from "../alloc/allocator.ts";
import type { UserProcess } from "../env.ts";
import { Libc } from "../libc/libc.ts";

export { Malloc } from "./malloc.ts";

/** The default malloc of a Libc as an Allocator. */
export class MallocAllocator implements Allocator {
  readonly name = "malloc";
  readonly proc: UserProcess;
  readonly libc: Libc;
  private live = 0;

  constructor(libc: Libc, proc: UserProcess) {
    this.libc = libc;
    this.proc = proc;
  }

  malloc(size: number): number {
    const p = this.libc.heap.malloc(size);
    if (p !== 0) this.live += size;
    return p;
  }

  free(ptr: number, size: number): void {
    if (ptr !== 0) this.live -= size;
    this.libc.heap.free(ptr);
  }

  /** realloc with glibc's semantics; newSize 0 frees and returns 0. */
  realloc(ptr: number, oldSize: number, newSize: number): number {
    const q = this.libc.heap.realloc(ptr, newSize);
    if (q !== 0 || newSize === 0) this.live += newSize - (ptr === 0 ? 0 : oldSize);
    return q;
  }

  check(): void {
    this.libc.heap.check();
  }

  stats(): AllocatorStats {
    const heap = this.libc.heap;
    return { heapBytes: heap.heapBytes(), peakHeapBytes: heap.peakHeapBytes(), liveBytes: this.live, syscalls: this.libc.syscalls };
  }
}

/** A fresh C library for `proc` and its malloc as an Allocator. */
export function createMalloc(proc: UserProcess): MallocAllocator {
  return new MallocAllocator(new Libc(proc), proc);
}
