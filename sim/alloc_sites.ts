/**
 * Allocation sites: `m.allocSites`. Once enabled, allocations are tagged
 * with their call site (an explicit label where the caller gave one, as
 * kmalloc's `caller`; else the first frame of the JS stack outside memsim's
 * kernel, userspace and this machinery) and counted per site, for the
 * reports of alloc_reports.ts (heaptrack's top sites, LeakSanitizer's leak
 * report at process exit), page_owner and a kmemleak scan.
 *
 * What is tagged: the user malloc family (through the kernel's watch of each
 * process's libc, sim/malloc_watch.ts: one flag test per call), kmalloc,
 * kmem_cache_alloc, vmalloc and alloc_pages (from the event stream: while tracking is
 * off nobody listens, so those paths pay nothing at all).
 *
 * Sampling as tcmalloc and jemalloc do: one allocation is recorded every N
 * bytes on average, the gap drawn from an exponential distribution with
 * mean N (seeded from the machine's seed), so large allocations are almost
 * always seen and small ones in proportion. N = 1 records every allocation.
 * Words: site = a call-site label; record = one sampled live allocation.
 */

import type { EventHandler, EventKind } from "../kernel/events_types.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { Prandom } from "../kernel/lib/random.ts";
import { SP_OWNER } from "../kernel/mm/memmap.ts";
import type { PageOwnerRecord } from "../kernel/mm/page_owner.ts";
import { heaptrackReport, indirectlyLeaked, type LeakedBlock, leakSanitizerReport } from "./alloc_reports.ts";
import type { MachineEvents } from "./events.ts";
import { forgetBlockStores } from "./false_sharing.ts";

/** How to track. */
export interface AllocSitesOptions {
  /** One sample per this many bytes on average; 1 tracks every allocation (default 1). */
  sampleBytes?: number;
  /** Which allocations: the user malloc family, the kernel's, or both (default both). */
  scope?: "user" | "kernel" | "all";
}

/** Counters of one site. */
export interface SiteStats {
  readonly site: string;
  /** Where the allocations come from: "malloc", "kmalloc", "kmem_cache_alloc", "vmalloc", "alloc_pages". */
  readonly fn: string;
  calls: number;
  bytes: number;
  liveCount: number;
  liveBytes: number;
  peakBytes: number;
  /** Left allocated when their process exited. */
  leakedCount: number;
  leakedBytes: number;
}

/** One sampled live allocation. */
export interface SiteRecord {
  readonly site: number;
  readonly size: number;
  readonly pid: number;
  readonly comm: string;
  readonly ts: number;
  /** The CPU the allocating thread ran on (records of page blocks have none). */
  readonly cpu?: number;
  /**
   * A user block only: the CPU that allocated the block last at this
   * address, when that block was freed and this one, made on another CPU,
   * reuses its address; else -1 (the false-sharing report's passive case).
   */
  readonly reusedFrom?: number;
}

/** A process's leak report, made when it exited. */
export interface LeakReport {
  readonly pid: number;
  readonly comm: string;
  readonly text: string;
}

/** The hook the malloc watch calls: `user` is the one flag tested on the libc path. */
export interface UserSiteHook {
  readonly user: boolean;
  userAlloc(pid: number, p: number, n: number): void;
  userFree(pid: number, p: number): void;
}

/** A hook that never tracks (a machine without allocSites, a libc without a kernel). */
export const NO_SITES: UserSiteHook = { user: false, userAlloc: () => {}, userFree: () => {} };

const OWN_FILES =
  /[\\/](kernel|userspace)[\\/]|[\\/]sim[\\/](alloc_sites|alloc_reports|events|malloc_watch|libc_attach)\.ts|node:|node_modules/;

/** V8's structured stack frames (the CallSite API), as much of them as a site needs. */
interface CallSite {
  getFileName(): string | null | undefined;
  getLineNumber(): number | null;
  getColumnNumber(): number | null;
}

const asFrames = (_e: Error, frames: CallSite[]): CallSite[] => frames;
const FRAMES = 40;
/** Site text by the generated code's file:line:column of its frame. */
const siteCache = new Map<string, string>();

/** The stack above stackSite: structured frames, or (prepare undefined) the text as the host formats it, source maps applied. */
function capture(prepare: typeof Error.prepareStackTrace | undefined): unknown {
  const limit = Error.stackTraceLimit;
  const old = Error.prepareStackTrace;
  Error.stackTraceLimit = FRAMES;
  if (prepare !== undefined) Error.prepareStackTrace = prepare;
  const holder = { stack: undefined as unknown };
  Error.captureStackTrace(holder, stackSite);
  const stack = holder.stack;
  Error.prepareStackTrace = old;
  Error.stackTraceLimit = limit;
  return stack;
}

/** Frame `k` of the formatted stack as "fn (path:line)". */
function frameText(root: string, k: number): string {
  const line = String(capture(undefined)).split("\n").slice(1)[k] ?? "";
  const m = /^\s*at (?:(.*?) \()?(.*?):(\d+):\d+\)?$/.exec(line);
  if (m === null) return "<unknown>";
  const file = (m[2] as string).replace(/^file:\/\//, "").replace(root, "");
  return `${m[1] ?? "<anonymous>"} (${file}:${m[3]})`;
}

/**
 * The caller's frame: the first stack frame outside memsim's own layers, as
 * "fn (path:line)" with `root` stripped from the path. The frame is found
 * in V8's structured frames; its text (with the source map's line) is
 * formatted once per code location and cached.
 */
export function stackSite(root: string): string {
  const frames = capture(asFrames as typeof Error.prepareStackTrace) as CallSite[];
  for (let k = 0; k < frames.length; k++) {
    const f = frames[k] as CallSite;
    const file = f.getFileName() ?? "";
    if (file === "" || OWN_FILES.test(file)) continue;
    const key = `${file}:${f.getLineNumber()}:${f.getColumnNumber()}`;
    let site = siteCache.get(key);
    if (site === undefined) {
      site = frameText(root, k);
      siteCache.set(key, site);
    }
    return site;
  }
  return "<unknown>";
}

/** The tracker of one machine. */
export class AllocSites implements UserSiteHook {
  /** True while user allocations are tracked: the flag the malloc watch tests. */
  user = false;
  private kernelOn = false;
  private sampleBytes = 1;
  private untilSample = 0;
  private readonly rng: Prandom;
  readonly sites: SiteStats[] = [];
  private readonly ids = new Map<string, number>();
  /** Live sampled user blocks, per pid. */
  readonly userLive = new Map<number, Map<number, SiteRecord>>();
  /** Live sampled kmalloc and kmem_cache objects and vmalloc areas, by address. */
  readonly kernelLive = new Map<number, SiteRecord>();
  /** Per pid: the CPU that allocated the last freed user block at each address (forgotten when reused). */
  private readonly freedCpu = new Map<number, Map<number, number>>();
  /** Live sampled page blocks, by pfn. */
  readonly pages = new Map<number, PageOwnerRecord>();
  /** Leak reports of the processes that exited while tracking, oldest first. */
  readonly leakReports: LeakReport[] = [];
  /** Called with each leak report as a process exits (the CLI prints them). */
  onLeakReport: ((r: LeakReport) => void) | null = null;

  constructor(
    private readonly kernel: Kernel,
    private readonly events: MachineEvents,
    seed: number,
    private readonly root: string,
  ) {
    this.rng = new Prandom((seed ^ 0x5157e5) >>> 0);
  }

  /**
   * Starts tracking. Throws RangeError for a sampleBytes that is not an
   * integer >= 1 or a scope that is not user, kernel or all; Error when
   * tracking is on already.
   */
  enable(opts: AllocSitesOptions = {}): void {
    const n = opts.sampleBytes ?? 1;
    const scope = opts.scope ?? "all";
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`allocSites: sampleBytes must be an integer >= 1, got ${n}`);
    if (scope !== "user" && scope !== "kernel" && scope !== "all")
      throw new RangeError(`allocSites: scope must be user, kernel or all, got ${String(scope)}`);
    if (this.user || this.kernelOn) throw new Error("allocSites: tracking is on already");
    this.sampleBytes = n;
    this.untilSample = this.nextGap();
    this.user = scope !== "kernel";
    this.kernelOn = scope !== "user";
    if (this.kernelOn) this.listenKernel();
    if (this.user) this.listenExits();
  }

  /**
   * Stops tracking: the listeners go and the user flag is cleared, so the
   * machine costs what it did before enable (the records stay for the reports).
   */
  disable(): void {
    for (const [kind, fn] of this.listeners) this.events.off(kind, fn as EventHandler<typeof kind>);
    this.listeners.length = 0;
    this.user = false;
    this.kernelOn = false;
  }

  private readonly listeners: Array<[EventKind, unknown]> = [];

  private readonly listen = <K extends EventKind>(kind: K, fn: EventHandler<K>): void => {
    this.events.on(kind, fn);
    this.listeners.push([kind, fn]);
  };

  /** The sampling interval in bytes (1: every allocation). */
  get interval(): number {
    return this.sampleBytes;
  }

  private nextGap(): number {
    if (this.sampleBytes === 1) return 0;
    return Math.ceil(-Math.log(1 - this.rng.nextFloat()) * this.sampleBytes);
  }

  /** True when an allocation of `n` bytes is sampled. */
  private sample(n: number): boolean {
    if (this.sampleBytes === 1) return true;
    this.untilSample -= Math.max(n, 1);
    if (this.untilSample > 0) return false;
    this.untilSample = this.nextGap();
    return true;
  }

  /** The id of `site` for allocations of `fn`, made on first use. */
  siteId(site: string, fn: string): number {
    const key = `${fn}\u0000${site}`;
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.sites.length;
      this.sites.push({ site, fn, calls: 0, bytes: 0, liveCount: 0, liveBytes: 0, peakBytes: 0, leakedCount: 0, leakedBytes: 0 });
      this.ids.set(key, id);
    }
    return id;
  }

  /** Sampled live bytes of every site now, and the most seen. */
  liveBytes = 0;
  peakBytes = 0;

  private count(id: number, n: number): void {
    this.liveBytes += n;
    if (this.liveBytes > this.peakBytes) this.peakBytes = this.liveBytes;
    const s = this.sites[id] as SiteStats;
    s.calls++;
    s.bytes += n;
    s.liveCount++;
    s.liveBytes += n;
    if (s.liveBytes > s.peakBytes) s.peakBytes = s.liveBytes;
  }

  private uncount(r: SiteRecord): void {
    this.liveBytes -= r.size;
    const s = this.sites[r.site] as SiteStats;
    s.liveCount--;
    s.liveBytes -= r.size;
  }

  /** A record on behalf of the task events are stamped with, or of process `pid`. */
  private leak(r: SiteRecord): void {
    this.uncount(r);
    const s = this.sites[r.site] as SiteStats;
    s.leakedCount++;
    s.leakedBytes += r.size;
  }

  private record(site: number, size: number, pid = -1): SiteRecord {
    const bus = this.kernel.events;
    this.count(site, size);
    const comm = pid < 0 || pid === bus.pid ? bus.comm : (this.kernel.tasks.list().find((t) => t.pid === pid)?.comm ?? "?");
    return { site, size, pid: pid < 0 ? bus.pid : pid, comm, ts: bus.now(), cpu: this.kernel.smp.current };
  }

  userAlloc(pid: number, p: number, n: number): void {
    forgetBlockStores(this.kernel, pid, p, n);
    if (!this.sample(n)) return;
    let live = this.userLive.get(pid);
    if (live === undefined) this.userLive.set(pid, (live = new Map()));
    const r = this.record(this.siteId(stackSite(this.root), "malloc"), n, pid);
    const freed = this.freedCpu.get(pid);
    const before = freed?.get(p);
    freed?.delete(p);
    live.set(p, { ...r, reusedFrom: before !== undefined && before !== r.cpu ? before : -1 });
  }

  userFree(pid: number, p: number): void {
    const live = this.userLive.get(pid);
    const r = live?.get(p);
    if (r === undefined) return;
    live?.delete(p);
    let freed = this.freedCpu.get(pid);
    if (freed === undefined) this.freedCpu.set(pid, (freed = new Map()));
    freed.set(p, r.cpu ?? 0);
    this.uncount(r);
  }

  private kernelAlloc(fn: string, label: string, ptr: number, n: number): void {
    if (ptr === 0 || !this.sample(n)) return;
    const site = this.siteId(label !== "" ? label : stackSite(this.root), fn);
    this.kernelLive.set(ptr, this.record(site, n));
  }

  private kernelFree(ptr: number): void {
    const r = this.kernelLive.get(ptr);
    if (r === undefined) return;
    this.kernelLive.delete(ptr);
    this.uncount(r);
  }

  private listenKernel(): void {
    const ev = this.listen;
    ev("kmalloc", (e) => this.kernelAlloc("kmalloc", e.call_site, e.ptr, e.bytes_req));
    ev("kmem_cache_alloc", (e) => this.kernelAlloc("kmem_cache_alloc", e.call_site, e.ptr, e.bytes_req));
    ev("kfree", (e) => this.kernelFree(e.ptr));
    ev("kmem_cache_free", (e) => this.kernelFree(e.ptr));
    // A vmalloc area counts its asked size; its pages also come through mm_page_alloc (page_owner), as on Linux.
    ev("vmalloc", (e) => this.kernelAlloc("vmalloc", e.call_site, e.addr, e.size));
    ev("vfree", (e) => this.kernelFree(e.addr));
    ev("mm_page_alloc", (e) => {
      if (e.pfn < 0 || !this.sample(4096 << e.order)) return;
      const id = this.siteId(stackSite(this.root), "alloc_pages");
      const r = this.record(id, 4096 << e.order);
      this.kernel.memmap.setUserWord(e.pfn, SP_OWNER, id + 1);
      const rec = { pfn: e.pfn, order: e.order, gfp: e.gfp_flags, migratetype: e.migratetype, pid: r.pid, comm: r.comm, ts: r.ts };
      this.pages.set(e.pfn, { ...rec, handle: id + 1, site: (this.sites[id] as SiteStats).site });
    });
    ev("mm_page_free", (e) => {
      const r = this.pages.get(e.pfn);
      if (r === undefined) return;
      this.pages.delete(e.pfn);
      this.uncount({ site: r.handle - 1, size: 4096 << r.order, pid: r.pid, comm: r.comm, ts: r.ts });
    });
  }

  /** heaptrack_print's summary of the sites so far (alloc_reports.ts), `limit` sites per section (default 10). */
  report(limit = 10): string {
    return heaptrackReport(this.sites, { limit, peak: this.peakBytes, interval: this.sampleBytes });
  }

  /**
   * LeakSanitizer's report of the sampled blocks process `pid` holds now
   * (at its exit: what it leaked); "" when it holds none. Reads the blocks
   * through the process's memory to tell indirect leaks from direct ones.
   */
  leakReport(pid: number): string {
    const live = this.userLive.get(pid);
    if (live === undefined || live.size === 0) return "";
    const blocks: LeakedBlock[] = [...live].map(([ptr, rec]) => ({ ptr, rec }));
    const proc = this.kernel.tasks.list().find((t) => t.pid === pid);
    const indirect = proc === undefined ? new Set<number>() : indirectlyLeaked(blocks, (va, len) => proc.mem.read(va, len));
    return leakSanitizerReport(pid, blocks, this.sites, indirect, this.sampleBytes);
  }

  private listenExits(): void {
    this.listen("sched_process_fork", (e) => {
      const parent = this.userLive.get(e.parent_pid);
      if (parent === undefined) return;
      const child = new Map<number, SiteRecord>();
      for (const [p, r] of parent) {
        child.set(p, r);
        this.count(r.site, r.size);
      }
      this.userLive.set(e.child_pid, child);
    });
    this.listen("sched_process_exit", (e) => {
      const text = this.leakReport(e.pid);
      const live = this.userLive.get(e.pid);
      if (live !== undefined) for (const r of live.values()) this.leak(r);
      this.userLive.delete(e.pid);
      if (text === "") return;
      const r = { pid: e.pid, comm: e.comm, text };
      this.leakReports.push(r);
      this.onLeakReport?.(r);
    });
  }
}
