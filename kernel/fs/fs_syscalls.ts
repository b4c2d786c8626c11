/**
 * The file system calls of one process, as a program sees them: raw Linux
 * results (a value or -errno), never an exception for a bad argument. The
 * process's `sys` object inherits these (syscalls.ts). Each call enters and
 * leaves the kernel like the memory calls, so debug levels run the checkers.
 */
import { panic } from "../panic.ts";
import type { UserFileSyscalls } from "../uapi/fcntl.ts";
import { sysClose, sysDup, sysDup2, sysFsync, sysFtruncate, sysMkdir, sysOpen, sysUnlink } from "./open.ts";
import { sysLseek, sysPread, sysPwrite, sysRead, sysWrite } from "./read_write.ts";
import { sysFstat } from "./stat.ts";
import type { FsTask } from "./task.ts";
import type { Vfs } from "./vfs.ts";

/** The syscall table entries for files, bound to one process. */
export class FileSyscalls implements UserFileSyscalls {
  constructor(private readonly task: FsTask) {}

  /** Enters the kernel and returns the file layer. Panics when the machine was booted without one. */
  private enter(): Vfs {
    this.task.enter();
    const vfs = this.task.tasks.vfs;
    if (vfs === null) panic("syscall: this kernel has no file layer");
    return vfs;
  }

  private leave(r: number): number {
    this.task.leave();
    return r;
  }

  open(path: string, flags: number, mode = 0o666): number {
    const vfs = this.enter();
    return this.leave(sysOpen(vfs, this.task, path, flags, mode));
  }

  close(fd: number): number {
    return this.leave(sysClose(this.enter(), this.task, fd));
  }

  read(fd: number, buf: number, count: number): number {
    return this.leave(sysRead(this.enter(), this.task, fd, buf, count));
  }

  write(fd: number, buf: number, count: number): number {
    return this.leave(sysWrite(this.enter(), this.task, fd, buf, count));
  }

  pread(fd: number, buf: number, count: number, off: number): number {
    return this.leave(sysPread(this.enter(), this.task, fd, buf, count, off));
  }

  pwrite(fd: number, buf: number, count: number, off: number): number {
    return this.leave(sysPwrite(this.enter(), this.task, fd, buf, count, off));
  }

  lseek(fd: number, off: number, whence: number): number {
    return this.leave(sysLseek(this.enter(), this.task, fd, off, whence));
  }

  ftruncate(fd: number, length: number): number {
    return this.leave(sysFtruncate(this.enter(), this.task, fd, length));
  }

  fstat(fd: number, buf: number): number {
    return this.leave(sysFstat(this.enter(), this.task, fd, buf));
  }

  unlink(path: string): number {
    return this.leave(sysUnlink(this.enter(), path));
  }

  mkdir(path: string, mode = 0o777): number {
    return this.leave(sysMkdir(this.enter(), path, mode));
  }

  fsync(fd: number): number {
    return this.leave(sysFsync(this.enter(), this.task, fd));
  }

  /** fdatasync: the same as fsync here (metadata is always written through). */
  fdatasync(fd: number): number {
    return this.leave(sysFsync(this.enter(), this.task, fd));
  }

  msync(addr: number, len: number, flags: number): number {
    this.enter();
    return this.leave(this.task.tasks.sysMsync(this.task, addr, len, flags));
  }

  dup(fd: number): number {
    return this.leave(sysDup(this.enter(), this.task, fd));
  }

  dup2(oldfd: number, newfd: number): number {
    return this.leave(sysDup2(this.enter(), this.task, oldfd, newfd));
  }
}
