/**
 * `k`: the kernel API a lab's layer is handed (kernel/LAYERS.md, "The kernel
 * API"). Everything a student's page-fault handler, fork copy or spawn hook
 * needs, and nothing more: find the VMA of an address or make one, page
 * reference counts for copy-on-write, user frames with their accounting,
 * file pages for a fault on a file mapping; and, from the page-table half
 * it extends (lab_api_pgtable.ts), walk a page table to an entry, read and
 * write entries by named bits, map and unmap one page, one TLB entry
 * flushed, accessed bits read and cleared.
 *
 * The default layers do this work through the same functions: the fault
 * handler's new anonymous page is Memory.newAnonPage (k.allocUserPage), its
 * table walk is PageTable.ensure (k.walk "alloc"), fork's COW copy bumps
 * references with PageAllocator.getPage (k.getPage), and spawn makes the
 * [stack] VMA with k.insertVma.
 *
 * Numbers only: an address space is its MmStruct, an entry its address in
 * RAM (ptep), a VMA its handle (0 for none), a frame its pfn. No call makes
 * an object.
 */

import { panic } from "../panic.ts";
import { FILE_PAGE_SIGBUS, isFileObject } from "./filemap_fault.ts";
import type { PageAllocator } from "./frames.ts";
import { __GFP_ZERO, GFP_HIGHUSER_MOVABLE } from "./gfp.ts";
import { KernelApiPgtable } from "./lab_api_pgtable.ts";
import { PG_alloc, PG_anon_exclusive } from "./memmap.ts";
import type { Memory } from "./memory.ts";
import { FAULT_ACCERR, FAULT_MAPERR, FAULT_OK, FAULT_OOM, FAULT_SIGBUS, vmaAllows, vmaPteFlags } from "./memory.ts";
import type { MmStruct } from "./mm.ts";
import { PAGE } from "./mm.ts";
import {
  VM_ACCOUNT,
  VM_DONTCOPY,
  VM_EXEC,
  VM_GROWSDOWN,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYWRITE,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
} from "./mm_types.ts";
import { PF_INSTR, PF_PROT, PF_USER, PF_WRITE } from "./pgtable_types.ts";
import type { VmaOps } from "./vma.ts";

export type { WalkMode } from "./lab_api_pgtable.ts";

/** The kernel API handed to a lab's layers: the page-table half (KernelApiPgtable) and the rest. */
export class KernelApi extends KernelApiPgtable {
  /** VMA flags. */
  readonly VM_READ = VM_READ;
  readonly VM_WRITE = VM_WRITE;
  readonly VM_EXEC = VM_EXEC;
  readonly VM_SHARED = VM_SHARED;
  readonly VM_GROWSDOWN = VM_GROWSDOWN;
  /** What mprotect may later grant (without VM_MAYWRITE a VMA can never be made writable). */
  readonly VM_MAYREAD = VM_MAYREAD;
  readonly VM_MAYWRITE = VM_MAYWRITE;
  readonly VM_MAYEXEC = VM_MAYEXEC;
  /** fork leaves the VMA out of the child (MADV_DONTFORK). */
  readonly VM_DONTCOPY = VM_DONTCOPY;
  /** The VMA's pages are charged to commit (Committed_AS) while it lives. */
  readonly VM_ACCOUNT = VM_ACCOUNT;
  /** What a page-fault handler returns. */
  readonly FAULT_OK = FAULT_OK;
  readonly FAULT_MAPERR = FAULT_MAPERR;
  readonly FAULT_ACCERR = FAULT_ACCERR;
  readonly FAULT_OOM = FAULT_OOM;
  readonly FAULT_SIGBUS = FAULT_SIGBUS;
  /** filePage's answer for a page past the last page of the file (the access is SIGBUS). */
  readonly FILE_PAGE_SIGBUS = FILE_PAGE_SIGBUS;
  /** #PF error-code bits. */
  readonly PF_PROT = PF_PROT;
  readonly PF_WRITE = PF_WRITE;
  readonly PF_USER = PF_USER;
  readonly PF_INSTR = PF_INSTR;
  private readonly pages: PageAllocator;
  private readonly vmas: VmaOps;

  constructor(private readonly memory: Memory) {
    super(memory);
    this.pages = memory.buddy;
    this.vmas = memory.vmas;
  }

  /**
   * insert_vm_struct (as _install_special_mapping uses it): a new VMA
   * [start, end) with VM_* `flags` in `mm`, empty (map its pages with
   * allocUserPage and mapPage). VM_ACCOUNT charges its pages to commit.
   * fork copies it unless VM_DONTCOPY; exit unmaps it with everything else.
   * Returns the VMA, or 0 when the range overlaps a VMA, the map count is at
   * vm.max_map_count, commit refuses the charge or no memory is left for the
   * VMA. A `name` ("[usyscall]") makes it a special mapping
   * (_install_special_mapping's vm_special_mapping name): /proc/PID/maps
   * shows it, fork's copy and the halves of a split keep it, it never merges.
   * Throws RangeError when [start, end) is not whole pages of user space.
   */
  insertVma(mm: MmStruct, start: number, end: number, flags: number, name = ""): number {
    if (
      !(
        Number.isInteger(start) &&
        Number.isInteger(end) &&
        start % PAGE === 0 &&
        end % PAGE === 0 &&
        0 < start &&
        start < end &&
        end <= mm.pt.vaEnd
      )
    ) {
      throw new RangeError(`k.insertVma: [0x${start.toString(16)}, 0x${end.toString(16)}) is not whole pages of user space`);
    }
    const next = this.vmas.findVma(mm, start);
    if ((next !== 0 && this.vmas.f.start(next) < end) || mm.mapCount >= this.vmas.maxMapCount) return 0;
    const vma = this.vmas.alloc(mm, start, end, flags >>> 0, start / PAGE);
    if (vma === 0) return 0;
    if (flags & VM_ACCOUNT) {
      const pages = (end - start) / PAGE;
      if (!this.memory.commit.charge(pages)) {
        this.vmas.freeObject(vma);
        return 0;
      }
      mm.committed += pages;
    }
    if (name !== "") this.vmas.setName(vma, name);
    this.vmas.insert(mm, vma);
    return vma;
  }

  /** find_vma: the VMA holding `va`, or 0 when none does. */
  findVma(mm: MmStruct, va: number): number {
    return this.vmas.lookup(mm, va);
  }

  /** First address of VMA `vma`. */
  vmaStart(vma: number): number {
    return this.vmas.f.start(vma);
  }

  /** End (exclusive) of VMA `vma`. */
  vmaEnd(vma: number): number {
    return this.vmas.f.end(vma);
  }

  /** access_error inverted: true when VMA `vma` permits the access #PF error code `ec` describes. */
  vmaAllows(vma: number, ec: number): boolean {
    return vmaAllows(this.vmas.f.flags(vma), ec);
  }

  /** The entry flags memsim gives a page of VMA `vma` (P, US, A; NX unless VM_EXEC; RW and D when `access` is "write" and the VMA is writable). */
  vmaPteFlags(vma: number, access: "read" | "write"): number {
    return vmaPteFlags(this.vmas.f.flags(vma), access === "write");
  }

  /** VM_* flags of VMA `vma`. */
  vmaFlags(vma: number): number {
    return this.vmas.f.flags(vma);
  }

  /** page_ref_count: references to frame `pfn` (0 when it is free, on a per-CPU list too, whose link shares the word). */
  pageRef(pfn: number): number {
    return this.memmap.testFlag(pfn, PG_alloc) ? this.memmap.refcount(pfn) : 0;
  }

  /** page_mapcount: page-table entries naming frame `pfn`. */
  pageMapcount(pfn: number): number {
    return this.memmap.mapcount(pfn);
  }

  /**
   * get_page for one more mapping (xv6's COW refcount inc): a reference and a
   * mapping of `pfn`, and one more anonymous page in `mm`'s RSS.
   * Panics when `pfn` is free.
   */
  getPage(mm: MmStruct, pfn: number): void {
    this.pages.getPage(pfn);
    this.memmap.setMapcount(pfn, this.memmap.mapcount(pfn) + 1);
    mm.rssAnon++;
  }

  /**
   * What Linux's fork does to each anonymous page it shares
   * (page_try_dup_anon_rmap): clears the frame's anon-exclusive mark
   * (PageAnonExclusive), so no address space may write it in place or
   * mprotect it writable while it may be shared (memsim's own COW fault sets
   * it again when it reuses a last reference). Call it on every frame a fork
   * copy shares with k.getPage.
   * Panics when `pfn` is free.
   */
  clearAnonExclusive(pfn: number): void {
    if (!this.memmap.testFlag(pfn, PG_alloc)) panic(`k.clearAnonExclusive: frame 0x${pfn.toString(16)} is free`);
    this.memmap.clearFlag(pfn, PG_anon_exclusive);
  }

  /** PageAnonExclusive: 1 when frame `pfn` is an anonymous page only one address space maps and may write in place, else 0. */
  anonExclusive(pfn: number): number {
    return this.memmap.testFlag(pfn, PG_anon_exclusive) ? 1 : 0;
  }

  /**
   * The inverse of getPage and allocUserPage (xv6's kfree on a COW page):
   * drops `mm`'s mapping and reference; the frame is freed with the last.
   */
  putPage(mm: MmStruct, pfn: number): void {
    this.memory.releaseAnon(mm, pfn);
  }

  /**
   * kalloc for user memory: a zeroed frame accounted as one anonymous page
   * of `mm` (refcount 1, mapcount 1, RSS) in VMA `vma` (which fork then
   * knows to copy; 0 for a page of no VMA). Commit was charged when the VMA
   * was made; a fault never charges. Returns the pfn, or -1 when no frame is
   * free. Map it with mapPage; free it with putPage.
   */
  allocUserPage(mm: MmStruct, vma: number): number {
    const pfn = this.pages.allocPages(0, GFP_HIGHUSER_MOVABLE | __GFP_ZERO);
    if (pfn < 0) return -1;
    if (vma !== 0) this.memory.anonVmaPrepare(vma);
    this.memory.newAnonPage(mm, pfn);
    return pfn;
  }

  /** Copies frame `src`'s 4096 bytes into frame `dst` (memmove of a page). */
  copyPage(dst: number, src: number): void {
    this.phys.copyPage(dst, src);
  }

  /** Physical memory, byte by byte (a frame's bytes are at pfn * 4096). */
  read8(pa: number): number {
    return this.phys.read8(pa);
  }

  /** Writes one byte of physical memory. */
  write8(pa: number, v: number): void {
    this.phys.write8(pa, v);
  }

  /** 1 when VMA `vma` maps a file (mmap of a descriptor), else 0. */
  vmaIsFile(vma: number): number {
    return isFileObject(this.vmas.f.shmem(vma)) ? 1 : 0;
  }

  /** The page index in its file of page `va` of file VMA `vma` (vm_pgoff plus the pages before `va`). */
  filePageIndex(vma: number, va: number): number {
    return this.memory.file.fileIndex(vma, va);
  }

  /**
   * filemap_fault's lookup: the page-cache frame of page `index` of the file
   * VMA `vma` maps (read from the disk when not cached; a partial last page
   * is zero past the end of the file), with one reference for the caller:
   * mapFilePage makes it the mapping's, putFilePage drops it. Returns the
   * pfn, FILE_PAGE_SIGBUS when `index` is past the last page of the file,
   * or -1 when no frame could be had.
   * Throws RangeError when `vma` does not map a file.
   */
  filePage(vma: number, index: number): number {
    this.checkFileVma(vma, "k.filePage");
    return this.memory.file.getPage(vma, index);
  }

  /** put_page: drops a reference filePage gave (after copying the page for a private write). */
  putFilePage(pfn: number): void {
    this.pages.putPage(pfn);
  }

  /**
   * finish_fault for a page-cache page: maps `pfn` (with the reference
   * filePage gave, which the mapping keeps) at page `va` through the empty
   * entry `ptep` of `mm`, flags as `vmaPteFlags(vma, access)`; counted in
   * the mapcount and `mm`'s file RSS. A store through it reaches the file.
   * A "write" gives the page its disk block and dirties it. Returns
   * FAULT_OK, or FAULT_SIGBUS when the disk is full (the reference dropped).
   * Throws RangeError when `vma` does not map a file. Panics when the entry
   * at `ptep` is not empty.
   */
  mapFilePage(mm: MmStruct, vma: number, va: number, ptep: number, pfn: number, access: "read" | "write"): number {
    this.checkFileVma(vma, "k.mapFilePage");
    const page = va - (va % PAGE);
    if (!mm.pt.pteNone(ptep)) panic(`k.mapFilePage: the entry of 0x${page.toString(16)} is not empty`);
    return this.memory.file.mapPage(mm, vma, page, ptep, pfn, access);
  }

  /** Throws RangeError unless `vma` is a VMA mapping a file. */
  private checkFileVma(vma: number, who: string): void {
    if (vma === 0 || !isFileObject(this.vmas.f.shmem(vma))) throw new RangeError(`${who}: VMA ${vma} does not map a file`);
  }
}
