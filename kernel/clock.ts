/**
 * The cost clock (`m.clock`): simulated nanoseconds that every machine with
 * the same seed and the same story agrees on, so effective access time,
 * fault cost and thrashing are measurable and identical everywhere.
 *
 * The clock is derived, not ticked: each layer registers the counters it
 * already keeps (TLB hits and misses, page faults, swap I/O) under a kind,
 * and `now()` is the sum over kinds of count x the kind's configured cost.
 * A memory access therefore costs nothing extra on the hot path: the TLB
 * counts it anyway, and the clock multiplies when it is read.
 *
 *   now() = access x (tlb hits + misses)        every translated load or store
 *         + tlbMiss x (tlb misses)              the page-table walk on a miss
 *         + fault x pgfault                     entering and leaving the fault handler
 *         + swapIn x pswpin + swapOut x pswpout one page of swap I/O each
 *         + diskRead x blocks read + diskWrite x blocks written   the block device (fs/blockdev.ts)
 *         + ipi x TLB shootdown IPIs        (cpus > 1) kernel/mm/tlbflush.ts
 *         + lockWait x ns waited for locks  (cpus > 1) kernel/locking/lock_stat.ts
 *         + l1Miss x D1 misses + llcMiss x LL misses   (boot option cache) kernel/mm/cache_model.ts
 *         + remote x remote distance units   (NUMA nodes > 1) kernel/mm/numa.ts RemoteCost
 *
 * The defaults are orders of magnitude of real hardware: a cached access
 * ~1 ns, a walk that goes to DRAM ~100 ns, a minor fault ~1 us, a page of
 * swap I/O ~100 us, a 4 KiB disk block read or written ~100 us. A major fault is a fault plus its swap-in.
 * An IPI (send, receive, flush, acknowledge) ~1 us; lock wait is counted in
 * nanoseconds already, so its cost is 1. The SMP kinds are listed by
 * breakdown() only on a machine that counts them (cpus > 1), so a one-CPU
 * machine reports exactly what it always did. The cache kinds are listed
 * only on a machine with the cache model: a D1 miss ~10 ns (served by the
 * LLC or another CPU's L1), an LL miss ~60 ns more (DRAM). On a machine with
 * more than one NUMA node, each TLB fill whose page walk ends at a frame of
 * another node than the running CPU's counts distance - 10 units (10 at
 * Linux's default remote distance 20), 10 ns each: a remote fill costs
 * ~100 ns more, about what a DRAM access across the interconnect adds.
 */

/** The kinds of step the clock charges, in the order reports list them. */
export const CLOCK_KINDS = ["access", "tlbMiss", "fault", "swapIn", "swapOut", "diskRead", "diskWrite"] as const;

/** The kinds only a machine with more than one CPU charges (kernel/smp.ts registers them). */
export const SMP_CLOCK_KINDS = ["ipi", "lockWait"] as const;

/** The kinds only a machine with the cache model charges (boot option `cache`, kernel/mm/cache_model.ts). */
export const CACHE_CLOCK_KINDS = ["l1Miss", "llcMiss"] as const;

/** The kinds only a machine with more than one NUMA node charges (kernel/mm/numa.ts RemoteCost). */
export const NUMA_CLOCK_KINDS = ["remote"] as const;

/** The kinds listed only when some layer counts them. */
const OPTIONAL_KINDS = [...SMP_CLOCK_KINDS, ...CACHE_CLOCK_KINDS, ...NUMA_CLOCK_KINDS] as const;

/** One kind of step the clock charges. */
export type ClockKind =
  | (typeof CLOCK_KINDS)[number]
  | (typeof SMP_CLOCK_KINDS)[number]
  | (typeof CACHE_CLOCK_KINDS)[number]
  | (typeof NUMA_CLOCK_KINDS)[number];

/** What one step of each kind costs, in simulated nanoseconds. */
export type ClockCosts = Record<ClockKind, number>;

/** The default costs (nanoseconds). */
export const DEFAULT_CLOCK_COSTS: Readonly<ClockCosts> = Object.freeze({
  access: 1,
  tlbMiss: 100,
  fault: 1000,
  swapIn: 100_000,
  swapOut: 100_000,
  diskRead: 100_000,
  diskWrite: 100_000,
  ipi: 1000,
  lockWait: 1,
  l1Miss: 10,
  llcMiss: 60,
  remote: 10,
});

/** A counter a layer lends the clock: how many steps of `kind` it has made so far. */
export type ClockCounter = readonly [kind: ClockKind, count: () => number];

/** Each kind's number in CostClock's counter list. */
const KIND_INDEX: Readonly<Record<ClockKind, number>> = {
  access: 0,
  tlbMiss: 1,
  fault: 2,
  swapIn: 3,
  swapOut: 4,
  diskRead: 5,
  diskWrite: 6,
  ipi: 7,
  lockWait: 8,
  l1Miss: 9,
  llcMiss: 10,
  remote: 11,
};

/** costs[kind] for kind number `k` (KIND_INDEX), read as it is now: one named (monomorphic) load. */
function costOf(c: Readonly<ClockCosts>, k: number): number {
  switch (k) {
    case 0:
      return c.access;
    case 1:
      return c.tlbMiss;
    case 2:
      return c.fault;
    case 3:
      return c.swapIn;
    case 4:
      return c.swapOut;
    case 5:
      return c.diskRead;
    case 6:
      return c.diskWrite;
    case 7:
      return c.ipi;
    case 8:
      return c.lockWait;
    case 9:
      return c.l1Miss;
    case 10:
      return c.llcMiss;
    default:
      return c.remote;
  }
}

/** One row of {@link CostClock.breakdown}. */
export interface ClockRow {
  readonly kind: ClockKind;
  /** Steps of this kind so far. */
  readonly count: number;
  /** Nanoseconds one step costs. */
  readonly costNs: number;
  /** count x costNs. */
  readonly ns: number;
}

/** The machine's deterministic clock. Layers add counters at boot; readers call now(). */
export class CostClock {
  private readonly counters: ClockCounter[] = [];
  /**
   * The counters' functions and kinds (KIND_INDEX), side by side: now() runs
   * on every fault (kcompactd's timer) and reads these without unpacking
   * tuples, and each cost through costOf's named loads: `costs[kind]` with
   * a different string each time is a megamorphic keyed load, which made
   * now() about 80 ns with five counters against about 30.
   */
  private readonly counts: (() => number)[] = [];
  private readonly kinds: number[] = [];

  constructor(readonly costs: Readonly<ClockCosts>) {}

  /** Lends the clock one counter; several may share a kind (their counts add). */
  addCounter(kind: ClockKind, count: () => number): void {
    this.counters.push([kind, count]);
    this.counts.push(count);
    this.kinds.push(KIND_INDEX[kind]);
  }

  /** Simulated nanoseconds since boot. */
  now(): number {
    const counts = this.counts;
    const kinds = this.kinds;
    const costs = this.costs;
    let ns = 0;
    for (let i = 0; i < counts.length; i++) ns += (counts[i] as () => number)() * costOf(costs, kinds[i] as number);
    return ns;
  }

  /** Steps and nanoseconds per kind: every base kind listed (0 when no layer counts it), the SMP and cache kinds when counted. */
  breakdown(): ClockRow[] {
    const counts: Record<ClockKind, number> = {
      access: 0,
      tlbMiss: 0,
      fault: 0,
      swapIn: 0,
      swapOut: 0,
      diskRead: 0,
      diskWrite: 0,
      ipi: 0,
      lockWait: 0,
      l1Miss: 0,
      llcMiss: 0,
      remote: 0,
    };
    for (const [kind, count] of this.counters) counts[kind] += count();
    const kinds: ClockKind[] = [...CLOCK_KINDS];
    for (const k of OPTIONAL_KINDS) if (this.counters.some((c) => c[0] === k)) kinds.push(k);
    return kinds.map((kind) => ({ kind, count: counts[kind], costNs: this.costs[kind], ns: counts[kind] * this.costs[kind] }));
  }

  /**
   * Effective access time: nanoseconds per memory access over the whole run
   * (every kind's cost divided by the accesses), 0 before the first access.
   */
  effectiveAccessNs(): number {
    const rows = this.breakdown();
    const accesses = rows[0]?.count ?? 0;
    if (accesses === 0) return 0;
    let ns = 0;
    for (const r of rows) ns += r.ns;
    return ns / accesses;
  }
}
