/**
 * What the slab allocator shows: its meminfo fields (Slab, SReclaimable,
 * SUnreclaim, KReclaimable), vmstat counters, the /proc/slabinfo rows and the
 * `slab` section of `m.stats()`.
 */
import type { MeminfoValues } from "../proc/meminfo.ts";
import type { SlabinfoRow } from "../proc/slabinfo.ts";
import type { KmemCache } from "./slab.ts";
import type { SlabAllocator } from "./slab_common.ts";
import { orderObjects, slabInuse, slabNext } from "./slab_page.ts";
import { PAGE_SIZE } from "./types.ts";

const KB_PER_PAGE = PAGE_SIZE / 1024;

/** Free objects on the partial list (Linux count_partial). */
function partialFree(c: KmemCache): number {
  const mm = c.host.memmap;
  let free = 0;
  for (let pfn = c.partial.head; pfn !== 0; pfn = slabNext(mm.w, pfn)) free += orderObjects(mm.order(pfn), c.size) - slabInuse(mm.w, pfn);
  return free;
}

/** Objects allocated right now: all objects minus the free ones on the partial list and every CPU's slab. */
export function activeObjects(c: KmemCache): number {
  let active = c.totalObjects - partialFree(c);
  const mm = c.host.memmap;
  for (let cpu = 0; cpu < c.nrCpus; cpu++) {
    const pfn = c.cpuSlabOn(cpu);
    if (pfn !== 0) active -= orderObjects(mm.order(pfn), c.size) - slabInuse(mm.w, pfn);
  }
  return active;
}

/**
 * /proc/slabinfo rows, newest cache first. As on Linux, active_objs counts
 * the free objects of the CPU slab as active (only partial slabs are
 * counted free), and active_slabs equals num_slabs.
 */
export function slabinfoRows(s: SlabAllocator): SlabinfoRow[] {
  const rows: SlabinfoRow[] = [];
  for (let i = s.caches.length - 1; i >= 0; i--) {
    const c = s.caches[i] as KmemCache;
    rows.push(slabinfoRow(c, c.totalObjects - partialFree(c)));
  }
  return rows;
}

/** One cache's slabinfo counts, with `activeObjs` as the caller counts it. */
export function slabinfoRow(c: KmemCache, activeObjs: number): SlabinfoRow {
  return {
    name: c.name,
    activeObjs,
    numObjs: c.totalObjects,
    objSize: c.size,
    objPerSlab: c.objects,
    pagesPerSlab: 1 << c.order,
    activeSlabs: c.nrSlabs,
    numSlabs: c.nrSlabs,
  };
}

/**
 * Slab, SReclaimable, SUnreclaim, KReclaimable, and the reclaimable part of
 * MemAvailable (`wmarkLow`: the zones' low watermarks summed, 0 without zones).
 */
export function slabMeminfo(s: SlabAllocator, wmarkLow: number, v: MeminfoValues): void {
  const rec = s.pagesReclaimable;
  v.SReclaimable = rec * KB_PER_PAGE;
  v.SUnreclaim = s.pagesUnreclaimable * KB_PER_PAGE;
  v.Slab = v.SReclaimable + v.SUnreclaim;
  v.KReclaimable = (v.KReclaimable ?? 0) + v.SReclaimable;
  v.MemAvailable = (v.MemAvailable ?? 0) + (rec - Math.min(Math.floor(rec / 2), wmarkLow)) * KB_PER_PAGE;
}

/** nr_slab_reclaimable and nr_slab_unreclaimable, in pages. */
export function slabVmstat(s: SlabAllocator, out: Array<[string, number]>): void {
  out.push(["nr_slab_reclaimable", s.pagesReclaimable]);
  out.push(["nr_slab_unreclaimable", s.pagesUnreclaimable]);
}

/** JSON-able per-cache figures and the allocator's totals. */
export function slabStats(s: SlabAllocator): unknown {
  return {
    caches: s.caches.map((c) => {
      const active = activeObjects(c);
      return {
        name: c.name,
        objectSize: c.objectSize,
        size: c.size,
        align: c.align,
        objectsPerSlab: c.objects,
        order: c.order,
        slabs: c.nrSlabs,
        partialSlabs: c.partial.nr,
        fullSlabs: c.full.nr,
        cpuSlab: c.cpuSlab !== 0,
        disabledSlabs: c.nrDisabled,
        objects: c.totalObjects,
        active,
        pages: c.pages,
        utilisation: c.pages === 0 ? 0 : (active * c.objectSize) / (c.pages * PAGE_SIZE),
        allocFastpath: c.allocFastpath,
        allocSlowpath: c.allocSlowpath,
        freeFastpath: c.freeFastpath,
        freeSlowpath: c.freeSlowpath,
        allocFailed: c.allocFailed,
        slabsAllocated: c.slabsAllocated,
        slabsFreed: c.slabsFreed,
      };
    }),
    kmallocLarge: { blocks: s.largeBlocks, pages: s.largePages, allocs: s.largeAllocs, frees: s.largeFrees },
    pagesReclaimable: s.pagesReclaimable,
    pagesUnreclaimable: s.pagesUnreclaimable,
    bugReports: s.rep.bugs,
    tainted: s.rep.tainted,
  };
}
