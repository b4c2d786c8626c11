/**
 * Path lookup (Linux fs/namei.c, reduced): a path is split at '/' and walked
 * from the root directory; memsim has no current directory, so a relative
 * path starts at the root too. "." and ".." are not entries in sfs: "." is
 * skipped, ".." goes up a level (the walk keeps its own trail).
 */
import { ENAMETOOLONG, ENOENT, ENOTDIR } from "../errno.ts";
import type { Sfs } from "./sfs.ts";
import { NAME_MAX, ROOT_INO } from "./sfs_layout.ts";

/** Where a path leads: its parent directory, its last name, and the inode there (0 when missing). */
export interface PathTarget {
  readonly dir: number;
  readonly name: string;
  readonly ino: number;
}

/**
 * Walks `path` to its last component. Returns -errno: ENOENT for an empty
 * path or a missing directory on the way, ENOTDIR when a component on the
 * way is a file, ENAMETOOLONG for a name over 27 bytes. The root itself
 * comes back as { dir: root, name: "", ino: root }.
 */
export function walkPath(fs: Sfs, path: string): PathTarget | number {
  if (typeof path !== "string" || path.length === 0) return -ENOENT;
  const parts = path.split("/").filter((s) => s !== "" && s !== ".");
  const trail: number[] = [ROOT_INO];
  for (let i = 0; i < parts.length; i++) {
    const name = parts[i] as string;
    if (name.length > NAME_MAX) return -ENAMETOOLONG;
    const dir = trail[trail.length - 1] as number;
    if (!fs.isDir(dir)) return -ENOTDIR;
    const last = i === parts.length - 1;
    if (name === "..") {
      if (trail.length > 1) trail.pop();
      if (last) break;
      continue;
    }
    const ino = fs.lookup(dir, name);
    if (last) return { dir, name, ino };
    if (ino === 0) return -ENOENT;
    trail.push(ino);
  }
  const ino = trail[trail.length - 1] as number;
  if (path.endsWith("/") && !fs.isDir(ino)) return -ENOTDIR;
  return { dir: trail.length > 1 ? (trail[trail.length - 2] as number) : ROOT_INO, name: "", ino };
}
