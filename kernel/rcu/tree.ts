/**
 * RCU: read-side sections, grace periods and kfree_rcu (Linux
 * kernel/rcu/tree.c and tree_plugin.h, preemptible flavour, in miniature).
 *
 * A writer that unpublishes an object may not free it while a reader that
 * found it earlier can still be reading it. kfree_rcu(kva) queues the free;
 * it happens once a grace period has passed: every CPU has gone through a
 * quiescent state and every read-side section open when the period began
 * has ended.
 *
 * What counts as a quiescent state, in the scheduler's terms (sched.ts):
 * the end of an operation on a CPU (an operation is the unit a thread may
 * be preempted after: a context switch point), a CPU with nothing to run
 * (idle, Linux's dynticks-idle), and synchronize_rcu's caller (it would
 * sleep). A thread may be preempted inside its read-side section (it spans
 * several operations); as in preemptible RCU, a grace period therefore
 * also waits for every thread that was inside a section when the period
 * began (Linux's blocked-tasks list), and not for sections begun after.
 * A kfree_rcu queued while a grace period runs waits for the next one.
 *
 * Owns: the nesting depth per thread, the grace-period state and the
 * queue of deferred frees. Calls: `free` (kfree) for each expired entry.
 */
import { invariant, panic } from "../panic.ts";

/** What RCU frees with and shows. */
export interface RcuDeps {
  readonly nrCpus: number;
  /** kfree of a deferred object. */
  readonly free: (kva: number) => void;
}

/** Counters shown in m.stats().rcu. */
export interface RcuStats {
  /** Grace periods completed. */
  gpCompleted: number;
  /** kfree_rcu calls, and the deferred frees done. */
  kfreeRcu: number;
  freed: number;
  /** Quiescent states reported by CPUs. */
  qs: number;
}

/** RCU's state. */
export class Rcu {
  readonly stats: RcuStats = { gpCompleted: 0, kfreeRcu: 0, freed: 0, qs: 0 };
  /** The thread running now (sched.ts sets it; 0 = the host's calls on CPU 0). */
  current = 0;
  private readonly nesting = new Map<number, number>();
  /** 1 while CPU c still owes the running grace period a quiescent state. */
  private readonly qsNeeded: Uint8Array;
  /** 1 while CPU c has nothing to run. */
  private readonly idle: Uint8Array;
  private gpActive = false;
  /** Number of the running (or next) grace period: completed + 1. */
  private gpNum = 1;
  /** Threads inside a read-side section when the running grace period began. */
  private readonly blocked = new Set<number>();
  /** Deferred frees in queue order: kva and the grace period number each waits for. */
  private readonly cbKva: number[] = [];
  private readonly cbGp: number[] = [];

  constructor(private readonly d: RcuDeps) {
    this.qsNeeded = new Uint8Array(d.nrCpus);
    this.idle = new Uint8Array(d.nrCpus);
    // Outside m.run only CPU 0 runs (the host's calls); the others are idle.
    this.idle.fill(1, 1);
  }

  /** rcu_read_lock for the running thread: sections nest. */
  readLock(): void {
    this.nesting.set(this.current, (this.nesting.get(this.current) ?? 0) + 1);
  }

  /**
   * rcu_read_unlock for the running thread. When its outermost section ends
   * and the running grace period waited for it, the period may complete.
   * Panics when the thread is in no section.
   */
  readUnlock(): void {
    const n = this.nesting.get(this.current) ?? 0;
    if (n <= 0) panic(`rcu_read_unlock: thread ${this.current} is in no read-side section`);
    if (n > 1) {
      this.nesting.set(this.current, n - 1);
      return;
    }
    this.nesting.delete(this.current);
    if (this.blocked.delete(this.current)) this.tryComplete();
  }

  /** Whether the running thread is inside a read-side section (rcu_read_lock_held). */
  readLockHeld(): boolean {
    return (this.nesting.get(this.current) ?? 0) > 0;
  }

  /** kfree_rcu: frees `kva` with kfree after a grace period. Starts one when none runs. */
  kfreeRcu(kva: number): void {
    this.stats.kfreeRcu++;
    this.cbKva.push(kva);
    this.cbGp.push(this.gpActive ? this.gpNum + 1 : this.gpNum);
    if (!this.gpActive) this.startGp();
  }

  /**
   * synchronize_rcu: the caller would sleep (a quiescent state for its CPU)
   * until a full grace period has passed. memsim's operations cannot sleep,
   * so it returns whether that period (and every free queued before it) is
   * done; false when a read-side section that began before it is still
   * open: call it again in a later operation. Panics inside a read-side
   * section (a deadlock in Linux).
   */
  synchronize(cpu: number): boolean {
    if (this.readLockHeld()) panic(`synchronize_rcu: thread ${this.current} is inside a read-side section`);
    const target = this.gpActive ? this.gpNum + 1 : this.gpNum;
    for (let round = 0; round < 2 && this.gpNum <= target; round++) {
      if (!this.gpActive) this.startGp();
      this.quiescentState(cpu);
    }
    return this.gpNum > target;
  }

  /** CPU `cpu` passed a quiescent state (an operation ended on it). */
  quiescentState(cpu: number): void {
    this.stats.qs++;
    if (!this.gpActive || this.qsNeeded[cpu] === 0) return;
    this.qsNeeded[cpu] = 0;
    this.tryComplete();
  }

  /** CPU `cpu` has nothing to run (1) or runs threads again (0); idle is a quiescent state. */
  setIdle(cpu: number, idle: 0 | 1): void {
    if (this.idle[cpu] === idle) return;
    this.idle[cpu] = idle;
    if (idle === 1) this.quiescentState(cpu);
  }

  /** Deferred frees not done yet. */
  pending(): number {
    return this.cbKva.length;
  }

  /** Grace periods completed since boot. */
  completed(): number {
    return this.gpNum - 1;
  }

  private startGp(): void {
    this.gpActive = true;
    for (let c = 0; c < this.d.nrCpus; c++) this.qsNeeded[c] = this.idle[c] === 1 ? 0 : 1;
    this.blocked.clear();
    for (const [tid, n] of this.nesting) if (n > 0) this.blocked.add(tid);
  }

  /** Ends the running grace period when nothing holds it, frees what waited for it, starts the next when frees wait. */
  private tryComplete(): void {
    if (!this.gpActive || this.blocked.size > 0) return;
    for (let c = 0; c < this.d.nrCpus; c++) if (this.qsNeeded[c] !== 0) return;
    this.gpActive = false;
    const done = this.gpNum++;
    this.stats.gpCompleted++;
    let n = 0;
    while (n < this.cbGp.length && (this.cbGp[n] as number) <= done) n++;
    const expired = this.cbKva.splice(0, n);
    this.cbGp.splice(0, n);
    if (this.cbKva.length > 0) this.startGp();
    for (const kva of expired) {
      this.stats.freed++;
      this.d.free(kva);
    }
  }

  /** RCU-1: frees wait only while a grace period runs, in order; RCU-2: blocked readers are inside sections. */
  check(): void {
    invariant(this.cbKva.length === 0 || this.gpActive, "RCU-1", `${this.cbKva.length} deferred frees and no grace period running`);
    for (let i = 1; i < this.cbGp.length; i++)
      invariant((this.cbGp[i - 1] as number) <= (this.cbGp[i] as number), "RCU-1", "deferred frees out of grace-period order");
    for (const tid of this.blocked)
      invariant((this.nesting.get(tid) ?? 0) > 0, "RCU-2", `thread ${tid} holds the grace period but is in no read-side section`);
  }
}
