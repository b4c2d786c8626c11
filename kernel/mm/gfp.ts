/**
 * GFP flags: how an allocation may behave. Values are Linux 6.x's
 * (include/linux/gfp_types.h), so `mode:0xcc0(GFP_KERNEL)` reads as on Linux.
 */

export const __GFP_DMA = 0x01;
export const __GFP_HIGHMEM = 0x02;
export const __GFP_DMA32 = 0x04;
export const __GFP_MOVABLE = 0x08;
export const __GFP_RECLAIMABLE = 0x10;
export const __GFP_HIGH = 0x20;
export const __GFP_IO = 0x40;
export const __GFP_FS = 0x80;
export const __GFP_ZERO = 0x100;
export const __GFP_DIRECT_RECLAIM = 0x400;
export const __GFP_KSWAPD_RECLAIM = 0x800;
export const __GFP_WRITE = 0x1000;
export const __GFP_NOWARN = 0x2000;
export const __GFP_RETRY_MAYFAIL = 0x4000;
export const __GFP_NOFAIL = 0x8000;
export const __GFP_NORETRY = 0x10000;
export const __GFP_MEMALLOC = 0x20000;
export const __GFP_COMP = 0x40000;
export const __GFP_NOMEMALLOC = 0x80000;
export const __GFP_HARDWALL = 0x100000;
export const __GFP_ACCOUNT = 0x400000;

export const __GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM;
export const GFP_ATOMIC = __GFP_HIGH | __GFP_KSWAPD_RECLAIM;
export const GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS;
export const GFP_KERNEL_ACCOUNT = GFP_KERNEL | __GFP_ACCOUNT;
export const GFP_NOWAIT = __GFP_KSWAPD_RECLAIM;
export const GFP_NOIO = __GFP_RECLAIM;
export const GFP_NOFS = __GFP_RECLAIM | __GFP_IO;
export const GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL;
export const GFP_DMA = __GFP_DMA;
export const GFP_DMA32 = __GFP_DMA32;
export const GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM;
export const GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE;

/** Every bit memsim knows; an allocation with other bits set is a bug. */
export const GFP_KNOWN_MASK = 0x7fffff;

const COMPOSITES: ReadonlyArray<readonly [string, number]> = [
  ["GFP_HIGHUSER_MOVABLE", GFP_HIGHUSER_MOVABLE],
  ["GFP_HIGHUSER", GFP_HIGHUSER],
  ["GFP_USER", GFP_USER],
  ["GFP_KERNEL_ACCOUNT", GFP_KERNEL_ACCOUNT],
  ["GFP_KERNEL", GFP_KERNEL],
  ["GFP_NOFS", GFP_NOFS],
  ["GFP_ATOMIC", GFP_ATOMIC],
  ["GFP_NOIO", GFP_NOIO],
  ["GFP_NOWAIT", GFP_NOWAIT],
  ["GFP_DMA32", GFP_DMA32],
  ["GFP_DMA", GFP_DMA],
];

const SINGLES: ReadonlyArray<readonly [string, number]> = [
  ["__GFP_DMA", __GFP_DMA],
  ["__GFP_HIGHMEM", __GFP_HIGHMEM],
  ["__GFP_DMA32", __GFP_DMA32],
  ["__GFP_MOVABLE", __GFP_MOVABLE],
  ["__GFP_RECLAIMABLE", __GFP_RECLAIMABLE],
  ["__GFP_HIGH", __GFP_HIGH],
  ["__GFP_IO", __GFP_IO],
  ["__GFP_FS", __GFP_FS],
  ["__GFP_ZERO", __GFP_ZERO],
  ["__GFP_DIRECT_RECLAIM", __GFP_DIRECT_RECLAIM],
  ["__GFP_KSWAPD_RECLAIM", __GFP_KSWAPD_RECLAIM],
  ["__GFP_WRITE", __GFP_WRITE],
  ["__GFP_NOWARN", __GFP_NOWARN],
  ["__GFP_RETRY_MAYFAIL", __GFP_RETRY_MAYFAIL],
  ["__GFP_NOFAIL", __GFP_NOFAIL],
  ["__GFP_NORETRY", __GFP_NORETRY],
  ["__GFP_MEMALLOC", __GFP_MEMALLOC],
  ["__GFP_COMP", __GFP_COMP],
  ["__GFP_NOMEMALLOC", __GFP_NOMEMALLOC],
  ["__GFP_HARDWALL", __GFP_HARDWALL],
  ["__GFP_ACCOUNT", __GFP_ACCOUNT],
];

/**
 * Formats a mask the way Linux's %pGg does: the largest composite name that
 * fits, then the remaining single bits, joined by "|" ("GFP_KERNEL|__GFP_ZERO").
 */
export function formatGfp(gfp: number): string {
  let rest = gfp;
  const parts: string[] = [];
  for (const [name, bits] of COMPOSITES) {
    if ((rest & bits) === bits) {
      parts.push(name);
      rest &= ~bits;
      break;
    }
  }
  for (const [name, bit] of SINGLES) {
    if (rest & bit) {
      parts.push(name);
      rest &= ~bit;
    }
  }
  if (rest) parts.push(`0x${rest.toString(16)}`);
  return parts.length ? parts.join("|") : "0";
}
