/**
 * The address vocabulary (DESIGN.md §3), defined once.
 *
 * Words: page = 4 KiB frame; pfn = page frame number; pa = physical address
 * in [0, ramBytes); kva = kernel virtual address, stored in [2^47, 2^48) and
 * printed sign-extended; uva = user virtual address in [0, 2^47).
 *
 * The branded types cost nothing at run time; they stop a PFN from being
 * passed where an address is wanted.
 */

/** A page frame number. */
export type Pfn = number & { readonly __brand: "Pfn" };
/** A physical byte address in [0, ramBytes). */
export type PhysAddr = number & { readonly __brand: "PhysAddr" };
/** A virtual byte address, user or kernel half (stored form). */
export type VirtAddr = number & { readonly __brand: "VirtAddr" };
/** A buddy order: a block of 2^order pages. */
export type Order = number & { readonly __brand: "Order" };

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const PAGE_MASK = PAGE_SIZE - 1;

/** Bits of a virtual address (4-level paging). */
export const VA_BITS = 48;
/** The user half ends here (exclusive): 2^47. */
export const TASK_SIZE = 2 ** 47;
/** Start of the direct map of all RAM: canonical 0xffff888000000000. */
export const PAGE_OFFSET = 0x888000000000;
/** Start of the vmalloc area: canonical 0xffffc90000000000. */
export const VMALLOC_START = 0xc90000000000;
/** End of the vmalloc area (exclusive): 32 TiB after its start. */
export const VMALLOC_END = VMALLOC_START + 32 * 2 ** 40;

/** Rounds `n` up to a multiple of PAGE_SIZE (exact for safe integers). */
export function pageAlign(n: number): number {
  return Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
}

/** True when `n` is a multiple of PAGE_SIZE. */
export function isPageAligned(n: number): boolean {
  return n % PAGE_SIZE === 0;
}

/** The order of the smallest block holding `size` bytes (Linux get_order). */
export function getOrder(size: number): number {
  let order = 0;
  let pages = Math.ceil(size / PAGE_SIZE);
  pages -= 1;
  while (pages > 0) {
    order++;
    pages = Math.floor(pages / 2);
  }
  return order;
}

/**
 * Prints a stored virtual address in canonical form: kernel-half addresses
 * sign-extended ("ffff888000001000"), user addresses as they are. No "0x".
 */
export function formatVa(va: number): string {
  if (va >= TASK_SIZE) return `ffff${va.toString(16).padStart(12, "0")}`;
  return va.toString(16);
}

/** Parses a canonical or stored hex address (with or without 0x); NaN if invalid. */
export function parseVa(text: string): number {
  const t = text.trim().toLowerCase().replace(/^0x/, "");
  if (!/^[0-9a-f]{1,16}$/.test(t)) return Number.NaN;
  if (t.length === 16) {
    const hi = t.slice(0, 4);
    const rest = Number.parseInt(t.slice(4), 16);
    if (hi === "ffff" && rest >= TASK_SIZE) return rest;
    if (hi === "0000" && rest < TASK_SIZE) return rest;
    return Number.NaN;
  }
  const v = Number.parseInt(t, 16);
  return v < 2 ** VA_BITS ? v : Number.NaN;
}
