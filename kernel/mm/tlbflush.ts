/**
 * TLB shootdown across CPUs (Linux arch/x86/mm/tlb.c: flush_tlb_mm_range,
 * native_flush_tlb_multi, and mm_cpumask). Each CPU has its own TLB
 * (kernel/smp.ts); a page-table change is flushed on the CPU that made it
 * (pgtable.ts flushTlb), and then here on every other CPU that may cache the
 * address space: one IPI each, counted per receiving CPU (/proc/interrupts
 * TLB) and charged on the cost clock (kind `ipi`).
 *
 * mm_cpumask: per ASID, bit c is set once CPU c has run a thread of that
 * address space or cached one of its translations (the MMU marks it at each
 * TLB fill), and stays set while its TLB may still hold entries of it
 * (a CPU that switched away holds them lazily, as x86 with PCIDs does). CPU 0
 * is where the host's direct calls run (p.mem, p.sys outside `m.run`), so it
 * counts as holding every address space. The kernel's ASID 0 (the direct map,
 * vmalloc) is held by every CPU: its flushes go to all.
 *
 * Words: IPI = inter-processor interrupt; shootdown = flushing another CPU's TLB.
 */
import type { RemoteFlush } from "./pgalloc.ts";
import { KERNEL_ASID, NR_ASIDS, type Tlb } from "./tlb.ts";

/** mm_cpumask of every ASID, and the IPIs that flush remote TLBs. */
export class TlbShootdown implements RemoteFlush {
  /** mm_cpumask: bit c of word [asid] (CPUs 0..31) and of maskHi (CPUs 32..63). */
  private readonly maskLo = new Uint32Array(NR_ASIDS);
  private readonly maskHi = new Uint32Array(NR_ASIDS);
  /** TLB shootdown IPIs each CPU received (/proc/interrupts TLB line). */
  readonly received: Uint32Array;
  /** IPIs sent in all. */
  ipis = 0;
  /** Flushes that had to reach at least one other CPU (vmstat nr_tlb_remote_flush). */
  remoteFlushes = 0;
  /** The CPU running now (kernel/smp.ts sets it). */
  current = 0;

  /** `tlbs[c]` is CPU c's TLB; tlbs[0] owns the ASID pool. */
  constructor(readonly tlbs: readonly Tlb[]) {
    this.received = new Uint32Array(tlbs.length);
  }

  /** switch_mm: CPU `cpu` now runs address space `asid`, so its TLB may cache it. */
  markRunning(asid: number, cpu: number): void {
    if (cpu < 32) this.maskLo[asid] = ((this.maskLo[asid] as number) | (1 << cpu)) >>> 0;
    else this.maskHi[asid] = ((this.maskHi[asid] as number) | (1 << (cpu - 32))) >>> 0;
  }

  /**
   * The running CPU's TLB is about to cache an entry of `asid` (Mmu.fill):
   * it holds the address space from now on, whichever way it came to touch
   * it (a thread of it running here, or a fork or a kernel walk made here).
   */
  fillsHere(asid: number): void {
    this.markRunning(asid, this.current);
  }

  /** True when CPU `cpu`'s TLB may hold entries of `asid` (always for CPU 0 and for the kernel's ASID). */
  holds(asid: number, cpu: number): boolean {
    if (cpu === 0 || asid === KERNEL_ASID) return true;
    const w = cpu < 32 ? (this.maskLo[asid] as number) : (this.maskHi[asid] as number);
    return ((w >>> (cpu & 31)) & 1) === 1;
  }

  /** The CPUs holding `asid`, in order (mm_cpumask as a list). */
  cpumask(asid: number): number[] {
    const out: number[] = [];
    for (let c = 0; c < this.tlbs.length; c++) if (this.holds(asid, c)) out.push(c);
    return out;
  }

  /**
   * flush_tlb_mm_range's remote half: [start, end) of `asid` was flushed on
   * the current CPU; every other CPU holding `asid` gets an IPI and flushes
   * the same range (one page, a range, or the whole ASID past the ceiling).
   */
  flushOthers(asid: number, start: number, end: number): void {
    const pages = (end - start) / 4096;
    let sent = 0;
    for (let c = 0; c < this.tlbs.length; c++) {
      if (c === this.current || !this.holds(asid, c)) continue;
      const tlb = this.tlbs[c] as Tlb;
      if (pages === 1) tlb.invlpg(start, asid);
      else tlb.flushRange(start, end, asid);
      this.received[c] = (this.received[c] as number) + 1;
      sent++;
    }
    if (sent === 0) return;
    this.ipis += sent;
    this.remoteFlushes++;
  }

  /**
   * The address space of `asid` is gone and its ASID returns to the pool:
   * every CPU but 0 (whose TLB owns the pool and flushes it itself) drops its
   * entries, as the next switch_mm would on x86 (no IPI is counted), and the
   * cpumask is cleared for the ASID's next owner.
   */
  asidFreed(asid: number): void {
    for (let c = 1; c < this.tlbs.length; c++) if (this.holds(asid, c)) (this.tlbs[c] as Tlb).flushAsid(asid);
    this.maskLo[asid] = 0;
    this.maskHi[asid] = 0;
  }
}
