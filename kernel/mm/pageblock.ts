/**
 * Page blocks and migrate types (Linux include/linux/pageblock-flags.h and
 * the anti-fragmentation half of mm/page_alloc.c).
 *
 * A zone is cut into page blocks of 2^pageblockOrder frames (order 9, 2 MiB,
 * as on x86-64; a machine booted with a smaller maxOrder has blocks of
 * 2^maxOrder). Each block has one migrate type, kept in a Uint8Array per
 * zone (Zone.blockType). The buddy keeps one free list per order and per
 * type; a free block sits on the list of its head's page block type (its
 * head record's word 3 holds that type while it is free).
 *
 *   type          who asks for it (gfp)                    what lives there
 *   Unmovable     no mobility flag: slab, page tables      pinned kernel memory
 *   Movable       __GFP_MOVABLE: anon, page cache, shmem   pages migration can move
 *   Reclaimable   __GFP_RECLAIMABLE: reclaimable slab      pages a shrinker can free
 *
 * HighAtomic and Isolate are not modelled (no MIGRATE_HIGHATOMIC reserve, no
 * alloc_contig_range): /proc/pagetypeinfo prints the three types above.
 *
 * Mobility grouping is turned off, as Linux does, when the machine has fewer
 * than pageblock_nr_pages * MIGRATE_TYPES frames: every request is then
 * treated as movable and the allocator behaves as a plain buddy.
 */

import { __GFP_MOVABLE, __GFP_RECLAIMABLE } from "./gfp.ts";

export const MIGRATE_UNMOVABLE = 0;
export const MIGRATE_MOVABLE = 1;
export const MIGRATE_RECLAIMABLE = 2;
/** Migrate types modelled (Linux's MIGRATE_PCPTYPES). */
export const MIGRATE_TYPES = 3;
/** Names as Linux's migratetype_names. */
export const MIGRATE_NAMES = ["Unmovable", "Movable", "Reclaimable"] as const;

/** Page block order on x86-64 with 4 KiB pages (HUGETLB_PAGE_ORDER). */
export const PAGEBLOCK_ORDER_X86 = 9;

/**
 * Linux's fallbacks[]: the types a request steals from, in order, when its
 * own lists are empty.
 */
export const FALLBACKS: readonly (readonly number[])[] = [
  [MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE],
  [MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE],
  [MIGRATE_UNMOVABLE, MIGRATE_MOVABLE],
];

/** The page block order of a machine booted with `maxOrder`: 9, or maxOrder when smaller. */
export function pageblockOrderFor(maxOrder: number): number {
  return Math.min(PAGEBLOCK_ORDER_X86, maxOrder);
}

/** True when a machine of `nrPages` frames groups by mobility (Linux build_all_zonelists). */
export function mobilityGroupingFor(nrPages: number, pageblockOrder: number): boolean {
  return nrPages >= (1 << pageblockOrder) * MIGRATE_TYPES;
}

/** gfp_migratetype: __GFP_MOVABLE gives Movable, __GFP_RECLAIMABLE Reclaimable, neither Unmovable. */
export function gfpMigratetype(gfp: number): number {
  if (gfp & __GFP_MOVABLE) return MIGRATE_MOVABLE;
  if (gfp & __GFP_RECLAIMABLE) return MIGRATE_RECLAIMABLE;
  return MIGRATE_UNMOVABLE;
}
