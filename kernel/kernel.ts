/**
 * The emulated kernel: boot (memblock -> mem_map -> zones -> buddy) and the
 * services it offers to the machine (DESIGN.md §5, `m.kernel`).
 *
 * Owns every kernel subsystem instance. Layers above the buddy allocator
 * attach themselves here and register their checkers and shrinkers.
 */

import { KernelEvents } from "./events.ts";
import type { Tasks } from "./fork.ts";
import { Prandom } from "./lib/random.ts";
import { FailPoint } from "./mm/fault_inject.ts";
import { GFP_KERNEL } from "./mm/gfp.ts";
import { type PagingParts, pagingInit } from "./mm/init.ts";
import { Kmalloc } from "./mm/kmalloc.ts";
import { type KernelMemory, pfnToKva } from "./mm/kmem.ts";
import { type BootLayout, bootLayout } from "./mm/memblock.ts";
import { MemMap, PG_reserved } from "./mm/memmap.ts";
import type { Mmu } from "./mm/mmu.ts";
import { pagingMeminfo, pagingStats, pagingVmstat } from "./mm/mmu_stats.ts";
import { DMA_END_PFN, PerCpuPages, pcpBatchFor, setupWatermarks, ZONE_NAMES, Zone } from "./mm/mmzone.ts";
import { BuddyAllocator, PAGE_POISON, PCP_MAX_ORDER } from "./mm/page_alloc.ts";
import { checkBuddy } from "./mm/page_alloc_check.ts";
import { buddyMeminfo, buddyStats, buddyVmstat } from "./mm/page_alloc_stats.ts";
import type { Paging } from "./mm/pgalloc.ts";
import type { PageTable } from "./mm/pgtable.ts";
import { checkPgtable, checkTlb } from "./mm/pgtable_check.ts";
import { PhysMem } from "./mm/physmem.ts";
import type { KmemCache } from "./mm/slab.ts";
import { checkSlab } from "./mm/slab_check.ts";
import { type KmemCacheOptions, SlabAllocator } from "./mm/slab_common.ts";
import { SLAB_PANIC } from "./mm/slab_flags.ts";
import { slabMeminfo, slabStats, slabVmstat } from "./mm/slab_stats.ts";
import type { TlbConfig } from "./mm/tlb.ts";
import { PAGE_OFFSET, PAGE_SIZE, type Pfn } from "./mm/types.ts";
import { Vmalloc, type VmapOptions } from "./mm/vmalloc.ts";
import { checkVmalloc } from "./mm/vmalloc_check.ts";
import { vmallocMeminfo, vmallocStats } from "./mm/vmalloc_stats.ts";
import { VMAP_AREA_SIZE } from "./mm/vmap_area.ts";
import { panic } from "./panic.ts";
import { type KernelReport, type KLogger, Printk } from "./printk.ts";
import type { MeminfoValues } from "./proc/meminfo.ts";
import { type TaskParts, tasksInit } from "./task_init.ts";

/** What the kernel is booted with; the machine validates it first. */
export interface KernelConfig {
  readonly ramBytes: number;
  readonly seed: number;
  /** 0 none, 1 cheap asserts, 2 checkers at syscall exit, 3 after every op. */
  readonly debugVm: number;
  readonly maxOrder: number;
  /** Per-CPU list batch; 0 picks Linux's size for the zone, -1 turns the lists off. */
  readonly pcpBatch: number;
  /** slab_debug letters applied to every cache ("FZPU"; "" = off). */
  readonly slubDebug: string;
  readonly log: KLogger;
  /** TLB shape; the default is 256 entries, 4-way. */
  readonly tlb?: TlbConfig;
  /** vm.overcommit_memory, vm.overcommit_ratio, swap size and vm.max_map_count. */
  readonly overcommitMode: number;
  readonly overcommitRatio: number;
  readonly swapBytes: number;
  readonly maxMapCount: number;
}

/** A named invariant checker, run by `m.check()`. */
export interface Checker {
  readonly name: string;
  readonly run: () => void;
}

/** The kernel and its services. */
export class Kernel {
  readonly config: KernelConfig;
  /** The typed event stream; made first, handed to each subsystem by wireEvents. */
  readonly events = new KernelEvents();
  readonly phys: PhysMem;
  readonly layout: BootLayout;
  readonly memmap: MemMap;
  readonly buddy: BuddyAllocator;
  readonly printk: Printk;
  readonly rng: Prandom;
  readonly failPageAlloc: FailPoint;
  readonly failSlab: FailPoint;
  readonly log: KLogger;
  /** The slab allocator: every kmem_cache, its accounting and reports. */
  readonly slab: SlabAllocator;
  /** The kmalloc caches and kmalloc-large. */
  readonly kmallocCaches: Kmalloc;
  /** Kernel memory by kva, through the MMU and init_mm. */
  readonly mem: KernelMemory;
  /** Page tables, the MMU and the TLB (kernel/mm/init.ts). */
  readonly pagingParts: PagingParts;
  readonly paging: Paging;
  readonly mmu: Mmu;
  /** The kernel's page table (init_mm): the direct map and the vmalloc area. */
  readonly initMm: PageTable;
  /** The vmalloc layer (vmalloc.ts). */
  readonly vmallocLayer: Vmalloc;
  /** Processes and their address spaces (task_init.ts). */
  readonly taskParts: TaskParts;
  readonly tasks: Tasks;
  readonly checkers: Checker[] = [];
  /** Layers add their /proc/meminfo fields here (kB). */
  readonly meminfoSources: Array<(v: MeminfoValues) => void> = [];
  /** Layers add their /proc/vmstat counters here, in order. */
  readonly vmstatSources: Array<(out: Array<[string, number]>) => void> = [];
  /** Layers add their section of `m.stats()` here. */
  readonly statsSources: Array<[string, () => unknown]> = [];

  constructor(config: KernelConfig) {
    this.config = config;
    this.log = config.log;
    this.rng = new Prandom(config.seed);
    this.printk = new Printk(config.log);
    this.phys = new PhysMem(config.ramBytes);
    this.layout = bootLayout(this.phys.nrPages);
    this.memmap = new MemMap(this.phys.buffer, this.layout.memmapStart, this.phys.nrPages);
    this.failPageAlloc = new FailPoint("fail_page_alloc", this.rng.fork());
    this.failSlab = new FailPoint("failslab", this.rng.fork());
    this.buddy = this.bootBuddy();
    this.checkers.push({ name: "buddy", run: () => checkBuddy(this.buddy) });
    this.meminfoSources.push((v) => buddyMeminfo(this.buddy, v));
    this.vmstatSources.push((out) => buddyVmstat(this.buddy, out));
    this.statsSources.push(["buddy", () => buddyStats(this.buddy)]);
    const { phys, memmap, buddy, layout, printk } = this;
    const pp = pagingInit({ phys, memmap, buddy, layout, printk, debugVm: config.debugVm, tlb: config.tlb });
    this.pagingParts = pp;
    this.paging = pp.paging;
    this.mmu = pp.mmu;
    this.initMm = pp.initMm;
    this.mem = pp.mem;
    this.checkers.push({ name: "pgtable", run: () => checkPgtable(pp.paging) });
    this.checkers.push({ name: "tlb", run: () => checkTlb(pp.mmu) });
    this.meminfoSources.push((v) => pagingMeminfo(pp, v));
    this.vmstatSources.push((out) => pagingVmstat(pp, out));
    this.statsSources.push(["mmu", () => pagingStats(pp)]);
    this.slab = new SlabAllocator({
      phys: this.phys,
      memmap: this.memmap,
      buddy: this.buddy,
      printk: this.printk,
      failSlab: this.failSlab,
      rng: this.rng.fork(),
      slubDebug: config.slubDebug,
      memmapStart: this.layout.memmapStart,
    });
    this.kmallocCaches = new Kmalloc(this.slab);
    this.buddy.shrinkers.push((want) => this.slab.shrinkAll(want));
    this.checkers.push({ name: "slab", run: () => checkSlab(this.slab) });
    this.meminfoSources.push((v) => slabMeminfo(this.slab, this.buddy, v));
    this.vmstatSources.push((out) => slabVmstat(this.slab, out));
    this.statsSources.push(["slab", () => slabStats(this.slab)]);
    this.vmallocLayer = this.vmallocInit();
    this.taskParts = tasksInit(this, config);
    this.tasks = this.taskParts.tasks;
    this.wireEvents();
  }

  /** Hands the event bus to every subsystem that emits events. */
  private wireEvents(): void {
    const ev = this.events;
    ev.memmapKva = pfnToKva(this.layout.memmapStart);
    this.buddy.ev = ev;
    this.paging.tlb.ev = ev;
    this.slab.ev = ev;
    this.taskParts.commit.ev = ev;
    this.tasks.ev = ev;
  }

  /** vmalloc_init: the vmap_area cache and the vmalloc layer, with its checker, meminfo and stats. */
  private vmallocInit(): Vmalloc {
    const cache = this.slab.createCache("vmap_area", VMAP_AREA_SIZE, { flags: SLAB_PANIC }) as KmemCache;
    const v = new Vmalloc({ phys: this.phys, memmap: this.memmap, buddy: this.buddy, initMm: this.initMm, cache, printk: this.printk });
    this.checkers.push({ name: "vmalloc", run: () => checkVmalloc(v) });
    this.meminfoSources.push((mi) => vmallocMeminfo(v, mi));
    this.statsSources.push(["vmalloc", () => vmallocStats(v)]);
    return v;
  }

  /** Reserves boot frames, builds the zones, frees the rest to the buddy allocator. */
  private bootBuddy(): BuddyAllocator {
    const { nrPages, firstFree } = this.layout;
    const mm = this.memmap;
    for (let pfn = 0; pfn < firstFree; pfn++) mm.setHead(pfn, PG_reserved, 0);
    const zones: Zone[] = [];
    const dmaEnd = Math.min(nrPages, DMA_END_PFN);
    zones.push(new Zone(0, ZONE_NAMES[0], 0, dmaEnd, this.config.maxOrder));
    if (nrPages > DMA_END_PFN) zones.push(new Zone(1, ZONE_NAMES[1], DMA_END_PFN, nrPages, this.config.maxOrder));
    const buddy = new BuddyAllocator(this.phys, mm, zones, this.config.maxOrder, this.config.debugVm, this.printk, this.failPageAlloc);
    buddy.freeBootRange(firstFree, nrPages);
    setupWatermarks(zones);
    for (const z of zones) {
      const batch = this.config.pcpBatch > 0 ? this.config.pcpBatch : pcpBatchFor(z.managed);
      const pcpOn = this.config.pcpBatch >= 0;
      // Linux 6.x zone_highsize: the low watermark shared among CPUs, at least four batches.
      const high = Math.max(4 * batch, z.wmarkLow);
      z.pcp0 = new PerCpuPages(PCP_MAX_ORDER + 1, pcpOn ? batch : 1, pcpOn ? high : 0);
      z.pcp = [z.pcp0];
    }
    return buddy;
  }

  /** alloc_pages. See {@link BuddyAllocator.allocPages}. Returns null on failure. */
  allocPages(order: number, gfp: number = GFP_KERNEL): Pfn | null {
    const pfn = this.buddy.allocPages(order, gfp);
    return pfn < 0 ? null : (pfn as Pfn);
  }

  /** __free_pages. See {@link BuddyAllocator.freePages}. */
  freePages(pfn: number, order: number): void {
    this.buddy.freePages(pfn, order);
  }

  /**
   * kmalloc: `size` bytes from the kmalloc caches (or whole pages above
   * 8 KiB), as a kva; 0 is NULL, 16 is ZERO_SIZE_PTR (for size 0).
   * `caller` labels the allocation in slab_debug user tracking.
   */
  kmalloc(size: number, gfp?: number, caller?: string): number {
    return this.kmallocCaches.kmalloc(size, gfp, caller);
  }

  /** kzalloc: kmalloc, zero-filled. */
  kzalloc(size: number, gfp?: number, caller?: string): number {
    return this.kmallocCaches.kzalloc(size, gfp, caller);
  }

  /** kcalloc: n * size zeroed bytes; 0 when the product overflows. */
  kcalloc(n: number, size: number, gfp?: number, caller?: string): number {
    return this.kmallocCaches.kcalloc(n, size, gfp, caller);
  }

  /** kfree: NULL and ZERO_SIZE_PTR do nothing; a bad address is reported, never freed. */
  kfree(kva: number, caller?: string): void {
    this.kmallocCaches.kfree(kva, caller);
  }

  /** ksize: usable bytes of an allocation (the cache's object size, or the pages of a large one). */
  ksize(kva: number): number {
    return this.kmallocCaches.ksize(kva);
  }

  /** krealloc: grows or shrinks an allocation; 0 on failure with the old one untouched. */
  krealloc(kva: number, size: number, gfp?: number, caller?: string): number {
    return this.kmallocCaches.krealloc(kva, size, gfp, caller);
  }

  /** vmalloc: `size` bytes, page-rounded, virtually contiguous; 0 on failure or for size 0. See {@link Vmalloc.vmalloc}. */
  vmalloc(size: number, caller?: string): number {
    return this.vmallocLayer.vmalloc(size, caller === undefined ? undefined : { caller });
  }

  /** vzalloc: vmalloc, zero-filled. */
  vzalloc(size: number, caller?: string): number {
    return this.vmallocLayer.vmalloc(size, { zero: true, caller: caller ?? "vzalloc" });
  }

  /** vfree: 0 does nothing; an address that starts no area is reported and nothing is freed. */
  vfree(kva: number): void {
    this.vmallocLayer.vfree(kva);
  }

  /** vmap: maps the caller's frames virtually contiguously; 0 on failure. vunmap does not free them. */
  vmap(pfns: ArrayLike<number>, count: number, opts?: VmapOptions): number {
    return this.vmallocLayer.vmap(pfns, count, opts);
  }

  /** vunmap: removes a vmap'd area, keeping its frames. */
  vunmap(kva: number): void {
    this.vmallocLayer.vunmap(kva);
  }

  /** vmalloc_to_pfn: the frame behind a kernel address (a page-table walk), or null. */
  vmallocToPfn(kva: number): Pfn | null {
    return this.vmallocLayer.vmallocToPfn(kva) as Pfn | null;
  }

  /** kmem_cache_create. Returns null (with a warning) on bad arguments. See {@link SlabAllocator.createCache}. */
  kmemCacheCreate(name: string, size: number, opts: KmemCacheOptions = {}): KmemCache | null {
    return this.slab.createCache(name, size, opts);
  }

  /**
   * kmem_cache_destroy. Returns false, with Linux's report, when objects are
   * still live (the cache is kept). Panics on a kmalloc cache or a dead cache.
   */
  kmemCacheDestroy(cache: KmemCache): boolean {
    return this.slab.destroyCache(cache, this.kmallocCaches.isKmallocCache(cache));
  }

  /** Validates every slab cache (slab_debug validate); returns the number of problems reported. */
  validateSlabs(): number {
    return this.slab.validate();
  }

  /**
   * Reclaims every lazily freed (MADV_FREE) page that was not written since,
   * as memory pressure would. Returns the number of pages freed.
   */
  reclaimLazyFree(): number {
    return this.tasks.reclaimLazyFree();
  }

  /**
   * drop_caches (echo 2 > /proc/sys/vm/drop_caches, plus draining the
   * per-CPU lists): every slab cache gives its empty slabs back and every
   * per-CPU page returns to the buddy lists. Returns the slab pages freed.
   */
  dropCaches(): number {
    const freed = this.slab.shrinkAll(Number.POSITIVE_INFINITY);
    this.buddy.drainPcp();
    return freed;
  }

  /** drain_all_pages: per-CPU lists back to the buddy allocator. */
  drainPcp(): void {
    this.buddy.drainPcp();
  }

  /** The direct-map address of a frame. Panics when pfn is out of range. */
  pfnToKva(pfn: number): number {
    if (!(Number.isInteger(pfn) && pfn >= 0 && pfn < this.phys.nrPages)) panic(`pfn_to_kaddr: pfn ${pfn} out of range`);
    return pfnToKva(pfn);
  }

  /** The frame behind a direct-map address. Panics when kva is outside the direct map. */
  kvaToPfn(kva: number): Pfn {
    if (!(kva >= PAGE_OFFSET && kva < PAGE_OFFSET + this.phys.bytes)) {
      panic(`virt_to_pfn: ${kva} is not a direct-map address`);
    }
    return Math.floor((kva - PAGE_OFFSET) / PAGE_SIZE) as Pfn;
  }

  /** Debug reports so far (allocation failures, slab_debug, bad vfree ...). */
  get reports(): readonly KernelReport[] {
    return this.printk.reports;
  }

  /** All meminfo values in kB, gathered from every layer. */
  meminfoValues(): MeminfoValues {
    const v: MeminfoValues = {};
    for (const src of this.meminfoSources) src(v);
    return v;
  }

  /**
   * Runs every registered checker, or only the one named `only` ("buddy",
   * "slab", "pgtable", "tlb", "mm"); throws InvariantViolation on the first
   * failure. Throws RangeError for an unknown name.
   */
  check(only?: string): void {
    if (only !== undefined && !this.checkers.some((c) => c.name === only)) {
      throw new RangeError(`check: no checker named '${only}' (have ${this.checkers.map((c) => c.name).join(", ")})`);
    }
    for (const c of this.checkers) if (only === undefined || c.name === only) c.run();
  }

  /** The byte a freed page is filled with when debugging. */
  static readonly PAGE_POISON = PAGE_POISON;
}
