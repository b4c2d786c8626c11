/**
 * Fault injection, like Linux's fail_page_alloc and failslab: make the Nth
 * allocation from now fail, or each one with a probability drawn from the
 * machine's seeded generator. Tests use it to walk every failure path.
 */
import type { Prandom } from "../lib/random.ts";

/** What to fail: the `nth` next call (1 = the very next), or each with `probability`. */
export type FailSpec = { nth: number; times?: number; minOrder?: number } | { probability: number; times?: number; minOrder?: number };

/** One injection point. `shouldFail()` is on the allocation fast path: it is one compare when off. */
export class FailPoint {
  /** Calls left before the next failure (nth mode); 0 = off. */
  private countdown = 0;
  private probability = 0;
  /** Failures left to inject; -1 = unlimited. */
  private remaining = 0;
  private minOrder = 0;
  /** How many failures were injected. */
  injected = 0;
  armed = false;

  constructor(
    readonly name: string,
    private readonly rng: Prandom,
  ) {}

  /** Arms the point. Throws a RangeError naming the bad field. */
  set(spec: FailSpec | null): void {
    this.armed = false;
    this.countdown = 0;
    this.probability = 0;
    if (spec === null) return;
    const times = spec.times ?? ("nth" in spec ? 1 : -1);
    if (!Number.isInteger(times) || times < -1 || times === 0) {
      throw new RangeError(`${this.name}: times must be a positive integer or -1, got ${times}`);
    }
    this.minOrder = spec.minOrder ?? 0;
    this.remaining = times;
    if ("nth" in spec) {
      if (!Number.isInteger(spec.nth) || spec.nth < 1) {
        throw new RangeError(`${this.name}: nth must be an integer >= 1, got ${spec.nth}`);
      }
      this.countdown = spec.nth;
    } else {
      const p = spec.probability;
      if (!(p >= 0 && p <= 1)) {
        throw new RangeError(`${this.name}: probability must be in [0, 1], got ${p}`);
      }
      this.probability = p;
    }
    this.armed = true;
  }

  /** Decides one call. Only called when `armed`. */
  shouldFail(order: number): boolean {
    if (order < this.minOrder) return false;
    let fail: boolean;
    if (this.countdown > 0) {
      this.countdown--;
      fail = this.countdown === 0;
      if (fail && this.remaining !== 1) this.countdown = 1;
    } else {
      fail = this.rng.nextFloat() < this.probability;
    }
    if (!fail) return false;
    this.injected++;
    if (this.remaining > 0 && --this.remaining === 0) this.armed = false;
    return true;
  }
}
