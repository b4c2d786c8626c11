/**
 * The on-disk layout of sfs, memsim's small filesystem, and the accessors
 * that read and write its words in place on the disk. Nothing else indexes
 * the disk's raw words.
 *
 *   block 0        superblock   magic | nrBlocks | nrInodes | bitmapStart | bitmapBlocks
 *                               | inodeStart | inodeBlocks | dataStart   (u32 each)
 *   blocks 1..     block bitmap one bit per disk block, 1 = in use (metadata blocks too)
 *   then           inode table  64 inodes of 64 bytes per block; inode 0 is never used,
 *                               inode 1 is the root directory
 *   then to end    data blocks  file contents, directory entries, indirect blocks
 *
 *   inode (64 bytes)       +0 mode u32 (S_IFREG/S_IFDIR | permissions; 0 = free)
 *                          +4 nlink u32   +8 size u32
 *                          +12 direct[12] u32 block numbers (0 = hole)
 *                          +60 indirect u32: a block of 1024 more block numbers
 *   directory entry (32)   +0 ino u32 (0 = empty slot)   +4 name, 28 bytes, NUL-padded
 *
 * A file holds at most 12 + 1024 blocks (4,243,456 bytes); a name at most 27 bytes.
 */
import { panic } from "../panic.ts";
import { S_IFDIR } from "../uapi/fcntl.ts";
import { BLOCK_SIZE, type BlockDevice } from "./blockdev.ts";

export const SFS_MAGIC = 0x5346534d;
export const INODE_SIZE = 64;
export const INODES_PER_BLOCK = BLOCK_SIZE / INODE_SIZE;
export const NR_DIRECT = 12;
export const PTRS_PER_BLOCK = BLOCK_SIZE / 4;
/** Blocks one file can hold: direct plus one indirect block's worth. */
export const MAX_FILE_BLOCKS = NR_DIRECT + PTRS_PER_BLOCK;
export const MAX_FILE_SIZE = MAX_FILE_BLOCKS * BLOCK_SIZE;
export const DIRENT_SIZE = 32;
export const NAME_MAX = 27;
export const ROOT_INO = 1;

const SB_MAGIC = 0;
const SB_NR_BLOCKS = 1;
const SB_NR_INODES = 2;
const SB_BITMAP_START = 3;
const SB_BITMAP_BLOCKS = 4;
const SB_INODE_START = 5;
const SB_INODE_BLOCKS = 6;
const SB_DATA_START = 7;

const I_MODE = 0;
const I_NLINK = 1;
const I_SIZE = 2;
const I_DIRECT = 3;
const I_INDIRECT = 15;

/** The superblock's geometry, read once at mount. */
export interface SfsGeometry {
  readonly nrBlocks: number;
  readonly nrInodes: number;
  readonly bitmapStart: number;
  readonly bitmapBlocks: number;
  readonly inodeStart: number;
  readonly inodeBlocks: number;
  readonly dataStart: number;
}

/** Writes an empty filesystem (superblock, bitmap, inode table, root directory) on `dev`. */
export function mkfs(dev: BlockDevice): SfsGeometry {
  const nrBlocks = dev.nrBlocks;
  const bitmapBlocks = Math.ceil(nrBlocks / (BLOCK_SIZE * 8));
  const nrInodes = Math.max(INODES_PER_BLOCK, Math.floor(nrBlocks / 4 / INODES_PER_BLOCK) * INODES_PER_BLOCK);
  const inodeBlocks = nrInodes / INODES_PER_BLOCK;
  const g: SfsGeometry = {
    nrBlocks,
    nrInodes,
    bitmapStart: 1,
    bitmapBlocks,
    inodeStart: 1 + bitmapBlocks,
    inodeBlocks,
    dataStart: 1 + bitmapBlocks + inodeBlocks,
  };
  if (g.dataStart + 1 >= nrBlocks) panic(`mkfs: a disk of ${nrBlocks} blocks has no room for data`);
  dev.u8.fill(0, 0, g.dataStart * BLOCK_SIZE);
  const u = dev.u32;
  u[SB_MAGIC] = SFS_MAGIC;
  u[SB_NR_BLOCKS] = nrBlocks;
  u[SB_NR_INODES] = nrInodes;
  u[SB_BITMAP_START] = g.bitmapStart;
  u[SB_BITMAP_BLOCKS] = bitmapBlocks;
  u[SB_INODE_START] = g.inodeStart;
  u[SB_INODE_BLOCKS] = inodeBlocks;
  u[SB_DATA_START] = g.dataStart;
  const d = new SfsDisk(dev, g);
  for (let b = 0; b < g.dataStart; b++) d.setBit(b, 1);
  d.setMode(ROOT_INO, S_IFDIR | 0o755);
  d.setNlink(ROOT_INO, 2);
  return g;
}

/** Reads the superblock. Returns null when the disk holds no sfs (bad magic or geometry). */
export function readSuperblock(dev: BlockDevice): SfsGeometry | null {
  const u = dev.u32;
  if (u[SB_MAGIC] !== SFS_MAGIC || u[SB_NR_BLOCKS] !== dev.nrBlocks) return null;
  return {
    nrBlocks: u[SB_NR_BLOCKS] as number,
    nrInodes: u[SB_NR_INODES] as number,
    bitmapStart: u[SB_BITMAP_START] as number,
    bitmapBlocks: u[SB_BITMAP_BLOCKS] as number,
    inodeStart: u[SB_INODE_START] as number,
    inodeBlocks: u[SB_INODE_BLOCKS] as number,
    dataStart: u[SB_DATA_START] as number,
  };
}

/** Named accessors over the words of a mounted sfs disk. */
export class SfsDisk {
  private readonly u32: Uint32Array;
  readonly u8: Uint8Array;

  constructor(
    readonly dev: BlockDevice,
    readonly g: SfsGeometry,
  ) {
    this.u32 = dev.u32;
    this.u8 = dev.u8;
  }

  bit(blk: number): number {
    const w = this.g.bitmapStart * PTRS_PER_BLOCK + (blk >>> 5);
    return ((this.u32[w] as number) >>> (blk & 31)) & 1;
  }

  /** The bitmap word holding the bits of blocks blk..blk+31 (blk a multiple of 32). */
  bitmapWord(blk: number): number {
    return this.u32[this.g.bitmapStart * PTRS_PER_BLOCK + (blk >>> 5)] as number;
  }

  setBit(blk: number, v: 0 | 1): void {
    const w = this.g.bitmapStart * PTRS_PER_BLOCK + (blk >>> 5);
    const m = 1 << (blk & 31);
    this.u32[w] = v === 1 ? (this.u32[w] as number) | m : (this.u32[w] as number) & ~m;
  }

  private iw(ino: number, field: number): number {
    return this.g.inodeStart * PTRS_PER_BLOCK + ino * (INODE_SIZE / 4) + field;
  }

  mode(ino: number): number {
    return this.u32[this.iw(ino, I_MODE)] as number;
  }
  setMode(ino: number, v: number): void {
    this.u32[this.iw(ino, I_MODE)] = v;
  }
  nlink(ino: number): number {
    return this.u32[this.iw(ino, I_NLINK)] as number;
  }
  setNlink(ino: number, v: number): void {
    this.u32[this.iw(ino, I_NLINK)] = v;
  }
  size(ino: number): number {
    return this.u32[this.iw(ino, I_SIZE)] as number;
  }
  setSize(ino: number, v: number): void {
    this.u32[this.iw(ino, I_SIZE)] = v;
  }
  direct(ino: number, i: number): number {
    return this.u32[this.iw(ino, I_DIRECT + i)] as number;
  }
  setDirect(ino: number, i: number, blk: number): void {
    this.u32[this.iw(ino, I_DIRECT + i)] = blk;
  }
  indirect(ino: number): number {
    return this.u32[this.iw(ino, I_INDIRECT)] as number;
  }
  setIndirect(ino: number, blk: number): void {
    this.u32[this.iw(ino, I_INDIRECT)] = blk;
  }
  /** Entry `i` of indirect block `blk`. */
  ptr(blk: number, i: number): number {
    return this.u32[blk * PTRS_PER_BLOCK + i] as number;
  }
  setPtr(blk: number, i: number, v: number): void {
    this.u32[blk * PTRS_PER_BLOCK + i] = v;
  }
  /** Zeroes a block in place (a new directory or indirect block). */
  zeroBlock(blk: number): void {
    this.u8.fill(0, blk * BLOCK_SIZE, (blk + 1) * BLOCK_SIZE);
  }
  /** The inode number of the directory entry at byte `at` of the disk. */
  direntIno(at: number): number {
    return this.u32[at >>> 2] as number;
  }
  setDirentIno(at: number, ino: number): void {
    this.u32[at >>> 2] = ino;
  }
  direntName(at: number): string {
    let s = "";
    for (let k = 4; k < DIRENT_SIZE; k++) {
      const c = this.u8[at + k] as number;
      if (c === 0) break;
      s += String.fromCharCode(c);
    }
    return s;
  }
  /** Writes an entry; `name` is bytes of at most NAME_MAX characters (checked by the caller). */
  setDirent(at: number, ino: number, name: string): void {
    this.u32[at >>> 2] = ino;
    this.u8.fill(0, at + 4, at + DIRENT_SIZE);
    for (let k = 0; k < name.length; k++) this.u8[at + 4 + k] = name.charCodeAt(k) & 0xff;
  }
}
