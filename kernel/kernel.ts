/**
 * The emulated kernel: the services it offers to the machine (DESIGN.md §5,
 * `m.kernel`) over the parts boot built. The wiring itself (which layer is
 * built when, and what each is handed) is kernel/main.ts; what the kernel
 * is booted with and the parts it is handed are typed in kernel_types.ts.
 * This file knows the parts only by their types.
 */

import type { CostClock } from "./clock.ts";
import type { KernelEvents } from "./events.ts";
import type { Tasks } from "./fork.ts";
import type { KernelConfig, KernelParts } from "./kernel_types.ts";
import type { Prandom } from "./lib/random.ts";
import type { LockStat } from "./locking/lock_stat.ts";
import type { Compaction } from "./mm/compaction.ts";
import type { FailPoint } from "./mm/fault_inject.ts";
import { type FramePages, PAGE_POISON } from "./mm/frame_pages.ts";
import type { FramesZone } from "./mm/frames.ts";
import { GFP_KERNEL } from "./mm/gfp.ts";
import type { HugeMemory } from "./mm/huge_memory.ts";
import type { Hugetlb } from "./mm/hugetlb.ts";
import type { PagingParts } from "./mm/init.ts";
import { khugepagedScan } from "./mm/khugepaged.ts";
import type { Kmalloc } from "./mm/kmalloc.ts";
import { type KernelMemory, pfnToKva } from "./mm/kmem.ts";
import type { BootLayout } from "./mm/memblock.ts";
import type { MemMap } from "./mm/memmap.ts";
import type { Mmu } from "./mm/mmu.ts";
import type { NumaTopology } from "./mm/numa.ts";
import type { BuddyAllocator } from "./mm/page_alloc.ts";
import type { Paging } from "./mm/pgalloc.ts";
import type { PageTable } from "./mm/pgtable.ts";
import type { PhysMem } from "./mm/physmem.ts";
import type { KmemCache } from "./mm/slab.ts";
import type { KmemCacheOptions, SlabAllocator } from "./mm/slab_common.ts";
import type { KernelSlabCaches } from "./mm/slab_layer.ts";
import { PAGE_OFFSET, PAGE_SIZE, type Pfn } from "./mm/types.ts";
import type { Vmalloc, VmapOptions } from "./mm/vmalloc.ts";
import { panic } from "./panic.ts";
import type { KernelReport, KLogger, Printk } from "./printk.ts";
import type { MeminfoValues } from "./proc/meminfo.ts";
import type { Rcu } from "./rcu/tree.ts";
import type { Checker, Registry } from "./registry.ts";
import type { Scheduler } from "./sched.ts";
import type { Smp } from "./smp.ts";
import type { TaskParts } from "./task_init.ts";

export type { KernelConfig, KernelParts } from "./kernel_types.ts";
export type { Checker } from "./registry.ts";

// Kernel.kmalloc spells GFP_KERNEL as its number.
if (GFP_KERNEL !== 0xcc0) panic("kernel: GFP_KERNEL is not 0xcc0");

/** The kernel and its services. */
export class Kernel {
  declare readonly config: KernelConfig;
  /** The typed event stream; kernel/main.ts made it first and handed it to every layer that emits. */
  declare readonly events: KernelEvents;
  declare readonly phys: PhysMem;
  declare readonly layout: BootLayout;
  declare readonly memmap: MemMap;
  /** The page allocator every layer calls: the frames layer (the buddy allocator or a lab's) behind the kernel's checks. */
  declare readonly pages: FramePages;
  /** "buddy", or the name of the lab's frames layer. */
  declare readonly framesName: string;
  /** The NUMA nodes (mm/numa.ts): one node unless booted with numaNodes or numa. */
  declare readonly numa: NumaTopology;
  declare readonly printk: Printk;
  declare readonly rng: Prandom;
  declare readonly failPageAlloc: FailPoint;
  declare readonly failSlab: FailPoint;
  declare readonly log: KLogger;
  /** The slab allocator: every kmem_cache, its accounting and reports. */
  declare readonly slab: SlabAllocator;
  /**
   * The object caches (kernel/mm/slab_layer.ts): layers.slab behind the
   * kernel's checks, or SLUB behind the same interface. The vmap_area and
   * vm_area_struct caches come from them.
   */
  declare readonly kmemCaches: KernelSlabCaches;
  /** The kmalloc caches and kmalloc-large. */
  declare readonly kmallocCaches: Kmalloc;
  /** Kernel memory by kva, through the MMU and init_mm. */
  declare readonly mem: KernelMemory;
  /** Page tables, the MMU and the TLB (kernel/mm/init.ts). */
  declare readonly pagingParts: PagingParts;
  declare readonly paging: Paging;
  declare readonly mmu: Mmu;
  /** The kernel's page table (init_mm): the direct map and the vmalloc area. */
  declare readonly initMm: PageTable;
  /** The vmalloc layer (vmalloc.ts). */
  declare readonly vmallocLayer: Vmalloc;
  /** Processes and their address spaces (task_init.ts). */
  declare readonly taskParts: TaskParts;
  declare readonly compaction: Compaction;
  declare readonly tasks: Tasks;
  declare readonly registry: Registry;
  /** The CPUs (smp.ts), the modelled locks (/proc/lock_stat) and the scheduler (`m.run`). */
  declare readonly smp: Smp;
  declare readonly locks: LockStat;
  declare readonly sched: Scheduler;
  /** RCU: rcuReadLock/rcuReadUnlock, kfreeRcu, synchronizeRcu (rcu/tree.ts). */
  declare readonly rcu: Rcu;
  declare readonly checkers: Checker[];
  /** Layers add their /proc/meminfo fields here (kB). */
  readonly meminfoSources: Array<(v: MeminfoValues) => void>;
  /** Layers add their /proc/vmstat counters here, in order. */
  readonly vmstatSources: Array<(out: Array<[string, number]>) => void>;
  /** Layers add their section of `m.stats()` here. */
  readonly statsSources: Array<[string, () => unknown]>;
  declare private readonly buddyOrNull: BuddyAllocator | null;

  /** The cost clock: simulated nanoseconds derived from the layers' counters (clock.ts). */
  get clock(): CostClock {
    return this.registry.clock;
  }

  /** Use startKernel (kernel/main.ts), which builds the parts. */
  constructor(p: KernelParts) {
    this.config = p.config;
    this.log = p.config.log;
    this.registry = p.registry;
    this.events = p.events;
    this.checkers = p.registry.checkers;
    this.meminfoSources = p.registry.meminfoSources;
    this.vmstatSources = p.registry.vmstatSources;
    this.statsSources = p.registry.statsSources;
    this.rng = p.rng;
    this.printk = p.printk;
    this.phys = p.phys;
    this.layout = p.layout;
    this.memmap = p.memmap;
    this.failPageAlloc = p.failPageAlloc;
    this.failSlab = p.failSlab;
    this.pages = p.pages;
    this.buddyOrNull = p.buddy;
    this.framesName = p.framesName;
    this.numa = p.numa;
    this.pagingParts = p.pagingParts;
    this.paging = p.pagingParts.paging;
    this.mmu = p.pagingParts.mmu;
    this.initMm = p.pagingParts.initMm;
    this.mem = p.pagingParts.mem;
    this.slab = p.slab;
    this.kmemCaches = p.kmemCaches;
    this.kmallocCaches = p.kmallocCaches;
    this.vmallocLayer = p.vmallocLayer;
    this.taskParts = p.taskParts;
    this.compaction = p.compaction;
    this.tasks = p.taskParts.tasks;
    this.smp = p.smp;
    this.locks = p.locks;
    this.sched = p.sched;
    this.rcu = p.rcu;
  }

  /**
   * The buddy allocator's own view (zones, free lists, per-CPU lists): the
   * frames layer itself, under FramePages. Allocate through allocPages or
   * `pages`, never through it. Throws Error when the machine was booted
   * with another frames layer: it has no buddy lists.
   */
  get buddy(): BuddyAllocator {
    if (this.buddyOrNull === null) {
      throw new Error(`this machine's frame allocator is '${this.framesName}', not the buddy allocator: it has no zones or buddy lists`);
    }
    return this.buddyOrNull;
  }

  /** True when the frames layer is memsim's buddy allocator (`m.kernel.buddy`). */
  hasBuddy(): boolean {
    return this.buddyOrNull !== null;
  }

  /**
   * The frames layer's zones (/proc/buddyinfo). Throws Error when the layer
   * has none (xv6, bitmap): it keeps no per-order free lists.
   */
  frameZones(): readonly FramesZone[] {
    const zones = this.pages.layer.zones;
    if (zones === undefined) {
      throw new Error(`this machine's frame allocator is '${this.framesName}', not the buddy allocator: it has no zones or buddy lists`);
    }
    return zones;
  }

  /** alloc_pages. See {@link PageAllocator.allocPages}. Returns null on failure. */
  allocPages(order: number, gfp: number = GFP_KERNEL): Pfn | null {
    const pfn = this.pages.allocPages(order, gfp);
    return pfn < 0 ? null : (pfn as Pfn);
  }

  /** __free_pages. See {@link PageAllocator.freePages}. */
  freePages(pfn: number, order: number): void {
    this.pages.freePages(pfn, order);
  }

  /**
   * kmalloc: `size` bytes from the kmalloc caches (or whole pages above
   * 8 KiB), as a kva; 0 is NULL, 16 is ZERO_SIZE_PTR (for size 0).
   * `caller` labels the allocation in slab_debug user tracking.
   */
  kmalloc(size: number, gfp?: number, caller?: string): number {
    // GFP_KERNEL (0xcc0, checked when this module loads) as a literal, not a
    // default parameter, which copies every argument first (bytes that count
    // against the JIT's inlining budget for the kmalloc/kfree pair).
    return this.kmallocCaches.kmalloc(size, gfp ?? 0xcc0, caller);
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

  /** kfree_rcu: kfree of a kmalloc'd object once a grace period has passed (rcu/tree.ts). */
  kfreeRcu(kva: number): void {
    this.rcu.kfreeRcu(kva);
  }

  /** rcu_read_lock for the running thread. */
  rcuReadLock(): void {
    this.rcu.readLock();
  }

  /** rcu_read_unlock for the running thread. Panics when it is in no read-side section. */
  rcuReadUnlock(): void {
    this.rcu.readUnlock();
  }

  /**
   * synchronize_rcu from the running CPU: true when a full grace period has
   * passed (every kfree_rcu before it done); false when an older read-side
   * section is still open (operations cannot sleep: call again later).
   * Panics inside a read-side section.
   */
  synchronizeRcu(): boolean {
    return this.rcu.synchronize(this.smp.current);
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
   * Transparent huge pages (kernel/mm/huge_memory.ts): `thp.enabled`
   * ("always" | "madvise" | "never", default "madvise"), `thp.defrag` and
   * the thp_* counters.
   */
  get thp(): HugeMemory {
    return this.taskParts.memory.huge;
  }

  /** The hugetlb pool (kernel/mm/hugetlb.ts): `total`, `free`, `rsvd` and its counters. */
  get hugetlb(): Hugetlb {
    return this.taskParts.memory.hugetlb;
  }

  /**
   * vm.nr_hugepages: resizes the hugetlb pool toward `n` pages of 2 MiB
   * (growing while the buddy allocator has order-9 blocks, shrinking by free
   * unreserved pages only). Returns the size reached, which may fall short of `n`.
   */
  setNrHugepages(n: number): number {
    return this.taskParts.memory.hugetlb.setNrHugepages(n);
  }

  /**
   * echo 1 > /proc/sys/vm/compact_memory (kernel/mm/compaction.ts): every
   * zone is compacted, the migrate scanner moving movable pages from the
   * bottom to free frames the free scanner isolates from the top. Nothing
   * happens on a frames layer that cannot isolate free blocks.
   */
  compactMemory(): void {
    this.compaction.compactMemory();
  }

  /**
   * vm.compaction_proactiveness (kernel/mm/compaction.ts): 0..100, default
   * 20; kcompactd compacts on its 500 ms timer while the fragmentation score
   * is above 100 - n + 10 (0 turns it off). Returns the value in force (a
   * value that is not an integer in 0..100 is refused, as the sysctl's
   * -EINVAL, leaving the old one).
   */
  setCompactionProactiveness(n: number): number {
    if (Number.isInteger(n) && n >= 0 && n <= 100) this.compaction.proactiveness = n;
    return this.compaction.proactiveness;
  }

  /**
   * One full khugepaged scan (kernel/mm/khugepaged.ts): every 2 MiB-aligned
   * range of an eligible VMA whose 512 pages are present and private to one
   * process becomes a huge page. Returns how many were made.
   */
  khugepaged(): number {
    return khugepagedScan(
      this.taskParts.memory,
      this.taskParts.memory.huge,
      this.tasks.list().map((p) => p.mm),
    );
  }

  /**
   * drop_caches (echo 2 > /proc/sys/vm/drop_caches, plus draining the
   * per-CPU lists): every slab cache gives its empty slabs back and every
   * per-CPU page returns to the buddy lists. Returns the slab pages freed.
   */
  dropCaches(): number {
    const freed = this.slab.shrinkAll(Number.POSITIVE_INFINITY);
    this.pages.drainPcp();
    return freed;
  }

  /** drain_all_pages: per-CPU lists back to the buddy allocator. */
  drainPcp(): void {
    this.pages.drainPcp();
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
    this.registry.check(only);
  }

  /** The byte a freed page is filled with when debugging. */
  static readonly PAGE_POISON = PAGE_POISON;
}
