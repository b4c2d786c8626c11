/**
 * The machine: boots a kernel on one ArrayBuffer of RAM and offers the public
 * API of DESIGN.md §5 (kernel services, fault injection, /proc views, stats,
 * checkers).
 */

import { join } from "node:path";
import type { CostClock } from "../kernel/clock.ts";
import { EACCES, EISDIR, ENOENT, errnoName } from "../kernel/errno.ts";
import { loadExecutable, parseHeader } from "../kernel/fs/binfmt.ts";
import type { Vfs } from "../kernel/fs/vfs.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { renderLockStat } from "../kernel/locking/lock_stat.ts";
import type { KernelLayers } from "../kernel/main.ts";
import { startKernel } from "../kernel/main.ts";
import type { CacheModel } from "../kernel/mm/cache_model.ts";
import { cacheSummary } from "../kernel/mm/cache_stats.ts";
import type { FailSpec } from "../kernel/mm/fault_inject.ts";
import { kmemleakUnreferenced, renderKmemleak } from "../kernel/mm/kmemleak.ts";
import { TeachSpace } from "../kernel/mm/mmu_teach.ts";
import { renderPageOwner } from "../kernel/mm/page_owner.ts";
import { TEACH_GEOMETRIES, type TeachGeometry, type TeachGeometryName } from "../kernel/mm/pgtable_teach.ts";
import { CheckedSlab } from "../kernel/mm/slab_layer_check.ts";
import { slabinfoRows } from "../kernel/mm/slab_stats.ts";
import { renderSwaps } from "../kernel/mm/swapfile.ts";
import { VMALLOC_START } from "../kernel/mm/types.ts";
import { nodeNumaStat, renderNumastat } from "../kernel/mm/zonelist.ts";
import { renderBuddyinfo } from "../kernel/proc/buddyinfo.ts";
import { renderExtfragIndex, renderUnusableIndex } from "../kernel/proc/extfrag.ts";
import { renderMeminfo } from "../kernel/proc/meminfo.ts";
import { renderNodeMeminfo } from "../kernel/proc/node.ts";
import { renderPagetypeinfo } from "../kernel/proc/pagetypeinfo.ts";
import { renderSlabinfo } from "../kernel/proc/slabinfo.ts";
import { renderVmallocinfo } from "../kernel/proc/vmallocinfo.ts";
import { renderVmstat } from "../kernel/proc/vmstat.ts";
import type { Process } from "../kernel/process.ts";
import type { Program, RunOptions, RunResult } from "../kernel/sched.ts";
import { AllocSites, type SiteStats } from "./alloc_sites.ts";
import { MachineCgroups } from "./cgroups.ts";
import { type BootOptions, type Layers, type ResolvedConfig, resolveConfig } from "./config.ts";
import { MachineEvents } from "./events.ts";
import { falseSharingEntries, renderFalseSharing } from "./false_sharing.ts";
import { MachineFs } from "./fs_host.ts";
import { attachLibc } from "./libc_attach.ts";

/** The repository's root, stripped from stack-frame paths so call sites read the same on every computer. */
const REPO_ROOT = `${join(import.meta.dirname, "..")}/`;

/** The layers the kernel builds itself with: all but malloc, which lives in every process's libc. */
function kernelLayers(layers: Layers): KernelLayers {
  const { malloc: _malloc, ...kernel } = layers;
  return kernel;
}

/** Fault injection, like Linux's fail_page_alloc and failslab. */
export class Faults {
  constructor(private readonly kernel: Kernel) {}

  /** Fails the nth page allocation from now, or each with a probability; null turns it off. */
  failPageAlloc(spec: FailSpec | null): void {
    this.kernel.failPageAlloc.set(spec);
  }

  /** Fails the nth slab allocation from now, or each with a probability; null turns it off. */
  failSlab(spec: FailSpec | null): void {
    this.kernel.failSlab.set(spec);
  }

  /** Fails the nth swap slot allocation from now (the page stays in RAM), or each with a probability; null turns it off. */
  failSwapAlloc(spec: FailSpec | null): void {
    this.kernel.taskParts.failSwapAlloc.set(spec);
  }

  /**
   * Fails the nth swap read or write from now, or each with a probability;
   * null turns it off. A failed write leaves the page in RAM; a failed read
   * fails the fault with SIGBUS.
   */
  failSwapIo(spec: FailSpec | null): void {
    this.kernel.taskParts.failSwapIo.set(spec);
  }

  /** Fails the nth disk-block allocation of the filesystem from now (a full disk: ENOSPC), or each with a probability. */
  failBlockAlloc(spec: FailSpec | null): void {
    (this.kernel.tasks.vfs as Vfs).fs.failBlock.set(spec);
  }

  /** Turns every injection point off. */
  clear(): void {
    this.failPageAlloc(null);
    this.failSlab(null);
    this.failSwapAlloc(null);
    this.failSwapIo(null);
    this.failBlockAlloc(null);
  }

  /** Failures injected so far, per point. */
  get injected(): { pageAlloc: number; slab: number; swapAlloc: number; swapIo: number; blockAlloc: number } {
    const t = this.kernel.taskParts;
    return {
      pageAlloc: this.kernel.failPageAlloc.injected,
      slab: this.kernel.failSlab.injected,
      swapAlloc: t.failSwapAlloc.injected,
      swapIo: t.failSwapIo.injected,
      blockAlloc: (this.kernel.tasks.vfs as Vfs).fs.failBlock.injected,
    };
  }
}

/** Machine-wide /proc files. */
export class MachineProc {
  constructor(
    private readonly kernel: Kernel,
    private readonly sites: AllocSites,
  ) {}

  /**
   * page_owner (debugfs): who allocated each block still allocated, when,
   * with which mask and from where; only blocks allocated while
   * allocSites tracked the kernel (and sampled) appear. kernel/mm/page_owner.ts.
   */
  pageOwner(): string {
    return renderPageOwner(this.sites.pages.values(), this.kernel.memmap);
  }

  /**
   * A kmemleak scan (debugfs kmemleak after "scan"): the tracked kmalloc,
   * kmem_cache and vmalloc objects no allocated kernel memory points to. kernel/mm/kmemleak.ts.
   */
  kmemleak(): string {
    const vm = this.kernel.vmallocLayer;
    const objs = [...this.sites.kernelLive].map(([ptr, r]) => ({
      ptr,
      size: r.size,
      site: (this.sites.sites[r.site] as SiteStats).site,
      pid: r.pid,
      comm: r.comm,
      ts: r.ts,
      pfns:
        ptr >= VMALLOC_START ? Array.from({ length: Math.ceil(r.size / 4096) }, (_, i) => vm.vmallocToPfn(ptr + i * 4096) ?? 0) : undefined,
      meta: ptr >= VMALLOC_START ? vm.findArea(ptr) : undefined,
    }));
    return renderKmemleak(kmemleakUnreferenced(objs, this.kernel.phys, this.kernel.memmap), this.kernel.phys);
  }

  meminfo(): string {
    return renderMeminfo(this.kernel.meminfoValues());
  }

  /** /proc/buddyinfo. Throws Error on a machine whose frames layer has no zones (xv6, bitmap). */
  buddyinfo(): string {
    return renderBuddyinfo(this.kernel.frameZones(), this.kernel.pages.maxOrder);
  }

  /**
   * /sys/devices/system/node/node`nid`/meminfo: the node's MemTotal, MemFree
   * and MemUsed (kernel/proc/node.ts). Throws RangeError for a node the
   * machine does not have, Error unless the frames layer is the buddy allocator.
   */
  nodeMeminfo(nid: number): string {
    this.node(nid);
    return renderNodeMeminfo(this.kernel.buddy.zones, nid);
  }

  /**
   * /sys/devices/system/node/node`nid`/numastat: numa_hit, numa_miss,
   * numa_foreign, interleave_hit, local_node, other_node in pages
   * (kernel/mm/zonelist.ts says what each counts). Throws RangeError for a
   * node the machine does not have, Error unless the frames layer is the buddy allocator.
   */
  numastat(nid: number): string {
    this.node(nid);
    return renderNumastat(nodeNumaStat(this.kernel.buddy.zones, nid));
  }

  private node(nid: number): void {
    const n = this.kernel.numa.nrNodes;
    if (!(Number.isInteger(nid) && nid >= 0 && nid < n)) throw new RangeError(`node ${String(nid)}: the machine has nodes 0..${n - 1}`);
  }

  /**
   * /proc/pagetypeinfo: free blocks per order and migrate type, page blocks
   * per type. Throws Error on a machine whose frames layer keeps no migrate types.
   */
  pagetypeinfo(): string {
    const out = renderPagetypeinfo(this.kernel.frameZones(), this.kernel.pages.maxOrder);
    if (out === null) throw new Error(`this machine's frame allocator is '${this.kernel.framesName}': it keeps no migrate types`);
    return out;
  }

  /**
   * debugfs extfrag/unusable_index: per zone and order, the share of free
   * memory that cannot serve an allocation of that order (0.000 to 1.000).
   * Throws Error on a machine whose frames layer is not the buddy allocator.
   */
  unusableIndex(): string {
    return renderUnusableIndex(this.kernel.buddy);
  }

  /**
   * debugfs extfrag/extfrag_index: per zone and order, whether a failing
   * allocation of that order fails for want of memory (near 0.000) or because
   * free memory is in pieces (near 1.000); -1.000 where it would succeed.
   * Throws Error on a machine whose frames layer is not the buddy allocator.
   */
  extfragIndex(): string {
    return renderExtfragIndex(this.kernel.buddy);
  }

  /**
   * /proc/slabinfo, version 2.1: SLUB's caches, then those of a lab's slab
   * layer (kmalloc's among them), each newest first.
   */
  slabinfo(): string {
    const k = this.kernel;
    const layer = k.kmemCaches instanceof CheckedSlab ? k.kmemCaches.rows() : [];
    return renderSlabinfo([...slabinfoRows(k.slab), ...layer]);
  }

  vmstat(): string {
    const rows: Array<[string, number]> = [];
    for (const src of this.kernel.vmstatSources) src(rows);
    return renderVmstat(rows);
  }

  /** /proc/swaps: the header, and the swap area's line when the machine has swap. */
  swaps(): string {
    return renderSwaps(this.kernel.taskParts.swap?.dev ?? null);
  }

  /**
   * The data-cache model's cachegrind-like summary (kernel/mm/cache_stats.ts).
   * Throws Error on a machine booted without the `cache` option.
   */
  cachegrind(): string {
    return cacheSummary(this.cacheModel());
  }

  /**
   * The false-sharing report (sim/false_sharing.ts): lines written by two or
   * more CPUs at disjoint bytes, with the owning allocations when
   * allocation sites track user allocations. Throws Error without `cache`.
   */
  falseSharing(): string {
    return renderFalseSharing(falseSharingEntries(this.cacheModel().falseSharing.report(), this.sites));
  }

  private cacheModel(): CacheModel {
    const c = this.kernel.smp.cache;
    if (c === null) throw new Error("cache: the machine was booted without the cache option");
    return c;
  }

  /** /proc/interrupts: one column per CPU, the TLB shootdown IPIs each received. */
  interrupts(): string {
    return this.kernel.smp.interrupts();
  }

  /** /proc/lock_stat: the modelled locks' acquisitions, contentions and wait and hold times (kernel/locking/lock_stat.ts). */
  lockStat(): string {
    return renderLockStat(this.kernel.locks);
  }

  /** /proc/vmallocinfo: the vmalloc and vmap areas in address order. */
  vmallocinfo(): string {
    return renderVmallocinfo(this.kernel.vmallocLayer.areas());
  }
}

/** An emulated machine. Make one with {@link Machine.boot}. */
export class Machine {
  readonly config: ResolvedConfig;
  readonly kernel: Kernel;
  readonly faults: Faults;
  readonly proc: MachineProc;
  /** The typed event stream: `m.events.on("mm_page_alloc", (e) => ...)` (kernel/EVENTS.md). */
  readonly events: MachineEvents;
  /** Allocation sites: off until `enable()` or the boot option `allocSites` (sim/alloc_sites.ts). */
  readonly allocSites: AllocSites;
  /**
   * The cost clock: deterministic simulated nanoseconds (`m.clock.now()`),
   * derived from the TLB, fault and swap counters (kernel/clock.ts).
   */
  readonly clock: CostClock;
  /** The machine's files from the host side: write, read, list, sync, remount (sim/fs_host.ts). */
  readonly fs: MachineFs;
  /** The memory cgroups: `m.cgroups.create(name, { max, high })`, then `p.cgroup = g` (sim/cgroups.ts). */
  readonly cgroups: MachineCgroups;

  private constructor(config: ResolvedConfig) {
    this.config = config;
    this.kernel = startKernel(
      {
        ramBytes: config.ramBytes,
        seed: config.seed,
        debugVm: config.debugVm,
        pagePoison: config.pagePoison,
        maxOrder: config.maxOrder,
        pcpBatch: config.pcpBatch,
        slubDebug: config.slubDebug,
        tlb: config.tlb,
        observeAccesses: config.mmu.observeAccesses,
        mmu: config.mmu.geometry,
        cpus: config.cpus,
        numa: config.numa,
        cache: config.cache,
        clockCosts: config.clock,
        fs: config.fs,
        overcommitMode: config.overcommit.mode,
        overcommitRatio: config.overcommit.ratio,
        swapBytes: config.swapBytes,
        maxMapCount: config.maxMapCount,
        log: config.log,
      },
      kernelLayers(config.layers),
    );
    this.kernel.thp.enabled = config.thp;
    this.kernel.setNrHugepages(config.hugePages);
    this.faults = new Faults(this.kernel);
    this.events = new MachineEvents(this.kernel.events);
    this.allocSites = new AllocSites(this.kernel, this.events, config.seed, REPO_ROOT);
    const sites = this.allocSites;
    attachLibc(this.kernel.tasks, { malloc: config.layers.malloc, debugVm: config.debugVm, k: this.kernel.taskParts.k, sites });
    this.proc = new MachineProc(this.kernel, sites);
    if (config.allocSites !== null) sites.enable(config.allocSites);
    this.clock = this.kernel.clock;
    const tasks = this.kernel.tasks;
    this.fs = new MachineFs(() => tasks.vfs as Vfs);
    this.cgroups = new MachineCgroups(this.kernel.taskParts.memory.memcg);
  }

  /**
   * echo 3 > /proc/sys/vm/drop_caches: every clean page-cache page freed,
   * then the kernel's dropCaches (empty slabs, per-CPU pages). Dirty pages
   * stay (sync first to drop them too). Returns the page-cache pages freed.
   */
  dropCaches(): number {
    const n = (this.kernel.tasks.vfs as Vfs).cache.dropClean();
    this.kernel.dropCaches();
    return n;
  }

  /**
   * Boots a machine. Throws ConfigError naming the bad option when the
   * options are invalid (RAM not a page multiple in [1 MiB, 4 GiB], unknown
   * option, out-of-range number).
   */
  static boot(opts: BootOptions = {}): Machine {
    return new Machine(resolveConfig(opts));
  }

  /**
   * A new process `name` with an empty address space and a stack; with
   * `exec`, the program file at that path (written by
   * `m.fs.writeExecutable`) is mapped as Linux's ELF loader maps a static
   * binary: text, data, bss, then the heap (kernel/fs/binfmt.ts).
   * Throws Error when the machine has no memory (or address-space id) left
   * for it, or naming the errno when the program cannot be loaded (ENOENT,
   * EACCES, ENOEXEC); no process is left behind then.
   */
  spawn(name: string, opts: { exec?: string } = {}): Process {
    if (typeof name !== "string" || name.length === 0) throw new TypeError("spawn: a process needs a non-empty name");
    const p = this.kernel.tasks.spawn(name);
    if (opts.exec === undefined) return p;
    const r = this.exec(p, opts.exec);
    if (r < 0) {
      p.exit(127);
      throw new Error(`spawn ${name}: cannot load ${opts.exec}: ${errnoName(r)}`);
    }
    return p;
  }

  /** Loads the program at `path` into fresh process `p`: its entry address, or -errno. */
  private exec(p: Process, path: string): number {
    const vfs = this.kernel.tasks.vfs;
    if (vfs === null) return -ENOENT;
    const bytes = vfs.hostReadFile(path);
    if (typeof bytes === "number") return bytes === -EISDIR ? -EACCES : bytes;
    const header = parseHeader(bytes);
    if (typeof header === "number") return header;
    return loadExecutable(p, path, header);
  }

  /**
   * Runs several threads' operation lists interleaved on the machine's CPUs
   * (kernel/sched.ts): round-robin by default, or `{ schedule: { kind:
   * "random", seed } }`, or an explicit order. The same machine, programs
   * and schedule give the same steps and the same bytes. Throws RangeError
   * on a bad schedule or a program whose thread has ended.
   */
  run(programs: readonly Program[], opts: RunOptions = {}): RunResult {
    return this.kernel.sched.run(programs, opts);
  }

  /**
   * A teaching address space (kernel/mm/mmu_teach.ts): a small MMU of a
   * textbook geometry ("ostep-multilevel", "ostep-16k", or a
   * {@link TeachGeometry} such as linearTeachGeometry's) whose memory and
   * tables are frames of this machine's RAM, taken with alloc_pages on first
   * write. Its checker runs in `m.check()` (also as `m.check("teach")`)
   * until `destroy()`, which gives every frame back. Processes are not
   * affected: they keep 4 KiB pages. Throws RangeError on an unknown name or
   * a geometry that does not add up.
   */
  teach(opts: { geometry: TeachGeometryName | TeachGeometry }): TeachSpace {
    const g = typeof opts.geometry === "string" ? TEACH_GEOMETRIES[opts.geometry] : opts.geometry;
    if (g === undefined) {
      throw new RangeError(`teach: no geometry named '${String(opts.geometry)}' (have ${Object.keys(TEACH_GEOMETRIES).join(", ")})`);
    }
    return new TeachSpace(this.kernel, g);
  }

  /** Live processes, in pid order. */
  processes(): Process[] {
    return this.kernel.tasks.list();
  }

  /** A JSON-able snapshot of every counter, by subsystem. */
  stats(): Record<string, unknown> {
    const out: Record<string, unknown> = { ramBytes: this.config.ramBytes, seed: this.config.seed };
    for (const [name, get] of this.kernel.statsSources) out[name] = get();
    out.clock = { ns: this.clock.now(), effectiveAccessNs: this.clock.effectiveAccessNs(), kinds: this.clock.breakdown() };
    return out;
  }

  /**
   * Runs every invariant checker (or only the one named `only`, e.g. "buddy");
   * throws InvariantViolation at the first broken invariant.
   */
  check(only?: string): void {
    this.kernel.check(only);
  }
}
