/**
 * A malloc-lab submission (CS:APP's mm_init, mm_malloc, mm_free,
 * mm_realloc) as a process's libc malloc: `layers.malloc`
 * (userspace/libc/malloc_layer.ts), so `p.libc.malloc` of a process on a
 * real machine runs the student's allocator, its mem_sbrk growing the
 * process's break through brk(2) (MemLib over the layer's MallocEnv).
 *
 * CS:APP's mm keeps its state in module variables: one heap at a time. The
 * layer makes it for the first process that calls libc and refuses a
 * second one and fork (a LayerFault naming "mm"): a machine booted with it
 * runs one process's malloc.
 */
import type { MallocEnv, MallocHeap, MallocLayer } from "../../../userspace/libc/malloc_layer.ts";
import type { MallocSubmission } from "./mdriver.ts";
import { MemLib } from "./memlib.ts";

/** The heap a submission makes for one process: mm_init over the process's brk, then the calls as they come. */
class MmHeap implements MallocHeap {
  readonly name = "mm";
  /** memlib over the process, for the heap's size (mem_heapsize). */
  readonly lib: MemLib;

  constructor(
    private readonly sub: MallocSubmission,
    env: MallocEnv,
  ) {
    this.lib = new MemLib({ mem: env.mem, brk: (addr) => env.brk(addr) });
    if (sub.mm_init(this.lib) < 0) throw new Error("mm_init returned -1");
  }

  /** CS:APP's mm_malloc(0) may return NULL; libc asks for at least one byte. */
  malloc(n: number): number {
    return this.sub.mm_malloc(Math.max(n, 1));
  }

  free(p: number): void {
    this.sub.mm_free(p);
  }

  realloc(p: number, n: number): number {
    return this.sub.mm_realloc(p, n);
  }

  fork(_child: MallocEnv): MallocHeap {
    throw new Error("CS:APP's mm keeps its heap in module variables: it serves one process, and cannot follow a fork");
  }
}

/**
 * The submission as `layers.malloc`. `heaps` collects the heap it makes
 * (one), so a check can read its memlib. The first process to use libc
 * gets it; another process is a LayerFault (the mm serves one).
 */
export function mmMallocLayer(sub: MallocSubmission, heaps: MmHeapView[] = []): MallocLayer {
  return (env) => {
    if (heaps.length > 0) throw new Error(`CS:APP's mm serves one process; pid ${env.pid} is a second`);
    const heap = new MmHeap(sub, env);
    heaps.push(heap);
    return heap;
  };
}

/** What a check may read of the heap the layer made. */
export interface MmHeapView {
  readonly lib: MemLib;
}
