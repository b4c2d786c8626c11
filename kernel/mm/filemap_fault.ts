/**
 * Faults on file mappings (Linux mm/filemap.c filemap_fault and the file
 * half of mm/memory.c do_read_fault / do_cow_fault / do_shared_fault): a
 * page of a file VMA comes from the page cache. A shared mapping maps the
 * cache page itself (a store reaches the file); a private one maps it
 * read-only and copies it into a private anonymous page at the first write
 * (never written back). An access past the last page of the file is SIGBUS.
 *
 * Words: file object = the VMA's object word with VMA_FILE set; it names an
 * open file (kernel/fs/file_mmap.ts) the VMA holds a reference on. A file
 * page = a PG_file frame of the page cache; each mapping of it holds one
 * reference and one mapcount, and counts in the mm's rssFile.
 */
import { PFO_FILE, PFO_FILE_COPY, PFO_WP_SHARED } from "../events_types.ts";
import { FAULT_OK, FAULT_OOM, FAULT_SIGBUS, vmaPteFlags } from "./fault_codes.ts";
import type { PageAllocator } from "./frames.ts";
import { GFP_HIGHUSER_MOVABLE } from "./gfp.ts";
import { type MemMap, PG_file } from "./memmap.ts";
import type { MmStruct } from "./mm.ts";
import { PAGE } from "./mm.ts";
import { VM_SHARED, VM_WRITE } from "./mm_types.ts";
import { PF_WRITE, PTE_D, PTE_RW } from "./pgtable_types.ts";
import type { PhysMem } from "./physmem.ts";
import type { VmaOps } from "./vma.ts";

/** Bit 30 of a VMA's object word: the object is an open file, not a shmem object. */
export const VMA_FILE = 0x40000000;

/** True when a VMA object word names a file. */
export function isFileObject(obj: number): boolean {
  return (obj & VMA_FILE) !== 0;
}

/** getPage's answer when the page lies past the last page of the file (SIGBUS). */
export const FILE_PAGE_SIGBUS = -2;
/** getPage's answer when no frame could be had. */
export const FILE_PAGE_NOMEM = -1;

/** What the fault path needs from the file layer (kernel/fs/file_mmap.ts). */
export interface FileMapping {
  /** The cache frame of page `index` of file object `obj`, or FILE_PAGE_SIGBUS / FILE_PAGE_NOMEM. */
  getPage(obj: number, index: number): number;
  /** Whether the last getPage read its page from disk (the fault is major). */
  readonly major: boolean;
  /** set_page_dirty on a cache page (counted in Dirty). */
  markDirty(pfn: number): void;
  /** page_mkwrite: gives cache page `pfn` a disk block before its first store. Returns false when none is left (SIGBUS). */
  mkwrite(pfn: number): boolean;
  /** True when cache page `pfn` has its disk block (a store may go straight to it). */
  hasBlock(pfn: number): boolean;
  /** A cache page became mapped (+1) or unmapped (-1) (meminfo Mapped). */
  mappedDelta(delta: number): void;
  /** A VMA took / dropped a reference on file object `obj`. */
  get(obj: number): void;
  put(obj: number): void;
  /** `vma` of `mm`, naming file object `obj`, joined its mm (the inode's i_mmap list gains it). */
  link(mm: MmStruct, vma: number, obj: number): void;
  /** `vma`, naming file object `obj`, leaves its mm (and the inode's i_mmap list). */
  unlink(vma: number, obj: number): void;
}

/** What the file fault path needs of Memory (memory.ts). */
export interface FileFaultHost {
  readonly vmas: VmaOps;
  readonly buddy: PageAllocator;
  readonly phys: PhysMem;
  /** The outcome the fault handler reports (PFO_*). */
  outcome: number;
  /** Fault counters: a page read from disk is a major fault. */
  readonly stats: { pgmajfault: number };
  anonVmaPrepare(vma: number): void;
  newAnonPage(mm: MmStruct, pfn: number): void;
}

/** The file side of the fault handler; one per machine, owned by Memory. */
export class FileFault {
  /** The file layer, set when it boots (a machine without files never has a file VMA). */
  files: FileMapping | null = null;

  constructor(
    private readonly m: FileFaultHost,
    private readonly memmap: MemMap,
  ) {}

  /** The page index in the file of the page at `page` in file VMA `vma`. */
  private index(vma: number, page: number): number {
    const f = this.m.vmas.f;
    return f.pgoff(vma) + (page - f.start(vma)) / PAGE;
  }

  /**
   * A fault on an empty entry of a file VMA (do_read_fault, do_cow_fault,
   * do_shared_fault), through the same steps the lab API hands a student
   * (kernel/mm/lab_api.ts: filePage, mapFilePage, putFilePage). Returns
   * FAULT_OK, FAULT_SIGBUS past the end of the file, FAULT_OOM when no
   * frame could be had.
   */
  fault(mm: MmStruct, vma: number, page: number, ptep: number, ec: number): number {
    const pfn = this.getPage(vma, this.index(vma, page));
    if (pfn === FILE_PAGE_SIGBUS) return FAULT_SIGBUS;
    if (pfn < 0) return FAULT_OOM;
    const write = (ec & PF_WRITE) !== 0;
    if (write && !(this.m.vmas.f.flags(vma) & VM_SHARED)) {
      const r = this.copyToAnon(mm, vma, page, ptep, pfn);
      this.m.buddy.putPage(pfn);
      return r;
    }
    return this.mapPage(mm, vma, page, ptep, pfn, write ? "write" : "read");
  }

  /**
   * filemap_fault's lookup: the cache frame of page `index` of the file VMA
   * `vma` maps, read in when not cached, with one reference for the caller
   * (mapPage makes it the mapping's; put it with putPage otherwise).
   * Returns the pfn, FILE_PAGE_SIGBUS past the last page of the file, or
   * FILE_PAGE_NOMEM when no frame could be had.
   */
  getPage(vma: number, index: number): number {
    const files = this.files as FileMapping;
    const pfn = files.getPage(this.m.vmas.f.shmem(vma), index);
    if (pfn < 0) return pfn;
    // A page read from the disk makes the fault major (the lab's path through k.filePage counts too).
    if (files.major) this.m.stats.pgmajfault++;
    this.m.buddy.getPage(pfn);
    return pfn;
  }

  /** The page index in its file of page `va` of file VMA `vma`. */
  fileIndex(vma: number, va: number): number {
    return this.index(vma, va - (va % PAGE));
  }

  /**
   * finish_fault for a cache page: maps `pfn` (holding the reference
   * getPage gave) at `page` through the empty entry `ptep`, with the
   * entry flags of `vma` for `access`. A write gives the page its disk
   * block first (page_mkwrite) and dirties it. Returns FAULT_OK, or
   * FAULT_SIGBUS when the disk has no block left (the reference dropped).
   */
  mapPage(mm: MmStruct, vma: number, page: number, ptep: number, pfn: number, access: "read" | "write"): number {
    const files = this.files as FileMapping;
    const write = access === "write";
    if (write && !files.mkwrite(pfn)) {
      this.m.buddy.putPage(pfn);
      return FAULT_SIGBUS;
    }
    const flags = this.m.vmas.f.flags(vma);
    this.mapOne(mm, pfn);
    let pte = vmaPteFlags(flags, write);
    // Writable but clean after a read, once the page has its block: the MMU
    // sets D on the first store, and writeback harvests it. A page over a
    // hole stays read-only so that its first store faults (page_mkwrite).
    if (!write && flags & VM_SHARED && flags & VM_WRITE && files.hasBlock(pfn)) pte |= PTE_RW;
    if (write) files.markDirty(pfn);
    mm.pt.setPte(page, ptep, pfn, pte >>> 0);
    this.m.outcome = PFO_FILE;
    return FAULT_OK;
  }

  /**
   * A write to a private file mapping: the file's page `src` is copied into
   * a fresh anonymous page mapped writable (do_cow_fault). The entry may be
   * empty or map `src` read-only (then that mapping is dropped).
   */
  private copyToAnon(mm: MmStruct, vma: number, page: number, ptep: number, src: number): number {
    // Held across the allocation, whose reclaim would otherwise take the cache page being copied.
    this.m.buddy.getPage(src);
    const pfn = this.m.buddy.allocPages(0, GFP_HIGHUSER_MOVABLE);
    if (pfn >= 0) this.m.phys.copyPage(pfn, src);
    this.m.buddy.putPage(src);
    if (pfn < 0) return FAULT_OOM;
    this.m.anonVmaPrepare(vma);
    this.m.newAnonPage(mm, pfn);
    mm.pt.setPte(page, ptep, pfn, vmaPteFlags(this.m.vmas.f.flags(vma), true));
    mm.pt.flushTlb();
    this.m.outcome = PFO_FILE_COPY;
    return FAULT_OK;
  }

  /** One more mapping of file page `pfn` in `mm` (page_add_file_rmap). */
  private mapOne(mm: MmStruct, pfn: number): void {
    const n = this.memmap.mapcount(pfn);
    this.memmap.setMapcount(pfn, n + 1);
    if (n === 0) (this.files as FileMapping).mappedDelta(1);
    mm.rssFile++;
    mm.updateHiwater();
  }

  /**
   * do_wp_page on a file page mapped read-only in a shared writable VMA:
   * the page gets its block (SIGBUS when the disk is full), is dirtied and
   * mapped writable.
   */
  wpShared(mm: MmStruct, vma: number, page: number, ptep: number, pfn: number): number {
    const files = this.files as FileMapping;
    if (!files.mkwrite(pfn)) return FAULT_SIGBUS;
    files.markDirty(pfn);
    mm.pt.setPte(page, ptep, pfn, vmaPteFlags(this.m.vmas.f.flags(vma), true));
    mm.pt.flushTlb();
    this.m.outcome = PFO_WP_SHARED;
    return FAULT_OK;
  }

  /** do_wp_page on a file page mapped read-only in a private VMA: copied, the file's page unmapped here. */
  wpPrivate(mm: MmStruct, vma: number, page: number, ptep: number, old: number): number {
    const r = this.copyToAnon(mm, vma, page, ptep, old);
    if (r === FAULT_OK) this.unmapFilePage(mm, old, 0);
    return r;
  }

  /** True when `pfn` is a page-cache page (mapped by a file VMA). */
  isFilePage(pfn: number): boolean {
    return this.memmap.testFlag(pfn, PG_file);
  }

  /**
   * Drops one mapping of file page `pfn` whose entry had `pteFlags`: a
   * dirty entry makes the cache page dirty first (zap_pte_range's
   * folio_mark_dirty), so the store reaches the file.
   */
  unmapFilePage(mm: MmStruct, pfn: number, pteFlags: number): void {
    const files = this.files as FileMapping;
    if (pteFlags & PTE_D) files.markDirty(pfn);
    const n = this.memmap.mapcount(pfn) - 1;
    this.memmap.setMapcount(pfn, n);
    if (n === 0) files.mappedDelta(-1);
    mm.rssFile--;
    // The page cache holds the last reference; struct page still names the file.
    this.m.buddy.putPage(pfn);
  }
}

/** The VMA object references of a machine: file objects go to the file layer, the rest to shmem. */
export class VmaObjects {
  /** The file layer's side, set when it boots. */
  files: FileMapping | null = null;

  constructor(private readonly shmem: { get(id: number): void; put(id: number): void }) {}

  get(id: number): void {
    if (isFileObject(id)) (this.files as FileMapping).get(id);
    else this.shmem.get(id);
  }

  put(id: number): void {
    if (isFileObject(id)) (this.files as FileMapping).put(id);
    else this.shmem.put(id);
  }

  /** A file VMA joins its inode's i_mmap list; a shmem object keeps none. */
  link(mm: MmStruct, vma: number, id: number): void {
    if (isFileObject(id)) (this.files as FileMapping).link(mm, vma, id);
  }

  unlink(vma: number, id: number): void {
    if (isFileObject(id)) (this.files as FileMapping).unlink(vma, id);
  }
}
