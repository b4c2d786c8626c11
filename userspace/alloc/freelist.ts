/**
 * One explicit free list with a fit policy: the options of OSTEP's malloc.py
 * simulator (policy, list order, coalescing) on boundary-tagged blocks
 * (boundary_tag.ts) in the brk heap.
 *
 * - fit "first": the first listed block that fits; "next": the same, starting
 *   where the last search stopped (the rover) and wrapping; "best": the
 *   smallest that fits (an exact fit stops the walk); "worst": the largest.
 * - order "address": the list is sorted by address (a split remainder and a
 *   merged block keep their neighbour's place, an unmerged free walks to its
 *   place); "lifo": freed blocks go to the front.
 * - coalesce "immediate" or "never".
 *
 * The list is doubly linked through the free blocks (F_NEXT / F_PREV, see
 * boundary_tag.ts); its head and the rover live in the root:
 *
 *   root + R_OWN + 0  head  (u64)  first free block, 0 when none
 *                  8  rover (u64)  where a next-fit search starts, 0 = head
 */
import type { UserProcess } from "../env.ts";
import type { Allocator } from "./allocator.ts";
import { HeapCorruption } from "./allocator.ts";
import { BoundaryTagHeap, type BoundaryTagOptions, PREV_ALLOC } from "./boundary_tag.ts";
import { hex, KIND_FREELIST, load64, R_OWN, store64 } from "./heap.ts";

const L_HEAD = R_OWN;
const L_ROVER = R_OWN + 8;
const ROOT_BYTES = R_OWN + 16;

export type FitPolicy = "first" | "next" | "best" | "worst";
export type ListOrder = "address" | "lifo";

/** Options of {@link createFreeList}. */
export interface FreeListOptions extends BoundaryTagOptions {
  fit?: FitPolicy;
  order?: ListOrder;
}

class FreeListAllocator extends BoundaryTagHeap {
  private readonly fit: FitPolicy;
  private readonly order: ListOrder;

  constructor(proc: UserProcess, opts: FreeListOptions) {
    const fit = opts.fit ?? "first";
    const order = opts.order ?? "address";
    super(freeListName(fit, order, opts.coalesce ?? "immediate"), proc, KIND_FREELIST, ROOT_BYTES, opts);
    if (!["first", "next", "best", "worst"].includes(fit)) throw new RangeError(`freelist: unknown fit "${fit}"`);
    if (order !== "address" && order !== "lifo") throw new RangeError(`freelist: unknown order "${order}"`);
    this.fit = fit;
    this.order = order;
  }

  private head(): number {
    return load64(this.mem, this.core.root + L_HEAD);
  }
  private setHead(b: number): void {
    store64(this.mem, this.core.root + L_HEAD, b);
  }

  protected findFit(asize: number): number {
    switch (this.fit) {
      case "first":
        return this.firstFit(this.head(), 0, asize);
      case "next":
        return this.nextFit(asize);
      default:
        return this.bestOrWorstFit(asize);
    }
  }

  /** The first block from `from` up to (not including) `stop` that holds `asize`. */
  private firstFit(from: number, stop: number, asize: number): number {
    for (let b = from; b !== stop && b !== 0; b = this.next(b)) if (this.sizeOf(b) >= asize) return b;
    return 0;
  }

  private nextFit(asize: number): number {
    const root = this.core.root;
    const rover = load64(this.mem, root + L_ROVER) || this.head();
    let b = this.firstFit(rover, 0, asize);
    if (b === 0 && rover !== this.head()) b = this.firstFit(this.head(), rover, asize);
    if (b !== 0) store64(this.mem, root + L_ROVER, b);
    return b;
  }

  private bestOrWorstFit(asize: number): number {
    const best = this.fit === "best";
    let pick = 0;
    let pickSize = 0;
    for (let b = this.head(); b !== 0; b = this.next(b)) {
      const s = this.sizeOf(b);
      if (s < asize) continue;
      if (best && s === asize) return b;
      if (pick === 0 || (best ? s < pickSize : s > pickSize)) {
        pick = b;
        pickSize = s;
      }
    }
    return pick;
  }

  protected insertFree(b: number): void {
    let prev = 0;
    let next = this.head();
    if (this.order === "address") {
      while (next !== 0 && next < b) {
        prev = next;
        next = this.next(next);
      }
    }
    this.link(b, prev, next);
  }

  private link(b: number, prev: number, next: number): void {
    this.setPrev(b, prev);
    this.setNext(b, next);
    if (prev === 0) this.setHead(b);
    else this.setNext(prev, b);
    if (next !== 0) this.setPrev(next, b);
  }

  protected removeFree(b: number): void {
    const prev = this.prev(b);
    const next = this.next(b);
    if (prev === 0) this.setHead(next);
    else this.setNext(prev, next);
    if (next !== 0) this.setPrev(next, prev);
    const root = this.core.root;
    if (load64(this.mem, root + L_ROVER) === b) store64(this.mem, root + L_ROVER, next);
  }

  protected replaceFree(old: number, neu: number): void {
    this.link(neu, this.prev(old), this.next(old));
    const root = this.core.root;
    if (load64(this.mem, root + L_ROVER) === old) store64(this.mem, root + L_ROVER, neu);
  }

  /** In address order a merged block keeps its neighbour's place, so no walk is needed. */
  protected override linkCoalesced(b: number, prevFree: number, nextFree: number): number {
    if (this.order !== "address" || (prevFree === 0 && nextFree === 0)) return super.linkCoalesced(b, prevFree, nextFree);
    const start = prevFree !== 0 ? prevFree : b;
    let size = this.sizeOf(start) + (prevFree !== 0 ? this.sizeOf(b) : 0);
    if (nextFree !== 0) size += this.sizeOf(nextFree);
    if (prevFree !== 0 && nextFree !== 0) this.removeFree(nextFree);
    this.setHdr(start, size | (this.hdr(start) & PREV_ALLOC));
    this.setFtr(start);
    if (prevFree === 0) this.replaceFree(nextFree, b);
    return start;
  }

  protected checkLists(free: Set<number>): void {
    let prev = 0;
    let n = 0;
    let roverSeen = false;
    const rover = load64(this.mem, this.core.root + L_ROVER);
    for (let b = this.head(); b !== 0; b = this.next(b)) {
      if (!free.has(b)) throw new HeapCorruption("FL-1", `list entry ${hex(b)} is not a free block`);
      if (this.prev(b) !== prev) throw new HeapCorruption("FL-2", `free block ${hex(b)} has a bad prev link`);
      if (this.order === "address" && b <= prev) throw new HeapCorruption("FL-3", `free block ${hex(b)} is out of address order`);
      if (++n > free.size) throw new HeapCorruption("FL-4", "the free list loops or lists a block twice");
      if (b === rover) roverSeen = true;
      prev = b;
    }
    if (n !== free.size) throw new HeapCorruption("FL-5", `${free.size} free blocks in the heap, ${n} on the list`);
    if (rover !== 0 && !roverSeen) throw new HeapCorruption("FL-6", `the rover ${hex(rover)} is not on the list`);
  }
}

/** The registry name of a free-list configuration ("bestfit", "firstfit-lifo", "nextfit-nocoalesce" ...). */
export function freeListName(fit: FitPolicy, order: ListOrder, coalesce: string): string {
  return `${fit}fit${order === "lifo" ? "-lifo" : ""}${coalesce === "never" ? "-nocoalesce" : ""}`;
}

/** A free-list allocator in `proc`'s brk heap. Throws RangeError naming a bad option. */
export function createFreeList(proc: UserProcess, opts: FreeListOptions = {}): Allocator {
  return new FreeListAllocator(proc, opts);
}
