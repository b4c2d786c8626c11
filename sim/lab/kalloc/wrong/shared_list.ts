/**
 * Wrong (kalloc lab): per-CPU lists in name only. The CPU number is read
 * once, at boot, and kept: every CPU then allocates from and frees to CPU
 * 0's list under CPU 0's lock, one global list with extra arrays, and
 * contends as much as xv6's kalloc.
 */
import type { FrameAllocator, FramesBoot, FramesLayer } from "memsim";

const PAGE = 4096;
/** Frames moved by one steal: one lock acquisition on the victim's list serves the next STEAL - 1 allocations too. */
const STEAL = 64;

class PerCpuKalloc implements FrameAllocator {
  readonly name = "kalloc-percpu";
  readonly maxOrder = 0;
  readonly locks: number;
  /** Each CPU's first free pfn + 1 (0: empty), and its count. */
  private readonly head: Int32Array;
  private readonly nfree: Int32Array;
  private readonly managed: number;
  private readonly cpu: number;

  constructor(private readonly boot: FramesBoot) {
    // The mistake: the CPU is read once, at boot (CPU 0), and used for every call after.
    this.cpu = boot.thisCpu();
    this.locks = boot.nrCpus;
    this.head = new Int32Array(boot.nrCpus);
    this.nfree = new Int32Array(boot.nrCpus);
    let n = 0;
    // kinit's freerange runs on the boot CPU: every frame starts on its list.
    for (const r of boot.ranges) {
      for (let pfn = r.start; pfn < r.end; pfn++) this.freePages(pfn, 0);
      n += r.end - r.start;
    }
    this.managed = n;
  }

  allocPages(order: number, _gfp: number): number {
    if (order !== 0) return -1;
    const cpu = this.cpu;
    this.boot.acquire(cpu);
    if (this.head[cpu] === 0) this.steal(cpu);
    return this.head[cpu] === 0 ? -1 : this.pop(cpu);
  }

  freePages(pfn: number, _order: number): void {
    const cpu = this.cpu;
    this.boot.acquire(cpu);
    this.push(cpu, pfn);
  }

  /** Moves up to STEAL frames from the first other CPU that has some. */
  private steal(cpu: number): void {
    for (let i = 1; i < this.boot.nrCpus; i++) {
      const victim = (cpu + i) % this.boot.nrCpus;
      if (this.head[victim] === 0) continue;
      this.boot.acquire(victim);
      for (let k = 0; k < STEAL && this.head[victim] !== 0; k++) this.push(cpu, this.pop(victim));
      return;
    }
  }

  private pop(cpu: number): number {
    const pfn = (this.head[cpu] as number) - 1;
    this.head[cpu] = this.boot.ram.read32(pfn * PAGE);
    this.nfree[cpu] = (this.nfree[cpu] as number) - 1;
    return pfn;
  }

  private push(cpu: number, pfn: number): void {
    this.boot.ram.write32(pfn * PAGE, this.head[cpu] as number);
    this.head[cpu] = pfn + 1;
    this.nfree[cpu] = (this.nfree[cpu] as number) + 1;
  }

  nrFreePages(): number {
    let n = 0;
    for (const k of this.nfree) n += k;
    return n;
  }

  nrManagedPages(): number {
    return this.managed;
  }

  check(): void {
    for (let cpu = 0; cpu < this.boot.nrCpus; cpu++) {
      let n = 0;
      for (let h = this.head[cpu] as number; h !== 0; h = this.boot.ram.read32((h - 1) * PAGE)) {
        if (++n > this.managed) throw new Error(`cpu ${cpu}'s free list has a cycle`);
      }
      if (n !== this.nfree[cpu]) throw new Error(`cpu ${cpu}'s free list holds ${n} frames, its count says ${this.nfree[cpu]}`);
    }
  }
}

export const frames: FramesLayer = (boot) => new PerCpuKalloc(boot);
