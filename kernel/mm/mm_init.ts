/**
 * Boot of the page-frame layer (Linux mm/mm_init.c, memblock_free_all):
 * reserves the frames memblock keeps, hands the rest to the frames layer
 * (memsim's buddy allocator, `buddyFrames`, unless the lab names another)
 * and puts it behind FramePages, the one path every layer takes. Registers
 * the layer's checker, meminfo, vmstat and stats with the kernel registry,
 * using the optional capabilities (per-CPU lists, zones) the layer offers.
 */

import type { KernelEvents } from "../events.ts";
import { layerFault, panic } from "../panic.ts";
import type { Printk } from "../printk.ts";
import type { MeminfoValues } from "../proc/meminfo.ts";
import type { Registry } from "../registry.ts";
import type { FailPoint } from "./fault_inject.ts";
import { FramePages } from "./frame_pages.ts";
import { checkFrames } from "./frame_pages_check.ts";
import type { FrameAllocator, FramesBoot, FramesLayer, FreeRange } from "./frames.ts";
import { FramesLocks, MAX_FRAMES_LOCKS } from "./frames_locks.ts";
import type { BootLayout } from "./memblock.ts";
import { type MemMap, PG_reserved } from "./memmap.ts";
import { DMA_END_PFN, setupWatermarks, ZONE_DMA, ZONE_NAMES, ZONE_NORMAL, Zone } from "./mmzone.ts";
import { flatNuma, NumaTopology } from "./numa.ts";
import { BuddyAllocator } from "./page_alloc.ts";
import { mobilityGroupingFor, pageblockOrderFor } from "./pageblock.ts";
import type { PhysMem } from "./physmem.ts";

/** What the frame layer's boot is handed. */
export interface FramesInit {
  readonly phys: PhysMem;
  readonly memmap: MemMap;
  readonly layout: BootLayout;
  readonly printk: Printk;
  readonly failPageAlloc: FailPoint;
  readonly debugVm: number;
  /** page_poison: fill freed frames with PAGE_POISON (sim/config.ts: off by default, on at debugVm >= 2). */
  readonly pagePoison?: boolean;
  readonly maxOrder: number;
  /** Per-CPU list batch; 0 picks Linux's size for the zone, -1 turns the lists off. */
  readonly pcpBatch: number;
  /** CPUs of the machine (default 1): the frames layer keeps per-CPU lists for each. */
  readonly cpus?: number;
  readonly registry: Registry;
  /** The machine's event bus (mm_page_alloc, mm_page_free; split and merge on the buddy). */
  readonly events: KernelEvents;
  /** The layer's own locks and the running CPU (FramesBoot.acquire, thisCpu). Default: one CPU, no locks counted. */
  readonly locks?: FramesLocks;
  /** The machine's nodes (numa.ts); every frame and CPU on node 0 when absent. */
  readonly numa?: NumaTopology;
}

/** The booted page allocator; `buddy` is the layer when it is memsim's buddy allocator, else null. */
export interface FramesParts {
  readonly pages: FramePages;
  readonly buddy: BuddyAllocator | null;
  /** The layer's name: "buddy" or the lab allocator's. */
  readonly name: string;
  /** The layer's locks, when it declared some (FrameAllocator.locks), else null: the scheduler then models one zone lock. */
  readonly locks: FramesLocks | null;
}

/**
 * The buddy allocator as a frames layer (the default of `layers.frames`):
 * zones DMA (the first 16 MiB) and Normal over the machine, the free ranges
 * on the lists as the largest aligned blocks, Linux's watermarks and
 * per-CPU lists. Its struct page use is the one frames.ts allows: the
 * records of the frames it holds free.
 */
export function buddyFrames(boot: FramesBoot): BuddyAllocator {
  const nrPages = boot.ram.nrPages;
  const pbOrder = pageblockOrderFor(boot.maxOrder);
  const zones = nodeZones(boot.numa, boot.maxOrder, pbOrder);
  const mobility = mobilityGroupingFor(nrPages, pbOrder) ? 1 : 0;
  for (const z of zones) z.mobility = mobility;
  const buddy = new BuddyAllocator(boot.memmap, zones, boot.maxOrder, boot.numa);
  // Each free range is cut at zone boundaries, so no boot block straddles two zones (or two nodes).
  for (const r of boot.ranges)
    for (const z of zones) {
      const start = Math.max(r.start, z.startPfn);
      const end = Math.min(r.end, z.endPfn);
      if (start < end) buddy.freeBootRange(start, end);
    }
  setupWatermarks(zones);
  buddy.setupPcp(boot.options.pcpBatch, boot.options.nrCpus ?? 1);
  return buddy;
}

/**
 * Every node's zones, sorted by node then zone: DMA (the frames of node 0
 * below 16 MiB; only node 0 has one, as Linux's pgdat 0) and Normal (the
 * rest of each node).
 */
function nodeZones(numa: NumaTopology, maxOrder: number, pbOrder: number): Zone[] {
  const zones: Zone[] = [];
  for (let nid = 0; nid < numa.nrNodes; nid++) {
    const start = numa.startPfn[nid] as number;
    const end = numa.endPfn[nid] as number;
    const dmaEnd = nid === 0 ? Math.min(end, DMA_END_PFN) : start;
    if (dmaEnd > start) zones.push(new Zone(ZONE_DMA, ZONE_NAMES[ZONE_DMA], start, dmaEnd, maxOrder, pbOrder, nid));
    if (end > dmaEnd) zones.push(new Zone(ZONE_NORMAL, ZONE_NAMES[ZONE_NORMAL], dmaEnd, end, maxOrder, pbOrder, nid));
  }
  zones.forEach((z, i) => {
    z.index = i;
  });
  return zones;
}

/** Reserves the boot frames (frame 0, kernel image, mem_map) in struct page. */
function reserveBootFrames(b: FramesInit): void {
  for (let pfn = 0; pfn < b.layout.firstFree; pfn++) b.memmap.setHead(pfn, PG_reserved, 0);
}

/**
 * Boots a frames layer on the free ranges memblock leaves and puts it
 * behind FramePages. Throws LayerFault when the layer throws while booting
 * or declares a bad maxOrder.
 */
export function bootFrames(b: FramesInit, layer: FramesLayer): FramesParts {
  reserveBootFrames(b);
  const ranges: FreeRange[] = [{ start: b.layout.firstFree, end: b.layout.nrPages }];
  const pagePoison = b.pagePoison === true;
  const locks = b.locks ?? new FramesLocks(1);
  const boot: FramesBoot = {
    ram: b.phys,
    ranges,
    maxOrder: b.maxOrder,
    memmap: b.memmap,
    options: { debugVm: b.debugVm, pagePoison, pcpBatch: b.pcpBatch, nrCpus: b.cpus ?? 1 },
    reserve: (pfn, count) => {
      if (!ranges.some((r) => pfn >= r.start && pfn + count <= r.end)) panic(`memblock_reserve: [${pfn}, ${pfn + count}) is not free`);
      for (let p = pfn; p < pfn + count; p++) b.memmap.setHead(p, PG_reserved, 0);
    },
    nrCpus: locks.nrCpus,
    numa: b.numa ?? new NumaTopology(flatNuma(b.phys.nrPages * 4096, locks.nrCpus), locks.nrCpus),
    thisCpu: () => locks.currentCpu(),
    acquire: (lock) => locks.acquire(lock),
  };
  let fa: FrameAllocator;
  try {
    fa = layer(boot);
  } catch (e) {
    return layerFault("frames", `booting threw: ${String(e)}`, e);
  }
  if (!(Number.isInteger(fa.maxOrder) && fa.maxOrder >= 0 && fa.maxOrder <= b.maxOrder)) {
    layerFault("frames", `'${fa.name}' declares maxOrder ${String(fa.maxOrder)}; it must be an integer from 0 to ${b.maxOrder}`);
  }
  const nrLocks = fa.locks ?? 0;
  if (!(Number.isInteger(nrLocks) && nrLocks >= 0 && nrLocks <= MAX_FRAMES_LOCKS))
    layerFault("frames", `'${fa.name}' declares ${String(nrLocks)} locks; it may declare 0 to ${MAX_FRAMES_LOCKS}`);
  locks.declared = nrLocks;
  const pages = new FramePages(
    fa,
    b.phys,
    b.memmap,
    { pagePoison, debugVm: b.debugVm, events: b.events, nrCpus: b.cpus ?? 1 },
    b.printk,
    b.failPageAlloc,
  );
  // The buddy's own events (mm_buddy_split, mm_buddy_merge) go to the same bus.
  if (fa instanceof BuddyAllocator) fa.ev = b.events;
  registerFrames(b.registry, pages);
  return { pages, buddy: fa instanceof BuddyAllocator ? fa : null, name: fa.name, locks: nrLocks > 0 ? locks : null };
}

/** The frames layer's checker (named after the layer, also answering to "frames"), /proc lines and stats. */
function registerFrames(r: Registry, pages: FramePages): void {
  const fa = pages.layer;
  r.checkers.push({ name: fa.name, aliases: ["frames"], run: () => checkFrames(pages) });
  r.meminfoSources.push((v) => framesMeminfo(pages, v));
  r.vmstatSources.push((out) => framesVmstat(pages, out));
  const statsJson = fa.statsJson;
  if (statsJson !== undefined) r.statsSources.push([fa.name, () => statsJson.call(fa, pages.stats)]);
  else
    r.statsSources.push([
      "frames",
      () => ({ name: pages.name, maxOrder: pages.maxOrder, managed: pages.nrManagedPages(), free: pages.nrFreePages(), ...pages.stats }),
    ]);
}

/**
 * MemTotal, MemFree, MemAvailable (free minus the high watermarks and
 * lowmem reserves of the layer's zones, when it has zones), DirectMap4k.
 */
function framesMeminfo(f: FramePages, v: MeminfoValues): void {
  let reserve = 0;
  for (const z of f.layer.zones ?? []) reserve += z.wmarkHigh + z.lowmemReserve;
  const free = f.nrFreePages();
  v.MemTotal = f.nrManagedPages() * 4;
  v.MemFree = free * 4;
  v.MemAvailable = (v.MemAvailable ?? 0) + Math.max(0, free - reserve) * 4;
  v.DirectMap4k = f.mem.nrPages * 4;
}

/** nr_free_pages, pgalloc_<zone> (pgalloc_normal without zones), pgfree, allocstall, buddy_alloc_fail. */
function framesVmstat(f: FramePages, out: Array<[string, number]>): void {
  out.push(["nr_free_pages", f.nrFreePages()]);
  const zones = f.layer.zones;
  if (zones === undefined) out.push(["pgalloc_normal", f.stats.pgalloc]);
  else for (const z of zones) out.push([`pgalloc_${z.name.toLowerCase()}`, z.pgalloc]);
  out.push(["pgfree", f.stats.pgfree]);
  out.push(["allocstall", 0]);
  out.push(["buddy_alloc_fail", f.stats.allocFailures]);
}
