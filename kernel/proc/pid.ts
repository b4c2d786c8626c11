/**
 * /proc/PID files of one process: maps, smaps, status and stat, gathered from its
 * VMAs and a walk of its page table, rendered by task_mmu.ts.
 */
import { isFileObject } from "../mm/filemap_fault.ts";
import { type MemMap, PG_anon, PG_dirty, PG_lazyfree } from "../mm/memmap.ts";
import { mpolToStr } from "../mm/mempolicy.ts";
import { lockedVm } from "../mm/mlock_folio.ts";
import type { MmStruct } from "../mm/mm.ts";
import { VM_DROPPABLE, VM_HUGETLB, VM_LOCKED } from "../mm/mm_types.ts";
import type { PageTable } from "../mm/pgtable.ts";
import { type PteVisitor, walkRange } from "../mm/pgtable_range.ts";
import { PTE_A, PTE_D, PTE_P, PTE_SPECIAL, swpOffset } from "../mm/pgtable_types.ts";
import type { SwapDevice } from "../mm/swapfile.ts";
import type { VmaOps } from "../mm/vma.ts";
import type { Process } from "../process.ts";
import { cpusAllowedList, cpusAllowedMask } from "../thread.ts";
import { renderStat } from "./array.ts";
import { NumaMapsWalk, numaMapsLine } from "./numa_maps.ts";
import { type MapsEntry, mapsLine, renderStatus, type SmapsCounts, smapsBlock } from "./task_mmu.ts";

/** The device of memsim's disk in maps lines (major 8, minor 1: the first partition of the first SCSI disk). */
const FILE_DEV = "08:01";

/** Inode numbers shown for shared anonymous objects (like shmem's). */
const SHMEM_INODE_BASE = 1000;

/** smaps_pte_entry: adds one leaf to the counts. */
class SmapsWalk implements PteVisitor {
  c: SmapsCounts = emptyCounts();
  private pt: PageTable | null = null;

  constructor(
    private readonly memmap: MemMap,
    private readonly swap: SwapDevice | null,
  ) {}

  run(pt: PageTable, start: number, end: number, droppable: boolean): SmapsCounts {
    this.c = emptyCounts();
    this.droppable = droppable;
    this.pt = pt;
    walkRange(pt, start, end, this);
    this.pt = null;
    return this.c;
  }

  /** The VMA being walked is VM_DROPPABLE: its pages are lazily freeable from the start. */
  droppable = false;

  visitPte(_va: number, ptep: number, level: number): void {
    const pt = this.pt as PageTable;
    const flags = pt.pteFlags(ptep);
    if (!(flags & PTE_P)) {
      this.swapEntry(pt.ptePfn(ptep), flags);
      return;
    }
    if (flags & PTE_SPECIAL) return;
    if (level === 2) {
      const head = pt.ptePfn(ptep);
      // A THP page is anonymous; a hugetlb pool page never is.
      if (this.memmap.testFlag(head, PG_anon)) this.hugeLeaf(head, flags);
      else this.hugetlbLeaf(head);
      return;
    }
    const pfn = pt.ptePfn(ptep);
    const mapcount = Math.max(1, this.memmap.mapcount(pfn));
    const anon = this.memmap.testFlag(pfn, PG_anon);
    // pte_dirty || folio_test_dirty: a page is dirty only once written.
    const dirty = (flags & PTE_D) !== 0 || this.memmap.testFlag(pfn, PG_dirty);
    const c = this.c;
    c.rss += 4096;
    const pss = Math.floor((4096 * 4096) / mapcount);
    c.pssShifted += pss;
    if (dirty) c.pssDirtyShifted += pss;
    if (mapcount >= 2) {
      if (dirty) c.sharedDirty += 4096;
      else c.sharedClean += 4096;
    } else if (dirty) c.privateDirty += 4096;
    else c.privateClean += 4096;
    if (flags & PTE_A) c.referenced += 4096;
    if (anon) c.anonymous += 4096;
    if (anon && !dirty && (this.droppable || this.memmap.testFlag(pfn, PG_lazyfree))) c.lazyFree += 4096;
  }

  /** smaps_pmd_entry: a 2 MiB leaf counts 512 pages of its huge page, and AnonHugePages. */
  private hugeLeaf(head: number, flags: number): void {
    const bytes = 512 * 4096;
    const mapcount = Math.max(1, this.memmap.mapcount(head));
    const dirty = (flags & PTE_D) !== 0;
    const c = this.c;
    c.rss += bytes;
    const pss = Math.floor((bytes * 4096) / mapcount);
    c.pssShifted += pss;
    if (dirty) c.pssDirtyShifted += pss;
    if (mapcount >= 2) {
      if (dirty) c.sharedDirty += bytes;
      else c.sharedClean += bytes;
    } else if (dirty) c.privateDirty += bytes;
    else c.privateClean += bytes;
    if (flags & PTE_A) c.referenced += bytes;
    c.anonymous += bytes;
    c.anonHuge += bytes;
  }

  /** smaps_hugetlb_range: a hugetlb page counts only in Shared_Hugetlb or Private_Hugetlb (not in Rss). */
  private hugetlbLeaf(head: number): void {
    if (this.memmap.mapcount(head) >= 2) this.c.sharedHugetlb += 512 * 4096;
    else this.c.privateHugetlb += 512 * 4096;
  }

  /** A swap entry: Swap, and SwapPss shared among the entries naming the slot (swp_swapcount). */
  private swapEntry(pfnField: number, flags: number): void {
    const count = (this.swap as SwapDevice).count(swpOffset(pfnField, flags));
    this.c.swap += 4096;
    this.c.swapPssShifted += count >= 2 ? Math.floor((4096 * 4096) / count) : 4096 * 4096;
  }
}

function emptyCounts(): SmapsCounts {
  return {
    rss: 0,
    pssShifted: 0,
    pssDirtyShifted: 0,
    sharedClean: 0,
    sharedDirty: 0,
    privateClean: 0,
    privateDirty: 0,
    referenced: 0,
    anonymous: 0,
    lazyFree: 0,
    swap: 0,
    swapPssShifted: 0,
    locked: 0,
    anonHuge: 0,
    sharedHugetlb: 0,
    privateHugetlb: 0,
    thpEligible: 0,
  };
}

/** The name maps gives a VMA that is not a special mapping: from its object or its addresses, as in Linux. */
function anonName(mm: MmStruct, start: number, end: number, shmem: number): string {
  if (shmem) return "/dev/zero (deleted)";
  if (start <= mm.brk && end >= mm.startBrk) return "[heap]";
  if (start <= mm.startStack && end >= mm.startStack) return "[stack]";
  return "";
}

/** What numa_maps names a VMA by (show_numa_map): its file (blanks as \040, as seq_file_path), heap, stack, or nothing. */
function numaMapsName(e: MapsEntry): string {
  if (e.name === "[heap]") return " heap";
  if (e.name === "[stack]") return " stack";
  if (e.inode !== 0) return ` file=${e.name.replaceAll(" ", "\\040")}`;
  return "";
}

/** The /proc/PID views of one process. */
export class PidProc {
  private readonly walk: SmapsWalk;
  private numaWalk: NumaMapsWalk | null = null;

  constructor(
    private readonly p: Process,
    private readonly vmas: VmaOps,
    private readonly memmap: MemMap,
    swap: SwapDevice | null,
    /** Whether a VMA may get transparent huge pages (smaps THPeligible). */
    private readonly thpEligible: (vma: number) => boolean = () => false,
  ) {
    this.walk = new SmapsWalk(memmap, swap);
  }

  private entries(): Array<[number, MapsEntry]> {
    const mm: MmStruct = this.p.mm;
    const f = this.vmas.f;
    const out: Array<[number, MapsEntry]> = [];
    for (let n = mm.tree.first(); n >= 0; n = mm.tree.next(n)) {
      const vma = mm.tree.value(n);
      const start = f.start(vma);
      const end = f.end(vma);
      const flags = f.flags(vma);
      const obj = f.shmem(vma);
      if (isFileObject(obj)) {
        out.push([vma, this.fileEntry(vma, obj)]);
        continue;
      }
      const shmem = obj;
      const name = this.vmas.name(vma) || anonName(mm, start, end, shmem);
      out.push([
        vma,
        {
          start,
          end,
          flags,
          offset: shmem ? f.pgoff(vma) * 4096 : 0,
          dev: shmem ? "00:01" : "00:00",
          inode: shmem ? SHMEM_INODE_BASE + shmem : 0,
          name,
        },
      ]);
    }
    return out;
  }

  /** A file mapping's line: the file offset, the disk's device, the inode and the path ("(deleted)" once unlinked). */
  private fileEntry(vma: number, obj: number): MapsEntry {
    const f = this.vmas.f;
    const vfs = this.p.tasks.vfs;
    const file = vfs?.mappings?.file(obj);
    const gone = file === undefined || vfs === null || vfs.fs.d.nlink(file.ino) === 0;
    return {
      start: f.start(vma),
      end: f.end(vma),
      flags: f.flags(vma),
      offset: f.pgoff(vma) * 4096,
      dev: FILE_DEV,
      inode: file?.ino ?? 0,
      name: `${file?.path ?? ""}${gone ? " (deleted)" : ""}`,
    };
  }

  /** /proc/PID/maps. */
  maps(): string {
    this.alive();
    return this.entries()
      .map(([, e]) => mapsLine(e))
      .join("");
  }

  /** /proc/PID/smaps. */
  smaps(): string {
    this.alive();
    return this.entries()
      .map(([vma, e]) => {
        const c = this.walk.run(this.p.mm.pt, e.start, e.end, (this.vmas.f.flags(vma) & VM_DROPPABLE) !== 0);
        if (this.vmas.f.flags(vma) & VM_LOCKED) c.locked = c.rss;
        c.thpEligible = this.thpEligible(vma) ? 1 : 0;
        return smapsBlock(e, c);
      })
      .join("");
  }

  /**
   * /proc/PID/numa_maps: each VMA's start, memory policy and present pages
   * by node (numa_maps.ts).
   */
  numaMaps(): string {
    this.alive();
    const pol = this.p.tasks.policy;
    this.numaWalk ??= new NumaMapsWalk(this.memmap, pol.numa);
    const walk = this.numaWalk;
    return this.entries()
      .map(([vma, e]) => {
        const hugetlb = (e.flags & VM_HUGETLB) !== 0;
        const c = walk.run(this.p.mm.pt, e.start, e.end);
        const policy = mpolToStr(this.vmas.policy(vma) || this.p.mm.mempolicy);
        return numaMapsLine(e.start, policy, numaMapsName(e) + (hugetlb ? " huge" : ""), c, hugetlb ? 2048 : 4, hugetlb);
      })
      .join("");
  }

  /**
   * /proc/PID/status, or /proc/PID/task/TID/status for thread `tid` (its
   * name, Pid and Cpus_allowed; the memory lines are the process's).
   * Throws Error when the process has no thread `tid`.
   */
  status(tid = 0): string {
    const p = this.p;
    const mm = p.mm;
    const dead = p.state !== "running";
    const t = tid === 0 ? p.threads[0] : p.threads.find((x) => x.tid === tid);
    if (t === undefined) throw new Error(`/proc/${p.pid}/task/${tid}: no such thread`);
    const smp = p.tasks.nrCpus > 1;
    return renderStatus({
      name: t.comm.slice(0, 15),
      tid: t.tid === p.pid ? undefined : t.tid,
      threads: dead ? 1 : p.nrThreads,
      cpusAllowed: smp ? [cpusAllowedMask(t, p.tasks.nrCpus), cpusAllowedList(t)] : undefined,
      state: dead ? "Z (zombie)" : "R (running)",
      pid: p.pid,
      ppid: p.ppid,
      peakPages: dead ? 0 : mm.hiwaterVm,
      sizePages: dead ? 0 : mm.totalVm,
      lockedPages: dead ? 0 : lockedVm(this.vmas, mm),
      hwmPages: dead ? 0 : mm.hiwaterRss,
      rssAnonPages: dead ? 0 : mm.rssAnon,
      rssShmemPages: dead ? 0 : mm.rssShmem,
      rssFilePages: dead ? 0 : mm.rssFile,
      dataPages: dead ? 0 : mm.dataVm,
      stackPages: dead ? 0 : mm.stackVm,
      exePages: dead ? 0 : mm.execVm,
      ptBytes: dead ? 0 : mm.pt.nrTables * 4096,
      swapPages: dead ? 0 : mm.swapEnts,
    });
  }

  /** /proc/PID/stat: the one-line record of proc(5), with minflt and majflt (array.ts). */
  stat(): string {
    const p = this.p;
    const mm = p.mm;
    const dead = p.state !== "running";
    return renderStat({
      pid: p.pid,
      comm: p.comm.slice(0, 15),
      state: dead ? "Z" : "R",
      ppid: p.ppid,
      minflt: p.minflt,
      majflt: p.majflt,
      threads: dead ? 1 : p.nrThreads,
      vsizeBytes: dead ? 0 : mm.totalVm * 4096,
      rssPages: dead ? 0 : mm.rssAnon + mm.rssFile + mm.rssShmem,
      startStack: dead ? 0 : mm.startStack,
      startBrk: dead ? 0 : mm.startBrk,
    });
  }

  /** /proc/PID/oom_score: the OOM killer's badness scaled to 0..2000 (mm/oom_kill.ts). */
  oomScore(): string {
    this.alive();
    return `${this.p.tasks.oomScore(this.p)}\n`;
  }

  /** /proc/PID/oom_score_adj (write it with p.setOomScoreAdj). */
  oomScoreAdj(): string {
    return `${this.p.oomScoreAdj}\n`;
  }

  /** /proc/PID/cgroup: cgroup v2's one line, "0::/NAME". */
  cgroup(): string {
    return `0::${this.p.cgroup.path}\n`;
  }

  private alive(): void {
    if (this.p.state !== "running") throw new Error(`/proc/${this.p.pid}: process has ${this.p.state}`);
  }
}
