/**
 * The file layer's checkers. checkFs recounts sfs from the disk: every
 * block an inode holds is in use in the bitmap and held once (FS-1), every
 * data block in use is held by some inode (FS-2), metadata blocks are in use
 * (FS-3), an inode in use has a link or an open file and a size within its
 * limit (FS-4), and a directory entry names an inode in use (FS-5).
 * checkPageCache recounts the page cache against struct page: each cached
 * frame has PG_file and the frames with PG_file are exactly the cached ones
 * (PAGECACHE-1), the dirty and mapped counts match the flags and every
 * cached page is on a file LRU list, which hold no other page (PAGECACHE-2),
 * and a dirty page lies inside its file and has a block to go to (PAGECACHE-3).
 */
import { PG_dirty, PG_file, PG2_lru, SP_INDEX, SP_MAPPING, STRUCT_PAGE_SIZE } from "../mm/memmap.ts";
import { invariant } from "../panic.ts";
import { BLOCK_SIZE } from "./blockdev.ts";
import { MAX_FILE_SIZE, NR_DIRECT, PTRS_PER_BLOCK } from "./sfs_layout.ts";
import type { Vfs } from "./vfs.ts";

/** Recounts sfs. Throws InvariantViolation (FS-1..FS-5). */
export function checkFs(vfs: Vfs): void {
  const fs = vfs.fs;
  const d = fs.d;
  const g = d.g;
  const owner = new Int32Array(g.nrBlocks);
  const hold = (ino: number, blk: number): void => {
    invariant(blk >= g.dataStart && blk < g.nrBlocks, "FS-1", `inode ${ino} holds block ${blk}, outside the data area`);
    invariant(d.bit(blk) === 1, "FS-1", `inode ${ino} holds block ${blk}, free in the bitmap`);
    invariant(owner[blk] === 0, "FS-1", `block ${blk} held by inodes ${owner[blk]} and ${ino}`);
    owner[blk] = ino;
  };
  for (let ino = 1; ino < g.nrInodes; ino++) {
    if (d.mode(ino) === 0) continue;
    invariant(d.nlink(ino) > 0 || vfs.openCount(ino) > 0, "FS-4", `inode ${ino} has no link and is not open`);
    invariant(d.size(ino) <= MAX_FILE_SIZE, "FS-4", `inode ${ino} size ${d.size(ino)} past the largest file`);
    for (let i = 0; i < NR_DIRECT; i++) if (d.direct(ino, i) !== 0) hold(ino, d.direct(ino, i));
    const ind = d.indirect(ino);
    if (ind === 0) continue;
    hold(ino, ind);
    for (let i = 0; i < PTRS_PER_BLOCK; i++) if (d.ptr(ind, i) !== 0) hold(ino, d.ptr(ind, i));
  }
  for (let blk = 0; blk < g.dataStart; blk++) invariant(d.bit(blk) === 1, "FS-3", `metadata block ${blk} free in the bitmap`);
  // Held blocks were counted above; the bitmap's data bits must add up to the same number.
  let held = 0;
  for (let blk = g.dataStart; blk < g.nrBlocks; blk++) if (owner[blk] !== 0) held++;
  const used = g.nrBlocks - g.dataStart - fs.freeBlocks();
  if (used !== held) {
    for (let blk = g.dataStart; blk < g.nrBlocks; blk++)
      invariant(d.bit(blk) === 0 || owner[blk] !== 0, "FS-2", `block ${blk} in use but held by no inode (a leak)`);
  }
  for (let ino = 1; ino < g.nrInodes; ino++) {
    if (d.mode(ino) === 0 || !fs.isDir(ino)) continue;
    for (const name of fs.list(ino)) {
      const child = fs.lookup(ino, name);
      invariant(d.mode(child) !== 0, "FS-5", `directory ${ino} entry '${name}' names free inode ${child}`);
    }
  }
}

/** Recounts the page cache against struct page. Throws InvariantViolation (PAGECACHE-1..3). */
export function checkPageCache(vfs: Vfs): void {
  const c = vfs.cache;
  const mm = vfs.memmapForCheck;
  let dirty = 0;
  let mapped = 0;
  const cached = new Set<number>();
  for (const [ino, index, pfn] of c.entries()) {
    invariant(mm.testFlag(pfn, PG_file), "PAGECACHE-1", `cached frame ${pfn} (inode ${ino} page ${index}) lacks PG_file`);
    invariant(!cached.has(pfn), "PAGECACHE-1", `frame ${pfn} cached twice`);
    cached.add(pfn);
    if (c.lru !== null)
      invariant((mm.flags2(pfn) & PG2_lru) !== 0, "PAGECACHE-2", `cached frame ${pfn} (inode ${ino} page ${index}) is on no file LRU list`);
    if (mm.mapcount(pfn) > 0) mapped++;
    invariant(
      mm.userWord(pfn, SP_MAPPING) === ino && mm.userWord(pfn, SP_INDEX) === index,
      "PAGECACHE-1",
      `cached frame ${pfn} (inode ${ino} page ${index}) names inode ${mm.userWord(pfn, SP_MAPPING)} page ${mm.userWord(pfn, SP_INDEX)}`,
    );
    if (!mm.testFlag(pfn, PG_dirty)) continue;
    dirty++;
    invariant(index * BLOCK_SIZE < vfs.fs.d.size(ino), "PAGECACHE-3", `dirty page ${index} of inode ${ino} past EOF`);
    invariant(vfs.fs.bmap(ino, index, "lookup") > 0, "PAGECACHE-3", `dirty page ${index} of inode ${ino} has no block`);
  }
  invariant(cached.size === c.nrPages, "PAGECACHE-1", `nrPages ${c.nrPages}, cached frames ${cached.size}`);
  let flagged = 0;
  const w = mm.w;
  for (let i = 0; i < w.length; i += STRUCT_PAGE_SIZE / 4) if (((w[i] as number) & PG_file) !== 0) flagged++;
  invariant(flagged === cached.size, "PAGECACHE-1", `${flagged} frames carry PG_file, ${cached.size} are cached`);
  invariant(dirty === c.nrDirty, "PAGECACHE-2", `nrDirty ${c.nrDirty}, dirty frames ${dirty}`);
  if (c.lru !== null)
    invariant(c.lru.nrPages() === c.nrPages, "PAGECACHE-2", `${c.lru.nrPages()} pages on the file LRU lists, ${c.nrPages} cached`);
  invariant(mapped === c.nrMapped, "PAGECACHE-2", `nrMapped ${c.nrMapped}, mapped frames ${mapped}`);
}
