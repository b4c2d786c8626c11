/**
 * Where memory policies put pages (Linux mm/mempolicy.c alloc_pages_mpol,
 * migrate_pages for mbind): the node a demand fault or copy-on-write copy
 * takes its page from under a policy word (mempolicy.ts says how each mode
 * chooses), and MPOL_MF_MOVE's and MPOL_MF_STRICT's walk of the pages
 * already present.
 */

import { MPOL_BIND, MPOL_INTERLEAVE, MPOL_PREFERRED } from "../uapi/mempolicy.ts";
import type { PageAllocator } from "./frames.ts";
import { GFP_HIGHUSER_MOVABLE } from "./gfp.ts";
import { firstNode, interleaveNode, mpolMode, mpolNodes, type PolicyContext } from "./mempolicy.ts";
import type { MmStruct } from "./mm.ts";
import type { NumaTopology } from "./numa.ts";
import type { PageTable } from "./pgtable.ts";
import { type PteVisitor, walkRange } from "./pgtable_range.ts";
import { PTE_P, PTE_SPECIAL } from "./pgtable_types.ts";
import type { VmaOps } from "./vma.ts";

/** What MPOL_MF_MOVE needs of page migration (migrate.ts Migrate). */
export interface PageMover {
  movable(pfn: number): boolean;
  /** The new pfn, or a negative MIGRATE_* reason (the target is then still the caller's). */
  migratePage(pfn: number, target: number): number;
}

/**
 * Where demand faults place user pages: the VMA's policy, else the task's
 * (the file's header says how each mode chooses). Also the context the
 * syscalls act in.
 */
export class MemPolicy implements PolicyContext, PteVisitor {
  /** Counts an interleave page that landed on the node interleave chose (interleave_hit; set when the frames layer is the buddy allocator). */
  interleaveHit: ((pfn: number) => void) | null = null;
  /** The running CPU (kernel/main.ts points it at smp.current). */
  currentCpu: () => number = () => 0;
  /** The misplaced walk's state: the nodes allowed, the page table, and whether a page outside them was seen. */
  private allowed = 0;
  private walkPt: PageTable | null = null;
  private found = false;
  /** The move walk's finds: addresses and frames of misplaced pages mapped once (null: the strict test only). */
  private moveVa: number[] | null = null;
  private movePfn: number[] = [];
  /** Page migration (migrate.ts), for MPOL_MF_MOVE; set at boot. */
  migrate: PageMover | null = null;
  /** The frames' mapcounts (MPOL_MF_MOVE moves only pages this process alone maps); set at boot. */
  mapcount: (pfn: number) => number = () => 1;

  constructor(
    readonly numa: NumaTopology,
    private readonly pages: PageAllocator,
    readonly vmas: VmaOps,
  ) {}

  localNode(): number {
    return this.numa.cpuNode[this.currentCpu()] ?? 0;
  }

  /**
   * An order-0 page for user address `addr` of `vma` under policy `word`
   * (non-zero: callers ask allocPages themselves for MPOL_DEFAULT). Returns
   * -1 as allocPages.
   */
  alloc(word: number, vma: number, addr: number, gfp: number): number {
    const mask = mpolNodes(word);
    switch (mpolMode(word)) {
      case MPOL_PREFERRED:
        return this.pages.allocPagesNode(0, gfp, firstNode(mask), 0);
      case MPOL_BIND:
        return this.pages.allocPagesNode(0, gfp, this.localNode(), mask);
      case MPOL_INTERLEAVE: {
        const nid = interleaveNode(this.vmas, vma, addr, mask);
        const pfn = this.pages.allocPagesNode(0, gfp, nid, 0);
        if (pfn >= 0 && this.interleaveHit !== null && this.numa.nodeOf(pfn) === nid) this.interleaveHit(pfn);
        return pfn;
      }
      default:
        return this.pages.allocPages(0, gfp);
    }
  }

  /** MPOL_MF_STRICT's test: whether a present page of [start, end) (the zero page aside) is on a node outside `allowed`. */
  misplaced(mm: MmStruct, start: number, end: number, allowed: number): boolean {
    this.allowed = allowed;
    this.walkPt = mm.pt;
    this.found = false;
    walkRange(mm.pt, start, end, this);
    this.walkPt = null;
    return this.found;
  }

  /**
   * MPOL_MF_MOVE: moves the misplaced pages of [start, end) that only this
   * address space maps to frames the policy of their VMA places. Returns
   * how many misplaced pages stayed (shared, not movable, or no frame).
   */
  movePages(mm: MmStruct, start: number, end: number, allowed: number): number {
    this.moveVa = [];
    this.movePfn = [];
    this.misplaced(mm, start, end, allowed);
    const vas = this.moveVa;
    const pfns = this.movePfn;
    this.moveVa = null;
    let stuck = 0;
    for (let i = 0; i < vas.length; i++) {
      const va = vas[i] as number;
      const pfn = pfns[i] as number;
      if (va < 0) {
        stuck++;
        continue;
      }
      const vma = this.vmas.lookup(mm, va);
      const word = this.vmas.policy(vma) || mm.mempolicy;
      if (this.migrate === null || this.mapcount(pfn) !== 1 || !this.migrate.movable(pfn)) {
        stuck++;
        continue;
      }
      const target = this.alloc(word, vma, va, GFP_HIGHUSER_MOVABLE);
      if (target < 0) {
        stuck++;
        continue;
      }
      if (this.migrate.migratePage(pfn, target) < 0) {
        this.pages.freePages(target, 0);
        stuck++;
      }
    }
    return stuck;
  }

  visitPte(va: number, ptep: number, level: number): void {
    const pt = this.walkPt as PageTable;
    const flags = pt.pteFlags(ptep);
    if (!(flags & PTE_P) || flags & PTE_SPECIAL) return;
    const pfn = pt.ptePfn(ptep);
    if (((this.allowed >>> this.numa.nodeOf(pfn)) & 1) !== 0) return;
    this.found = true;
    if (this.moveVa === null) return;
    // A 2 MiB leaf never moves here (migrate.ts moves order-0 pages): it stays, counted as stuck.
    this.moveVa.push(level === 1 ? va : -1);
    this.movePfn.push(pfn);
  }
}
