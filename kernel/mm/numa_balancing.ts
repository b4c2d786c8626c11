/**
 * NUMA-balancing promotion for memory tiering (Linux task_numa_work and
 * change_prot_numa in its memory-tiering mode, do_numa_page of
 * mm/memory.c, numa_promotion_tiered... in short: hinting faults).
 *
 *   scan (a call, or the 1 s timer at kswapd's safe point):
 *     each present 4 KiB user entry of a page on a slow-tier node loses
 *     PTE_US (the entry stays present: memsim's PROT_NONE is exactly this),
 *     the TLBs are flushed
 *   the next user access to it faults (PF_PROT in a VMA that allows it):
 *     numa_hint_faults + 1; PTE_US comes back; when the running CPU is on a
 *     fast node whose top zone has free frames above its high watermark,
 *     the page migrates there (pgpromote_success + 1); the access retries
 *
 * Only slow-tier pages are marked (Linux skips top-tier pages in this mode),
 * so a machine's fast-node pages never fault. Linux also waits for a second
 * fault within a hot threshold before promoting, and rate-limits
 * promotion; memsim promotes at the first hinting fault.
 *
 * Calls: page tables (walk), the page allocator, page migration.
 */
import { type FramesZone, type PageAllocator, zoneFree } from "./frames.ts";
import { __GFP_HARDWALL, __GFP_HIGHMEM, __GFP_MOVABLE, __GFP_NORETRY, __GFP_NOWARN } from "./gfp.ts";
import { type MemMap, PG_anon } from "./memmap.ts";
import type { Migrate } from "./migrate.ts";
import type { MmStruct } from "./mm.ts";
import type { NumaTopology } from "./numa.ts";
import { type PteVisitor, walkRange } from "./pgtable_range.ts";
import { PTE_A, PTE_P, PTE_SPECIAL, PTE_US } from "./pgtable_types.ts";

/** The scan period of the timer (Linux's numa_balancing_scan_period_min_ms, 1000). */
export const NUMA_SCAN_PERIOD_NS = 1_000_000_000;

/** The end of the user half walked by a scan (2^47). */
const USER_END = 2 ** 47;

/** The promotion's allocation: a movable user page on the CPU's node only, no reclaim, no warning. */
const PROMOTE_GFP = __GFP_HARDWALL | __GFP_HIGHMEM | __GFP_MOVABLE | __GFP_NOWARN | __GFP_NORETRY;

/** The vmstat counters of NUMA balancing. */
export class NumaBalancingStats {
  /** Entries a scan made hinting (numa_pte_updates). */
  numaPteUpdates = 0;
  /** Hinting faults taken (numa_hint_faults). */
  numaHintFaults = 0;
  /** Pages promoted to a fast node (pgpromote_success). */
  pgpromoteSuccess = 0;
}

/** What NUMA balancing needs of the machine. */
export interface NumaBalancingDeps {
  readonly numa: NumaTopology;
  readonly zones: readonly FramesZone[];
  readonly memmap: MemMap;
  readonly pages: PageAllocator;
  readonly migrate: Migrate;
  /** The running CPU. */
  readonly cpu: () => number;
  /** The address spaces the timer scans (every process's). */
  readonly mms: () => MmStruct[];
}

/** Hinting-fault promotion from the slow tier. */
export class NumaBalancing implements PteVisitor {
  readonly stats = new NumaBalancingStats();
  private nextScanNs = NUMA_SCAN_PERIOD_NS;
  private mm: MmStruct | null = null;
  /** Each node's top zone (null: none managed). */
  private readonly top: (FramesZone | null)[] = [];

  constructor(private readonly d: NumaBalancingDeps) {
    for (let nid = 0; nid < d.numa.nrNodes; nid++) {
      let top: FramesZone | null = null;
      for (const z of d.zones) if ((z.nid ?? 0) === nid && z.managed > 0) top = z;
      this.top.push(top);
    }
  }

  /** task_numa_work for one address space: marks the entries of its slow-tier anonymous pages. Returns how many. */
  scan(mm: MmStruct): number {
    const before = this.stats.numaPteUpdates;
    this.mm = mm;
    walkRange(mm.pt, 0, USER_END, this);
    this.mm = null;
    mm.pt.flushTlb();
    return this.stats.numaPteUpdates - before;
  }

  /** The timer, read at kswapd's safe point: every NUMA_SCAN_PERIOD_NS of the cost clock, every address space is scanned. */
  tick(nowNs: number): void {
    if (nowNs < this.nextScanNs) return;
    this.nextScanNs = nowNs + NUMA_SCAN_PERIOD_NS;
    for (const mm of this.d.mms()) this.scan(mm);
  }

  /** PteVisitor: a present, accessible 4 KiB entry of an anonymous page on a slow node becomes a hint. */
  visitPte(va: number, ptep: number, level: number): void {
    const pt = (this.mm as MmStruct).pt;
    const flags = pt.pteFlags(ptep);
    if (level !== 1 || (flags & (PTE_P | PTE_US | PTE_SPECIAL)) !== (PTE_P | PTE_US)) return;
    const pfn = pt.ptePfn(ptep);
    if (!this.slow(pfn) || !this.d.memmap.testFlag(pfn, PG_anon)) return;
    pt.setPte(va, ptep, pfn, (flags & ~PTE_US) >>> 0);
    this.stats.numaPteUpdates++;
  }

  /**
   * do_numa_page: the user access at `page` of `mm` met the hinting entry
   * `ptep` (present, PTE_US clear, in a VMA that allows the access). Gives
   * the entry its PTE_US back, then promotes the page to the running CPU's
   * node when that node is fast and has frames above its high watermark.
   */
  fault(mm: MmStruct, page: number, ptep: number): void {
    const pt = mm.pt;
    const pfn = pt.ptePfn(ptep);
    this.stats.numaHintFaults++;
    pt.setPte(page, ptep, pfn, (pt.pteFlags(ptep) | PTE_US | PTE_A) >>> 0);
    pt.flushTlb();
    const nid = this.d.numa.cpuNode[this.d.cpu()] as number;
    const z = this.top[nid];
    if (!this.slow(pfn) || this.slow(z?.startPfn ?? -1) || z === undefined || z === null || zoneFree(z) <= z.wmarkHigh) return;
    const to = this.d.pages.allocPagesNode(0, PROMOTE_GFP, nid, 1 << nid);
    if (to < 0) return;
    if (this.d.migrate.migratePage(pfn, to) < 0) this.d.pages.freePages(to, 0);
    else this.stats.pgpromoteSuccess++;
  }

  /** Whether frame pfn is on a node of the slow tier (a node without CPUs). */
  private slow(pfn: number): boolean {
    if (pfn < 0) return false;
    const numa = this.d.numa;
    return numa.memoryOnly(numa.nodeOf(pfn));
  }
}
