/**
 * /proc/PID/maps, /proc/PID/smaps and the memory lines of /proc/PID/status,
 * in Linux's formats (fs/proc/task_mmu.c, fs/proc/array.c).
 */
import { VM_EXEC, VM_HUGETLB, VM_MAYSHARE, VM_READ, VM_WRITE, vmFlagsString } from "../mm/mm_types.ts";

/** What a maps line needs to know about one VMA. */
export interface MapsEntry {
  start: number;
  end: number;
  flags: number;
  /** Byte offset shown (0 for anonymous memory). */
  offset: number;
  /** "00:00" for anonymous, "00:01" for shared anonymous (shmem). */
  dev: string;
  inode: number;
  /** "[heap]", "[stack]", "/dev/zero (deleted)" or "". */
  name: string;
}

/** Per-VMA page counts for smaps, in bytes (pss in bytes << 12 for precision). */
export interface SmapsCounts {
  rss: number;
  pssShifted: number;
  pssDirtyShifted: number;
  sharedClean: number;
  sharedDirty: number;
  privateClean: number;
  privateDirty: number;
  referenced: number;
  anonymous: number;
  lazyFree: number;
  /** Swap entries (bytes) and their share of each slot (bytes << 12). */
  swap: number;
  swapPssShifted: number;
  locked: number;
  /** Bytes mapped by 2 MiB leaves of transparent huge pages. */
  anonHuge: number;
  /** Bytes of hugetlb pages mapped more than once, and once (smaps_hugetlb_range). */
  sharedHugetlb: number;
  privateHugetlb: number;
  /** 1 when the VMA may get transparent huge pages. */
  thpEligible: number;
}

const hex8 = (n: number) => n.toString(16).padStart(8, "0");

/** One maps line: start-end perms offset dev inode, then the name padded to column 73. */
export function mapsLine(e: MapsEntry): string {
  const perms = `${e.flags & VM_READ ? "r" : "-"}${e.flags & VM_WRITE ? "w" : "-"}${e.flags & VM_EXEC ? "x" : "-"}${e.flags & VM_MAYSHARE ? "s" : "p"}`;
  const head = `${hex8(e.start)}-${hex8(e.end)} ${perms} ${hex8(e.offset)} ${e.dev} ${e.inode} `;
  if (!e.name) return `${head}\n`;
  return `${head.padEnd(72)} ${e.name}\n`;
}

const kb = (key: string, bytes: number) => `${key.padEnd(16)}${String(Math.floor(bytes / 1024)).padStart(8)} kB\n`;

/** One smaps block: the maps line and the counters. */
export function smapsBlock(e: MapsEntry, c: SmapsCounts): string {
  let out = mapsLine(e);
  out += kb("Size:", e.end - e.start);
  const pageSize = e.flags & VM_HUGETLB ? 2048 * 1024 : 4096;
  out += kb("KernelPageSize:", pageSize);
  out += kb("MMUPageSize:", pageSize);
  out += kb("Rss:", c.rss);
  out += kb("Pss:", c.pssShifted / 4096);
  out += kb("Pss_Dirty:", c.pssDirtyShifted / 4096);
  out += kb("Shared_Clean:", c.sharedClean);
  out += kb("Shared_Dirty:", c.sharedDirty);
  out += kb("Private_Clean:", c.privateClean);
  out += kb("Private_Dirty:", c.privateDirty);
  out += kb("Referenced:", c.referenced);
  out += kb("Anonymous:", c.anonymous);
  out += kb("LazyFree:", c.lazyFree);
  out += kb("AnonHugePages:", c.anonHuge);
  out += kb("ShmemPmdMapped:", 0);
  out += kb("FilePmdMapped:", 0);
  out += kb("Shared_Hugetlb:", c.sharedHugetlb);
  out += kb("Private_Hugetlb:", c.privateHugetlb);
  out += kb("Swap:", c.swap);
  out += kb("SwapPss:", c.swapPssShifted / 4096);
  out += kb("Locked:", c.locked);
  out += `THPeligible:    ${String(c.thpEligible).padStart(8)}\n`;
  out += `VmFlags: ${vmFlagsString(e.flags)}\n`;
  return out;
}

/** The memory figures of /proc/PID/status, in pages unless named. */
export interface StatusValues {
  name: string;
  state: string;
  pid: number;
  ppid: number;
  peakPages: number;
  sizePages: number;
  lockedPages: number;
  hwmPages: number;
  rssAnonPages: number;
  rssShmemPages: number;
  /** Page-cache pages mapped by file VMAs (RssFile). */
  rssFilePages: number;
  dataPages: number;
  stackPages: number;
  exePages: number;
  ptBytes: number;
  /** Swap entries in the page table (VmSwap). */
  swapPages: number;
  /** Live threads (Threads:). */
  threads: number;
  /** The thread's id when it is not the leader (Pid: shows it, Tgid: the process). */
  tid?: number;
  /** Cpus_allowed and Cpus_allowed_list, shown on a machine with more than one CPU (kernel/thread.ts). */
  cpusAllowed?: readonly [mask: string, list: string];
}

const st = (key: string, kbytes: number) => `${key}:\t${String(kbytes).padStart(8)} kB\n`;

/** /proc/PID/status (the identity lines and every Vm/Rss line). */
export function renderStatus(v: StatusValues): string {
  const rss = v.rssAnonPages + v.rssShmemPages + v.rssFilePages;
  let out = `Name:\t${v.name}\nUmask:\t0022\nState:\t${v.state}\nTgid:\t${v.pid}\nNgid:\t0\nPid:\t${v.tid ?? v.pid}\nPPid:\t${v.ppid}\nTracerPid:\t0\n`;
  out += "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n";
  out += st("VmPeak", v.peakPages * 4);
  out += st("VmSize", v.sizePages * 4);
  out += st("VmLck", v.lockedPages * 4);
  out += st("VmPin", 0);
  out += st("VmHWM", v.hwmPages * 4);
  out += st("VmRSS", rss * 4);
  out += st("RssAnon", v.rssAnonPages * 4);
  out += st("RssFile", v.rssFilePages * 4);
  out += st("RssShmem", v.rssShmemPages * 4);
  out += st("VmData", v.dataPages * 4);
  out += st("VmStk", v.stackPages * 4);
  out += st("VmExe", v.exePages * 4);
  out += st("VmLib", 0);
  out += st("VmPTE", v.ptBytes / 1024);
  out += st("VmSwap", v.swapPages * 4);
  out += `Threads:\t${v.threads}\n`;
  if (v.cpusAllowed !== undefined) out += `Cpus_allowed:\t${v.cpusAllowed[0]}\nCpus_allowed_list:\t${v.cpusAllowed[1]}\n`;
  return out;
}
