/**
 * A data-cache model (boot option `cache`): one L1 data cache per CPU over
 * one shared last-level cache, with MESI coherence between the L1s, fed by
 * every user load and store (the MMU's every-access mode, Mmu.observeData).
 * Off by default: a machine without the option builds none of this and its
 * loads and stores keep the TLB-hit fast path.
 *
 *   CPU 0 L1 (sets x ways)   CPU 1 L1   ...     private, MESI state per line
 *            \                  |        /
 *              shared LLC (sets x ways)          no coherence state, LRU
 *
 * Lines are 64 bytes; a set is chosen by line number modulo the sets; LRU
 * within a set (a per-cache stamp). The LLC is non-inclusive: filling it
 * never evicts from an L1, an L1 eviction of a Modified line writes it back
 * into the LLC. Coherence is a snoop of the other L1s (the same set index,
 * as every L1 has the same shape):
 *   read miss   another holder in M writes back, M/E holders drop to S; the
 *               reader gets S, or E when no other L1 holds the line; the
 *               data comes from a peer (no LLC lookup) or from the LLC (an
 *               LL miss when the LLC lacks it too)
 *   write       a hit in M stays M, in E becomes M silently; in S, or a
 *               miss, invalidates every other copy (an M copy is written
 *               back first) and ends in M; S->M is a hit (the data is there)
 * An access spanning several lines (a bulk copy) counts once per line.
 * Kernel-mode accesses and instruction fetches are not modelled.
 *
 * Counters per CPU, as cachegrind names them: D1 reads and writes (Dr, Dw),
 * D1 read and write misses, LL read and write misses; and the coherence
 * traffic: invalidations received, write-backs made.
 *
 * Words: line = physical address / 64; way = one slot of a set.
 */
import { InvariantViolation } from "../panic.ts";
import { FalseSharing } from "./cache_false_sharing.ts";
import { ACC_WRITE } from "./pgtable_types.ts";

/** The size of a cache line in bytes. */
export const LINE_BYTES = 64;

/** MESI states, as stored in a way's state byte. */
export const MESI_I = 0;
export const MESI_S = 1;
export const MESI_E = 2;
export const MESI_M = 3;
const STATE_NAMES = ["I", "S", "E", "M"] as const;

/** The shape of one cache: total bytes and ways (both powers of two, size >= 64 x ways). */
export interface CacheShape {
  readonly size: number;
  readonly ways: number;
}

/** The boot option `cache`. */
export interface CacheConfig {
  readonly l1: CacheShape;
  readonly llc: CacheShape;
}

/** The default shape: 32 KiB 8-way L1s over a 2 MiB 16-way LLC. */
export const DEFAULT_CACHE: CacheConfig = { l1: { size: 32768, ways: 8 }, llc: { size: 1 << 21, ways: 16 } };

/** One CPU's counters. */
export class CacheCpuStats {
  /** D1 reads and writes (one per line an access touches). */
  dr = 0;
  dw = 0;
  /** D1 read and write misses. */
  d1mr = 0;
  d1mw = 0;
  /** LL read and write misses (the line was in no L1 and not in the LLC). */
  dlmr = 0;
  dlmw = 0;
  /** Lines of this L1 invalidated by another CPU's write. */
  invalidations = 0;
  /** Modified lines this L1 wrote back (evicted, or snooped by another CPU). */
  writebacks = 0;
}

/** A set-associative array of tags with LRU stamps: one L1 (one per CPU) or the LLC. */
class TagArray {
  readonly sets: number;
  readonly ways: number;
  /** Line number held by each way, -1 when empty; index = (cpu x sets + set) x ways + way. */
  readonly tag: Float64Array;
  readonly stamp: Float64Array;
  readonly state: Uint8Array;
  private clock = 0;

  constructor(shape: CacheShape, copies: number) {
    this.sets = shape.size / LINE_BYTES / shape.ways;
    this.ways = shape.ways;
    const n = this.sets * this.ways * copies;
    this.tag = new Float64Array(n).fill(-1);
    this.stamp = new Float64Array(n);
    this.state = new Uint8Array(n);
  }

  /** The first way of `line`'s set in copy `copy`. */
  base(copy: number, line: number): number {
    return (copy * this.sets + (line % this.sets)) * this.ways;
  }

  /** The way holding `line` in copy `copy`, or -1. */
  find(copy: number, line: number): number {
    const b = this.base(copy, line);
    for (let w = b; w < b + this.ways; w++) if (this.tag[w] === line) return w;
    return -1;
  }

  touch(way: number): void {
    this.stamp[way] = ++this.clock;
  }

  /** The way to fill in `line`'s set: an empty one, else the least recently used. */
  victim(copy: number, line: number): number {
    const b = this.base(copy, line);
    let v = b;
    for (let w = b; w < b + this.ways; w++) {
      if (this.tag[w] === -1) return w;
      if ((this.stamp[w] as number) < (this.stamp[v] as number)) v = w;
    }
    return v;
  }
}

/** Throws RangeError unless `s` is a valid cache shape. */
function checkShape(name: string, s: CacheShape): void {
  const pow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
  if (!pow2(s.size) || !pow2(s.ways) || s.size < LINE_BYTES * s.ways)
    throw new RangeError(`cache: ${name} needs a power-of-two size >= 64 x ways and power-of-two ways, got ${s.size}/${s.ways}`);
}

/** The caches of a machine. */
export class CacheModel {
  readonly stats: CacheCpuStats[] = [];
  /** The false-sharing detector, fed by every store. */
  readonly falseSharing: FalseSharing;
  private readonly l1: TagArray;
  private readonly llc: TagArray;

  /** Throws RangeError on a bad shape. */
  constructor(
    readonly nrCpus: number,
    readonly config: CacheConfig,
    /** The running CPU (smp_processor_id). */
    private readonly cpu: () => number,
  ) {
    checkShape("l1", config.l1);
    checkShape("llc", config.llc);
    this.l1 = new TagArray(config.l1, nrCpus);
    this.llc = new TagArray(config.llc, 1);
    for (let c = 0; c < nrCpus; c++) this.stats.push(new CacheCpuStats());
    this.falseSharing = new FalseSharing(nrCpus);
  }

  /** Mmu.observeData: one user load or store of `size` bytes; each line it touches is one reference. */
  dataAccess(va: number, pa: number, size: number, acc: number): void {
    const c = this.cpu();
    const write = (acc & ACC_WRITE) !== 0;
    const first = Math.floor(pa / LINE_BYTES);
    const last = Math.floor((pa + Math.max(size, 1) - 1) / LINE_BYTES);
    for (let line = first; line <= last; line++) {
      if (write) this.write(c, line);
      else this.read(c, line);
    }
    if (write) this.falseSharing.store(c, va, pa, size);
  }

  /** The MESI state of `line` (physical address / 64) in CPU `cpu`'s L1: "M", "E", "S" or "I". */
  stateOf(cpu: number, line: number): "M" | "E" | "S" | "I" {
    const w = this.l1.find(cpu, line);
    return STATE_NAMES[w < 0 ? MESI_I : (this.l1.state[w] as number)] as "M" | "E" | "S" | "I";
  }

  private read(c: number, line: number): void {
    const s = this.stats[c] as CacheCpuStats;
    s.dr++;
    const l1 = this.l1;
    const w = l1.find(c, line);
    if (w >= 0) {
      l1.touch(w);
      return;
    }
    s.d1mr++;
    let shared = false;
    for (let o = 0; o < this.nrCpus; o++) {
      if (o === c) continue;
      const x = l1.find(o, line);
      if (x < 0) continue;
      shared = true;
      if (l1.state[x] === MESI_M) (this.stats[o] as CacheCpuStats).writebacks++;
      l1.state[x] = MESI_S;
    }
    if (!shared && !this.llcLookup(line)) s.dlmr++;
    this.fill(c, line, shared ? MESI_S : MESI_E);
  }

  private write(c: number, line: number): void {
    const s = this.stats[c] as CacheCpuStats;
    s.dw++;
    const l1 = this.l1;
    const w = l1.find(c, line);
    const before = w >= 0 ? (l1.state[w] as number) : MESI_I;
    if (before !== MESI_M && before !== MESI_E) {
      const held = this.invalidateOthers(c, line);
      if (w < 0) {
        s.d1mw++;
        if (!held && !this.llcLookup(line)) s.dlmw++;
      }
    }
    if (w >= 0) {
      l1.state[w] = MESI_M;
      l1.touch(w);
    } else this.fill(c, line, MESI_M);
  }

  /** Drops every other L1's copy of `line` (an M copy is written back first); true when some L1 held it. */
  private invalidateOthers(c: number, line: number): boolean {
    const l1 = this.l1;
    let held = false;
    for (let o = 0; o < this.nrCpus; o++) {
      if (o === c) continue;
      const x = l1.find(o, line);
      if (x < 0) continue;
      held = true;
      const so = this.stats[o] as CacheCpuStats;
      if (l1.state[x] === MESI_M) so.writebacks++;
      so.invalidations++;
      l1.tag[x] = -1;
      l1.state[x] = MESI_I;
    }
    return held;
  }

  /** Looks `line` up in the LLC, filling it on a miss; true on a hit. */
  private llcLookup(line: number): boolean {
    const llc = this.llc;
    const w = llc.find(0, line);
    if (w >= 0) {
      llc.touch(w);
      return true;
    }
    const v = llc.victim(0, line);
    llc.tag[v] = line;
    llc.touch(v);
    return false;
  }

  /** Puts `line` in CPU c's L1 in `state`, evicting the LRU way (a Modified victim is written back to the LLC). */
  private fill(c: number, line: number, state: number): void {
    const l1 = this.l1;
    const v = l1.victim(c, line);
    if (l1.state[v] === MESI_M) {
      (this.stats[c] as CacheCpuStats).writebacks++;
      this.llcLookup(l1.tag[v] as number);
    }
    l1.tag[v] = line;
    l1.state[v] = state;
    l1.touch(v);
  }

  /**
   * The checker: every valid way has a state and is the only way of its
   * set holding its line; a line held M or E by one L1 is held by no other
   * (so at most one M/E holder, and M/E excludes S elsewhere); misses never
   * exceed references. Throws InvariantViolation (CACHE-1..3).
   */
  check(): void {
    const l1 = this.l1;
    const holders = new Map<number, number[]>();
    for (let i = 0; i < l1.tag.length; i++) {
      const line = l1.tag[i] as number;
      if (line === -1) {
        if (l1.state[i] !== MESI_I) throw new InvariantViolation("CACHE-1", `cache: empty way ${i} has state ${l1.state[i]}`);
        continue;
      }
      if (l1.state[i] === MESI_I) throw new InvariantViolation("CACHE-1", `cache: way ${i} holds line ${line} in state I`);
      const list = holders.get(line) ?? [];
      list.push(i);
      holders.set(line, list);
    }
    const perCpu = l1.sets * l1.ways;
    for (const [line, ways] of holders) {
      const cpus = ways.map((w) => Math.floor(w / perCpu));
      if (new Set(cpus).size !== cpus.length)
        throw new InvariantViolation("CACHE-1", `cache: line ${line} is held twice by one L1 (CPUs ${cpus.join(",")})`);
      const owners = ways.filter((w) => (l1.state[w] as number) >= MESI_E);
      if (owners.length > 0 && ways.length > 1)
        throw new InvariantViolation(
          "CACHE-2",
          `cache: line 0x${(line * LINE_BYTES).toString(16)} held ${ways.map((w) => STATE_NAMES[l1.state[w] as number]).join("/")} by CPUs ${cpus.join(",")}: M or E must be the only copy`,
        );
    }
    for (const s of this.stats) {
      if (s.d1mr > s.dr || s.d1mw > s.dw || s.dlmr > s.d1mr || s.dlmw > s.d1mw)
        throw new InvariantViolation("CACHE-3", "cache: more misses than references");
    }
  }

  /** The counters summed over CPUs. */
  totals(): CacheCpuStats {
    const t = new CacheCpuStats();
    for (const s of this.stats) {
      t.dr += s.dr;
      t.dw += s.dw;
      t.d1mr += s.d1mr;
      t.d1mw += s.d1mw;
      t.dlmr += s.dlmr;
      t.dlmw += s.dlmw;
      t.invalidations += s.invalidations;
      t.writebacks += s.writebacks;
    }
    return t;
  }
}
