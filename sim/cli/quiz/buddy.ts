/**
 * Buddy split and merge: a sequence of allocations and frees on a small
 * arena; the student gives where each allocation lands and the free lists at
 * the end. The answer comes from a small buddy model (lowest address first,
 * as the question states), stepped through the same sequence.
 */
import type { Prandom } from "../../../kernel/lib/random.ts";
import { between, type Exercise, pick, type Topic } from "./exercise.ts";

/** A teaching buddy allocator over pages [0, 2^maxOrder): free lists kept sorted by address. */
export class BuddyModel {
  readonly free: number[][];

  constructor(readonly maxOrder: number) {
    this.free = Array.from({ length: maxOrder + 1 }, () => []);
    (this.free[maxOrder] as number[]).push(0);
  }

  /** Allocates 2^order pages at the lowest address of the smallest order that fits. Returns null when nothing fits. */
  alloc(order: number): number | null {
    let o = order;
    while (o <= this.maxOrder && (this.free[o] as number[]).length === 0) o++;
    if (o > this.maxOrder) return null;
    const block = (this.free[o] as number[]).shift() as number;
    while (o > order) {
      o--;
      this.insert(o, block + (1 << o));
    }
    return block;
  }

  /** Frees a block and merges it with its buddy while the buddy is free. */
  freeBlock(pfn: number, order: number): void {
    while (order < this.maxOrder) {
      const buddy = pfn ^ (1 << order);
      const list = this.free[order] as number[];
      const at = list.indexOf(buddy);
      if (at < 0) break;
      list.splice(at, 1);
      pfn = Math.min(pfn, buddy);
      order++;
    }
    this.insert(order, pfn);
  }

  private insert(order: number, pfn: number): void {
    const list = this.free[order] as number[];
    list.push(pfn);
    list.sort((a, b) => a - b);
  }

  /** "order 0: 5 | order 1: 6 | order 3: 8 16" */
  describe(): string {
    const parts: string[] = [];
    this.free.forEach((l, o) => {
      parts.push(`order ${o}: ${l.length ? l.join(" ") : "-"}`);
    });
    return parts.join(" | ");
  }
}

/** Pages to the smallest order holding them. */
export function orderFor(pages: number): number {
  let o = 0;
  while (1 << o < pages) o++;
  return o;
}

type Op = { kind: "alloc"; name: string; pages: number } | { kind: "free"; name: string };

function makeOps(rng: Prandom, maxOrder: number): Op[] {
  const ops: Op[] = [];
  const live: string[] = [];
  let next = 0;
  const total = between(rng, 6, 8);
  for (let i = 0; i < total; i++) {
    if (live.length > 0 && (rng.below(3) === 0 || live.length >= 4)) {
      const name = live.splice(rng.below(live.length), 1)[0] as string;
      ops.push({ kind: "free", name });
    } else {
      const name = String.fromCharCode(65 + next++);
      ops.push({ kind: "alloc", name, pages: between(rng, 1, 1 << (maxOrder - 2)) });
      live.push(name);
    }
  }
  return ops;
}

function makeBuddy(rng: Prandom): Exercise {
  const maxOrder = pick(rng, [4, 5]);
  const ops = makeOps(rng, maxOrder);
  const model = new BuddyModel(maxOrder);
  const where = new Map<string, { pfn: number; order: number } | null>();
  const lines: string[] = [];
  for (const op of ops) {
    if (op.kind === "alloc") {
      const order = orderFor(op.pages);
      const pfn = model.alloc(order);
      where.set(op.name, pfn === null ? null : { pfn, order });
      lines.push(
        `${op.name} = alloc(${op.pages}) -> ${pfn === null ? "fails" : `order ${order}, pages ${pfn}..${pfn + (1 << order) - 1}`}   ${model.describe()}`,
      );
    } else {
      const b = where.get(op.name);
      if (b) model.freeBlock(b.pfn, b.order);
      lines.push(`free(${op.name})${b ? "" : " (it had failed: nothing to free)"}   ${model.describe()}`);
    }
  }
  const seq = ops.map((op) => (op.kind === "alloc" ? `${op.name} = alloc(${op.pages})` : `free(${op.name})`)).join(", ");
  const question = [
    `A buddy allocator manages ${1 << maxOrder} pages (pfn 0..${(1 << maxOrder) - 1}), orders 0..${maxOrder}; at first one free block of order ${maxOrder}.`,
    "A request for n pages takes a block of the smallest order 2^k >= n. It takes the lowest-addressed block of the",
    "smallest non-empty order that fits and splits it, keeping the lower half; a free merges with its buddy while the buddy is free.",
    `Sequence: ${seq}.`,
    "Where does each allocation land, and what is on each free list after every step?",
  ].join("\n");
  return { topic: "buddy", question, answer: lines.join("\n") };
}

/** The buddy topic. */
export const BUDDY_TOPIC: Topic = {
  name: "buddy",
  summary: "buddy split and merge: where blocks land, what the free lists hold",
  make: makeBuddy,
};
