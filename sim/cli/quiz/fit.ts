/**
 * Free-list fit policies (first, best, worst, next fit), in the style of
 * OSTEP's malloc exercise: a heap, a sequence of mallocs and frees, one
 * policy; the answer is computed by a free-list model with coalescing.
 */
import type { Prandom } from "../../../kernel/lib/random.ts";
import { between, type Exercise, pick, type Topic } from "./exercise.ts";

export type FitPolicy = "first" | "best" | "worst" | "next";

interface Chunk {
  addr: number;
  size: number;
}

/** A free list kept sorted by address, coalescing on free; no headers, no alignment. */
export class FreeListModel {
  free: Chunk[];
  /** Where next fit resumes: the address just after the last allocation. */
  private rover: number;

  constructor(
    base: number,
    size: number,
    readonly policy: FitPolicy,
  ) {
    this.free = [{ addr: base, size }];
    this.rover = base;
  }

  /** Returns the address, or null when no chunk is large enough. */
  malloc(n: number): number | null {
    const i = this.choose(n);
    if (i < 0) return null;
    const c = this.free[i] as Chunk;
    const addr = c.addr;
    if (c.size === n) this.free.splice(i, 1);
    else this.free[i] = { addr: c.addr + n, size: c.size - n };
    this.rover = addr + n;
    return addr;
  }

  /** Returns a chunk to the list and merges it with its neighbours. */
  freeChunk(addr: number, size: number): void {
    let i = 0;
    while (i < this.free.length && (this.free[i] as Chunk).addr < addr) i++;
    this.free.splice(i, 0, { addr, size });
    const next = this.free[i + 1];
    if (next && addr + size === next.addr) {
      (this.free[i] as Chunk).size += next.size;
      this.free.splice(i + 1, 1);
    }
    const prev = this.free[i - 1];
    if (prev && prev.addr + prev.size === addr) {
      prev.size += (this.free[i] as Chunk).size;
      this.free.splice(i, 1);
    }
  }

  private choose(n: number): number {
    const fits = this.free.map((c, i) => ({ c, i })).filter((x) => x.c.size >= n);
    if (fits.length === 0) return -1;
    if (this.policy === "first") return (fits[0] as { i: number }).i;
    if (this.policy === "next") return (fits.find((x) => x.c.addr >= this.rover) ?? fits[0])!.i;
    const better = this.policy === "best" ? (a: number, b: number) => a < b : (a: number, b: number) => a > b;
    let best = fits[0]!;
    for (const x of fits) if (better(x.c.size, best.c.size)) best = x;
    return best.i;
  }

  describe(): string {
    return this.free.length ? this.free.map((c) => `[addr:${c.addr} sz:${c.size}]`).join(" ") : "(empty)";
  }
}

const RULES: Readonly<Record<FitPolicy, string>> = {
  first: "FIRST fit: the lowest-addressed chunk that is large enough",
  best: "BEST fit: the smallest chunk that is large enough (the lowest address among equals)",
  worst: "WORST fit: the largest chunk (the lowest address among equals)",
  next: "NEXT fit: the first large-enough chunk at or after the end of the previous allocation, wrapping around",
};

function makeFit(rng: Prandom): Exercise {
  const policy = pick<FitPolicy>(rng, ["first", "best", "worst", "next"]);
  const base = 1000;
  const size = 100;
  const model = new FreeListModel(base, size, policy);
  const live: Array<{ name: string; addr: number; size: number }> = [];
  const seq: string[] = [];
  const lines: string[] = [];
  let next = 0;
  const steps = between(rng, 7, 9);
  for (let step = 0; step < steps; step++) {
    if (live.length > 0 && rng.below(5) < 2) {
      const v = live.splice(rng.below(live.length), 1)[0]!;
      model.freeChunk(v.addr, v.size);
      seq.push(`free(${v.name})`);
      lines.push(`free(${v.name}) -> returned [addr:${v.addr} sz:${v.size}]; list ${model.describe()}`);
      continue;
    }
    const name = `p${next++}`;
    const n = between(rng, 3, 25);
    const addr = model.malloc(n);
    seq.push(`${name} = malloc(${n})`);
    if (addr !== null) live.push({ name, addr, size: n });
    lines.push(`${name} = malloc(${n}) -> ${addr === null ? "NULL (no chunk fits)" : addr}; list ${model.describe()}`);
  }
  const question = [
    `A heap of ${size} bytes starts at address ${base}; one free chunk [addr:${base} sz:${size}] at first. No headers, no alignment;`,
    `the free list is kept sorted by address and freed chunks coalesce with their neighbours. Policy: ${RULES[policy]}.`,
    `Operations: ${seq.join(", ")}.`,
    "What does each malloc return, and what is the free list after each operation?",
  ].join("\n");
  return { topic: "fit", question, answer: lines.join("\n") };
}

/** The fit-policy topic. */
export const FIT_TOPIC: Topic = {
  name: "fit",
  summary: "first, best, worst and next fit on a free list with coalescing",
  make: makeFit,
};
