/**
 * File constants of the Linux x86-64 ABI (asm-generic/fcntl.h, linux/stat.h,
 * linux/fs.h) and the layout of struct stat as fstat(2) writes it.
 */

export const O_ACCMODE = 0o3;
export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
/** O_DIRECTORY: open fails with ENOTDIR unless the path is a directory. */
export const O_DIRECTORY = 0o200000;

export const SEEK_SET = 0;
export const SEEK_CUR = 1;
export const SEEK_END = 2;

export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;

/** struct stat on x86-64: 144 bytes. Offsets of the fields memsim fills. */
export const STAT_SIZE = 144;
export const ST_DEV = 0;
export const ST_INO = 8;
export const ST_NLINK = 16;
export const ST_MODE = 24;
export const ST_UID = 28;
export const ST_GID = 32;
export const ST_SIZE = 48;
export const ST_BLKSIZE = 56;
export const ST_BLOCKS = 64;

/** The file system calls, returning what Linux returns (a value or -errno). Paths are strings; buffers are user addresses. */
export interface UserFileSyscalls {
  open(path: string, flags: number, mode?: number): number;
  close(fd: number): number;
  read(fd: number, buf: number, count: number): number;
  write(fd: number, buf: number, count: number): number;
  pread(fd: number, buf: number, count: number, off: number): number;
  pwrite(fd: number, buf: number, count: number, off: number): number;
  lseek(fd: number, off: number, whence: number): number;
  ftruncate(fd: number, length: number): number;
  fstat(fd: number, buf: number): number;
  unlink(path: string): number;
  mkdir(path: string, mode?: number): number;
  fsync(fd: number): number;
  fdatasync(fd: number): number;
  /** msync(2): flushes shared file mappings of [addr, addr + len) (MS_SYNC / MS_ASYNC / MS_INVALIDATE from mman.ts). */
  msync(addr: number, len: number, flags: number): number;
  dup(fd: number): number;
  dup2(oldfd: number, newfd: number): number;
}
