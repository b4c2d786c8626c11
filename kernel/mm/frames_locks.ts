/**
 * The locks a frames layer says it takes (xv6's kmem locks: one per CPU in
 * kalloctest's per-CPU allocator), counted for the scheduler's lock model
 * (kernel/sched.ts, locking/lock_stat.ts), and the CPU the layer runs on.
 *
 * A layer that declares `locks` (FrameAllocator.locks) calls
 * `boot.acquire(i)` each time it takes its lock i; an operation that took
 * lock i holds the instance `kmem:i` of class &zone->lock to its end, so two
 * CPUs contend only when they take the same lock. A layer without `locks`
 * keeps the default: every allocation and free takes the one zone lock.
 */
import { layerFault } from "../panic.ts";

/** Locks a frames layer may number: 0..MAX_FRAMES_LOCKS - 1 (one per CPU, and one more). */
export const MAX_FRAMES_LOCKS = 65; // MAX_CPUS (smp.ts) + 1

/** Acquisitions of each of a frames layer's locks, and the running CPU. */
export class FramesLocks {
  /** Acquisitions of each lock since boot. */
  readonly counts = new Float64Array(MAX_FRAMES_LOCKS);
  /** The running CPU (smp_processor_id); kernel/main.ts points it at the Smp once it exists. */
  currentCpu: () => number = () => 0;

  constructor(readonly nrCpus: number) {}

  /** Locks the layer declared (FrameAllocator.locks, 0 for a layer without); while it boots, any lock number. */
  declared = MAX_FRAMES_LOCKS;

  /** Counts one acquisition of lock `lock`. Throws LayerFault for a lock the layer did not declare. */
  acquire(lock: number): void {
    if (!(Number.isInteger(lock) && lock >= 0 && lock < this.declared))
      layerFault(
        "frames",
        this.declared === 0
          ? `acquire(${String(lock)}): the layer declares no locks (FrameAllocator.locks)`
          : `acquire(${String(lock)}): the layer declares locks 0 to ${this.declared - 1}`,
      );
    this.counts[lock] = (this.counts[lock] as number) + 1;
  }
}
