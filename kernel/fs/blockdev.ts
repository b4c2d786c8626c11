/**
 * A block device: the machine's disk, its own ArrayBuffer beside RAM, read
 * and written in whole 4 KiB blocks. Every transfer is counted; the counts
 * are what the cost clock charges as diskRead and diskWrite (clock.ts).
 *
 * Words: block = one 4 KiB unit of the disk, numbered from 0.
 */
import { panic } from "../panic.ts";

/** Bytes per disk block (the same as a page, so one page-cache page is one block). */
export const BLOCK_SIZE = 4096;

/** The disk. */
export class BlockDevice {
  /** The disk's bytes; metadata code reads its words through `u32`/`u8`. */
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  readonly nrBlocks: number;
  /** Blocks read and written so far (the clock's diskRead / diskWrite). */
  reads = 0;
  writes = 0;

  /** Panics when `bytes` is not a positive multiple of BLOCK_SIZE. */
  constructor(bytes: number) {
    if (!(Number.isInteger(bytes) && bytes > 0 && bytes % BLOCK_SIZE === 0)) panic(`blockdev: size ${bytes} is not a multiple of 4096`);
    const buf = new ArrayBuffer(bytes);
    this.u8 = new Uint8Array(buf);
    this.u32 = new Uint32Array(buf);
    this.nrBlocks = bytes / BLOCK_SIZE;
  }

  /** Reads block `blk` into `dst` at byte `at` (a RAM frame). Panics on a block out of range. */
  readBlock(blk: number, dst: Uint8Array, at: number): void {
    this.checkBlock(blk);
    this.reads++;
    dst.set(this.u8.subarray(blk * BLOCK_SIZE, (blk + 1) * BLOCK_SIZE), at);
  }

  /** Writes `src` from byte `at` (a RAM frame) to block `blk`. Panics on a block out of range. */
  writeBlock(blk: number, src: Uint8Array, at: number): void {
    this.checkBlock(blk);
    this.writes++;
    this.u8.set(src.subarray(at, at + BLOCK_SIZE), blk * BLOCK_SIZE);
  }

  private checkBlock(blk: number): void {
    if (!(Number.isInteger(blk) && blk > 0 && blk < this.nrBlocks)) panic(`blockdev: block ${blk} out of range (1..${this.nrBlocks - 1})`);
  }
}
