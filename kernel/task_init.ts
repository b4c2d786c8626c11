/**
 * Boot of the process side of the kernel: the VMA cache, commit accounting,
 * shared anonymous memory, the fault handler and the task list, with their
 * meminfo and vmstat lines and the mm checker.
 */

import { Tasks } from "./fork.ts";
import type { Checker, Kernel, KernelConfig } from "./kernel.ts";
import { CommitAccounting } from "./mm/commit.ts";
import { Memory } from "./mm/memory.ts";
import { checkMms } from "./mm/mm_check.ts";
import { VMA_SIZE, VmaFields } from "./mm/mm_types.ts";
import type { MmapContext } from "./mm/mmap.ts";
import { Shmem } from "./mm/shmem.ts";
import { VmaOps } from "./mm/vma.ts";
import { panic } from "./panic.ts";
import type { MeminfoValues } from "./proc/meminfo.ts";

/** What the process side adds to the kernel. */
export interface TaskParts {
  readonly tasks: Tasks;
  readonly memory: Memory;
  readonly shmem: Shmem;
  readonly commit: CommitAccounting;
  readonly vmas: VmaOps;
}

/** Options of the process side (from the boot config). */
export type TaskOptions = Pick<KernelConfig, "overcommitMode" | "overcommitRatio" | "swapBytes" | "maxMapCount">;

/** Builds the process side on a booted kernel (buddy, paging and slab ready). */
export function tasksInit(k: Kernel, o: TaskOptions): TaskParts {
  const cache = k.kmemCacheCreate("vm_area_struct", VMA_SIZE, { align: 8 });
  if (cache === null) panic("tasks_init: no vm_area_struct cache");
  const commit = new CommitAccounting(o.overcommitMode, o.overcommitRatio, () => k.buddy.nrManagedPages(), Math.floor(o.swapBytes / 4096));
  const shmem = new Shmem(k.phys, k.buddy, k, commit);
  const vmas = new VmaOps(new VmaFields(k.phys), cache, shmem, o.maxMapCount);
  const memory = new Memory(k.phys, k.memmap, k.buddy, vmas, shmem, commit, k.layout.kernelStart);
  const ctx: MmapContext = { vmas, pt: memory, commit, maxMapCount: o.maxMapCount };
  const tasks = new Tasks({
    ctx,
    memory,
    paging: k.paging,
    mmu: k.mmu,
    printk: k.printk,
    zeroPfn: k.layout.kernelStart,
    setComm: (comm) => {
      k.buddy.currentComm = comm;
    },
    check: () => k.check(),
    debugVm: k.config.debugVm,
  });
  const parts = { tasks, memory, shmem, commit, vmas };
  k.buddy.shrinkers.push((want) => tasks.reclaimLazyFree(want));
  k.checkers.push({ name: "mm", run: () => checkMms(parts) } satisfies Checker);
  k.meminfoSources.push((v) => taskMeminfo(parts, o, v));
  k.vmstatSources.push((out) => {
    let anon = 0;
    for (const p of tasks.list()) anon += p.mm.rssAnon;
    out.push(["nr_anon_pages", anon]);
    out.push(["nr_shmem", shmem.nrPages]);
    out.push(["pgfault", memory.stats.pgfault]);
    out.push(["pgmajfault", memory.stats.pgmajfault]);
    out.push(["cow_copies", memory.stats.cowCopies]);
    out.push(["cow_reuses", memory.stats.cowReuses]);
    out.push(["zero_page_maps", memory.stats.zeroPageMaps]);
    out.push(["pglazyfreed", memory.stats.lazyFreed]);
  });
  k.statsSources.push(["mm", () => taskStats(parts)]);
  return parts;
}

function taskMeminfo(t: TaskParts, o: TaskOptions, v: MeminfoValues): void {
  let anon = 0;
  for (const p of t.tasks.list()) anon += p.mm.rssAnon;
  v.AnonPages = anon * 4;
  v.Shmem = t.shmem.nrPages * 4;
  // No LRU lists: anonymous and shmem pages are all reported active.
  v["Active(anon)"] = (anon + t.shmem.nrPages) * 4;
  v.Active = (v.Active ?? 0) + (anon + t.shmem.nrPages) * 4;
  v.Hugepagesize = 2048;
  v.Cached = (v.Cached ?? 0) + t.shmem.nrPages * 4;
  v.SwapTotal = Math.floor(o.swapBytes / 4096) * 4;
  v.SwapFree = v.SwapTotal;
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
    processes: t.tasks.list().map((p) => ({
      pid: p.pid,
      comm: p.comm,
      vmas: p.mm.mapCount,
      totalVmPages: p.mm.totalVm,
      rssAnonPages: p.mm.rssAnon,
      rssShmemPages: p.mm.rssShmem,
      committedPages: p.mm.committed,
      minflt: p.minflt,
    })),
  };
}
