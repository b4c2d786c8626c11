/**
 * The file layer of the machine (Linux fs/super.c, fs/inode.c, reduced to
 * one filesystem): the disk, the mounted sfs, the page cache, the count of
 * open files per inode and every process's descriptor table. Inodes live on
 * disk; an unlinked inode that is still open (an orphan) is freed at its
 * last close. Also the host side of `m.fs`: write, read and list files as
 * the machine's owner, through the same page cache.
 */
import { EEXIST, EFBIG, EISDIR, ENOENT, ENOMEM, ENOSPC, ENOTDIR } from "../errno.ts";
import type { FailPoint } from "../mm/fault_inject.ts";
import type { PageAllocator } from "../mm/frames.ts";
import { GFP_KERNEL } from "../mm/gfp.ts";
import type { MemMap } from "../mm/memmap.ts";
import type { MmapFile } from "../mm/mmap.ts";
import type { PhysMem } from "../mm/physmem.ts";
import { panic } from "../panic.ts";
import { S_IFDIR, S_IFREG } from "../uapi/fcntl.ts";
import { BLOCK_SIZE, BlockDevice } from "./blockdev.ts";
import { FdTable, type OpenFile } from "./file.ts";
import { PageCache } from "./filemap.ts";
import { walkPath } from "./namei.ts";
import { Sfs } from "./sfs.ts";
import { MAX_FILE_SIZE, mkfs, readSuperblock, SfsDisk } from "./sfs_layout.ts";

/** The mmap side of the file layer (file_mmap.ts), as the vfs and the task side call it. */
export interface VfsMappings {
  /** mmap's view of descriptor `fd` of process `pid`, or null for a bad descriptor. */
  resolve(pid: number, fd: number): MmapFile | null;
  /** Forgets an object no VMA took. */
  dropUnused(obj: number): void;
  /** The inode and the open file a file object names. */
  ino(obj: number): number;
  file(obj: number): OpenFile;
  /** Unmaps every page of `ino` from page index `first` on, from every mapping. */
  unmapFrom(ino: number, first: number): void;
  /** Unmaps the page-cache pages of `ino` from every mapping; private copies stay. */
  unmapFromCache(ino: number): void;
  /** The VMAs on the i_mmap list of `ino`. */
  mappingCount(ino: number): number;
}

/** The umask every process runs with (022). */
export const UMASK = 0o022;

/** What the file layer is built on. */
export interface VfsDeps {
  readonly phys: PhysMem;
  readonly memmap: MemMap;
  readonly pages: PageAllocator;
  readonly failBlock: FailPoint;
  /** Disk size in bytes (a multiple of 4096). */
  readonly diskBytes: number;
}

/** The file layer. */
export class Vfs {
  readonly dev: BlockDevice;
  fs: Sfs;
  cache: PageCache;
  /** Open descriptions per inode (an unlinked inode lives while this is above 0). */
  private readonly opens = new Map<number, number>();
  /** Descriptor tables by pid (made at a process's first file call, copied by fork). */
  readonly tables = new Map<number, FdTable>();
  /** The mmap side (file_mmap.ts), set at boot once the task side exists; null before. */
  mappings: VfsMappings | null = null;
  private scratchPa = -1;

  /** struct page, for the page-cache checker. */
  get memmapForCheck(): MemMap {
    return this.deps.memmap;
  }

  /** Formats a fresh disk and mounts it. */
  constructor(private readonly deps: VfsDeps) {
    this.dev = new BlockDevice(deps.diskBytes);
    mkfs(this.dev);
    this.fs = this.mount();
    this.cache = new PageCache(deps.phys, deps.memmap, deps.pages, this.dev, this.fs);
  }

  /**
   * The physical address of a kernel frame for small structures copied to
   * user space (struct stat), taken at first use and kept. Returns -1 when
   * no frame is left.
   */
  scratch(): number {
    if (this.scratchPa < 0) {
      const pfn = this.deps.pages.allocPages(0, GFP_KERNEL);
      if (pfn >= 0) this.scratchPa = pfn * BLOCK_SIZE;
    }
    return this.scratchPa;
  }

  private mount(): Sfs {
    const g = readSuperblock(this.dev);
    if (g === null) panic("mount: the disk holds no sfs (bad superblock)");
    return new Sfs(new SfsDisk(this.dev, g), this.deps.failBlock);
  }

  /**
   * Unmounts and mounts again from the disk alone: writes every dirty page
   * back, drops the whole page cache and rereads the superblock. Open files
   * stay open (they name inodes, which are on disk).
   */
  remount(): void {
    this.cache.writebackAll();
    for (const [ino] of this.cache.inodeIndexes()) {
      // Mapped pages are unmapped (private copies stay): the next access faults them in from the disk.
      this.mappings?.unmapFromCache(ino);
      this.cache.truncate(ino, 0);
    }
    this.cache.forgetAllShadows();
    this.fs = this.mount();
    this.cache.fs = this.fs;
  }

  /** The table of process `pid`, made empty on first use. */
  table(pid: number): FdTable {
    let t = this.tables.get(pid);
    if (t === undefined) {
      t = new FdTable();
      this.tables.set(pid, t);
    }
    return t;
  }

  /** One more open description of `ino`. */
  openInode(ino: number): void {
    this.opens.set(ino, (this.opens.get(ino) ?? 0) + 1);
  }

  /** The last description of `ino` closed: an unlinked inode is freed now. */
  closeInode(ino: number): void {
    const n = (this.opens.get(ino) ?? 0) - 1;
    if (n < 0) panic(`iput: inode ${ino} closed more often than opened`);
    if (n === 0) this.opens.delete(ino);
    else this.opens.set(ino, n);
    if (n === 0 && this.fs.d.nlink(ino) === 0) this.evict(ino);
  }

  /** Drops one reference to an open file description; the last one closes its inode. */
  fput(f: OpenFile): void {
    if (--f.refs === 0) this.closeInode(f.ino);
  }

  /** Open descriptions of `ino`. */
  openCount(ino: number): number {
    return this.opens.get(ino) ?? 0;
  }

  /** evict: the inode's pages and blocks freed, the inode free again. */
  evict(ino: number): void {
    this.cache.truncate(ino, 0);
    this.fs.freeInode(ino);
  }

  /**
   * Makes a regular file or directory `name` in `dir` with permissions
   * `perm` (umask applied). Returns its inode, or -ENOSPC when no inode or
   * directory block is left.
   */
  create(dir: number, name: string, type: "file" | "dir", perm: number): number {
    const fs = this.fs;
    const mode = (type === "dir" ? S_IFDIR : S_IFREG) | (perm & 0o7777 & ~UMASK);
    const ino = fs.allocInode(mode);
    if (ino === 0) return -ENOSPC;
    if (!fs.addEntry(dir, name, ino)) {
      fs.freeInode(ino);
      return -ENOSPC;
    }
    fs.d.setNlink(ino, type === "dir" ? 2 : 1);
    if (type === "dir") fs.d.setNlink(dir, fs.d.nlink(dir) + 1);
    return ino;
  }

  /**
   * Sets the size of regular file `ino` (truncate): blocks and cached pages
   * past the end are freed and the tail of the last page is zeroed, so bytes
   * past EOF always read 0. Returns 0, -EFBIG past the largest file, -ENOMEM
   * when the last page could not be cached.
   */
  setSize(ino: number, size: number): number {
    if (size > MAX_FILE_SIZE) return -EFBIG;
    const d = this.fs.d;
    if (size < d.size(ino) && size % BLOCK_SIZE !== 0) {
      const index = Math.floor(size / BLOCK_SIZE);
      if (this.fs.bmap(ino, index, "lookup") !== 0 || this.cache.find(ino, index) >= 0) {
        const pfn = this.cache.getPage(ino, index, "read");
        if (pfn < 0) return -ENOMEM;
        this.deps.phys.u8.fill(0, pfn * BLOCK_SIZE + (size % BLOCK_SIZE), (pfn + 1) * BLOCK_SIZE);
        if (this.fs.bmap(ino, index, "lookup") !== 0) this.cache.markDirty(pfn);
      }
    }
    const keep = Math.ceil(size / BLOCK_SIZE);
    if (size < d.size(ino)) {
      this.mappings?.unmapFrom(ino, keep);
      this.cache.truncate(ino, keep);
      this.fs.truncateBlocks(ino, keep);
    }
    d.setSize(ino, size);
    return 0;
  }

  /** Frees blocks and pages past EOF (after a write that failed part way). */
  trimPastEof(ino: number): void {
    const keep = Math.ceil(this.fs.d.size(ino) / BLOCK_SIZE);
    this.cache.truncate(ino, keep);
    this.fs.truncateBlocks(ino, keep);
  }

  // ---- the host side (m.fs) ----

  /** Writes `bytes` as the whole of file `path`, creating it (and no parents). Returns 0 or -errno. */
  hostWriteFile(path: string, bytes: Uint8Array): number {
    const t = walkPath(this.fs, path);
    if (typeof t === "number") return t;
    let ino = t.ino;
    if (ino === 0) {
      ino = this.create(t.dir, t.name, "file", 0o644);
      if (ino < 0) return ino;
    } else if (this.fs.isDir(ino)) return -EEXIST;
    const r = this.setSize(ino, 0);
    if (r < 0) return r;
    return this.hostWriteAt(ino, bytes);
  }

  private hostWriteAt(ino: number, bytes: Uint8Array): number {
    if (bytes.length > MAX_FILE_SIZE) return -EFBIG;
    const u8 = this.deps.phys.u8;
    for (let pos = 0; pos < bytes.length; pos += BLOCK_SIZE) {
      const index = pos / BLOCK_SIZE;
      if (this.fs.bmap(ino, index, "create") <= 0) return this.failWrite(ino, -ENOSPC);
      const pfn = this.cache.getPage(ino, index, "overwrite");
      if (pfn < 0) return this.failWrite(ino, -ENOMEM);
      const n = Math.min(BLOCK_SIZE, bytes.length - pos);
      u8.set(bytes.subarray(pos, pos + n), pfn * BLOCK_SIZE);
      this.cache.markDirty(pfn);
      this.fs.d.setSize(ino, pos + n);
    }
    this.cache.balanceDirty();
    return 0;
  }

  private failWrite(ino: number, err: number): number {
    this.trimPastEof(ino);
    return err;
  }

  /** The bytes of file `path`, or -errno (ENOENT, EISDIR as a number). */
  hostReadFile(path: string): Uint8Array | number {
    const t = walkPath(this.fs, path);
    if (typeof t === "number") return t;
    if (t.ino === 0) return -ENOENT;
    if (this.fs.isDir(t.ino)) return -EISDIR;
    const size = this.fs.d.size(t.ino);
    const out = new Uint8Array(size);
    const u8 = this.deps.phys.u8;
    for (let pos = 0; pos < size; pos += BLOCK_SIZE) {
      const pfn = this.cache.getPage(t.ino, pos / BLOCK_SIZE, "read");
      if (pfn < 0) return -ENOMEM;
      const n = Math.min(BLOCK_SIZE, size - pos);
      out.set(u8.subarray(pfn * BLOCK_SIZE, pfn * BLOCK_SIZE + n), pos);
    }
    return out;
  }

  /** The VMAs of every process that map file `path` (its i_mmap list), or -errno (ENOENT). */
  hostMappings(path: string): number {
    const t = walkPath(this.fs, path);
    if (typeof t === "number") return t;
    if (t.ino === 0) return -ENOENT;
    return this.mappings === null ? 0 : this.mappings.mappingCount(t.ino);
  }

  /** The names in directory `path`, sorted, or -errno. */
  hostList(path: string): string[] | number {
    const t = walkPath(this.fs, path);
    if (typeof t === "number") return t;
    if (t.ino === 0) return -ENOENT;
    if (!this.fs.isDir(t.ino)) return -ENOTDIR;
    return this.fs.list(t.ino).sort();
  }

  /** mkdir -p for the host: every missing directory of `path`. Returns 0 or -errno. */
  hostMkdirs(path: string): number {
    let at = "";
    for (const part of path.split("/").filter((s) => s !== "")) {
      at += `/${part}`;
      const t = walkPath(this.fs, at);
      if (typeof t === "number") return t;
      if (t.ino !== 0) {
        if (!this.fs.isDir(t.ino)) return -ENOTDIR;
        continue;
      }
      const r = this.create(t.dir, t.name, "dir", 0o755);
      if (r < 0) return r;
    }
    return 0;
  }
}
