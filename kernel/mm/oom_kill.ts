/**
 * The OOM killer (Linux mm/oom_kill.c): when a page fault cannot have a
 * frame (or a memory cgroup cannot be brought under its memory.max), choose
 * the process whose death frees the most memory, print what Linux prints,
 * and kill it with SIGKILL; its memory is freed at once (memsim's exit is
 * synchronous, so the OOM reaper has nothing left to do).
 *
 * badness (oom_badness): the pages a process would free, rss + swap entries
 * + page-table pages, plus oom_score_adj * (totalpages / 1000); -1000 is
 * never chosen. totalpages is RAM plus swap for a global OOM, the group's
 * memory.max plus swap for a group OOM. /proc/PID/oom_score shows the
 * badness scaled to 0..2000 as Linux 5.9 and later do:
 * (1000 + badness * 1000 / totalpages) * 2 / 3, or 0 for -1000.
 *
 * The report (dmesg, one printk line each, kind "oom" except the kill line,
 * kind "oom_kill"):
 *
 *   hog invoked oom-killer: gfp_mask=0x...(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=0
 *   memory: usage 64kB, limit 64kB, failcnt 3        (group OOM only)
 *   swap: usage 0kB, limit 9007199254740988kB, failcnt 0   (group OOM only)
 *   Tasks state (memory values in pages):
 *   [  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name
 *   [      1]     0     1       33        1          16384        0             0 sh
 *   oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/,task=hog,pid=2,uid=0
 *   Out of memory: Killed process 2 (hog) total-vm:...kB, anon-rss:...kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:...kB oom_score_adj:0
 *
 * memsim has no users (uid 0), one node, no cpusets, and does not exempt
 * pid 1 (it is the first process a test spawned, not an init).
 *
 * Calls: printk, the task list (through OomTask), the memory cgroups.
 */
import type { Printk } from "../printk.ts";
import { SIGKILL } from "../uapi/signal.ts";
import { formatGfp, GFP_HIGHUSER_MOVABLE } from "./gfp.ts";
import type { MemCgroup, MemcgController } from "./memcontrol.ts";
import type { MmStruct } from "./mm.ts";
import { PAGE_SIZE } from "./types.ts";

/** oom_score_adj's range; -1000 (OOM_SCORE_ADJ_MIN) is never chosen. */
export const OOM_SCORE_ADJ_MIN = -1000;
export const OOM_SCORE_ADJ_MAX = 1000;
/** oom_badness's LONG_MIN: the task cannot be chosen. */
export const OOM_UNKILLABLE = Number.MIN_SAFE_INTEGER;
/** PAGE_COUNTER_MAX in kB on a 64-bit kernel: how Linux prints an unlimited swap limit. */
const UNLIMITED_KB = "9007199254740988";

/** The allocation the OOM killer runs for (printed in its first line): its GFP mask and order. */
export interface OomRequest {
  readonly gfp: number;
  readonly order: number;
}

/** A user page of a fault: GFP_HIGHUSER_MOVABLE, order 0. */
const USER_PAGE: OomRequest = { gfp: GFP_HIGHUSER_MOVABLE, order: 0 };

/** What the OOM killer sees of a process. */
export interface OomTask {
  readonly pid: number;
  readonly comm: string;
  readonly mm: MmStruct;
  readonly state: string;
  readonly oomScoreAdj: number;
  /** Kills the task with `signo`; its memory is freed before this returns. */
  kill(signo: number): void;
}

/** Pages of page tables of `mm` (mm_pgtables_bytes / PAGE_SIZE; the same count VmPTE shows). */
function pgtablePages(mm: MmStruct): number {
  return mm.pt.nrTables;
}

/**
 * oom_badness: rss + swap entries + page-table pages, plus oom_score_adj
 * * (totalpages / 1000). Returns OOM_UNKILLABLE for -1000 or a task that
 * has ended.
 */
export function oomBadness(t: OomTask, totalpages: number): number {
  if (t.state !== "running" || t.oomScoreAdj === OOM_SCORE_ADJ_MIN) return OOM_UNKILLABLE;
  const mm = t.mm;
  const points = mm.rssAnon + mm.rssShmem + mm.swapEnts + pgtablePages(mm);
  return points + t.oomScoreAdj * Math.floor(totalpages / 1000);
}

/** /proc/PID/oom_score from a badness: (1000 + badness * 1000 / totalpages) * 2 / 3 in C's integer steps; 0 when unkillable. */
export function oomScore(badness: number, totalpages: number): number {
  if (badness === OOM_UNKILLABLE) return 0;
  return Math.trunc(((1000 + Math.trunc((badness * 1000) / totalpages)) * 2) / 3);
}

/** The OOM killer of one machine. */
export class OomKiller {
  /** Processes killed (vmstat oom_kill). */
  kills = 0;

  constructor(
    private readonly printk: Printk,
    private readonly tasks: () => readonly OomTask[],
    /** totalram_pages() + total_swap_pages. */
    readonly totalPages: () => number,
    private readonly swapPages: () => number,
    private readonly memcg: MemcgController,
  ) {}

  /** totalpages of an OOM in `group` (mem_cgroup_get_max: its max plus swap), or of the machine. */
  totalFor(group: MemCgroup | null): number {
    if (group === null || group.maxPages === Number.POSITIVE_INFINITY) return this.totalPages();
    return Math.max(1, group.maxPages + this.swapPages());
  }

  /**
   * out_of_memory on behalf of `current`, over the whole machine (`group`
   * null) or only the processes of `group`: the task with the highest
   * badness (the later in pid order on a tie) is reported and killed.
   * Returns the victim, or null when every candidate is unkillable (then
   * only "Out of memory and no killable processes..." is printed).
   */
  outOfMemory(current: OomTask, group: MemCgroup | null, req: OomRequest = USER_PAGE): OomTask | null {
    const total = this.totalFor(group);
    const tasks = this.tasks().filter((t) => t.state === "running" && (group === null || t.mm.memcg === group.id));
    let chosen: OomTask | null = null;
    let best = OOM_UNKILLABLE;
    for (const t of tasks) {
      const points = oomBadness(t, total);
      if (points === OOM_UNKILLABLE || points < best) continue;
      chosen = t;
      best = points;
    }
    if (group !== null) group.events.oom++;
    this.header(current, group, tasks, req);
    if (chosen === null) {
      this.line("oom", "Out of memory and no killable processes...");
      return null;
    }
    this.kill(chosen, group);
    return chosen;
  }

  private line(kind: string, text: string): void {
    this.printk.report(kind, text);
  }

  /** dump_header: who asked, the group's usage, the task table, nothing of show_mem. */
  private header(current: OomTask, group: MemCgroup | null, tasks: readonly OomTask[], req: OomRequest): void {
    const gfp = req.gfp;
    this.line(
      "oom",
      `${current.comm} invoked oom-killer: gfp_mask=0x${gfp.toString(16)}(${formatGfp(gfp)}), order=${req.order}, oom_score_adj=${current.oomScoreAdj}`,
    );
    if (group !== null) {
      const limit = group.maxPages === Number.POSITIVE_INFINITY ? UNLIMITED_KB : String(group.maxPages * 4);
      this.line("oom", `memory: usage ${group.current * 4}kB, limit ${limit}kB, failcnt ${group.events.max}`);
      this.line("oom", `swap: usage ${group.swapCurrent * 4}kB, limit ${UNLIMITED_KB}kB, failcnt 0`);
    }
    this.line("oom", "Tasks state (memory values in pages):");
    this.line("oom", "[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name");
    for (const t of tasks) this.line("oom", dumpTaskLine(t));
  }

  /** dump_oom_summary and __oom_kill_process: the summary, the kill line, SIGKILL, the counters. */
  private kill(victim: OomTask, group: MemCgroup | null): void {
    const mm = victim.mm;
    const taskMemcg = this.memcg.byId(mm.memcg);
    const context = group === null ? "global_oom" : `oom_memcg=${group.path}`;
    this.line(
      "oom",
      `oom-kill:constraint=${group === null ? "CONSTRAINT_NONE" : "CONSTRAINT_MEMCG"},nodemask=(null),cpuset=/,mems_allowed=0,${context},task_memcg=${taskMemcg.path},task=${victim.comm},pid=${victim.pid},uid=0`,
    );
    this.line(
      "oom_kill",
      `${group === null ? "Out of memory" : "Memory cgroup out of memory"}: Killed process ${victim.pid} (${victim.comm}) total-vm:${mm.totalVm * 4}kB, anon-rss:${mm.rssAnon * 4}kB, file-rss:${mm.rssFile * 4}kB, shmem-rss:${mm.rssShmem * 4}kB, UID:0 pgtables:${(pgtablePages(mm) * PAGE_SIZE) >> 10}kB oom_score_adj:${victim.oomScoreAdj}`,
    );
    this.kills++;
    if (taskMemcg.id !== 0) taskMemcg.events.oom_kill++;
    victim.kill(SIGKILL);
  }
}

/** One row of dump_tasks (Linux 6.x columns). */
export function dumpTaskLine(t: OomTask): string {
  const mm = t.mm;
  const pid = String(t.pid);
  return (
    `[${pid.padStart(7)}] ${"0".padStart(5)} ${pid.padStart(5)} ${String(mm.totalVm).padStart(8)} ` +
    `${String(mm.rssAnon + mm.rssShmem).padStart(8)} ${String(pgtablePages(mm) * PAGE_SIZE).padStart(8)} ` +
    `${String(mm.swapEnts).padStart(8)}         ${String(t.oomScoreAdj).padStart(5)} ${t.comm}`
  );
}
