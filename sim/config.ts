/**
 * Boot options: what `Machine.boot()` accepts, their defaults, and the checks
 * that turn bad input into a clear error instead of a broken machine.
 */

import {
  CACHE_CLOCK_KINDS,
  CLOCK_KINDS,
  type ClockCosts,
  type ClockKind,
  DEFAULT_CLOCK_COSTS,
  NUMA_CLOCK_KINDS,
  SMP_CLOCK_KINDS,
} from "../kernel/clock.ts";
import type { FsOptions } from "../kernel/fs/fs_init.ts";
import { DEFAULT_DISK_BYTES, type KernelLayers } from "../kernel/main.ts";
import { type CacheConfig, type CacheShape, DEFAULT_CACHE } from "../kernel/mm/cache_model.ts";
import type { NumaSpec } from "../kernel/mm/numa.ts";
import { MAX_ORDER_LIMIT } from "../kernel/mm/page_alloc.ts";
import { type MmuName, mmuGeometry } from "../kernel/mm/pgtable_geometry.ts";
import { TEACH_GEOMETRIES } from "../kernel/mm/pgtable_teach.ts";
import { MAX_RAM_BYTES, MIN_RAM_BYTES } from "../kernel/mm/physmem.ts";
import { DEFAULT_TLB, type TlbConfig } from "../kernel/mm/tlb.ts";
import type { KLogger } from "../kernel/printk.ts";
import { silentLogger } from "../kernel/printk.ts";
import { MAX_CPUS } from "../kernel/smp.ts";
import type { MallocLayer } from "../userspace/libc/malloc_layer.ts";
import { type NumaOptions, resolveNuma } from "./config_numa.ts";
import { readHostTree } from "./fs_host.ts";

/** Overcommit policy (vm.overcommit_memory and vm.overcommit_ratio). */
export interface OvercommitOptions {
  mode: 0 | 1 | 2;
  ratio: number;
}

/** What a machine is booted with. Every field is optional. */
export interface BootOptions {
  /** RAM size in bytes: a multiple of 4096 from 1 MiB to 4 GiB. Default 64 MiB. */
  ramBytes?: number;
  /** Seed of every random choice. Default 1. */
  seed?: number;
  /**
   * 0 none, 1 cheap O(1) asserts (default), 2 checkers at syscall exit and
   * page poisoning, 3 checkers after every operation. See the README for what
   * each level costs.
   */
  debugVm?: number;
  /**
   * Linux page_poison=1: fill every freed page with 0xaa (PAGE_POISON), so a
   * use after free reads garbage that stands out. Costs a 4 KiB fill per freed
   * page and keeps frees off the per-CPU fast path. Default: on when
   * debugVm >= 2, else off (as Linux, which poisons only when asked).
   */
  pagePoison?: boolean;
  /** Linux slab_debug letters, e.g. "FZPU". Default "". */
  slubDebug?: string;
  overcommit?: Partial<OvercommitOptions>;
  /** Swap size in bytes counted in CommitLimit. Default 0. */
  swapBytes?: number;
  /** vm.max_map_count. Default 65530. */
  maxMapCount?: number;
  /** /sys/kernel/mm/transparent_hugepage/enabled: "always", "madvise" (default) or "never". */
  thp?: "always" | "madvise" | "never";
  /**
   * vm.nr_hugepages at boot: 2 MiB pages set aside for MAP_HUGETLB
   * (kernel/mm/hugetlb.ts), 0 up to RAM / 2 MiB, and needs maxOrder >= 9.
   * The pool gets as many as the buddy allocator has (HugePages_Total). Default 0.
   */
  hugePages?: number;
  /** Largest buddy order (MAX_PAGE_ORDER), 0..12. Default 10. */
  maxOrder?: number;
  /** Per-CPU list batch in pages: 0 = Linux's size for the zone (default), -1 = no per-CPU lists. */
  pcpBatch?: number;
  /** TLB shape: entries and ways, powers of two (ways <= entries). Default 256 entries, 4-way. */
  tlb?: Partial<TlbConfig>;
  /**
   * The MMU. `geometry`: the format of process page tables
   * (kernel/mm/pgtable_geometry.ts), "x86-64" (default, 4 levels) or "sv39"
   * (RISC-V, 3 levels, xv6-riscv's); a string alone is the geometry.
   * `observeAccesses: true` is the every-access mode: each user load and
   * store takes the slow path and reports its page to the replacement
   * policy (`layers.replacement`), so LRU is exact; it costs each user
   * access a translation. Default off (no cost).
   */
  mmu?: MmuName | { geometry?: MmuName; observeAccesses?: boolean };
  /** CPUs, 1..64, each with its own TLB (kernel/smp.ts). Default 1. */
  cpus?: number;
  /**
   * NUMA nodes (kernel/mm/numa.md): RAM cut into this many equal nodes, the
   * CPUs dealt out in blocks; distances 10 local, 20 remote. 1..8, default 1.
   */
  numaNodes?: number;
  /** NUMA nodes one by one (sim/config_numa.ts): RAM and CPUs are then the nodes' sums. */
  numa?: NumaOptions;
  /**
   * The data-cache model (kernel/mm/cache_model.ts): an L1 per CPU and a
   * shared LLC, `{ size, ways }` each in bytes (powers of two), with MESI
   * coherence and the false-sharing detector, fed by every user load and
   * store through the MMU's every-access path. `true` is the default shape
   * (32 KiB 8-way L1, 2 MiB 16-way LLC). Default off (no cost).
   */
  cache?: boolean | { l1?: Partial<CacheShape>; llc?: Partial<CacheShape> };
  /**
   * What each step costs on the cost clock (`m.clock`), in whole simulated
   * nanoseconds: access, tlbMiss, fault, swapIn, swapOut, diskRead, diskWrite. Absent kinds keep
   * the defaults (1, 100, 1000, 100000, 100000, 100000, 100000).
   */
  clock?: Partial<ClockCosts>;
  /**
   * The disk: `sizeBytes` (a multiple of 4096, 64 KiB to 1 GiB; default 8 MiB)
   * and `from`, a host folder whose files are copied onto it at boot.
   */
  fs?: { sizeBytes?: number; from?: string };
  /** A pino logger; silent when absent. */
  log?: KLogger;
  /** Layers that replace memsim's own (kernel/LAYERS.md); each entry is optional. */
  layers?: Layers;
  /**
   * Allocation sites from boot (`m.allocSites`, sim/alloc_sites.ts): one
   * sample per `sampleBytes` bytes (1: every allocation), of the user malloc
   * family, the kernel's allocations or both. Default: off.
   */
  allocSites?: { sampleBytes?: number; scope?: "user" | "kernel" | "all" } | null;
}

/** The layers a lab may plug in at boot: the kernel's, and the malloc behind every process's libc. */
export interface Layers extends KernelLayers {
  /** The factory of every process's libc heap (userspace/libc/malloc_layer.ts). Default: memsim's malloc. */
  readonly malloc?: MallocLayer;
}

/** Boot options with every default filled in. */
export interface ResolvedConfig {
  ramBytes: number;
  seed: number;
  debugVm: number;
  pagePoison: boolean;
  slubDebug: string;
  overcommit: OvercommitOptions;
  swapBytes: number;
  maxMapCount: number;
  thp: "always" | "madvise" | "never";
  hugePages: number;
  maxOrder: number;
  pcpBatch: number;
  tlb: TlbConfig;
  mmu: { geometry: MmuName; observeAccesses: boolean };
  cpus: number;
  /** The nodes, or null for one node (the machine without NUMA). */
  numa: NumaSpec | null;
  cache: CacheConfig | null;
  clock: ClockCosts;
  fs: FsOptions;
  log: KLogger;
  layers: Layers;
  allocSites: { sampleBytes: number; scope: "user" | "kernel" | "all" } | null;
}

const KNOWN = new Set([
  "ramBytes",
  "seed",
  "debugVm",
  "pagePoison",
  "slubDebug",
  "overcommit",
  "swapBytes",
  "maxMapCount",
  "thp",
  "hugePages",
  "maxOrder",
  "pcpBatch",
  "tlb",
  "mmu",
  "cpus",
  "numaNodes",
  "numa",
  "cache",
  "clock",
  "fs",
  "log",
  "layers",
  "allocSites",
]);

/** Every layer name and the kind of value it takes. */
const LAYER_NAMES = ["frames", "slab", "pageFault", "forkCopy", "onSpawn", "onExit", "replacement", "malloc"] as const;

/** Bad boot options. The message names the option and what it must be. */
export class ConfigError extends RangeError {
  override readonly name = "ConfigError";
}

function intIn(name: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    throw new ConfigError(`Machine.boot: ${name} must be an integer from ${lo} to ${hi}, got ${String(v)}`);
  }
  return v;
}

/** Fills defaults and validates. Throws ConfigError naming the first bad option. */
export function resolveConfig(opts: BootOptions = {}): ResolvedConfig {
  for (const k of Object.keys(opts)) {
    if (!KNOWN.has(k)) throw new ConfigError(`Machine.boot: unknown option '${k}'`);
  }
  const ramBytes = opts.ramBytes ?? 64 << 20;
  if (
    typeof ramBytes !== "number" ||
    !Number.isInteger(ramBytes) ||
    ramBytes < MIN_RAM_BYTES ||
    ramBytes > MAX_RAM_BYTES ||
    ramBytes % 4096 !== 0
  ) {
    throw new ConfigError(
      `Machine.boot: ramBytes must be a multiple of 4096 from 1 MiB (1048576) to 4 GiB (4294967296), got ${String(ramBytes)}`,
    );
  }
  const cpus = intIn("cpus", opts.cpus ?? 1, 1, MAX_CPUS);
  const nodes = resolveNuma(opts.numaNodes, opts.numa, ramBytes, cpus, { ram: opts.ramBytes !== undefined, cpus: opts.cpus !== undefined });
  const oc = opts.overcommit ?? {};
  const mode = intIn("overcommit.mode", oc.mode ?? 0, 0, 2) as 0 | 1 | 2;
  const slubDebug = opts.slubDebug ?? "";
  if (typeof slubDebug !== "string" || !/^[-FZPUTAOfzputao]*$/.test(slubDebug)) {
    throw new ConfigError(`Machine.boot: slubDebug takes Linux slab_debug letters (F, Z, P, U, T, A, O or -), got '${String(slubDebug)}'`);
  }
  const debugVm = intIn("debugVm", opts.debugVm ?? 1, 0, 3);
  const pagePoison = opts.pagePoison ?? debugVm >= 2;
  if (typeof pagePoison !== "boolean") throw new ConfigError(`Machine.boot: pagePoison must be true or false, got ${String(pagePoison)}`);
  return {
    ramBytes: nodes.ramBytes,
    seed: intIn("seed", opts.seed ?? 1, 0, 2 ** 32 - 1),
    debugVm,
    pagePoison,
    slubDebug: slubDebug.toUpperCase(),
    overcommit: { mode, ratio: intIn("overcommit.ratio", oc.ratio ?? 50, 0, 1_000_000) },
    swapBytes: intIn("swapBytes", opts.swapBytes ?? 0, 0, 2 ** 50),
    maxMapCount: intIn("maxMapCount", opts.maxMapCount ?? 65530, 1, 2 ** 31 - 1),
    thp: resolveThp(opts.thp ?? (noHugeLeaves(opts) ? "never" : "madvise")),
    hugePages: resolveHugePages(opts, nodes.ramBytes),
    maxOrder: intIn("maxOrder", opts.maxOrder ?? 10, 0, MAX_ORDER_LIMIT),
    pcpBatch: intIn("pcpBatch", opts.pcpBatch ?? 0, -1, 4096),
    tlb: resolveTlb(opts.tlb ?? {}),
    mmu: resolveMmu(opts.mmu ?? {}),
    cpus: nodes.cpus,
    numa: nodes.numa,
    cache: resolveCache(opts.cache ?? false),
    clock: resolveClock(opts.clock ?? {}),
    fs: resolveFs(opts.fs ?? {}),
    log: opts.log ?? silentLogger,
    layers: resolveLayers(opts.layers),
    allocSites: resolveAllocSites(opts.allocSites),
  };
}

/** True when the boot geometry makes no huge leaves (x86-32): THP and hugetlb are refused. */
function noHugeLeaves(opts: BootOptions): boolean {
  const m = opts.mmu;
  const name = typeof m === "object" && m !== null ? m.geometry : m;
  return name === "x86-32";
}

/** Checks hugePages: an integer from 0 to RAM / 2 MiB, none without order-9 blocks (maxOrder below 9), none on x86-32. */
function resolveHugePages(opts: BootOptions, ramBytes: number): number {
  if (noHugeLeaves(opts) && (opts.thp === "always" || opts.thp === "madvise"))
    throw new ConfigError(`Machine.boot: thp needs huge pages, which the x86-32 geometry does not have (use thp: "never")`);
  if (noHugeLeaves(opts) && (opts.hugePages ?? 0) !== 0)
    throw new ConfigError(`Machine.boot: hugePages needs huge pages, which the x86-32 geometry does not have`);
  const n = intIn("hugePages", opts.hugePages ?? 0, 0, Math.floor(ramBytes / (2 * 1024 * 1024)));
  if (n > 0 && (opts.maxOrder ?? 10) < 9)
    throw new ConfigError(`Machine.boot: hugePages needs maxOrder >= 9, got maxOrder ${String(opts.maxOrder)}`);
  return n;
}

/** Checks allocSites: sampleBytes an integer >= 1, scope user, kernel or all. Throws ConfigError naming the bad field. */
function resolveAllocSites(a: BootOptions["allocSites"]): ResolvedConfig["allocSites"] {
  if (a === undefined || a === null) return null;
  const sampleBytes = intIn("allocSites.sampleBytes", a.sampleBytes ?? 1, 1, 2 ** 40);
  const scope = a.scope ?? "all";
  if (scope !== "user" && scope !== "kernel" && scope !== "all")
    throw new ConfigError(`Machine.boot: allocSites.scope must be user, kernel or all, got ${String(scope)}`);
  return { sampleBytes, scope };
}

/** The MMU geometry. Throws ConfigError unless memsim has it (a teaching geometry's name says where it lives). */
function resolveGeometry(v: unknown): MmuName {
  if (typeof v === "string" && mmuGeometry(v) !== null) return v as MmuName;
  if (typeof v === "string" && Object.hasOwn(TEACH_GEOMETRIES, v))
    throw new ConfigError(
      `Machine.boot: "${v}" is a teaching geometry, not a process MMU (processes keep 4 KiB pages): make one inside a machine with m.teach({ geometry: "${v}" })`,
    );
  throw new ConfigError(`Machine.boot: mmu geometry must be "x86-64", "sv39" or "x86-32", got ${String(v)}`);
}

/** The THP mode. Throws ConfigError unless it is one of the three. */
function resolveThp(v: unknown): "always" | "madvise" | "never" {
  if (v === "always" || v === "madvise" || v === "never") return v;
  throw new ConfigError(`Machine.boot: thp must be "always", "madvise" or "never", got ${String(v)}`);
}

/** Checks the layers object: known names, each a function. Throws ConfigError naming the bad entry. */
function resolveLayers(layers: unknown): Layers {
  if (layers === undefined) return {};
  if (typeof layers !== "object" || layers === null) throw new ConfigError(`Machine.boot: layers must be an object, got ${String(layers)}`);
  for (const [k, v] of Object.entries(layers)) {
    if (!(LAYER_NAMES as readonly string[]).includes(k)) {
      throw new ConfigError(`Machine.boot: unknown layer '${k}' (layers are ${LAYER_NAMES.join(", ")})`);
    }
    if (v !== undefined && typeof v !== "function") throw new ConfigError(`Machine.boot: layers.${k} must be a function, got ${typeof v}`);
  }
  return layers as Layers;
}

/** The cache option: null when off, else both shapes with defaults filled. Throws ConfigError on a bad shape. */
function resolveCache(o: unknown): CacheConfig | null {
  if (o === false) return null;
  if (o === true) return DEFAULT_CACHE;
  if (typeof o !== "object" || o === null)
    throw new ConfigError(`Machine.boot: cache must be true, false or { l1, llc }, got ${String(o)}`);
  const given = o as Record<string, unknown>;
  for (const k of Object.keys(given)) if (k !== "l1" && k !== "llc") throw new ConfigError(`Machine.boot: unknown option 'cache.${k}'`);
  const shape = (name: "l1" | "llc"): CacheShape => {
    const g = (given[name] ?? {}) as Partial<CacheShape>;
    const size = intIn(`cache.${name}.size`, g.size ?? DEFAULT_CACHE[name].size, 64, 2 ** 30);
    const ways = intIn(`cache.${name}.ways`, g.ways ?? DEFAULT_CACHE[name].ways, 1, 1024);
    const pow2 = (n: number) => (n & (n - 1)) === 0;
    if (!pow2(size) || !pow2(ways) || size < 64 * ways)
      throw new ConfigError(`Machine.boot: cache.${name} needs power-of-two size and ways with size >= 64 x ways, got ${size}/${ways}`);
    return { size, ways };
  };
  return { l1: shape("l1"), llc: shape("llc") };
}

/** Clock costs: known kinds, whole nanoseconds from 0 to 10^9. Throws ConfigError naming the kind. */
function resolveClock(c: unknown): ClockCosts {
  if (typeof c !== "object" || c === null) throw new ConfigError(`Machine.boot: clock must be an object of costs, got ${String(c)}`);
  const given = c as Record<string, unknown>;
  const all: readonly ClockKind[] = [...CLOCK_KINDS, ...SMP_CLOCK_KINDS, ...CACHE_CLOCK_KINDS, ...NUMA_CLOCK_KINDS];
  for (const k of Object.keys(given)) {
    if (!(all as readonly string[]).includes(k)) {
      throw new ConfigError(`Machine.boot: unknown clock cost '${k}' (kinds are ${all.join(", ")})`);
    }
  }
  const out = { ...DEFAULT_CLOCK_COSTS };
  for (const k of all) out[k] = intIn(`clock.${k}`, given[k] ?? DEFAULT_CLOCK_COSTS[k], 0, 1e9);
  return out;
}

/** The disk: a page multiple from 64 KiB to 1 GiB, and the host folder read now. Throws ConfigError naming the field. */
function resolveFs(f: unknown): FsOptions {
  if (typeof f !== "object" || f === null) throw new ConfigError(`Machine.boot: fs must be an object, got ${String(f)}`);
  const given = f as Record<string, unknown>;
  for (const k of Object.keys(given)) {
    if (k !== "sizeBytes" && k !== "from") throw new ConfigError(`Machine.boot: unknown fs option '${k}' (options are sizeBytes, from)`);
  }
  const diskBytes = intIn("fs.sizeBytes", given.sizeBytes ?? DEFAULT_DISK_BYTES, 64 << 10, 1 << 30);
  if (diskBytes % 4096 !== 0) throw new ConfigError(`Machine.boot: fs.sizeBytes must be a multiple of 4096, got ${diskBytes}`);
  const from = given.from;
  if (from === undefined) return { diskBytes, files: [] };
  if (typeof from !== "string") throw new ConfigError(`Machine.boot: fs.from must be a folder path, got ${String(from)}`);
  try {
    return { diskBytes, files: readHostTree(from) };
  } catch (e) {
    throw new ConfigError(`Machine.boot: fs.from: cannot read '${from}': ${(e as Error).message}`);
  }
}

function isPow2(v: number): boolean {
  return (v & (v - 1)) === 0;
}

/** TLB shape: two powers of two, ways <= entries <= 65536. Throws ConfigError naming the field. */
function resolveTlb(t: Partial<TlbConfig>): TlbConfig {
  const entries = intIn("tlb.entries", t.entries ?? DEFAULT_TLB.entries, 1, 65536);
  if (!isPow2(entries)) throw new ConfigError(`Machine.boot: tlb.entries must be a power of two, got ${entries}`);
  const ways = intIn("tlb.ways", t.ways ?? Math.min(DEFAULT_TLB.ways, entries), 1, entries);
  if (!isPow2(ways)) throw new ConfigError(`Machine.boot: tlb.ways must be a power of two, got ${ways}`);
  return { entries, ways };
}

function resolveMmu(o: MmuName | { geometry?: MmuName; observeAccesses?: boolean }): {
  geometry: MmuName;
  observeAccesses: boolean;
} {
  if (typeof o !== "object" || o === null) return { geometry: resolveGeometry(o), observeAccesses: false };
  for (const k of Object.keys(o))
    if (k !== "observeAccesses" && k !== "geometry") throw new ConfigError(`Machine.boot: unknown option 'mmu.${k}'`);
  const observeAccesses = o.observeAccesses ?? false;
  if (typeof observeAccesses !== "boolean")
    throw new ConfigError(`Machine.boot: mmu.observeAccesses must be true or false, got ${String(observeAccesses)}`);
  return { geometry: resolveGeometry(o.geometry ?? "x86-64"), observeAccesses };
}
