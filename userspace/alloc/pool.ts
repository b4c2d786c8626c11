/**
 * Pool allocator: blocks of one fixed size carved from the brk heap, the free
 * ones kept on a stack threaded through the blocks themselves (a free block's
 * first word points to the next free block), as in a slab freelist. Blocks
 * are carved lazily from the untouched tail, so growing the heap writes
 * nothing. Requests larger than a block go to their own mapping (large.ts),
 * like kmalloc above its largest cache, unless `oversize: "fail"`.
 *
 *   heap:  [root][block 0][block 1] ... [block n-1)(... untouched ...) end = break
 *                 ^start                          ^carve
 *
 *   free block:  +0 next free (u64)   +8 FREE_TAG (u32)   (blockSize >= 16)
 *
 *   root + R_OWN + 0  block size (u32)   +4 free count (u32)
 *                  8  free stack top (u64)
 *                 16  start (u64)  first block
 *                 24  carve (u64)  first never-used byte
 *                 32  end (u64)    end of the pool == the break
 */
import type { UserProcess } from "../env.ts";
import { type Allocator, type AllocatorStats, type HeapCensus, HeapCorruption, reallocByMove } from "./allocator.ts";
import { alignUp, HeapCore, hex, KIND_POOL, load64, PAGE_SIZE, R_OWN, store64 } from "./heap.ts";
import { largeAlloc, largeCheck, largeFree, largeRealloc } from "./large.ts";

const P_BSIZE = R_OWN;
const P_NFREE = R_OWN + 4;
const P_HEAD = R_OWN + 8;
const P_START = R_OWN + 16;
const P_CARVE = R_OWN + 24;
const P_END = R_OWN + 32;
const ROOT_BYTES = R_OWN + 40;

const B_NEXT = 0;
const B_TAG = 8;
/** Written into every free block, so the checker can tell free from live. */
const FREE_TAG = 0x45455246; // "FREE"

/** Options of {@link createPool}. */
export interface PoolOptions {
  /** Bytes per block, a multiple of 16 (default 64). */
  blockSize?: number;
  /** Blocks carved per heap growth (default: a page's worth, at least 1). */
  blocksPerGrow?: number;
  /** What a request above blockSize gets: its own mapping (default) or 0. */
  oversize?: "mmap" | "fail";
}

class PoolAllocator implements Allocator {
  readonly name = "pool";
  readonly proc: UserProcess;
  private readonly core: HeapCore;
  private readonly bsize: number;
  private readonly growBytes: number;
  private readonly oversize: "mmap" | "fail";

  constructor(proc: UserProcess, opts: PoolOptions) {
    this.proc = proc;
    this.core = new HeapCore(proc, "pool", KIND_POOL, ROOT_BYTES);
    this.bsize = opts.blockSize ?? 64;
    if (!Number.isInteger(this.bsize) || this.bsize < 16 || this.bsize % 16 !== 0)
      throw new RangeError(`pool: blockSize ${this.bsize} is not a multiple of 16`);
    const per = opts.blocksPerGrow ?? Math.max(1, Math.floor(PAGE_SIZE / this.bsize));
    if (!Number.isInteger(per) || per < 1) throw new RangeError(`pool: blocksPerGrow ${per} is not a positive integer`);
    this.growBytes = alignUp(per * this.bsize, PAGE_SIZE);
    this.oversize = opts.oversize ?? "mmap";
  }

  private get(off: number): number {
    return load64(this.core.mem, this.core.root + off);
  }

  private set(off: number, v: number): void {
    store64(this.core.mem, this.core.root + off, v);
  }

  private init(): boolean {
    const c = this.core;
    if (!c.setup()) return false;
    c.mem.write32(c.root + P_BSIZE, this.bsize);
    const start = c.rootEnd();
    this.set(P_START, start);
    this.set(P_CARVE, start);
    this.set(P_END, start);
    return true;
  }

  malloc(size: number): number {
    if (size > this.bsize) {
      if (this.oversize === "fail") return 0;
      if (this.core.root === 0 && !this.init()) return 0;
      const p = largeAlloc(this.core, size);
      if (p !== 0) this.core.addLive(size);
      return p;
    }
    if (this.core.root === 0 && !this.init()) return 0;
    const m = this.core.mem;
    const root = this.core.root;
    let b = load64(m, root + P_HEAD);
    if (b !== 0) {
      store64(m, root + P_HEAD, load64(m, b + B_NEXT));
      m.write32(b + B_TAG, 0);
      m.write32(root + P_NFREE, m.read32(root + P_NFREE) - 1);
    } else {
      b = this.carve();
      if (b === 0) return 0;
    }
    this.core.addLive(size);
    return b;
  }

  /** A never-used block from the tail, growing the heap when the tail is empty; 0 when brk fails. */
  private carve(): number {
    const b = this.get(P_CARVE);
    const end = this.get(P_END);
    if (b + this.bsize > end) {
      const old = this.core.sbrk(this.growBytes);
      if (old === -1) return 0;
      if (old !== end) {
        this.core.sbrk(-this.growBytes);
        return 0;
      }
      this.set(P_END, end + this.growBytes);
    }
    this.set(P_CARVE, b + this.bsize);
    return b;
  }

  /** Aborts the process unless `p` is a carved block. */
  private validate(p: number): void {
    const root = this.core.root;
    const start = root === 0 ? 0 : this.get(P_START);
    if (root === 0 || p < start || p >= this.get(P_CARVE) || (p - start) % this.bsize !== 0) {
      this.proc.abort("pool: free(): invalid pointer");
    }
  }

  free(p: number, size: number): void {
    if (p === 0) return;
    if (size > this.bsize) {
      if (this.core.root === 0) this.proc.abort("pool: free(): invalid pointer");
      largeFree(this.core, p);
      this.core.addLive(-size);
      return;
    }
    this.validate(p);
    const m = this.core.mem;
    const root = this.core.root;
    this.core.addLive(-size);
    store64(m, p + B_NEXT, load64(m, root + P_HEAD));
    m.write32(p + B_TAG, FREE_TAG);
    store64(m, root + P_HEAD, p);
    m.write32(root + P_NFREE, m.read32(root + P_NFREE) + 1);
  }

  realloc(p: number, oldSize: number, newSize: number): number {
    if (p === 0) return this.malloc(newSize);
    const oldBig = oldSize > this.bsize;
    const newBig = newSize > this.bsize;
    if (!oldBig && !newBig) {
      this.validate(p);
      this.core.addLive(newSize - oldSize);
      return p;
    }
    if (oldBig && newBig) {
      const q = largeRealloc(this.core, p, oldSize, newSize);
      if (q !== 0) this.core.addLive(newSize - oldSize);
      return q;
    }
    return reallocByMove(this, p, oldSize, newSize);
  }

  check(): void {
    const c = this.core;
    if (c.root === 0) return;
    const m = c.mem;
    const large = largeCheck(c);
    c.checkRoot(large.bytes);
    const start = this.get(P_START);
    const carve = this.get(P_CARVE);
    const end = this.get(P_END);
    if (m.read32(c.root + P_BSIZE) !== this.bsize) throw new HeapCorruption("POOL-1", "block size in the root changed");
    if (start !== c.rootEnd() || !(start <= carve && carve <= end) || end !== c.curbrk() || (carve - start) % this.bsize !== 0) {
      throw new HeapCorruption("POOL-1", `start ${hex(start)} <= carve ${hex(carve)} <= end ${hex(end)} == break fails`);
    }
    const carved = (carve - start) / this.bsize;
    const seen = new Uint8Array(carved);
    let n = 0;
    for (let b = this.get(P_HEAD); b !== 0; b = load64(m, b + B_NEXT)) {
      if (b < start || b >= carve || (b - start) % this.bsize !== 0)
        throw new HeapCorruption("POOL-2", `free stack entry ${hex(b)} is not a carved block`);
      const i = (b - start) / this.bsize;
      if (seen[i]) throw new HeapCorruption("POOL-3", `block ${hex(b)} is on the free stack twice`);
      seen[i] = 1;
      if (m.read32(b + B_TAG) !== FREE_TAG) throw new HeapCorruption("POOL-4", `free block ${hex(b)} lost its tag (written after free?)`);
      n++;
    }
    if (n !== m.read32(c.root + P_NFREE))
      throw new HeapCorruption("POOL-5", `free stack holds ${n} blocks, the root counts ${m.read32(c.root + P_NFREE)}`);
    c.checkLive((carved - n) * this.bsize + large.capacity);
  }

  stats(): AllocatorStats {
    return this.core.stats();
  }

  /** Granted: carved blocks off the free stack plus large mappings; free: the stack and the uncarved tail (each serves one block). */
  census(): HeapCensus {
    const c = this.core;
    if (c.root === 0) return { grantedBytes: 0, freeBytes: 0, largestFreeBytes: 0 };
    const carved = (this.get(P_CARVE) - this.get(P_START)) / this.bsize;
    const nfree = c.mem.read32(c.root + P_NFREE);
    const free = nfree * this.bsize + (this.get(P_END) - this.get(P_CARVE));
    const granted = (carved - nfree) * this.bsize + largeCheck(c).capacity;
    return { grantedBytes: granted, freeBytes: free, largestFreeBytes: free >= this.bsize ? this.bsize : 0 };
  }
}

/** A pool of fixed-size blocks in `proc`'s brk heap. Throws RangeError naming a bad option. */
export function createPool(proc: UserProcess, opts: PoolOptions = {}): Allocator {
  return new PoolAllocator(proc, opts);
}
