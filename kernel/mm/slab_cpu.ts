/**
 * kmem_cache_cpu of every cache (Linux struct kmem_cache_cpu, the state
 * slab_alloc_node and do_slab_free use on their fast paths): one row of
 * small integers per cache id in one Int32Array, and the two fast paths
 * that work on it alone.
 *
 * Why a table and not fields of KmemCache: kmalloc and kfree find the cache
 * by an index (the size class, the owner id in struct page), so their fast
 * paths read integers at computed offsets of one typed array and never load
 * a cache object, whose shape the JIT would have to check. Everything here
 * is a 32-bit integer; the hot path builds no object and no double. alloc
 * and free are small on purpose: kmalloc, kfree and a caller's loop must
 * fit in V8's inlining budget together, or kmalloc's result (a kva, a
 * double) is boxed on every call.
 *
 * Row of cache `id` (ROW words from id * ROW; id 0 is never a cache):
 *
 *   +0 WORD    mem32 index of the CPU slab's struct page; 0 = no fast path
 *              (no CPU slab, or slab_debug sends every operation to the
 *              slow path)
 *   +1 BASE    pa of the CPU slab's first object
 *   +2 USED    bytes its object slots span (objects * size)
 *   +3 OFFSET  the free pointer's offset in an object
 *   +4 RANDOM  the freelist hardening key (30 bits)
 *   +5 MASK    size - 1 when the stride is a power of two, else -1
 *   +6 PFN     the CPU slab's head pfn (0 = none), read by the slow paths
 *
 * One table of rows per CPU (Linux's kmem_cache_cpu is a per-CPU variable):
 * `t` is the running CPU's, swapped by setCpu when the machine switches CPUs
 * (kernel/smp.ts), so the fast paths read the same words as on one CPU.
 * OFFSET, RANDOM and MASK are alike in every table; WORD, BASE, USED and PFN
 * are the CPU's own.
 *
 * The fast paths keep every check the slow path makes for the same case:
 * the free pointer is hardened (stored = next ^ random ^ its own address),
 * a decoded next pointer must lie in the slab, a freed pointer must be an
 * object start in the CPU slab, and an object whose free pointer does not
 * show it allocated (see slab_page.ts) goes to the slow path's freelist
 * walk, which catches a double free. Fast-path counts live beside the rows
 * in a Float64Array (exact past 2^31).
 */
import { panic } from "../panic.ts";
import { INUSE_ONE } from "./slab_page.ts";

/**
 * The row layout. A const enum, so each name compiles to its number: the
 * fast paths read no module binding (each such read is a load and a check
 * that it is initialised, on every call).
 */
enum Cpu {
  ROW = 8,
  WORD = 0,
  BASE = 1,
  USED = 2,
  OFFSET = 3,
  RANDOM = 4,
  MASK = 5,
  PFN = 6,
  /** slab_page.ts INUSE_ONE: word 2's step for one object in use (checked at load below). */
  INUSE_ONE = 1 << 20,
}
if (INUSE_ONE !== Cpu.INUSE_ONE) panic("slab_cpu: INUSE_ONE differs from slab_page.ts");

/** kmem_cache_cpu rows of every cache id, and the fast-path counts. */
export class SlabCpu {
  // `declare`d: each property is created holding its typed array, so the
  // JIT keeps its map (see MmuMemory in mmu_memory.ts).
  /** ROW words per cache id: the running CPU's table. */
  declare private t: Int32Array;
  /** tables[c] is CPU c's rows. */
  declare private readonly tables: Int32Array[];
  /** The running CPU (setCpu). */
  declare current: number;
  /** RAM as words. */
  declare private readonly m: Uint32Array;
  /** Per id: [id * ROW] fast allocations, [id * ROW + 1] fast frees (indexed like the rows, so the fast paths reuse the row offset). */
  declare readonly counts: Float64Array;
  /** Per id: 1 / size, for the stride test of a size that is no power of two. */
  declare private readonly inv: Float64Array;
  /** Per id: the object stride. */
  declare private readonly size: Int32Array;

  /** Rows for cache ids 0..ids-1 over RAM seen as words (`m`). */
  constructor(ids: number, m: Uint32Array) {
    this.m = m;
    this.t = new Int32Array(ids * Cpu.ROW);
    this.tables = [this.t];
    this.current = 0;
    this.counts = new Float64Array(ids * Cpu.ROW);
    this.inv = new Float64Array(ids);
    this.size = new Int32Array(ids);
  }

  /** CPUs with a table of rows. */
  get nrCpus(): number {
    return this.tables.length;
  }

  /**
   * Gives every CPU up to `n` (1..64) its table: the fixed words copied from
   * CPU 0's, no CPU slab. Called once at boot, before a second CPU runs.
   */
  setNrCpus(n: number): void {
    const t0 = this.tables[0] as Int32Array;
    while (this.tables.length < n) {
      const t = new Int32Array(t0.length);
      for (let r = 0; r < t0.length; r += Cpu.ROW) {
        t[r + Cpu.OFFSET] = t0[r + Cpu.OFFSET] as number;
        t[r + Cpu.RANDOM] = t0[r + Cpu.RANDOM] as number;
        t[r + Cpu.MASK] = t0[r + Cpu.MASK] as number;
      }
      this.tables.push(t);
    }
  }

  /** The running CPU is now `cpu` (kernel/smp.ts): the fast paths use its rows. Panics when it has no table. */
  setCpu(cpu: number): void {
    const t = this.tables[cpu];
    if (t === undefined) panic(`slab_cpu: no kmem_cache_cpu table for CPU ${cpu}`);
    this.t = t;
    this.current = cpu;
  }

  /** Fills the fixed part of cache `id`'s row on every CPU (a new cache, or an id reused); no CPU slab yet. */
  initRow(id: number, offset: number, random: number, size: number): void {
    const r = id * Cpu.ROW;
    for (const t of this.tables) {
      t.fill(0, r, r + Cpu.ROW);
      t[r + Cpu.OFFSET] = offset;
      t[r + Cpu.RANDOM] = random;
      t[r + Cpu.MASK] = (size & (size - 1)) === 0 ? size - 1 : -1;
    }
    this.inv[id] = 1 / size;
    this.size[id] = size;
    this.counts[r] = 0;
    this.counts[r + 1] = 0;
  }

  /**
   * Sets CPU `cpu`'s slab of cache `id`: its head pfn (0 = none) and, for
   * the fast paths, its struct page word, first object pa and span; word 0
   * turns them off.
   */
  setRow(cpu: number, id: number, pfn: number, word: number, base: number, used: number): void {
    const t = this.tables[cpu] as Int32Array;
    const r = id * Cpu.ROW;
    t[r + Cpu.PFN] = pfn;
    t[r + Cpu.WORD] = word;
    t[r + Cpu.BASE] = base;
    t[r + Cpu.USED] = used;
  }

  /** The head pfn of CPU `cpu`'s slab of cache `id` (0 = none). */
  cpuPfn(id: number, cpu: number): number {
    return (this.tables[cpu] as Int32Array)[id * Cpu.ROW + Cpu.PFN] as number;
  }

  /** Records `pfn` as CPU `cpu`'s slab of cache `id` without touching the fast-path words (a test's corruption). */
  setPfn(id: number, cpu: number, pfn: number): void {
    (this.tables[cpu] as Int32Array)[id * Cpu.ROW + Cpu.PFN] = pfn;
  }

  /** Where cache `id`'s counts start in `counts`. */
  countAt(id: number): number {
    return id * Cpu.ROW;
  }

  /** The struct page word of cache `id`'s CPU slab as the fast paths see it (0: they are off). */
  cpuWord(id: number): number {
    return this.t[id * Cpu.ROW + Cpu.WORD] as number;
  }

  /**
   * The allocation fast path: pops the head of cache `id`'s CPU slab
   * freelist and returns its pa, or 0 when the slow path must run (no fast
   * CPU slab, an empty freelist, or a next pointer that does not decode
   * into the slab). 0 and not -1: no object is at pa 0, and a result that
   * is a Uint32Array load or 0 stays an unsigned integer for the JIT, where
   * mixing in -1 makes it a double on every call.
   */
  alloc(id: number): number {
    const t = this.t;
    const m = this.m;
    const r = id * Cpu.ROW;
    const i = t[r + Cpu.WORD] as number;
    const obj = m[i + 1] as number;
    const fp = obj + (t[r + Cpu.OFFSET] as number);
    const key = (t[r + Cpu.RANDOM] as number) ^ fp;
    // next stays the int32 the xor gives (a pa of 2 GiB or more negative,
    // like BASE in the Int32Array row: the difference is right modulo 2^32).
    const next = (m[fp >>> 2] as number) ^ key;
    if (!i || !obj || (next && (next - (t[r + Cpu.BASE] as number)) >>> 0 >= (t[r + Cpu.USED] as number))) return 0;
    // The object's free pointer decodes to itself while it is allocated.
    m[fp >>> 2] = obj ^ key;
    m[i + 1] = next;
    m[i + 2] = (m[i + 2] as number) + Cpu.INUSE_ONE;
    (this.counts[r] as number)++;
    return obj;
  }

  /**
   * The free fast path: pushes `pa` onto cache `id`'s CPU slab freelist
   * when `word` (the mem32 index of pa's slab's struct page) is that CPU
   * slab, pa is an object start in it, and its free pointer shows it
   * allocated. Returns true when freed, false when the slow path must decide.
   */
  free(id: number, word: number, pa: number): boolean {
    const t = this.t;
    const m = this.m;
    const r = id * Cpu.ROW;
    const base = t[r + Cpu.BASE] as number;
    const used = t[r + Cpu.USED] as number;
    const off = pa - base;
    // A power-of-two stride is tested by its mask alone; any other (MASK -1) by the multiply.
    if (word !== t[r + Cpu.WORD] || off >>> 0 >= used || ((off & (t[r + Cpu.MASK] as number)) !== 0 && !this.isStride(id, off)))
      return false;
    const fp = pa + (t[r + Cpu.OFFSET] as number);
    const key = (t[r + Cpu.RANDOM] as number) ^ fp;
    const dec = ((m[fp >>> 2] as number) ^ key) >>> 0;
    if (dec !== pa && (!dec || (dec - base) >>> 0 < used)) return false;
    const head = word + 1; // struct page word 1, the freelist; word 2 (head + 1) counts the objects in use
    m[fp >>> 2] = (m[head] as number) ^ key;
    m[head] = pa;
    m[head + 1] = (m[head + 1] as number) - Cpu.INUSE_ONE;
    (this.counts[r + 1] as number)++;
    return true;
  }

  /** True when `off` is a multiple of cache `id`'s stride (a multiply instead of a division; exact below 2^31). */
  isStride(id: number, off: number): boolean {
    return ((off * (this.inv[id] as number) + 0.5) | 0) * (this.size[id] as number) === off;
  }
}
