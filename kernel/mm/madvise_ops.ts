/**
 * The page-level half of madvise and mremap for the task list (Linux's
 * mm/madvise.c zap/free/cold/pageout range walks and mm/mremap.c's
 * move_page_tables, as kernel/fork.ts hands them to sysMadvise and
 * sysMremap): MADV_DONTNEED, MADV_FREE, MADV_PAGEOUT, MADV_COLD,
 * MADV_POPULATE_*, MADV_REMOVE on shared memory, and mremap's table move.
 * Cold code: only those two system calls reach it.
 */
import type { MadvisePageOps } from "./madvise.ts";
import { DeactivateWalk, LazyFreeWalk } from "./madvise.ts";
import type { Memory } from "./memory.ts";
import { type MmStruct, PAGE } from "./mm.ts";
import type { MmapContext } from "./mmap.ts";
import { MovePageTables, type MremapPageOps } from "./mremap.ts";
import { PageoutWalk } from "./vmscan.ts";

/** The live address spaces, keyed by pid (the task list's own map). */
export type TaskMms = ReadonlyMap<number, { readonly mm: MmStruct }>;

/** madvise's and mremap's page operations over one machine's memory. */
export class MadviseOps implements MadvisePageOps, MremapPageOps {
  private readonly lazyWalk: LazyFreeWalk;
  private readonly deactivateWalk: DeactivateWalk;
  private readonly mover = new MovePageTables();
  /** MADV_PAGEOUT's swap-out walk, made on first use on a machine with swap. */
  private pageoutWalk: PageoutWalk | null = null;

  constructor(
    private readonly ctx: MmapContext,
    private readonly memory: Memory,
    private readonly tasks: TaskMms,
  ) {
    this.lazyWalk = new LazyFreeWalk(memory.memmap, memory);
    this.deactivateWalk = new DeactivateWalk(memory.memmap);
    this.deactivateWalk.deactivate = (pfn) => memory.reclaim?.deactivate(pfn);
  }

  /** MADV_PAGEOUT's swap-out walk (made on first use), or null on a machine without swap. */
  pageoutWalker(): PageoutWalk | null {
    const m = this.memory;
    if (m.swap === null) return null;
    this.pageoutWalk ??= new PageoutWalk(m.phys, m.memmap, m.buddy, m.swap, m.memcg);
    return this.pageoutWalk;
  }

  /** MadvisePageOps. */
  zapRange(mm: MmStruct, vma: number, start: number, end: number): void {
    this.memory.zapRange(mm, vma, start, end);
  }

  /** MadvisePageOps. */
  splitHugeRange(mm: MmStruct, start: number, end: number): boolean {
    return this.memory.huge.splitRange(mm, start, end);
  }

  /** MadvisePageOps. */
  lazyFree(mm: MmStruct, _vma: number, start: number, end: number): void {
    this.lazyWalk.mm = mm;
    this.lazyWalk.run(mm.pt, start, end);
    this.lazyWalk.mm = null;
  }

  /** MadvisePageOps: false without swap. */
  pageout(mm: MmStruct, _vma: number, start: number, end: number): boolean {
    const walk = this.pageoutWalker();
    if (walk === null) return false;
    walk.run(mm, start, end);
    return true;
  }

  /** MadvisePageOps. */
  deactivate(mm: MmStruct, _vma: number, start: number, end: number): void {
    this.deactivateWalk.run(mm.pt, start, end);
  }

  /** MadvisePageOps. */
  populateChecked(mm: MmStruct, vma: number, start: number, end: number, access: "read" | "write"): number {
    return this.memory.populateChecked(mm, vma, start, end, access);
  }

  /** MadvisePageOps: the hole is unmapped from every process mapping the object (unmap_mapping_range), then freed. */
  removeShared(vma: number, start: number, end: number): void {
    const f = this.ctx.vmas.f;
    const id = f.shmem(vma);
    const from = f.pgoff(vma) + (start - f.start(vma)) / PAGE;
    const to = from + (end - start) / PAGE;
    for (const p of this.tasks.values()) {
      for (let n = p.mm.tree.first(); n >= 0; n = p.mm.tree.next(n)) {
        const v = p.mm.tree.value(n);
        if (f.shmem(v) !== id) continue;
        const lo = Math.max(from, f.pgoff(v));
        const hi = Math.min(to, f.pgoff(v) + (f.end(v) - f.start(v)) / PAGE);
        if (lo < hi) this.memory.zapRange(p.mm, v, f.start(v) + (lo - f.pgoff(v)) * PAGE, f.start(v) + (hi - f.pgoff(v)) * PAGE);
      }
    }
    this.memory.shmem.removePages(id, from, to);
  }

  /** MremapPageOps. */
  movePageTables(mm: MmStruct, oldStart: number, newStart: number, len: number): boolean {
    if (!this.memory.huge.splitForMove(mm, oldStart, len, newStart - oldStart)) return false;
    return this.mover.run(mm.pt, oldStart, newStart, len);
  }
}
