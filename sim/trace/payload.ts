/**
 * What the replay keeps about live payloads: their ranges, sorted by
 * address, to find overlaps (mdriver's range list, with binary search), and
 * the bytes each payload must hold. Every block is filled with its own
 * stretch of a fixed pseudo-random pattern, written and read back through
 * the process's memory, so a payload that an allocator overwrote or a
 * realloc that lost bytes shows up at the exact byte.
 */
import type { UserMemory } from "../../userspace/env.ts";

/** Length of the pattern (a prime, so blocks start at unrelated offsets). */
const PATTERN_LEN = 65521;

/** Sorted, disjoint live ranges with the id owning each. */
export class LiveRanges {
  private starts = new Float64Array(1024);
  private ends = new Float64Array(1024);
  private ids = new Int32Array(1024);
  private n = 0;

  /** Index of the first range starting at or after `p`. */
  private lowerBound(p: number): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.starts[mid] as number) < p) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Adds [p, p + len) for `id`. Returns the id it overlaps (nothing added), or -1. */
  insert(p: number, len: number, id: number): number {
    const i = this.lowerBound(p);
    if (i > 0 && (this.ends[i - 1] as number) > p) return this.ids[i - 1] as number;
    if (i < this.n && (this.starts[i] as number) < p + len) return this.ids[i] as number;
    if (this.n === this.starts.length) this.grow();
    this.starts.copyWithin(i + 1, i, this.n);
    this.ends.copyWithin(i + 1, i, this.n);
    this.ids.copyWithin(i + 1, i, this.n);
    this.starts[i] = p;
    this.ends[i] = p + len;
    this.ids[i] = id;
    this.n++;
    return -1;
  }

  /** Removes the range starting at `p`. */
  remove(p: number): void {
    const i = this.lowerBound(p);
    if (i >= this.n || this.starts[i] !== p) return;
    this.starts.copyWithin(i, i + 1, this.n);
    this.ends.copyWithin(i, i + 1, this.n);
    this.ids.copyWithin(i, i + 1, this.n);
    this.n--;
  }

  /** The range [start, end) of the block `id` overlaps, for messages. */
  rangeOf(id: number): [number, number] {
    for (let i = 0; i < this.n; i++) if (this.ids[i] === id) return [this.starts[i] as number, this.ends[i] as number];
    return [0, 0];
  }

  private grow(): void {
    const grow = <T extends Float64Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(a.length * 2);
      b.set(a);
      return b;
    };
    this.starts = grow(this.starts, (n) => new Float64Array(n));
    this.ends = grow(this.ends, (n) => new Float64Array(n));
    this.ids = grow(this.ids, (n) => new Int32Array(n));
  }
}

/** The bytes every block id must hold. */
export class PayloadPattern {
  /** The pattern twice over, so any stretch up to PATTERN_LEN is one subarray. */
  private readonly bytes = new Uint8Array(2 * PATTERN_LEN);

  constructor(seed: number) {
    let x = seed >>> 0 || 1;
    for (let i = 0; i < PATTERN_LEN; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.bytes[i] = x & 0xff;
      this.bytes[i + PATTERN_LEN] = x & 0xff;
    }
  }

  /** Where id's stretch starts in the pattern. */
  private start(id: number): number {
    return (id * 7919) % PATTERN_LEN;
  }

  /** Writes bytes [from, to) of id's payload at p. */
  fill(mem: UserMemory, p: number, id: number, from: number, to: number): void {
    const s = this.start(id);
    for (let off = from; off < to; ) {
      const k = (s + off) % PATTERN_LEN;
      const n = Math.min(to - off, PATTERN_LEN);
      mem.write(p + off, this.bytes.subarray(k, k + n));
      off += n;
    }
  }

  /** Offset of the first of id's bytes [0, len) at p that is wrong, or -1. */
  verify(mem: UserMemory, p: number, id: number, len: number): number {
    const s = this.start(id);
    for (let off = 0; off < len; ) {
      const k = (s + off) % PATTERN_LEN;
      const n = Math.min(len - off, PATTERN_LEN);
      const got = mem.read(p + off, n);
      const want = this.bytes.subarray(k, k + n);
      if (!Buffer.from(got.buffer, got.byteOffset, n).equals(want)) {
        for (let i = 0; i < n; i++) if (got[i] !== want[i]) return off + i;
      }
      off += n;
    }
    return -1;
  }
}
