/**
 * The wiring between boot and the kernel: what the kernel is booted with
 * (KernelConfig, Linux's command line and sysctl defaults as the machine
 * validated them) and every part start_kernel (kernel/main.ts) built and
 * hands to the Kernel (KernelParts). Types only: nothing here runs, so the
 * kernel's services (kernel.ts) and their fast paths stay in their own file.
 */

import type { ClockCosts } from "./clock.ts";
import type { KernelEvents } from "./events.ts";
import type { FsOptions } from "./fs/fs_init.ts";
import type { Prandom } from "./lib/random.ts";
import type { LockStat } from "./locking/lock_stat.ts";
import type { CacheConfig } from "./mm/cache_model.ts";
import type { Compaction } from "./mm/compaction.ts";
import type { FailPoint } from "./mm/fault_inject.ts";
import type { FramePages } from "./mm/frame_pages.ts";
import type { PagingParts } from "./mm/init.ts";
import type { Kmalloc } from "./mm/kmalloc.ts";
import type { BootLayout } from "./mm/memblock.ts";
import type { MemMap } from "./mm/memmap.ts";
import type { NumaSpec, NumaTopology } from "./mm/numa.ts";
import type { BuddyAllocator } from "./mm/page_alloc.ts";
import type { MmuName } from "./mm/pgtable_geometry.ts";
import type { PhysMem } from "./mm/physmem.ts";
import type { SlabAllocator } from "./mm/slab_common.ts";
import type { KernelSlabCaches } from "./mm/slab_layer.ts";
import type { TlbConfig } from "./mm/tlb.ts";
import type { Vmalloc } from "./mm/vmalloc.ts";
import type { KLogger, Printk } from "./printk.ts";
import type { Rcu } from "./rcu/tree.ts";
import type { Registry } from "./registry.ts";
import type { Scheduler } from "./sched.ts";
import type { Smp } from "./smp.ts";
import type { TaskParts } from "./task_init.ts";

/** What the kernel is booted with; the machine validates it first. */
export interface KernelConfig {
  readonly ramBytes: number;
  readonly seed: number;
  /** 0 none, 1 cheap asserts, 2 checkers at syscall exit, 3 after every op. */
  readonly debugVm: number;
  /** page_poison: fill freed pages with PAGE_POISON (default off). */
  readonly pagePoison?: boolean;
  readonly maxOrder: number;
  /** Per-CPU list batch; 0 picks Linux's size for the zone, -1 turns the lists off. */
  readonly pcpBatch: number;
  /** slab_debug letters applied to every cache ("FZPU"; "" = off). */
  readonly slubDebug: string;
  readonly log: KLogger;
  /** TLB shape; the default is 256 entries, 4-way. */
  readonly tlb?: TlbConfig;
  /** The geometry of process page tables (mm/pgtable_geometry.ts); x86-64 when absent. */
  readonly mmu?: MmuName;
  /** vm.overcommit_memory, vm.overcommit_ratio, swap size and vm.max_map_count. */
  readonly overcommitMode: number;
  readonly overcommitRatio: number;
  readonly swapBytes: number;
  readonly maxMapCount: number;
  /** What each step costs on the cost clock (clock.ts); the defaults when absent. */
  readonly clockCosts?: Readonly<ClockCosts>;
  /** The disk and the files shipped on it (fs/fs_init.ts); an empty 8 MiB disk when absent. */
  readonly fs?: FsOptions;
  /** CPUs, 1..64 (smp.ts); 1 when absent. */
  readonly cpus?: number;
  /** The NUMA nodes (mm/numa.ts); one node holding every frame and CPU when absent or null. */
  readonly numa?: NumaSpec | null;
  /** The every-access mode: each user load and store reports its page to the replacement policy (Mmu.observe). Off when absent. */
  readonly observeAccesses?: boolean;
  /** The data-cache model (mm/cache_model.ts); none when absent. */
  readonly cache?: CacheConfig | null;
}

/** Everything boot (kernel/main.ts) built, in the order it built it. */
export interface KernelParts {
  readonly config: KernelConfig;
  readonly registry: Registry;
  /** The event bus every emitting layer was handed. */
  readonly events: KernelEvents;
  readonly rng: Prandom;
  readonly printk: Printk;
  readonly phys: PhysMem;
  readonly layout: BootLayout;
  readonly memmap: MemMap;
  readonly failPageAlloc: FailPoint;
  readonly failSlab: FailPoint;
  /** The page allocator (the frames layer behind FramePages); `buddy` is the layer when it is memsim's buddy, else null. */
  readonly pages: FramePages;
  readonly buddy: BuddyAllocator | null;
  readonly framesName: string;
  /** The NUMA nodes (mm/numa.ts): one node unless booted with numaNodes or numa. */
  readonly numa: NumaTopology;
  readonly pagingParts: PagingParts;
  readonly slab: SlabAllocator;
  readonly kmemCaches: KernelSlabCaches;
  readonly kmallocCaches: Kmalloc;
  readonly vmallocLayer: Vmalloc;
  readonly taskParts: TaskParts;
  /** Compaction (kernel/mm/compaction.ts): compact_memory, direct compaction, kcompactd. */
  readonly compaction: Compaction;
  /** The CPUs and their TLBs (smp.ts), the modelled locks and the scheduler (sched.ts). */
  readonly smp: Smp;
  readonly locks: LockStat;
  readonly sched: Scheduler;
  /** Read-side sections, grace periods and kfree_rcu (rcu/tree.ts). */
  readonly rcu: Rcu;
}
