/**
 * Modelled kernel locks and /proc/lock_stat (Linux kernel/locking/lockdep.c
 * with CONFIG_LOCK_STAT, in miniature).
 *
 * memsim runs one operation at a time, so no lock is ever really contended;
 * contention is modelled on per-CPU timelines of simulated nanoseconds. Each
 * CPU has its own time. An operation scheduled on CPU c starts at c's time,
 * takes its locks in order (mmap_lock, page_table_lock, the slab list lock,
 * the zone lock) and holds each until the operation ends. A lock some other
 * CPU holds past that moment (its holder's operation ends later on that
 * CPU's timeline) is contended: the operation waits until it is released,
 * and the wait is counted per lock class and charged on the cost clock
 * (kind `lockWait`). mmap_lock is a reader-writer lock: readers share it.
 * One class is userspace's: `pthread_mutex`, a mutex in a process's memory
 * that an operation declares it held (`sys.mutexHold`), taken before any
 * kernel lock (userspace takes it before its system calls); Linux's
 * lock_stat does not see user locks, memsim lists them with the rest.
 *
 * Words: class = a kind of lock (&zone->lock); instance = one lock of that
 * class (the mmap_lock of one mm); bounce = an acquisition on another CPU
 * than the lock's previous one.
 */

/** The lock classes memsim models, in the order /proc/lock_stat lists them. */
export const LOCK_CLASSES = [
  "&mm->mmap_lock-W",
  "&mm->mmap_lock-R",
  "&mm->page_table_lock",
  "&n->list_lock",
  "&zone->lock",
  "pthread_mutex",
] as const;

/** One modelled lock class (mmap_lock's writers and readers are two rows, as in Linux). */
export type LockClass = (typeof LOCK_CLASSES)[number];

/** Counters of one class (times in simulated ns). */
export interface LockClassStats {
  readonly name: LockClass;
  conBounces: number;
  contentions: number;
  waitMin: number;
  waitMax: number;
  waitTotal: number;
  acqBounces: number;
  acquisitions: number;
  holdMin: number;
  holdMax: number;
  holdTotal: number;
}

/** One lock instance on the timelines. */
interface LockInstance {
  /** Until when (simulated ns) a writer, or the only kind for a plain lock, holds it. */
  writeUntil: number;
  /** Until when readers hold it (rw locks). */
  readUntil: number;
  /** The CPU that took it last (-1 = never taken). */
  lastCpu: number;
}

/**
 * What the memory syscalls took, counted as they run (syscalls.ts): the
 * scheduler reads the counts before and after an operation to know which
 * locks it held (kernel/sched.ts).
 */
export class SyscallLocks {
  /** mmap_lock taken for writing: brk, mmap, munmap, mprotect, mremap. */
  mmapWrite = 0;
  /** mmap_lock taken for reading: madvise. */
  mmapRead = 0;
  /** The page-table lock taken by a syscall that edits entries: munmap, mprotect, mremap, madvise. */
  ptl = 0;
  /** User mutexes held by the running operation (`sys.mutexHold`): their addresses in its mm. */
  readonly userMutexes: number[] = [];
  /** True while the scheduler runs an operation: outside `m.run` no timeline exists and holds are not recorded. */
  recordUserMutexes = false;
}

/** How a lock is taken. */
export type LockMode = "write" | "read";

/** The per-CPU timelines and every class's counters. */
export class LockStat {
  /** Simulated ns each CPU has been busy up to (its timeline's now). */
  readonly cpuNs: Float64Array;
  /** Every class's counters, in LOCK_CLASSES order. */
  readonly classes: LockClassStats[] = LOCK_CLASSES.map((name) => ({
    name,
    conBounces: 0,
    contentions: 0,
    waitMin: 0,
    waitMax: 0,
    waitTotal: 0,
    acqBounces: 0,
    acquisitions: 0,
    holdMin: 0,
    holdMax: 0,
    holdTotal: 0,
  }));
  /** Simulated ns every CPU waited for locks, in all (the clock's `lockWait`). */
  waitNs = 0;
  private readonly instances = new Map<string, LockInstance>();

  constructor(nrCpus: number) {
    this.cpuNs = new Float64Array(nrCpus);
  }

  /**
   * Waits on CPU `cpu`, at time `at`, until lock `key` (an instance of
   * `cls`) is free for `mode`, counts the acquisition, and returns when it is
   * taken (>= at). The hold is recorded by {@link release}.
   */
  acquire(cls: LockClass, key: string, mode: LockMode, cpu: number, at: number): number {
    const lk = this.instance(key);
    const s = this.stats(cls);
    const freeAt = mode === "write" ? Math.max(lk.writeUntil, lk.readUntil) : lk.writeUntil;
    s.acquisitions++;
    if (lk.lastCpu >= 0 && lk.lastCpu !== cpu) s.acqBounces++;
    lk.lastCpu = cpu;
    if (freeAt <= at) return at;
    const wait = freeAt - at;
    s.contentions++;
    s.conBounces++;
    s.waitMin = s.contentions === 1 ? wait : Math.min(s.waitMin, wait);
    s.waitMax = Math.max(s.waitMax, wait);
    s.waitTotal += wait;
    this.waitNs += wait;
    return freeAt;
  }

  /** Lock `key` taken at `from` is released at `until`. */
  release(cls: LockClass, key: string, mode: LockMode, from: number, until: number): void {
    const lk = this.instance(key);
    const s = this.stats(cls);
    if (mode === "write") lk.writeUntil = Math.max(lk.writeUntil, until);
    else lk.readUntil = Math.max(lk.readUntil, until);
    const hold = until - from;
    s.holdMin = s.acquisitions === 1 ? hold : Math.min(s.holdMin, hold);
    s.holdMax = Math.max(s.holdMax, hold);
    s.holdTotal += hold;
  }

  private instance(key: string): LockInstance {
    let lk = this.instances.get(key);
    if (lk === undefined) {
      lk = { writeUntil: 0, readUntil: 0, lastCpu: -1 };
      this.instances.set(key, lk);
    }
    return lk;
  }

  private stats(cls: LockClass): LockClassStats {
    return this.classes[LOCK_CLASSES.indexOf(cls)] as LockClassStats;
  }
}

/** ns as Linux's lock_stat prints times: microseconds with two decimals. */
function us(ns: number): string {
  return (ns / 1000).toFixed(2);
}

const RULE = "-".repeat(223);

/** /proc/lock_stat: a header and one line per class taken at least once, in Linux's columns. */
export function renderLockStat(ls: LockStat): string {
  const cols = [
    "con-bounces",
    "contentions",
    "waittime-min",
    "waittime-max",
    "waittime-total",
    "waittime-avg",
    "acq-bounces",
    "acquisitions",
    "holdtime-min",
    "holdtime-max",
    "holdtime-total",
    "holdtime-avg",
  ];
  let out = `lock_stat version 0.4\n${RULE}\n${"class name".padStart(40)} ${cols.map((c) => c.padStart(14)).join(" ")}\n${RULE}\n`;
  for (const s of ls.classes) {
    if (s.acquisitions === 0) continue;
    const waitAvg = s.contentions === 0 ? 0 : s.waitTotal / s.contentions;
    const holdAvg = s.holdTotal / s.acquisitions;
    const fields = [
      String(s.conBounces),
      String(s.contentions),
      us(s.waitMin),
      us(s.waitMax),
      us(s.waitTotal),
      us(waitAvg),
      String(s.acqBounces),
      String(s.acquisitions),
      us(s.holdMin),
      us(s.holdMax),
      us(s.holdTotal),
      us(holdAvg),
    ];
    out += `\n${`${s.name}:`.padStart(41)} ${fields.map((f) => f.padStart(14)).join(" ")}\n`;
  }
  return out;
}
