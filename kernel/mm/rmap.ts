/**
 * The reverse map of anonymous pages (Linux mm/rmap.c): from a frame to
 * every page-table entry that maps it, so that reclaim can read and clear
 * the accessed bits of a page and unmap it from every address space at once.
 *
 *   struct page of an anonymous page on the reverse map (memmap.ts):
 *     word 7  mapping: the anon group id of the VMA that first mapped it
 *             (its anon word without ANON_FORKED; never 0)
 *     word 8  index:   its linear page index in that VMA's object,
 *             vm_pgoff + (va - vm_start) / 4096, modulo 2^32 (a user
 *             address has 35 bits of page number; a VMA spans far fewer
 *             than 2^32 pages, so the low 32 bits name one page of it)
 *
 *   rmap walk (rmap_walk_anon): for every address space, every private
 *   VMA with an anon group whose [vm_pgoff, vm_pgoff + pages) covers the
 *   index is asked for the entry at
 *             va = vm_start + (index - vm_pgoff) * 4096
 *   and the entry counts when it is present and names the frame.
 *
 * The index is what Linux's anon_vma walk relies on too: fork copies VMAs
 * with their vm_pgoff, mremap keeps vm_pgoff when it moves a VMA, and a
 * split or merge keeps vm_pgoff + (va - vm_start) constant, so every entry
 * that maps an anonymous page sits at the same index in its VMA. Linux
 * narrows the walk to the VMAs chained to the page's anon_vma; memsim's
 * anon groups are not chained across fork, so the walk asks every private
 * VMA that covers the index and the entry itself decides (a VMA of another
 * group maps another frame there, or nothing). This costs O(VMAs) per page,
 * paid only by reclaim, never by a fault.
 *
 * Shared anonymous (shmem) pages have a walk of their own (walkShmem): their
 * mapping word names the shmem object, and every VMA naming that object
 * maps the page at the same index (Linux walks the shmem inode's i_mmap).
 *
 * Calls: struct page, VMA fields, page tables.
 */
import { panic } from "../panic.ts";
import { type MemMap, SP_INDEX, SP_MAPPING } from "./memmap.ts";
import { type MmStruct, PAGE } from "./mm.ts";
import { VM_SHARED } from "./mm_types.ts";
import { PTE_P, PTE_SPECIAL } from "./pgtable_types.ts";
import type { VmaOps } from "./vma.ts";

const ANON_ID = 0x7fffffff;
/** The index word holds the linear index modulo 2^32. */
const INDEX_MOD = 2 ** 32;

/** One visit of an rmap walk: the entry at `ptep` of `mm` maps the page at `va` in `vma`. Return false to stop the walk. */
export interface RmapVisitor {
  rmapOne(mm: MmStruct, vma: number, va: number, ptep: number): boolean;
}

/** The reverse map over the machine's address spaces. */
export class Rmap {
  /** The address spaces a walk visits; the reclaim run that walks sets it (Tasks.list()). */
  mms: readonly MmStruct[] = [];

  constructor(
    readonly memmap: MemMap,
    readonly vmas: VmaOps,
  ) {}

  /**
   * page_add_new_anon_rmap's half that names the page: records the anon
   * group and index of a new anonymous page mapped at `va` of `vma`.
   * Panics when the VMA has no anon group yet (anon_vma_prepare first).
   */
  addNewAnon(pfn: number, vma: number, va: number): void {
    const f = this.vmas.f;
    const anon = f.anon(vma) & ANON_ID;
    if (anon === 0) panic(`page_add_new_anon_rmap: VMA at 0x${f.start(vma).toString(16)} has no anon group`);
    this.memmap.setUserWord(pfn, SP_MAPPING, anon);
    // The linear index modulo 2^32: setUserWord's >>> 0 reduces it exactly; a % of a double past 2^31 would be a call into C.
    this.memmap.setUserWord(pfn, SP_INDEX, f.pgoff(vma) + (va - f.start(vma)) / PAGE);
  }

  /** Whether a page has reverse-map words (a page a lab's fault handler made has none). */
  hasRmap(pfn: number): boolean {
    return this.memmap.userWord(pfn, SP_MAPPING) !== 0;
  }

  /** Forgets a page's reverse-map words (before its last reference goes). */
  clear(pfn: number): void {
    this.memmap.setUserWord(pfn, SP_MAPPING, 0);
    this.memmap.setUserWord(pfn, SP_INDEX, 0);
  }

  /** The va at which `vma` would map index `index`, or -1 when the VMA does not cover it or maps no private anonymous pages. */
  vaOf(vma: number, index: number): number {
    const f = this.vmas.f;
    if (f.flags(vma) & VM_SHARED || f.anon(vma) === 0) return -1;
    // The page's offset in the VMA, modulo 2^32 like the index.
    const off = (((index - (f.pgoff(vma) % INDEX_MOD)) % INDEX_MOD) + INDEX_MOD) % INDEX_MOD;
    if (off >= (f.end(vma) - f.start(vma)) / PAGE) return -1;
    return f.start(vma) + off * PAGE;
  }

  /**
   * The shmem half of rmap_walk_file: calls `v.rmapOne` for every present
   * entry that maps shmem page `pfn` (struct page names its object and
   * index, shmem.ts), asking every VMA that names the object, in every
   * address space, for the entry at
   *           va = vm_start + (index - vm_pgoff) * 4096.
   * Returns the entries visited.
   */
  walkShmem(pfn: number, v: RmapVisitor): number {
    const f = this.vmas.f;
    const id = (this.memmap.userWord(pfn, SP_MAPPING) & ANON_ID) >>> 0;
    const index = this.memmap.userWord(pfn, SP_INDEX);
    let n = 0;
    for (const mm of this.mms) {
      const tree = mm.tree;
      for (let node = tree.first(); node >= 0; node = tree.next(node)) {
        const vma = tree.value(node);
        if (f.shmem(vma) !== id) continue;
        const off = index - f.pgoff(vma);
        if (off < 0 || off >= (f.end(vma) - f.start(vma)) / PAGE) continue;
        const va = f.start(vma) + off * PAGE;
        if (!this.mapsFrame(mm, va, pfn)) continue;
        n++;
        if (!v.rmapOne(mm, vma, va, mm.pt.lookup(va))) return n;
      }
    }
    return n;
  }

  /** Whether the entry at `va` of `mm` is present, not special, and names frame `pfn`. */
  private mapsFrame(mm: MmStruct, va: number, pfn: number): boolean {
    const ptep = mm.pt.lookup(va);
    if (ptep < 0) return false;
    const flags = mm.pt.pteFlags(ptep);
    return (flags & (PTE_P | PTE_SPECIAL)) === PTE_P && mm.pt.ptePfn(ptep) === pfn;
  }

  /**
   * rmap_walk_anon: calls `v.rmapOne` for every present entry that maps
   * `pfn`, in address-space order, until it returns false. Returns the
   * entries visited. A page without reverse-map words has none.
   */
  walk(pfn: number, v: RmapVisitor): number {
    if (!this.hasRmap(pfn)) return 0;
    const index = this.memmap.userWord(pfn, SP_INDEX);
    let n = 0;
    for (const mm of this.mms) {
      const tree = mm.tree;
      for (let node = tree.first(); node >= 0; node = tree.next(node)) {
        const vma = tree.value(node);
        const va = this.vaOf(vma, index);
        if (va < 0) continue;
        if (!this.mapsFrame(mm, va, pfn)) continue;
        n++;
        if (!v.rmapOne(mm, vma, va, mm.pt.lookup(va))) return n;
      }
    }
    return n;
  }
}
