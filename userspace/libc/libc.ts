/**
 * The C library of one process (p.libc): errno, the memory system-call
 * wrappers (syscalls.ts), <string.h> over the MMU (string.ts) and the
 * default malloc (userspace/malloc). Everything reaches the process only
 * through its UserMemory and UserSyscalls.
 */
import type { UserMemory, UserProcess } from "../env.ts";
import type { Mallinfo2 } from "../malloc/mallinfo.ts";
import { Malloc } from "../malloc/malloc.ts";
import { memcmp, memcpy, memmove, memset, strlen } from "./string.ts";
import { LibcSyscalls } from "./syscalls.ts";

/** libc for one process; see the file comment. */
export class Libc extends LibcSyscalls {
  /** The default malloc (exposed for its checker and counters). */
  declare readonly heap: Malloc;
  declare private readonly mem: UserMemory;

  constructor(proc: UserProcess) {
    super(proc);
    this.mem = proc.mem;
    this.heap = new Malloc(proc, this);
  }

  /**
   * The C library of a child made by fork: the child's memory is a copy of
   * this process's, so errno, the break and the malloc state carry over.
   */
  forkFor(child: UserProcess): Libc {
    const c = new Libc(child);
    c.errno = this.errno;
    c.curbrk = this.curbrk;
    c.heap.arena.copyFrom(this.heap.arena);
    return c;
  }

  /** malloc(3); see Malloc.malloc. */
  malloc(n: number): number {
    return this.heap.malloc(n);
  }

  /** free(3); see Malloc.free. */
  free(p: number): void {
    this.heap.free(p);
  }

  /** calloc(3); see Malloc.calloc. */
  calloc(n: number, size: number): number {
    return this.heap.calloc(n, size);
  }

  /** realloc(3); see Malloc.realloc. */
  realloc(p: number, n: number): number {
    return this.heap.realloc(p, n);
  }

  /** reallocarray(3); see Malloc.reallocarray. */
  reallocarray(p: number, n: number, size: number): number {
    return this.heap.reallocarray(p, n, size);
  }

  /** memalign(3); see Malloc.memalign. */
  memalign(alignment: number, n: number): number {
    return this.heap.memalign(alignment, n);
  }

  /** posix_memalign(3); see Malloc.posixMemalign. */
  posixMemalign(alignment: number, n: number): { err: number; ptr: number } {
    return this.heap.posixMemalign(alignment, n);
  }

  /** aligned_alloc(3); see Malloc.alignedAlloc. */
  alignedAlloc(alignment: number, n: number): number {
    return this.heap.alignedAlloc(alignment, n);
  }

  /** malloc_usable_size(3); see Malloc.mallocUsableSize. */
  mallocUsableSize(p: number): number {
    return this.heap.mallocUsableSize(p);
  }

  /** malloc_trim(3); see Malloc.mallocTrim. */
  mallocTrim(pad: number): number {
    return this.heap.mallocTrim(pad);
  }

  /** mallopt(3); see Malloc.mallopt. */
  mallopt(param: number, value: number): number {
    return this.heap.mallopt(param, value);
  }

  /** mallinfo2(3); see Malloc.mallinfo2. */
  mallinfo2(): Mallinfo2 {
    return this.heap.mallinfo2();
  }

  /** memset(3) over the MMU. */
  memset(s: number, c: number, n: number): number {
    return memset(this.mem, s, c, n);
  }

  /** memcpy(3) over the MMU. */
  memcpy(dst: number, src: number, n: number): number {
    return memcpy(this.mem, dst, src, n);
  }

  /** memmove(3) over the MMU. */
  memmove(dst: number, src: number, n: number): number {
    return memmove(this.mem, dst, src, n);
  }

  /** memcmp(3) over the MMU. */
  memcmp(a: number, b: number, n: number): number {
    return memcmp(this.mem, a, b, n);
  }

  /** strlen(3) over the MMU. */
  strlen(s: number): number {
    return strlen(this.mem, s);
  }
}
