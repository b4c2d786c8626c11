/**
 * Epoch-based reclamation (Fraser's EBR) over another allocator: the answer
 * to "when may I free a block that a concurrent reader may still be
 * reading?" in userspace, where no grace periods come from the kernel.
 *
 * Readers bracket every access to shared blocks with enter(thread) and
 * exit(thread); a writer that unlinks a block calls retire(ptr, size)
 * instead of free. A thread that enters announces the global epoch it saw.
 * The global epoch moves from e to e + 1 only when every thread inside a
 * critical region has announced e; so once it reaches e + 2, no thread can
 * still hold a pointer it found while the epoch was e, and the blocks
 * retired in e go back to the inner allocator. malloc, free and realloc
 * are the inner allocator's (free is immediate, for blocks nobody else saw).
 *
 * Everything lives in the process's memory: the root block (from the inner
 * allocator) and one 32-byte limbo node per retired block; a retired block's
 * own bytes are never written, since readers may still read them.
 *
 *   root +0  magic "EBR0" (u32)    +4 global epoch (u32)
 *        +8  limbo[0..2] (u64 each): retired nodes by epoch mod 3
 *       +32  retired, not yet freed (u32)   +36 epochs advanced (u32)
 *       +40  thread slots, 8 bytes each: active (u32), announced epoch (u32)
 *
 *   node +0 block (u64)  +8 next node (u64)  +16 size (u32)  +20 epoch (u32)
 */
import type { UserProcess } from "../env.ts";
import type { Allocator, AllocatorStats, HeapCensus } from "./allocator.ts";
import { HeapCorruption } from "./allocator.ts";
import { hex, load64, store64 } from "./heap.ts";

const MAGIC = 0x30524245; // "EBR0"
const R_EPOCH = 4;
const R_LIMBO = 8;
const R_RETIRED = 32;
const R_ADVANCED = 36;
const R_SLOTS = 40;
const N_BLOCK = 0;
const N_NEXT = 8;
const N_SIZE = 16;
const N_EPOCH = 20;
const NODE_BYTES = 32;

/** Threads an EBR heap tracks (slots 0..MAX_THREADS-1). */
export const EBR_MAX_THREADS = 16;

/** Options of {@link createEbr}. */
export interface EbrOptions {
  /** Threads that may enter (default 4, at most EBR_MAX_THREADS). */
  threads?: number;
}

/** The EBR heap: the common interface plus enter/exit/retire. */
export class EbrAllocator implements Allocator {
  readonly name = "ebr";
  readonly proc: UserProcess;
  readonly threads: number;
  /** The root block's address (0 until the first call made it). */
  private root = 0;

  constructor(
    private readonly inner: Allocator,
    opts: EbrOptions,
  ) {
    this.proc = inner.proc;
    this.threads = opts.threads ?? 4;
    if (!Number.isInteger(this.threads) || this.threads < 1 || this.threads > EBR_MAX_THREADS)
      throw new RangeError(`ebr: threads must be 1..${EBR_MAX_THREADS}, got ${this.threads}`);
  }

  malloc(size: number): number {
    return this.inner.malloc(size);
  }

  free(ptr: number, size: number): void {
    this.inner.free(ptr, size);
  }

  realloc(ptr: number, oldSize: number, newSize: number): number {
    return this.inner.realloc(ptr, oldSize, newSize);
  }

  /** Thread `t` starts reading shared blocks: it announces the global epoch. Returns false when the root cannot be had. */
  enter(t: number): boolean {
    const r = this.rootAddr();
    if (r === 0) return false;
    const mem = this.proc.mem;
    const slot = this.slot(t);
    mem.write32(slot, 1);
    mem.write32(slot + 4, mem.read32(r + R_EPOCH));
    return true;
  }

  /** Thread `t` holds no pointer to a shared block any more; then the epoch may advance. */
  exit(t: number): void {
    if (this.rootAddr() === 0) return;
    this.proc.mem.write32(this.slot(t), 0);
    this.tryAdvance();
  }

  /**
   * Frees `ptr` (asked as `size`) once no thread can still read it. Returns
   * false (nothing retired, the block still the caller's) when no limbo node
   * can be had.
   */
  retire(ptr: number, size: number): boolean {
    const r = this.rootAddr();
    if (r === 0 || ptr === 0) return false;
    const node = this.inner.malloc(NODE_BYTES);
    if (node === 0) return false;
    const mem = this.proc.mem;
    const epoch = mem.read32(r + R_EPOCH);
    const head = r + R_LIMBO + (epoch % 3) * 8;
    store64(mem, node + N_BLOCK, ptr);
    store64(mem, node + N_NEXT, load64(mem, head));
    mem.write32(node + N_SIZE, size);
    mem.write32(node + N_EPOCH, epoch);
    store64(mem, head, node);
    mem.write32(r + R_RETIRED, mem.read32(r + R_RETIRED) + 1);
    this.tryAdvance();
    return true;
  }

  /**
   * Advances the global epoch when every active thread has announced it,
   * freeing the blocks retired two epochs ago. Returns whether it advanced.
   */
  tryAdvance(): boolean {
    const r = this.root;
    if (r === 0) return false;
    const mem = this.proc.mem;
    const epoch = mem.read32(r + R_EPOCH);
    for (let t = 0; t < this.threads; t++) {
      const slot = this.slot(t);
      if (mem.read32(slot) !== 0 && mem.read32(slot + 4) !== epoch) return false;
    }
    const next = (epoch + 1) >>> 0;
    // A reader that found a block retired in epoch - 1 announced epoch - 1 at the latest; every
    // active thread has announced `epoch` since, so it has left: epoch - 1's blocks are free now.
    this.freeLimbo(((epoch + 2) % 3) as 0 | 1 | 2);
    mem.write32(r + R_EPOCH, next);
    mem.write32(r + R_ADVANCED, mem.read32(r + R_ADVANCED) + 1);
    return true;
  }

  /** The global epoch. */
  epoch(): number {
    return this.root === 0 ? 0 : this.proc.mem.read32(this.root + R_EPOCH);
  }

  /** Blocks retired and not yet given back. */
  pending(): number {
    return this.root === 0 ? 0 : this.proc.mem.read32(this.root + R_RETIRED);
  }

  private freeLimbo(i: 0 | 1 | 2): void {
    const mem = this.proc.mem;
    const head = this.root + R_LIMBO + i * 8;
    let node = load64(mem, head);
    store64(mem, head, 0);
    let n = 0;
    while (node !== 0) {
      const next = load64(mem, node + N_NEXT);
      this.inner.free(load64(mem, node + N_BLOCK), mem.read32(node + N_SIZE));
      this.inner.free(node, NODE_BYTES);
      node = next;
      n++;
    }
    mem.write32(this.root + R_RETIRED, mem.read32(this.root + R_RETIRED) - n);
  }

  private slot(t: number): number {
    if (!Number.isInteger(t) || t < 0 || t >= this.threads) throw new RangeError(`ebr: no thread slot ${t} (have ${this.threads})`);
    return this.root + R_SLOTS + t * 8;
  }

  /** The root, made on first use; 0 when the inner allocator has no memory. */
  private rootAddr(): number {
    if (this.root !== 0) return this.root;
    const bytes = R_SLOTS + this.threads * 8;
    const r = this.inner.malloc(bytes);
    if (r === 0) return 0;
    const mem = this.proc.mem;
    for (let off = 0; off < bytes; off += 4) mem.write32(r + off, 0);
    mem.write32(r, MAGIC);
    this.root = r;
    return r;
  }

  /**
   * The inner heap's checker, then EBR-1 (root magic), EBR-2 (a limbo node in
   * the wrong list or from a future epoch, or older than two epochs) and
   * EBR-3 (the retired count against the lists).
   */
  check(): void {
    this.inner.check();
    const r = this.root;
    if (r === 0) return;
    const mem = this.proc.mem;
    if (mem.read32(r) !== MAGIC) throw new HeapCorruption("EBR-1", `root ${hex(r)} has lost its magic`);
    const epoch = mem.read32(r + R_EPOCH);
    let count = 0;
    for (let i = 0; i < 3; i++) {
      for (let node = load64(mem, r + R_LIMBO + i * 8); node !== 0; node = load64(mem, node + N_NEXT)) {
        const e = mem.read32(node + N_EPOCH);
        if (e % 3 !== i || e > epoch || epoch - e > 1)
          throw new HeapCorruption("EBR-2", `limbo node ${hex(node)} of epoch ${e} on list ${i} at epoch ${epoch}`);
        if (++count > mem.read32(r + R_RETIRED)) break;
      }
    }
    if (count !== mem.read32(r + R_RETIRED))
      throw new HeapCorruption("EBR-3", `retired count ${mem.read32(r + R_RETIRED)}, ${count} on the lists`);
  }

  stats(): AllocatorStats {
    return this.inner.stats();
  }

  census(): HeapCensus | null {
    return this.inner.census?.() ?? null;
  }
}

/** An EBR heap over `inner` (default: the segregated allocator's, made by the caller). */
export function createEbr(inner: Allocator, opts: EbrOptions = {}): EbrAllocator {
  return new EbrAllocator(inner, opts);
}
