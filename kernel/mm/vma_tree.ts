/**
 * The VMA index of one address space: an ordered map from [start, end) to the
 * VMA's kernel address, doing the maple tree's job (find_vma, neighbours,
 * and top-down free-gap search in O(log n)).
 *
 * It is an AVL tree over typed arrays: node n has start[n], end[n], the
 * lowest address its gap may reach down to (gapStart[n] = vm_start_gap(), the
 * start minus the stack guard gap for a grows-down VMA), its value (the VMA
 * object's kva) and the augmented maxGap[n]: the largest gap in its subtree,
 * where the gap of a node is gapStart[n] - end[predecessor] (the hole below it).
 * Like the maple tree it holds the range bounds; every other VMA field lives
 * only in the VMA object in RAM.
 */
import { panic } from "../panic.ts";

const NIL = -1;

/** Ordered, gap-augmented index of VMAs. */
export class VmaTree {
  private startA = new Float64Array(16);
  private endA = new Float64Array(16);
  private gapStartA = new Float64Array(16);
  private valueA = new Float64Array(16);
  private gapA = new Float64Array(16);
  private maxGapA = new Float64Array(16);
  private leftA = new Int32Array(16);
  private rightA = new Int32Array(16);
  private heightA = new Int8Array(16);
  private root = NIL;
  private freeSlot = NIL;
  private used = 0;
  /** Number of ranges. */
  size = 0;

  start(n: number): number {
    return this.startA[n] as number;
  }
  end(n: number): number {
    return this.endA[n] as number;
  }
  value(n: number): number {
    return this.valueA[n] as number;
  }

  /** find_vma: the node of the first range with end > addr, or -1. */
  findVma(addr: number): number {
    let n = this.root;
    let best = NIL;
    while (n !== NIL) {
      if ((this.endA[n] as number) > addr) {
        best = n;
        n = this.leftA[n] as number;
      } else n = this.rightA[n] as number;
    }
    return best;
  }

  /** The node whose range contains addr, or -1. */
  lookup(addr: number): number {
    const n = this.findVma(addr);
    return n !== NIL && (this.startA[n] as number) <= addr ? n : NIL;
  }

  /** The first node (lowest start), or -1. */
  first(): number {
    let n = this.root;
    if (n === NIL) return NIL;
    while ((this.leftA[n] as number) !== NIL) n = this.leftA[n] as number;
    return n;
  }

  /** The last node (highest start), or -1. */
  last(): number {
    let n = this.root;
    if (n === NIL) return NIL;
    while ((this.rightA[n] as number) !== NIL) n = this.rightA[n] as number;
    return n;
  }

  /** The node after n in address order, or -1. */
  next(n: number): number {
    return this.findVma(this.endA[n] as number);
  }

  /** The node before n in address order, or -1. */
  prev(n: number): number {
    const key = this.startA[n] as number;
    let m = this.root;
    let best = NIL;
    while (m !== NIL) {
      if ((this.startA[m] as number) < key) {
        best = m;
        m = this.rightA[m] as number;
      } else m = this.leftA[m] as number;
    }
    return best;
  }

  /** Adds [start, end) -> value. The caller guarantees no overlap. Returns the node. */
  insert(start: number, end: number, gapStart: number, value: number): number {
    const n = this.allocNode();
    this.startA[n] = start;
    this.endA[n] = end;
    this.gapStartA[n] = gapStart;
    this.valueA[n] = value;
    // The neighbours are the last nodes where the descent goes right (pred)
    // and left (succ): both lie on the insertion path, so insertAt's updates
    // carry their new gaps up to the root.
    let pred = NIL;
    let succ = NIL;
    for (let m = this.root; m !== NIL; ) {
      if (start < (this.startA[m] as number)) {
        succ = m;
        m = this.leftA[m] as number;
      } else {
        pred = m;
        m = this.rightA[m] as number;
      }
    }
    this.gapA[n] = gapStart - (pred === NIL ? 0 : (this.endA[pred] as number));
    this.maxGapA[n] = this.gapA[n] as number;
    if (succ !== NIL) this.gapA[succ] = (this.gapStartA[succ] as number) - end;
    this.root = this.insertAt(this.root, n);
    this.size++;
    return n;
  }

  /** Removes the range starting at `start`. Panics when there is none. */
  remove(start: number): void {
    const n = this.lookup(start);
    if (n === NIL || (this.startA[n] as number) !== start) panic(`vma_tree: no range starts at ${start}`);
    // The successor's gap grows by n's range and n's gap. removeAt updates
    // every node on its path, which holds the successor (an ancestor, or the
    // minimum it moves up) unless n has only a right subtree: that subtree
    // moves up untouched, so its leftmost node is fixed by one more descent.
    const succ = this.next(n);
    if (succ !== NIL) {
      this.gapA[succ] = (this.gapStartA[succ] as number) - (this.gapStartA[n] as number) + (this.gapA[n] as number);
    }
    const onlyRight = (this.leftA[n] as number) === NIL && (this.rightA[n] as number) !== NIL;
    this.root = this.removeAt(this.root, start);
    this.size--;
    this.releaseNode(n);
    if (onlyRight && succ !== NIL) this.fixPath(this.root, this.startA[succ] as number);
  }

  /** Moves the end of node n (the start and order stay). Keeps the successor's gap true. */
  setEnd(n: number, end: number): void {
    const succ = this.next(n);
    this.endA[n] = end;
    if (succ === NIL) return;
    // n is succ's predecessor: its gap is measured from the new end, no walk for prev(succ).
    this.gapA[succ] = (this.gapStartA[succ] as number) - end;
    this.fixPath(this.root, this.startA[succ] as number);
  }

  /**
   * The highest address a with [a, a + len) inside a gap, low <= a and
   * a + len <= high (unmapped_area_topdown), or -1 when none fits.
   */
  topDownGap(len: number, low: number, high: number): number {
    const x = this.firstStartAtOrAbove(high);
    const below = x === NIL ? this.last() : this.prev(x);
    const top = x === NIL ? high : Math.min(this.gapStartA[x] as number, high);
    const bottom = Math.max(below === NIL ? 0 : (this.endA[below] as number), low);
    if (top - bottom >= len) return top - len;
    const n = this.rightmostFit(this.root, high, len);
    if (n === NIL) return -1;
    const addr = (this.gapStartA[n] as number) - len;
    return addr >= low ? addr : -1;
  }

  /**
   * The lowest address a with [a, a + len) inside a gap, low <= a and
   * a + len <= high (vmalloc's find_vmap_lowest_match), or -1 when none fits.
   */
  bottomUpGap(len: number, low: number, high: number): number {
    const n = this.leftmostFit(this.root, low + len, len);
    if (n !== NIL) {
      const a = Math.max((this.gapStartA[n] as number) - (this.gapA[n] as number), low);
      return a + len <= high ? a : -1;
    }
    const last = this.last();
    const a = Math.max(last === NIL ? 0 : (this.endA[last] as number), low);
    return a + len <= high ? a : -1;
  }

  /** Visits every node in address order. */
  forEach(fn: (n: number) => void): void {
    for (let n = this.first(); n !== NIL; n = this.next(n)) fn(n);
  }

  private firstStartAtOrAbove(addr: number): number {
    let n = this.root;
    let best = NIL;
    while (n !== NIL) {
      if ((this.startA[n] as number) >= addr) {
        best = n;
        n = this.leftA[n] as number;
      } else n = this.rightA[n] as number;
    }
    return best;
  }

  /** The leftmost node with gapStart >= minKey whose gap is at least len. */
  private leftmostFit(n: number, minKey: number, len: number): number {
    if (n === NIL || (this.maxGapA[n] as number) < len) return NIL;
    if ((this.gapStartA[n] as number) < minKey) return this.leftmostFit(this.rightA[n] as number, minKey, len);
    const l = this.leftmostFit(this.leftA[n] as number, minKey, len);
    if (l !== NIL) return l;
    if ((this.gapA[n] as number) >= len) return n;
    return this.leftmostFit(this.rightA[n] as number, minKey, len);
  }

  /** The rightmost node with start < key whose gap is at least len. */
  private rightmostFit(n: number, key: number, len: number): number {
    if (n === NIL || (this.maxGapA[n] as number) < len) return NIL;
    if ((this.startA[n] as number) >= key) return this.rightmostFit(this.leftA[n] as number, key, len);
    const r = this.rightmostFit(this.rightA[n] as number, key, len);
    if (r !== NIL) return r;
    if ((this.gapA[n] as number) >= len) return n;
    return this.rightmostFit(this.leftA[n] as number, key, len);
  }

  private fixPath(m: number, key: number): void {
    if (m === NIL) return;
    const s = this.startA[m] as number;
    if (key < s) this.fixPath(this.leftA[m] as number, key);
    else if (key > s) this.fixPath(this.rightA[m] as number, key);
    this.update(m);
  }

  private h(n: number): number {
    return n === NIL ? 0 : (this.heightA[n] as number);
  }

  private mg(n: number): number {
    return n === NIL ? Number.NEGATIVE_INFINITY : (this.maxGapA[n] as number);
  }

  private update(n: number): void {
    const l = this.leftA[n] as number;
    const r = this.rightA[n] as number;
    this.heightA[n] = 1 + Math.max(this.h(l), this.h(r));
    this.maxGapA[n] = Math.max(this.gapA[n] as number, this.mg(l), this.mg(r));
  }

  private rotateRight(n: number): number {
    const l = this.leftA[n] as number;
    this.leftA[n] = this.rightA[l] as number;
    this.rightA[l] = n;
    this.update(n);
    this.update(l);
    return l;
  }

  private rotateLeft(n: number): number {
    const r = this.rightA[n] as number;
    this.rightA[n] = this.leftA[r] as number;
    this.leftA[r] = n;
    this.update(n);
    this.update(r);
    return r;
  }

  private balance(n: number): number {
    this.update(n);
    const l = this.leftA[n] as number;
    const r = this.rightA[n] as number;
    const bf = this.h(l) - this.h(r);
    if (bf > 1) {
      if (this.h(this.leftA[l] as number) < this.h(this.rightA[l] as number)) this.leftA[n] = this.rotateLeft(l);
      return this.rotateRight(n);
    }
    if (bf < -1) {
      if (this.h(this.rightA[r] as number) < this.h(this.leftA[r] as number)) this.rightA[n] = this.rotateRight(r);
      return this.rotateLeft(n);
    }
    return n;
  }

  private insertAt(m: number, n: number): number {
    if (m === NIL) return n;
    if ((this.startA[n] as number) < (this.startA[m] as number)) this.leftA[m] = this.insertAt(this.leftA[m] as number, n);
    else this.rightA[m] = this.insertAt(this.rightA[m] as number, n);
    return this.balance(m);
  }

  private removeAt(m: number, key: number): number {
    if (m === NIL) return NIL;
    const s = this.startA[m] as number;
    if (key < s) this.leftA[m] = this.removeAt(this.leftA[m] as number, key);
    else if (key > s) this.rightA[m] = this.removeAt(this.rightA[m] as number, key);
    else {
      const l = this.leftA[m] as number;
      const r = this.rightA[m] as number;
      if (l === NIL) return r;
      if (r === NIL) return l;
      let min = r;
      while ((this.leftA[min] as number) !== NIL) min = this.leftA[min] as number;
      this.rightA[min] = this.removeMin(r);
      this.leftA[min] = l;
      return this.balance(min);
    }
    return this.balance(m);
  }

  private removeMin(m: number): number {
    const l = this.leftA[m] as number;
    if (l === NIL) return this.rightA[m] as number;
    this.leftA[m] = this.removeMin(l);
    return this.balance(m);
  }

  private allocNode(): number {
    let n = this.freeSlot;
    if (n !== NIL) this.freeSlot = this.leftA[n] as number;
    else {
      if (this.used === this.startA.length) this.grow();
      n = this.used++;
    }
    this.leftA[n] = NIL;
    this.rightA[n] = NIL;
    this.heightA[n] = 1;
    this.gapA[n] = 0;
    this.maxGapA[n] = 0;
    return n;
  }

  private releaseNode(n: number): void {
    this.leftA[n] = this.freeSlot;
    this.freeSlot = n;
  }

  private grow(): void {
    const cap = this.startA.length * 2;
    const f = (a: Float64Array) => {
      const b = new Float64Array(cap);
      b.set(a);
      return b;
    };
    const i = (a: Int32Array) => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    this.startA = f(this.startA);
    this.endA = f(this.endA);
    this.gapStartA = f(this.gapStartA);
    this.valueA = f(this.valueA);
    this.gapA = f(this.gapA);
    this.maxGapA = f(this.maxGapA);
    this.leftA = i(this.leftA);
    this.rightA = i(this.rightA);
    const h = new Int8Array(cap);
    h.set(this.heightA);
    this.heightA = h;
  }

  /** Recounts the tree: order, heights, balance, gaps and maxima. Returns a problem or null. */
  validate(): string | null {
    let prevEnd = 0;
    let prevStart = -1;
    let count = 0;
    let problem: string | null = null;
    this.forEach((n) => {
      count++;
      const s = this.startA[n] as number;
      if (s <= prevStart && problem === null) problem = `node at ${s} out of order`;
      const g = (this.gapStartA[n] as number) - prevEnd;
      if (g !== this.gapA[n] && problem === null) problem = `gap of node at ${s} is ${this.gapA[n]}, expected ${g}`;
      prevStart = s;
      prevEnd = this.endA[n] as number;
    });
    if (count !== this.size) return `size ${this.size}, counted ${count}`;
    return problem ?? this.validateNode(this.root);
  }

  private validateNode(n: number): string | null {
    if (n === NIL) return null;
    const l = this.leftA[n] as number;
    const r = this.rightA[n] as number;
    const err = this.validateNode(l) ?? this.validateNode(r);
    if (err) return err;
    if (Math.abs(this.h(l) - this.h(r)) > 1) return `node at ${this.startA[n]} unbalanced`;
    if (this.heightA[n] !== 1 + Math.max(this.h(l), this.h(r))) return `node at ${this.startA[n]} has a stale height`;
    if (this.maxGapA[n] !== Math.max(this.gapA[n] as number, this.mg(l), this.mg(r))) return `node at ${this.startA[n]} has a stale maxGap`;
    return null;
  }
}
