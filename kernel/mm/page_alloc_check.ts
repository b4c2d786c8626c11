/**
 * checkBuddy: recounts the page allocator's state from scratch.
 *
 * Every frame must be exactly one of: reserved; inside one free block that
 * sits on its zone's list for its order (or on a per-CPU list); inside one
 * allocated block. Free lists are well linked, blocks aligned and inside
 * their zone, no two free buddies are left unmerged, and every counter
 * matches the recount. IDs:
 *   BUDDY-1 list links broken (prev/next disagree, cycle, wrong flags)
 *   BUDDY-2 block outside its zone or past the end of RAM
 *   BUDDY-3 block misaligned for its order
 *   BUDDY-4 frame claimed twice
 *   BUDDY-5 frame neither reserved, free nor allocated
 *   BUDDY-6 free buddies left unmerged
 *   BUDDY-7 counter disagrees with the recount (every CPU's per-CPU lists recounted)
 *   BUDDY-8 non-head frame of a free block has a non-zero record
 *   BUDDY-9 free block or per-CPU page on the list of a migrate type other
 *           than its page block's, or a page block type out of range (or not Movable
 *           with mobility grouping off)
 *   BUDDY-10 a zone outside its node, a node's free frames disagreeing with
 *           its zones' counters, or a NUMA counter above the zone's pgalloc
 */
import { invariant, panic } from "../panic.ts";
import { type MemMap, PG_alloc, PG_buddy, PG_pcp, PG_reserved, SP_LRU_NEXT, SP_MAPPING, SP_MEMCG } from "./memmap.ts";
import type { BuddyLists, PerCpuPages, Zone } from "./mmzone.ts";
import { MIGRATE_MOVABLE, MIGRATE_NAMES, MIGRATE_TYPES } from "./pageblock.ts";

const FREE = 1;
const PCP = 2;

/** Throws InvariantViolation (BUDDY-n) at the first broken invariant. */
export function checkBuddy(b: BuddyLists): void {
  const mm = b.memmap;
  const seen = new Uint8Array(mm.nrPages);
  for (const zone of b.zones) checkZoneLists(b, zone, seen);
  checkNodes(b, seen);
  let pfn = 0;
  while (pfn < mm.nrPages) {
    const f = mm.flags(pfn);
    if (f & PG_reserved) {
      invariant(seen[pfn] === 0, "BUDDY-4", `reserved pfn 0x${pfn.toString(16)} is on a free list`);
      pfn++;
      continue;
    }
    const order = mm.order(pfn);
    if (seen[pfn] === FREE || seen[pfn] === PCP) {
      checkFreeTail(b, pfn, order);
      pfn += 1 << order;
      continue;
    }
    invariant(
      (f & PG_alloc) !== 0,
      "BUDDY-5",
      `pfn 0x${pfn.toString(16)} is neither reserved, free nor allocated (flags ${mm.describeFlags(pfn)})`,
    );
    checkAligned(pfn, order);
    pfn += 1 << order;
  }
}

/** Every zone inside its node; each node's free frames (marked by the list walk) recounted against its zones' free pages. */
function checkNodes(b: BuddyLists, seen: Uint8Array): void {
  const numa = b.numa;
  for (let nid = 0; nid < numa.nrNodes; nid++) {
    const start = numa.startPfn[nid] as number;
    const end = numa.endPfn[nid] as number;
    let counted = 0;
    for (let pfn = start; pfn < end; pfn++) if (seen[pfn] === FREE) counted++;
    let free = 0;
    for (const z of b.zones) {
      if (z.nid !== nid) continue;
      invariant(z.startPfn >= start && z.endPfn <= end, "BUDDY-10", `zone ${z.name} [${z.startPfn}, ${z.endPfn}) outside node ${nid}`);
      const numaOk = z.numaMiss <= z.pgalloc && z.otherNode <= z.pgalloc && z.interleaveHit <= z.pgalloc;
      invariant(numaOk, "BUDDY-10", `node ${nid} zone ${z.name}: numa_miss/other_node/interleave_hit above pgalloc ${z.pgalloc}`);
      free += z.freePages;
    }
    invariant(free === counted, "BUDDY-10", `node ${nid}: its zones count ${free} free pages, its frames hold ${counted}`);
  }
}

function checkAligned(pfn: number, order: number): void {
  invariant((pfn & ((1 << order) - 1)) === 0, "BUDDY-3", `block 0x${pfn.toString(16)} misaligned for order ${order}`);
}

/** Walks one zone's buddy lists and per-CPU lists, marking the frames they cover. */
function checkZoneLists(b: BuddyLists, zone: Zone, seen: Uint8Array): void {
  checkBlockTypes(zone);
  let free = 0;
  for (let order = 0; order <= b.maxOrder; order++) {
    let n = 0;
    for (let mt = 0; mt < MIGRATE_TYPES; mt++) n += checkFreeList(b, zone, seen, order, mt);
    invariant(n === zone.nrFree[order], "BUDDY-7", `zone ${zone.name} order ${order}: nr_free ${zone.nrFree[order]}, counted ${n}`);
    free += n << order;
  }
  invariant(free === zone.freePages, "BUDDY-7", `zone ${zone.name}: free pages ${zone.freePages}, counted ${free}`);
  invariant(zone.pcp.length === b.nrCpus, "BUDDY-7", `zone ${zone.name}: ${zone.pcp.length} per-CPU list sets for ${b.nrCpus} CPUs`);
  for (let cpu = 0; cpu < zone.pcp.length; cpu++) {
    const pcp = zone.pcp[cpu] as PerCpuPages;
    let count = 0;
    for (let li = 0; li < pcp.head.length; li++) count += checkPcpList(b, zone, seen, cpu, li);
    invariant(count === pcp.count, "BUDDY-7", `zone ${zone.name} CPU ${cpu} pcp: count ${pcp.count}, counted ${count}`);
  }
}

/**
 * Walks CPU cpu's per-CPU list li (order li / MIGRATE_TYPES, type li %
 * MIGRATE_TYPES), marking its frames; every page must be marked pcp of the
 * list's order and lie in a page block of the list's type. Returns its pages.
 */
function checkPcpList(b: BuddyLists, zone: Zone, seen: Uint8Array, cpu: number, li: number): number {
  const mm = b.memmap;
  const order = (li / MIGRATE_TYPES) | 0;
  const mt = li % MIGRATE_TYPES;
  let n = 0;
  for (let h = (zone.pcp[cpu] as PerCpuPages).head[li] as number; h !== 0; h = mm.word(h - 1, 1)) {
    const pfn = h - 1;
    invariant(
      mm.word0(pfn) === (PG_pcp | (order << 16)),
      "BUDDY-1",
      `CPU ${cpu} pcp page 0x${pfn.toString(16)} not marked pcp order ${order}`,
    );
    const bt = zone.contains(pfn) ? zone.blockTypeOf(pfn) : -1;
    invariant(
      bt === mt,
      "BUDDY-9",
      `CPU ${cpu} pcp page 0x${pfn.toString(16)} order ${order} on the ${MIGRATE_NAMES[mt]} list, its page block is type ${bt}`,
    );
    markBlock(zone, seen, pfn, order, PCP);
    n++;
  }
  return n << order;
}

/** Every page block type is a modelled type, and Movable when the zone does not group by mobility. */
function checkBlockTypes(zone: Zone): void {
  for (let i = 0; i < zone.blockType.length; i++) {
    const t = zone.blockType[i] as number;
    const ok = zone.mobility !== 0 ? t < MIGRATE_TYPES : t === MIGRATE_MOVABLE;
    invariant(ok, "BUDDY-9", `zone ${zone.name} page block ${i}: type ${t} out of range`);
  }
}

/** Walks the free list of one order and type; returns its length. */
function checkFreeList(b: BuddyLists, zone: Zone, seen: Uint8Array, order: number, mt: number): number {
  const mm = b.memmap;
  const li = order * MIGRATE_TYPES + mt;
  let n = 0;
  let prev = 0;
  for (let h = zone.freeHead[li] as number; h !== 0; h = mm.word(h - 1, 1)) {
    const pfn = h - 1;
    invariant(mm.word(pfn, 2) === prev, "BUDDY-1", `free block 0x${pfn.toString(16)} has a stale prev link`);
    invariant(mm.word0(pfn) === (PG_buddy | (order << 16)), "BUDDY-1", `free block 0x${pfn.toString(16)} not marked buddy order ${order}`);
    markBlock(zone, seen, pfn, order, FREE);
    const bt = zone.contains(pfn) ? zone.blockTypeOf(pfn) : -1;
    invariant(
      mm.word(pfn, 3) === mt && bt === mt,
      "BUDDY-9",
      `free block 0x${pfn.toString(16)} order ${order} on the ${MIGRATE_NAMES[mt]} list (word 3 = ${mm.word(pfn, 3)}), its page block is type ${bt}`,
    );
    checkUnmerged(b, zone, pfn, order);
    prev = h;
    n++;
  }
  invariant(
    n === zone.nrFreeMt[li],
    "BUDDY-7",
    `zone ${zone.name} order ${order} ${MIGRATE_NAMES[mt]}: nr_free ${zone.nrFreeMt[li]}, counted ${n}`,
  );
  return n;
}

function markBlock(zone: Zone, seen: Uint8Array, pfn: number, order: number, kind: number): void {
  const end = pfn + (1 << order);
  invariant(zone.contains(pfn) && end <= zone.endPfn, "BUDDY-2", `block 0x${pfn.toString(16)} order ${order} outside zone ${zone.name}`);
  checkAligned(pfn, order);
  for (let p = pfn; p < end; p++) {
    invariant(seen[p] === 0, "BUDDY-4", `pfn 0x${p.toString(16)} is in two free blocks (or a cycle)`);
    seen[p] = kind;
  }
}

function checkUnmerged(b: BuddyLists, zone: Zone, pfn: number, order: number): void {
  if (order >= b.maxOrder) return;
  const buddy = pfn ^ (1 << order);
  if (!zone.contains(buddy)) return;
  invariant(
    b.memmap.word0(buddy) !== (PG_buddy | (order << 16)),
    "BUDDY-6",
    `free buddies 0x${pfn.toString(16)} and 0x${buddy.toString(16)} of order ${order} not merged`,
  );
}

function checkFreeTail(b: BuddyLists, pfn: number, order: number): void {
  const mm = b.memmap;
  for (let p = pfn + 1; p < pfn + (1 << order); p++) {
    invariant(
      mm.word0(p) === 0 && mm.word(p, 1) === 0 && mm.word(p, 2) === 0 && mm.word(p, 3) === 0,
      "BUDDY-8",
      `pfn 0x${p.toString(16)} inside free block 0x${pfn.toString(16)} has record flags ${mm.describeFlags(p)}`,
    );
  }
}

/**
 * Names what is wrong with a refused __free_pages(pfn, order) and panics:
 * out of range, bad order, misaligned, a double free, a reserved frame, the
 * wrong order, a page still owned by a layer, or no allocated block at all.
 */
export function badFree(mm: MemMap, maxOrder: number, pfn: number, order: number): never {
  if (!Number.isInteger(pfn) || pfn < 0 || pfn >= mm.nrPages) panic(`__free_pages: pfn ${pfn} out of range`);
  if (!Number.isInteger(order) || order < 0 || order > maxOrder)
    panic(`__free_pages: invalid order ${order} for pfn 0x${pfn.toString(16)}`);
  const hex = `0x${pfn.toString(16)}`;
  if (pfn & ((1 << order) - 1)) panic(`__free_pages: pfn ${hex} misaligned for order ${order}`);
  const f = mm.flags(pfn);
  if (f & (PG_buddy | PG_pcp)) panic(`__free_pages: double free of pfn ${hex}`);
  if (f & PG_reserved) panic(`__free_pages: freeing reserved pfn ${hex}`);
  if (f & PG_alloc && mm.order(pfn) !== order) {
    panic(`__free_pages: pfn ${hex} was allocated with order ${mm.order(pfn)}, freed with order ${order}`);
  }
  if (f & PG_alloc && (mm.flags2(pfn) | mm.userWord(pfn, SP_LRU_NEXT) | mm.userWord(pfn, SP_MAPPING) | mm.userWord(pfn, SP_MEMCG)) !== 0) {
    const words = `flags2 0x${mm.flags2(pfn).toString(16)} lru.next ${mm.userWord(pfn, SP_LRU_NEXT)} mapping ${mm.userWord(pfn, SP_MAPPING)} memcg ${mm.userWord(pfn, SP_MEMCG)}`;
    panic(`__free_pages: bad page state pfn ${hex}: still in use (${words})`);
  }
  if (f & PG_alloc) panic(`__free_pages: bad page state pfn ${hex} flags ${mm.describeFlags(pfn)}`);
  panic(`__free_pages: pfn ${hex} is not an allocated block (double free?)`);
}
