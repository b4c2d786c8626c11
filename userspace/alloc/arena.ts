/**
 * Bump (arena) allocator: one pointer moves up through the brk heap. No
 * per-block header; free only pops the newest block (a stack discipline) and
 * otherwise leaves its bytes unused until reset() or restore().
 * Checkpoints record the bump pointer; restore(k) drops every block
 * allocated since checkpoint k at once, as obstack_free and region
 * allocators do.
 *
 *   heap:  [root][base ....... blocks ........ top) (.... free ....) end = break
 *
 *   root + R_OWN + 0   base  (u64)  first byte handed out
 *                  8   top   (u64)  next free byte (before alignment)
 *                 16   end   (u64)  end of the arena == the break
 *                 24   depth (u32)  checkpoints taken (0..MAX_CHECKPOINTS)
 *                 32   level[0 .. MAX_CHECKPOINTS], 16 bytes each:
 *                      +0 mark (u64)  top when the level began (level 0: base)
 *                      +8 live (u64)  payload bytes allocated in this level, not freed
 *
 * A block belongs to the highest level whose mark is <= its address, so a
 * sized free knows which level's live count to lower, and restore(k) knows
 * exactly how many live bytes it drops.
 */
import type { UserProcess } from "../env.ts";
import { type Allocator, type AllocatorStats, type HeapCensus, HeapCorruption, reallocByMove } from "./allocator.ts";
import { ALIGN, alignUp, HeapCore, hex, KIND_ARENA, load64, PAGE_SIZE, R_LIVE, R_OWN, store64 } from "./heap.ts";

/** Checkpoints an arena can hold at once. */
export const MAX_CHECKPOINTS = 16;

const A_BASE = R_OWN;
const A_TOP = R_OWN + 8;
const A_END = R_OWN + 16;
const A_DEPTH = R_OWN + 24;
const A_LEVELS = R_OWN + 32;
const LEVEL_BYTES = 16;
const ROOT_BYTES = A_LEVELS + (MAX_CHECKPOINTS + 1) * LEVEL_BYTES;

/** Options of {@link createArena}. */
export interface ArenaOptions {
  /** Payload alignment, a power of two >= 16 (default 16). */
  align?: number;
  /** The heap grows in multiples of this many bytes (a page multiple, default 4096). */
  growBytes?: number;
}

/** An arena: an Allocator plus reset and checkpoints. */
export interface Arena extends Allocator {
  /** Drops every block; the heap keeps its size. */
  reset(): void;
  /** Records the bump pointer; returns the checkpoint's level (1..16), or 0 when 16 are held or the heap cannot be set up. */
  checkpoint(): number;
  /** Drops every block allocated since checkpoint `level` and that checkpoint with them. Aborts the process on an unknown level. */
  restore(level: number): void;
}

class ArenaAllocator implements Arena {
  readonly name = "arena";
  readonly proc: UserProcess;
  private readonly core: HeapCore;
  private readonly align: number;
  private readonly growBytes: number;

  constructor(proc: UserProcess, opts: ArenaOptions) {
    this.proc = proc;
    this.core = new HeapCore(proc, "arena", KIND_ARENA, ROOT_BYTES);
    this.align = opts.align ?? ALIGN;
    this.growBytes = opts.growBytes ?? PAGE_SIZE;
    if (this.align < ALIGN || (this.align & (this.align - 1)) !== 0)
      throw new RangeError(`arena: align ${this.align} is not a power of two >= 16`);
    if (this.growBytes <= 0 || this.growBytes % PAGE_SIZE !== 0)
      throw new RangeError(`arena: growBytes ${this.growBytes} is not a page multiple`);
  }

  private init(): boolean {
    const c = this.core;
    if (!c.setup()) return false;
    const base = c.rootEnd();
    store64(c.mem, c.root + A_BASE, base);
    store64(c.mem, c.root + A_TOP, base);
    store64(c.mem, c.root + A_END, base);
    store64(c.mem, c.root + A_LEVELS, base);
    return true;
  }

  private get(off: number): number {
    return load64(this.core.mem, this.core.root + off);
  }

  private set(off: number, v: number): void {
    store64(this.core.mem, this.core.root + off, v);
  }

  private depth(): number {
    return this.core.mem.read32(this.core.root + A_DEPTH);
  }

  private level(i: number): number {
    return this.core.root + A_LEVELS + i * LEVEL_BYTES;
  }

  /** The level a block at `p` belongs to. */
  private levelOf(p: number): number {
    let i = this.depth();
    while (i > 0 && load64(this.core.mem, this.level(i)) > p) i--;
    return i;
  }

  private addLevelLive(i: number, delta: number): void {
    const va = this.level(i) + 8;
    const v = load64(this.core.mem, va) + delta;
    if (v < 0) this.proc.abort("arena: free(): size larger than what is allocated");
    store64(this.core.mem, va, v);
    this.core.addLive(delta);
  }

  /** Moves the break so the arena ends at or beyond `need`. Returns false when brk fails. */
  private grow(need: number): boolean {
    const end = this.get(A_END);
    const incr = alignUp(need - end, this.growBytes);
    const old = this.core.sbrk(incr);
    if (old === -1) return false;
    if (old !== end) {
      this.core.sbrk(-incr); // someone else moved the break: the space is not contiguous
      return false;
    }
    this.set(A_END, end + incr);
    return true;
  }

  malloc(size: number): number {
    if (this.core.root === 0 && !this.init()) return 0;
    const p = alignUp(this.get(A_TOP), this.align);
    const end = p + Math.max(size, 1);
    if (end > this.get(A_END) && !this.grow(end)) return 0;
    this.set(A_TOP, end);
    this.addLevelLive(this.depth(), size);
    return p;
  }

  private validate(p: number): void {
    if (this.core.root === 0 || p < this.get(A_BASE) || p >= this.get(A_TOP) || p % this.align !== 0) {
      this.proc.abort("arena: free(): invalid pointer");
    }
  }

  free(p: number, size: number): void {
    if (p === 0) return;
    this.validate(p);
    const lvl = this.levelOf(p);
    this.addLevelLive(lvl, -size);
    if (p + Math.max(size, 1) === this.get(A_TOP) && lvl === this.depth()) this.set(A_TOP, p);
  }

  realloc(p: number, oldSize: number, newSize: number): number {
    if (p === 0) return this.malloc(newSize);
    this.validate(p);
    const lvl = this.levelOf(p);
    if (p + Math.max(oldSize, 1) === this.get(A_TOP) && lvl === this.depth()) {
      const end = p + Math.max(newSize, 1);
      if (end > this.get(A_END) && !this.grow(end)) return 0;
      this.set(A_TOP, end);
      this.addLevelLive(lvl, newSize - oldSize);
      return p;
    }
    if (newSize <= oldSize) {
      this.addLevelLive(lvl, newSize - oldSize);
      return p;
    }
    return reallocByMove(this, p, oldSize, newSize);
  }

  reset(): void {
    if (this.core.root === 0) return;
    const base = this.get(A_BASE);
    this.core.mem.write32(this.core.root + A_DEPTH, 0);
    this.set(A_TOP, base);
    store64(this.core.mem, this.level(0) + 8, 0);
    this.set(R_LIVE, 0);
  }

  checkpoint(): number {
    if (this.core.root === 0 && !this.init()) return 0;
    const d = this.depth();
    if (d === MAX_CHECKPOINTS) return 0;
    store64(this.core.mem, this.level(d + 1), this.get(A_TOP));
    store64(this.core.mem, this.level(d + 1) + 8, 0);
    this.core.mem.write32(this.core.root + A_DEPTH, d + 1);
    return d + 1;
  }

  restore(level: number): void {
    const d = this.core.root === 0 ? 0 : this.depth();
    if (!Number.isInteger(level) || level < 1 || level > d) this.proc.abort(`arena: restore(): no checkpoint ${level}`);
    let dropped = 0;
    for (let i = level; i <= d; i++) dropped += load64(this.core.mem, this.level(i) + 8);
    this.set(A_TOP, load64(this.core.mem, this.level(level)));
    this.core.mem.write32(this.core.root + A_DEPTH, level - 1);
    this.core.addLive(-dropped);
  }

  check(): void {
    const c = this.core;
    if (c.root === 0) return;
    c.checkRoot(0);
    const base = this.get(A_BASE);
    const top = this.get(A_TOP);
    const end = this.get(A_END);
    if (base !== c.rootEnd()) throw new HeapCorruption("ARENA-1", `base ${hex(base)} is not the end of the root ${hex(c.rootEnd())}`);
    if (!(base <= top && top <= end)) throw new HeapCorruption("ARENA-2", `base ${hex(base)} <= top ${hex(top)} <= end ${hex(end)} fails`);
    if (end !== c.curbrk()) throw new HeapCorruption("ARENA-3", `end ${hex(end)} is not the break ${hex(c.curbrk())}`);
    const d = this.depth();
    if (d > MAX_CHECKPOINTS) throw new HeapCorruption("ARENA-4", `depth ${d} exceeds ${MAX_CHECKPOINTS}`);
    if (load64(c.mem, this.level(0)) !== base) throw new HeapCorruption("ARENA-5", "level 0 does not start at base");
    let live = 0;
    for (let i = 0; i <= d; i++) {
      const mark = load64(c.mem, this.level(i));
      const next = i === d ? top : load64(c.mem, this.level(i + 1));
      if (next < mark) throw new HeapCorruption("ARENA-5", `checkpoint marks out of order at level ${i + 1}`);
      const l = load64(c.mem, this.level(i) + 8);
      if (l > next - mark) throw new HeapCorruption("ARENA-6", `level ${i} holds ${l} live bytes in ${next - mark} bytes`);
      live += l;
    }
    if (live !== this.get(R_LIVE)) throw new HeapCorruption("ARENA-7", `levels hold ${live} live bytes, the root says ${this.get(R_LIVE)}`);
  }

  stats(): AllocatorStats {
    return this.core.stats();
  }

  /** Everything below top counts as granted (a freed block that was not the newest stays there until reset); free is top..end. */
  census(): HeapCensus {
    if (this.core.root === 0) return { grantedBytes: 0, freeBytes: 0, largestFreeBytes: 0 };
    const free = this.get(A_END) - this.get(A_TOP);
    return { grantedBytes: this.get(A_TOP) - this.get(A_BASE), freeBytes: free, largestFreeBytes: free };
  }
}

/** A bump allocator in `proc`'s brk heap. Throws RangeError naming a bad option. */
export function createArena(proc: UserProcess, opts: ArenaOptions = {}): Arena {
  return new ArenaAllocator(proc, opts);
}
