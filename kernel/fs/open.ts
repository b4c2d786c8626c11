/**
 * open, close, ftruncate, unlink, mkdir, fsync, dup and dup2 (Linux
 * fs/open.c, fs/namei.c, fs/file.c, fs/sync.c), with Linux's errno for each
 * bad argument, checked in Linux's order. Also what fork and exit do to a
 * descriptor table.
 *
 * Permissions: every process runs as the owner of every file (there are no
 * users), so the owner bits decide: EACCES when they forbid the access an
 * open asks for. A file an open creates is opened whatever its mode says.
 */
import { EACCES, EBADF, EEXIST, EINVAL, EISDIR, EMFILE, ENOENT, ENOTDIR } from "../errno.ts";
import { O_ACCMODE, O_CREAT, O_DIRECTORY, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY } from "../uapi/fcntl.ts";
import { absolutePath, FdTable, NR_OPEN, OpenFile } from "./file.ts";
import { walkPath } from "./namei.ts";
import type { FsTask } from "./task.ts";
import type { Vfs } from "./vfs.ts";

/** The owner permission bits an access mode needs (r = 4, w = 2). */
function wantedBits(flags: number): number {
  const acc = flags & O_ACCMODE;
  return (acc === O_RDONLY || acc === O_RDWR ? 4 : 0) | (acc === O_WRONLY || acc === O_RDWR ? 2 : 0) | (flags & O_TRUNC ? 2 : 0);
}

/** openat(AT_FDCWD, path, flags, mode): the lowest free descriptor, or -errno. */
export function sysOpen(vfs: Vfs, p: FsTask, path: string, flags: number, mode: number): number {
  if (!Number.isInteger(flags)) return -EINVAL;
  const t = vfs.table(p.pid);
  const fd = t.lowestFree();
  if (fd < 0) return -EMFILE;
  const w = walkPath(vfs.fs, path);
  if (typeof w === "number") return w;
  let ino = w.ino;
  let created = false;
  if (ino === 0) {
    if (!(flags & O_CREAT)) return -ENOENT;
    if (flags & O_DIRECTORY) return -EINVAL;
    ino = vfs.create(w.dir, w.name, "file", Number.isInteger(mode) ? mode : 0);
    if (ino < 0) return ino;
    created = true;
  } else if ((flags & (O_CREAT | O_EXCL)) === (O_CREAT | O_EXCL)) return -EEXIST;
  const r = created ? 0 : checkOpenExisting(vfs, ino, flags, path);
  if (r < 0) return r;
  if (!created && flags & O_TRUNC && !vfs.fs.isDir(ino)) {
    const tr = vfs.setSize(ino, 0);
    if (tr < 0) return tr;
  }
  vfs.openInode(ino);
  t.install(fd, new OpenFile(ino, flags, absolutePath(path)));
  return fd;
}

/** may_open on an inode that exists: directories only for reading, the owner bits. */
function checkOpenExisting(vfs: Vfs, ino: number, flags: number, path: string): number {
  const dir = vfs.fs.isDir(ino);
  if (flags & O_DIRECTORY && !dir) return -ENOTDIR;
  if (dir && ((flags & O_ACCMODE) !== O_RDONLY || flags & O_CREAT)) return -EISDIR;
  if (!dir && path.endsWith("/")) return -ENOTDIR;
  const perm = (vfs.fs.d.mode(ino) >>> 6) & 7;
  const want = wantedBits(flags);
  return (perm & want) === want ? 0 : -EACCES;
}

/** close(2): 0 or -EBADF. */
export function sysClose(vfs: Vfs, p: FsTask, fd: number): number {
  const f = vfs.table(p.pid).remove(fd);
  if (f === null) return -EBADF;
  fput(vfs, f);
  return 0;
}

/** Drops one reference to a description; the last one closes its inode. */
function fput(vfs: Vfs, f: OpenFile): void {
  vfs.fput(f);
}

/** dup(2): the lowest free descriptor naming the same description, or -EBADF / -EMFILE. */
export function sysDup(vfs: Vfs, p: FsTask, oldfd: number): number {
  const t = vfs.table(p.pid);
  const f = t.get(oldfd);
  if (f === null) return -EBADF;
  const fd = t.lowestFree();
  if (fd < 0) return -EMFILE;
  f.refs++;
  t.install(fd, f);
  return fd;
}

/** dup2(2): `newfd` names oldfd's description (closed first if open); -EBADF for a bad either. */
export function sysDup2(vfs: Vfs, p: FsTask, oldfd: number, newfd: number): number {
  const t = vfs.table(p.pid);
  const f = t.get(oldfd);
  if (f === null) return -EBADF;
  if (!Number.isInteger(newfd) || newfd < 0 || newfd >= NR_OPEN) return -EBADF;
  if (newfd === oldfd) return newfd;
  const old = t.remove(newfd);
  if (old !== null) fput(vfs, old);
  f.refs++;
  t.install(newfd, f);
  return newfd;
}

/** ftruncate(2): -EBADF, -EINVAL (negative length, not open for writing, not a regular file), -EFBIG. */
export function sysFtruncate(vfs: Vfs, p: FsTask, fd: number, length: number): number {
  const f = vfs.table(p.pid).get(fd);
  if (f === null) return -EBADF;
  if (!Number.isSafeInteger(length) || length < 0) return -EINVAL;
  const acc = f.flags & O_ACCMODE;
  if (vfs.fs.isDir(f.ino) || !(acc === O_WRONLY || acc === O_RDWR)) return -EINVAL;
  const r = vfs.setSize(f.ino, length);
  vfs.cache.balanceDirty();
  return r;
}

/** fsync(2) and fdatasync(2): the file's dirty pages written back (metadata is always on disk). */
export function sysFsync(vfs: Vfs, p: FsTask, fd: number): number {
  const f = vfs.table(p.pid).get(fd);
  if (f === null) return -EBADF;
  vfs.cache.writebackInode(f.ino);
  return 0;
}

/** unlink(2): -ENOENT, -ENOTDIR, -EISDIR for a directory; the inode lives on while open. */
export function sysUnlink(vfs: Vfs, path: string): number {
  const w = walkPath(vfs.fs, path);
  if (typeof w === "number") return w;
  if (w.ino === 0) return -ENOENT;
  if (vfs.fs.isDir(w.ino)) return -EISDIR;
  if (path.endsWith("/")) return -ENOTDIR;
  const d = vfs.fs.d;
  vfs.fs.removeEntry(w.dir, w.name);
  d.setNlink(w.ino, d.nlink(w.ino) - 1);
  if (d.nlink(w.ino) === 0 && vfs.openCount(w.ino) === 0) vfs.evict(w.ino);
  return 0;
}

/** mkdir(2): -EEXIST, -ENOENT (a missing parent), -ENOTDIR, -ENOSPC. */
export function sysMkdir(vfs: Vfs, path: string, mode: number): number {
  const w = walkPath(vfs.fs, path);
  if (typeof w === "number") return w;
  if (w.ino !== 0 || w.name === "") return -EEXIST;
  const r = vfs.create(w.dir, w.name, "dir", Number.isInteger(mode) ? mode : 0);
  return Math.min(r, 0);
}

/** fork: the child's table names the parent's descriptions (shared positions). */
export function forkFiles(vfs: Vfs, parent: number, child: number): void {
  const pt = vfs.tables.get(parent);
  if (pt === undefined) return;
  const ct = new FdTable();
  for (const fd of pt.open()) {
    const f = pt.get(fd) as OpenFile;
    f.refs++;
    ct.install(fd, f);
  }
  vfs.tables.set(child, ct);
}

/** exit: every descriptor closed (exit_files). */
export function exitFiles(vfs: Vfs, pid: number): void {
  const t = vfs.tables.get(pid);
  if (t === undefined) return;
  for (const fd of t.open()) fput(vfs, t.remove(fd) as OpenFile);
  vfs.tables.delete(pid);
}
