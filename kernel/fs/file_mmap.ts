/**
 * The file layer's side of mmap (Linux mm/filemap.c's fault half, the
 * i_mmap walks of mm/memory.c unmap_mapping_range and mm/rmap.c
 * page_mkclean, and mm/msync.c): resolves a descriptor for mmap, names each
 * mapped open file by a VMA object word, hands the fault handler the cache
 * page of a file offset, and walks every VMA mapping an inode to harvest
 * dirty PTEs before writeback or to unmap pages a truncate removes.
 *
 * A mapped file stays open while a VMA maps it (the VMA holds a reference
 * on the open file description, as vm_file does), so close(fd) after mmap
 * leaves the mapping working. The mappings of an inode are found on its
 * i_mmap list (address_space->i_mmap): every VMA naming one of its open
 * files joins it when linked into its mm (mmap, split, fork, mremap) and
 * leaves it when removed (munmap, merge, exit); FILEMAP-2 recounts it.
 */
import { FILE_PAGE_NOMEM, FILE_PAGE_SIGBUS, type FileMapping, isFileObject, VMA_FILE } from "../mm/filemap_fault.ts";
import { type MemMap, PG_file, SP_INDEX, SP_MAPPING } from "../mm/memmap.ts";
import type { MmStruct } from "../mm/mm.ts";
import type { VmaFields } from "../mm/mm_types.ts";
import { VM_LOCKED, VM_SHARED } from "../mm/mm_types.ts";
import type { MmapFile } from "../mm/mmap.ts";
import type { PageTable } from "../mm/pgtable.ts";
import { type PteVisitor, walkRange } from "../mm/pgtable_range.ts";
import { PTE_A, PTE_D, PTE_P, PTE_SPECIAL } from "../mm/pgtable_types.ts";
import { invariant, panic } from "../panic.ts";
import { O_ACCMODE, O_RDONLY, O_RDWR, O_WRONLY } from "../uapi/fcntl.ts";
import { BLOCK_SIZE } from "./blockdev.ts";
import type { OpenFile } from "./file.ts";
import type { Vfs, VfsMappings } from "./vfs.ts";

/** What the file layer needs of the task side: every address space (for the checker's recount) and a zap. */
export interface MappingHost {
  /** Every live address space. */
  mms(): Iterable<MmStruct>;
  readonly f: VmaFields;
  /** zap_page_range for [start, end) of one VMA. */
  zapRange(mm: MmStruct, vma: number, start: number, end: number): void;
}

interface Mapped {
  readonly file: OpenFile;
  refs: number;
}

/** Clears the dirty bit of every present file-page entry of a walk and marks the page dirty in the cache (page_mkclean). */
class HarvestWalk implements PteVisitor {
  pt: PageTable | null = null;
  found = 0;
  constructor(
    private readonly memmap: MemMap,
    private readonly mark: (pfn: number) => void,
  ) {}
  visitPte(va: number, ptep: number): void {
    const pt = this.pt as PageTable;
    const flags = pt.pteFlags(ptep);
    if ((flags & (PTE_P | PTE_D | PTE_SPECIAL)) !== (PTE_P | PTE_D)) return;
    const pfn = pt.ptePfn(ptep);
    if (!this.memmap.testFlag(pfn, PG_file)) return;
    pt.setPte(va, ptep, pfn, (flags & ~PTE_D) >>> 0);
    this.mark(pfn);
    this.found++;
  }
}

/** Collects the addresses of present entries that map page-cache pages. */
class CacheEntriesWalk implements PteVisitor {
  pt: PageTable | null = null;
  readonly vas: number[] = [];
  constructor(private readonly memmap: MemMap) {}
  visitPte(va: number, ptep: number): void {
    const pt = this.pt as PageTable;
    const flags = pt.pteFlags(ptep);
    if ((flags & (PTE_P | PTE_SPECIAL)) === PTE_P && this.memmap.testFlag(pt.ptePfn(ptep), PG_file)) this.vas.push(va);
  }
}

/** Mapped files of a machine. */
export class FileMmap implements FileMapping, VfsMappings {
  private readonly byObj = new Map<number, Mapped>();
  private readonly objOf = new WeakMap<OpenFile, number>();
  private nextId = 1;
  /** i_mmap: ino -> (vma -> its mm), every VMA of every address space mapping the inode. */
  private readonly iMmap = new Map<number, Map<number, MmStruct>>();
  private readonly harvestWalk: HarvestWalk;
  private readonly cacheWalk: CacheEntriesWalk;

  constructor(
    private readonly vfs: Vfs,
    private readonly host: MappingHost,
    private readonly memmap: MemMap,
  ) {
    this.harvestWalk = new HarvestWalk(memmap, (pfn) => this.vfs.cache.markDirty(pfn));
    this.cacheWalk = new CacheEntriesWalk(memmap);
  }

  /** mmap's view of descriptor `fd` of process `pid`, or null for a bad descriptor. */
  resolve(pid: number, fd: number): MmapFile | null {
    const file = this.vfs.table(pid).get(fd);
    if (file === null) return null;
    const acc = file.flags & O_ACCMODE;
    return {
      obj: this.objectFor(file),
      readable: acc === O_RDONLY || acc === O_RDWR,
      writable: acc === O_WRONLY || acc === O_RDWR,
      mappable: !this.vfs.fs.isDir(file.ino),
    };
  }

  /** The object word naming `file` (one per open file description, so two mappings of it may merge). */
  private objectFor(file: OpenFile): number {
    let obj = this.objOf.get(file);
    if (obj === undefined) {
      obj = (VMA_FILE | this.nextId++) >>> 0;
      this.objOf.set(file, obj);
    }
    if (!this.byObj.has(obj)) this.byObj.set(obj, { file, refs: 0 });
    return obj;
  }

  /** Forgets an object no VMA took (an mmap that failed after resolving its descriptor). */
  dropUnused(obj: number): void {
    if (this.byObj.get(obj)?.refs === 0) this.byObj.delete(obj);
  }

  private entry(obj: number): Mapped {
    const e = this.byObj.get(obj);
    if (e === undefined) throw new Error(`file_mmap: unknown file object 0x${obj.toString(16)}`);
    return e;
  }

  /** The inode a file object maps. */
  ino(obj: number): number {
    return this.entry(obj).file.ino;
  }

  /** The open file a file object names (for /proc/PID/maps). */
  file(obj: number): OpenFile {
    return this.entry(obj).file;
  }

  get(obj: number): void {
    const e = this.entry(obj);
    if (e.refs++ === 0) e.file.refs++;
  }

  put(obj: number): void {
    const e = this.entry(obj);
    if (--e.refs > 0) return;
    this.byObj.delete(obj);
    this.vfs.fput(e.file);
  }

  link(mm: MmStruct, vma: number, obj: number): void {
    const ino = this.ino(obj);
    let list = this.iMmap.get(ino);
    if (list === undefined) {
      list = new Map();
      this.iMmap.set(ino, list);
    }
    list.set(vma, mm);
  }

  /** Panics when `vma` is not on the list of the inode `obj` maps. */
  unlink(vma: number, obj: number): void {
    const ino = this.ino(obj);
    const list = this.iMmap.get(ino);
    if (list === undefined || !list.delete(vma)) panic(`file_mmap: vma 0x${vma.toString(16)} is not on the i_mmap list of inode ${ino}`);
    if (list.size === 0) this.iMmap.delete(ino);
  }

  /** The number of VMAs mapping inode `ino` (its i_mmap list). */
  mappingCount(ino: number): number {
    return this.iMmap.get(ino)?.size ?? 0;
  }

  get major(): boolean {
    return this.vfs.cache.lastRead;
  }

  getPage(obj: number, index: number): number {
    const ino = this.ino(obj);
    if (index >= Math.ceil(this.vfs.fs.d.size(ino) / BLOCK_SIZE)) return FILE_PAGE_SIGBUS;
    const pfn = this.vfs.cache.getPage(ino, index, "read");
    return pfn < 0 ? FILE_PAGE_NOMEM : pfn;
  }

  markDirty(pfn: number): void {
    this.vfs.cache.markDirty(pfn);
  }

  mkwrite(pfn: number): boolean {
    return this.vfs.fs.bmap(this.memmap.userWord(pfn, SP_MAPPING), this.memmap.userWord(pfn, SP_INDEX), "create") > 0;
  }

  hasBlock(pfn: number): boolean {
    return this.vfs.fs.bmap(this.memmap.userWord(pfn, SP_MAPPING), this.memmap.userWord(pfn, SP_INDEX), "lookup") > 0;
  }

  mappedDelta(delta: number): void {
    this.vfs.cache.nrMapped += delta;
  }

  /** Calls `fn` for every VMA on the i_mmap list of inode `ino` (`fn` must not link or unlink VMAs). */
  private forEachMapping(ino: number, fn: (mm: MmStruct, vma: number) => void): void {
    const list = this.iMmap.get(ino);
    if (list === undefined) return;
    for (const [vma, mm] of list) fn(mm, vma);
  }

  /**
   * Moves the dirty bits of every shared mapping of pages [first, last] of
   * `ino` into the page cache (the clean-and-mark half of writeback,
   * page_mkclean on the range's pages). Returns the pages found dirty in
   * page tables.
   */
  harvest(ino: number, first = 0, last = Number.MAX_SAFE_INTEGER): number {
    const w = this.harvestWalk;
    const f = this.host.f;
    w.found = 0;
    this.forEachMapping(ino, (mm, vma) => {
      if (!(f.flags(vma) & VM_SHARED)) return;
      const pgoff = f.pgoff(vma);
      const lo = Math.max(first, pgoff);
      const hi = Math.min(last + 1, pgoff + (f.end(vma) - f.start(vma)) / BLOCK_SIZE);
      if (lo >= hi) return;
      w.pt = mm.pt;
      walkRange(mm.pt, f.start(vma) + (lo - pgoff) * BLOCK_SIZE, f.start(vma) + (hi - pgoff) * BLOCK_SIZE, w);
      mm.pt.flushTlb();
    });
    w.pt = null;
    return w.found;
  }

  /**
   * unmap_mapping_range: every page of `ino` from page index `first` on is
   * unmapped from every mapping, private copies included (a truncate takes
   * them too, as Linux does).
   */
  unmapFrom(ino: number, first: number): void {
    const f = this.host.f;
    this.forEachMapping(ino, (mm, vma) => {
      const pgoff = f.pgoff(vma);
      const pages = (f.end(vma) - f.start(vma)) / BLOCK_SIZE;
      const lo = Math.max(first, pgoff);
      if (lo >= pgoff + pages) return;
      this.host.zapRange(mm, vma, f.start(vma) + (lo - pgoff) * BLOCK_SIZE, f.end(vma));
    });
  }

  /** Unmaps the page-cache pages of `ino` from every mapping (a remount); private copies stay mapped. */
  unmapFromCache(ino: number): void {
    const w = this.cacheWalk;
    this.forEachMapping(ino, (mm, vma) => {
      w.pt = mm.pt;
      w.vas.length = 0;
      walkRange(mm.pt, this.host.f.start(vma), this.host.f.end(vma), w);
      for (const va of w.vas) this.host.zapRange(mm, vma, va, va + BLOCK_SIZE);
    });
    w.pt = null;
  }

  /**
   * The address at which `vma` maps page-cache page `pfn` (its inode and
   * index from struct page), or -1 when its entry there maps something else
   * (a private copy, nothing, a swap entry).
   */
  private vaOfPage(mm: MmStruct, vma: number, pfn: number): number {
    const f = this.host.f;
    const off = this.memmap.userWord(pfn, SP_INDEX) - f.pgoff(vma);
    if (off < 0 || off >= (f.end(vma) - f.start(vma)) / BLOCK_SIZE) return -1;
    const va = f.start(vma) + off * BLOCK_SIZE;
    const ptep = mm.pt.lookup(va);
    if (ptep < 0) return -1;
    const flags = mm.pt.pteFlags(ptep);
    return (flags & (PTE_P | PTE_SPECIAL)) === PTE_P && mm.pt.ptePfn(ptep) === pfn ? va : -1;
  }

  /**
   * Reclaim's folio_referenced for page-cache page `pfn`: clears the
   * accessed bit of every entry that maps it. Returns how many had it set,
   * or -1 when a VM_LOCKED VMA maps it.
   */
  referenced(pfn: number): number {
    let young = 0;
    this.forEachMapping(this.memmap.userWord(pfn, SP_MAPPING), (mm, vma) => {
      const va = young < 0 ? -1 : this.vaOfPage(mm, vma, pfn);
      if (va < 0) return;
      if (this.host.f.flags(vma) & VM_LOCKED) {
        young = -1;
        return;
      }
      const ptep = mm.pt.lookup(va);
      const flags = mm.pt.pteFlags(ptep);
      if (!(flags & PTE_A)) return;
      mm.pt.setPte(va, ptep, pfn, (flags & ~PTE_A) >>> 0);
      mm.pt.flushTlb();
      young++;
    });
    return young;
  }

  /** Migration's count of the present entries that map page-cache page `pfn` (every VMA on its inode's i_mmap list). */
  countMappings(pfn: number): number {
    let n = 0;
    this.forEachMapping(this.memmap.userWord(pfn, SP_MAPPING), (mm, vma) => {
      if (this.vaOfPage(mm, vma, pfn) >= 0) n++;
    });
    return n;
  }

  /**
   * remove_migration_ptes for page-cache page `pfn`: every entry that maps
   * it is pointed at frame `to` with the same flags (accessed and dirty
   * bits included), and the TLBs flushed. Returns the entries rewritten.
   */
  moveMappings(pfn: number, to: number): number {
    let n = 0;
    this.forEachMapping(this.memmap.userWord(pfn, SP_MAPPING), (mm, vma) => {
      const va = this.vaOfPage(mm, vma, pfn);
      if (va < 0) return;
      const ptep = mm.pt.lookup(va);
      mm.pt.setPte(va, ptep, to, mm.pt.pteFlags(ptep));
      mm.pt.flushTlb();
      n++;
    });
    return n;
  }

  /** Reclaim's try_to_unmap for page-cache page `pfn`: zaps every entry that maps it. Returns its mapcount after. */
  unmapPage(pfn: number): number {
    this.forEachMapping(this.memmap.userWord(pfn, SP_MAPPING), (mm, vma) => {
      const va = this.vaOfPage(mm, vma, pfn);
      if (va >= 0) this.host.zapRange(mm, vma, va, va + BLOCK_SIZE);
    });
    return this.memmap.mapcount(pfn);
  }

  /**
   * The FILEMAP checker: every file object's reference count equals the
   * VMAs naming it, and every VMA names a known object (FILEMAP-1); the
   * i_mmap lists hold exactly the file VMAs of every address space, each
   * under the inode it maps and with its own mm (FILEMAP-2). Throws
   * InvariantViolation.
   */
  check(): void {
    const seen = new Map<number, number>();
    const f = this.host.f;
    let vmas = 0;
    for (const mm of new Set(this.host.mms())) {
      for (let n = mm.tree.first(); n >= 0; n = mm.tree.next(n)) {
        const vma = mm.tree.value(n);
        const obj = f.shmem(vma);
        if (!isFileObject(obj)) continue;
        invariant(this.byObj.has(obj), "FILEMAP-1", `a VMA of mm ${mm.id} names unknown file object 0x${obj.toString(16)}`);
        seen.set(obj, (seen.get(obj) ?? 0) + 1);
        const ino = this.ino(obj);
        invariant(
          this.iMmap.get(ino)?.get(vma) === mm,
          "FILEMAP-2",
          `vma 0x${vma.toString(16)} of mm ${mm.id} is not on inode ${ino}'s i_mmap list`,
        );
        vmas++;
      }
    }
    for (const [obj, e] of this.byObj) {
      const n = seen.get(obj) ?? 0;
      invariant(e.refs === n, "FILEMAP-1", `file object 0x${obj.toString(16)} (inode ${e.file.ino}) has ${e.refs} references, ${n} VMAs`);
    }
    let listed = 0;
    for (const list of this.iMmap.values()) listed += list.size;
    invariant(listed === vmas, "FILEMAP-2", `the i_mmap lists hold ${listed} VMAs, the address spaces ${vmas} file VMAs`);
  }
}
