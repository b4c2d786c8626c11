/**
 * Reclaim of anonymous pages from the LRU lists (Linux mm/vmscan.c:
 * shrink_lruvec, kswapd, direct reclaim, try_to_free_pages; mm/swap.c's
 * LRU additions and deactivation; mlock_vma_folio from a fault).
 *
 * The replacement policy (replacement.ts) picks victims; what is done with
 * each (mlocked, dropped, demoted, swapped out or kept, through the reverse
 * map) is vmscan_folio.ts's FolioReclaim, which this file's Reclaim holds.
 * This file holds the rest: the pages joining and leaving the lists (a new
 * anonymous page, a fault's mapping and refault, a release, MADV_COLD,
 * mlock), the watermarks, when reclaim runs and how much it asks for, the
 * scan budget and the counters vmstat shows.
 *
 * kswapd: memsim has no threads. After a fault that allocated, when free
 * pages are below the low watermark, kswapd runs at once (a safe point: no
 * page is held) and reclaims until free pages reach the high watermark.
 * Direct reclaim: before a fault allocates a user page with free pages
 * below the min watermark, and when the page allocator finds nothing
 * during a fault, SWAP_CLUSTER_MAX pages are reclaimed in the allocating
 * task. Watermarks are the zones' (summed) when the frames layer has zones,
 * else computed the same way from its managed pages.
 *
 * Page-cache pages are on the file lists (vmscan_file.ts); every shrink
 * scans those first and asks the policy for anonymous victims only for
 * what they could not give.
 *
 * Limits: compound (huge) pages are never on the lists; reclaim from the shrinker path
 * runs only at safe points (`safe`: inside a fault, the page cache's allocation), never in the middle of fork or exit.
 *
 * Calls: the LRU lists, the reverse map, the policy host, the file lists,
 * FolioReclaim (the swap cache and slot I/O, Memory.releaseAnon, page tables).
 */
import type { FramesZone, PageAllocator } from "./frames.ts";
import {
  type MemMap,
  PG_file,
  PG_head,
  PG2_active,
  PG2_lru,
  PG2_mlocked,
  PG2_referenced,
  PG2_unevictable,
  PG2_workingset,
  SP_INDEX,
  SP_MAPPING,
  SP_MEMCG,
} from "./memmap.ts";
import type { MmStruct } from "./mm.ts";
import { VM_LOCKED } from "./mm_types.ts";
import { ReplacementHost, type ReplacementKernel, type ReplacementLayer, twoListReplacement } from "./replacement.ts";
import { Rmap } from "./rmap.ts";
import { LRU_ACTIVE_ANON, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, LRU_UNEVICTABLE, LruLists } from "./swap.ts";
import { FileLru, type ReclaimWho } from "./vmscan_file.ts";
import { FolioReclaim, type ReclaimMemory } from "./vmscan_folio.ts";

export type { ReclaimMemory } from "./vmscan_folio.ts";

/** Pages one direct reclaim asks for (SWAP_CLUSTER_MAX). */
export const SWAP_CLUSTER_MAX = 32;

export type { ReclaimWho } from "./vmscan_file.ts";

/** Memory tiering's side of reclaim (memory_tiers.ts), set at boot when tiering is on. */
export interface TierReclaim {
  /** After a fault: kswapd of each fast node below its low watermark (through shrinkRange). */
  balance(r: Reclaim): void;
  /** Before a fault allocates: direct reclaim of the running CPU's node below its min watermark. */
  direct(r: Reclaim): void;
  /** Moves a victim to its node's demotion target; false when it cannot (the victim takes the normal path). */
  demote(pfn: number, who: ReclaimWho): boolean;
}

/** The counters vmstat shows. */
export class ReclaimStats {
  pgscanKswapd = 0;
  pgscanDirect = 0;
  pgstealKswapd = 0;
  pgstealDirect = 0;
  workingsetRefaultAnon = 0;
  kswapdWakeups = 0;
}

/** The min, low and high watermarks, in free pages, over the whole machine. */
export interface Watermarks {
  min: number;
  low: number;
  high: number;
}

/** Linux's watermarks (mmzone.ts setupWatermarks) for a machine of `managed` pages without zones. */
export function computeWatermarks(managed: number): Watermarks {
  const minFreeKb = Math.min(262144, Math.max(128, Math.floor(Math.sqrt(managed * 4 * 16))));
  const min = Math.floor(minFreeKb / 4);
  const step = Math.max(Math.floor(min / 4), Math.floor((managed * 10) / 10000));
  return { min, low: min + step, high: min + 2 * step };
}

/** The machine's reclaim: LRU lists, reverse map, policy, kswapd and direct reclaim. */
export class Reclaim {
  readonly stats = new ReclaimStats();
  readonly lru: LruLists;
  /** The file lists (page-cache pages) and their reclaim. */
  readonly file: FileLru;
  readonly rmap: Rmap;
  readonly host: ReplacementHost;
  /** Runs after each kswapd (kcompactd, set at boot by kernel/main.ts). */
  afterKswapd: (() => void) | null = null;
  /** Runs at kswapd's safe point after every fault that did something (kcompactd's timer, set at boot by kernel/main.ts). */
  atSafePoint: (() => void) | null = null;
  /** Set while a fault runs: the only time the allocator's shrinker path may reclaim. */
  safe = 0;
  /** Memory tiering (memory_tiers.ts), set at boot when it is on. */
  tiers: TierReclaim | null = null;
  /** The frames a node's reclaim (shrinkRange) takes victims from: [rangeStart, rangeEnd); empty for the machine's. */
  private rangeStart = 0;
  private rangeEnd = 0;
  /** Watermarks, computed at the first use (the frames layer is booted by then). */
  private marks: Watermarks | null = null;
  /** Per swap slot: 1 when reclaim evicted the page there, 2 when it was active (workingset): a swap-in is a refault. */
  private shadow: Uint8Array;
  /** The reclaim of one page and its rmap walks (vmscan_folio.ts). */
  private readonly folios: FolioReclaim;
  private running = 0;

  constructor(
    readonly memmap: MemMap,
    private readonly pages: PageAllocator,
    /** The frames layer's zones (their watermarks), or undefined for a layer without. */
    private readonly zones: readonly FramesZone[] | undefined,
    private readonly memory: ReclaimMemory,
    /** The address spaces of the machine's processes (Tasks.list). */
    private readonly mms: () => MmStruct[],
    layer: ReplacementLayer | undefined,
    seed: number,
    /** "every-access" when the MMU reports each user access (Mmu.observe, wired to `userAccess`); else "faults-and-bits". */
    readonly references: ReplacementKernel["references"] = "faults-and-bits",
  ) {
    this.lru = new LruLists(memmap);
    this.file = new FileLru(memmap, this.lru);
    this.rmap = new Rmap(memmap, memory.vmas);
    const k: ReplacementKernel = {
      lru: this.lru,
      harvest: (pfn) => this.folios.harvest(pfn),
      pageKey: (pfn) => memmap.userWord(pfn, SP_MAPPING) * 2 ** 36 + memmap.userWord(pfn, SP_INDEX),
      seed,
      references,
    };
    this.host = new ReplacementHost((layer ?? twoListReplacement)(k), this.lru);
    this.shadow = new Uint8Array(memory.swap === null ? 0 : memory.swap.dev.nrSlots);
    this.folios = new FolioReclaim(memmap, pages, memory, this.rmap, this.host, this.lru, this.shadow, mms);
  }

  /** The address spaces an rmap walk visits now (page migration walks them too). */
  addressSpaces(): MmStruct[] {
    return this.mms();
  }

  /** The machine's watermarks. */
  watermarks(): Watermarks {
    if (this.marks !== null) return this.marks;
    const zones = this.zones;
    if (zones === undefined || zones.length === 0) this.marks = computeWatermarks(this.pages.nrManagedPages());
    else {
      const m = { min: 0, low: 0, high: 0 };
      for (const z of zones) {
        m.min += z.wmarkMin;
        m.low += z.wmarkLow;
        m.high += z.wmarkHigh;
      }
      this.marks = m;
    }
    return this.marks;
  }

  /**
   * lru_cache_add_inactive_or_unevictable + the naming half of
   * page_add_new_anon_rmap: a new anonymous page mapped at `va` of `vma`
   * joins the lists (unevictable and mlocked in a VM_LOCKED VMA).
   */
  addNewAnon(pfn: number, vma: number, va: number): void {
    if (this.memmap.testFlag(pfn, PG_head)) return;
    this.rmap.addNewAnon(pfn, vma, va);
    if (this.memory.vmas.f.flags(vma) & VM_LOCKED) {
      this.memmap.setFlags2(pfn, PG2_mlocked);
      this.lru.add(pfn, LRU_UNEVICTABLE);
      return;
    }
    this.lru.add(pfn, LRU_INACTIVE_ANON);
    this.host.added(pfn);
  }

  /**
   * A fault mapped page `pfn` at `va` of `vma`: a page read back from swap
   * (`slot`, major) joins the lists, and is a refault when reclaim evicted
   * it; a page already on them (the swap cache's) is mlocked when `vma` is
   * VM_LOCKED (mlock_vma_folio), else a reference the policy hears of.
   */
  mapped(pfn: number, vma: number, va: number, slot: number, major: boolean): void {
    if (!(this.memmap.flags2(pfn) & PG2_lru)) {
      this.addNewAnon(pfn, vma, va);
      if (!major || slot >= this.shadow.length || this.shadow[slot] === 0) return;
      this.stats.workingsetRefaultAnon++;
      if (this.shadow[slot] === 2) this.memmap.setFlags2(pfn, PG2_workingset);
      this.shadow[slot] = 0;
    } else if (this.memory.vmas.f.flags(vma) & VM_LOCKED) this.mlockFolio(pfn);
    if (this.references === "faults-and-bits" && !(this.memmap.flags2(pfn) & PG2_unevictable)) this.host.referenced(pfn);
  }

  /**
   * The every-access mode's observer (Mmu.observe): a user load or store
   * reached `pfn`; a resident evictable anonymous page is a reference the
   * policy hears of. In this mode a fault reports nothing itself: the
   * access it retries does, once.
   */
  userAccess(pfn: number): void {
    const mm = this.memmap;
    if ((mm.flags2(pfn) & (PG2_lru | PG2_unevictable)) !== PG2_lru || mm.testFlag(pfn, PG_file)) return;
    this.host.referenced(pfn);
  }

  /**
   * mlock_folio: an evictable anonymous LRU page that a VM_LOCKED VMA maps
   * leaves the replacement policy for the unevictable list (PG_mlocked); an
   * unevictable page stays as it is. Called by mlock's walk (mlock_folio.ts)
   * and by a fault that maps a page already on the lists (a swap-cache hit)
   * into a locked VMA, as Linux's rmap does when it adds a mapping.
   */
  mlockFolio(pfn: number): void {
    const mm = this.memmap;
    if (mm.flags2(pfn) & PG2_unevictable) return;
    this.host.removed(pfn);
    this.lru.del(pfn);
    mm.clearFlags2(pfn, PG2_referenced);
    mm.setFlags2(pfn, PG2_mlocked);
    this.lru.add(pfn, LRU_UNEVICTABLE);
  }

  /**
   * The last reference to `pfn` is going (FramePages' release hook): off
   * its list, out of the policy, reverse-map and LRU words cleared.
   */
  release(pfn: number): void {
    const mm = this.memmap;
    const f2 = mm.flags2(pfn);
    if (f2 & PG2_lru) {
      if (!(f2 & PG2_unevictable) && !mm.testFlag(pfn, PG_file)) this.host.removed(pfn);
      this.lru.del(pfn);
    }
    mm.clearFlags2(pfn, PG2_referenced | PG2_mlocked | PG2_workingset | PG2_active);
    this.rmap.clear(pfn);
  }

  /**
   * MADV_COLD (deactivate_page): an evictable page on an active list goes
   * to its inactive head (anon or file) with no referenced state.
   */
  deactivate(pfn: number): void {
    const f2 = this.memmap.flags2(pfn);
    if ((f2 & (PG2_lru | PG2_unevictable)) !== PG2_lru) return;
    this.memmap.clearFlags2(pfn, PG2_referenced);
    if (f2 & PG2_active) this.lru.move(pfn, this.memmap.testFlag(pfn, PG_file) ? LRU_INACTIVE_FILE : LRU_INACTIVE_ANON);
  }

  /** Pages an allocation can have at once: free, and cached on per-CPU lists. */
  nrFree(): number {
    return this.pages.nrFreePages() + this.pages.nrPcpPages();
  }

  /**
   * nrFree() < mark. The per-CPU lists are counted only when the buddy
   * lists alone are below the mark (a count is never negative, so with
   * enough on the buddy lists the sum is too): the per-fault checks below
   * then ask the frames layer one count, not two.
   */
  private freeBelow(mark: number): boolean {
    const free = this.pages.nrFreePages();
    return free < mark && free + this.pages.nrPcpPages() < mark;
  }

  /** After a fault that allocated: wakes kswapd when free pages are below the low watermark; then atSafePoint. */
  afterFault(): void {
    if (this.running === 0 && this.tiers !== null) this.tiers.balance(this);
    if (this.running === 0 && this.freeBelow(this.watermarks().low)) this.kswapd();
    this.atSafePoint?.();
  }

  /** Before a fault allocates a user page: direct reclaim when free pages are below min. */
  beforeAlloc(): void {
    if (this.running === 0 && this.tiers !== null) this.tiers.direct(this);
    if (this.running === 0 && this.freeBelow(this.watermarks().min)) this.shrink(SWAP_CLUSTER_MAX, 0, "direct");
  }

  /** The allocator found nothing (a shrinker): direct reclaim, inside a fault only. Returns pages freed. */
  shrinker(want: number): number {
    if (this.safe === 0 || this.running !== 0) return 0;
    return this.shrink(Math.max(want, SWAP_CLUSTER_MAX), 0, "direct");
  }

  /** balance_pgdat: reclaims until free pages reach the high watermark (or nothing more can go). Returns pages freed. */
  kswapd(): number {
    this.stats.kswapdWakeups++;
    const want = this.watermarks().high - this.nrFree();
    const freed = want > 0 ? this.shrink(want, 0, "kswapd") : 0;
    this.afterKswapd?.();
    return freed;
  }

  /**
   * try_to_free_pages: reclaims up to `nrPages` pages, of memory cgroup
   * `memcg` only (its SP_MEMCG word) unless memcg is 0. Counted as direct
   * reclaim. Returns the pages freed.
   */
  tryToFreePages(nrPages: number, memcg: number): number {
    if (this.running !== 0) return 0;
    return this.shrink(nrPages, memcg, "direct");
  }

  /**
   * A node's reclaim under memory tiering (memory_tiers.ts): like shrink,
   * but only victims in frames [start, end) are taken (the others are
   * kept), page-cache ones first (FileLru.shrinkRange), and each is first
   * offered to demotion. Counted as `who`
   * (a kswapd run also as a wakeup). Returns the pages that left the range.
   */
  shrinkRange(start: number, end: number, want: number, who: ReclaimWho): number {
    if (this.running !== 0 || want <= 0) return 0;
    if (who === "kswapd") this.stats.kswapdWakeups++;
    this.rangeStart = start;
    this.rangeEnd = end;
    try {
      return this.shrink(want, 0, who);
    } finally {
      this.rangeStart = 0;
      this.rangeEnd = 0;
    }
  }

  /**
   * The lazy-free shrinker (and `m.kernel.reclaimLazyFree()`): walks the
   * evictable lists from their tails and drops up to `want` pages that are
   * lazily freeable: MADV_FREE pages no entry wrote since (one that was
   * written becomes dirty and ordinary again) and pages of MAP_DROPPABLE
   * mappings, from every mapping at once through the reverse map.
   * Returns pages freed.
   */
  reclaimLazy(want: number): number {
    if (this.running !== 0) return 0;
    this.running++;
    this.rmap.mms = this.mms();
    let freed = 0;
    try {
      for (const lru of [LRU_INACTIVE_ANON, LRU_ACTIVE_ANON]) {
        for (let pfn = this.lru.last(lru); pfn >= 0 && freed < want; ) {
          const prev = this.lru.prev(pfn);
          if (this.folios.dropLazy(pfn)) freed++;
          pfn = prev;
        }
      }
    } finally {
      this.rmap.mms = [];
      this.running--;
    }
    return freed;
  }

  /**
   * shrink_lruvec: the file lists first (vmscan_file.ts), then asks the
   * policy for anonymous victims until `want` pages went or the scan budget
   * is spent.
   */
  shrink(want: number, memcg: number, who: ReclaimWho): number {
    this.running++;
    this.rmap.mms = this.mms();
    const lru = this.lru;
    const budget = 2 * ((lru.count[LRU_INACTIVE_ANON] as number) + (lru.count[LRU_ACTIVE_ANON] as number)) + 1;
    let victims = 0;
    let stolen = 0;
    const folios = this.folios;
    folios.looked = 0;
    const ranged = this.rangeEnd > this.rangeStart;
    try {
      stolen = ranged
        ? this.file.shrinkRange(want, this.rangeStart, this.rangeEnd, this.tiers as TierReclaim, who)
        : this.file.shrink(want, memcg);
      folios.looked = this.file.scanned;
      while (stolen < want && victims < budget) {
        folios.lastLooked = -1;
        const pfn = this.host.victim();
        if (pfn < 0) break;
        victims++;
        // A victim the policy chose without looking (FIFO, RANDOM) is scanned now.
        if (pfn !== folios.lastLooked) folios.looked++;
        if (memcg !== 0 && this.memmap.userWord(pfn, SP_MEMCG) !== memcg) this.host.keep(pfn);
        else if (ranged && (pfn < this.rangeStart || pfn >= this.rangeEnd)) this.host.keep(pfn);
        else if (folios.evict(pfn, ranged ? (this.tiers as TierReclaim) : null, who)) stolen++;
      }
    } finally {
      this.rmap.mms = [];
      this.running--;
    }
    const scanned = folios.looked;
    if (who === "kswapd") {
      this.stats.pgscanKswapd += scanned;
      this.stats.pgstealKswapd += stolen;
    } else {
      this.stats.pgscanDirect += scanned;
      this.stats.pgstealDirect += stolen;
    }
    return stolen;
  }

  /** Pages counted in Mlocked (PG_mlocked), all on the unevictable list. */
  nrMlocked(): number {
    let n = 0;
    for (let pfn = this.lru.first(LRU_UNEVICTABLE); pfn >= 0; pfn = this.lru.next(pfn)) if (this.memmap.flags2(pfn) & PG2_mlocked) n++;
    return n;
  }

  /** folio_referenced: clears the accessed bits of every entry mapping `pfn`; returns how many were set. */
  harvest(pfn: number): number {
    return this.folios.harvest(pfn);
  }
}
