/**
 * The file wrappers of the C library (<fcntl.h>, <unistd.h>, <sys/stat.h>),
 * as glibc gives them: a raw result of -errno becomes -1 with errno set in
 * the process's libc; success leaves errno alone. `p.libc.files.open(...)`.
 */
import type { UserFileSyscalls } from "../../kernel/uapi/fcntl.ts";

/** Where a failing call leaves its errno (the process's Libc). */
export interface ErrnoSink {
  errno: number;
}

/** open, close, read, write ... for one process; each returns what the C function returns. */
export class LibcFiles {
  constructor(
    private readonly sys: UserFileSyscalls,
    private readonly sink: ErrnoSink,
  ) {}

  private ret(raw: number): number {
    if (raw >= 0) return raw;
    this.sink.errno = -raw;
    return -1;
  }

  /** open(2): a descriptor, or -1 with errno. */
  open(path: string, flags: number, mode = 0o666): number {
    return this.ret(this.sys.open(path, flags, mode));
  }
  close(fd: number): number {
    return this.ret(this.sys.close(fd));
  }
  /** read(2): bytes read (0 at end of file), or -1 with errno. */
  read(fd: number, buf: number, count: number): number {
    return this.ret(this.sys.read(fd, buf, count));
  }
  /** write(2): bytes written, or -1 with errno. */
  write(fd: number, buf: number, count: number): number {
    return this.ret(this.sys.write(fd, buf, count));
  }
  pread(fd: number, buf: number, count: number, off: number): number {
    return this.ret(this.sys.pread(fd, buf, count, off));
  }
  pwrite(fd: number, buf: number, count: number, off: number): number {
    return this.ret(this.sys.pwrite(fd, buf, count, off));
  }
  /** lseek(2): the new offset, or -1 with errno. */
  lseek(fd: number, off: number, whence: number): number {
    return this.ret(this.sys.lseek(fd, off, whence));
  }
  ftruncate(fd: number, length: number): number {
    return this.ret(this.sys.ftruncate(fd, length));
  }
  /** fstat(2): fills the 144-byte struct stat at `buf`; 0 or -1 with errno. */
  fstat(fd: number, buf: number): number {
    return this.ret(this.sys.fstat(fd, buf));
  }
  unlink(path: string): number {
    return this.ret(this.sys.unlink(path));
  }
  /** msync(2): 0, or -1 with errno (EINVAL, ENOMEM, EBUSY). */
  msync(addr: number, len: number, flags: number): number {
    return this.ret(this.sys.msync(addr, len, flags));
  }
  mkdir(path: string, mode = 0o777): number {
    return this.ret(this.sys.mkdir(path, mode));
  }
  fsync(fd: number): number {
    return this.ret(this.sys.fsync(fd));
  }
  fdatasync(fd: number): number {
    return this.ret(this.sys.fdatasync(fd));
  }
  dup(fd: number): number {
    return this.ret(this.sys.dup(fd));
  }
  dup2(oldfd: number, newfd: number): number {
    return this.ret(this.sys.dup2(oldfd, newfd));
  }
}
