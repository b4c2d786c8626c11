/**
 * The kernel's eye on a process's malloc layer (userspace/libc/malloc_layer.ts).
 * The C library checks the shape of every block the layer hands out (a
 * 16-byte aligned user address); this watch adds what only the kernel
 * knows, at a cost chosen by debugVm:
 *
 *   debugVm 0   nothing more
 *   debugVm 1   [p, p + n) must lie in writable mappings of the process: two
 *               compares when it is inside [start_brk, brk) (taken as
 *               writable: a program that unmaps or protects part of its own
 *               heap is on its own), a VMA lookup per mapping otherwise
 *   debugVm 2+  also a record of the live blocks (LiveBlocks): a block that
 *               overlaps one handed out before and not yet freed is a fault
 *
 * A fault is a LayerFault("malloc"); a signal thrown through the layer (the
 * process's own end: SIGSEGV, SIGABRT) and the kernel's own errors pass.
 *
 * Words: block = [start, end) a malloc answer covers (end = p + max(n, 1)).
 */
import type { KernelApi } from "../kernel/mm/lab_api.ts";
import type { MmStruct } from "../kernel/mm/mm.ts";
import { InvariantViolation, KernelPanic, LayerFault } from "../kernel/panic.ts";
import { Process, ProcessGone } from "../kernel/process.ts";
import { ProcessKilled } from "../kernel/signal.ts";
import type { UserProcess } from "../kernel/uapi/process.ts";
import type { MallocWatch } from "../userspace/libc/malloc_layer.ts";
import { NO_SITES, type UserSiteHook } from "./alloc_sites.ts";

const hex = (v: number) => `0x${v.toString(16)}`;

/**
 * The live blocks of one heap, sorted by start: two parallel typed arrays
 * searched by bisection. Adding or removing moves the tail (a memmove), so
 * it is meant for debugging, not for the default's speed.
 */
export class LiveBlocks {
  private starts = new Float64Array(64);
  private ends = new Float64Array(64);
  /** Live blocks recorded. */
  count = 0;

  /** A copy (a forked child inherits its parent's live blocks). */
  clone(): LiveBlocks {
    const c = new LiveBlocks();
    c.starts = this.starts.slice();
    c.ends = this.ends.slice();
    c.count = this.count;
    return c;
  }

  /** The first index whose start is >= `va`. */
  private lowerBound(va: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.starts[mid] as number) < va) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** True when block `j` exists and overlaps [start, end). */
  private overlaps(j: number, start: number, end: number): boolean {
    return j >= 0 && j < this.count && (this.starts[j] as number) < end && start < (this.ends[j] as number);
  }

  /** Records [start, end). Returns null, or (recording nothing) what it overlaps. */
  add(start: number, end: number): string | null {
    const i = this.lowerBound(start);
    const clash = this.overlaps(i - 1, start, end) ? i - 1 : this.overlaps(i, start, end) ? i : -1;
    if (clash >= 0)
      return `which overlaps the live block ${hex(this.starts[clash] as number)}-${hex(this.ends[clash] as number)} it handed out before`;
    if (this.count === this.starts.length) {
      const grow = (a: Float64Array) => {
        const b = new Float64Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.starts = grow(this.starts);
      this.ends = grow(this.ends);
    }
    this.starts.copyWithin(i + 1, i, this.count);
    this.ends.copyWithin(i + 1, i, this.count);
    this.starts[i] = start;
    this.ends[i] = end;
    this.count++;
    return null;
  }

  /** Forgets the block starting at `start`; false when there is none (a free of no block: the program's bug, the layer's to judge). */
  remove(start: number): boolean {
    const i = this.lowerBound(start);
    if (i >= this.count || this.starts[i] !== start) return false;
    this.starts.copyWithin(i, i + 1, this.count);
    this.ends.copyWithin(i, i + 1, this.count);
    this.count--;
    return true;
  }
}

/** The watch of one process's malloc layer; see the file comment. */
export class KernelMallocWatch implements MallocWatch {
  /** The process's address space (its brk bounds are the fast path). */
  private readonly mm: MmStruct;
  private readonly pid: number;

  constructor(
    p: Process,
    private readonly k: KernelApi,
    private readonly debugVm: number,
    /** The live blocks (debugVm >= 2), else null. */
    readonly live: LiveBlocks | null = debugVm >= 2 ? new LiveBlocks() : null,
    /** Allocation-site tracking (alloc_sites.ts): one flag test per call while it is off. */
    private readonly sites: UserSiteHook = NO_SITES,
  ) {
    this.mm = p.mm;
    this.pid = p.pid;
  }

  allocated(p: number, n: number): string | null {
    if (this.sites.user) this.sites.userAlloc(this.pid, p, n);
    if (this.debugVm === 0) return null;
    const end = p + (n > 0 ? n : 1);
    const mm = this.mm;
    if (!(p >= mm.startBrk && end <= mm.brk)) {
      const why = this.outsideWritable(p, end);
      if (why !== null) return why;
    }
    return this.live === null ? null : this.live.add(p, end);
  }

  /** Null when every byte of [start, end) is in a writable VMA, else which byte is not. */
  private outsideWritable(start: number, end: number): string | null {
    const k = this.k;
    for (let va = start; va < end; ) {
      const vma = k.findVma(this.mm, va);
      if (vma === 0) return `outside every writable mapping of the process (${hex(va)} is not mapped)`;
      if (!(k.vmaFlags(vma) & k.VM_WRITE))
        return `outside every writable mapping of the process (${hex(va)} is in a mapping without write permission)`;
      va = k.vmaEnd(vma);
    }
    return null;
  }

  released(p: number): void {
    if (this.sites.user) this.sites.userFree(this.pid, p);
    this.live?.remove(p);
  }

  fault(message: string, cause?: unknown): never {
    throw new LayerFault("malloc", message, cause === undefined ? undefined : { cause });
  }

  passes(e: unknown): boolean {
    return (
      e instanceof ProcessKilled ||
      e instanceof LayerFault ||
      e instanceof KernelPanic ||
      e instanceof InvariantViolation ||
      e instanceof ProcessGone
    );
  }

  fork(child: UserProcess): MallocWatch {
    if (!(child instanceof Process)) throw new TypeError("KernelMallocWatch.fork: the child must be a kernel Process");
    return new KernelMallocWatch(child, this.k, this.debugVm, this.live === null ? null : this.live.clone(), this.sites);
  }
}
