/**
 * The CPUs of a machine (Linux kernel/smp.c, arch/x86/kernel/smpboot.c and
 * /proc/interrupts, in miniature). `Machine.boot({ cpus: N })` makes N CPUs,
 * 1..64; every one has its own TLB (CPU 0's is the boot TLB, which also owns
 * the ASID pool). Exactly one CPU runs at a time: the scheduler (sched.ts)
 * switches to the CPU a thread runs on before each of its operations, and
 * the switch points the MMU, the page-table layer and the kernel's memory
 * view at that CPU's TLB, so an access costs what it costs on one CPU.
 *
 * Owns: the CPU count, the running CPU, the per-CPU TLBs and the IPI
 * counters (through mm/tlbflush.ts). Calls: the MMU and paging (their `tlb`
 * field), the event bus (its `cpu`).
 */
import type { KernelEvents } from "./events.ts";
import type { LockStat } from "./locking/lock_stat.ts";
import type { CacheModel } from "./mm/cache_model.ts";
import type { Mmu } from "./mm/mmu.ts";
import type { MmuMemory } from "./mm/mmu_memory.ts";
import type { Paging } from "./mm/pgalloc.ts";
import { checkTlb } from "./mm/pgtable_check.ts";
import { Tlb, type TlbConfig } from "./mm/tlb.ts";
import { TlbShootdown } from "./mm/tlbflush.ts";
import type { ZoneVmStat } from "./mm/vmstat.ts";
import type { Registry } from "./registry.ts";

/** The most CPUs a machine may have (one bit each in two 32-bit cpumask words). */
export const MAX_CPUS = 64;

/** What the CPUs switch when the running CPU changes. */
export interface SmpParts {
  readonly mmu: Mmu;
  readonly paging: Paging;
  /** The kernel's own view of init_mm (`kernel.mem`). */
  readonly kernelMem: MmuMemory;
  readonly events: KernelEvents;
  readonly tlbConfig: TlbConfig;
}

/** A layer with per-CPU state (the page allocator's lists, the slab's CPU slabs): told when the running CPU changes. */
export interface PerCpuUser {
  setCpu(cpu: number): void;
}

/** The machine's CPUs. */
export class Smp {
  readonly nrCpus: number;
  /** tlbs[c] is CPU c's TLB. */
  readonly tlbs: readonly Tlb[];
  /** mm_cpumask and the TLB shootdown IPIs. */
  readonly shootdown: TlbShootdown;
  /** Layers whose per-CPU state follows the running CPU (kernel/main.ts adds them). */
  readonly percpu: PerCpuUser[] = [];
  /** The data-cache model (boot option `cache`, mm/cache_model.ts), or null. */
  cache: CacheModel | null = null;
  /** The per-CPU vmstat diffs (mm/vmstat.ts): more than one CPU and the buddy allocator, else null. */
  vmstat: ZoneVmStat | null = null;
  private cur = 0;

  /** Panics never; throws RangeError when `nrCpus` is not a whole number in 1..64. */
  constructor(
    nrCpus: number,
    private readonly parts: SmpParts,
  ) {
    if (!Number.isInteger(nrCpus) || nrCpus < 1 || nrCpus > MAX_CPUS)
      throw new RangeError(`smp: cpus must be 1..${MAX_CPUS}, got ${nrCpus}`);
    this.nrCpus = nrCpus;
    const tlbs: Tlb[] = [parts.mmu.tlb];
    for (let c = 1; c < nrCpus; c++) tlbs.push(new Tlb(parts.tlbConfig, parts.events));
    this.tlbs = tlbs;
    this.shootdown = new TlbShootdown(tlbs);
    if (nrCpus > 1) {
      parts.paging.remote = this.shootdown;
      parts.mmu.cpumask = this.shootdown;
    }
  }

  /** The CPU running now (smp_processor_id). */
  get current(): number {
    return this.cur;
  }

  /**
   * Makes `cpu` the running CPU: the MMU, the page tables' flushes, the
   * kernel's memory view and `view` (the user memory of the thread about to
   * run) use its TLB from now on, events carry it, the per-CPU layers
   * (`percpu`) switch to its lists and CPU slabs, and when `asid` > 0 the
   * CPU joins that address space's cpumask (switch_mm). Throws RangeError on
   * a CPU the machine does not have.
   */
  switchTo(cpu: number, view: MmuMemory | null = null, asid = 0): void {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.nrCpus)
      throw new RangeError(`smp: no CPU ${cpu} (the machine has ${this.nrCpus})`);
    const tlb = this.tlbs[cpu] as Tlb;
    const p = this.parts;
    this.cur = cpu;
    p.mmu.tlb = tlb;
    p.paging.tlb = tlb;
    p.kernelMem.useTlb(tlb);
    p.events.setCpu(cpu);
    this.shootdown.current = cpu;
    for (const u of this.percpu) u.setCpu(cpu);
    if (view !== null) view.useTlb(tlb);
    if (asid > 0) this.shootdown.markRunning(asid, cpu);
  }

  /** TLB shootdown IPIs CPU `cpu` received. */
  tlbIpis(cpu: number): number {
    return this.shootdown.received[cpu] as number;
  }

  /**
   * /proc/interrupts, the lines memsim has: a header with one column per
   * CPU and the TLB line (shootdown IPIs received by each CPU), in Linux's
   * widths.
   */
  interrupts(): string {
    let head = " ".repeat(11);
    let tlb = "TLB: ";
    for (let c = 0; c < this.nrCpus; c++) {
      head += `CPU${String(c).padEnd(8)}`;
      tlb += `${String(this.tlbIpis(c)).padStart(10)} `;
    }
    return `${head}\n${tlb}  TLB shootdowns\n`;
  }
}

/**
 * vmstat counters are sums over CPUs: the TLB lines paging wrote (CPU 0's,
 * mm/mmu_stats.ts) gain the other CPUs' counts, remote flushes included.
 */
function addOtherCpus(out: Array<[string, number]>, tlbs: readonly Tlb[]): void {
  for (const row of out) {
    for (const t of tlbs) {
      const s = t.stats;
      if (row[0] === "nr_tlb_local_flush_all") row[1] += s.flushAll + s.flushAsid;
      else if (row[0] === "nr_tlb_local_flush_one") row[1] += s.flushOne;
      else if (row[0] === "tlb_hit") row[1] += s.hits;
      else if (row[0] === "tlb_miss") row[1] += s.misses;
    }
  }
}

/** What registerSmp hooks the CPUs into. */
export interface SmpRegistration {
  readonly registry: Registry;
  readonly smp: Smp;
  readonly locks: LockStat;
  readonly mmu: Mmu;
}

/**
 * On a machine with more than one CPU: the other CPUs' TLBs count on the
 * clock (access, tlbMiss), IPIs and lock waits are charged (ipi, lockWait),
 * vmstat gains nr_tlb_remote_flush and nr_tlb_remote_flush_received,
 * `m.stats().smp` appears, and the checker "smp-tlb" checks every CPU's TLB
 * against the page tables (no CPU may hold a stale translation). A one-CPU
 * machine registers nothing, so it reports what it always did.
 */
export function registerSmp(r: SmpRegistration): void {
  const { registry, smp, locks, mmu } = r;
  if (smp.nrCpus === 1) return;
  const sd = smp.shootdown;
  for (const tlb of smp.tlbs.slice(1)) {
    registry.clock.addCounter("access", () => tlb.stats.hits + tlb.stats.misses);
    registry.clock.addCounter("tlbMiss", () => tlb.stats.misses);
  }
  registry.clock.addCounter("ipi", () => sd.ipis);
  registry.clock.addCounter("lockWait", () => locks.waitNs);
  registry.vmstatSources.push((out) => {
    addOtherCpus(out, smp.tlbs.slice(1));
    out.push(["nr_tlb_remote_flush", sd.remoteFlushes]);
    out.push(["nr_tlb_remote_flush_received", sd.ipis]);
  });
  registry.statsSources.push([
    "smp",
    () => ({
      cpus: smp.nrCpus,
      tlbShootdownIpis: [...sd.received],
      remoteFlushes: sd.remoteFlushes,
      lockWaitNs: locks.waitNs,
      cpuNs: [...locks.cpuNs],
      tlb: smp.tlbs.map((t) => ({ hits: t.stats.hits, misses: t.stats.misses, valid: t.nrValid() })),
    }),
  ]);
  registry.checkers.push({
    name: "smp-tlb",
    run: () => {
      for (const t of smp.tlbs) checkTlb(mmu, t);
    },
  });
}
