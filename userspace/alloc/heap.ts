/**
 * What every teaching allocator shares: its root (control block) at the start
 * of its brk heap, the AllocatorStats counters kept in that root, 64-bit
 * loads and stores, and the only ways an allocator gets memory: sbrk on a
 * cached break, anonymous mmap, munmap. Everything lives in the process's
 * memory; the JS object holds only the root's address and constant options,
 * as a C library holds one pointer to its state.
 *
 * Words: heap = the bytes this allocator got from brk; mapping = an anonymous
 * mmap; root = the control block at the start of the heap.
 *
 *   root + 0  +----------------+----------------+
 *             | magic (u32)    | kind (u32)     |
 *        8    | heap start (u64): first byte got from brk           |
 *       16    | current break (u64), cached like glibc's __curbrk    |
 *       24    | mmapped bytes (u64), page-rounded                    |
 *       32    | peak heap bytes (u64): max of brk heap + mmapped     |
 *       40    | live bytes (u64): payload asked for and not freed    |
 *       48    | syscalls (u64): brk, mmap and munmap calls made      |
 *       56    | large list (u64): first mmapped large block, large.ts |
 *       64    +-----------------------------------------------------+
 *             | the allocator's own fields ...                      |
 */
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../kernel/uapi/mman.ts";
import type { UserMemory, UserProcess, UserSyscalls } from "../env.ts";
import { type AllocatorStats, HeapCorruption } from "./allocator.ts";

/** sysconf(_SC_PAGESIZE). */
export const PAGE_SIZE = 4096;
/** Payload alignment every allocator guarantees. */
export const ALIGN = 16;

const ROOT_MAGIC = 0x544f4f52; // "ROOT"
export const R_MAGIC = 0;
export const R_KIND = 4;
export const R_HEAP_START = 8;
export const R_CURBRK = 16;
export const R_MMAPPED = 24;
export const R_PEAK = 32;
export const R_LIVE = 40;
export const R_SYSCALLS = 48;
export const R_LARGE = 56;
/** First byte of the allocator's own root fields. */
export const R_OWN = 64;

/** Loads the u64 at `va` (values below 2^53). */
export function load64(mem: UserMemory, va: number): number {
  return mem.read32(va) + mem.read32(va + 4) * 0x1_0000_0000;
}

/** Stores `v` (a non-negative safe integer) as a u64 at `va`. */
export function store64(mem: UserMemory, va: number, v: number): void {
  mem.write32(va, v >>> 0);
  mem.write32(va + 4, Math.floor(v / 0x1_0000_0000));
}

/** Rounds `n` up to a multiple of the power of two `a` (exact for safe integers). */
export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** True when -4095 <= r <= -1: a raw syscall's error range. */
function isErr(r: number): boolean {
  return r < 0 && r > -4096;
}

/**
 * One allocator's heap: its process, its root, and the syscalls that grow
 * and shrink it. Allocators own one HeapCore and keep `core.root`.
 */
export class HeapCore {
  readonly mem: UserMemory;
  readonly sys: UserSyscalls;
  /** The root's address; 0 until {@link setup} ran. */
  root = 0;

  constructor(
    readonly proc: UserProcess,
    readonly name: string,
    private readonly kind: number,
    private readonly rootBytes: number,
  ) {
    this.mem = proc.mem;
    this.sys = proc.sys;
  }

  /**
   * Creates the root at the current break (16-byte aligned, zeroed fields),
   * as libc sets up malloc on its first call. Returns false when brk fails.
   */
  setup(): boolean {
    const start = this.sys.brk(0);
    const root = alignUp(start, ALIGN);
    const end = root + alignUp(this.rootBytes, ALIGN);
    if (this.sys.brk(end) !== end) return false;
    const m = this.mem;
    m.fill(root, 0, end - root);
    m.write32(root + R_MAGIC, ROOT_MAGIC);
    m.write32(root + R_KIND, this.kind);
    store64(m, root + R_HEAP_START, start);
    store64(m, root + R_CURBRK, end);
    store64(m, root + R_PEAK, end - start);
    store64(m, root + R_SYSCALLS, 2);
    this.root = root;
    return true;
  }

  /** End of the root: the first byte the allocator may use. */
  rootEnd(): number {
    return this.root + alignUp(this.rootBytes, ALIGN);
  }

  /** The cached break. */
  curbrk(): number {
    return load64(this.mem, this.root + R_CURBRK);
  }

  /**
   * sbrk(3) on the cached break: moves it by `incr` (may be negative) and
   * returns the old break. Returns -1 when the kernel refuses.
   */
  sbrk(incr: number): number {
    const m = this.mem;
    const old = load64(m, this.root + R_CURBRK);
    this.countSyscall();
    const got = this.sys.brk(old + incr);
    if (got !== old + incr) return -1;
    store64(m, this.root + R_CURBRK, got);
    if (incr > 0) this.notePeak();
    return old;
  }

  /** An anonymous private read-write mapping of `len` bytes; 0 when mmap fails. */
  mmap(len: number): number {
    this.countSyscall();
    const a = this.sys.mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (isErr(a)) return 0;
    this.addMmapped(alignUp(len, PAGE_SIZE));
    return a;
  }

  /** Unmaps [addr, addr + len) (page aligned), which this allocator mapped. */
  munmap(addr: number, len: number): void {
    this.countSyscall();
    const r = this.sys.munmap(addr, len);
    if (r !== 0) this.proc.abort(`${this.name}: munmap(0x${addr.toString(16)}, ${len}) failed: ${r}`);
    this.addMmapped(-alignUp(len, PAGE_SIZE));
  }

  /** Adds `delta` to the live payload counter. Aborts the process when a sized free would take it below zero. */
  addLive(delta: number): void {
    const va = this.root + R_LIVE;
    const live = load64(this.mem, va) + delta;
    if (live < 0) this.proc.abort(`${this.name}: free(): size larger than what is allocated`);
    store64(this.mem, va, live);
  }

  /** Bytes got from the kernel now: brk heap plus mappings. */
  heapBytes(): number {
    const m = this.mem;
    const r = this.root;
    return load64(m, r + R_CURBRK) - load64(m, r + R_HEAP_START) + load64(m, r + R_MMAPPED);
  }

  stats(): AllocatorStats {
    if (this.root === 0) return { heapBytes: 0, peakHeapBytes: 0, liveBytes: 0, syscalls: 0 };
    const m = this.mem;
    const r = this.root;
    return {
      heapBytes: this.heapBytes(),
      peakHeapBytes: load64(m, r + R_PEAK),
      liveBytes: load64(m, r + R_LIVE),
      syscalls: load64(m, r + R_SYSCALLS),
    };
  }

  /**
   * Checks the root: magic and kind, the cached break against the kernel's
   * (brk(0) changes nothing), peak >= current. `mmapped` is the allocator's
   * own recount of its mapped bytes. Throws HeapCorruption.
   */
  checkRoot(mmapped: number): void {
    const m = this.mem;
    const r = this.root;
    if (m.read32(r + R_MAGIC) !== ROOT_MAGIC || m.read32(r + R_KIND) !== this.kind) {
      throw new HeapCorruption("HEAP-1", `root at 0x${r.toString(16)} has a bad magic or kind`);
    }
    const brk = this.sys.brk(0);
    if (load64(m, r + R_CURBRK) !== brk) {
      throw new HeapCorruption(
        "HEAP-2",
        `cached break 0x${load64(m, r + R_CURBRK).toString(16)} but the kernel's is 0x${brk.toString(16)}`,
      );
    }
    if (load64(m, r + R_MMAPPED) !== mmapped) {
      throw new HeapCorruption("HEAP-3", `root counts ${load64(m, r + R_MMAPPED)} mmapped bytes, the mappings hold ${mmapped}`);
    }
    if (load64(m, r + R_PEAK) < this.heapBytes()) throw new HeapCorruption("HEAP-4", "peak heap bytes below the current heap");
  }

  /** Throws HEAP-5 when the live payload exceeds `capacity`, the payload bytes the allocator holds for callers. */
  checkLive(capacity: number): void {
    const live = load64(this.mem, this.root + R_LIVE);
    if (live > capacity) throw new HeapCorruption("HEAP-5", `${live} live payload bytes but only ${capacity} bytes are allocated`);
  }

  private addMmapped(delta: number): void {
    const va = this.root + R_MMAPPED;
    store64(this.mem, va, load64(this.mem, va) + delta);
    if (delta > 0) this.notePeak();
  }

  /** Counts one system call the allocator made itself (through `sys`, not these helpers). */
  countSyscall(): void {
    const va = this.root + R_SYSCALLS;
    store64(this.mem, va, load64(this.mem, va) + 1);
  }

  private notePeak(): void {
    const h = this.heapBytes();
    if (h > load64(this.mem, this.root + R_PEAK)) store64(this.mem, this.root + R_PEAK, h);
  }
}

/** Kinds written in the root, so a checker knows whose root it reads. */
export const KIND_ARENA = 1;
export const KIND_POOL = 2;
export const KIND_FREELIST = 3;
export const KIND_SEGREGATED = 4;
export const KIND_BUDDY = 5;
export const KIND_HOARD = 6;
export const KIND_MESH = 7;

/** Hex for messages. */
export function hex(va: number): string {
  return `0x${va.toString(16)}`;
}
