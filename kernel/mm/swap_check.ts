/**
 * checkSwap: recounts the swap device from every page table and the swap
 * cache, and compares with the swap map.
 *   SWAP-1 a slot's count is not the number of swap entries naming it
 *   SWAP-2 a swap entry names no slot of the device (bad type or offset)
 *   SWAP-3 the swap cache disagrees with struct page (PG_swapcache, slot in
 *          word 3, PG_anon, a reference for the cache besides the mappings)
 *   SWAP-4 the in-use or cached totals are wrong
 *   SWAP-5 a cached page no one can reach any more: no swap entry names its
 *          slot and no page table maps it (it should have been freed)
 */
import { invariant } from "../panic.ts";
import type { Process } from "../process.ts";
import { type MemMap, PG_alloc, PG_anon, PG_swapcache } from "./memmap.ts";
import type { PageTable } from "./pgtable.ts";
import { type PteVisitor, walkRange } from "./pgtable_range.ts";
import { PTE_P, swpOffset, swpType } from "./pgtable_types.ts";
import type { SwapDevice } from "./swapfile.ts";

/** Counts the swap entries of page tables, by slot. */
class SwapEntryCount implements PteVisitor {
  readonly bySlot = new Map<number, number>();
  pt: PageTable | null = null;
  pid = 0;

  constructor(private readonly dev: SwapDevice) {}

  visitPte(va: number, ptep: number): void {
    const pt = this.pt as PageTable;
    const flags = pt.pteFlags(ptep);
    if (flags & PTE_P) return;
    const slot = swpOffset(pt.ptePfn(ptep), flags);
    invariant(
      swpType(flags) === 0 && slot >= 0 && slot < this.dev.nrSlots,
      "SWAP-2",
      `pid ${this.pid}: swap entry at ${va.toString(16)} names type ${swpType(flags)} offset ${slot}`,
    );
    this.bySlot.set(slot, (this.bySlot.get(slot) ?? 0) + 1);
  }
}

/** Throws InvariantViolation (SWAP-n) at the first broken invariant. */
export function checkSwap(dev: SwapDevice, memmap: MemMap, tasks: readonly Process[]): void {
  const walk = new SwapEntryCount(dev);
  for (const p of tasks) {
    walk.pt = p.mm.pt;
    walk.pid = p.pid;
    walkRange(p.mm.pt, 0, p.mm.pt.vaEnd, walk);
  }
  let inuse = 0;
  let cached = 0;
  dev.forEachInUse((slot, count, pfn) => {
    inuse++;
    const seen = walk.bySlot.get(slot) ?? 0;
    invariant(seen === count, "SWAP-1", `slot ${slot} has count ${count}, page tables name it ${seen} times`);
    walk.bySlot.delete(slot);
    if (pfn < 0) return;
    cached++;
    checkCachedPage(memmap, slot, count, pfn);
  });
  for (const [slot, seen] of walk.bySlot) invariant(false, "SWAP-1", `slot ${slot} is free, page tables name it ${seen} times`);
  invariant(inuse === dev.inuse, "SWAP-4", `${dev.inuse} slots counted in use, ${inuse} found`);
  invariant(cached === dev.nrCached, "SWAP-4", `${dev.nrCached} pages counted in the swap cache, ${cached} found`);
  let flagged = 0;
  for (let pfn = 0; pfn < memmap.nrPages; pfn++) if (memmap.testFlag(pfn, PG_swapcache)) flagged++;
  invariant(flagged === cached, "SWAP-3", `${flagged} pages have PG_swapcache, the swap cache holds ${cached}`);
}

function checkCachedPage(memmap: MemMap, slot: number, count: number, pfn: number): void {
  const where = `slot ${slot}'s cached pfn 0x${pfn.toString(16)}`;
  invariant(
    memmap.testFlag(pfn, PG_alloc) && memmap.testFlag(pfn, PG_swapcache) && memmap.testFlag(pfn, PG_anon),
    "SWAP-3",
    `${where} has flags ${memmap.describeFlags(pfn)}`,
  );
  invariant(memmap.private_(pfn) === slot, "SWAP-3", `${where} names slot ${memmap.private_(pfn)}`);
  invariant(
    memmap.refcount(pfn) >= memmap.mapcount(pfn) + 1,
    "SWAP-3",
    `${where} has refcount ${memmap.refcount(pfn)} for ${memmap.mapcount(pfn)} mappings and the cache`,
  );
  invariant(count > 0 || memmap.mapcount(pfn) > 0, "SWAP-5", `${where} is mapped nowhere and no swap entry names the slot`);
}
