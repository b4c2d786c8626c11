/**
 * The false-sharing detector of the cache model (cache_model.ts): for each
 * cache line some user store reached, the bytes each CPU has written, as a
 * 64-bit mask per CPU (two 32-bit words). A line where two or more CPUs
 * each wrote bytes that no other CPU wrote is false sharing: those CPUs
 * fight over the line's ownership (each write invalidates the others, see
 * the MESI counters) for data they never share. Bytes two CPUs both wrote
 * are true sharing (a malloc's chunk headers written by each thread's
 * malloc and free are); they are listed apart and do not by themselves make
 * a line falsely shared.
 *
 * The masks keep every store since boot (or since `reset`), except that a
 * user block's bytes are forgotten when it is allocated while allocation
 * sites track user allocations (`forget`): stores before that were the
 * allocator's or the previous block's. Which allocation owns
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
  /** The CPUs with private bytes in it, in CPU order, each with its private bytes. */
  readonly writers: readonly LineWriter[];
  /** Bytes two or more CPUs wrote (true sharing, e.g. an allocator's headers), as runs. */
  readonly shared: ReadonlyArray<readonly [start: number, end: number]>;
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

  /**
   * Forgets every CPU's stores to physical bytes [pa, pa + len) (a user
   * block was just allocated there: what was written before belongs to
   * the allocator or to the block's previous life).
   */
  forget(pa: number, len: number): void {
    const end = pa + len;
    for (let at = pa; at < end; ) {
      const off = at % 64;
      const n = Math.min(64 - off, end - at);
      const rec = this.lines.get((at - off) / 64);
      if (rec !== undefined) for (let c = 0; c < this.nrCpus; c++) clearBits(rec.masks, c * 2, off, off + n);
      at += n;
    }
  }

  /** Forgets every line's writes. */
  reset(): void {
    this.lines.clear();
  }

  /**
   * Lines where two or more CPUs each wrote bytes no other CPU wrote, in
   * physical address order; each writer lists those private bytes only.
   */
  report(): FalseSharingLine[] {
    const out: FalseSharingLine[] = [];
    const keys = [...this.lines.keys()].sort((a, b) => a - b);
    const n = this.nrCpus;
    for (const line of keys) {
      const m = (this.lines.get(line) as LineMasks).masks;
      // Bytes written by at least one CPU (any) and by at least two (twice).
      let anyLo = 0;
      let anyHi = 0;
      let twiceLo = 0;
      let twiceHi = 0;
      for (let c = 0; c < n; c++) {
        const a = m[2 * c] as number;
        const b = m[2 * c + 1] as number;
        twiceLo |= anyLo & a;
        twiceHi |= anyHi & b;
        anyLo |= a;
        anyHi |= b;
      }
      const ws: LineWriter[] = [];
      for (let c = 0; c < n; c++) {
        const r = runs((m[2 * c] as number) & ~twiceLo, (m[2 * c + 1] as number) & ~twiceHi);
        if (r.length > 0) ws.push({ cpu: c, ranges: r });
      }
      if (ws.length < 2) continue;
      const rec = this.lines.get(line) as LineMasks;
      out.push({ pa: line * 64, va: rec.va, writers: ws, shared: runs(twiceLo, twiceHi) });
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

/** Clears bits [from, to) of the 64-bit mask at masks[i], masks[i+1]. */
function clearBits(masks: Uint32Array, i: number, from: number, to: number): void {
  for (let b = from; b < to; b++) {
    const w = i + (b >>> 5);
    masks[w] = ((masks[w] as number) & ~(1 << (b & 31))) >>> 0;
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
