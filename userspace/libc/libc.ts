/**
 * The C library of one process (p.libc): errno, the memory system-call
 * wrappers (syscalls.ts), <string.h> over the MMU (string.ts) and malloc.
 * malloc's work is the malloc layer's (malloc_layer.ts; memsim's own by
 * default, userspace/malloc); this file keeps the C contract around it
 * (errno, argument checks, the edge cases of realloc, the functions a layer
 * may lack) and has every answer of the layer checked. Everything reaches
 * the process only through its UserMemory and UserSyscalls.
 */
import { EINVAL, ENOMEM } from "../../kernel/errno.ts";
import type { UserFileSyscalls } from "../../kernel/uapi/fcntl.ts";
import type { UserMemory, UserProcess } from "../env.ts";
import type { Mallinfo2 } from "../malloc/mallinfo.ts";
import { memsimMalloc } from "../malloc/malloc.ts";
import { isPowerOf2 } from "../malloc/memalign.ts";
import { MALLOC_ALIGNMENT, type MallocEnv, type MallocHeap, type MallocLayer, type MallocWatch, plainWatch } from "./malloc_layer.ts";
import { memcmp, memcpy, memmove, memset, strlen } from "./string.ts";
import { LibcSyscalls } from "./syscalls.ts";
import { LibcFiles } from "./unistd.ts";

/** The largest request: the user half of the address space less two minimum chunks (glibc: PTRDIFF_MAX). */
const MAX_REQUEST = 2 ** 47 - 64;
/** No block reaches past the user address space. */
const USER_END = 2 ** 47;

/** How a Libc is made; every field is optional. */
export interface LibcOptions {
  /** The malloc layer (default: memsim's own, memsimMalloc). */
  malloc?: MallocLayer;
  /** Who judges the layer's answers (default: plainWatch, no kernel behind it). */
  watch?: MallocWatch;
  /** Fork: the parent's libc, whose errno, break and heap (MallocHeap.fork) the new one inherits. */
  parent?: Libc;
}

const EMPTY_MALLINFO: Mallinfo2 = {
  arena: 0,
  ordblks: 0,
  smblks: 0,
  hblks: 0,
  hblkhd: 0,
  usmblks: 0,
  fsmblks: 0,
  uordblks: 0,
  fordblks: 0,
  keepcost: 0,
};

/** The calls whose answer is a block. */
type MallocCall = "malloc" | "calloc" | "realloc" | "memalign" | "free";

/**
 * `p % align !== 0` for 0 < p < 2^47 and a power of two `align`, without a
 * floating-point remainder below 2^31 alignments (a call into C in V8's
 * optimised code once p passes 2^31, as user addresses do): the low bits of
 * an integer double are exact under `&`; a fraction is never aligned.
 */
function misaligned(p: number, align: number): boolean {
  if (align > 2 ** 30) return p % align !== 0;
  return (p & (align - 1)) !== 0 || Math.floor(p) !== p;
}

/** "malloc(100)", "realloc(0x5555...010, 200)": a call as a fault message names it. */
function describeCall(call: MallocCall, a: number, b: number): string {
  if (call === "malloc") return `malloc(${a})`;
  if (call === "free") return `free(${hex(a)})`;
  return call === "realloc" ? `realloc(${hex(a)}, ${b})` : `${call}(${a}, ${b})`;
}

const pageUp = (n: number) => Math.ceil(n / 4096) * 4096;

const hex = (v: unknown) => (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? `0x${v.toString(16)}` : String(v));

/** libc for one process; see the file comment. */
export class Libc extends LibcSyscalls {
  /** The malloc layer's heap (memsim's own is a Malloc: its checker and counters). */
  declare readonly heap: MallocHeap;
  /** Who judges the heap's answers. */
  declare readonly watch: MallocWatch;
  /** What the layer is given: the process's memory and raw system calls through this libc. */
  declare readonly env: MallocEnv;
  /** Bytes the layer holds from the kernel through its MallocEnv (break moves, mappings), and their peak. */
  layerBytes = 0;
  peakLayerBytes = 0;
  declare private readonly mem: UserMemory;
  declare private readonly proc: UserProcess;
  private filesOrNull: LibcFiles | null = null;

  constructor(proc: UserProcess, opts: LibcOptions = {}) {
    super(proc);
    this.proc = proc;
    this.mem = proc.mem;
    this.watch = opts.watch ?? plainWatch;
    this.env = {
      pid: proc.pid,
      mem: proc.mem,
      brk: (addr) => this.layerBrk(addr),
      sbrk: (increment) => this.layerSbrk(increment),
      mmap: (addr, len, prot, flags) => this.layerMapped(this.rawMmap(addr, len, prot, flags), pageUp(len)),
      munmap: (addr, len) => this.layerUnmapped(this.rawMunmap(addr, len), pageUp(len)),
      madvise: (addr, len, advice) => this.rawMadvise(addr, len, advice),
      mremap: (oldAddr, oldLen, newLen, flags) =>
        this.layerMapped(this.rawMremap(oldAddr, oldLen, newLen, flags), pageUp(newLen) - pageUp(oldLen)),
      mprotect: (addr, len, prot) => this.rawMprotect(addr, len, prot),
      gettid: () => (proc.sys.gettid === undefined ? proc.pid : proc.sys.gettid()),
      getcpu: () => (proc.sys.getcpu === undefined ? 0 : proc.sys.getcpu()),
      nprocs: () => (proc.sys.nprocs === undefined ? 1 : proc.sys.nprocs()),
      mutexHold: (uaddr) => (proc.sys.mutexHold === undefined ? 0 : proc.sys.mutexHold(uaddr)),
      abort: (message) => proc.abort(message),
    };
    const parent = opts.parent;
    if (parent === undefined) {
      const layer = opts.malloc ?? memsimMalloc;
      this.heap = this.made(`the factory ${layer.name === "" ? "(anonymous)" : `'${layer.name}'`}`, () => layer(this.env));
    } else {
      this.errno = parent.errno;
      this.curbrk = parent.curbrk;
      this.layerBytes = parent.layerBytes;
      this.peakLayerBytes = parent.peakLayerBytes;
      this.heap = this.made(`'${parent.heap.name}' fork()`, () => parent.heap.fork(this.env));
    }
  }

  /**
   * The C library of a child made by fork: the child's memory is a copy of
   * this process's, so errno, the break and the heap (MallocHeap.fork)
   * carry over. `watch` judges the child's heap (default: this one's fork).
   */
  forkFor(child: UserProcess, watch: MallocWatch = this.watch.fork(child)): Libc {
    return new Libc(child, { parent: this, watch });
  }

  private layerBrk(addr: number): number {
    const old = this.curbrk;
    const r = this.rawBrk(addr);
    if (old !== 0) this.noteLayerBytes(r - old);
    return r;
  }

  private layerSbrk(increment: number): number {
    const old = this.rawSbrk(increment);
    if (old >= 0) this.noteLayerBytes(this.curbrk - old);
    return old;
  }

  private layerMapped(r: number, bytes: number): number {
    if (r >= 0) this.noteLayerBytes(bytes);
    return r;
  }

  private layerUnmapped(r: number, bytes: number): number {
    if (r === 0) this.noteLayerBytes(-bytes);
    return r;
  }

  private noteLayerBytes(delta: number): void {
    this.layerBytes += delta;
    if (this.layerBytes > this.peakLayerBytes) this.peakLayerBytes = this.layerBytes;
  }

  /** Runs a factory (or fork) and checks what it made. */
  private made(what: string, make: () => MallocHeap): MallocHeap {
    let h: MallocHeap;
    try {
      h = make();
    } catch (e) {
      if (this.watch.passes(e)) throw e;
      return this.watch.fault(`${what} threw: ${String(e)}`, e);
    }
    const bad = typeof h !== "object" || h === null || typeof h.name !== "string";
    if (
      bad ||
      typeof h.malloc !== "function" ||
      typeof h.free !== "function" ||
      typeof h.realloc !== "function" ||
      typeof h.fork !== "function"
    ) {
      this.watch.fault(`${what} returned ${bad ? String(h) : `'${h.name}'`}, not a heap with a name, malloc, free, realloc and fork`);
    }
    return h;
  }

  /** What the layer threw out of `call`: the process's end goes on, anything else is the layer's fault. */
  /** threw for `call`(a, b), the message made only when it faults (the hot wrappers stay short: see accept). */
  private threwIn(call: MallocCall, a: number, b: number, e: unknown): never {
    return this.threw(describeCall(call, a, b), e);
  }

  private threw(call: string, e: unknown): never {
    if (this.watch.passes(e)) throw e;
    return this.watch.fault(`'${this.heap.name}' ${call} threw: ${String(e)}`, e);
  }

  /**
   * Checks block `p` of `n` bytes the layer returned for `call`(a, b): an
   * `align`-aligned address of the user half, then the watch's verdict.
   * Throws through the watch when it cannot be a block. Builds no string
   * unless it faults.
   */
  private accept(call: MallocCall, a: number, b: number, p: number, n: number, align: number): number {
    // The failures build their messages in methods of their own: this fast path stays small enough
    // for V8 to inline it, and the layer's malloc after it, into the caller (kernel/README.md, fast paths).
    if (typeof p !== "number" || !(p > 0 && p < USER_END) || misaligned(p, align)) this.notABlock(call, a, b, p, align);
    const why = this.watch.allocated(p, n);
    if (why !== null) this.refused(call, a, b, p, why);
    return p;
  }

  /** Faults a layer answer `p` that is no user address or not `align`-aligned. */
  private notABlock(call: MallocCall, a: number, b: number, p: number, align: number): never {
    const why =
      typeof p !== "number" || !Number.isSafeInteger(p) || p < 0 || p >= USER_END
        ? "it must return 0 or a user address"
        : align === MALLOC_ALIGNMENT
          ? "not 16-byte aligned (malloc promises 16, as glibc on x86-64)"
          : `not ${align}-byte aligned`;
    return this.refused(call, a, b, p, why);
  }

  /** Faults a layer answer `p` for `why` (the watch's verdict, or notABlock's). */
  private refused(call: MallocCall, a: number, b: number, p: number, why: string): never {
    return this.watch.fault(`'${this.heap.name}' ${describeCall(call, a, b)} returned ${hex(p)}, ${why}`);
  }

  private noMemory(): number {
    this.errno = ENOMEM;
    return 0;
  }

  /**
   * The file wrappers (open, read, write ...: unistd.ts), sharing this errno.
   * Throws TypeError when the process has no file system calls (a test's flat process).
   */
  get files(): LibcFiles {
    if (this.filesOrNull === null) {
      const sys = this.proc.sys as Partial<UserFileSyscalls>;
      if (typeof sys.open !== "function") throw new TypeError("libc: this process has no file system calls");
      this.filesOrNull = new LibcFiles(sys as UserFileSyscalls, this);
    }
    return this.filesOrNull;
  }

  /**
   * malloc(3): `n` bytes, 16-byte aligned. Returns 0 with errno ENOMEM when
   * the layer has no memory or `n` is beyond the address space.
   */
  malloc(n: number): number {
    if (!(n >= 0) || n > MAX_REQUEST) return this.noMemory();
    let p: number;
    try {
      p = this.heap.malloc(n);
    } catch (e) {
      return this.threwIn("malloc", n, 0, e);
    }
    return p === 0 ? this.noMemory() : this.accept("malloc", n, 0, p, n, MALLOC_ALIGNMENT);
  }

  /** free(3): 0 is a no-op; errno is left alone. The layer may abort on a pointer that is no block (memsim's does, with glibc's messages). */
  free(p: number): void {
    if (p === 0) return;
    const errno = this.errno;
    this.watch.released(p);
    try {
      this.heap.free(p);
    } catch (e) {
      this.threwIn("free", p, 0, e);
    }
    this.errno = errno;
  }

  /** calloc(3): `n * size` zeroed bytes; 0 with errno ENOMEM when the product overflows or memory runs out. */
  calloc(n: number, size: number): number {
    const bytes = n * size;
    if (!(bytes >= 0) || bytes > MAX_REQUEST) return this.noMemory();
    if (this.heap.calloc === undefined) {
      const p = this.malloc(bytes);
      if (p !== 0) this.mem.fill(p, 0, bytes);
      return p;
    }
    let p: number;
    try {
      p = this.heap.calloc(n, size);
    } catch (e) {
      return this.threw(`calloc(${n}, ${size})`, e);
    }
    return p === 0 ? this.noMemory() : this.accept("calloc", n, size, p, bytes, MALLOC_ALIGNMENT);
  }

  /**
   * realloc(3): p = 0 is malloc(n); n = 0 frees p and returns 0. Returns
   * the block (moved or not), or 0 with errno ENOMEM, p left intact.
   */
  realloc(p: number, n: number): number {
    if (p === 0) return this.malloc(n);
    if (n === 0) {
      this.free(p);
      return 0;
    }
    if (!(n >= 0) || n > MAX_REQUEST) return this.noMemory();
    let q: number;
    try {
      q = this.heap.realloc(p, n);
    } catch (e) {
      return this.threwIn("realloc", p, n, e);
    }
    if (q === 0) return this.noMemory();
    this.watch.released(p);
    return this.accept("realloc", p, n, q, n, MALLOC_ALIGNMENT);
  }

  /** reallocarray(3): realloc(p, n * size), 0 with errno ENOMEM when the product overflows. */
  reallocarray(p: number, n: number, size: number): number {
    const bytes = n * size;
    if (!(bytes >= 0) || bytes > MAX_REQUEST) return this.noMemory();
    return this.realloc(p, bytes);
  }

  /**
   * memalign(3): `n` bytes aligned to `alignment`, rounded up to a power of
   * two; up to 16 it is malloc. Returns 0 with errno EINVAL for an
   * alignment past 2^63 (or not a number), ENOMEM when memory runs out or
   * the layer has no memalign.
   */
  memalign(alignment: number, n: number): number {
    if (!(n >= 0) || n > MAX_REQUEST) return this.noMemory();
    if (!(alignment >= 0) || alignment > 2 ** 63) {
      this.errno = EINVAL;
      return 0;
    }
    if (alignment <= MALLOC_ALIGNMENT) return this.malloc(n);
    if (!isPowerOf2(alignment)) alignment = 2 ** Math.ceil(Math.log2(alignment));
    if (this.heap.memalign === undefined) return this.noMemory();
    let p: number;
    try {
      p = this.heap.memalign(alignment, n);
    } catch (e) {
      return this.threw(`memalign(${alignment}, ${n})`, e);
    }
    return p === 0 ? this.noMemory() : this.accept("memalign", alignment, n, p, n, alignment);
  }

  /**
   * posix_memalign(3): `err` is 0 with `ptr` set, EINVAL when `alignment` is
   * not a power of two multiple of 8, ENOMEM when memory runs out. errno is
   * never changed.
   */
  posixMemalign(alignment: number, n: number): { err: number; ptr: number } {
    if (alignment % 8 !== 0 || !isPowerOf2(alignment)) return { err: EINVAL, ptr: 0 };
    const saved = this.errno;
    const ptr = this.memalign(alignment, n);
    this.errno = saved;
    return ptr === 0 ? { err: ENOMEM, ptr: 0 } : { err: 0, ptr };
  }

  /** aligned_alloc(3) (glibc 2.38): 0 with errno EINVAL unless `alignment` is a power of two. */
  alignedAlloc(alignment: number, n: number): number {
    if (!isPowerOf2(alignment)) {
      this.errno = EINVAL;
      return 0;
    }
    return this.memalign(alignment, n);
  }

  /** malloc_usable_size(3): the bytes usable at `p`; 0 for 0, or when the layer cannot tell. */
  mallocUsableSize(p: number): number {
    if (p === 0 || this.heap.usableSize === undefined) return 0;
    try {
      return this.heap.usableSize(p);
    } catch (e) {
      return this.threw(`usableSize(${hex(p)})`, e);
    }
  }

  /** malloc_trim(3): 1 when memory went back to the kernel; 0 when the layer has no trim. */
  mallocTrim(pad: number): number {
    return this.heap.trim === undefined ? 0 : this.heap.trim(pad);
  }

  /** mallopt(3): 1 on success; 0 for a bad value, or when the layer has no mallopt. */
  mallopt(param: number, value: number): number {
    return this.heap.mallopt === undefined ? 0 : this.heap.mallopt(param, value);
  }

  /** mallinfo2(3): see Mallinfo2 for the fields; all 0 when the layer has no mallinfo2. */
  mallinfo2(): Mallinfo2 {
    return this.heap.mallinfo2 === undefined ? { ...EMPTY_MALLINFO } : this.heap.mallinfo2();
  }

  /** malloc_stats(3): the text glibc prints on stderr (each arena's system and in-use bytes, then the totals); "" when the layer has none. */
  mallocStats(): string {
    return this.heap.stats === undefined ? "" : this.heap.stats();
  }

  /** Runs the heap's own checker when it has one (memsim's throws HeapCorruption with a MALLOC-n ID). */
  mallocCheck(): void {
    this.heap.check?.();
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
