/**
 * Allocation traces as the malloc-lab driver replays them: a list of
 * operations on numbered blocks (ids), read from the CS:APP `.rep` format
 * (rep.ts) or JSON lines (jsonl.ts). A trace is checked while it is read:
 * every id is allocated before it is reallocated or freed, and not
 * allocated twice while live, so a replay can trust it.
 *
 * Words: op = one line (a = malloc, r = realloc, f = free); id = the block
 * an op names (`f -1` frees NULL); size = bytes asked for.
 */
import { basename } from "node:path";

export const OP_ALLOC = 0;
export const OP_REALLOC = 1;
export const OP_FREE = 2;
/** The largest size a trace may ask for (mdriver's int). */
export const MAX_TRACE_SIZE = 2 ** 31 - 1;
/** The most ids a trace may declare. */
export const MAX_TRACE_IDS = 1 << 24;

/** A parsed trace; ops are parallel typed arrays. */
export interface Trace {
  /** The file's base name ("amptjp-bal.rep"). */
  readonly name: string;
  readonly numIds: number;
  readonly numOps: number;
  /** The header's weight (1 when the format has none). */
  readonly weight: number;
  /** The header's suggested heap size (0 when the format has none). */
  readonly suggestedHeap: number;
  readonly kind: Uint8Array;
  /** Block id per op; -1 for `f -1`. */
  readonly id: Int32Array;
  readonly size: Float64Array;
  /** Source line of each op (1-based). */
  readonly line: Int32Array;
  /** Largest size asked for. */
  readonly maxSize: number;
}

/** A trace file is malformed. The message names the file, the line and what is wrong. */
export class TraceError extends Error {
  override readonly name = "TraceError";
  constructor(
    readonly file: string,
    readonly lineNo: number,
    what: string,
  ) {
    super(lineNo > 0 ? `${file}:${lineNo}: ${what}` : `${file}: ${what}`);
  }
}

/** Collects ops, checking ids against the blocks live so far. */
export class TraceBuilder {
  private kinds: number[] = [];
  private ids: number[] = [];
  private sizes: number[] = [];
  private lines: number[] = [];
  private live = new Set<number>();
  private maxSize = 0;

  /** `numIds`: ids must lie below it (Infinity when the format declares none). */
  constructor(
    private readonly file: string,
    private readonly numIds: number,
  ) {}

  /** Adds one op; throws TraceError when the id is out of range or not in the right state. */
  add(kind: number, id: number, size: number, line: number): void {
    const f = this.file;
    if (id === -1 && kind === OP_FREE) {
      this.push(kind, id, 0, line);
      return;
    }
    if (id < 0 || id >= this.numIds) throw new TraceError(f, line, `id ${id} is out of range (the header declares ${this.numIds} ids)`);
    if (kind !== OP_FREE && (size < 0 || size > MAX_TRACE_SIZE))
      throw new TraceError(f, line, `size ${size} is out of range 0..${MAX_TRACE_SIZE}`);
    const isLive = this.live.has(id);
    if (kind === OP_ALLOC && isLive) throw new TraceError(f, line, `id ${id} is allocated again while still live`);
    if (kind === OP_REALLOC && !isLive) throw new TraceError(f, line, `realloc of id ${id}, which is not allocated`);
    if (kind === OP_FREE && !isLive) throw new TraceError(f, line, `free of id ${id}, which is not allocated`);
    if (kind === OP_FREE) this.live.delete(id);
    else this.live.add(id);
    this.push(kind, id, size, line);
  }

  private push(kind: number, id: number, size: number, line: number): void {
    this.kinds.push(kind);
    this.ids.push(id);
    this.sizes.push(size);
    this.lines.push(line);
    if (size > this.maxSize) this.maxSize = size;
  }

  get count(): number {
    return this.kinds.length;
  }

  /** The finished trace. */
  build(numIds: number, weight: number, suggestedHeap: number): Trace {
    return {
      name: basename(this.file),
      numIds,
      numOps: this.kinds.length,
      weight,
      suggestedHeap,
      kind: Uint8Array.from(this.kinds),
      id: Int32Array.from(this.ids),
      size: Float64Array.from(this.sizes),
      line: Int32Array.from(this.lines),
      maxSize: this.maxSize,
    };
  }
}
