/**
 * /proc/PID/numa_maps (Linux fs/proc/task_mmu.c show_numa_map): one line
 * per VMA, its start, its memory policy (the VMA's own, else the task's,
 * mempolicy.ts mpolToStr), what it maps, then the counts of its present
 * pages, in Linux's order, each only when it is not zero:
 *
 *   00400000 default file=/a heap|stack huge anon=N dirty=N mapped=N
 *            mapmax=N swapcache=N active=N N0=N N1=N kernelpagesize_kB=4
 *
 * mapped= appears when the pages are neither all anonymous nor all dirty,
 * active= when fewer than all pages are on an active (or unevictable) list.
 * A VMA with no present page ends after its name. The zero page is not
 * counted; a 2 MiB transparent huge page counts 512 pages, a hugetlb page one.
 */
import { type MemMap, PG_anon, PG_dirty, PG_swapcache, PG2_active, PG2_unevictable } from "../mm/memmap.ts";
import { MAX_NUMNODES, type NumaTopology } from "../mm/numa.ts";
import type { PageTable } from "../mm/pgtable.ts";
import { type PteVisitor, walkRange } from "../mm/pgtable_range.ts";
import { PTE_D, PTE_P, PTE_SPECIAL } from "../mm/pgtable_types.ts";

/** The counts of one VMA (struct numa_maps). */
export interface NumaMapsCounts {
  pages: number;
  anon: number;
  dirty: number;
  swapcache: number;
  active: number;
  mapcountMax: number;
  /** Pages on each node. */
  readonly node: Int32Array;
}

/** gather_pte_stats over one VMA's range. */
export class NumaMapsWalk implements PteVisitor {
  private c: NumaMapsCounts = emptyCounts();
  private pt: PageTable | null = null;

  constructor(
    private readonly memmap: MemMap,
    private readonly numa: NumaTopology,
  ) {}

  run(pt: PageTable, start: number, end: number): NumaMapsCounts {
    this.c = emptyCounts();
    this.pt = pt;
    walkRange(pt, start, end, this);
    this.pt = null;
    return this.c;
  }

  visitPte(_va: number, ptep: number, level: number): void {
    const pt = this.pt as PageTable;
    const flags = pt.pteFlags(ptep);
    if (!(flags & PTE_P) || flags & PTE_SPECIAL) return;
    const pfn = pt.ptePfn(ptep);
    // A 2 MiB leaf: 512 pages of a transparent huge page, or one hugetlb page.
    const nr = level === 2 && this.memmap.testFlag(pfn, PG_anon) ? 512 : 1;
    const c = this.c;
    c.pages += nr;
    if ((flags & PTE_D) !== 0 || this.memmap.testFlag(pfn, PG_dirty)) c.dirty += nr;
    if (this.memmap.testFlag(pfn, PG_anon)) c.anon += nr;
    if (this.memmap.testFlag(pfn, PG_swapcache)) c.swapcache += nr;
    if ((this.memmap.flags2(pfn) & (PG2_active | PG2_unevictable)) !== 0) c.active += nr;
    c.mapcountMax = Math.max(c.mapcountMax, this.memmap.mapcount(pfn));
    const nid = this.numa.nodeOf(pfn);
    c.node[nid] = (c.node[nid] as number) + nr;
  }
}

function emptyCounts(): NumaMapsCounts {
  return { pages: 0, anon: 0, dirty: 0, swapcache: 0, active: 0, mapcountMax: 0, node: new Int32Array(MAX_NUMNODES) };
}

/** One numa_maps line: `what` is "" or " file=PATH", " heap", " stack" (and " huge" for hugetlb). */
export function numaMapsLine(start: number, policy: string, what: string, c: NumaMapsCounts, pageKb: number, hugetlb: boolean): string {
  let out = `${start.toString(16).padStart(8, "0")} ${policy}${what}`;
  if (c.pages === 0) return `${out}\n`;
  if (c.anon) out += ` anon=${c.anon}`;
  if (c.dirty) out += ` dirty=${c.dirty}`;
  if (c.pages !== c.anon && c.pages !== c.dirty) out += ` mapped=${c.pages}`;
  if (c.mapcountMax > 1) out += ` mapmax=${c.mapcountMax}`;
  if (c.swapcache) out += ` swapcache=${c.swapcache}`;
  if (c.active < c.pages && !hugetlb) out += ` active=${c.active}`;
  for (let nid = 0; nid < c.node.length; nid++) if (c.node[nid]) out += ` N${nid}=${c.node[nid]}`;
  return `${out} kernelpagesize_kB=${pageKb}\n`;
}
