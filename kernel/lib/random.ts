/**
 * The machine's one source of randomness: a seeded 32-bit generator
 * (mulberry32). Every random choice in memsim draws from an instance seeded
 * from the boot seed, so the same seed gives the same run.
 */

/** A seeded pseudo-random generator. Not for cryptography. */
export class Prandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** The next 32-bit unsigned integer. */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A float in [0, 1). */
  nextFloat(): number {
    return this.nextU32() / 4294967296;
  }

  /** An integer in [0, n). n must be a positive integer below 2^32. */
  below(n: number): number {
    return Math.floor(this.nextFloat() * n);
  }

  /** A generator seeded from this one, for a subsystem of its own. */
  fork(): Prandom {
    return new Prandom(this.nextU32());
  }
}
