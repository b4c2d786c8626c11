/**
 * msync(2) (Linux mm/msync.c): checks the flags and the range, then walks
 * the VMAs of [start, start + len). MS_SYNC writes back, for every shared
 * file mapping met, the file pages its part of the range maps
 * (vfs_fsync_range on that file range: their dirty PTEs move into the page
 * cache and only those pages are written). MS_ASYNC does nothing more, as
 * in Linux since 2.6.19: dirty PTEs are harvested by the writeback that
 * follows anyway. MS_INVALIDATE only refuses a locked mapping (EBUSY):
 * the page cache is coherent with the file.
 */
import { EBUSY, EINVAL, ENOMEM } from "../errno.ts";
import { MS_ASYNC, MS_INVALIDATE, MS_SYNC } from "../uapi/mman.ts";
import { isFileObject } from "./filemap_fault.ts";
import { type MmStruct, PAGE } from "./mm.ts";
import { VM_LOCKED, VM_SHARED } from "./mm_types.ts";
import { TASK_SIZE } from "./types.ts";
import type { VmaOps } from "./vma.ts";

/**
 * msync: 0; -EINVAL for unknown flags, an unaligned start or MS_SYNC with
 * MS_ASYNC; -ENOMEM when the range is not wholly mapped (MS_SYNC stops at
 * the first hole; otherwise the rest is still synced); -EBUSY for
 * MS_INVALIDATE on a locked mapping. `fsync(obj, first, last)` writes back
 * pages [first, last] of the file a VMA object names.
 */
export function sysMsync(
  vmas: VmaOps,
  mm: MmStruct,
  start: number,
  len: number,
  flags: number,
  fsync: (obj: number, first: number, last: number) => void,
): number {
  if (!Number.isSafeInteger(flags) || flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC)) return -EINVAL;
  if (!Number.isSafeInteger(start) || start < 0 || start % PAGE !== 0) return -EINVAL;
  if (flags & MS_ASYNC && flags & MS_SYNC) return -EINVAL;
  if (!Number.isSafeInteger(len)) return -ENOMEM;
  // len is a size_t: -4095..-1 round up to 0 (nothing to do); any other negative one wraps past start.
  if (len < 0) return len >= -(PAGE - 1) ? 0 : -ENOMEM;
  const end = start + Math.ceil(len / PAGE) * PAGE;
  if (end === start) return 0;
  if (start >= TASK_SIZE) return -ENOMEM;
  const f = vmas.f;
  let unmapped = 0;
  let vma = vmas.findVma(mm, start);
  for (;;) {
    if (vma === 0) return -ENOMEM;
    if (start < f.start(vma)) {
      if (flags === MS_SYNC) return -ENOMEM;
      start = f.start(vma);
      if (start >= end) return -ENOMEM;
      unmapped = -ENOMEM;
    }
    if (flags & MS_INVALIDATE && f.flags(vma) & VM_LOCKED) return -EBUSY;
    const obj = f.shmem(vma);
    if (flags & MS_SYNC && isFileObject(obj) && f.flags(vma) & VM_SHARED) {
      const first = f.pgoff(vma) + (start - f.start(vma)) / PAGE;
      fsync(obj, first, first + (Math.min(end, f.end(vma)) - start) / PAGE - 1);
    }
    start = f.end(vma);
    if (start >= end) return unmapped;
    vma = vmas.findVma(mm, start);
  }
}
