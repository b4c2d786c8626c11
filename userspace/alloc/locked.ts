/**
 * One mutex around another allocator: every malloc, free and realloc holds
 * it (`sys.mutexHold`), as a C library with one arena and one lock does.
 * Threads on several CPUs then serialise on it, and the scheduler charges
 * their waits on the cost clock. The mutex word is a 16-byte block of the
 * inner allocator, taken on the first call.
 */
import type { UserProcess } from "../env.ts";
import type { Allocator, AllocatorStats, HeapCensus } from "./allocator.ts";

class LockedAllocator implements Allocator {
  readonly proc: UserProcess;
  /** The mutex's address; 0 until the first call. */
  private mutex = 0;

  constructor(
    readonly name: string,
    private readonly inner: Allocator,
  ) {
    this.proc = inner.proc;
  }

  private lock(): void {
    if (this.mutex === 0) this.mutex = this.inner.malloc(16);
    this.proc.sys.mutexHold?.(this.mutex);
  }

  malloc(size: number): number {
    this.lock();
    return this.inner.malloc(size);
  }

  free(ptr: number, size: number): void {
    this.lock();
    this.inner.free(ptr, size);
  }

  realloc(ptr: number, oldSize: number, newSize: number): number {
    this.lock();
    return this.inner.realloc(ptr, oldSize, newSize);
  }

  check(): void {
    this.inner.check();
  }

  stats(): AllocatorStats {
    const s = this.inner.stats();
    return this.mutex === 0 ? s : { ...s, liveBytes: s.liveBytes - 16 };
  }

  census(): HeapCensus | null {
    return this.inner.census?.() ?? null;
  }
}

/** `inner` behind one mutex, named `name`. */
export function createLocked(name: string, inner: Allocator): Allocator {
  return new LockedAllocator(name, inner);
}
