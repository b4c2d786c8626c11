/**
 * Open files and descriptor tables (Linux fs/file.c, fs/file_table.c): an
 * open file description (struct file) holds the inode, the access mode and
 * flags and the file position; a descriptor table maps small integers to
 * them. dup and fork share a description (and so its position); each holder
 * counts one reference, and the last close releases the inode.
 */

/** struct file: one open of an inode. */
export class OpenFile {
  /** References: descriptors in every table pointing here. */
  refs = 1;
  /** The file position (f_pos). */
  pos = 0;

  constructor(
    readonly ino: number,
    /** The open flags (O_ACCMODE bits, O_APPEND ...). */
    readonly flags: number,
    /** The absolute path it was opened by (d_path: /proc/PID/maps shows it). */
    readonly path = "",
  ) {}
}

/** RLIMIT_NOFILE's default soft limit: descriptors 0..1023. */
export const NR_OPEN = 1024;

/** One process's descriptor table. */
export class FdTable {
  readonly fds: Array<OpenFile | null> = [];

  /** The description behind `fd`, or null for a bad or closed descriptor. */
  get(fd: number): OpenFile | null {
    if (!Number.isInteger(fd) || fd < 0 || fd >= this.fds.length) return null;
    return this.fds[fd] ?? null;
  }

  /** The lowest free descriptor at or above `from`, or -1 when every one up to NR_OPEN is taken. */
  lowestFree(from = 0): number {
    for (let fd = from; fd < NR_OPEN; fd++) if (this.fds[fd] === undefined || this.fds[fd] === null) return fd;
    return -1;
  }

  /** Puts `f` at `fd` (the slot must be free). */
  install(fd: number, f: OpenFile): void {
    while (this.fds.length <= fd) this.fds.push(null);
    this.fds[fd] = f;
  }

  /** Takes `fd` out of the table and returns its description, or null when it was not open. */
  remove(fd: number): OpenFile | null {
    const f = this.get(fd);
    if (f !== null) this.fds[fd] = null;
    return f;
  }

  /** The open descriptors, in order. */
  open(): number[] {
    const out: number[] = [];
    for (let fd = 0; fd < this.fds.length; fd++) if (this.fds[fd] !== null && this.fds[fd] !== undefined) out.push(fd);
    return out;
  }
}

/** The absolute form of a path as opened from the root: empty parts and "." dropped, ".." taken back. */
export function absolutePath(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return `/${out.join("/")}`;
}
