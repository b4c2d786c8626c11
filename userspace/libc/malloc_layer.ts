/**
 * The malloc layer: what the C library asks of the allocator behind
 * p.libc.malloc, and what the allocator is given (kernel/LAYERS.md). memsim's
 * own malloc (userspace/malloc) is one implementation; a lab plugs in another
 * with `Machine.boot({ layers: { malloc } })`.
 *
 * The libc keeps the C contract around the layer: errno, argument checks,
 * realloc(0, n) and realloc(p, 0), calloc, reallocarray and the memalign
 * family where the layer lacks them. It checks every answer (MallocWatch):
 * a layer that throws or hands out a block that cannot be one is a fault of
 * the layer, named by its `name`.
 *
 * Words: block = what malloc hands out, [p, p + n) for a request of n bytes.
 */
import type { UserMemory, UserProcess } from "../env.ts";
import type { Mallinfo2 } from "../malloc/mallinfo.ts";

/** The alignment every block has: 16, as glibc's malloc on x86-64 (2 * sizeof(size_t)). */
export const MALLOC_ALIGNMENT = 16;

/**
 * What a malloc layer is given for one process: its memory and the memory
 * system calls, with Linux's raw results (a value, or -errno). Nothing else
 * of the process is reachable, as a C malloc sees only its address space and
 * its system calls.
 */
export interface MallocEnv {
  readonly pid: number;
  /** Loads and stores through the process's MMU; a bad access is SIGSEGV (throws SegmentationFault). */
  readonly mem: UserMemory;
  /** brk(2): the new break, or the old one when the kernel refused. */
  brk(addr: number): number;
  /**
   * sbrk: moves the break by `increment` bytes. Returns the old break, or
   * -ENOMEM when the kernel refused. Shares the break with p.libc.sbrk, as
   * glibc's malloc shares __curbrk with the program.
   */
  sbrk(increment: number): number;
  /** mmap(2) of anonymous memory: the address, or -errno. */
  mmap(addr: number, len: number, prot: number, flags: number): number;
  /** munmap(2): 0, or -errno. */
  munmap(addr: number, len: number): number;
  /** madvise(2): 0, or -errno. */
  madvise(addr: number, len: number, advice: number): number;
  /** mremap(2): the new address, or -errno. */
  mremap(oldAddr: number, oldLen: number, newLen: number, flags: number): number;
  /** mprotect(2): 0, or -errno (grows an mmapped heap over its PROT_NONE reservation). */
  mprotect(addr: number, len: number, prot: number): number;
  /** gettid(2): the calling thread's id (the pid when the process has one thread); per-thread state is keyed by it, as TLS is. */
  gettid(): number;
  /** sched_getcpu(3): the CPU the calling thread runs on (0 without CPUs). */
  getcpu(): number;
  /** get_nprocs(3): the CPUs online (1 without CPUs); glibc's arena limit is 8 per CPU. */
  nprocs(): number;
  /**
   * The pthread mutex at `uaddr` is held by the running operation until it
   * ends (UserSyscalls.mutexHold: the scheduler charges the waits). Returns
   * 0; a no-op without CPUs.
   */
  mutexHold(uaddr: number): number;
  /** abort(3) with a message on stderr (SIGABRT); for a heap found corrupt, as glibc's malloc_printerr. */
  abort(message: string): never;
}

/**
 * One process's allocator, as a layer makes it. Blocks are 16-byte aligned
 * and lie in memory the layer got through its MallocEnv. The libc calls it
 * with sane arguments only: sizes are numbers from 1 (0 for malloc) to
 * 2^47, pointers are ones this heap handed out (or the program's mistakes,
 * which the layer may detect and abort on).
 */
export interface MallocHeap {
  /** Names the layer in reports and faults. */
  readonly name: string;
  /** A block of at least `n` bytes (n may be 0), or 0 when there is no memory. */
  malloc(n: number): number;
  /** Gives back a block malloc, calloc, realloc or memalign returned (never 0). */
  free(p: number): void;
  /** Resizes the block at p (never 0) to n > 0 bytes keeping its bytes: the block, moved or not, or 0 (p left alone). */
  realloc(p: number, n: number): number;
  /**
   * The heap of a child made by fork. The child's memory is already a copy
   * of this process's, so state kept in the heap carries over by itself;
   * state kept in this object must be copied into the new one. `child` is
   * the child's MallocEnv.
   */
  fork(child: MallocEnv): MallocHeap;
  /** Optional: n * size zeroed bytes (libc checks the product); without it libc zeroes a malloc'd block. */
  calloc?(n: number, size: number): number;
  /** Optional: n bytes aligned to `alignment` (a power of two above 16); without it such requests fail with ENOMEM. */
  memalign?(alignment: number, n: number): number;
  /** Optional: the bytes usable at p (malloc_usable_size); without it libc answers 0. */
  usableSize?(p: number): number;
  /** Optional: recounts the heap, throwing when it is broken. */
  check?(): void;
  /** Optional: mallopt(3); without it every parameter is refused (0). */
  mallopt?(param: number, value: number): number;
  /** Optional: mallinfo2(3); without it every field is 0. */
  mallinfo2?(): Mallinfo2;
  /** Optional: malloc_trim(3); without it nothing is given back (0). */
  trim?(pad: number): number;
  /** Optional: malloc_stats(3)'s text (glibc prints it on stderr); without it "". */
  stats?(): string;
}

/** A malloc layer: makes the heap of one process (called once per process, on its first use of libc). */
export type MallocLayer = (env: MallocEnv) => MallocHeap;

/**
 * How the libc has a layer's answers judged. sim/malloc_watch.ts watches
 * with the kernel's knowledge (where the process's writable mappings are;
 * the live blocks at debugVm >= 2) and turns a fault into a LayerFault; a
 * Libc made without one (a unit test's) uses {@link plainWatch}.
 */
export interface MallocWatch {
  /** Checks a block the layer handed out, [p, p + n): null when it may be one, else what is wrong. Records it when keeping a record. */
  allocated(p: number, n: number): string | null;
  /** Forgets the block at p: it is being freed, or realloc moved it. */
  released(p: number): void;
  /** The layer broke its contract: throws (a LayerFault named "malloc"). */
  fault(message: string, cause?: unknown): never;
  /** True when `e`, thrown out of the layer, is the process's own end (a signal) and goes on unchanged. */
  passes(e: unknown): boolean;
  /** The watch of a child made by fork (with a copy of the record). */
  fork(child: UserProcess): MallocWatch;
}

/** The error plainWatch raises (sim raises a LayerFault instead). */
export class MallocLayerError extends Error {
  override readonly name = "MallocLayerError";
}

/** A watch without the kernel: no record, every exception passes, a bad answer is a MallocLayerError. */
export const plainWatch: MallocWatch = {
  allocated: () => null,
  released: () => {},
  fault(message: string, cause?: unknown): never {
    throw new MallocLayerError(`malloc layer: ${message}`, cause === undefined ? undefined : { cause });
  },
  passes: () => true,
  fork: () => plainWatch,
};
