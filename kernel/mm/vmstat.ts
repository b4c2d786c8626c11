/**
 * Per-CPU vmstat differentials (Linux mm/vmstat.c: per_cpu_zonestats'
 * vm_stat_diff and stat_threshold, __mod_zone_page_state, vmstat_update),
 * on machines with more than one CPU. One-CPU machines have none: they are
 * memsim's !CONFIG_SMP build and keep exact counters, as they always did.
 *
 * The zone counter memsim keeps per CPU is NR_FREE_PAGES. The buddy
 * allocator keeps its exact count (Zone.freePages, which its watermark
 * checks read) and reports each change made on the running CPU here; the
 * change goes into that CPU's differential, and only when the differential
 * passes the zone's threshold does it reach the zone's global counter, the
 * value /proc/vmstat's nr_free_pages and the zoneinfo view's "pages free"
 * show. The diffs are also folded by vmstat_update, Linux's periodic work:
 * when a CPU is switched to and its timeline (the scheduler's per-CPU
 * simulated ns) has passed its next multiple of `intervalNs` (Linux's
 * sysctl_stat_interval, HZ: one second), its diffs are folded first.
 * A CPU going idle folds its diffs (quiet_vmstat): when `m.run` ends, every
 * CPU but CPU 0, which runs the host's calls, does. Readers do not fold
 * (Linux's /proc/vmstat and /proc/zoneinfo read the global counters as
 * they are); `refresh()` folds every CPU, as writing
 * /proc/sys/vm/stat_refresh does.
 *
 * So global + sum of the CPUs' diffs = the exact count (checker VMSTAT-1),
 * every |diff| <= threshold (VMSTAT-2), and what a reader sees lags the
 * exact count by at most threshold x CPUs.
 *
 * Threshold (calculate_normal_threshold, one per zone, the same on every
 * CPU): mem = managed pages >> 15 (the zone in units of 128 MiB), threshold
 * = 2 x fls(CPUs) x (1 + fls(mem)), at most 125; fls(x) is the 1-based
 * index of x's highest set bit, fls(0) = 0. Two CPUs and a zone under
 * 128 MiB: 2 x 2 x 1 = 4. Linux lowers it under memory pressure
 * (calculate_pressure_threshold, when free pages fall below the drift
 * mark); memsim does not, and its watermark checks read the exact count.
 *
 * Layout: diff[cpu * nrZones + zone] (Int32Array; Linux's are s8, which the
 * threshold of at most 125 keeps in range), global[zone], threshold[zone],
 * nextUpdateNs[cpu] (Float64Array).
 */
import { InvariantViolation } from "../panic.ts";
import type { Registry } from "../registry.ts";
import type { Zone } from "./mmzone.ts";

/** Linux's fls: the 1-based index of the highest set bit, 0 for 0. */
export function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}

/** calculate_normal_threshold: the stat threshold of a zone of `managed` pages on `cpus` CPUs. */
export function statThreshold(managed: number, cpus: number): number {
  const mem = managed >>> 15;
  return Math.min(125, 2 * fls(cpus) * (1 + fls(mem)));
}

/** Linux's sysctl_stat_interval: HZ, one second of simulated time. */
export const STAT_INTERVAL_NS = 1e9;

/** The per-CPU NR_FREE_PAGES differentials of every zone. */
export class ZoneVmStat {
  readonly nrZones: number;
  /** diff[cpu * nrZones + zone]: changes made on the CPU not yet in the global counter. */
  readonly diff: Int32Array;
  /** global[zone]: the counter readers see (zone->vm_stat[NR_FREE_PAGES]). */
  readonly global: Int32Array;
  /** threshold[zone]: every CPU's stat_threshold for the zone. */
  readonly threshold: Int32Array;
  /** When each CPU's vmstat_update runs next, on its timeline (ns). */
  readonly nextUpdateNs: Float64Array;
  /** vmstat_update's period (sysctl_stat_interval); setIntervalNs changes it. */
  private intervalNs = STAT_INTERVAL_NS;
  /** Folds of one diff into the global counter because it passed the threshold. */
  thresholdFolds = 0;
  /** vmstat_update runs that found something to fold. */
  periodicFolds = 0;
  /** quiet_vmstat calls (a CPU going idle) that found something to fold. */
  idleFolds = 0;

  /**
   * Starts with every diff zero and each global counter at the zone's exact
   * free count. Panics never; throws RangeError when the zones' indexes are
   * not 0..n-1 in order (the arrays are indexed by Zone.index).
   */
  constructor(
    private readonly zones: readonly Zone[],
    readonly nrCpus: number,
    /** Each CPU's timeline in simulated ns (the scheduler's, LockStat.cpuNs). */
    private readonly cpuNs: ArrayLike<number>,
  ) {
    zones.forEach((z, i) => {
      if (z.index !== i) throw new RangeError(`vmstat: zone ${z.name} has index ${z.index}, expected ${i}`);
    });
    this.nrZones = zones.length;
    this.diff = new Int32Array(nrCpus * this.nrZones);
    this.global = new Int32Array(this.nrZones);
    this.threshold = new Int32Array(this.nrZones);
    this.nextUpdateNs = new Float64Array(nrCpus).fill(this.intervalNs);
    for (const z of zones) {
      this.global[z.index] = z.freePages;
      this.threshold[z.index] = statThreshold(z.managed, nrCpus);
    }
  }

  /**
   * __mod_zone_page_state(zone, NR_FREE_PAGES, delta) on `cpu`: the diff
   * takes delta; past the threshold (|diff| > threshold) all of it goes to
   * the global counter and the diff is zero again.
   */
  mod(cpu: number, zone: number, delta: number): void {
    const i = cpu * this.nrZones + zone;
    const x = (this.diff[i] as number) + delta;
    const t = this.threshold[zone] as number;
    if (x > t || x < -t) {
      this.global[zone] = (this.global[zone] as number) + x;
      this.diff[i] = 0;
      this.thresholdFolds++;
    } else this.diff[i] = x;
  }

  /** refresh_cpu_vm_stats: every diff of `cpu` into the global counters. Returns whether any was nonzero. */
  fold(cpu: number): boolean {
    let moved = false;
    for (let z = 0; z < this.nrZones; z++) {
      const i = cpu * this.nrZones + z;
      const x = this.diff[i] as number;
      if (x === 0) continue;
      this.global[z] = (this.global[z] as number) + x;
      this.diff[i] = 0;
      moved = true;
    }
    return moved;
  }

  /** Sets vmstat_update's period (writing sysctl vm.stat_interval): each CPU's next update is the next multiple past its timeline. */
  setIntervalNs(ns: number): void {
    this.intervalNs = ns;
    for (let c = 0; c < this.nrCpus; c++) this.nextUpdateNs[c] = (Math.floor((this.cpuNs[c] as number) / ns) + 1) * ns;
  }

  /** quiet_vmstat: `cpu` goes idle (the scheduler's run ended and only CPU 0 runs); its diffs are folded. */
  quiet(cpu: number): void {
    if (this.fold(cpu)) this.idleFolds++;
  }

  /** /proc/sys/vm/stat_refresh: every CPU's diffs folded now. */
  refresh(): void {
    for (let c = 0; c < this.nrCpus; c++) this.fold(c);
  }

  /**
   * The running CPU became `cpu` (kernel/smp.ts): when its timeline has
   * passed its next update, vmstat_update runs on it first and the next
   * one is due one interval after the last multiple passed.
   */
  setCpu(cpu: number): void {
    const now = this.cpuNs[cpu] as number;
    if (now < (this.nextUpdateNs[cpu] as number)) return;
    if (this.fold(cpu)) this.periodicFolds++;
    this.nextUpdateNs[cpu] = (Math.floor(now / this.intervalNs) + 1) * this.intervalNs;
  }

  /** zone_page_state: the zone's global counter as readers see it (0 when the diffs left it negative). */
  zonePageState(zone: number): number {
    return Math.max(0, this.global[zone] as number);
  }

  /** global_zone_page_state: the sum over zones. */
  globalPageState(): number {
    let n = 0;
    for (let z = 0; z < this.nrZones; z++) n += this.global[z] as number;
    return Math.max(0, n);
  }

  /** One CPU's diff for one zone. */
  diffOf(cpu: number, zone: number): number {
    return this.diff[cpu * this.nrZones + zone] as number;
  }

  /**
   * Recounts against the buddy allocator's exact counts. Throws
   * InvariantViolation: VMSTAT-1 when a zone's global counter plus its
   * CPUs' diffs is not its free pages, VMSTAT-2 when a diff is past the
   * threshold.
   */
  check(): void {
    for (const z of this.zones) {
      let sum = this.global[z.index] as number;
      const t = this.threshold[z.index] as number;
      for (let c = 0; c < this.nrCpus; c++) {
        const d = this.diffOf(c, z.index);
        if (d > t || d < -t) throw new InvariantViolation("VMSTAT-2", `zone ${z.name}: CPU ${c}'s diff ${d} is past the threshold ${t}`);
        sum += d;
      }
      if (sum !== z.freePages)
        throw new InvariantViolation(
          "VMSTAT-1",
          `zone ${z.name}: global ${this.global[z.index]} plus the CPUs' diffs is ${sum}, free pages ${z.freePages}`,
        );
    }
  }

  /** The `vmstat` section of m.stats(). */
  statsJson(): unknown {
    return {
      thresholds: Array.from(this.threshold),
      global: Array.from(this.global),
      diffs: Array.from({ length: this.nrCpus }, (_, c) => Array.from(this.diff.subarray(c * this.nrZones, (c + 1) * this.nrZones))),
      thresholdFolds: this.thresholdFolds,
      periodicFolds: this.periodicFolds,
      idleFolds: this.idleFolds,
    };
  }
}

/** The part of the buddy allocator (page_alloc.ts) the diffs hook into. */
export interface VmstatBuddy {
  readonly zones: Zone[];
  readonly nrCpus: number;
  /** Told of every change of a zone's free pages once set. */
  vmstat: ZoneVmStat | null;
}

/** What registerVmstat hooks the diffs into. */
export interface VmstatRegistration {
  readonly registry: Registry;
  readonly buddy: VmstatBuddy;
  /** The layers told when the running CPU changes (Smp.percpu). */
  readonly percpu: Array<{ setCpu(cpu: number): void }>;
  /** Each CPU's timeline (LockStat.cpuNs). */
  readonly cpuNs: ArrayLike<number>;
}

/**
 * Makes the per-CPU diffs of a machine with more than one CPU and the buddy
 * allocator: the buddy reports its free-page changes to them, the CPU
 * switch runs vmstat_update, /proc/vmstat's nr_free_pages becomes the
 * global counter, `m.stats()` gains `vmstat` and `m.check()` the checker
 * "vmstat". Returns the diffs.
 */
export function registerVmstat(r: VmstatRegistration): ZoneVmStat {
  const v = new ZoneVmStat(r.buddy.zones, r.buddy.nrCpus, r.cpuNs);
  r.buddy.vmstat = v;
  r.percpu.push(v);
  r.registry.vmstatSources.push((out) => {
    const row = out.find((x) => x[0] === "nr_free_pages");
    if (row !== undefined) row[1] = v.globalPageState();
  });
  r.registry.statsSources.push(["vmstat", () => v.statsJson()]);
  r.registry.checkers.push({ name: "vmstat", run: () => v.check() });
  return v;
}
