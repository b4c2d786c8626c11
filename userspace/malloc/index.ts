/**
 * A C library's malloc behind the Allocator interface, so traces, tests and
 * pictures can compare it with the teaching allocators. Register it as
 * "malloc": `createMalloc(proc)` is memsim's own; `createMalloc(proc, layer)`
 * runs a malloc layer (libc/malloc_layer.ts) through the same C library. The
 * sized free's size and realloc's old size are only used for the live-bytes
 * counter; malloc itself ignores them.
 */
import type { Allocator, AllocatorStats, HeapCensus } from "../alloc/allocator.ts";
import type { UserProcess } from "../env.ts";
import { Libc } from "../libc/libc.ts";
import type { MallocLayer } from "../libc/malloc_layer.ts";
import { Malloc } from "./malloc.ts";

export { Malloc, memsimMalloc } from "./malloc.ts";

/** The malloc of a Libc as an Allocator. */
export class MallocAllocator implements Allocator {
  readonly name: string;
  readonly proc: UserProcess;
  readonly libc: Libc;
  private live = 0;

  constructor(libc: Libc, proc: UserProcess) {
    this.libc = libc;
    this.proc = proc;
    this.name = libc.heap instanceof Malloc ? "malloc" : libc.heap.name;
  }

  malloc(size: number): number {
    const p = this.libc.malloc(size);
    if (p !== 0) this.live += size;
    return p;
  }

  free(ptr: number, size: number): void {
    if (ptr !== 0) this.live -= size;
    this.libc.free(ptr);
  }

  /** realloc with glibc's semantics; newSize 0 frees and returns 0. */
  realloc(ptr: number, oldSize: number, newSize: number): number {
    const q = this.libc.realloc(ptr, newSize);
    if (q !== 0 || newSize === 0) this.live += newSize - (ptr === 0 ? 0 : oldSize);
    return q;
  }

  check(): void {
    this.libc.mallocCheck();
  }

  /** memsim's malloc walks its heap (census.ts). Returns null for another malloc layer, whose heap memsim cannot read. */
  census(): HeapCensus | null {
    const heap = this.libc.heap;
    return heap instanceof Malloc ? heap.census() : null;
  }

  /** memsim's malloc counts its heap itself; another layer's is what it got through its MallocEnv. */
  stats(): AllocatorStats {
    const heap = this.libc.heap;
    const own = heap instanceof Malloc;
    return {
      heapBytes: own ? heap.heapBytes() : this.libc.layerBytes,
      peakHeapBytes: own ? heap.peakHeapBytes() : this.libc.peakLayerBytes,
      liveBytes: this.live,
      syscalls: this.libc.syscalls,
    };
  }
}

/** A fresh C library for `proc` with `layer` (default memsim's) and its malloc as an Allocator. */
export function createMalloc(proc: UserProcess, layer?: MallocLayer): MallocAllocator {
  return new MallocAllocator(new Libc(proc, layer === undefined ? {} : { malloc: layer }), proc);
}
