/**
 * validate_slab_cache (Linux /sys/kernel/slab/<cache>/validate): flushes the
 * CPU slab, then walks every partial and full slab, repairing and reporting
 * what it finds: freelists that leave their slab or loop, wrong in-use
 * counts, and (with the debug flags) damaged red zones, poison and padding.
 * Repairs follow Linux: a broken freelist is cut, its objects are leaked.
 */
import type { KmemCache } from "./slab.ts";
import { checkObject, checkSlab, freeSet, slabErr } from "./slab_debug.ts";
import { SLUB_RED_ACTIVE, SLUB_RED_INACTIVE } from "./slab_flags.ts";
import {
  orderObjects,
  SLAB_FULL,
  SLAB_PARTIAL,
  setSlabFreelist,
  setSlabInuse,
  slabFreelist,
  slabInuse,
  slabNext,
  slabState,
} from "./slab_page.ts";
import { ptrOf } from "./slab_report.ts";
import { PAGE_SIZE } from "./types.ts";

function freelistErr(c: KmemCache, pfn: number, what: string): void {
  slabErr(c, "slab_freepointer", pfn, what);
}

function clearFreelist(c: KmemCache, pfn: number, objects: number): void {
  setSlabFreelist(c.host.memmap.w, pfn, 0);
  setSlabInuse(c.host.memmap.w, pfn, objects);
  c.host.rep.fix(c.name, "Freelist cleared");
}

/**
 * on_freelist(s, slab, NULL): walks the freelist checking every pointer,
 * cuts it where it leaves the slab or loops, and fixes the in-use count.
 * Returns false when the freelist had to be cleared.
 */
function checkFreelist(c: KmemCache, pfn: number): boolean {
  const mm = c.host.memmap;
  const objects = orderObjects(mm.order(pfn), c.size);
  let fp = slabFreelist(mm.w, pfn);
  let object = 0;
  let nr = 0;
  while (fp !== 0 && nr <= objects) {
    if (!c.isObject(pfn, fp)) {
      if (object === 0) {
        freelistErr(c, pfn, "Freepointer corrupt");
        clearFreelist(c, pfn, objects);
        return false;
      }
      c.host.rep.bug("slab_freepointer", c.name, "Freechain corrupt");
      c.host.rep.line(`INFO: Object ${ptrOf(object)} @offset=${object - pfn * PAGE_SIZE} fp=${ptrOf(fp)}`);
      c.setFreepointer(object, 0);
      c.host.rep.fix(c.name, "Isolate corrupted freechain");
      break;
    }
    object = fp;
    fp = c.getFreepointer(object);
    nr++;
  }
  if (nr > objects) {
    freelistErr(c, pfn, "Freelist cycle detected");
    clearFreelist(c, pfn, objects);
    return false;
  }
  if (slabInuse(mm.w, pfn) !== objects - nr) {
    freelistErr(c, pfn, `Wrong object count. Counter is ${slabInuse(mm.w, pfn)} but counted were ${objects - nr}`);
    setSlabInuse(mm.w, pfn, objects - nr);
    c.host.rep.fix(c.name, "Object count adjusted");
  }
  return true;
}

/** validate_slab: the freelist first, then every object against its state. */
function validateSlab(c: KmemCache, pfn: number): void {
  if (!checkSlab(c, pfn) || !checkFreelist(c, pfn)) return;
  const free = freeSet(c, pfn);
  const first = pfn * PAGE_SIZE + c.redLeftPad;
  const objects = orderObjects(c.host.memmap.order(pfn), c.size);
  for (let k = 0; k < objects; k++) {
    if (!checkObject(c, pfn, first + k * c.size, free.has(k) ? SLUB_RED_INACTIVE : SLUB_RED_ACTIVE)) break;
  }
}

/** After repairs a slab may sit on the wrong list: no free objects on partial, or some on full. */
function relist(c: KmemCache, pfn: number): void {
  const state = slabState(c.host.memmap.w, pfn);
  const hasFree = slabFreelist(c.host.memmap.w, pfn) !== 0;
  if (state === SLAB_PARTIAL && !hasFree) {
    c.partial.remove(pfn);
    c.full.addHead(pfn);
  } else if (state === SLAB_FULL && hasFree) {
    c.full.remove(pfn);
    c.partial.addTail(pfn);
  }
}

function listPfns(c: KmemCache, head: number): number[] {
  const out: number[] = [];
  const w = c.host.memmap.w;
  for (let pfn = head; pfn !== 0 && out.length <= c.nrSlabs; pfn = slabNext(w, pfn)) out.push(pfn);
  return out;
}

/**
 * validate_slab_cache. Returns the number of BUG reports it produced (0 =
 * the cache is sound).
 */
export function validateCache(c: KmemCache): number {
  const before = c.host.rep.bugs;
  c.flushCpuSlab();
  const partial = listPfns(c, c.partial.head);
  const full = listPfns(c, c.full.head);
  for (const pfn of partial) validateSlab(c, pfn);
  for (const pfn of full) validateSlab(c, pfn);
  c.host.rep.flush();
  if (partial.length !== c.partial.nr) {
    c.host.rep.plain("slab_corrupt", `SLUB ${c.name}: ${partial.length} partial slabs counted but counter=${c.partial.nr}`);
    c.host.rep.bugs++;
  }
  for (const pfn of [...partial, ...full]) relist(c, pfn);
  return c.host.rep.bugs - before;
}
