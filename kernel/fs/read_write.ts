/**
 * read, write, pread, pwrite and lseek (Linux fs/read_write.c with
 * filemap_read and generic_perform_write): bytes move between the page cache
 * and the user buffer one page at a time, through copy_to_user and
 * copy_from_user (uaccess.ts). A buffer that faults part way gives the count
 * copied so far, or -EFAULT when nothing was. A write places the file's
 * blocks as it goes (-ENOSPC when the disk is full, after a partial count
 * when some bytes were written) and dirties the pages it touches.
 */
import { EBADF, EFAULT, EFBIG, EINVAL, EISDIR, ENOMEM, ENOSPC } from "../errno.ts";
import { O_ACCMODE, O_APPEND, O_RDONLY, O_RDWR, O_WRONLY, SEEK_CUR, SEEK_END, SEEK_SET } from "../uapi/fcntl.ts";
import { BLOCK_SIZE } from "./blockdev.ts";
import type { OpenFile } from "./file.ts";
import { MAX_FILE_SIZE } from "./sfs_layout.ts";
import type { FsTask } from "./task.ts";
import { accessOk, copyFromUser, copyToUser } from "./uaccess.ts";
import type { Vfs } from "./vfs.ts";

/** Linux's MAX_RW_COUNT: one call moves at most this many bytes. */
export const MAX_RW_COUNT = 0x7ffff000;

/** The file of `fd` open for `want`, or -EBADF. */
export function fileFor(vfs: Vfs, p: FsTask, fd: number, want: "read" | "write"): OpenFile | number {
  const f = vfs.table(p.pid).get(fd);
  if (f === null) return -EBADF;
  const acc = f.flags & O_ACCMODE;
  const ok = want === "read" ? acc === O_RDONLY || acc === O_RDWR : acc === O_WRONLY || acc === O_RDWR;
  return ok ? f : -EBADF;
}

/** The checks read and write share after the descriptor: count, buffer. Returns the count to move or -errno. */
function checkRw(count: number, buf: number): number {
  if (!Number.isSafeInteger(count) || count < 0) return -EINVAL;
  const n = Math.min(count, MAX_RW_COUNT);
  if (n > 0 && !accessOk(buf, n)) return -EFAULT;
  return n;
}

/** vfs_read at `pos`: bytes read (0 at or past EOF) or -errno. */
export function readAt(vfs: Vfs, p: FsTask, f: OpenFile, buf: number, count: number, pos: number): number {
  if (vfs.fs.isDir(f.ino)) return -EISDIR;
  const n = checkRw(count, buf);
  if (n < 0) return n;
  const size = vfs.fs.d.size(f.ino);
  if (pos >= size) return 0;
  const len = Math.min(n, size - pos);
  let done = 0;
  while (done < len) {
    const at = pos + done;
    const off = at % BLOCK_SIZE;
    const chunk = Math.min(len - done, BLOCK_SIZE - off);
    const pfn = vfs.cache.getPage(f.ino, Math.floor(at / BLOCK_SIZE), "read");
    if (pfn < 0) return done > 0 ? done : -ENOMEM;
    // Held while the copy may fault: the fault's reclaim must not take this page.
    vfs.cache.hold(pfn);
    const left = copyToUser(p, buf + done, pfn * BLOCK_SIZE + off, chunk);
    vfs.cache.put(pfn);
    done += chunk - left;
    if (left > 0) return done > 0 ? done : -EFAULT;
  }
  return done;
}

/** vfs_write at `pos`: bytes written or -errno (EFBIG at the largest file, ENOSPC, ENOMEM, EFAULT). */
export function writeAt(vfs: Vfs, p: FsTask, f: OpenFile, buf: number, count: number, pos: number): number {
  const n = checkRw(count, buf);
  if (n < 0) return n;
  if (n === 0) return 0;
  if (pos >= MAX_FILE_SIZE) return -EFBIG;
  const len = Math.min(n, MAX_FILE_SIZE - pos);
  const r = writePages(vfs, p, f.ino, buf, len, pos);
  if (r.err !== 0) vfs.trimPastEof(f.ino);
  vfs.cache.balanceDirty();
  return r.done > 0 ? r.done : r.err;
}

/** The page loop of a write: how far it got and why it stopped (0 = it did not). */
function writePages(vfs: Vfs, p: FsTask, ino: number, buf: number, len: number, pos: number): { done: number; err: number } {
  const fs = vfs.fs;
  let done = 0;
  while (done < len) {
    const at = pos + done;
    const index = Math.floor(at / BLOCK_SIZE);
    const off = at % BLOCK_SIZE;
    const chunk = Math.min(len - done, BLOCK_SIZE - off);
    // The page first, then the block: a block is never placed without the page that will fill it.
    const hole = fs.bmap(ino, index, "lookup") === 0;
    const pfn = vfs.cache.getPage(ino, index, hole ? "overwrite" : "read");
    if (pfn < 0) return { done, err: -ENOMEM };
    if (hole && fs.bmap(ino, index, "create") <= 0) return { done, err: -ENOSPC };
    vfs.cache.hold(pfn);
    const left = copyFromUser(p, pfn * BLOCK_SIZE + off, buf + done, chunk);
    vfs.cache.put(pfn);
    const end = at + chunk - left;
    if (left < chunk && end > fs.d.size(ino)) fs.d.setSize(ino, end);
    // A new block holds whatever it held before: inside the file its page must reach it even if the copy failed.
    if (left < chunk || (hole && index * BLOCK_SIZE < fs.d.size(ino))) vfs.cache.markDirty(pfn);
    done += chunk - left;
    if (left > 0) return { done, err: -EFAULT };
  }
  return { done, err: 0 };
}

/** write(2) at the file position (at EOF with O_APPEND), advancing it. */
export function sysWrite(vfs: Vfs, p: FsTask, fd: number, buf: number, count: number): number {
  const f = fileFor(vfs, p, fd, "write");
  if (typeof f === "number") return f;
  if (f.flags & O_APPEND) f.pos = vfs.fs.d.size(f.ino);
  const r = writeAt(vfs, p, f, buf, count, f.pos);
  if (r > 0) f.pos += r;
  return r;
}

/** read(2) at the file position, advancing it. */
export function sysRead(vfs: Vfs, p: FsTask, fd: number, buf: number, count: number): number {
  const f = fileFor(vfs, p, fd, "read");
  if (typeof f === "number") return f;
  const r = readAt(vfs, p, f, buf, count, f.pos);
  if (r > 0) f.pos += r;
  return r;
}

/** pread64(2): at `off`, the position untouched; -EINVAL for a negative offset. */
export function sysPread(vfs: Vfs, p: FsTask, fd: number, buf: number, count: number, off: number): number {
  const f = fileFor(vfs, p, fd, "read");
  if (typeof f === "number") return f;
  if (!Number.isSafeInteger(off) || off < 0) return -EINVAL;
  return readAt(vfs, p, f, buf, count, off);
}

/** pwrite64(2): at `off` (at EOF with O_APPEND, as Linux does), the position untouched. */
export function sysPwrite(vfs: Vfs, p: FsTask, fd: number, buf: number, count: number, off: number): number {
  const f = fileFor(vfs, p, fd, "write");
  if (typeof f === "number") return f;
  if (!Number.isSafeInteger(off) || off < 0) return -EINVAL;
  return writeAt(vfs, p, f, buf, count, f.flags & O_APPEND ? vfs.fs.d.size(f.ino) : off);
}

/** lseek(2): the new position, -EINVAL for a bad whence or a negative result. */
export function sysLseek(vfs: Vfs, p: FsTask, fd: number, off: number, whence: number): number {
  const f = vfs.table(p.pid).get(fd);
  if (f === null) return -EBADF;
  if (!Number.isSafeInteger(off)) return -EINVAL;
  let base: number;
  if (whence === SEEK_SET) base = 0;
  else if (whence === SEEK_CUR) base = f.pos;
  else if (whence === SEEK_END) base = vfs.fs.d.size(f.ino);
  else return -EINVAL;
  const pos = base + off;
  if (pos < 0) return -EINVAL;
  f.pos = pos;
  return pos;
}
