/**
 * The page-replacement layer (`layers.replacement`): which resident
 * anonymous page reclaim evicts next. The kernel tells a policy of every
 * page that becomes evictable or stops being so and of every reference it
 * sees (a fault that maps a page already resident; a refault from swap),
 * lets it read and clear accessed bits through the reverse map (harvest),
 * and asks it for victims. Reclaim (vmscan.ts) does the eviction itself:
 * unmapping, swap-out or drop, and tells the policy with `removed`.
 *
 * memsim's own policy, `twoListReplacement` below (Linux's active/inactive
 * scheme of mm/vmscan.c: shrink_inactive_list, folio_check_references,
 * shrink_active_list), is a policy like any other: it goes through this
 * interface alone, with the LRU lists (swap.ts) the kernel hands to every
 * policy. Others ship in replacement_policies.ts.
 *
 * Words: resident = on the inactive or active list (the kernel keeps every
 * evictable page there; the unevictable list is the kernel's own).
 */
import { layerFault } from "../panic.ts";
import { type MemMap, PG_alloc, PG_file, PG2_lru, PG2_referenced, PG2_unevictable } from "./memmap.ts";
import { LRU_ACTIVE_ANON, LRU_INACTIVE_ANON, type LruLists } from "./swap.ts";

/** What a policy is handed when the machine boots. */
export interface ReplacementKernel {
  /** The LRU lists: a policy may move anonymous pages between inactive and active (never to or from unevictable; the file lists are the kernel's). */
  readonly lru: LruLists;
  /**
   * folio_referenced: clears the accessed bit of every page-table entry
   * that maps `pfn` (through the reverse map) and returns how many had it set.
   */
  harvest(pfn: number): number;
  /** A name for the page's contents that outlives its frame: its anon group and index (stable across runs of the same seed). */
  pageKey(pfn: number): number;
  /** The machine's seed, for a policy that draws (RANDOM). */
  readonly seed: number;
  /**
   * Which references `referenced` reports. "faults-and-bits" (the default):
   * a fault that maps a resident page and a refault; every other access
   * shows only as an accessed bit, for `harvest`. "every-access" (boot
   * option `mmu: { observeAccesses: true }`): exactly one call per user
   * load or store, after any fault it took (so a page that came in is
   * `added` first), and none from faults; accessed bits add nothing then.
   */
  readonly references: "faults-and-bits" | "every-access";
}

/** A replacement policy: one object per machine. Every method is called by the kernel only. */
export interface ReplacementPolicy {
  /** Names the policy in reports. */
  readonly name: string;
  /** `pfn` became resident and evictable (a new page, a swap-in, a page mlock let go); it is at the inactive list's head. */
  added(pfn: number): void;
  /** `pfn` stopped being the policy's: freed, evicted, or made unevictable. */
  removed(pfn: number): void;
  /** The kernel saw a reference to resident `pfn`: a fault mapped it again, or it refaulted from swap; in the every-access mode, each user access. */
  referenced(pfn: number): void;
  /** The next page to evict, still resident; -1 when the policy has none. */
  victim(): number;
  /** The victim could not be evicted now (pinned, no swap slot, another memcg's): keep it and pick others first. */
  keep(pfn: number): void;
}

/** A replacement layer: builds the machine's policy. */
export type ReplacementLayer = (k: ReplacementKernel) => ReplacementPolicy;

/** The default policy's bound on list moves per victim, in pages on the lists (the loop ends long before in practice). */
const SCAN_PASSES = 4;

/**
 * memsim's default: Linux's two lists. New pages enter the inactive list.
 * A victim is taken from the inactive tail: a page whose entries were
 * referenced since the last look is given a second chance (PG_referenced,
 * back to the head) the first time and promoted to the active list the
 * second (or at once when several entries referenced it). When the inactive
 * list is shorter than the active one, the active tail is deactivated
 * first (its accessed bits cleared), as shrink_active_list keeps the two in
 * balance.
 */
export const twoListReplacement: ReplacementLayer = (k) => new TwoList(k);

class TwoList implements ReplacementPolicy {
  readonly name = "twolist";
  private readonly lru: LruLists;
  private readonly memmap: MemMap;

  constructor(private readonly k: ReplacementKernel) {
    this.lru = k.lru;
    this.memmap = k.lru.memmap;
  }

  added(_pfn: number): void {}

  removed(_pfn: number): void {}

  /** mark_page_accessed: referenced twice while inactive, a page is promoted. */
  referenced(pfn: number): void {
    const mm = this.memmap;
    if (this.lru.listOf(pfn) !== LRU_INACTIVE_ANON) return;
    if (mm.flags2(pfn) & PG2_referenced) {
      mm.clearFlags2(pfn, PG2_referenced);
      this.lru.move(pfn, LRU_ACTIVE_ANON);
    } else mm.setFlags2(pfn, PG2_referenced);
  }

  victim(): number {
    const lru = this.lru;
    const limit = SCAN_PASSES * ((lru.count[LRU_INACTIVE_ANON] as number) + (lru.count[LRU_ACTIVE_ANON] as number)) + SCAN_PASSES;
    for (let n = 0; n < limit; n++) {
      if ((lru.count[LRU_INACTIVE_ANON] as number) < (lru.count[LRU_ACTIVE_ANON] as number)) this.deactivate(lru.last(LRU_ACTIVE_ANON));
      const pfn = lru.last(LRU_INACTIVE_ANON);
      if (pfn < 0) return -1;
      if (this.checkReferences(pfn) === "reclaim") return pfn;
    }
    return -1;
  }

  keep(pfn: number): void {
    this.lru.move(pfn, LRU_INACTIVE_ANON);
  }

  /** folio_check_references for an inactive page: reclaim it, or move it (second chance or promotion). */
  private checkReferences(pfn: number): "reclaim" | "moved" {
    const mm = this.memmap;
    const refs = this.k.harvest(pfn);
    const wasReferenced = (mm.flags2(pfn) & PG2_referenced) !== 0;
    if (refs === 0) {
      mm.clearFlags2(pfn, PG2_referenced);
      return "reclaim";
    }
    if (wasReferenced || refs > 1) {
      mm.clearFlags2(pfn, PG2_referenced);
      this.lru.move(pfn, LRU_ACTIVE_ANON);
    } else {
      mm.setFlags2(pfn, PG2_referenced);
      this.lru.move(pfn, LRU_INACTIVE_ANON);
    }
    return "moved";
  }

  /** shrink_active_list for one page: anonymous pages go inactive whatever their accessed bits say (which are cleared). */
  private deactivate(pfn: number): void {
    this.k.harvest(pfn);
    this.memmap.clearFlags2(pfn, PG2_referenced);
    this.lru.move(pfn, LRU_INACTIVE_ANON);
  }
}

/**
 * The kernel's side of a policy: every call through try/catch, every
 * victim checked. A policy that throws, or names a page that is not a
 * resident evictable anonymous page (a page-cache page on the file lists
 * included), is a LayerFault("replacement").
 */
export class ReplacementHost {
  constructor(
    readonly policy: ReplacementPolicy,
    private readonly lru: LruLists,
  ) {}

  get name(): string {
    return this.policy.name;
  }

  added(pfn: number): void {
    try {
      this.policy.added(pfn);
    } catch (e) {
      this.threw(`added(0x${pfn.toString(16)})`, e);
    }
  }

  removed(pfn: number): void {
    try {
      this.policy.removed(pfn);
    } catch (e) {
      this.threw(`removed(0x${pfn.toString(16)})`, e);
    }
  }

  referenced(pfn: number): void {
    try {
      this.policy.referenced(pfn);
    } catch (e) {
      this.threw(`referenced(0x${pfn.toString(16)})`, e);
    }
  }

  keep(pfn: number): void {
    try {
      this.policy.keep(pfn);
    } catch (e) {
      this.threw(`keep(0x${pfn.toString(16)})`, e);
    }
  }

  /** The policy's victim, checked. Returns -1 when it has none. Throws LayerFault when it names a page that is not resident and evictable. */
  victim(): number {
    let pfn: number;
    try {
      pfn = this.policy.victim();
    } catch (e) {
      return this.threw("victim()", e);
    }
    if (pfn === -1) return -1;
    const mm = this.lru.memmap;
    if (!Number.isInteger(pfn) || pfn < 0 || pfn >= mm.nrPages)
      layerFault(
        "replacement",
        `replacement layer: '${this.policy.name}' victim() returned ${String(pfn)}, not a pfn of this machine or -1`,
      );
    if (!mm.testFlag(pfn, PG_alloc) || (mm.flags2(pfn) & (PG2_lru | PG2_unevictable)) !== PG2_lru || mm.testFlag(pfn, PG_file))
      layerFault(
        "replacement",
        `replacement layer: '${this.policy.name}' victim() returned pfn 0x${pfn.toString(16)}, which is not a resident evictable anonymous page`,
      );
    return pfn;
  }

  private threw(what: string, e: unknown): never {
    return layerFault("replacement", `replacement layer: '${this.policy.name}' ${what} threw: ${String(e)}`, e);
  }
}
