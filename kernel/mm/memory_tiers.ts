/**
 * Memory tiering (Linux mm/memory-tiers.c, demote_folio_list of
 * mm/vmscan.c): with the `numa.tiering` boot option, the nodes without
 * CPUs are a slower tier, and reclaim on a node with CPUs moves its cold
 * anonymous and page-cache pages to the nearest slow node (its demotion
 * target, NumaTopology.demotionTarget) instead of swapping them out or
 * dropping them.
 *
 *   fast node (CPUs)                        slow node (no CPUs)
 *   top zone free <= low  --kswapd-->  victims of the zone migrated here
 *   top zone free <  min  --direct-->  (allocated with no fallback and no
 *                                       reclaim; when none is free the
 *                                       victim takes the normal path: swap,
 *                                       or drop / write back for a file page)
 *
 * Each fast node is reclaimed on its own (Linux's per-node kswapd): only
 * its top zone (the one the allocator's first pass fills) is watched, and
 * only the victims in that zone's frames are taken; the page stays mapped
 * (migrate.ts rewrites every entry), so the process reads the same bytes,
 * now from the slow node at the remote cost. The machine-wide kswapd of
 * vmscan_shrink.ts runs as before and swaps when the machine as a whole is
 * short, slow node included.
 *
 * Calls: the page allocator (allocPagesNode on the target), page migration.
 */
import { type FramesZone, type PageAllocator, zoneFree } from "./frames.ts";
import { __GFP_HARDWALL, __GFP_HIGHMEM, __GFP_MOVABLE, __GFP_NORETRY, __GFP_NOWARN } from "./gfp.ts";
import type { Migrate } from "./migrate.ts";
import type { NumaTopology } from "./numa.ts";
import { NumaBalancing } from "./numa_balancing.ts";
import { type Reclaim, type ReclaimWho, SWAP_CLUSTER_MAX, type TierReclaim } from "./vmscan_shrink.ts";

/**
 * The demotion target's allocation (alloc_demote_folio): a movable user
 * page that neither reclaims nor warns nor retries; the node mask keeps it
 * on the target (__GFP_THISNODE).
 */
const DEMOTE_GFP = __GFP_HARDWALL | __GFP_HIGHMEM | __GFP_MOVABLE | __GFP_NOWARN | __GFP_NORETRY;

/** The vmstat counters of tiering. */
export class TieringStats {
  /** Pages demoted by kswapd (pgdemote_kswapd). */
  pgdemoteKswapd = 0;
  /** Pages demoted by direct reclaim (pgdemote_direct). */
  pgdemoteDirect = 0;
}

/** What tiering needs of the machine. */
export interface TieringDeps {
  readonly numa: NumaTopology;
  readonly zones: readonly FramesZone[];
  readonly pages: PageAllocator;
  readonly migrate: Migrate;
  /** The running CPU. */
  readonly cpu: () => number;
}

/** Demotion for a machine booted with tiering on. */
export class MemoryTiers implements TierReclaim {
  readonly stats = new TieringStats();
  /** Each fast node's top zone (null for a node of the slow tier). */
  private readonly top: (FramesZone | null)[] = [];
  /** Each node's top zone, whatever its tier (null: the node has no memory the allocator manages). */
  private readonly anyTop: (FramesZone | null)[] = [];

  constructor(private readonly d: TieringDeps) {
    for (let nid = 0; nid < d.numa.nrNodes; nid++) {
      let top: FramesZone | null = null;
      for (const z of d.zones) if ((z.nid ?? 0) === nid && z.managed > 0) top = z;
      this.anyTop.push(top);
      this.top.push((d.numa.demotionTarget[nid] as number) >= 0 ? top : null);
    }
  }

  /**
   * kswapd of each fast node whose top zone is at or below its low
   * watermark: reclaims it up to its high watermark, then gives the per-CPU
   * lists back to the buddy lists (the frames freed went there, where the
   * watermark checks do not count them).
   */
  balance(r: Reclaim): void {
    for (const z of this.top) {
      if (z === null) continue;
      const free = zoneFree(z);
      if (free > z.wmarkLow) continue;
      if (r.shrinkRange(z.startPfn, z.endPfn, z.wmarkHigh - free, "kswapd") > 0) this.d.pages.drainPcp();
    }
  }

  /** Direct reclaim before a fault allocates: the running CPU's node's top zone below its min watermark gives SWAP_CLUSTER_MAX pages. */
  direct(r: Reclaim): void {
    const z = this.top[this.d.numa.cpuNode[this.d.cpu()] as number];
    if (z === undefined || z === null || zoneFree(z) >= z.wmarkMin) return;
    if (r.shrinkRange(z.startPfn, z.endPfn, SWAP_CLUSTER_MAX, "direct") > 0) this.d.pages.drainPcp();
  }

  /**
   * demote_folio_list for one page: migrates `pfn` to a free frame of its
   * node's demotion target. Returns false (the caller swaps or keeps the
   * page) when the node has no target, the target has no frame above its
   * min watermark, or migration refuses the page.
   */
  demote(pfn: number, who: ReclaimWho): boolean {
    const { numa, pages, migrate } = this.d;
    const target = numa.demotionTarget[numa.nodeOf(pfn)] as number;
    if (target < 0) return false;
    // A target at its min watermark has nothing to give: no allocation attempt (and no slow path) for it.
    const tz = this.anyTop[target];
    if (tz === undefined || tz === null || zoneFree(tz) <= tz.wmarkMin) return false;
    const to = pages.allocPagesNode(0, DEMOTE_GFP, target, 1 << target);
    if (to < 0) return false;
    if (migrate.migratePage(pfn, to) < 0) {
      pages.freePages(to, 0);
      return false;
    }
    if (who === "kswapd") this.stats.pgdemoteKswapd++;
    else this.stats.pgdemoteDirect++;
    return true;
  }
}

/**
 * Boot half of a NUMA machine: tiering on when the topology says so (and
 * the frames layer has zones), and the pgdemote_* lines of /proc/vmstat
 * (zero with tiering off; machines with one node print none).
 */
export function registerTiering(
  numa: NumaTopology,
  pages: PageAllocator & { readonly layer: { readonly zones?: readonly FramesZone[] } },
  parts: {
    readonly reclaim: Reclaim;
    readonly migrate: Migrate;
    readonly memory: { numaHint: NumaBalancing | null };
  },
  cpu: () => number,
  registry: {
    readonly vmstatSources: Array<(out: Array<[string, number]>) => void>;
    readonly clock: { now(): number };
  },
): MemoryTiers | null {
  const zones = pages.layer.zones;
  const on = numa.tiering && zones !== undefined;
  const tiers = on ? new MemoryTiers({ numa, zones, pages, migrate: parts.migrate, cpu }) : null;
  parts.reclaim.tiers = tiers;
  const balancing = on
    ? bootBalancing(
        new NumaBalancing({
          numa,
          zones,
          memmap: parts.reclaim.memmap,
          pages,
          migrate: parts.migrate,
          cpu,
          mms: () => parts.reclaim.addressSpaces(),
        }),
        parts,
        registry,
      )
    : null;
  registry.vmstatSources.push((out) =>
    out.push(
      ["numa_pte_updates", balancing?.stats.numaPteUpdates ?? 0],
      ["numa_hint_faults", balancing?.stats.numaHintFaults ?? 0],
      ["pgpromote_success", balancing?.stats.pgpromoteSuccess ?? 0],
      ["pgdemote_kswapd", tiers?.stats.pgdemoteKswapd ?? 0],
      ["pgdemote_direct", tiers?.stats.pgdemoteDirect ?? 0],
    ),
  );
  return tiers;
}

/** NUMA balancing on: the fault handler hears of hinting faults, and the scan timer runs at kswapd's safe point after what ran there. */
function bootBalancing(
  b: NumaBalancing,
  parts: { readonly reclaim: Reclaim; readonly memory: { numaHint: NumaBalancing | null } },
  registry: { readonly clock: { now(): number } },
): NumaBalancing {
  parts.memory.numaHint = b;
  const before = parts.reclaim.atSafePoint;
  parts.reclaim.atSafePoint = () => {
    before?.();
    b.tick(registry.clock.now());
  };
  return b;
}
