/**
 * Linux errno values (asm-generic/errno-base.h and errno.h) used at the
 * syscall boundary. A syscall returns `-ERRNO`; libc turns that into -1 + errno.
 */
export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EINTR = 4;
export const EIO = 5;
export const E2BIG = 7;
export const ENOEXEC = 8;
export const EBADF = 9;
export const ECHILD = 10;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const EINVAL = 22;
export const ENFILE = 23;
export const EMFILE = 24;
export const EFBIG = 27;
export const ENOSPC = 28;
export const ESPIPE = 29;
export const ERANGE = 34;
export const ENAMETOOLONG = 36;
export const ENOSYS = 38;
export const EOVERFLOW = 75;
export const EOPNOTSUPP = 95;

/** Errno names by value, for messages ("ENOMEM"). */
export const ERRNO_NAMES: Readonly<Record<number, string>> = {
  [EPERM]: "EPERM",
  [ENOENT]: "ENOENT",
  [ESRCH]: "ESRCH",
  [EINTR]: "EINTR",
  [EIO]: "EIO",
  [E2BIG]: "E2BIG",
  [ENOEXEC]: "ENOEXEC",
  [EBADF]: "EBADF",
  [ECHILD]: "ECHILD",
  [EAGAIN]: "EAGAIN",
  [ENOMEM]: "ENOMEM",
  [EACCES]: "EACCES",
  [EFAULT]: "EFAULT",
  [EBUSY]: "EBUSY",
  [EEXIST]: "EEXIST",
  [ENODEV]: "ENODEV",
  [ENOTDIR]: "ENOTDIR",
  [EISDIR]: "EISDIR",
  [EINVAL]: "EINVAL",
  [ENFILE]: "ENFILE",
  [EMFILE]: "EMFILE",
  [EFBIG]: "EFBIG",
  [ENOSPC]: "ENOSPC",
  [ESPIPE]: "ESPIPE",
  [ERANGE]: "ERANGE",
  [ENAMETOOLONG]: "ENAMETOOLONG",
  [ENOSYS]: "ENOSYS",
  [EOVERFLOW]: "EOVERFLOW",
  [EOPNOTSUPP]: "EOPNOTSUPP",
};

/** "ENOMEM" for 12 or -12; "E?" plus the number for an unknown value. */
export function errnoName(e: number): string {
  const v = Math.abs(e);
  return ERRNO_NAMES[v] ?? `E?${v}`;
}
