/**
 * memsim's public API: the Machine, the constants with their Linux names and
 * values, the error classes and the public types.
 */

export {
  CLOCK_KINDS,
  type ClockCosts,
  type ClockKind,
  type ClockRow,
  CostClock,
  DEFAULT_CLOCK_COSTS,
  SMP_CLOCK_KINDS,
} from "../kernel/clock.ts";
export * from "../kernel/errno.ts";
export {
  EVENT_KINDS,
  type EventFields,
  type EventHandler,
  type EventHead,
  type EventKind,
  type EventOf,
  type FaultOutcome,
  type MemsimEvent,
  TLB_FLUSH_ALL,
} from "../kernel/events_types.ts";
export { buildExecutable, EXEC_MAGIC, type ExecutableImage, TEXT_BASE } from "../kernel/fs/binfmt.ts";
export type { ForkCopy, ForkCopyLayer, LabFault, LabTask, PageFaultLayer, TaskHook, TaskLayers } from "../kernel/lab_layers.ts";
export { Kalloc, xv6Frames } from "../kernel/labs/kalloc.ts";
export { bitmapFrames, Palloc } from "../kernel/labs/palloc.ts";
export { uvmcopy } from "../kernel/labs/uvmcopy.ts";
export { LOCK_CLASSES, type LockClass } from "../kernel/locking/lock_stat.ts";
export type { KernelLayers } from "../kernel/main.ts";
export { describeTeachGeometry, explainTeach } from "../kernel/mm/dump_pagetables_teach.ts";
export type { FailSpec } from "../kernel/mm/fault_inject.ts";
export type {
  FrameAllocator,
  FramesBoot,
  FramesCounters,
  FramesLayer,
  FramesOptions,
  FramesZone,
  FreeRange,
  PageAllocator,
} from "../kernel/mm/frames.ts";
export * from "../kernel/mm/gfp.ts";
export type { KernelApi, WalkMode } from "../kernel/mm/lab_api.ts";
export { MEMCG_FILES, MEMCG_MAX, MemCgroup, type MemcgFile, type MemcgLimits } from "../kernel/mm/memcontrol.ts";
export { FAULT_ACCERR, FAULT_MAPERR, FAULT_OK, FAULT_OOM, FAULT_SIGBUS } from "../kernel/mm/memory.ts";
export { buddyFrames } from "../kernel/mm/mm_init.ts";
export { KernelOops } from "../kernel/mm/mmu.ts";
export type { AccessMode, MmuMemory } from "../kernel/mm/mmu_memory.ts";
export { TEACH_NO_ROOT, TEACH_OUTSIDE, type TeachFrame, type TeachHost, TeachSpace } from "../kernel/mm/mmu_teach.ts";
export { flatNuma, type NumaSpec, NumaTopology } from "../kernel/mm/numa.ts";
export { OOM_SCORE_ADJ_MAX, OOM_SCORE_ADJ_MIN } from "../kernel/mm/oom_kill.ts";
export { BuddyAllocator } from "../kernel/mm/page_alloc.ts";
export type { FaultHandler, PageFault, PageTable } from "../kernel/mm/pgtable.ts";
export type { ChangeProtOptions, PteVisitor, ZapSink } from "../kernel/mm/pgtable_range.ts";
export {
  linearTeachGeometry,
  TEACH_GEOMETRIES,
  type TeachGeometry,
  type TeachGeometryName,
  teachEntry,
  teachPfn,
  teachValid,
} from "../kernel/mm/pgtable_teach.ts";
export * from "../kernel/mm/pgtable_types.ts";
export type { ReplacementKernel, ReplacementLayer, ReplacementPolicy } from "../kernel/mm/replacement.ts";
export { twoListReplacement } from "../kernel/mm/replacement.ts";
export {
  clockReplacement,
  fifoReplacement,
  lruReplacement,
  optReplacement,
  randomReplacement,
  recordingReplacement,
} from "../kernel/mm/replacement_policies.ts";
export type { KmemCache } from "../kernel/mm/slab.ts";
export type { KmemCacheOptions } from "../kernel/mm/slab_common.ts";
export {
  KMALLOC_MAX_CACHE_SIZE,
  POISON_END,
  POISON_FREE,
  POISON_INUSE,
  SLAB_ACCOUNT,
  SLAB_CACHE_DMA,
  SLAB_CONSISTENCY_CHECKS,
  SLAB_FAILSLAB,
  SLAB_HWCACHE_ALIGN,
  SLAB_PANIC,
  SLAB_POISON,
  SLAB_RECLAIM_ACCOUNT,
  SLAB_RED_ZONE,
  SLAB_STORE_USER,
  SLAB_TRACE,
  SLUB_RED_ACTIVE,
  SLUB_RED_INACTIVE,
  ZERO_SIZE_PTR,
} from "../kernel/mm/slab_flags.ts";
export type { KernelSlabCaches, SlabBoot, SlabCache, SlabCacheOptions, SlabCaches, SlabLayer } from "../kernel/mm/slab_layer.ts";
export { slubCaches } from "../kernel/mm/slab_layer_slub.ts";
export type { TlbConfig } from "../kernel/mm/tlb.ts";
export type { Order, Pfn, PhysAddr, VirtAddr } from "../kernel/mm/types.ts";
export {
  formatVa,
  PAGE_OFFSET,
  PAGE_SHIFT,
  PAGE_SIZE,
  parseVa,
  TASK_SIZE,
  VMALLOC_END,
  VMALLOC_START,
} from "../kernel/mm/types.ts";
export type { VmapOptions } from "../kernel/mm/vmalloc.ts";
export { VM_ALLOC, VM_IOREMAP, VM_MAP, VM_NO_GUARD, VM_USERMAP } from "../kernel/mm/vmap_area.ts";
export { InvariantViolation, KernelPanic, LayerFault } from "../kernel/panic.ts";
export type { KernelReport, KLogger } from "../kernel/printk.ts";
export { parseMeminfo } from "../kernel/proc/meminfo.ts";
export type { SlabinfoRow } from "../kernel/proc/slabinfo.ts";
export { Process, ProcessGone, type ProcessState } from "../kernel/process.ts";
export {
  OP_BASE_NS,
  type Operation,
  type Program,
  type RunOptions,
  type RunResult,
  type Schedule,
  type StepRecord,
} from "../kernel/sched.ts";
export { BusError, ProcessKilled, SegmentationFault, type SigInfo, type SignalHandler } from "../kernel/signal.ts";
export { MAX_CPUS } from "../kernel/smp.ts";
export { type SpawnThreadOptions, Thread } from "../kernel/thread.ts";
export * from "../kernel/uapi/fcntl.ts";
export * from "../kernel/uapi/mempolicy.ts";
export * from "../kernel/uapi/mman.ts";
export * from "../kernel/uapi/signal.ts";
export {
  type Allocator,
  type AllocatorEntry,
  type AllocatorFactory,
  type AllocatorStats,
  allocatorNames,
  createAllocator,
  createArena,
  createBuddy,
  createFreeList,
  createHoard,
  createPool,
  createSegregated,
  findAllocator,
  HeapCorruption,
  registerAllocator,
  TEACHING_ALLOCATORS,
} from "../userspace/alloc/index.ts";
export {
  MALLOC_ALIGNMENT,
  type MallocEnv,
  type MallocHeap,
  type MallocLayer,
  type MallocWatch,
} from "../userspace/libc/malloc_layer.ts";
export type { Mallinfo2 } from "../userspace/malloc/mallinfo.ts";
export { Malloc, memsimMalloc } from "../userspace/malloc/malloc.ts";
export { MachineCgroups } from "./cgroups.ts";
export { type BootOptions, ConfigError, type Layers, type OvercommitOptions, type ResolvedConfig } from "./config.ts";
export { type AnyEventHandler, MachineEvents } from "./events.ts";
export { FsError, MachineFs } from "./fs_host.ts";
export type { MemLib } from "./lab/malloc/memlib.ts";
export { Faults, Machine, MachineProc } from "./machine.ts";
export { KernelMallocWatch, LiveBlocks } from "./malloc_watch.ts";
export { parseTrace, readTrace } from "./trace/read.ts";
export { perfIndex, type ReplayOptions, replayTrace, replayTraces, type TraceResult, type TraceSetResult } from "./trace/replay.ts";
export { formatTable as formatTraceTable, toJson as traceResultJson } from "./trace/report.ts";
export { type Trace, TraceError } from "./trace/trace.ts";
export { FTRACE_HEADER, formatEventJson, formatFtraceLine } from "./trace_output.ts";
export { formatSize, parseSize } from "./units.ts";
