/**
 * The mmap family's side of MAP_HUGETLB (Linux's hugetlb_file_setup and
 * hugetlb_get_unmapped_area, and the huge-page alignment checks of munmap
 * and mprotect): lengths round up to 2 MiB, addresses are 2 MiB aligned,
 * the pool reserves one page per 2 MiB at mmap time, and no change may cut
 * a hugetlb VMA inside a huge page. The pool itself is hugetlb.ts.
 */
import { EINVAL, ENOMEM } from "../errno.ts";
import { MAP_FIXED, MAP_HUGE_MASK, MAP_HUGE_SHIFT, MAP_NORESERVE, MAP_PRIVATE, MAP_SHARED, MAP_TYPE } from "../uapi/mman.ts";
import type { Hugetlb } from "./hugetlb.ts";
import type { MmStruct } from "./mm.ts";
import { MMAP_MIN_ADDR, PAGE } from "./mm.ts";
import { VM_DONTEXPAND, VM_HUGETLB, VM_HUGETLB_RESV, VM_MAYSHARE, VM_NORESERVE, VM_SHARED } from "./mm_types.ts";
import { HPAGE_SIZE } from "./pgtable_types.ts";
import type { VmaOps } from "./vma.ts";

/** What mmapHugetlb needs from mmap.ts (passed in to keep the import one way). */
export interface HugetlbMmapOps {
  readonly hugetlb: Hugetlb;
  readonly vmas: VmaOps;
  /** mmap_region with the VMA flags; 0 or -errno. */
  region(at: number, len: number, vmFlags: number): number;
  /** get_unmapped_area; the address or -errno. */
  unmappedArea(addr: number, len: number, flags: number): number;
}

/**
 * do_mmap for MAP_ANONYMOUS | MAP_HUGETLB. MAP_SHARED is reserved whether
 * or not MAP_NORESERVE is given, and the caller populates it at once (memsim
 * has no hugetlbfs file to find a shared page in later), so a fork child
 * maps the very pages. Returns the address, -EINVAL for a page size other
 * than 2 MiB, a type other than private or shared, or a MAP_FIXED address
 * not 2 MiB aligned; -ENOMEM when the pool's free pages
 * not yet reserved cannot cover the mapping.
 */
export function mmapHugetlb(ops: HugetlbMmapOps, mm: MmStruct, addr: number, len: number, vmFlags: number, flags: number): number {
  const size = (flags >>> MAP_HUGE_SHIFT) & MAP_HUGE_MASK;
  if (size !== 0 && size !== 21) return -EINVAL;
  const type = flags & MAP_TYPE;
  if (type !== MAP_PRIVATE && type !== MAP_SHARED) return -EINVAL;
  len = Math.ceil(len / HPAGE_SIZE) * HPAGE_SIZE;
  if (len > mm.stackTop) return -ENOMEM;
  const at = hugetlbArea(ops, mm, addr, len, flags);
  if (at < 0) return at;
  const pages = len / HPAGE_SIZE;
  // A shared mapping always reserves: the caller populates it at once, so every process that maps it sees the same pages.
  const reserve = type === MAP_SHARED || !(flags & MAP_NORESERVE);
  if (reserve && !ops.hugetlb.reserve(pages)) return -ENOMEM;
  vmFlags |= VM_HUGETLB | VM_DONTEXPAND | (reserve ? VM_HUGETLB_RESV : VM_NORESERVE);
  if (type === MAP_SHARED) vmFlags |= VM_SHARED | VM_MAYSHARE;
  const r = ops.region(at, len, vmFlags);
  if (r < 0) {
    if (reserve) ops.hugetlb.unreserve(pages);
    return r;
  }
  return at;
}

/** hugetlb_get_unmapped_area: a 2 MiB-aligned free range (a fixed or hinted address must be aligned). */
function hugetlbArea(ops: HugetlbMmapOps, mm: MmStruct, addr: number, len: number, flags: number): number {
  if (flags & MAP_FIXED) return addr % HPAGE_SIZE === 0 ? ops.unmappedArea(addr, len, flags) : -EINVAL;
  if (addr !== 0 && addr % HPAGE_SIZE === 0) {
    const hinted = ops.unmappedArea(addr, len, 0);
    if (hinted === addr) return hinted;
  }
  // A gap of len + 2 MiB - 4 KiB always holds an aligned range of len.
  const low = Math.max(HPAGE_SIZE, MMAP_MIN_ADDR);
  let gap = mm.tree.topDownGap(len + HPAGE_SIZE - PAGE, low, mm.mmapBase);
  if (gap < 0) gap = mm.tree.topDownGap(len + HPAGE_SIZE - PAGE, low, mm.stackTop);
  if (gap < 0) return -ENOMEM;
  return Math.ceil(gap / HPAGE_SIZE) * HPAGE_SIZE;
}

/**
 * munmap's and mprotect's check: -EINVAL when `start` or `end` falls
 * inside a hugetlb VMA at an address not 2 MiB aligned (a huge page is
 * never split), else 0.
 */
export function hugetlbRangeCheck(vmas: VmaOps, mm: MmStruct, start: number, end: number): number {
  return cutsHugePage(vmas, mm, start) || cutsHugePage(vmas, mm, end) ? -EINVAL : 0;
}

function cutsHugePage(vmas: VmaOps, mm: MmStruct, addr: number): boolean {
  if (addr % HPAGE_SIZE === 0) return false;
  const vma = vmas.lookup(mm, addr);
  return vma !== 0 && (vmas.f.flags(vma) & VM_HUGETLB) !== 0 && vmas.f.start(vma) < addr;
}
