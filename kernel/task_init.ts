/**
 * Boot of the process side of the kernel: the VMA cache, commit accounting,
 * shared anonymous memory, the fault handler and the task list, with their
 * meminfo and vmstat lines and the mm checker.
 */

import type { KernelEvents } from "./events.ts";
import { Tasks } from "./fork.ts";
import type { TaskLayers } from "./lab_layers.ts";
import { Prandom } from "./lib/random.ts";
import { CommitAccounting } from "./mm/commit.ts";
import { FailPoint } from "./mm/fault_inject.ts";
import { VmaObjects } from "./mm/filemap_fault.ts";
import type { FramesZone, PageAllocator } from "./mm/frames.ts";
import { checkThp } from "./mm/huge_memory_check.ts";
import { KernelApi } from "./mm/lab_api.ts";
import type { BootLayout } from "./mm/memblock.ts";
import type { MemMap } from "./mm/memmap.ts";
import { Memory } from "./mm/memory.ts";
import { MemPolicy } from "./mm/mempolicy_alloc.ts";
import { Migrate } from "./mm/migrate.ts";
import { MigrateHuge } from "./mm/migrate_huge.ts";
import { checkMlock } from "./mm/mlock.ts";
import { MlockPages } from "./mm/mlock_folio.ts";
import { checkMms } from "./mm/mm_check.ts";
import { VMA_SIZE, VmaFields } from "./mm/mm_types.ts";
import type { MmapContext } from "./mm/mmap.ts";
import type { Mmu } from "./mm/mmu.ts";
import type { NumaTopology } from "./mm/numa.ts";
import type { Paging } from "./mm/pgalloc.ts";
import type { PhysMem } from "./mm/physmem.ts";
import type { KmallocApi } from "./mm/shmem.ts";
import { Shmem } from "./mm/shmem.ts";
import type { SlabAllocator } from "./mm/slab_common.ts";
import type { SlabCaches } from "./mm/slab_layer.ts";
import { checkSwap } from "./mm/swap_check.ts";
import { SwapCache } from "./mm/swap_state.ts";
import { SwapDevice } from "./mm/swapfile.ts";
import { VmaOps } from "./mm/vma.ts";
import { tryToFreePages } from "./mm/vmscan.ts";
import { checkLru, reclaimMeminfo, reclaimVmstat } from "./mm/vmscan_check.ts";
import { Reclaim } from "./mm/vmscan_shrink.ts";
import { panic } from "./panic.ts";
import type { Printk } from "./printk.ts";
import type { MeminfoValues } from "./proc/meminfo.ts";
import type { Checker, Registry } from "./registry.ts";

/** What the process side adds to the kernel. */
export interface TaskParts {
  readonly tasks: Tasks;
  readonly memory: Memory;
  /** The kernel API handed to a lab's layers. */
  readonly k: KernelApi;
  readonly shmem: Shmem;
  readonly commit: CommitAccounting;
  readonly vmas: VmaOps;
  /** The references VMAs hold on their objects (shmem and, once the file layer boots, files). */
  readonly objects: VmaObjects;
  /** The swap device and its cache; null when the machine has no swap (swapBytes below a page). */
  readonly swap: SwapCache | null;
  /** Fault injection on swap slot allocation and on swap I/O (`m.faults.failSwapAlloc`, `failSwapIo`). */
  readonly failSwapAlloc: FailPoint;
  readonly failSwapIo: FailPoint;
  /** LRU lists, reverse map, the replacement policy, kswapd and direct reclaim. */
  readonly reclaim: Reclaim;
  /** Page migration (migrate.ts): moves anonymous pages to other frames through the reverse map. */
  readonly migrate: Migrate;
}

/** Options of the process side (from the boot config). */
export interface TaskOptions {
  readonly overcommitMode: number;
  readonly overcommitRatio: number;
  readonly swapBytes: number;
  readonly maxMapCount: number;
  readonly debugVm: number;
  /** The boot seed: the swap fault-injection points draw from their own generator seeded from it. */
  readonly seed: number;
  /** The every-access mode (KernelConfig.observeAccesses). */
  readonly observeAccesses?: boolean;
}

/** What the process side is built on: a booted kernel's frames, paging and slab. */
export interface TaskInitDeps {
  readonly phys: PhysMem;
  readonly memmap: MemMap;
  readonly pages: PageAllocator;
  readonly layout: BootLayout;
  readonly paging: Paging;
  readonly mmu: Mmu;
  readonly printk: Printk;
  readonly slab: SlabAllocator;
  /** The object caches (layers.slab, or SLUB behind the same interface): the VMA cache comes from them. */
  readonly kmemCaches: SlabCaches;
  readonly kmalloc: KmallocApi;
  readonly registry: Registry;
  /** The machine's event bus. */
  readonly events: KernelEvents;
  /** The NUMA nodes (mm/numa.ts): memory policies place pages on them. */
  readonly numa: NumaTopology;
  /** Counts an interleave hit on the page's zone (numastat interleave_hit); absent unless the frames layer is the buddy allocator. */
  readonly interleaveHit?: (pfn: number) => void;
  /** The frames layer's zones (their watermarks wake kswapd), or undefined for a layer without. */
  readonly zones?: readonly FramesZone[];
}

/** Builds the process side on a booted kernel (frames, paging and slab ready). */
export function tasksInit(k: TaskInitDeps, o: TaskOptions, layers: TaskLayers = {}): TaskParts {
  const cache = k.kmemCaches.create("vm_area_struct", VMA_SIZE, { align: 8 });
  if (cache === null) panic("tasks_init: no vm_area_struct cache");
  const swapPages = Math.floor(o.swapBytes / 4096);
  const commit = new CommitAccounting(o.overcommitMode, o.overcommitRatio, () => k.pages.nrManagedPages(), swapPages, k.events);
  const shmem = new Shmem(k.phys, k.pages, k.kmalloc, commit, k.memmap);
  const objects = new VmaObjects(shmem);
  const vmas = new VmaOps(new VmaFields(k.phys), cache, objects, o.maxMapCount);
  const memory = new Memory(k.phys, k.memmap, k.pages, vmas, shmem, commit, k.layout.kernelStart);
  memory.policy = new MemPolicy(k.numa, k.pages, vmas);
  memory.policy.interleaveHit = k.interleaveHit ?? null;
  // Seeded apart from the kernel's generator, whose sequence of forks fixes every other seeded choice.
  const swapRng = new Prandom((o.seed ^ 0x5a4b0f15) >>> 0);
  const failSwapAlloc = new FailPoint("fail_swap_alloc", swapRng.fork());
  const failSwapIo = new FailPoint("fail_swap_io", swapRng.fork());
  const dev = o.swapBytes >= 4096 ? new SwapDevice(o.swapBytes, failSwapAlloc, failSwapIo) : null;
  memory.swap = dev === null ? null : new SwapCache(dev, k.phys, k.memmap, k.pages);
  // A VMA cut inside a 2 MiB leaf splits the leaf first (huge_memory.ts).
  vmas.splitHook = (mm, addr) => memory.huge.splitAt(mm, addr);
  const memcg = memory.memcg;
  if (memory.swap !== null && dev !== null) {
    dev.swapUncharge = (id) => memcg.swapUncharge(id);
  }
  const api = new KernelApi(memory);
  const mlock = new MlockPages(k.memmap, memory, () => tasks.list().map((p) => p.mm));
  memory.munlockFolio = (pfn) => mlock.munlockPage(pfn);
  const ctx: MmapContext = { vmas, pt: memory, commit, maxMapCount: o.maxMapCount, hugetlb: memory.hugetlb, mlock };
  const tasks = new Tasks({
    ctx,
    memory,
    paging: k.paging,
    mmu: k.mmu,
    printk: k.printk,
    zeroPfn: k.layout.kernelStart,
    setComm: (comm) => {
      k.pages.currentComm = comm;
    },
    check: () => k.registry.check(),
    debugVm: o.debugVm,
    layers,
    k: api,
    events: k.events,
  });
  memory.huge.allMms = () => tasks.list().map((p) => p.mm);
  const references = o.observeAccesses === true ? "every-access" : "faults-and-bits";
  const mms = () => tasks.list().map((p) => p.mm);
  const reclaim = new Reclaim(k.memmap, k.pages, k.zones, memory, mms, layers.replacement, o.seed, references);
  memory.reclaim = reclaim;
  // The every-access mode: each user translation tells reclaim, which tells the policy.
  if (references === "every-access") k.mmu.observe(reclaim);
  // A memory cgroup over its limits reclaims its own pages from the LRU lists: the machine's replacement policy picks them.
  memory.memcg.reclaim = { tryToFreePages: (nrPages, id) => tryToFreePages(reclaim, nrPages, id) };
  k.pages.releasers.push((pfn) => reclaim.release(pfn));
  // A page whose last reference goes with a charge left (an eviction) gives it back to its group.
  k.pages.releasers.push((pfn) => memory.memcg.uncharge(pfn));
  const migrate = new Migrate({ phys: k.phys, memmap: k.memmap, pages: k.pages, reclaim, swap: memory.swap, shmem });
  migrate.huge = new MigrateHuge({
    phys: k.phys,
    memmap: k.memmap,
    pages: k.pages,
    huge: memory.huge,
    hugetlb: memory.hugetlb,
    reclaim,
    vmas,
    base: migrate.stats,
  });
  memory.policy.migrate = migrate;
  memory.policy.mapcount = (pfn) => k.memmap.mapcount(pfn);
  const parts = { tasks, memory, k: api, shmem, commit, vmas, objects, swap: memory.swap, failSwapAlloc, failSwapIo, reclaim, migrate };
  const r = k.registry;
  k.pages.shrinkers.push((want) => tasks.reclaimLazyFree(want));
  k.pages.shrinkers.push((want) => reclaim.shrinker(want));
  k.pages.oomKiller = (order, gfp) => tasks.oomFromAlloc(order, gfp);
  r.checkers.push({ name: "lru", run: () => checkLru(reclaim, tasks.list()) } satisfies Checker);
  r.meminfoSources.push((v) => reclaimMeminfo(reclaim, v));
  r.vmstatSources.push((out) => reclaimVmstat(reclaim, out));
  r.vmstatSources.push((out) =>
    out.push(
      ["pgmigrate_success", migrate.stats.pgmigrateSuccess],
      ["pgmigrate_fail", migrate.stats.pgmigrateFail],
      ["thp_migration_success", migrate.huge.stats.thpMigrationSuccess],
      ["thp_migration_fail", migrate.huge.stats.thpMigrationFail],
      ["thp_migration_split", migrate.huge.stats.thpMigrationSplit],
    ),
  );
  r.checkers.push({ name: "mm", run: () => checkMms(parts) } satisfies Checker);
  r.checkers.push({
    name: "mlock",
    run: () => {
      for (const p of tasks.list()) checkMlock(vmas, p.mm);
    },
  } satisfies Checker);
  r.checkers.push({
    name: "thp",
    run: () => checkThp({ tasks, memmap: k.memmap, vmas, huge: memory.huge, hugetlb: memory.hugetlb }),
  } satisfies Checker);
  r.checkers.push({ name: "hugetlb", run: () => memory.hugetlb.check() } satisfies Checker);
  r.checkers.push({ name: "memcg", run: () => memcg.check(k.memmap.nrPages, (fn) => dev?.forEachSwapCgroup(fn)) } satisfies Checker);
  if (dev !== null) r.checkers.push({ name: "swap", run: () => checkSwap(dev, k.memmap, tasks.list()) } satisfies Checker);
  r.meminfoSources.push((v) => taskMeminfo(parts, o, v));
  r.vmstatSources.push((out) => {
    let anon = 0;
    for (const p of tasks.list()) anon += p.mm.rssAnon;
    out.push(["nr_anon_pages", anon]);
    out.push(["nr_shmem", shmem.nrPages]);
    out.push(["pgfault", memory.stats.pgfault]);
    out.push(["pgmajfault", memory.stats.pgmajfault]);
    out.push(["pswpin", dev === null ? 0 : dev.stats.pswpin]);
    out.push(["pswpout", dev === null ? 0 : dev.stats.pswpout]);
    out.push(["cow_copies", memory.stats.cowCopies]);
    out.push(["cow_reuses", memory.stats.cowReuses]);
    out.push(["zero_page_maps", memory.stats.zeroPageMaps]);
    out.push(["pglazyfreed", memory.stats.lazyFreed]);
    const thp = memory.huge.stats;
    out.push(["nr_anon_transparent_hugepages", thp.nrAnonThps]);
    out.push(["thp_fault_alloc", thp.thpFaultAlloc]);
    out.push(["thp_fault_fallback", thp.thpFaultFallback]);
    out.push(["thp_collapse_alloc", thp.thpCollapseAlloc]);
    out.push(["thp_split_page", thp.thpSplitPage]);
    out.push(["thp_split_pmd", thp.thpSplitPmd]);
    out.push(["oom_kill", tasks.oom.kills]);
  });
  r.statsSources.push(["mm", () => taskStats(parts)]);
  return parts;
}

function taskMeminfo(t: TaskParts, o: TaskOptions, v: MeminfoValues): void {
  let anon = 0;
  for (const p of t.tasks.list()) anon += p.mm.rssAnon;
  v.AnonPages = anon * 4;
  v.Shmem = t.shmem.nrPages * 4;
  // Shared anonymous pages have no LRU lists yet: they are reported active (the anonymous lists: reclaimMeminfo).
  v["Active(anon)"] = (v["Active(anon)"] ?? 0) + t.shmem.nrPages * 4;
  v.Active = (v.Active ?? 0) + t.shmem.nrPages * 4;
  v.Hugepagesize = 2048;
  const pool = t.memory.hugetlb;
  v.HugePages_Total = pool.total;
  v.HugePages_Free = pool.free;
  v.HugePages_Rsvd = pool.rsvd;
  v.HugePages_Surp = 0;
  v.Hugetlb = pool.total * 2048;
  v.AnonHugePages = t.memory.huge.stats.nrAnonThps * 2048;
  v.Cached = (v.Cached ?? 0) + t.shmem.nrPages * 4;
  const dev = t.swap?.dev ?? null;
  v.SwapTotal = Math.floor(o.swapBytes / 4096) * 4;
  v.SwapFree = v.SwapTotal - (dev === null ? 0 : dev.inuse * 4);
  v.SwapCached = dev === null ? 0 : dev.nrCached * 4;
  v.CommitLimit = t.commit.commitLimit() * 4;
  v.Committed_AS = t.commit.committed * 4;
}

function taskStats(t: TaskParts): unknown {
  return {
    committedPages: t.commit.committed,
    commitLimitPages: t.commit.commitLimit(),
    commitRefused: t.commit.refused,
    shmemPages: t.shmem.nrPages,
    faults: { ...t.memory.stats },
    thp: { ...t.memory.huge.stats },
    processes: t.tasks.list().map((p) => ({
      pid: p.pid,
      comm: p.comm,
      vmas: p.mm.mapCount,
      totalVmPages: p.mm.totalVm,
      rssAnonPages: p.mm.rssAnon,
      rssShmemPages: p.mm.rssShmem,
      rssFilePages: p.mm.rssFile,
      committedPages: p.mm.committed,
      minflt: p.minflt,
      majflt: p.majflt,
    })),
  };
}
