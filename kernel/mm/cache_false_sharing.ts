/**
 * The false-sharing detector of the cache model (cache_model.ts): for each
 * cache line some user store reached, the bytes each CPU has written, as a
 * 64-bit mask per CPU (two 32-bit words). A line written by two or more
 * CPUs where no byte was written by two of them is false sharing: the CPUs
 * fight over the line's ownership (each write invalidates the others, see
 * the MESI counters) while they never share data. A line where two CPUs
 * wrote one same byte is true sharing and is not reported.
 *
 * The masks keep every store since boot (or since `reset`): an object freed
 * and reused by another CPU's thread counts both writers' bytes, so reuse
 * of bytes another CPU wrote reads as true sharing. Which allocation owns
 * each range, and whether the sharing is active or passive, is the
 * machine's report (sim/false_sharing.ts), which knows the allocations.
 *
 * Words: line = physical address / 64; offset = byte within the line.
 */

/** One CPU's writes to one line: maximal runs of written bytes, [start, end) offsets. */
export interface LineWriter {
  readonly cpu: number;
  readonly ranges: ReadonlyArray<readonly [start: number, end: number]>;
}

/** One falsely shared line. */
export interface FalseSharingLine {
  /** The line's physical address (a multiple of 64). */
  readonly pa: number;
  /** The line's virtual address in the address space of its first store. */
  readonly va: number;
  /** The CPUs that wrote it, in CPU order. */
  readonly writers: readonly LineWriter[];
}

interface LineMasks {
  readonly va: number;
  /** masks[2c], masks[2c+1]: bytes 0..31 and 32..63 CPU c wrote. */
  readonly masks: Uint32Array;
}

/** The written-bytes record of every line stored to. */
export class FalseSharing {
  private readonly lines = new Map<number, LineMasks>();

  constructor(readonly nrCpus: number) {}

  /** CPU `cpu` stored `size` bytes at virtual `va`, physical `pa`. */
  store(cpu: number, va: number, pa: number, size: number): void {
    const end = pa + Math.max(size, 1);
    for (let at = pa; at < end; ) {
      const off = at % 64;
      const line = (at - off) / 64;
      const n = Math.min(64 - off, end - at);
      let rec = this.lines.get(line);
      if (rec === undefined) {
        rec = { va: va + (at - pa) - off, masks: new Uint32Array(this.nrCpus * 2) };
        this.lines.set(line, rec);
      }
      setBits(rec.masks, cpu * 2, off, off + n);
      at += n;
    }
  }

  /** Forgets every line's writes. */
  reset(): void {
    this.lines.clear();
  }

  /** Lines written by two or more CPUs at disjoint bytes, in physical address order. */
  report(): FalseSharingLine[] {
    const out: FalseSharingLine[] = [];
    const keys = [...this.lines.keys()].sort((a, b) => a - b);
    for (const line of keys) {
      const rec = this.lines.get(line) as LineMasks;
      const m = rec.masks;
      let writers = 0;
      let overlap = false;
      let lo = 0;
      let hi = 0;
      for (let c = 0; c < this.nrCpus; c++) {
        const a = m[2 * c] as number;
        const b = m[2 * c + 1] as number;
        if (a === 0 && b === 0) continue;
        writers++;
        if ((a & lo) !== 0 || (b & hi) !== 0) overlap = true;
        lo |= a;
        hi |= b;
      }
      if (writers < 2 || overlap) continue;
      const ws: LineWriter[] = [];
      for (let c = 0; c < this.nrCpus; c++) {
        const r = runs(m[2 * c] as number, m[2 * c + 1] as number);
        if (r.length > 0) ws.push({ cpu: c, ranges: r });
      }
      out.push({ pa: line * 64, va: rec.va, writers: ws });
    }
    return out;
  }
}

/** Sets bits [from, to) of the 64-bit mask at masks[i], masks[i+1]. */
function setBits(masks: Uint32Array, i: number, from: number, to: number): void {
  for (let b = from; b < to; b++) {
    const w = i + (b >>> 5);
    masks[w] = ((masks[w] as number) | (1 << (b & 31))) >>> 0;
  }
}

/** The maximal runs of set bits of the 64-bit mask (lo, hi), as [start, end) pairs. */
function runs(lo: number, hi: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let start = -1;
  for (let b = 0; b <= 64; b++) {
    const set = b < 64 && ((b < 32 ? lo >>> b : hi >>> (b - 32)) & 1) === 1;
    if (set && start < 0) start = b;
    if (!set && start >= 0) {
      out.push([start, b]);
      start = -1;
    }
  }
  return out;
}
