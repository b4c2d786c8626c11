/**
 * The host side of the machine's filesystem: `m.fs` writes, reads and lists
 * files on the machine's disk as its owner would (through the page cache,
 * like any kernel code), and `Machine.boot({ fs: { from: dir } })` reads a
 * host folder with node:fs, once, at boot, so a lab can ship files.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { errnoName } from "../kernel/errno.ts";
import { buildExecutable, type ExecutableImage } from "../kernel/fs/binfmt.ts";
import type { BootFile } from "../kernel/fs/fs_init.ts";
import type { Vfs } from "../kernel/fs/vfs.ts";

/** A host-side call the machine refused: the message names the path and the errno. */
export class FsError extends Error {
  override readonly name = "FsError";
  constructor(
    readonly path: string,
    /** The positive errno value (ENOENT = 2 ...). */
    readonly errno: number,
  ) {
    super(`m.fs: ${path}: ${errnoName(errno)}`);
  }
}

/** Every file and directory under host folder `dir`, parents first, as paths from the disk's root. Throws the node:fs error when it cannot be read. */
export function readHostTree(dir: string): BootFile[] {
  const out: BootFile[] = [];
  const walk = (host: string, at: string): void => {
    for (const name of readdirSync(host).sort()) {
      const h = join(host, name);
      const path = `${at}/${name}`;
      if (statSync(h).isDirectory()) {
        out.push({ path, data: null });
        walk(h, path);
      } else out.push({ path, data: new Uint8Array(readFileSync(h)) });
    }
  };
  walk(dir, "");
  return out;
}

/** `m.fs`: the machine's files from the host side. Each method throws FsError when the kernel refuses. */
export class MachineFs {
  constructor(private readonly vfs: () => Vfs) {}

  /** Writes `data` (a string is UTF-8 encoded) as the whole of `path`, creating it; the parent must exist. */
  writeFile(path: string, data: Uint8Array | string): void {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const r = this.vfs().hostWriteFile(path, bytes);
    if (r < 0) throw new FsError(path, -r);
  }

  /**
   * Writes a memsim executable (kernel/fs/binfmt.ts: a header page, the
   * text, the data) as `path`, for `m.spawn(name, { exec: path })`, with
   * mode 0755. Throws RangeError for a bad image, FsError when the disk refuses.
   */
  writeExecutable(path: string, img: ExecutableImage): void {
    this.writeFile(path, buildExecutable(img));
  }

  /** The bytes of `path`. */
  readFile(path: string): Uint8Array {
    const r = this.vfs().hostReadFile(path);
    if (typeof r === "number") throw new FsError(path, -r);
    return r;
  }

  /** The bytes of `path` decoded as UTF-8. */
  readText(path: string): string {
    return new TextDecoder().decode(this.readFile(path));
  }

  /** The names in directory `path`, sorted. */
  list(path: string): string[] {
    const r = this.vfs().hostList(path);
    if (typeof r === "number") throw new FsError(path, -r);
    return r;
  }

  /** How many VMAs, of every process, map `path` (the inode's i_mmap list; an unlinked file is no longer reachable here). */
  mappings(path: string): number {
    const r = this.vfs().hostMappings(path);
    if (r < 0) throw new FsError(path, -r);
    return r;
  }

  /** Makes `path` and every missing parent directory. */
  mkdirs(path: string): void {
    const r = this.vfs().hostMkdirs(path);
    if (r < 0) throw new FsError(path, -r);
  }

  /** sync(2): every dirty page written to the disk. Returns the pages written. */
  sync(): number {
    return this.vfs().cache.writebackAll();
  }

  /** Unmounts and mounts again from the disk alone (the page cache emptied after a sync). */
  remount(): void {
    this.vfs().remount();
  }
}
