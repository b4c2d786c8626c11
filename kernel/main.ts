/**
 * start_kernel (Linux init/main.c): the whole wiring of a machine in one
 * place. Each step builds one layer, hands it exactly the parts it may use,
 * and registers its checker, /proc lines and stats. The order is the order
 * of dependence:
 *
 *   1. RAM, memblock layout, mem_map, fault-injection points, the event bus
 *   2. frames     the page-frame allocator (layers.frames, or the buddy)   <- events
 *   3. paging     TLB, MMU, init_mm with the direct map      <- frames, events
 *   4. slab       kmem_caches (layers.slab), kmalloc on them <- frames, RAM, events
 *   5. vmalloc    the vmap_area cache and vmalloc area      <- frames, slab, init_mm
 *   6. tasks      VMAs, commit, shmem, faults, fork, exit   <- all of the above, events
 *                 (layers.pageFault, forkCopy, onSpawn, onExit plug in here)
 *   7. files      the disk, sfs, the page cache, fd tables  <- frames, tasks
 *   8. CPUs       per-CPU TLBs, shootdown, the scheduler    <- paging, tasks, slab
 *                 and the data-cache model (option cache)  <- the MMU's every-access path
 *
 * The event bus (events.ts) is made before any layer, so every layer that
 * emits is handed it when it is built: page allocator (either kind), TLB,
 * slab and kmalloc, commit, tasks. vmalloc emits nothing of its own (its
 * pages and objects are the page allocator's and slab's events).
 *
 * This is the only file that knows every layer; kernel.ts and kernel_types.ts know their types.
 */
import { CostClock, DEFAULT_CLOCK_COSTS } from "./clock.ts";
import { KernelEvents } from "./events.ts";
import { fsInit } from "./fs/fs_init.ts";
import { Kernel } from "./kernel.ts";
import type { KernelConfig } from "./kernel_types.ts";
import type { TaskLayers } from "./lab_layers.ts";
import { Prandom } from "./lib/random.ts";
import { LockStat } from "./locking/lock_stat.ts";
import { type CacheConfig, CacheModel } from "./mm/cache_model.ts";
import { cacheStats } from "./mm/cache_stats.ts";
import { Compaction, compactVmstat } from "./mm/compaction.ts";
import { FailPoint } from "./mm/fault_inject.ts";
import type { FramesLayer, FramesZone, PageAllocator } from "./mm/frames.ts";
import { FramesLocks } from "./mm/frames_locks.ts";
import { pagingInit } from "./mm/init.ts";
import { Kmalloc } from "./mm/kmalloc.ts";
import { type KernelMemory, pfnToKva } from "./mm/kmem.ts";
import { bootLayout } from "./mm/memblock.ts";
import { MemMap } from "./mm/memmap.ts";
import { registerTiering } from "./mm/memory_tiers.ts";
import { bootFrames, buddyFrames, type FramesInit } from "./mm/mm_init.ts";
import type { Mmu } from "./mm/mmu.ts";
import { pagingMeminfo, pagingStats, pagingVmstat } from "./mm/mmu_stats.ts";
import { flatNuma, NumaTopology, RemoteCost } from "./mm/numa.ts";
import type { BuddyAllocator } from "./mm/page_alloc.ts";
import { checkPgtable, checkTlb } from "./mm/pgtable_check.ts";
import { PhysMem } from "./mm/physmem.ts";
import { checkSlab } from "./mm/slab_check.ts";
import { SlabAllocator } from "./mm/slab_common.ts";
import type { KernelSlabCaches, SlabLayer } from "./mm/slab_layer.ts";
import { CheckedSlab } from "./mm/slab_layer_check.ts";
import { slubCaches } from "./mm/slab_layer_slub.ts";
import { slabMeminfo, slabStats, slabVmstat } from "./mm/slab_stats.ts";
import { DEFAULT_TLB } from "./mm/tlb.ts";
import { Vmalloc } from "./mm/vmalloc.ts";
import { checkVmalloc } from "./mm/vmalloc_check.ts";
import { vmallocMeminfo, vmallocStats } from "./mm/vmalloc_stats.ts";
import { VMAP_AREA_SIZE } from "./mm/vmap_area.ts";
import { registerVmstat } from "./mm/vmstat.ts";
import { numaVmstat } from "./mm/zonelist.ts";
import { panic } from "./panic.ts";
import { Printk } from "./printk.ts";
import { Rcu } from "./rcu/tree.ts";
import { Registry } from "./registry.ts";
import { makeLockProbe, Scheduler } from "./sched.ts";
import { registerSmp, Smp } from "./smp.ts";
import { tasksInit } from "./task_init.ts";

/** The disk of a machine booted without an `fs` option: 8 MiB. */
export const DEFAULT_DISK_BYTES = 8 << 20;

/** The kernel layers a lab may replace; each absent entry keeps memsim's own (kernel/LAYERS.md). */
export interface KernelLayers extends TaskLayers {
  /** The page-frame allocator. Default: buddyFrames, the buddy allocator (kernel/mm/page_alloc.ts). */
  readonly frames?: FramesLayer;
  /** The object caches (kmem_cache_*, and kmalloc's size classes). Default: slubCaches (kernel/mm/slab_layer_slub.ts). */
  readonly slab?: SlabLayer;
}

/**
 * Boots a kernel: every layer in order, the lab's where `layers` names one.
 * Throws LayerFault when a lab's layer fails while booting.
 */
export function startKernel(config: KernelConfig, layers: KernelLayers = {}): Kernel {
  // 1. RAM and what memblock reserves. The rng forks keep their order: they fix every seeded choice.
  const registry = new Registry(new CostClock(config.clockCosts ?? DEFAULT_CLOCK_COSTS));
  const rng = new Prandom(config.seed);
  const printk = new Printk(config.log);
  const phys = new PhysMem(config.ramBytes);
  const layout = bootLayout(phys.nrPages);
  const memmap = new MemMap(phys.buffer, layout.memmapStart, phys.nrPages);
  const failPageAlloc = new FailPoint("fail_page_alloc", rng.fork());
  const failSlab = new FailPoint("failslab", rng.fork());
  const events = new KernelEvents("machine", pfnToKva(layout.memmapStart));
  events.setClock(() => registry.clock.now());

  // 2. frames: the lab's layer or the buddy allocator, both behind FramePages
  const framesLocks = new FramesLocks(config.cpus ?? 1);
  const numa = new NumaTopology(config.numa ?? flatNuma(config.ramBytes, config.cpus ?? 1), config.cpus ?? 1);
  const fi: FramesInit = { phys, memmap, layout, printk, failPageAlloc, registry, events, ...config, locks: framesLocks, numa };
  const frames = bootFrames(fi, layers.frames ?? buddyFrames);
  const pages = frames.pages;
  const buddyZones = frames.buddy?.zones;
  if (numa.nrNodes > 1 && buddyZones !== undefined) registry.vmstatSources.push((out) => numaVmstat(buddyZones, numa.nrNodes, out));

  // 3. paging
  const pp = pagingInit({ phys, memmap, buddy: pages, layout, printk, debugVm: config.debugVm, tlb: config.tlb, mmu: config.mmu, events });
  registry.checkers.push({ name: "pgtable", run: () => checkPgtable(pp.paging) });
  registry.checkers.push({ name: "tlb", run: () => checkTlb(pp.mmu) });
  registry.meminfoSources.push((v) => pagingMeminfo(pp, v));
  registry.vmstatSources.push((out) => pagingVmstat(pp, out));
  registry.statsSources.push(["mmu", () => pagingStats(pp)]);
  registry.clock.addCounter("access", () => pp.tlb.stats.hits + pp.tlb.stats.misses);
  registry.clock.addCounter("tlbMiss", () => pp.tlb.stats.misses);

  // 4. slab and kmalloc
  const slab = new SlabAllocator({
    phys,
    memmap,
    buddy: pages,
    printk,
    failSlab,
    rng: rng.fork(),
    slubDebug: config.slubDebug,
    memmapStart: layout.memmapStart,
    events,
  });
  pages.shrinkers.push((want) => slab.shrinkAll(want));
  registry.checkers.push({ name: "slab", run: () => checkSlab(slab) });
  registry.meminfoSources.push((v) => slabMeminfo(slab, lowWatermarks(pages.layer.zones), v));
  registry.vmstatSources.push((out) => slabVmstat(slab, out));
  registry.statsSources.push(["slab", () => slabStats(slab)]);
  const kmemCaches = objectCaches(layers.slab, slab, pages, pp.mem, failSlab);
  if (kmemCaches instanceof CheckedSlab) registry.checkers.push({ name: "slab_layer", run: () => kmemCaches.check() });
  // kmalloc's size classes are caches of the layer, made through its create like any other.
  const kmallocCaches = new Kmalloc(slab, kmemCaches);

  // 5. vmalloc
  const cache = kmemCaches.create("vmap_area", VMAP_AREA_SIZE);
  if (cache === null) panic("vmalloc_init: no vmap_area cache");
  const vmallocLayer = new Vmalloc({ phys, memmap, buddy: pages, initMm: pp.initMm, cache, printk, events });
  registry.checkers.push({ name: "vmalloc", run: () => checkVmalloc(vmallocLayer) });
  registry.meminfoSources.push((mi) => vmallocMeminfo(vmallocLayer, mi));
  registry.statsSources.push(["vmalloc", () => vmallocStats(vmallocLayer)]);

  // 6. tasks
  const taskParts = tasksInit(
    {
      phys,
      memmap,
      pages,
      layout,
      paging: pp.paging,
      mmu: pp.mmu,
      printk,
      slab,
      kmemCaches,
      kmalloc: kmallocCaches,
      registry,
      events,
      zones: pages.layer.zones,
      numa,
      interleaveHit: frames.buddy === null ? undefined : countInterleaveHit(frames.buddy),
    },
    config,
    layers,
  );
  registry.clock.addCounter("fault", () => taskParts.memory.stats.pgfault);
  const swapDev = taskParts.swap?.dev ?? null;
  if (swapDev !== null) {
    registry.clock.addCounter("swapIn", () => swapDev.stats.pswpin);
    registry.clock.addCounter("swapOut", () => swapDev.stats.pswpout);
  }

  // Compaction: the frames layer's zones, migration over the reverse map; kcompactd runs after kswapd, and on its
  // timer (every 500 ms of the cost clock, read at kswapd's safe point after a fault) for proactive compaction.
  const compaction = new Compaction(pages, taskParts.migrate);
  pages.compaction = compaction;
  taskParts.reclaim.afterKswapd = () => compaction.kcompactd();
  taskParts.reclaim.atSafePoint = () => compaction.tick(registry.clock.now());
  registry.vmstatSources.push((out) => compactVmstat(compaction, out));

  // 7. files
  const fs = config.fs ?? { diskBytes: DEFAULT_DISK_BYTES, files: [] };
  fsInit(
    {
      phys,
      memmap,
      pages,
      registry,
      tasks: taskParts.tasks,
      memory: taskParts.memory,
      objects: taskParts.objects,
      migrate: taskParts.migrate,
      seed: config.seed,
      wmarkLow: lowWatermarks(pages.layer.zones),
    },
    fs,
  );

  // 8. CPUs: one TLB each, shootdown IPIs, the modelled locks and the scheduler
  const smp = new Smp(config.cpus ?? 1, {
    mmu: pp.mmu,
    paging: pp.paging,
    kernelMem: pp.mem,
    events,
    tlbConfig: config.tlb ?? DEFAULT_TLB,
  });
  taskParts.tasks.nrCpus = smp.nrCpus;
  taskParts.tasks.currentCpu = () => smp.current;
  if (taskParts.memory.policy !== null) taskParts.memory.policy.currentCpu = () => smp.current;
  if (numa.nrNodes > 1) {
    const remote = new RemoteCost(numa, () => smp.current);
    pp.mmu.remote = remote;
    registry.clock.addCounter("remote", () => remote.units);
    registerTiering(numa, pages, taskParts, () => smp.current, registry);
  }
  if (smp.nrCpus > 1) {
    slab.cpu.setNrCpus(smp.nrCpus);
    smp.percpu.push(pages, slab.cpu);
  }
  if (config.cache) registerCache(registry, smp, pp.mmu, config.cache);
  const locks = new LockStat(smp.nrCpus);
  registerSmp({ registry, smp, locks, mmu: pp.mmu });
  if (smp.nrCpus > 1 && frames.buddy !== null)
    smp.vmstat = registerVmstat({ registry, buddy: frames.buddy, percpu: smp.percpu, cpuNs: locks.cpuNs });
  const memory = taskParts.memory;
  framesLocks.currentCpu = () => smp.current;
  const probe = makeLockProbe({
    faults: () => memory.stats.pgfault,
    buddy: frames.buddy,
    pages,
    slab,
    tasks: taskParts.tasks,
    framesLocks: frames.locks,
  });
  const framesLockCounts = frames.locks?.counts ?? null;
  const rcu = new Rcu({ nrCpus: smp.nrCpus, free: (kva) => kmallocCaches.kfree(kva, "kfree_rcu") });
  if (smp.nrCpus > 1) {
    registry.checkers.push({ name: "rcu", run: () => rcu.check() });
    registry.statsSources.push(["rcu", () => ({ ...rcu.stats, pending: rcu.pending() })]);
  }
  const sched = new Scheduler({
    smp,
    tasks: taskParts.tasks,
    locks,
    events,
    clockNs: () => registry.clock.now(),
    probe,
    framesLockCounts,
    rcu,
  });

  return new Kernel({
    smp,
    locks,
    sched,
    rcu,
    config,
    registry,
    events,
    rng,
    printk,
    phys,
    layout,
    memmap,
    failPageAlloc,
    failSlab,
    pages,
    buddy: frames.buddy,
    framesName: frames.name,
    numa,
    pagingParts: pp,
    slab,
    kmemCaches,
    kmallocCaches,
    vmallocLayer,
    taskParts,
    compaction,
  });
}

/** The data-cache model: fed by every user load and store (the MMU's second observer slot), checked, counted and charged. */
function registerCache(registry: Registry, smp: Smp, mmu: Mmu, config: CacheConfig): void {
  const model = new CacheModel(smp.nrCpus, config, () => smp.current);
  mmu.observeData(model);
  smp.cache = model;
  registry.checkers.push({ name: "cache", run: () => model.check() });
  registry.statsSources.push(["cache", () => cacheStats(model)]);
  registry.clock.addCounter("l1Miss", () => {
    const t = model.totals();
    return t.d1mr + t.d1mw;
  });
  registry.clock.addCounter("llcMiss", () => {
    const t = model.totals();
    return t.dlmr + t.dlmw;
  });
}

/** The object caches: the lab's layer behind CheckedSlab, or SLUB's caches as they are. */
function objectCaches(
  layer: SlabLayer | undefined,
  slab: SlabAllocator,
  pages: PageAllocator,
  mem: KernelMemory,
  failSlab: FailPoint,
): KernelSlabCaches {
  return layer === undefined ? slubCaches(slab) : new CheckedSlab(layer, pages, mem, failSlab);
}

/** The zones' low watermarks summed (0 for a frames layer without zones). */
function lowWatermarks(zones: readonly FramesZone[] | undefined): number {
  let n = 0;
  for (const z of zones ?? []) n += z.wmarkLow;
  return n;
}

/** numastat interleave_hit: one more page on the zone holding pfn. */
function countInterleaveHit(buddy: BuddyAllocator): (pfn: number) => void {
  return (pfn) => {
    buddy.zoneOf(pfn).interleaveHit++;
  };
}
