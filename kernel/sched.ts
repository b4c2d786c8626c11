/**
 * The scheduler (Linux kernel/sched/core.c, reduced to what a memory
 * emulator needs): per-CPU run queues and a seeded choice of what runs next,
 * so that several threads' operation lists interleave the same way on every
 * computer for the same schedule.
 *
 * An operation is one call a program makes (a syscall, a store, a malloc):
 * it runs whole on one CPU, and threads may be preempted only between
 * operations. Before an operation the scheduler switches to its thread's CPU
 * (smp.ts: that CPU's TLB, events stamped with it, the mm's cpumask). Each
 * CPU keeps a timeline of simulated nanoseconds: an operation lasts what the
 * cost clock advanced while it ran plus OP_BASE_NS, after waiting for the
 * locks it took (locking/lock_stat.ts) while another CPU's operation held
 * them.
 *
 * Which locks an operation took is read from counters, before and after:
 * mmap_lock for writing or reading and the page-table lock from the syscalls
 * (syscalls.ts) and from page faults (a fault takes mmap_lock for reading
 * and the page-table lock), user mutexes an operation declared it held
 * (`sys.mutexHold`, taken first), the slab list lock when a slab slow path ran or
 * a slab was made or freed, the zone lock when the buddy lists changed
 * (per-CPU list refills and drains, splits, merges, free pages). Locks are taken in that order
 * and held to the end of the operation.
 *
 * Policies: "round-robin" (each CPU in turn runs the next thread of its
 * queue), "random" (a seeded CPU and thread each step; `migrate` moves the
 * chosen thread to another allowed CPU with that probability) and "explicit"
 * (a list of program indices, optionally with the CPU to run on).
 */
import type { KernelEvents } from "./events.ts";
import type { Tasks } from "./fork.ts";
import { Prandom } from "./lib/random.ts";
import type { LockClass, LockMode, LockStat } from "./locking/lock_stat.ts";
import type { FramePages } from "./mm/frame_pages.ts";
import type { FramesLocks } from "./mm/frames_locks.ts";
import type { BuddyLists } from "./mm/mmzone.ts";
import type { SlabAllocator } from "./mm/slab_common.ts";
import type { Process } from "./process.ts";
import type { Rcu } from "./rcu/tree.ts";
import { ProcessKilled } from "./signal.ts";
import type { Smp } from "./smp.ts";
import type { Thread } from "./thread.ts";

/** Simulated ns every operation costs besides what the clock counts (entering and leaving it). */
export const OP_BASE_NS = 100;

/** One operation of a program: it gets its thread and returns what it wants recorded. */
export type Operation = (t: Thread) => unknown;

/** A thread (or a process: its leader thread) and the operations it runs, in order. */
export interface Program {
  readonly thread: Thread | Process;
  readonly ops: readonly Operation[];
}

/** How the next operation is chosen. */
export type Schedule =
  | { readonly kind: "round-robin" }
  | { readonly kind: "random"; readonly seed: number; readonly migrate?: number }
  | { readonly kind: "explicit"; readonly steps: ReadonlyArray<number | readonly [program: number, cpu: number]> };

/** Options of {@link Scheduler.run}. */
export interface RunOptions {
  /** Default: round-robin. */
  readonly schedule?: Schedule;
  /** Called after every operation (property tests run the checkers here). */
  readonly afterStep?: (step: StepRecord) => void;
}

/** What one operation did. */
export interface StepRecord {
  readonly step: number;
  readonly cpu: number;
  readonly tid: number;
  readonly program: number;
  /** Index of the operation in its program. */
  readonly op: number;
  /** String(result), or the signal that killed the thread ("SIGSEGV"). */
  readonly result: string;
  /** On the CPU's timeline: when it started (before waiting), waited for locks, ended. */
  readonly startNs: number;
  readonly waitNs: number;
  readonly endNs: number;
}

/** What a run did: every step, and each CPU's timeline at the end. */
export interface RunResult {
  readonly steps: readonly StepRecord[];
  readonly cpuNs: readonly number[];
  /** One line per step, the same bytes for the same machine, programs and schedule. */
  text(): string;
}

/** What the scheduler works with (kernel/main.ts hands it over). */
export interface SchedDeps {
  readonly smp: Smp;
  readonly tasks: Tasks;
  readonly locks: LockStat;
  readonly events: KernelEvents;
  /** Simulated ns of the cost clock. */
  readonly clockNs: () => number;
  /** Writes the lock-relevant counters into `out` (PROBE_* indexes). */
  readonly probe: (out: Float64Array) => void;
  /** Acquisitions of each of the frames layer's own locks (frames_locks.ts), or null when it declares none. */
  readonly framesLockCounts?: Float64Array | null;
  /** RCU (rcu/tree.ts): told the running thread, the end of each operation and idle CPUs. */
  readonly rcu?: Rcu;
}

/** Indexes of the counters the probe writes. */
export const PROBE_FAULTS = 0;
export const PROBE_ZONE = 1;
export const PROBE_SLAB = 2;
export const PROBE_MMAP_W = 3;
export const PROBE_MMAP_R = 4;
export const PROBE_PTL = 5;
/** Free pages on the buddy lists: an order-0 allocation with no per-CPU lists changes nothing else. */
export const PROBE_ZONE_FREE = 6;
export const NR_PROBES = 7;

/** One program being run. */
interface Runnable {
  readonly index: number;
  readonly thread: Thread;
  readonly ops: readonly Operation[];
  next: number;
}

/** The run queues and the policy. */
export class Scheduler {
  private readonly before = new Float64Array(NR_PROBES);
  private readonly after = new Float64Array(NR_PROBES);
  /** The frames layer's lock counts before the operation (empty without them). */
  private readonly framesBefore: Float64Array;

  constructor(private readonly d: SchedDeps) {
    this.framesBefore = new Float64Array(d.framesLockCounts?.length ?? 0);
  }

  /**
   * Runs the programs' operations interleaved by `opts.schedule` until every
   * program has run all its operations or its thread has ended. A thread
   * killed by a signal records the signal and runs no more. Afterwards CPU 0
   * runs again and every process's memory view is bound to its TLB.
   * Throws RangeError on a bad schedule (an explicit step naming a finished
   * program or a CPU the thread may not use) or a program whose thread has ended.
   */
  run(programs: readonly Program[], opts: RunOptions = {}): RunResult {
    const rs = programs.map((p, index) => this.runnable(p, index));
    const queues: Runnable[][] = Array.from({ length: this.d.smp.nrCpus }, () => []);
    for (const r of rs) {
      const allowed = r.thread.allowedCpus().filter((c) => c < this.d.smp.nrCpus);
      r.thread.cpu = allowed[r.index % allowed.length] as number;
      (queues[r.thread.cpu] as Runnable[]).push(r);
    }
    const steps: StepRecord[] = [];
    try {
      this.loop(queues, rs, opts, steps);
    } finally {
      this.backToBoot();
    }
    const cpuNs = [...this.d.locks.cpuNs];
    return { steps, cpuNs, text: () => steps.map(stepLine).join("") };
  }

  private runnable(p: Program, index: number): Runnable {
    const t = "threads" in p.thread ? (p.thread.threads[0] as Thread) : p.thread;
    if (t.state !== "running" || t.group.state !== "running") throw new RangeError(`run: program ${index}: thread ${t.tid} has ended`);
    return { index, thread: t, ops: p.ops, next: 0 };
  }

  private loop(queues: Runnable[][], rs: Runnable[], opts: RunOptions, steps: StepRecord[]): void {
    const s = opts.schedule ?? { kind: "round-robin" };
    const rng = s.kind === "random" ? new Prandom(s.seed) : null;
    let rr = 0;
    let explicit = 0;
    for (;;) {
      for (const q of queues) for (let i = q.length - 1; i >= 0; i--) if (this.done(q[i] as Runnable)) q.splice(i, 1);
      if (queues.every((q) => q.length === 0)) return;
      let r: Runnable;
      if (s.kind === "explicit" && explicit < s.steps.length)
        r = this.explicitPick(s.steps[explicit++] as number | readonly [number, number], rs, queues);
      else if (rng !== null) r = this.randomPick(queues, rng, s.kind === "random" ? (s.migrate ?? 0) : 0);
      else {
        while ((queues[rr % queues.length] as Runnable[]).length === 0) rr++;
        const q = queues[rr % queues.length] as Runnable[];
        r = q.shift() as Runnable;
        q.push(r);
        rr++;
      }
      this.followAffinity(r, queues);
      this.noteIdle(queues);
      const rec = this.step(r, steps.length);
      steps.push(rec);
      opts.afterStep?.(rec);
    }
  }

  /** A CPU with an empty run queue is idle: an RCU quiescent state. */
  private noteIdle(queues: Runnable[][]): void {
    const rcu = this.d.rcu;
    if (rcu === undefined) return;
    for (let c = 0; c < queues.length; c++) rcu.setIdle(c, (queues[c] as Runnable[]).length === 0 ? 1 : 0);
  }

  private done(r: Runnable): boolean {
    return r.next >= r.ops.length || r.thread.state !== "running" || r.thread.group.state !== "running";
  }

  private randomPick(queues: Runnable[][], rng: Prandom, migrate: number): Runnable {
    const busy = queues.filter((q) => q.length > 0);
    const q = busy[rng.below(busy.length)] as Runnable[];
    const r = q[rng.below(q.length)] as Runnable;
    if (migrate > 0 && rng.nextFloat() < migrate) {
      const allowed = r.thread.allowedCpus().filter((c) => c < queues.length);
      this.migrate(r, allowed[rng.below(allowed.length)] as number, queues);
    }
    return r;
  }

  private explicitPick(step: number | readonly [number, number], rs: Runnable[], queues: Runnable[][]): Runnable {
    const [index, cpu] = typeof step === "number" ? [step, -1] : step;
    const r = rs[index];
    if (r === undefined || this.done(r)) throw new RangeError(`run: explicit step names program ${index}, which has nothing left to run`);
    if (cpu >= 0) {
      if (cpu >= queues.length || !r.thread.allows(cpu)) throw new RangeError(`run: thread ${r.thread.tid} may not run on CPU ${cpu}`);
      this.migrate(r, cpu, queues);
    }
    return r;
  }

  /** A thread whose CPU is no longer allowed (sched_setaffinity) moves to its first allowed CPU. */
  private followAffinity(r: Runnable, queues: Runnable[][]): void {
    if (r.thread.allows(r.thread.cpu)) return;
    const to = r.thread.allowedCpus().find((c) => c < queues.length);
    if (to !== undefined) this.migrate(r, to, queues);
  }

  /** Moves `r` from its CPU's run queue to `cpu`'s (migration). */
  private migrate(r: Runnable, cpu: number, queues: Runnable[][]): void {
    const from = queues[r.thread.cpu] as Runnable[];
    const at = from.indexOf(r);
    if (at >= 0) from.splice(at, 1);
    (queues[cpu] as Runnable[]).push(r);
    r.thread.cpu = cpu;
  }

  /** Runs r's next operation on its CPU and places it on that CPU's timeline. */
  private step(r: Runnable, n: number): StepRecord {
    const d = this.d;
    const t = r.thread;
    const cpu = t.cpu;
    d.smp.switchTo(cpu, t.group.mem, t.group.mm.pt.asid);
    this.bindViews(cpu);
    d.tasks.setCurrent(d.tasks.get(t.group.pid) ?? null);
    d.probe(this.before);
    d.tasks.syscallLocks.userMutexes.length = 0;
    d.tasks.syscallLocks.recordUserMutexes = true;
    if (d.framesLockCounts) this.framesBefore.set(d.framesLockCounts);
    const ns0 = d.clockNs();
    const op = r.next++;
    const rcu = d.rcu;
    if (rcu !== undefined) rcu.current = t.tid;
    d.tasks.currentTid = t.tid;
    let result: string;
    try {
      result = String((r.ops[op] as Operation)(t));
    } catch (e) {
      if (!(e instanceof ProcessKilled)) throw e;
      result = e.name === "SegmentationFault" ? "SIGSEGV" : e.name === "BusError" ? "SIGBUS" : "SIGKILL";
    } finally {
      if (rcu !== undefined) rcu.current = 0;
      d.tasks.currentTid = 0;
      d.tasks.syscallLocks.recordUserMutexes = false;
    }
    // The operation ended: a context-switch point, so a quiescent state for its CPU.
    rcu?.quiescentState(cpu);
    const cost = d.clockNs() - ns0 + OP_BASE_NS;
    d.probe(this.after);
    d.tasks.setCurrent(null);
    const startNs = d.locks.cpuNs[cpu] as number;
    const endNs = this.place(t, cpu, startNs, cost);
    return { step: n, cpu, tid: t.tid, program: r.index, op, result, startNs, waitNs: endNs - cost - startNs, endNs };
  }

  /** Takes the locks the operation used, in order, from `start`; returns when it ends. */
  private place(t: Thread, cpu: number, start: number, cost: number): number {
    const taken: Array<[LockClass, string, LockMode]> = [];
    const b = this.before;
    const a = this.after;
    const mm = t.group.mm.id;
    const held = this.d.tasks.syscallLocks.userMutexes;
    for (let i = 0; i < held.length; i++) {
      const key = `mutex:${mm}:${held[i]}`;
      if (!taken.some((x) => x[1] === key)) taken.push(["pthread_mutex", key, "write"]);
    }
    held.length = 0;
    const faults = (a[PROBE_FAULTS] as number) > (b[PROBE_FAULTS] as number);
    if ((a[PROBE_MMAP_W] as number) > (b[PROBE_MMAP_W] as number)) taken.push(["&mm->mmap_lock-W", `mmap_lock:${mm}`, "write"]);
    else if (faults || (a[PROBE_MMAP_R] as number) > (b[PROBE_MMAP_R] as number))
      taken.push(["&mm->mmap_lock-R", `mmap_lock:${mm}`, "read"]);
    if (faults || (a[PROBE_PTL] as number) > (b[PROBE_PTL] as number)) taken.push(["&mm->page_table_lock", `ptl:${mm}`, "write"]);
    if ((a[PROBE_SLAB] as number) !== (b[PROBE_SLAB] as number)) taken.push(["&n->list_lock", "list_lock", "write"]);
    const zone = a[PROBE_ZONE] !== b[PROBE_ZONE] || a[PROBE_ZONE_FREE] !== b[PROBE_ZONE_FREE];
    if (zone) taken.push(["&zone->lock", "zone", "write"]);
    this.framesLocksTaken(taken);
    const locks = this.d.locks;
    let at = start;
    const from: number[] = [];
    for (const [cls, key, mode] of taken) {
      at = locks.acquire(cls, key, mode, cpu, at);
      from.push(at);
    }
    const end = at + cost;
    for (let i = 0; i < taken.length; i++) {
      const [cls, key, mode] = taken[i] as [LockClass, string, LockMode];
      locks.release(cls, key, mode, from[i] as number, end);
    }
    locks.cpuNs[cpu] = end;
    return end;
  }

  /** The frames layer's own locks the operation took (their counts moved): instances `kmem:i` of &zone->lock. */
  private framesLocksTaken(taken: Array<[LockClass, string, LockMode]>): void {
    const now = this.d.framesLockCounts;
    if (!now) return;
    const b = this.framesBefore;
    for (let i = 0; i < now.length; i++) if (now[i] !== b[i]) taken.push(["&zone->lock", `kmem:${i}`, "write"]);
  }

  /**
   * Every process's memory view uses CPU `cpu`'s TLB, not only the running
   * thread's: an operation may touch another process (a child it forked),
   * and its hits must be this CPU's.
   */
  private bindViews(cpu: number): void {
    const tlb = this.d.smp.tlbs[cpu];
    if (tlb === undefined) return;
    for (const p of this.d.tasks.list()) p.mem.useTlb(tlb);
  }

  /** After a run the host's calls run on CPU 0 again: every view back on its TLB. */
  private backToBoot(): void {
    this.d.smp.switchTo(0);
    this.bindViews(0);
    // Only CPU 0 runs now (the host's calls); the others are idle.
    for (let c = 0; c < this.d.smp.nrCpus; c++) this.d.rcu?.setIdle(c, c === 0 ? 0 : 1);
    // quiet_vmstat: a CPU going idle folds its vmstat diffs.
    const v = this.d.smp.vmstat;
    if (v !== null) for (let c = 1; c < v.nrCpus; c++) v.quiet(c);
  }
}

/** One line of RunResult.text(). */
function stepLine(s: StepRecord): string {
  return `${s.step} cpu${s.cpu} tid ${s.tid} op ${s.program}.${s.op} = ${s.result} [${s.startNs}+${s.waitNs} -> ${s.endNs} ns]\n`;
}

/** What the lock probe reads. */
export interface LockProbeParts {
  readonly faults: () => number;
  readonly buddy: BuddyLists | null;
  readonly pages: FramePages;
  readonly slab: SlabAllocator;
  readonly tasks: Tasks;
  /** The frames layer's own locks, or null (absent) when it declares none. */
  readonly framesLocks?: FramesLocks | null;
}

/**
 * The counters that tell which locks an operation took: page faults, the
 * buddy lists' traffic (per-CPU list refills and drains, splits and merges;
 * every allocation and free for a frames layer without zones), slab slow
 * paths and slab pages, and the syscalls' own counts.
 */
export function makeLockProbe(p: LockProbeParts): (out: Float64Array) => void {
  return (out) => {
    out[PROBE_FAULTS] = p.faults();
    const b = p.buddy;
    let zone = 0;
    // A layer with locks of its own says which it took (Scheduler.framesLocksTaken): no zone lock.
    if (b === null) zone = p.framesLocks ? 0 : p.pages.stats.pgalloc + p.pages.stats.pgfree;
    else {
      zone = b.stats.pcpRefills + b.stats.pcpDrains;
      for (let o = 0; o < b.stats.splits.length; o++) zone += (b.stats.splits[o] as number) + (b.stats.merges[o] as number);
    }
    out[PROBE_ZONE] = zone;
    let free = 0;
    for (const z of b?.zones ?? []) free += z.freePages;
    out[PROBE_ZONE_FREE] = free;
    let slab = 0;
    for (const c of p.slab.caches) slab += c.allocSlowpath + c.freeSlowpath + c.slabsAllocated + c.slabsFreed;
    out[PROBE_SLAB] = slab;
    const l = p.tasks.syscallLocks;
    out[PROBE_MMAP_W] = l.mmapWrite;
    out[PROBE_MMAP_R] = l.mmapRead;
    out[PROBE_PTL] = l.ptl;
  };
}
