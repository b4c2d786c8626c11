/**
 * checkSlab: recounts the slab allocator's state from RAM.
 *
 * Every slab page found in mem_map belongs to a live cache and is reachable
 * from it exactly once (CPU slab, partial list, full list, or disabled);
 * every freelist stays inside its slab, hits only object starts, never
 * loops, and leaves exactly `inuse` objects out; each list holds only slabs
 * in its state; every counter equals the recount. IDs:
 *   SLAB-1 slab page's struct page wrong (flags, order, compound tails)
 *   SLAB-2 list links broken (prev/next disagree, cycle, state) or list count wrong
 *   SLAB-3 freelist broken (pointer outside the slab, not an object start, loop)
 *   SLAB-4 inuse disagrees with the freelist recount
 *   SLAB-5 slab on the wrong list for its contents
 *   SLAB-6 cache counter disagrees with the recount (slabs, objects, pages, Slab)
 *   SLAB-7 slab page not reachable from a live cache
 *   SLAB-8 kmalloc-large block or counter wrong
 */
import { invariant } from "../panic.ts";
import { PG_alloc, PG_head, PG_slab, PG_tail } from "./memmap.ts";
import type { KmemCache } from "./slab.ts";
import type { SlabAllocator } from "./slab_common.ts";
import { SLAB_RECLAIM_ACCOUNT } from "./slab_flags.ts";
import {
  KMALLOC_LARGE_ID,
  orderObjects,
  SLAB_CPU,
  SLAB_DISABLED,
  SLAB_FULL,
  SLAB_PARTIAL,
  SLAB_STATE_NAMES,
  type SlabList,
  slabFreelist,
  slabInuse,
  slabNext,
  slabPrev,
  slabState,
} from "./slab_page.ts";
import { PAGE_SIZE } from "./types.ts";

const hex = (n: number) => `0x${n.toString(16)}`;

/** Throws InvariantViolation (SLAB-n) at the first broken invariant. */
export function checkSlab(s: SlabAllocator): void {
  const heads = scanMemmap(s);
  let reclaimable = 0;
  let unreclaimable = s.largePages;
  for (const c of s.caches) {
    const found = heads.get(c.id) ?? [];
    heads.delete(c.id);
    checkCache(s, c, found);
    if (c.flags & SLAB_RECLAIM_ACCOUNT) reclaimable += c.pages;
    else unreclaimable += c.pages;
  }
  for (const [id, pfns] of heads) {
    invariant(false, "SLAB-7", `slab ${hex(pfns[0] as number)} belongs to cache id ${id}, which is not live`);
  }
  invariant(s.pagesReclaimable === reclaimable, "SLAB-6", `SReclaimable ${s.pagesReclaimable} pages, counted ${reclaimable}`);
  invariant(s.pagesUnreclaimable === unreclaimable, "SLAB-6", `SUnreclaim ${s.pagesUnreclaimable} pages, counted ${unreclaimable}`);
}

/** Finds every slab head (by cache id) and checks kmalloc-large blocks and compound tails. */
function scanMemmap(s: SlabAllocator): Map<number, number[]> {
  const mm = s.memmap;
  const heads = new Map<number, number[]>();
  let largeBlocks = 0;
  let largePages = 0;
  const w = mm.w;
  for (let pfn = 0; pfn < mm.nrPages; pfn++) {
    const w0 = w[pfn * 16] as number;
    if ((w0 & (PG_slab | PG_head)) === 0) continue;
    const isSlab = (w0 & PG_slab) !== 0;
    const isLarge = (w0 & (PG_alloc | PG_head | PG_slab)) === (PG_alloc | PG_head) && w0 >>> 20 === KMALLOC_LARGE_ID;
    if (!isSlab && !isLarge) continue;
    const order = mm.order(pfn);
    invariant((w0 & PG_tail) === 0 && (w0 & PG_alloc) !== 0, "SLAB-1", `slab page ${hex(pfn)} flags ${mm.describeFlags(pfn)}`);
    invariant(order > 0 === ((w0 & PG_head) !== 0), "SLAB-1", `slab ${hex(pfn)} order ${order} but flags ${mm.describeFlags(pfn)}`);
    for (let t = pfn + 1; t < pfn + (1 << order); t++) {
      invariant(mm.word0(t) === PG_tail && mm.word(t, 3) === pfn, "SLAB-1", `page ${hex(t)} of slab ${hex(pfn)} is not its compound tail`);
    }
    if (isLarge) {
      largeBlocks++;
      largePages += 1 << order;
    } else {
      const list = heads.get(w0 >>> 20);
      if (list) list.push(pfn);
      else heads.set(w0 >>> 20, [pfn]);
    }
    pfn += (1 << order) - 1;
  }
  invariant(largeBlocks === s.largeBlocks, "SLAB-8", `kmalloc-large blocks ${s.largeBlocks}, counted ${largeBlocks}`);
  invariant(largePages === s.largePages, "SLAB-8", `kmalloc-large pages ${s.largePages}, counted ${largePages}`);
  return heads;
}

/** Walks a list, checking links and states; returns its slabs. */
function walkList(s: SlabAllocator, c: KmemCache, list: SlabList, what: string): number[] {
  const w = s.memmap.w;
  const out: number[] = [];
  let prev = 0;
  for (let pfn = list.head; pfn !== 0; pfn = slabNext(w, pfn)) {
    invariant(out.length <= c.nrSlabs, "SLAB-2", `${c.name} ${what} list loops`);
    invariant(slabPrev(w, pfn) === prev, "SLAB-2", `${c.name} ${what} slab ${hex(pfn)} has a stale prev link`);
    invariant(
      slabState(w, pfn) === list.state,
      "SLAB-2",
      `${c.name} slab ${hex(pfn)} on the ${what} list has state ${SLAB_STATE_NAMES[slabState(w, pfn)] ?? "?"}`,
    );
    out.push(pfn);
    prev = pfn;
  }
  invariant(list.tail === prev, "SLAB-2", `${c.name} ${what} list tail ${hex(list.tail)}, walked to ${hex(prev)}`);
  invariant(out.length === list.nr, "SLAB-2", `${c.name} ${what} list count ${list.nr}, counted ${out.length}`);
  return out;
}

function checkCache(s: SlabAllocator, c: KmemCache, found: number[]): void {
  const w = s.memmap.w;
  const reachable = new Set<number>([...walkList(s, c, c.partial, "partial"), ...walkList(s, c, c.full, "full")]);
  invariant(reachable.size === c.partial.nr + c.full.nr, "SLAB-2", `${c.name} has a slab on both lists`);
  for (let cpu = 0; cpu < c.nrCpus; cpu++) {
    const pfn = c.cpuSlabOn(cpu);
    if (pfn === 0) continue;
    const who = cpu === 0 ? "CPU slab" : `CPU ${cpu}'s slab`;
    invariant(!reachable.has(pfn), "SLAB-2", `${c.name} ${who} ${hex(pfn)} is also on a list or another CPU's`);
    invariant(slabState(w, pfn) === SLAB_CPU, "SLAB-2", `${c.name} ${who} ${hex(pfn)} not marked cpu`);
    reachable.add(pfn);
  }
  let objects = 0;
  let pages = 0;
  let disabled = 0;
  for (const pfn of found) {
    if (slabState(w, pfn) === SLAB_DISABLED) disabled++;
    else invariant(reachable.delete(pfn), "SLAB-7", `${c.name} slab ${hex(pfn)} is on no list and not the CPU slab`);
    const order = s.memmap.order(pfn);
    objects += orderObjects(order, c.size);
    pages += 1 << order;
    checkSlabObjects(s, c, pfn);
  }
  invariant(reachable.size === 0, "SLAB-1", `${c.name} lists slab ${hex([...reachable][0] ?? 0)}, which is not its slab page`);
  invariant(found.length === c.nrSlabs, "SLAB-6", `${c.name} nr_slabs ${c.nrSlabs}, counted ${found.length}`);
  invariant(objects === c.totalObjects, "SLAB-6", `${c.name} total_objects ${c.totalObjects}, counted ${objects}`);
  invariant(pages === c.pages, "SLAB-6", `${c.name} pages ${c.pages}, counted ${pages}`);
  invariant(disabled === c.nrDisabled, "SLAB-6", `${c.name} disabled slabs ${c.nrDisabled}, counted ${disabled}`);
}

/** Walks one slab's freelist and checks inuse and the state against it. */
function checkSlabObjects(s: SlabAllocator, c: KmemCache, pfn: number): void {
  const w = s.memmap.w;
  const objects = orderObjects(s.memmap.order(pfn), c.size);
  const first = pfn * PAGE_SIZE + c.redLeftPad;
  const seen = new Uint8Array(objects);
  let free = 0;
  for (let p = slabFreelist(w, pfn); p !== 0; p = c.getFreepointer(p)) {
    invariant(c.isObject(pfn, p), "SLAB-3", `${c.name} slab ${hex(pfn)} freelist reaches ${hex(p)}, not one of its objects`);
    const k = (p - first) / c.size;
    invariant(seen[k] === 0, "SLAB-3", `${c.name} slab ${hex(pfn)} freelist loops at object ${k}`);
    seen[k] = 1;
    free++;
  }
  const inuse = slabInuse(w, pfn);
  invariant(inuse === objects - free, "SLAB-4", `${c.name} slab ${hex(pfn)} inuse ${inuse}, ${objects} objects with ${free} free`);
  const state = slabState(w, pfn);
  invariant(state !== SLAB_PARTIAL || free > 0, "SLAB-5", `${c.name} slab ${hex(pfn)} on the partial list has no free object`);
  invariant(state !== SLAB_FULL || free === 0, "SLAB-5", `${c.name} slab ${hex(pfn)} on the full list has ${free} free objects`);
  invariant(state !== SLAB_DISABLED || free === 0, "SLAB-5", `${c.name} disabled slab ${hex(pfn)} has free objects`);
}
