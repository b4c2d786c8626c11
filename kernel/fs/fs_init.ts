/**
 * Boot of the file layer: the disk, sfs, the page cache, the descriptor
 * tables' fork and exit hooks, the files a lab ships, and what the layer
 * registers (the fs and pagecache checkers, meminfo and vmstat lines, stats,
 * the clock's diskRead and diskWrite).
 */

import { errnoName } from "../errno.ts";
import type { Tasks } from "../fork.ts";
import { Prandom } from "../lib/random.ts";
import { FailPoint } from "../mm/fault_inject.ts";
import type { VmaObjects } from "../mm/filemap_fault.ts";
import type { PageAllocator } from "../mm/frames.ts";
import type { MemMap } from "../mm/memmap.ts";
import type { Memory } from "../mm/memory.ts";
import type { Migrate } from "../mm/migrate.ts";
import type { PhysMem } from "../mm/physmem.ts";
import { panic } from "../panic.ts";
import type { MeminfoValues } from "../proc/meminfo.ts";
import type { Registry } from "../registry.ts";
import { FileMmap } from "./file_mmap.ts";
import { checkFs, checkPageCache } from "./fs_check.ts";
import { exitFiles, forkFiles } from "./open.ts";
import { Vfs } from "./vfs.ts";

/** One file or directory shipped at boot (`Machine.boot({ fs: { from } })`); data null = a directory. */
export interface BootFile {
  readonly path: string;
  readonly data: Uint8Array | null;
}

/** The file layer's boot options. */
export interface FsOptions {
  /** Disk size in bytes (a multiple of 4096). */
  readonly diskBytes: number;
  /** Files to put on the fresh disk, parents before children. */
  readonly files: readonly BootFile[];
}

/** What the file layer is built on. */
export interface FsInitDeps {
  readonly phys: PhysMem;
  readonly memmap: MemMap;
  readonly pages: PageAllocator;
  readonly registry: Registry;
  readonly tasks: Tasks;
  /** The fault handler and the VMA object references, handed the file layer's mmap side. */
  readonly memory: Memory;
  readonly objects: VmaObjects;
  /** Page migration, handed the i_mmap walk and the cache's index so it can move page-cache pages. */
  readonly migrate: Migrate;
  readonly seed: number;
  /** The zones' low watermarks summed (MemAvailable keeps that much of the cache). */
  readonly wmarkLow: number;
}

/** Builds the file layer. Panics when a shipped file does not fit on the disk. */
export function fsInit(k: FsInitDeps, o: FsOptions): Vfs {
  // Its own generator: the kernel's forks keep their order (every other seeded choice is unchanged).
  const failBlock = new FailPoint("fail_block_alloc", new Prandom((k.seed ^ 0x5f5) >>> 0));
  const vfs = new Vfs({ phys: k.phys, memmap: k.memmap, pages: k.pages, failBlock, diskBytes: o.diskBytes });
  // Cache pages join the file LRU lists from the first one on (the shipped files' too).
  const fileLru = k.memory.reclaim?.file ?? null;
  vfs.cache.lru = fileLru;
  vfs.cache.reclaimPoint = k.memory.reclaim ?? null;
  for (const f of o.files) {
    const r = f.data === null ? vfs.hostMkdirs(f.path) : vfs.hostWriteFile(f.path, f.data);
    if (r < 0) panic(`fs_init: cannot ship ${f.path}: ${errnoName(r)}`);
  }
  vfs.cache.writebackAll();
  k.tasks.vfs = vfs;
  const mappings = new FileMmap(
    vfs,
    { mms: () => k.tasks.list().map((p) => p.mm), f: k.memory.vmas.f, zapRange: (mm, vma, s, e) => k.memory.zapRange(mm, vma, s, e) },
    k.memmap,
  );
  vfs.mappings = mappings;
  k.memory.file.files = mappings;
  k.objects.files = mappings;
  vfs.cache.beforeWriteback = (ino, first, last) => mappings.harvest(ino, first, last);
  if (fileLru !== null)
    fileLru.cache = {
      referenced: (pfn) => mappings.referenced(pfn),
      unmap: (pfn) => mappings.unmapPage(pfn),
      evict: (pfn, shadow) => vfs.cache.evict(pfn, shadow),
    };
  k.migrate.file = {
    countMappings: (pfn) => mappings.countMappings(pfn),
    moveMappings: (pfn, to) => mappings.moveMappings(pfn, to),
    replaceCachePage: (pfn, to) => vfs.cache.replacePage(pfn, to),
  };
  k.tasks.forkHooks.push((parent, child) => forkFiles(vfs, parent.pid, child.pid));
  k.tasks.exitHooks.push((p) => exitFiles(vfs, p.pid));
  const r = k.registry;
  r.checkers.push({ name: "fs", run: () => checkFs(vfs) });
  // The mapped files' references and i_mmap lists are part of the page cache's check (FILEMAP-1, FILEMAP-2).
  r.checkers.push({
    name: "pagecache",
    run: () => {
      checkPageCache(vfs);
      mappings.check();
    },
  });
  r.meminfoSources.push((v) => fsMeminfo(vfs, k.wmarkLow, v));
  r.vmstatSources.push((out) => {
    out.push(["nr_file_pages", vfs.cache.nrPages]);
    out.push(["nr_dirty", vfs.cache.nrDirty]);
    out.push(["nr_writeback", 0]);
    out.push(["pgpgin", vfs.cache.stats.pgpgin * 4]);
    out.push(["pgpgout", vfs.cache.stats.pgpgout * 4]);
  });
  r.statsSources.push(["fs", () => fsStats(vfs)]);
  r.clock.addCounter("diskRead", () => vfs.dev.reads);
  r.clock.addCounter("diskWrite", () => vfs.dev.writes);
  return vfs;
}

function fsMeminfo(vfs: Vfs, wmarkLow: number, v: MeminfoValues): void {
  const c = vfs.cache;
  // Every cached page is on a file list: what is not active is inactive.
  const active = c.nrActive();
  const inactive = c.nrPages - active;
  v.Buffers = 0;
  v.Cached = (v.Cached ?? 0) + c.nrPages * 4;
  v.Active = (v.Active ?? 0) + active * 4;
  v.Inactive = (v.Inactive ?? 0) + inactive * 4;
  v["Active(file)"] = active * 4;
  v["Inactive(file)"] = inactive * 4;
  v.Dirty = c.nrDirty * 4;
  v.Mapped = c.nrMapped * 4;
  v.Writeback = 0;
  v.MemAvailable = (v.MemAvailable ?? 0) + (c.nrPages - Math.min(Math.floor(c.nrPages / 2), wmarkLow)) * 4;
}

function fsStats(vfs: Vfs): unknown {
  return {
    diskBlocks: vfs.dev.nrBlocks,
    freeBlocks: vfs.fs.freeBlocks(),
    blockReads: vfs.dev.reads,
    blockWrites: vfs.dev.writes,
    cachedPages: vfs.cache.nrPages,
    dirtyPages: vfs.cache.nrDirty,
    activePages: vfs.cache.nrActive(),
    ...vfs.cache.stats,
  };
}
