/**
 * Boot of the page-frame layer (Linux mm/mm_init.c, memblock_free_all):
 * reserves the frames memblock keeps, then hands the rest to the frame
 * allocator: Linux's buddy allocator with its zones and per-CPU lists, or
 * a lab's FrameAllocator behind FramePages. Each registers its checker,
 * meminfo, vmstat and stats with the kernel registry.
 */

import type { KernelEvents } from "../events.ts";
import { layerFault, panic } from "../panic.ts";
import type { Printk } from "../printk.ts";
import type { MeminfoValues } from "../proc/meminfo.ts";
import type { Registry } from "../registry.ts";
import type { FailPoint } from "./fault_inject.ts";
import { checkFrames, FramePages } from "./frame_pages.ts";
import type { FramesBoot, FramesLayer, FreeRange, PageAllocator } from "./frames.ts";
import type { BootLayout } from "./memblock.ts";
import { type MemMap, PG_reserved } from "./memmap.ts";
import { DMA_END_PFN, PerCpuPages, pcpBatchFor, setupWatermarks, ZONE_NAMES, Zone } from "./mmzone.ts";
import { BuddyAllocator, PCP_MAX_ORDER } from "./page_alloc.ts";
import { checkBuddy } from "./page_alloc_check.ts";
import { buddyMeminfo, buddyStats, buddyVmstat } from "./page_alloc_stats.ts";
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
  readonly registry: Registry;
  /** The machine's event bus (mm_page_alloc, mm_page_free; split and merge on the buddy). */
  readonly events: KernelEvents;
}

/** The booted page allocator; `buddy` is the same object when the buddy allocator is the layer, else null. */
export interface FramesParts {
  readonly pages: PageAllocator;
  readonly buddy: BuddyAllocator | null;
  /** The layer's name: "buddy" or the lab allocator's. */
  readonly name: string;
}

/** Reserves the boot frames (frame 0, kernel image, mem_map) in struct page. */
function reserveBootFrames(b: FramesInit): void {
  for (let pfn = 0; pfn < b.layout.firstFree; pfn++) b.memmap.setHead(pfn, PG_reserved, 0);
}

/** Boots the buddy allocator (the default frames layer) with its zones and per-CPU lists. */
export function bootBuddy(b: FramesInit): FramesParts {
  reserveBootFrames(b);
  const { nrPages, firstFree } = b.layout;
  const zones: Zone[] = [];
  const dmaEnd = Math.min(nrPages, DMA_END_PFN);
  zones.push(new Zone(0, ZONE_NAMES[0], 0, dmaEnd, b.maxOrder));
  if (nrPages > DMA_END_PFN) zones.push(new Zone(1, ZONE_NAMES[1], DMA_END_PFN, nrPages, b.maxOrder));
  const buddy = new BuddyAllocator(b.phys, b.memmap, zones, b.maxOrder, b.debugVm, b.printk, b.failPageAlloc, {
    pagePoison: b.pagePoison === true,
    events: b.events,
  });
  buddy.freeBootRange(firstFree, nrPages);
  setupWatermarks(zones);
  for (const z of zones) {
    const batch = b.pcpBatch > 0 ? b.pcpBatch : pcpBatchFor(z.managed);
    const pcpOn = b.pcpBatch >= 0;
    // Linux 6.x zone_highsize: the low watermark shared among CPUs, at least four batches.
    const high = Math.max(4 * batch, z.wmarkLow);
    z.pcp0 = new PerCpuPages(PCP_MAX_ORDER + 1, pcpOn ? batch : 1, pcpOn ? high : 0);
    z.pcp = [z.pcp0];
  }
  const r = b.registry;
  r.checkers.push({ name: "buddy", run: () => checkBuddy(buddy) });
  r.meminfoSources.push((v) => buddyMeminfo(buddy, v));
  r.vmstatSources.push((out) => buddyVmstat(buddy, out));
  r.statsSources.push(["buddy", () => buddyStats(buddy)]);
  return { pages: buddy, buddy, name: "buddy" };
}

/**
 * Boots a lab's frames layer on the free ranges memblock leaves. Throws
 * LayerFault when the layer throws while booting or declares a bad maxOrder.
 */
export function bootFrames(b: FramesInit, layer: FramesLayer): FramesParts {
  reserveBootFrames(b);
  const ranges: FreeRange[] = [{ start: b.layout.firstFree, end: b.layout.nrPages }];
  const boot: FramesBoot = {
    ram: b.phys,
    ranges,
    maxOrder: b.maxOrder,
    reserve: (pfn, count) => {
      if (!ranges.some((r) => pfn >= r.start && pfn + count <= r.end)) panic(`memblock_reserve: [${pfn}, ${pfn + count}) is not free`);
      for (let p = pfn; p < pfn + count; p++) b.memmap.setHead(p, PG_reserved, 0);
    },
  };
  let fa: ReturnType<FramesLayer>;
  try {
    fa = layer(boot);
  } catch (e) {
    return layerFault("frames", `booting threw: ${String(e)}`, e);
  }
  if (!(Number.isInteger(fa.maxOrder) && fa.maxOrder >= 0 && fa.maxOrder <= b.maxOrder)) {
    layerFault("frames", `'${fa.name}' declares maxOrder ${String(fa.maxOrder)}; it must be an integer from 0 to ${b.maxOrder}`);
  }
  const opts = { pagePoison: b.pagePoison === true, events: b.events };
  const pages = new FramePages(fa, b.phys, b.memmap, opts, b.printk, b.failPageAlloc);
  const r = b.registry;
  r.checkers.push({ name: "frames", run: () => checkFrames(pages) });
  r.meminfoSources.push((v) => framesMeminfo(pages, v));
  r.vmstatSources.push((out) => {
    out.push(["nr_free_pages", pages.nrFreePages()]);
    out.push(["pgalloc_normal", pages.stats.pgalloc]);
    out.push(["pgfree", pages.stats.pgfree]);
    out.push(["allocstall", 0]);
    out.push(["buddy_alloc_fail", pages.stats.allocFailures]);
  });
  r.statsSources.push([
    "frames",
    () => ({ name: pages.name, maxOrder: pages.maxOrder, managed: pages.nrManagedPages(), free: pages.nrFreePages(), ...pages.stats }),
  ]);
  return { pages, buddy: null, name: fa.name };
}

/** MemTotal, MemFree, MemAvailable (no watermarks without zones), DirectMap4k. */
function framesMeminfo(f: FramePages, v: MeminfoValues): void {
  const free = f.nrFreePages();
  v.MemTotal = f.nrManagedPages() * 4;
  v.MemFree = free * 4;
  v.MemAvailable = (v.MemAvailable ?? 0) + free * 4;
  v.DirectMap4k = f.mem.nrPages * 4;
}
