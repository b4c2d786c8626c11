/**
 * sfs, memsim's small filesystem (layout in sfs_layout.ts): allocation of
 * inodes and blocks from the bitmap, the block map of a file (direct and
 * one indirect block), freeing a file's blocks past a size, and directories
 * as files of 32-byte entries.
 *
 * Metadata (superblock, bitmap, inodes, directories, indirect blocks) is
 * read and written in place on the disk, synchronously: there is no buffer
 * cache, so Buffers stays 0. File contents go through the page cache
 * (filemap.ts), which calls bmap to find or place their blocks.
 *
 * Expected failures are values: 0 for no block or inode (ENOSPC).
 */
import type { FailPoint } from "../mm/fault_inject.ts";
import { S_IFDIR, S_IFMT } from "../uapi/fcntl.ts";
import { BLOCK_SIZE } from "./blockdev.ts";
import { DIRENT_SIZE, MAX_FILE_BLOCKS, NR_DIRECT, PTRS_PER_BLOCK, type SfsDisk } from "./sfs_layout.ts";

/** bmap's mode: find a block, or place one in a hole. */
export type BmapMode = "lookup" | "create";

/** A mounted sfs. */
export class Sfs {
  /** Where the next block search starts (next-fit). */
  private hint: number;

  constructor(
    readonly d: SfsDisk,
    /** fail_block_alloc: makes allocBlock fail as a full disk would. */
    readonly failBlock: FailPoint,
  ) {
    this.hint = d.g.dataStart;
  }

  isDir(ino: number): boolean {
    return (this.d.mode(ino) & S_IFMT) === S_IFDIR;
  }

  /** A free inode made `mode` with nlink 0 and size 0; 0 when none is free. */
  allocInode(mode: number): number {
    const d = this.d;
    for (let ino = 2; ino < d.g.nrInodes; ino++) {
      if (d.mode(ino) !== 0) continue;
      d.setMode(ino, mode);
      d.setNlink(ino, 0);
      d.setSize(ino, 0);
      for (let i = 0; i < NR_DIRECT; i++) d.setDirect(ino, i, 0);
      d.setIndirect(ino, 0);
      return ino;
    }
    return 0;
  }

  /** Frees an inode and every block it holds. */
  freeInode(ino: number): void {
    this.truncateBlocks(ino, 0);
    this.d.setMode(ino, 0);
    this.d.setNlink(ino, 0);
    this.d.setSize(ino, 0);
  }

  /** A free data block, marked in use; 0 when the disk is full (or fail_block_alloc fires). */
  allocBlock(): number {
    if (this.failBlock.armed && this.failBlock.shouldFail(0)) return 0;
    const d = this.d;
    const { dataStart, nrBlocks } = d.g;
    for (let n = 0; n < nrBlocks - dataStart; n++) {
      const blk = this.hint + n < nrBlocks ? this.hint + n : this.hint + n - nrBlocks + dataStart;
      if (d.bit(blk) !== 0) continue;
      d.setBit(blk, 1);
      this.hint = blk + 1 < nrBlocks ? blk + 1 : dataStart;
      return blk;
    }
    return 0;
  }

  freeBlock(blk: number): void {
    this.d.setBit(blk, 0);
  }

  /** Free data blocks left. */
  freeBlocks(): number {
    const { dataStart, nrBlocks } = this.d.g;
    let n = 0;
    for (let b = dataStart; b < nrBlocks; ) {
      // Whole 32-bit words of the bitmap at a time where they fit.
      if ((b & 31) === 0 && b + 32 <= nrBlocks) {
        n += 32 - popcount(this.d.bitmapWord(b));
        b += 32;
      } else {
        if (this.d.bit(b) === 0) n++;
        b++;
      }
    }
    return n;
  }

  /**
   * The disk block of block `index` of file `ino`: 0 for a hole in "lookup"
   * mode; in "create" mode a hole gets a new block. Returns 0 when that
   * needs a block and none is left (ENOSPC), -1 past the largest file.
   */
  bmap(ino: number, index: number, mode: BmapMode): number {
    const d = this.d;
    if (index >= MAX_FILE_BLOCKS) return -1;
    if (index < NR_DIRECT) {
      const blk = d.direct(ino, index);
      if (blk !== 0 || mode === "lookup") return blk;
      const nb = this.allocBlock();
      if (nb !== 0) d.setDirect(ino, index, nb);
      return nb;
    }
    let ind = d.indirect(ino);
    if (ind === 0) {
      if (mode === "lookup") return 0;
      ind = this.allocBlock();
      if (ind === 0) return 0;
      d.zeroBlock(ind);
      d.setIndirect(ino, ind);
    }
    const blk = d.ptr(ind, index - NR_DIRECT);
    if (blk !== 0 || mode === "lookup") return blk;
    const nb = this.allocBlock();
    if (nb !== 0) d.setPtr(ind, index - NR_DIRECT, nb);
    return nb;
  }

  /** Frees every block of `ino` from block `first` on (and the indirect block when it empties). */
  truncateBlocks(ino: number, first: number): void {
    const d = this.d;
    for (let i = first; i < NR_DIRECT; i++) {
      const blk = d.direct(ino, i);
      if (blk !== 0) this.freeBlock(blk);
      d.setDirect(ino, i, 0);
    }
    const ind = d.indirect(ino);
    if (ind === 0) return;
    for (let i = Math.max(0, first - NR_DIRECT); i < PTRS_PER_BLOCK; i++) {
      const blk = d.ptr(ind, i);
      if (blk !== 0) this.freeBlock(blk);
      d.setPtr(ind, i, 0);
    }
    if (first <= NR_DIRECT) {
      this.freeBlock(ind);
      d.setIndirect(ino, 0);
    }
  }

  /** Blocks `ino` holds (data and indirect), as st_blocks counts them in 4 KiB units. */
  blocksOf(ino: number): number {
    const d = this.d;
    let n = 0;
    for (let i = 0; i < NR_DIRECT; i++) if (d.direct(ino, i) !== 0) n++;
    const ind = d.indirect(ino);
    if (ind === 0) return n;
    n++;
    for (let i = 0; i < PTRS_PER_BLOCK; i++) if (d.ptr(ind, i) !== 0) n++;
    return n;
  }

  /** The inode of `name` in directory `dir`, or 0. */
  lookup(dir: number, name: string): number {
    const at = this.findEntry(dir, name);
    return at < 0 ? 0 : this.d.direntIno(at);
  }

  /** Byte offset on disk of the entry `name` in `dir` (name "" finds a free slot), or -1. */
  private findEntry(dir: number, name: string): number {
    const d = this.d;
    const size = d.size(dir);
    for (let off = 0; off < size; off += DIRENT_SIZE) {
      const blk = this.bmap(dir, Math.floor(off / BLOCK_SIZE), "lookup");
      const at = blk * BLOCK_SIZE + (off % BLOCK_SIZE);
      const ino = d.direntIno(at);
      if (name === "" ? ino === 0 : ino !== 0 && d.direntName(at) === name) return at;
    }
    return -1;
  }

  /** Adds `name` -> `ino` to `dir`. False when the directory needs a block and none is left. */
  addEntry(dir: number, name: string, ino: number): boolean {
    const d = this.d;
    let at = this.findEntry(dir, "");
    if (at < 0) {
      const size = d.size(dir);
      const fresh = size % BLOCK_SIZE === 0;
      const blk = this.bmap(dir, Math.floor(size / BLOCK_SIZE), "create");
      if (blk <= 0) return false;
      if (fresh) d.zeroBlock(blk);
      at = blk * BLOCK_SIZE + (size % BLOCK_SIZE);
      d.setSize(dir, size + DIRENT_SIZE);
    }
    d.setDirent(at, ino, name);
    return true;
  }

  /** Removes `name` from `dir` (the slot is reused later). False when there is no such entry. */
  removeEntry(dir: number, name: string): boolean {
    const at = this.findEntry(dir, name);
    if (at < 0) return false;
    this.d.setDirentIno(at, 0);
    return true;
  }

  /** The names in `dir`, in slot order. */
  list(dir: number): string[] {
    const d = this.d;
    const out: string[] = [];
    const size = d.size(dir);
    for (let off = 0; off < size; off += DIRENT_SIZE) {
      const at = this.bmap(dir, Math.floor(off / BLOCK_SIZE), "lookup") * BLOCK_SIZE + (off % BLOCK_SIZE);
      if (d.direntIno(at) !== 0) out.push(d.direntName(at));
    }
    return out;
  }
}

/** Set bits in a 32-bit word. */
function popcount(v: number): number {
  let x = v - ((v >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}
